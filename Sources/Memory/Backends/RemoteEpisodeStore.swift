// An episode store held by another process: `worldgpt-pg` (the PostgreSQL backend, its own product so this module
// and `worldgpt` never link SwiftNIO), driven over two pipes (StoreWire.swift). What it is not: a network client.
import Formats
import Foundation

/// An `EpisodeRepository` whose calls run in a `worldgpt-pg` child process.
///
/// The child is started on open and ends when this object is released or this process dies (it reads end of
/// input and exits; an open transaction is rolled back by the server). Thread-confined, like `EpisodeStore`.
public final class RemoteEpisodeStore: EpisodeRepository {
    public let path: String
    public let dim: Int
    public private(set) var actionDim: Int?
    public let isReadOnly: Bool
    private let process: Process
    private let toChild: FileHandle
    private let fromChild: FileHandle
    private var broken: StoreError?

    /// The `worldgpt-pg` binary: `$WORLDGPT_PG_BIN`, else the one beside this executable.
    public static func helperBinary() -> URL {
        if let explicit = ProcessInfo.processInfo.environment["WORLDGPT_PG_BIN"], !explicit.isEmpty { return URL(fileURLWithPath: explicit) }
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent().appendingPathComponent("worldgpt-pg")
    }

    /// Starts `worldgpt-pg store` and opens `url` in it.
    /// - Throws: `StoreError.io` when the binary is missing or dies; the store's own errors (connection refused,
    ///   not an episode store, dimension mismatch ...) as the child reports them.
    public init(url: String, dim: Int?, readOnly: Bool) throws {
        let redacted = EpisodeStores.redacted(url)
        let binary = Self.helperBinary()
        guard FileManager.default.isExecutableFile(atPath: binary.path) else {
            throw StoreError.io(path: redacted, reason: "a postgresql:// store needs the worldgpt-pg binary, and \(binary.path) is not built: "
                                + "`swift build --product worldgpt-pg` (or `make build`), or set WORLDGPT_PG_BIN")
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = ["store"]
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        do { try process.run() } catch {
            throw StoreError.io(path: redacted, reason: "cannot start \(binary.path): \(error.localizedDescription)")
        }
        let toChild = input.fileHandleForWriting, fromChild = output.fileHandleForReading
        // The parent keeps no copy of the child's ends, so the child sees end of input when this process dies.
        try? input.fileHandleForReading.close()
        try? output.fileHandleForWriting.close()
        let reply: StoreReply
        do {
            try StoreFrames.write(StoreRequest.open(location: url, dim: dim, readOnly: readOnly), to: toChild.fileDescriptor, peer: redacted)
            guard let r = try StoreFrames.read(StoreReply.self, from: fromChild.fileDescriptor, peer: redacted) else {
                throw StoreError.io(path: redacted, reason: "worldgpt-pg exited before opening the store (its message is above)")
            }
            reply = r
        } catch {
            process.terminate()
            throw error
        }
        switch reply {
        case let .opened(_, storedDim, storedActionDim):
            self.dim = storedDim
            actionDim = storedActionDim
        case let .failed(error):
            try? toChild.close()
            process.waitUntilExit()
            throw error
        default:
            process.terminate()
            throw StoreError.io(path: redacted, reason: "worldgpt-pg answered `open` with \(reply)")
        }
        self.process = process
        self.toChild = toChild
        self.fromChild = fromChild
        isReadOnly = readOnly
        path = redacted
    }

    deinit {
        try? toChild.close()
        process.waitUntilExit()
    }

    /// Sends one request and waits for its reply; a failed reply is thrown.
    private func call(_ request: StoreRequest) throws -> StoreReply {
        if let broken { throw broken }
        do {
            try StoreFrames.write(request, to: toChild.fileDescriptor, peer: path)
            guard let reply = try StoreFrames.read(StoreReply.self, from: fromChild.fileDescriptor, peer: path) else {
                throw StoreError.io(path: path, reason: "worldgpt-pg exited (its message is above); the last call's outcome is unknown, "
                                    + "so a rerun resumes from what the database holds")
            }
            if case let .failed(error) = reply { throw error }
            return reply
        } catch let error as StoreError {
            if case .io = error { broken = error }
            throw error
        }
    }

    private func unexpected(_ reply: StoreReply) -> StoreError {
        .io(path: path, reason: "worldgpt-pg answered with an unexpected reply \(String(describing: reply).prefix(80))")
    }

    public func append(_ steps: [StepRecord], recalls: [[RecalledStep]], identities: [StoreIdentity]?) throws -> [Int64] {
        precondition(recalls.count == steps.count, "one recall list per step")
        guard !steps.isEmpty else { return [] }
        guard case let .appended(ids, newActionDim) = try call(.append(steps: steps.map(WireStep.init), recalls: recalls, identities: identities)) else {
            throw StoreError.io(path: path, reason: "worldgpt-pg answered `append` unexpectedly")
        }
        actionDim = newActionDim ?? actionDim
        CrashPoint.afterCommit.pass()
        return ids
    }

    public func episodes() throws -> [EpisodeSummary] {
        let reply = try call(.episodes)
        guard case let .episodes(list) = reply else { throw unexpected(reply) }
        return list
    }

    public func stepCount() throws -> Int {
        let reply = try call(.stepCount)
        guard case let .count(n) = reply else { throw unexpected(reply) }
        return n
    }

    public func steps(_ reference: StepReference) throws -> [StoredStep] {
        let reply = try call(.steps(episode: reference.episode, index: reference.index))
        guard case let .steps(list) = reply else { throw unexpected(reply) }
        return try list.map { try $0.stored() }
    }

    public func step(id: Int64) throws -> StoredStep {
        let reply = try call(.step(id: id))
        guard case let .steps(list) = reply, let first = list.first else { throw unexpected(reply) }
        return try first.stored()
    }

    public func steps(afterID: Int64, limit: Int) throws -> [StoredStep] {
        let reply = try call(.stepsAfter(id: afterID, limit: limit))
        guard case let .steps(list) = reply else { throw unexpected(reply) }
        return try list.map { try $0.stored() }
    }

    public func recall(_ query: RecallQuery, k: Int, weights: RecallWeights, threads: Int) throws -> [RecalledStep] {
        let reply = try call(.recall(query: query, k: k, weights: weights, threads: threads))
        guard case let .recalled(list) = reply else { throw unexpected(reply) }
        return list
    }

    public func stats() throws -> StoreStats {
        let reply = try call(.stats)
        guard case let .stats(s) = reply else { throw unexpected(reply) }
        return s
    }

    public func verify() throws -> VerifyReport {
        let reply = try call(.verify)
        guard case let .verify(r) = reply else { throw unexpected(reply) }
        return r
    }

    public func prune(keepLast: Int, dryRun: Bool) throws -> Int {
        let reply = try call(.pruneKeepLast(keepLast: keepLast, dryRun: dryRun))
        guard case let .count(n) = reply else { throw unexpected(reply) }
        return n
    }

    public func prune(before date: Date, dryRun: Bool) throws -> Int {
        let reply = try call(.pruneBefore(seconds: date.timeIntervalSince1970, dryRun: dryRun))
        guard case let .count(n) = reply else { throw unexpected(reply) }
        return n
    }

    public func appliedMigrations() throws -> [String] {
        let reply = try call(.migrations)
        guard case let .strings(list) = reply else { throw unexpected(reply) }
        return list
    }

    public func episodes(after: Int64?, limit: Int, filter: EpisodeFilter) throws -> Page<EpisodeSummary> {
        let reply = try call(.episodePage(after: after, limit: limit, scenario: filter.scenario, namePrefix: filter.namePrefix,
                                          createdAfter: filter.createdAfter, createdBefore: filter.createdBefore))
        guard case let .episodePage(items, nextCursor) = reply else { throw unexpected(reply) }
        return Page(items: items, nextCursor: nextCursor)
    }

    public func steps(episode: String, afterIndex: Int?, limit: Int) throws -> Page<StoredStep> {
        let reply = try call(.stepPage(episode: episode, afterIndex: afterIndex, limit: limit))
        guard case let .stepPage(items, nextCursor) = reply else { throw unexpected(reply) }
        return Page(items: try items.map { try $0.stored() }, nextCursor: nextCursor)
    }
}
