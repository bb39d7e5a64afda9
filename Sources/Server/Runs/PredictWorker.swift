// Micro-batching of POST /v1/predict: one long-lived `worldgpt predict --stdin-batches` child holds the model, and
// the requests that arrive while a batch is being predicted go together as the next lock-step batch.
import Agent
import Foundation

/// The server's predict worker (restarted on the next request after it dies).
actor PredictWorker {
    private struct Pending {
        let request: BatchedPrediction
        let continuation: CheckedContinuation<TraceLine, any Error>
    }

    private struct Child {
        let process: Process
        let input: FileHandle
        let reader: LineReader
    }

    private var pending: [Pending] = []
    private var pumping = false
    private var child: Child?
    /// Predictions per batch at most.
    let maxBatch = 64
    /// The command (`env --default-signal=TERM,INT worldgpt predict ... --stdin-batches`) and where its stderr goes.
    let launch: @Sendable () throws -> (URL, [String])
    let log: URL

    init(log: URL, launch: @escaping @Sendable () throws -> (URL, [String])) {
        self.launch = launch
        self.log = log
    }

    /// Predicts `request` in the next batch.
    /// - Throws: `ServeError.childFailed` with the CLI's message for this prediction (or the worker's, if it died).
    func predict(_ request: BatchedPrediction) async throws -> TraceLine {
        try await withCheckedThrowingContinuation { continuation in
            pending.append(Pending(request: request, continuation: continuation))
            if !pumping {
                pumping = true
                Task { await self.pump() }
            }
        }
    }

    private func pump() async {
        while !pending.isEmpty {
            let batch = Array(pending.prefix(maxBatch))
            pending.removeFirst(batch.count)
            do {
                let child = try running()
                try child.input.write(contentsOf: try JSONEncoder().encode(batch.map(\.request)) + Data("\n".utf8))
                guard let line = await child.reader.nextLine() else { throw workerDied() }
                let answers = try JSONDecoder().decode([BatchedAnswer].self, from: Data(line.utf8))
                guard answers.count == batch.count else { throw workerDied() }
                for (p, answer) in zip(batch, answers) {
                    if let trace = answer.trace {
                        p.continuation.resume(returning: trace)
                    } else {
                        p.continuation.resume(throwing: ServeError.childFailed(command: "worldgpt predict", status: 1, stderr: answer.error ?? "no answer"))
                    }
                }
            } catch {
                stop()
                for p in batch { p.continuation.resume(throwing: error) }
            }
        }
        pumping = false
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
        let started = Child(process: process, input: input.fileHandleForWriting, reader: LineReader(output.fileHandleForReading))
        child = started
        return started
    }

    private func workerDied() -> ServeError {
        let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
        return .childFailed(command: "worldgpt predict --stdin-batches", status: -1, stderr: "the predict worker stopped: " + String(text.suffix(2000)))
    }

    /// Ends the worker (server shutdown, or after it failed).
    func stop() {
        if let child, child.process.isRunning { child.process.terminate() }
        child = nil
    }
}

/// Lines from a pipe, read on a background thread (only the worker's pump calls it, one call at a time).
final class LineReader: @unchecked Sendable {
    private let handle: FileHandle
    private var buffer = Data()

    init(_ handle: FileHandle) { self.handle = handle }

    /// The next line, or nil at the end of the stream.
    func nextLine() async -> String? {
        await withCheckedContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(returning: self.readLine()) }
        }
    }

    private func readLine() -> String? {
        while true {
            if let newline = buffer.firstIndex(of: 0x0A) {
                let line = String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self)
                buffer.removeSubrange(buffer.startIndex...newline)
                return line
            }
            let chunk = handle.availableData
            if chunk.isEmpty { return nil }
            buffer.append(chunk)
        }
    }
}
