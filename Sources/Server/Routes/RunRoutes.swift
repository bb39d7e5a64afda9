// Runs (POST /v1/runs: 202 and a run id), their state, cancel and live trace (NDJSON or SSE), and predict.
import Agent
import Formats
import Foundation
import Hummingbird
import NIOCore

extension ServerState {
    /// The `worldgpt` binary runs and predictions execute.
    func worldgptBinary() throws -> URL { try Self.worldgptBinary(configuration) }

    static func worldgptBinary(_ configuration: ServerConfiguration) throws -> URL {
        if let binary = configuration.worldgpt { return binary }
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("worldgpt")
        guard FileManager.default.isExecutableFile(atPath: beside.path) else {
            throw ServeError.notConfigured("runs and predict execute the `worldgpt` CLI, and there is none at \(beside.path); start the server with --worldgpt PATH")
        }
        return beside
    }

    /// The runtime flags of every command that loads the model.
    func modelArguments() throws -> [String] {
        guard let model = configuration.model else {
            throw ServeError.notConfigured("this server has no world model: start it with --model CHECKPOINT (and --kb, --reflector as for `worldgpt rollout`)")
        }
        var arguments = ["--model", model]
        if let kb = configuration.knowledge { arguments += ["--kb", kb] }
        if let reflector = configuration.reflector { arguments += ["--reflector", reflector] }
        return arguments
    }

    /// The CLI arguments of a run (its inputs are written into `folder`).
    func runArguments(_ run: RunRequest, folder: URL) throws -> [String] {
        let store = configuration.store.argument
        let trace = folder.appendingPathComponent("trace.jsonl").path
        func data() throws -> String {
            guard let data = run.data else { throw ServeError.badRequest("a \(run.kind.rawValue) run needs `data` (a dataset YAML or SimWorld folder inside the root)") }
            return try paths.resolve(data).path
        }
        func positive(_ value: Int?, _ name: String) throws -> [String] {
            guard let value else { return [] }
            guard (1...1_000_000).contains(value) else { throw ServeError.badRequest("`\(name)` must be in 1...1000000 (got \(value))") }
            return ["--\(name)", String(value)]
        }
        let split = run.split.map { ["--split", $0] } ?? []
        switch run.kind {
        case .rollout:
            return ["rollout"] + (try modelArguments()) + ["--db", store, "--data", try data(), "--trace", trace] + split
                + (try positive(run.episodes, "episodes")) + (try positive(run.steps, "steps")) + configuration.runtimeArguments
        case .fork:
            guard let from = run.from else { throw ServeError.badRequest("a fork run needs `from` (EPISODE:STEP)") }
            guard let actions = run.actions, !actions.isEmpty, actions.allSatisfy({ !$0.trimmingCharacters(in: .whitespaces).isEmpty && !$0.contains("\n") }) else {
                throw ServeError.badRequest("a fork run needs `actions`: one or more non-empty action sentences without line breaks")
            }
            let file = folder.appendingPathComponent("actions.txt")
            do { try AtomicFile.write(Data((actions.joined(separator: "\n") + "\n").utf8), to: file) } catch {
                throw ServeError.notConfigured("cannot write \(file.path): \(error.localizedDescription)")
            }
            return ["fork"] + (try modelArguments()) + ["--db", store, "--from", from, "--actions", file.path, "--trace", trace]
                + (run.name.map { ["--name", $0] } ?? []) + configuration.runtimeArguments
        case .eval:
            return ["eval"] + (try modelArguments()).filter { $0 != "--reflector" && $0 != configuration.reflector }
                + ["--data", try data(), "--out", folder.appendingPathComponent("eval.csv").path] + split + configuration.runtimeArguments
        case .samples:
            guard let kb = configuration.knowledge else { throw ServeError.notConfigured("samples runs need the server's --kb") }
            guard let out = run.out else { throw ServeError.badRequest("a samples run needs `out` (a folder inside the root)") }
            return ["samples", "build", "--data", try data(), "--kb", kb, "--out", try paths.resolve(out).path] + split
                + (try positive(run.limit, "limit")) + configuration.runtimeArguments
        }
    }

