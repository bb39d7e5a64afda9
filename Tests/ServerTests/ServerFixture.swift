// What the server tests share: a tiny world, model and rolled-out store made once by the real CLI; `worldgpt-serve`
// processes on 127.0.0.1 (port 0, read back from its first line); a bounded HTTP client; the Python venv.
import Foundation
import TestSupport
import XCTest

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The built binaries (`.build/debug`, or beside the test bundle).
enum Binaries {
    static func url(_ name: String) -> URL {
        let built = Fixtures.projectRoot.appendingPathComponent(".build/debug/\(name)")
        if FileManager.default.fileExists(atPath: built.path) { return built }
        return Bundle(for: ServerProcess.self).bundleURL.deletingLastPathComponent().appendingPathComponent(name)
    }

    static var worldgpt: URL { url("worldgpt") }
    static var serve: URL { url("worldgpt-serve") }
}

/// A child process run to its end: exit status, standard output and standard error.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

/// Runs `binary` with `arguments` (environment added to this process's), killing it after `timeout` seconds.
func runProcess(_ binary: URL, _ arguments: [String], environment: [String: String] = [:], directory: URL? = nil, timeout: TimeInterval = 600) throws -> ProcessResult {
    let process = Process()
    process.executableURL = binary
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    if let directory { process.currentDirectoryURL = directory }
    process.standardInput = FileHandle.nullDevice
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let killer = DispatchWorkItem { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer)
    let errData = ErrBuffer()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
        errData.data = err.fileHandleForReading.readDataToEndOfFile()
        group.leave()
    }
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    group.wait()
    process.waitUntilExit()
    killer.cancel()
    return ProcessResult(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self), stderr: String(decoding: errData.data, as: UTF8.self))
}

private final class ErrBuffer: @unchecked Sendable { var data = Data() }

/// `worldgpt ARGS`, which must succeed.
@discardableResult
func worldgpt(_ arguments: [String]) throws -> String {
    let result = try runProcess(Binaries.worldgpt, arguments)
    guard result.status == 0 else {
        throw ServerTestFailure("`worldgpt \(arguments.joined(separator: " "))` exited \(result.status): \(result.stderr)")
    }
    return result.stdout
}

/// A tiny SimWorld (2 scenarios × 20 episodes × 7 steps, 64-d image and audio), a native model trained 40 steps,
/// and a store from `rollout --episodes 2` with the knowledge base (the filter stage keeps and drops items).
final class TinyServedWorld: @unchecked Sendable {
    static let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]
    static let shared = Result { try TinyServedWorld() }

    let directory: TemporaryDirectory
    var root: URL { directory.url }
    let world: URL, model: URL, store: URL
    /// `eval --ablation`'s CSV, written into the root (the store's folder: where a server finds it by default).
    var ablationReport: URL { directory.url.appendingPathComponent("ablation.csv") }

    init() throws {
        try Requirements.require(FileManager.default.isExecutableFile(atPath: Binaries.worldgpt.path), "the worldgpt binary is not built (swift build)")
        try Requirements.require(FileManager.default.isExecutableFile(atPath: Binaries.serve.path), "the worldgpt-serve binary is not built (swift build)")
        directory = try TemporaryDirectory(prefix: "serve-tests")
        world = directory.url.appendingPathComponent("world")
        model = directory.url.appendingPathComponent("run/final")
        store = directory.url.appendingPathComponent("memory.sqlite")
        let worldConfig = directory.url.appendingPathComponent("world.yaml")
        try "scenarios: 2\nepisodes: 20\nsteps: 7\nseed: 5\ndimension: 64\nhidden: 32\nmodalities: [image, audio]\noracle_samples: 2\n"
            .write(to: worldConfig, atomically: true, encoding: .utf8)
        try worldgpt(["simworld", "generate", "--config", worldConfig.path, "--out", world.path, "--quiet"])
        let trainConfig = directory.url.appendingPathComponent("train.yaml")
        try """
            data: world/train.yaml
            validation: world/test.yaml
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}
            optimizer: {lr: 3.0e-3, warmup_steps: 2}
            training:
              batch_size: 16
              stages: [{kind: single-unimodal, steps: 20}, {kind: single-cross, steps: 10}, {kind: multi-unimodal, steps: 10}]
              memory_probability: 0.5
              memory_steps: [2, 3]
            """.write(to: trainConfig, atomically: true, encoding: .utf8)
        try worldgpt(["train", "--config", trainConfig.path, "--out", directory.url.appendingPathComponent("run").path] + Self.encoder)
        try worldgpt(["rollout", "--model", model.path, "--kb", world.path, "--data", world.path, "--episodes", "2", "--db", store.path] + Self.encoder)
        // The ablation report the inspector charts (/v1/reports/ablation): 2 episodes of the sequences split.
        try worldgpt(["eval", "--ablation", "--model", model.path, "--data", world.path, "--episodes", "2", "--report-dir", directory.url.path]
                     + Self.encoder)
    }

    /// A copy of the rolled-out store inside the root (tests that write use their own).
    func copyOfStore(_ name: String) throws -> URL {
        let copy = root.appendingPathComponent(name)
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: copy.path + suffix) }
        try FileManager.default.copyItem(at: store, to: copy)
        return copy
    }

    /// The server flags that give runs and predict this world's model and knowledge base.
    var modelArguments: [String] { ["--model", model.path, "--kb", world.path] + Self.encoder }
}

