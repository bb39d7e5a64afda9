// Micro-batching of POST /v1/predict: one long-lived `worldgpt predict --stdin-batches` child holds the model; the
// requests that arrive while batches are in flight go together as the next lock-step batch. Two batches are in
// flight at most, so the worker computes one while the server answers the other and gathers the next. A lock, not an
// actor, and one reader thread per worker that resumes each request as its line arrives: no executor hop per request
// or per batch beyond the request's own continuation.
import Agent
import Foundation

/// The server's predict worker (restarted on the next request after it dies). All state is guarded by `lock`.
final class PredictWorker: @unchecked Sendable {
    private struct Pending {
        let request: BatchedPrediction
        let continuation: CheckedContinuation<Data, any Error>
    }

    private struct Child {
        let generation: Int
        let process: Process
        let input: FileHandle
    }

    private let lock = NSLock()
    private var pending: [Pending] = []
    /// Batches written to the worker and not yet fully answered, oldest first (the worker answers in order), with
    /// the generation of the worker they were written to.
    private var inFlight: [(generation: Int, batch: ArraySlice<Pending>)] = []
    private var child: Child?
    private var generations = 0
    /// Predictions per batch at most.
    let maxBatch = 64
    /// Batches written to the worker and not yet answered at most.
    let maxInFlight = 2
    /// The command (`env --default-signal=TERM,INT worldgpt predict ... --stdin-batches`) and where its stderr goes.
    let launch: @Sendable () throws -> (URL, [String])
    let log: URL

    init(log: URL, launch: @escaping @Sendable () throws -> (URL, [String])) {
        self.launch = launch
        self.log = log
    }

    private func locked<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body()
    }

    /// Predicts `request` in the next batch.
    /// - Returns: the step's trace line as the API's JSON (the response body as the worker wrote it).
    /// - Throws: `ServeError.childFailed` with the CLI's message for this prediction (or the worker's, if it died).
    func predict(_ request: BatchedPrediction) async throws -> Data {
        try await withCheckedThrowingContinuation { continuation in
            let failed = locked { () -> [(Pending, any Error)] in
                pending.append(Pending(request: request, continuation: continuation))
                return dispatch()
            }
            for (p, error) in failed { p.continuation.resume(throwing: error) }
        }
    }

    /// Writes batches of the pending requests while fewer than `maxInFlight` are in flight (called with the lock
    /// held); returns the requests that failed, to be resumed after the lock is released.
    private func dispatch() -> [(Pending, any Error)] {
        var failed: [(Pending, any Error)] = []
        while inFlight.count < maxInFlight && !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            do {
                let child = try running()
                try child.input.write(contentsOf: try JSONEncoder().encode(batch.map(\.request)) + Data("\n".utf8))
                inFlight.append((child.generation, batch[...]))
            } catch {
                failed += batch.map { ($0, error) }
                failed += stopWorker(failing: error)
            }
        }
        return failed
    }

    /// The reader thread of worker `generation`: answers the oldest request in flight with each line, then starts the
    /// next batch once a batch is answered. At the end of the stream (the worker died) what is in flight fails.
    private func read(_ output: FileHandle, generation: Int) {
        let reader = LineReader(output)
        while let line = reader.nextLine() {
            let (request, failed) = locked { () -> (Pending?, [(Pending, any Error)]) in
                guard var first = inFlight.first, first.generation == generation, let p = first.batch.popFirst() else { return (nil, []) }
                if first.batch.isEmpty {
                    inFlight.removeFirst()
                    return (p, dispatch())
                }
                inFlight[0] = first
                return (p, [])
            }
            if let request {
                switch BatchedAnswer(line: line) {
                case .trace(let json): request.continuation.resume(returning: json)
                case .error(let message):
                    request.continuation.resume(throwing: ServeError.childFailed(command: "worldgpt predict", status: 1, stderr: message))
                case nil:
                    request.continuation.resume(throwing: ServeError.childFailed(
                        command: "worldgpt predict --stdin-batches", status: -1, stderr: "an answer line the server cannot read"))
                }
            }
            for (p, error) in failed { p.continuation.resume(throwing: error) }
        }
        let failed = locked { child?.generation == generation ? stopWorker(failing: workerDied()) : [] }
        for (p, error) in failed { p.continuation.resume(throwing: error) }
    }

    /// Ends the worker and fails what is in flight (called with the lock held; returns the requests to resume).
    private func stopWorker(failing error: any Error) -> [(Pending, any Error)] {
        let lost = inFlight.flatMap { $0.batch.map { ($0, error) } }
        inFlight = []
        if let child, child.process.isRunning { child.process.terminate() }
        child = nil
        return lost
    }

    private func running() throws -> Child {
        if let child, child.process.isRunning { return child }
        let (binary, arguments) = try launch()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["--default-signal=TERM,INT", binary.path] + arguments
        let input = Pipe(), output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        FileManager.default.createFile(atPath: log.path, contents: nil)
        process.standardError = (try? FileHandle(forWritingTo: log)) ?? FileHandle.nullDevice
        do { try process.run() } catch {
            throw ServeError.notConfigured("cannot start the predict worker \(binary.path): \(error.localizedDescription)")
        }
        generations += 1
        let started = Child(generation: generations, process: process, input: input.fileHandleForWriting)
        let generation = generations
        let reader = Thread { [self] in read(output.fileHandleForReading, generation: generation) }
        reader.name = "predict-worker-reader-\(generation)"
        reader.start()
        child = started
        return started
    }

    private func workerDied() -> ServeError {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return .childFailed(command: "worldgpt predict --stdin-batches", status: -1, stderr: "the predict worker stopped: " + String(text.suffix(2000)))
    }

    /// Ends the worker (server shutdown); requests in flight fail.
    func stop() {
        let failed = locked { stopWorker(failing: ServeError.notConfigured("the server is stopping")) }
        for (p, error) in failed { p.continuation.resume(throwing: error) }
    }
}

/// Lines from a pipe, read by blocking reads on the calling thread (one reader thread per pipe).
final class LineReader {
    private let handle: FileHandle
    private var buffer: [UInt8] = []
    private var start = 0

    init(_ handle: FileHandle) { self.handle = handle }

    /// The next line without its newline, or nil at the end of the stream.
    func nextLine() -> ArraySlice<UInt8>? {
        while true {
            if let newline = buffer[start...].firstIndex(of: 0x0A) {
                let line = buffer[start..<newline]
                start = newline + 1
                return line
            }
            // Keep only the unread tail, then wait for more.
            buffer.removeFirst(start)
            start = 0
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer.append(contentsOf: chunk)
        }
    }
}
