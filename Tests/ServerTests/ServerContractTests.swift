// The server against its contract: schemathesis fuzzes every operation of openapi.yaml (no 5xx, every response
// matching its schema) on a read-only and on a writable server; the Python client, contract and inspector tests
// (python/tests, pytest) run against a live server over a store made by a real rollout.
import Foundation
import TestSupport
import XCTest

final class ServerContractTests: XCTestCase {
    /// `st run` against `server`: every operation, bounded examples, one worker.
    private func fuzz(_ server: ServerProcess, token: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let result = try runProcess(PythonEnvironment.schemathesis, [
            "run", "\(server.base)/openapi.yaml", "--checks", "not_a_server_error,response_schema_conformance,content_type_conformance",
            "--max-examples", "10", "--workers", "1", "--phases", "coverage,fuzzing", "-H", "Authorization: Bearer \(token)",
        ], timeout: 400)
        let summary = result.stdout.split(separator: "\n").filter { $0.contains("generated") || $0.contains("Tested") }.joined(separator: "; ")
        XCTAssertEqual(result.status, 0, "schemathesis found failures:\n\(result.stdout.suffix(4000))\n\(result.stderr.suffix(2000))", file: file, line: line)
        XCTAssertTrue(result.stdout.contains("Tested: 18"), "every operation of openapi.yaml is tested: \(summary)", file: file, line: line)
        XCTAssertFalse(result.stdout.contains("❌"), result.stdout.suffix(3000).description, file: file, line: line)
        let counts = try NSRegularExpression(pattern: #"(\d+) generated, (\d+) passed"#)
        let match = try XCTUnwrap(counts.firstMatch(in: result.stdout, range: NSRange(result.stdout.startIndex..., in: result.stdout)), summary, file: file, line: line)
        let generated = Int((result.stdout as NSString).substring(with: match.range(at: 1))) ?? 0
        XCTAssertGreaterThan(generated, 18 * 10, "too few generated cases: \(summary)", file: file, line: line)
        XCTAssertEqual((result.stdout as NSString).substring(with: match.range(at: 2)), String(generated), file: file, line: line)
    }

    func testEveryOperationSurvivesSchemathesisOnAReadOnlyServer() throws {
        try PythonEnvironment.require()
        let world = try TinyServedWorld.shared.get()
        let server = try ServerProcess(["--db", world.store.path, "--root", world.root.path, "--read-only", "--token", "t0k"] + world.modelArguments)
        defer { server.stop() }
        let before = try Data(contentsOf: world.store)
        let steps = try worldgpt(["memory", "stats", "--db", world.store.path, "--json"])
        try fuzz(server, token: "t0k")
        // Read-only: not one byte of the database changed and nothing was appended to its WAL, whatever the fuzzer sent.
        XCTAssertEqual(try Data(contentsOf: world.store), before)
        let wal = (try? FileManager.default.attributesOfItem(atPath: world.store.path + "-wal"))?[.size] as? Int ?? 0
        XCTAssertEqual(wal, 0)
        XCTAssertEqual(try worldgpt(["memory", "stats", "--db", world.store.path, "--json"]), steps)
    }

    func testEveryOperationSurvivesSchemathesisOnAWritableServer() throws {
        try PythonEnvironment.require()
        let world = try TinyServedWorld.shared.get()
        let store = try world.copyOfStore("fuzzed.sqlite")
        let server = try ServerProcess(["--db", store.path, "--root", world.root.path, "--token", "t0k"] + world.modelArguments)
        defer { server.stop() }
        try fuzz(server, token: "t0k")
        // Whatever was pruned or run, the store is still sound.
        let verify = try runProcess(Binaries.worldgpt, ["memory", "verify", "--db", store.path])
        XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
    }

    /// pytest on `files`; asserts that every test function in them passed.
    private func pytest(_ files: [String], store: URL, server: ServerProcess, token: String, extra: [String: String] = [:]) throws {
        let world = try TinyServedWorld.shared.get()
        let tests = try files.map { try String(contentsOf: Fixtures.projectRoot.appendingPathComponent($0), encoding: .utf8) }
            .flatMap { $0.split(separator: "\n").filter { $0.hasPrefix("def test_") || $0.hasPrefix("async def test_") } }
        XCTAssertFalse(tests.isEmpty)
        let result = try runProcess(PythonEnvironment.python, ["-m", "pytest", "-q", "-p", "no:cacheprovider"] + files, environment: [
            "WORLDGPT_SERVE_URL": server.base, "WORLDGPT_STORE": store.path, "WORLDGPT_BIN": Binaries.worldgpt.path,
            "WORLDGPT_DATA": world.world.path, "WORLDGPT_TOKEN": token,
        ].merging(extra) { $1 }, directory: Fixtures.projectRoot, timeout: 500)
        XCTAssertEqual(result.status, 0, "pytest failed:\n\(result.stdout.suffix(6000))\n\(result.stderr.suffix(2000))")
        XCTAssertTrue(result.stdout.contains("\(tests.count) passed"), "expected \(tests.count) passed: \(result.stdout.suffix(500))")
    }

    func testPythonClientAndContractAgainstALiveServer() throws {
        try PythonEnvironment.require()
        let world = try TinyServedWorld.shared.get()
        let store = try world.copyOfStore("client.sqlite")
        let server = try ServerProcess(["--db", store.path, "--root", world.root.path, "--token", "py-token"] + world.modelArguments)
        defer { server.stop() }
        try pytest(["python/tests/test_client.py", "python/tests/test_contract.py"], store: store, server: server, token: "py-token")
    }

    func testRemoteWorldModelEqualsTheNumpyModelBehindTheReferenceServer() throws {
        try PythonEnvironment.require()
        let world = try TinyServedWorld.shared.get()
        // This file's tests start their own model servers on 127.0.0.1 (worldgpt_client.model_server); the serve
        // variables are unused but required by conftest.
        let server = try ServerProcess(["--db", world.store.path, "--read-only", "--token", "unused"])
        defer { server.stop() }
        try pytest(["python/tests/test_remote_model.py"], store: world.store, server: server, token: "unused")
    }

    func testInspectorShowsTheEvidenceInChromium() throws {
        try PythonEnvironment.require()
        try Requirements.require(FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium"),
                                 "no /usr/bin/chromium: `apt-get install --no-install-recommends chromium` (make setup installs it)")
        let world = try TinyServedWorld.shared.get()
        let server = try ServerProcess(["--db", world.store.path, "--root", world.root.path, "--token", "ui-token", "--read-only"])
        defer { server.stop() }
        // The screenshot is a test artefact: .build/test-artifacts/inspector.png.
        let artifacts = Fixtures.projectRoot.appendingPathComponent(".build/test-artifacts")
        try FileManager.default.createDirectory(at: artifacts, withIntermediateDirectories: true)
        let screenshot = artifacts.appendingPathComponent("inspector.png")
        try? FileManager.default.removeItem(at: screenshot)
        try pytest(["python/tests/test_inspector.py"], store: world.store, server: server, token: "ui-token",
                   extra: ["WORLDGPT_CHROMIUM": "/usr/bin/chromium", "WORLDGPT_SCREENSHOT": screenshot.path,
                           "WORLDGPT_ABLATION_CSV": world.ablationReport.path])
        XCTAssertGreaterThan((try? Data(contentsOf: screenshot))?.count ?? 0, 10_000)
    }
}