/// A running `worldgpt-serve` on 127.0.0.1; stopped (SIGTERM, then SIGKILL) by `stop()` or when released.
final class ServerProcess: @unchecked Sendable {
    let process = Process()
    let port: Int
    var base: String { "http://127.0.0.1:\(port)" }
    private let output = Pipe()

    /// Starts the server with `arguments` (`--port 0` is added) and waits up to 30 s for its listening line.
    init(_ arguments: [String]) throws {
        process.executableURL = Binaries.serve
        process.arguments = arguments + ["--port", "0", "--host", "127.0.0.1"]
        process.standardOutput = output
        process.standardError = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        try process.run()
        var seen = Data()
        let deadline = Date().addingTimeInterval(30)
        var port: Int?
        while port == nil && Date() < deadline && process.isRunning {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            seen.append(chunk)
            let text = String(decoding: seen, as: UTF8.self)
            if let range = text.range(of: #"127\.0\.0\.1:(\d+)"#, options: .regularExpression) {
                port = Int(text[range].split(separator: ":").last ?? "")
            }
        }
        guard let port else {
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            throw ServerTestFailure("worldgpt-serve \(arguments.joined(separator: " ")) did not start: \(String(decoding: seen, as: UTF8.self))")
        }
        self.port = port
    }

    var pid: Int32 { process.processIdentifier }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        let deadline = Date().addingTimeInterval(10)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }
}

/// An HTTP answer.
struct HTTPAnswer {
    var status: Int
    var headers: [String: String]
    var body: Data
    var text: String { String(decoding: body, as: UTF8.self) }
    func json() throws -> [String: Any] {
        guard let object = try JSONSerialization.jsonObject(with: body) as? [String: Any] else { throw ServerTestFailure("not a JSON object: \(text)") }
        return object
    }
}

/// One request (30 s timeout) to a server on loopback.
func http(_ method: String, _ url: String, json: Any? = nil, body: Data? = nil, headers: [String: String] = [:]) throws -> HTTPAnswer {
    var request = URLRequest(url: URL(string: url)!, timeoutInterval: 30)
    request.httpMethod = method
    for (k, v) in headers { request.setValue(v, forHTTPHeaderField: k) }
    if let json {
        request.httpBody = try JSONSerialization.data(withJSONObject: json)
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
    } else if let body {
        request.httpBody = body
    }
    let box = AnswerBox()
    let done = DispatchSemaphore(value: 0)
    URLSession.shared.dataTask(with: request) { data, response, error in
        if let response = response as? HTTPURLResponse {
            var headers: [String: String] = [:]
            for (k, v) in response.allHeaderFields { headers[String(describing: k).lowercased()] = String(describing: v) }
            box.answer = HTTPAnswer(status: response.statusCode, headers: headers, body: data ?? Data())
        }
        box.error = error
        done.signal()
    }.resume()
    guard done.wait(timeout: .now() + 40) == .success else { throw ServerTestFailure("\(method) \(url): no answer in 40 s") }
    if let answer = box.answer { return answer }
    throw box.error ?? ServerTestFailure("\(method) \(url): no answer")
}

private final class AnswerBox: @unchecked Sendable {
    var answer: HTTPAnswer?
    var error: (any Error)?
}

/// The project's Python environment for the server tests (`make setup` makes `.venv-serve` with httpx, numpy,
/// pytest, schemathesis, playwright and the client).
enum PythonEnvironment {
    static var python: URL { Fixtures.projectRoot.appendingPathComponent(".venv-serve/bin/python") }
    static var schemathesis: URL { Fixtures.projectRoot.appendingPathComponent(".venv-serve/bin/st") }

    static func require() throws {
        try Requirements.require(FileManager.default.isExecutableFile(atPath: python.path),
                                 "no .venv-serve (httpx, numpy, pytest, schemathesis, playwright): run `make setup`")
        let probe = try runProcess(python, ["-c", "import httpx, numpy, pytest, schemathesis, playwright, worldgpt_client"], timeout: 60)
        try Requirements.require(probe.status == 0, ".venv-serve lacks a package: \(probe.stderr) — run `make setup`")
    }
}

/// A step of a server test that went wrong (a command failed, a server did not start, an answer was not JSON).
struct ServerTestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
