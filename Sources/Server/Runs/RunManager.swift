// Runs: rollout, fork, samples build and eval executed by the `worldgpt` CLI as child processes, so a run is the
// same code path as on the command line (crash-resume included) and a crash of a run never takes the server down.
// A run's folder holds its trace (JSONL, followed live by GET /v1/runs/{id}/trace), its log and its inputs.
import Foundation

/// The kinds of run the API starts.
enum RunKind: String, Codable, Sendable, CaseIterable {
    case rollout, fork, eval, samples
}

/// The body of POST /v1/runs.
struct RunRequest: Codable, Sendable, Equatable {
    var kind: RunKind
    /// rollout, eval, samples: dataset YAML or SimWorld folder (inside the root).
    var data: String?
    var split: String?
    /// rollout: episodes to run from `data`.
    var episodes: Int?
    /// rollout: steps per episode.
    var steps: Int?
    /// fork: the branch point, EPISODE:STEP.
    var from: String?
    /// fork: the action sentences.
    var actions: [String]?
    /// fork: the new episode's name.
    var name: String?
    /// samples: the output folder (inside the root).
    var out: String?
    /// samples: only the first N transitions.
    var limit: Int?
}

enum RunStatus: String, Codable, Sendable {
    case running, succeeded, failed, cancelled
}

/// A run as the API shows it.
struct RunInfo: Codable, Sendable {
    var id: String
    var kind: RunKind
    var status: RunStatus
    var createdAt: Double
    var finishedAt: Double?
    var exitStatus: Int32?
    /// The end of the child's standard error when it failed.
    var error: String?
    /// The command line the run executes.
    var command: [String]
    /// Trace lines written so far.
    var traceLines: Int
    var idempotencyKey: String?
    /// How many times the run was started (a resubmission with its idempotency key after a failure resumes it).
    var attempts: Int
    /// The process id of the running child (absent once it ended).
    var pid: Int32?
}

struct RunList: Codable, Sendable { var items: [RunInfo] }