    func addRunRoutes(to router: Router<ServeContext>) {
        let v1 = router.group("v1")
        v1.post("runs") { request, _ in
            let body = try await Wire.decode(RunRequest.self, from: request, limit: self.configuration.maxBodyBytes)
            let key = request.headers.first { $0.name.canonicalName == "idempotency-key" }?.value
            let binary = try self.worldgptBinary()
            let writes: ServedStore? = body.kind == .rollout || body.kind == .fork ? self.configuration.store : nil
            let (info, created) = try await self.runs.start(kind: body.kind, key: key, binary: binary, writes: writes) { folder in
                try self.runArguments(body, folder: folder)
            }
            return try Wire.json(info, status: created ? .accepted : .ok, headers: [.location: "/v1/runs/\(info.id)"])
        }
        v1.get("runs") { _, _ in try Wire.json(RunList(items: await self.runs.list())) }
        v1.get("runs/:id") { _, context in try Wire.json(try await self.runs.info(try context.parameter("id"))) }
        v1.post("runs/:id/cancel") { _, context in try Wire.json(try await self.runs.cancel(try context.parameter("id"))) }
        v1.get("runs/:id/trace") { request, context in
            let id = try context.parameter("id")
            let url = try await self.runs.traceURL(id)
            let sse = request.headers[.accept]?.contains("text/event-stream") ?? false
            let runs = self.runs
            let body = ResponseBody { writer in
                try await Self.follow(url, until: { await runs.isFinished(id) }) { raw in
                    // The CLI's trace lines, re-encoded with the API's snake_case keys (a line it cannot read passes as is).
                    let line = (try? JSONDecoder().decode(TraceLine.self, from: Data(raw.utf8)))
                        .flatMap { try? Wire.encoder().encode($0) }.map { String(decoding: $0, as: UTF8.self) } ?? raw
                    var buffer = ByteBuffer()
                    buffer.writeString(sse ? "data: \(line)\n\n" : line + "\n")
                    try await writer.write(buffer)
                }
                if sse {
                    let info = try await runs.info(id)
                    try await writer.write(ByteBuffer(string: "event: end\ndata: {\"status\":\"\(info.status.rawValue)\"}\n\n"))
                }
                try await writer.finish(nil)
            }
            return Response(status: .ok, headers: [.contentType: sse ? "text/event-stream" : "application/x-ndjson", .cacheControl: "no-cache"], body: body)
        }

        v1.post("predict") { request, _ in
            let body = try await Wire.decode(PredictRequest.self, from: request, limit: self.configuration.maxBodyBytes)
            if body.episode != nil && self.configuration.readOnly { throw ServeError.readOnlyMode("predict with `episode` (it offloads the step)") }
            if body.episode == nil {
                // Micro-batched through the predict worker (one model load; concurrent requests share a lock-step batch).
                _ = try self.modelArguments()
                let prediction = BatchedPrediction(data: try self.paths.resolve(body.data).path, sample: body.sample, split: body.split, action: body.action)
                // The worker wrote the trace in the API's JSON: its bytes are the body.
                return Wire.bytes(try await self.predictions.predict(prediction), contentType: "application/json")
            }
            var arguments = ["predict"] + (try self.modelArguments()) + ["--data", try self.paths.resolve(body.data).path, "--start", body.sample, "--json"]
            if let split = body.split { arguments += ["--split", split] }
            if let action = body.action { arguments += ["--action", action] }
            if let episode = body.episode {
                if let run = await self.runs.activeWriter(of: self.configuration.store.key) {
                    throw ServeError.conflict("run \(run) is writing the store; predict without `episode`, or wait")
                }
                arguments += ["--db", self.configuration.store.argument, "--episode", episode]
            }
            arguments += self.configuration.runtimeArguments
            let output = try await ChildProcess.run(try self.worldgptBinary(), arguments, environment: self.configuration.store.environment)
            guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                  let trace = try? JSONDecoder().decode(TraceLine.self, from: Data(line.utf8)) else {
                throw ServeError.childFailed(command: "worldgpt predict", status: 0, stderr: "no JSON line in its output: \(output.suffix(500))")
            }
            return try Wire.json(trace)
        }
    }

    /// Calls `emit` with each complete line of the file at `url` as it grows, until `until()` holds and no line is
    /// left (bounded: at most 6 hours of following).
    static func follow(_ url: URL, until: @Sendable () async -> Bool, emit: (String) async throws -> Void) async throws {
        var offset = 0
        var pending = Data()
        let deadline = Date().addingTimeInterval(6 * 3600)
        while Date() < deadline {
            let finished = await until()
            if let handle = try? FileHandle(forReadingFrom: url) {
                try? handle.seek(toOffset: UInt64(offset))
                let data = (try? handle.readToEnd()) ?? Data()
                try? handle.close()
                offset += data.count
                pending.append(data)
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending.removeSubrange(pending.startIndex...newline)
                    if !line.isEmpty { try await emit(line) }
                }
            }
            if finished { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
    }
}

/// Runs a child process to its end and returns its standard output.
enum ChildProcess {
    /// - Throws: `ServeError.childFailed` with the end of its standard error when it exits non-zero.
    /// - Parameter environment: variables added to this process's environment for the child.
    static func run(_ binary: URL, _ arguments: [String], environment: [String: String] = [:]) async throws -> String {
        try await withCheckedThrowingContinuation { continuation in
            let process = Process()
            process.executableURL = binary
            process.arguments = arguments
            if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
            process.standardInput = FileHandle.nullDevice
            let out = Pipe(), err = Pipe()
            process.standardOutput = out
            process.standardError = err
            do { try process.run() } catch {
                continuation.resume(throwing: ServeError.notConfigured("cannot start \(binary.path): \(error.localizedDescription)"))
                return
            }
            // Read both pipes to their end on their own threads (a full pipe would block the child).
            DispatchQueue.global().async {
                let group = DispatchGroup()
                let errBox = DataBox()
                group.enter()
                DispatchQueue.global().async {
                    errBox.data = err.fileHandleForReading.readDataToEndOfFile()
                    group.leave()
                }
                let outData = out.fileHandleForReading.readDataToEndOfFile()
                group.wait()
                let errData = errBox.data
                process.waitUntilExit()
                if process.terminationStatus == 0 {
                    continuation.resume(returning: String(decoding: outData, as: UTF8.self))
                } else {
                    let stderr = String(decoding: errData, as: UTF8.self)
                    let command = "worldgpt " + (arguments.first ?? "")
                    // A bad request to the CLI (missing sample, bad action) is the client's to fix: 422 with its message.
                    continuation.resume(throwing: ServeError.childFailed(command: command, status: process.terminationStatus, stderr: String(stderr.suffix(2000))))
                }
            }
        }
    }
}

/// The standard error read on another thread; the group's wait orders the write before the read.
private final class DataBox: @unchecked Sendable {
    var data = Data()
}
