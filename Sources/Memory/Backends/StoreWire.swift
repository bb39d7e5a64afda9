// The pipe protocol between `worldgpt` and its `worldgpt-pg` child: one request, one reply, each a frame of a
// 4-byte little-endian length and a JSON body. Embeddings of steps travel as their little-endian Float32 bytes
// (base64 in the JSON): exact, and about ten times cheaper to encode than JSON numbers. Layout in docs/scale.md.
import Formats
import Foundation

/// A step on the wire: `StepRecord` with every embedding as its Float32 bytes.
public struct WireStep: Codable, Sendable {
    var episode: String
    var index: Int
    var actionText: String
    var action: Data?
    /// roles × modalities, in `EpisodeStore.stateColumns` order.
    var states: [Data?]
    var provenance: Provenance?
    var timestamp: Date
    var annotations: [StepAnnotation]

    public init(_ r: StepRecord) {
        episode = r.episode
        index = r.index
        actionText = r.action.text
        action = r.action.embedding.map { blob($0.values) }
        states = [r.input, r.predicted, r.observed].flatMap { state in Modality.allCases.map { m in state[m].map { blob($0.values) } } }
        provenance = r.provenance
        timestamp = r.timestamp
        annotations = r.annotations
    }

    public func record() throws -> StepRecord {
        func embedding(_ data: Data?) throws -> Embedding? {
            guard let data else { return nil }
            guard let values = floats(data) else { throw StoreError.io(path: "pipe", reason: "an embedding of \(data.count) bytes (not Float32)") }
            return Embedding(values)
        }
        guard states.count == 3 * Modality.allCases.count else { throw StoreError.io(path: "pipe", reason: "a step with \(states.count) state columns") }
        var roles = [State(), State(), State()]
        var c = 0
        for r in 0..<3 {
            for m in Modality.allCases {
                roles[r][m] = try embedding(states[c])
                c += 1
            }
        }
        return StepRecord(episode: episode, index: index, action: Action(text: actionText, embedding: try embedding(action)),
                          input: roles[0], predicted: roles[1], observed: roles[2], provenance: provenance, timestamp: timestamp,
                          annotations: annotations)
    }
}

/// A stored step on the wire.
public struct WireStoredStep: Codable, Sendable {
    var id: Int64
    var step: WireStep
    var recalls: [RecalledStep]

    public init(_ s: StoredStep) {
        id = s.id
        step = WireStep(s.record)
        recalls = s.recalls
    }

    public func stored() throws -> StoredStep { StoredStep(id: id, record: try step.record(), recalls: recalls) }
}

/// A call on an `EpisodeRepository`, as sent to the process that holds the store.
public enum StoreRequest: Codable, Sendable {
    /// The first frame: which store to open (the URL travels here, not in argv, so a password stays out of `ps`).
    case open(location: String, dim: Int?, readOnly: Bool)
    case append(steps: [WireStep], recalls: [[RecalledStep]], identities: [StoreIdentity]?)
    case episodes
    case stepCount
    case steps(episode: String, index: Int?)
    case step(id: Int64)
    case stepsAfter(id: Int64, limit: Int)
    case recall(query: RecallQuery, k: Int, weights: RecallWeights, threads: Int)
    case stats
    case verify
    case pruneKeepLast(keepLast: Int, dryRun: Bool)
    case pruneBefore(seconds: Double, dryRun: Bool)
    case migrations
    case episodePage(after: Int64?, limit: Int, scenario: String?, namePrefix: String?, createdAfter: Double?, createdBefore: Double?)
    case stepPage(episode: String, afterIndex: Int?, limit: Int)
}

/// The answer to one `StoreRequest`.
public enum StoreReply: Codable, Sendable {
    case opened(path: String, dim: Int, actionDim: Int?)
    case appended(ids: [Int64], actionDim: Int?)
    case episodes([EpisodeSummary])
    case count(Int)
    case steps([WireStoredStep])
    case recalled([RecalledStep])
    case stats(StoreStats)
    case verify(VerifyReport)
    case strings([String])
    case episodePage(items: [EpisodeSummary], nextCursor: Int64?)
    case stepPage(items: [WireStoredStep], nextCursor: Int64?)
    case failed(StoreError)
}

/// Reading and writing frames on raw file descriptors (pipes), retrying short reads/writes and EINTR.
public enum StoreFrames {
    /// Largest frame accepted (a batch of 256 steps with 12 768-d embeddings is ≈ 60 MB of JSON).
    public static let maxFrame = 1 << 30