/// Starts, tracks and cancels the runs of one server.
actor RunManager {
    private struct Entry {
        var info: RunInfo
        var process: Process?
        var folder: URL
        var writes: String?
    }

    private var entries: [String: Entry] = [:]
    private var order: [String] = []
    private var byKey: [String: String] = [:]
    private var counter = 0
    let folder: URL
    /// Variables added to every run's environment (`PGPASSWORD` of a PostgreSQL store, kept out of command lines).
    let environment: [String: String]

    init(folder: URL, environment: [String: String] = [:]) {
        self.folder = folder
        self.environment = environment
    }

    /// The run folder's trace file.
    func traceURL(_ id: String) throws -> URL {
        guard let entry = entries[id] else { throw ServeError.notFound("run `\(id)`") }
        return entry.folder.appendingPathComponent("trace.jsonl")
    }

    func info(_ id: String) throws -> RunInfo {
        guard var entry = entries[id] else { throw ServeError.notFound("run `\(id)`") }
        entry.info.traceLines = Self.lineCount(entry.folder.appendingPathComponent("trace.jsonl"))
        return entry.info
    }

    func list() -> [RunInfo] { order.compactMap { try? info($0) } }

    /// The id of a running run that writes `store` (a `ServedStore.key`), if any.
    func activeWriter(of store: String) -> String? {
        order.first { id in entries[id]?.info.status == .running && entries[id]?.writes == store }
    }

    /// Starts a run (or, with a known idempotency key, returns it; a failed or cancelled one is started again and
    /// resumes from what its store already holds).
    /// - Parameters:
    ///   - command: builds the CLI arguments from the run's folder (where it may write inputs such as an action file).
    ///   - writes: the store the run writes (its `ServedStore.key`), refused with 409 while another run writes it.
    func start(kind: RunKind, key: String?, binary: URL, writes: ServedStore?, command: (URL) throws -> [String]) throws -> (RunInfo, created: Bool) {
        if let key, let id = byKey[key], let entry = entries[id] {
            if entry.info.kind != kind { throw ServeError.conflict("idempotency key `\(key)` belongs to run \(id), a \(entry.info.kind.rawValue)") }
            if entry.info.status == .running || entry.info.status == .succeeded { return (try info(id), false) }
            try launch(id, binary: binary)
            return (try info(id), false)
        }
        if let writes, let other = activeWriter(of: writes.key) {
            throw ServeError.conflict("run \(other) is writing \(writes.name); wait for it or cancel it (POST /v1/runs/\(other)/cancel)")
        }
        counter += 1
        let id = String(format: "run-%04d", counter)
        let runFolder = folder.appendingPathComponent(id)
        do {
            try? FileManager.default.removeItem(at: runFolder)
            try FileManager.default.createDirectory(at: runFolder, withIntermediateDirectories: true)
        } catch {
            throw ServeError.notConfigured("cannot create the run folder \(runFolder.path): \(error.localizedDescription)")
        }
        let arguments = try command(runFolder)
        entries[id] = Entry(
            info: RunInfo(id: id, kind: kind, status: .running, createdAt: Date().timeIntervalSince1970, command: ["worldgpt"] + arguments,
                          traceLines: 0, idempotencyKey: key, attempts: 0),
            process: nil, folder: runFolder, writes: writes?.key)
        order.append(id)
        if let key { byKey[key] = id }
        try launch(id, binary: binary)
        return (try info(id), true)
    }

    private func launch(_ id: String, binary: URL) throws {
        guard var entry = entries[id] else { return }
        let process = Process()
        // env restores the default action of SIGTERM and SIGINT, which the server's signal handling ignores (an
        // ignored signal stays ignored across exec): cancel's SIGTERM must stop the CLI.
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["--default-signal=TERM,INT", binary.path] + Array(entry.info.command.dropFirst())
        process.currentDirectoryURL = entry.folder
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let log = entry.folder.appendingPathComponent("log.txt")
        FileManager.default.createFile(atPath: log.path, contents: nil)
        guard let handle = try? FileHandle(forWritingTo: log) else { throw ServeError.notConfigured("cannot write \(log.path)") }
        process.standardOutput = handle
        process.standardError = handle
        process.standardInput = FileHandle.nullDevice
        process.terminationHandler = { [weak self] p in
            try? handle.close()
            let status = p.terminationStatus, reason = p.terminationReason
            Task { await self?.finished(id, status: status, signalled: reason == .uncaughtSignal) }
        }
        do {
            try process.run()
        } catch {
            try? handle.close()
            throw ServeError.notConfigured("cannot start \(binary.path): \(error.localizedDescription)")
        }
        entry.process = process
        entry.info.pid = process.processIdentifier
        entry.info.status = .running
        entry.info.finishedAt = nil
        entry.info.exitStatus = nil
        entry.info.error = nil
        entry.info.attempts += 1
        entries[id] = entry
    }

    private func finished(_ id: String, status: Int32, signalled: Bool) {
        guard var entry = entries[id] else { return }
        entry.process = nil
        entry.info.pid = nil
        entry.info.finishedAt = Date().timeIntervalSince1970
        entry.info.exitStatus = status
        if entry.info.status != .cancelled {
            entry.info.status = status == 0 && !signalled ? .succeeded : .failed
        }
        if entry.info.status == .failed {
            let log = (try? String(contentsOf: entry.folder.appendingPathComponent("log.txt"), encoding: .utf8)) ?? ""
            entry.info.error = String(log.suffix(2000))
        }
        entries[id] = entry
    }

    /// Stops a running run (SIGTERM); what it committed stays in the store, and resubmitting resumes it.
    func cancel(_ id: String) throws -> RunInfo {
        guard var entry = entries[id] else { throw ServeError.notFound("run `\(id)`") }
        if entry.info.status == .running, let process = entry.process {
            entry.info.status = .cancelled
            entries[id] = entry
            process.terminate()
            // A run that ignores SIGTERM for 10 s is killed (what it committed stays committed).
            let pid = process.processIdentifier
            DispatchQueue.global().asyncAfter(deadline: .now() + 10) { if process.isRunning { kill(pid, SIGKILL) } }
        }
        return try info(id)
    }

    /// Stops every running run (server shutdown).
    func cancelAll() {
        for id in order { _ = try? cancel(id) }
    }

    /// True once the run has ended.
    func isFinished(_ id: String) -> Bool { entries[id].map { $0.info.status != .running } ?? true }

    static func lineCount(_ url: URL) -> Int {
        guard let data = try? Data(contentsOf: url) else { return 0 }
        return data.reduce(0) { $0 + ($1 == 0x0A ? 1 : 0) }
    }
}
