// The server's security promises: loopback unless a token is given, the token on every route but health, every
// request path confined to --root (`..` and symlinks), body size limits, --read-only, and a killed server (and
// its run) losing no committed step.
import Foundation
import TestSupport
import XCTest

final class ServerSecurityTests: XCTestCase {
    func testBindingBeyondLoopbackWithoutATokenIsRefusedBeforeBinding() throws {
        let world = try TinyServedWorld.shared.get()
        // Never binds: the configuration is refused first, so no traffic can leave the machine.
        let result = try runProcess(Binaries.serve, ["--db", world.store.path, "--host", "0.0.0.0", "--port", "0"], timeout: 30)
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("--token"), result.stderr)
        XCTAssertTrue(result.stdout.isEmpty, "it must not have started listening: \(result.stdout)")
        // `worldgpt serve` is the same server (it execs worldgpt-serve with its arguments).
        let forwarded = try runProcess(Binaries.worldgpt, ["serve", "--db", world.store.path, "--host", "0.0.0.0", "--port", "0"], timeout: 30)
        XCTAssertEqual(forwarded.status, result.status)
        XCTAssertEqual(forwarded.stderr, result.stderr)
    }

    func testEveryRouteButHealthNeedsTheToken() throws {
        let world = try TinyServedWorld.shared.get()
        let server = try ServerProcess(["--db", world.store.path, "--token", "s3cret"])
        defer { server.stop() }
        let episode = "s00-e0007"
        let routes = ["/v1/version", "/v1/store/stats", "/v1/store/verify", "/v1/episodes", "/v1/episodes/\(episode)/steps",
                      "/v1/episodes/\(episode)/steps/1", "/v1/episodes/\(episode)/steps/1/arrays/input/image", "/v1/runs", "/ui", "/openapi.yaml"]
        for route in routes {
            let refused = try http("GET", server.base + route)
            XCTAssertEqual(refused.status, 401, route)
            XCTAssertEqual(refused.headers["content-type"], "application/problem+json", route)
            XCTAssertEqual(try http("GET", server.base + route, headers: ["Authorization": "Bearer wrong"]).status, 401, route)
            XCTAssertEqual(try http("GET", server.base + route, headers: ["Authorization": "Bearer s3cret"]).status, 200, route)
        }
        XCTAssertEqual(try http("POST", server.base + "/v1/search", json: ["like": "\(episode):1"]).status, 401)
        XCTAssertEqual(try http("GET", server.base + "/v1/health").status, 200)
        // The inspector's link form sets a cookie that later requests may carry instead of the header.
        let link = try http("GET", server.base + "/ui?access_token=s3cret")
        XCTAssertEqual(link.status, 200)
        XCTAssertTrue((link.headers["set-cookie"] ?? "").contains("HttpOnly"), "\(link.headers)")
    }

    func testPathsOutsideTheRootAreRefusedWith403() throws {
        let world = try TinyServedWorld.shared.get()
        let root = world.root.appendingPathComponent("confined")
        try? FileManager.default.removeItem(at: root)
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let store = root.appendingPathComponent("memory.sqlite")
        try FileManager.default.copyItem(at: world.store, to: store)
        // A symlink inside the root to the store outside it, and a symlinked folder leading out.
        let outsideStore = try world.copyOfStore("outside.sqlite")
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("link.sqlite"), withDestinationURL: outsideStore)
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("out"), withDestinationURL: world.root)
        let server = try ServerProcess(["--db", store.path, "--root", root.path])
        defer { server.stop() }
        for named in ["../outside.sqlite", "../../etc/passwd", outsideStore.path, "/etc/passwd", "link.sqlite", "out/outside.sqlite", "a/../../outside.sqlite"] {
            let answer = try http("GET", server.base + "/v1/store/stats?store=" + named.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)
            XCTAssertEqual(answer.status, 403, "\(named): \(answer.text)")
            XCTAssertTrue(answer.text.contains("outside the server's root"), answer.text)
        }
        for out in ["../escaped", "out/escaped", "/tmp/escaped-\(UUID().uuidString)"] {
            XCTAssertEqual(try http("POST", server.base + "/v1/export", json: ["out": out]).status, 403, out)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: world.root.appendingPathComponent("escaped").path))
        // Inside the root, both forms work.
        XCTAssertEqual(try http("GET", server.base + "/v1/store/stats?store=memory.sqlite").status, 200)
        let export = try http("POST", server.base + "/v1/export", json: ["out": "exported"])
        XCTAssertEqual(export.status, 200, export.text)
        XCTAssertTrue(FileManager.default.fileExists(atPath: root.appendingPathComponent("exported/steps.jsonl").path))
    }

    func testOversizeBodiesAre413() throws {
        let world = try TinyServedWorld.shared.get()
        let server = try ServerProcess(["--db", world.store.path, "--max-body-bytes", "4096"])
        defer { server.stop() }
        let vector = (0..<4096).map { _ in 0.5 }
        let big = try http("POST", server.base + "/v1/search", json: ["vector": vector])
        XCTAssertEqual(big.status, 413, big.text)
        XCTAssertEqual(big.headers["content-type"], "application/problem+json")
        XCTAssertTrue(big.text.contains("4096"), big.text)
        // Under the limit the same route answers.
        let small = try http("POST", server.base + "/v1/search", json: ["vector": Array(vector.prefix(64)), "k": 2])
        XCTAssertEqual(small.status, 200, small.text)
        XCTAssertEqual((try small.json()["items"] as? [Any])?.count, 2)
    }

    func testReadOnlyRefusesEveryWrite() throws {
        let world = try TinyServedWorld.shared.get()
        let store = try world.copyOfStore("readonly.sqlite")
        let server = try ServerProcess(["--db", store.path, "--read-only"] + world.modelArguments)
        defer { server.stop() }
        let steps = try http("GET", server.base + "/v1/store/stats").json()["steps"] as? Int
        let writes: [(String, [String: Any])] = [
            ("/v1/prune", ["keep_last": 0]), ("/v1/export", ["out": "ro-export"]), ("/v1/runs", ["kind": "rollout", "data": world.world.path]),
            ("/v1/predict", ["data": world.world.path, "sample": "3", "episode": "ro-episode"]),
        ]
        for (route, body) in writes {
            let answer = try http("POST", server.base + route, json: body)
            XCTAssertEqual(answer.status, 403, "\(route): \(answer.text)")
            XCTAssertTrue(answer.text.contains("read-only"), answer.text)
        }
        XCTAssertEqual(try http("GET", server.base + "/v1/store/stats").json()["steps"] as? Int, steps)
        XCTAssertFalse(FileManager.default.fileExists(atPath: world.root.appendingPathComponent("ro-export").path))
        // Reading routes still work.
        XCTAssertEqual(try http("POST", server.base + "/v1/search", json: ["like": "s00-e0007:2", "k": 2]).status, 200)
    }

    func testAKilledServerAndRunLoseNoCommittedStep() throws {
        let world = try TinyServedWorld.shared.get()
        // A longer world for the same model (16 sequences × 40 steps: a few seconds of writing to kill into).
        let long = world.root.appendingPathComponent("long-world")
        let config = world.root.appendingPathComponent("long-world.yaml")
        try "scenarios: 2\nepisodes: 80\nsteps: 40\nseed: 7\ndimension: 64\nhidden: 32\nmodalities: [image, audio]\noracle_samples: 2\n"
            .write(to: config, atomically: true, encoding: .utf8)
        if !FileManager.default.fileExists(atPath: long.path) { try worldgpt(["simworld", "generate", "--config", config.path, "--out", long.path, "--quiet"]) }
        let store = world.root.appendingPathComponent("killed.sqlite")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: store.path + suffix) }
        try worldgpt(["rollout", "--model", world.model.path, "--kb", long.path, "--data", long.path, "--episodes", "1", "--steps", "1", "--db", store.path] + TinyServedWorld.encoder)
        let runs = world.root.appendingPathComponent("killed.runs")
        try? FileManager.default.removeItem(at: runs)
        let serverArguments = ["--db", store.path, "--root", world.root.path, "--runs", runs.path, "--model", world.model.path, "--kb", long.path] + TinyServedWorld.encoder
        var server = try ServerProcess(serverArguments)
        let started = try http("POST", server.base + "/v1/runs", json: ["kind": "rollout", "data": long.path, "episodes": 16])
        XCTAssertEqual(started.status, 202, started.text)
        let id = try XCTUnwrap(try started.json()["id"] as? String)
        // Wait until the run has committed new steps beyond the two stored episodes, read what is committed, then
        // SIGKILL the server and its run.
        func committed(_ base: String) throws -> [String: String] {
            var steps: [String: String] = [:]
            for episode in try http("GET", base + "/v1/episodes?limit=100").json()["items"] as? [[String: Any]] ?? [] {
                let name = episode["name"] as? String ?? "?"
                for step in try http("GET", base + "/v1/episodes/\(name)/steps?limit=100").json()["items"] as? [[String: Any]] ?? [] {
                    let cosine = (step["cosine"] as? [String: Double] ?? [:]).sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
                    steps["\(name):\(step["index"] as? Int ?? -1)"] = "\(step["action"] ?? "")|\(cosine.joined(separator: ","))"
                }
            }
            return steps
        }
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, (try http("GET", server.base + "/v1/store/stats").json()["steps"] as? Int ?? 0) < 17 { usleep(2_000) }
        let child = try XCTUnwrap(try http("GET", server.base + "/v1/runs/\(id)").json()["pid"] as? Int, "the run ended before the kill")
        let before = try committed(server.base)
        kill(server.pid, SIGKILL)
        kill(Int32(child), SIGKILL)
        server.process.waitUntilExit()
        XCTAssertGreaterThan(before.count, 16, "the run committed no new step within 120 s")
        XCTAssertLessThan(before.count, 16 * 40, "the run had ended before the kill")
        // Every step that was committed before the kill is still there, unchanged, and the store is sound.
        let verify = try runProcess(Binaries.worldgpt, ["memory", "verify", "--db", store.path])
        XCTAssertEqual(verify.status, 0, verify.stdout)
        server = try ServerProcess(serverArguments)
        defer { server.stop() }
        let after = try committed(server.base)
        for (step, content) in before { XCTAssertEqual(after[step], content, "committed step \(step) changed or vanished") }
        // A new server resumes the run to the end: all 16 × 40 steps, the committed ones untouched.
        let again = try http("POST", server.base + "/v1/runs", json: ["kind": "rollout", "data": long.path, "episodes": 16])
        let againID = try XCTUnwrap(try again.json()["id"] as? String)
        let followed = try http("GET", server.base + "/v1/runs/\(againID)/trace")
        XCTAssertEqual(followed.text.split(separator: "\n").count, 16 * 40)
        XCTAssertEqual(try http("GET", server.base + "/v1/runs/\(againID)").json()["status"] as? String, "succeeded")
        XCTAssertEqual(try http("GET", server.base + "/v1/store/stats").json()["steps"] as? Int, 16 * 40)
        let resumed = try committed(server.base)
        for (step, content) in before { XCTAssertEqual(resumed[step], content, "the resume changed committed step \(step)") }
    }
}