    /// Writes one frame; throws `StoreError.io` when the peer is gone.
    public static func write<T: Encodable>(_ value: T, to fd: Int32, peer: String) throws {
        let body: Data
        do { body = try JSONEncoder().encode(value) } catch { throw StoreError.io(path: peer, reason: "cannot encode a request: \(error)") }
        var frame = Data(count: 4)
        let n = UInt32(body.count).littleEndian
        withUnsafeBytes(of: n) { frame.replaceSubrange(0..<4, with: $0) }
        frame.append(body)
        try frame.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let w = Foundation.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if w < 0 {
                    if errno == EINTR { continue }
                    throw StoreError.io(path: peer, reason: "the store process is gone (write: \(String(cString: strerror(errno))))")
                }
                offset += w
            }
        }
    }

    /// Reads one frame; nil at a clean end of input (the peer closed the pipe between frames).
    public static func read<T: Decodable>(_ type: T.Type, from fd: Int32, peer: String) throws -> T? {
        guard let header = try readExactly(4, from: fd, peer: peer, allowEOF: true) else { return nil }
        let length = header.withUnsafeBytes { Int(UInt32(littleEndian: $0.loadUnaligned(as: UInt32.self))) }
        guard length <= maxFrame else { throw StoreError.io(path: peer, reason: "frame of \(length) bytes exceeds the limit") }
        guard let body = try readExactly(length, from: fd, peer: peer, allowEOF: false) else {
            throw StoreError.io(path: peer, reason: "the store process closed the pipe mid-frame")
        }
        do { return try JSONDecoder().decode(T.self, from: body) } catch {
            throw StoreError.io(path: peer, reason: "malformed frame from the store process: \(error)")
        }
    }

    private static func readExactly(_ count: Int, from fd: Int32, peer: String, allowEOF: Bool) throws -> Data? {
        var data = Data(count: count)
        var offset = 0
        try data.withUnsafeMutableBytes { raw in
            while offset < count {
                let r = Foundation.read(fd, raw.baseAddress! + offset, count - offset)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw StoreError.io(path: peer, reason: "read from the store process failed: \(String(cString: strerror(errno)))")
                }
                if r == 0 { break }
                offset += r
            }
        }
        if offset == count { return data }
        if offset == 0 && allowEOF { return nil }
        throw StoreError.io(path: peer, reason: "the store process closed the pipe (\(offset) of \(count) bytes)")
    }
}

/// The serving side: answers requests on `input` with replies on `output` until `input` closes.
public enum StoreServer {
    /// Serves one client. `open` makes the store from the first frame; every later frame is one call on it.
    /// A failed call answers `.failed` and the loop goes on; only a broken pipe ends it early.
    public static func serve(input: Int32, output: Int32, open: (String, Int?, Bool) throws -> any EpisodeRepository) throws {
        let peer = "worldgpt (parent)"
        guard let first = try StoreFrames.read(StoreRequest.self, from: input, peer: peer) else { return }
        guard case let .open(location, dim, readOnly) = first else {
            try StoreFrames.write(StoreReply.failed(.invalidArgument("the first request must be `open`")), to: output, peer: peer)
            return
        }
        let store: any EpisodeRepository
        do {
            store = try open(location, dim, readOnly)
        } catch {
            try StoreFrames.write(StoreReply.failed(asStoreError(error, path: EpisodeStores.redacted(location))), to: output, peer: peer)
            return
        }
        try StoreFrames.write(StoreReply.opened(path: store.path, dim: store.dim, actionDim: store.actionDim), to: output, peer: peer)
        while let request = try StoreFrames.read(StoreRequest.self, from: input, peer: peer) {
            let reply: StoreReply
            do { reply = try handle(request, store: store) } catch { reply = .failed(asStoreError(error, path: store.path)) }
            try StoreFrames.write(reply, to: output, peer: peer)
        }
    }

    static func asStoreError(_ error: Error, path: String) -> StoreError {
        (error as? StoreError) ?? .io(path: path, reason: "\(error)")
    }

    static func handle(_ request: StoreRequest, store: any EpisodeRepository) throws -> StoreReply {
        switch request {
        case .open: throw StoreError.invalidArgument("the store is already open")
        case let .append(steps, recalls, identities):
            guard recalls.count == steps.count, identities.map({ $0.count == steps.count }) ?? true else {
                throw StoreError.invalidArgument("append: one recall list and one identity per step")
            }
            let ids = try store.append(try steps.map { try $0.record() }, recalls: recalls, identities: identities)
            return .appended(ids: ids, actionDim: store.actionDim)
        case .episodes: return .episodes(try store.episodes())
        case .stepCount: return .count(try store.stepCount())
        case let .steps(episode, index): return .steps(try store.steps(StepReference(episode: episode, index: index)).map(WireStoredStep.init))
        case let .step(id): return .steps([WireStoredStep(try store.step(id: id))])
        case let .stepsAfter(id, limit): return .steps(try store.steps(afterID: id, limit: limit).map(WireStoredStep.init))
        case let .recall(query, k, weights, threads): return .recalled(try store.recall(query, k: k, weights: weights, threads: threads))
        case .stats: return .stats(try store.stats())
        case .verify: return .verify(try store.verify())
        case let .pruneKeepLast(keepLast, dryRun): return .count(try store.prune(keepLast: keepLast, dryRun: dryRun))
        case let .pruneBefore(seconds, dryRun): return .count(try store.prune(before: Date(timeIntervalSince1970: seconds), dryRun: dryRun))
        case .migrations: return .strings(try store.appliedMigrations())
        case let .episodePage(after, limit, scenario, namePrefix, createdAfter, createdBefore):
            let filter = EpisodeFilter(scenario: scenario, namePrefix: namePrefix, createdAfter: createdAfter, createdBefore: createdBefore)
            let page = try store.episodes(after: after, limit: limit, filter: filter)
            return .episodePage(items: page.items, nextCursor: page.nextCursor)
        case let .stepPage(episode, afterIndex, limit):
            let page = try store.steps(episode: episode, afterIndex: afterIndex, limit: limit)
            return .stepPage(items: page.items.map(WireStoredStep.init), nextCursor: page.nextCursor)
        }
    }
}
