// Runs through the API: one writer per store (409 while a run writes), cancel, Idempotency-Key resubmission, the
// live trace as SSE, and predict's evidence equal to the CLI's. A stand-in CLI that only sleeps keeps a run
// deterministically "running" where the test needs it.
import Foundation
import TestSupport
import XCTest

final class ServerRunTests: XCTestCase {
    /// A stand-in `worldgpt` that runs for `seconds` and exits with `status`.
    private func slowCLI(_ world: TinyServedWorld, seconds: Int, status: Int = 0) throws -> URL {
        let script = world.root.appendingPathComponent("slow-worldgpt-\(seconds)-\(status).sh")
        // exec: the script's process is the one that sleeps, so cancel's signal reaches it (like the real CLI, a single process).
        try (status == 0 ? "#!/bin/sh\nexec sleep \(seconds)\n" : "#!/bin/sh\nsleep \(seconds)\nexit \(status)\n").write(to: script, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: script.path)
        return script
    }

    func testAStoreHasOneWriterAt409AndCancelStopsTheRun() throws {
        let world = try TinyServedWorld.shared.get()
        let store = try world.copyOfStore("conflict.sqlite")
        let server = try ServerProcess(["--db", store.path, "--root", world.root.path, "--worldgpt", try slowCLI(world, seconds: 30).path] + world.modelArguments)
        defer { server.stop() }
        let first = try http("POST", server.base + "/v1/runs", json: ["kind": "rollout", "data": world.world.path])
        XCTAssertEqual(first.status, 202, first.text)
        let id = try XCTUnwrap(try first.json()["id"] as? String)
        XCTAssertEqual(first.headers["location"], "/v1/runs/\(id)")
        // While it runs, every other write to the same store is a 409 naming the run.
        for (route, body) in [("/v1/runs", ["kind": "fork", "from": "s00-e0007:1", "actions": ["push it"]] as [String: Any]),
                              ("/v1/prune", ["keep_last": 1]), ("/v1/predict", ["data": world.world.path, "sample": "3", "episode": "x"])] {
            let answer = try http("POST", server.base + route, json: body)
            XCTAssertEqual(answer.status, 409, "\(route): \(answer.text)")
            XCTAssertTrue(answer.text.contains(id), answer.text)
        }
        // A dry run only reads, so it is allowed.
        XCTAssertEqual(try http("POST", server.base + "/v1/prune", json: ["keep_last": 1, "dry_run": true]).status, 200)
        let cancelled = try http("POST", server.base + "/v1/runs/\(id)/cancel")
        XCTAssertEqual(try cancelled.json()["status"] as? String, "cancelled")
        let deadline = Date().addingTimeInterval(10)
        while Date() < deadline, try http("GET", server.base + "/v1/runs/\(id)").json()["pid"] != nil { usleep(20_000) }
        XCTAssertNil(try http("GET", server.base + "/v1/runs/\(id)").json()["pid"], "the child did not end after cancel")
        XCTAssertEqual(try http("POST", server.base + "/v1/prune", json: ["keep_last": 6]).status, 200)
    }

    func testIdempotencyKeyReturnsTheRunAndRestartsItAfterAFailure() throws {
        let world = try TinyServedWorld.shared.get()
        let store = try world.copyOfStore("idempotent.sqlite")
        let failing = try ServerProcess(["--db", store.path, "--root", world.root.path, "--worldgpt", try slowCLI(world, seconds: 0, status: 3).path] + world.modelArguments)
        defer { failing.stop() }
        let body: [String: Any] = ["kind": "rollout", "data": world.world.path, "episodes": 3]
        let first = try http("POST", failing.base + "/v1/runs", json: body, headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(first.status, 202)
        let id = try XCTUnwrap(try first.json()["id"] as? String)
        // Following the trace ends when the run does; it failed with the child's status.
        XCTAssertEqual(try http("GET", failing.base + "/v1/runs/\(id)/trace").status, 200)
        let failed = try http("GET", failing.base + "/v1/runs/\(id)").json()
        XCTAssertEqual(failed["status"] as? String, "failed")
        XCTAssertEqual(failed["exit_status"] as? Int, 3)
        // The same key again: the same run, started a second time (the CLI resumes from the store).
        let again = try http("POST", failing.base + "/v1/runs", json: body, headers: ["Idempotency-Key": "k-1"])
        XCTAssertEqual(again.status, 200)
        XCTAssertEqual(try again.json()["id"] as? String, id)
        XCTAssertEqual(try again.json()["attempts"] as? Int, 2)
        // Another kind under the same key is a conflict.
        XCTAssertEqual(try http("POST", failing.base + "/v1/runs", json: ["kind": "eval", "data": world.world.path], headers: ["Idempotency-Key": "k-1"]).status, 409)
    }

    func testARealRolloutRunStreamsItsTraceAsSSEAndPredictMatchesTheCLI() throws {
        let world = try TinyServedWorld.shared.get()
        let store = try world.copyOfStore("sse.sqlite")
        let server = try ServerProcess(["--db", store.path, "--root", world.root.path] + world.modelArguments)
        defer { server.stop() }
        let started = try http("POST", server.base + "/v1/runs", json: ["kind": "rollout", "data": world.world.path, "episodes": 3])
        let id = try XCTUnwrap(try started.json()["id"] as? String)
        let sse = try http("GET", server.base + "/v1/runs/\(id)/trace", headers: ["Accept": "text/event-stream"])
        XCTAssertEqual(sse.headers["content-type"], "text/event-stream")
        let events = sse.text.components(separatedBy: "\n\n").filter { !$0.isEmpty }
        XCTAssertEqual(events.last, "event: end\ndata: {\"status\":\"succeeded\"}")
        let lines = events.dropLast().map { String($0.dropFirst("data: ".count)) }
        XCTAssertEqual(lines.count, 3 * 7)
        // The streamed lines are the CLI's trace of the same store (a resume re-emits stored steps identically).
        let cli = try runProcess(Binaries.worldgpt, ["rollout", "--model", world.model.path, "--kb", world.world.path, "--data", world.world.path,
                                                     "--episodes", "3", "--db", store.path] + TinyServedWorld.encoder)
        let cliLines = cli.stdout.split(separator: "\n").filter { $0.hasPrefix("{") }
        XCTAssertEqual(cliLines.count, lines.count)
        for (served, printed) in zip(lines, cliLines) {
            let a = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(served.utf8)) as? [String: Any])
            let b = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any])
            XCTAssertEqual(a["episode"] as? String, b["episode"] as? String)
            XCTAssertEqual(a["step"] as? Int, b["step"] as? Int)
            XCTAssertEqual(a["action"] as? String, b["action"] as? String)
            XCTAssertEqual(a["recalled"] as? [String], b["recalled"] as? [String])
            XCTAssertEqual((a["prediction_head"] as? [String: [Double]])?.keys.sorted(), (b["predictionHead"] as? [String: [Double]])?.keys.sorted())
            for (m, head) in (a["prediction_head"] as? [String: [Double]]) ?? [:] {
                XCTAssertEqual(head, (b["predictionHead"] as? [String: [Double]])?[m])
            }
        }
        // predict: the served answer equals `worldgpt predict --json` for the same sample.
        let served = try http("POST", server.base + "/v1/predict", json: ["data": world.world.path, "sample": "5"])
        XCTAssertEqual(served.status, 200, served.text)
        let printed = try worldgpt(["predict", "--model", world.model.path, "--kb", world.world.path, "--data", world.world.path, "--start", "5", "--json"] + TinyServedWorld.encoder)
        let a = try served.json()
        let b = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any])
        XCTAssertEqual(a["action"] as? String, b["action"] as? String)
        XCTAssertEqual(a["prediction_head"] as? [String: [Double]], b["predictionHead"] as? [String: [Double]])
        XCTAssertEqual((a["kept"] as? [[String: Any]])?.map { $0["id"] as? String }, (b["kept"] as? [[String: Any]])?.map { $0["id"] as? String })
    }

    func testConcurrentPredictionsAreBatchedAndEqualSinglePredictions() throws {
        let world = try TinyServedWorld.shared.get()
        let server = try ServerProcess(["--db", world.store.path, "--root", world.root.path, "--read-only"] + world.modelArguments)
        defer { server.stop() }
        let samples = ["1", "3", "5", "7", "9", "11", "3", "5"]
        let answers = AnswerList(count: samples.count)
        DispatchQueue.concurrentPerform(iterations: samples.count) { i in
            answers.set(i, Result { try http("POST", server.base + "/v1/predict", json: ["data": world.world.path, "sample": samples[i]]) })
        }
        for (i, sample) in Set(samples).sorted().enumerated() where i < 4 {
            let printed = try worldgpt(["predict", "--model", world.model.path, "--kb", world.world.path, "--data", world.world.path, "--start", sample, "--json"] + TinyServedWorld.encoder)
            let expected = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(printed.utf8)) as? [String: Any])
            for (j, s) in samples.enumerated() where s == sample {
                let answer = try answers.get(j)
                XCTAssertEqual(answer.status, 200, answer.text)
                let got = try answer.json()
                XCTAssertEqual(got["prediction_head"] as? [String: [Double]], expected["predictionHead"] as? [String: [Double]], "sample \(sample)")
                XCTAssertEqual((got["kept"] as? [[String: Any]])?.map { $0["id"] as? String }, (expected["kept"] as? [[String: Any]])?.map { $0["id"] as? String })
                XCTAssertEqual(got["episode"] as? String, expected["episode"] as? String)
            }
        }
        // A sample that does not exist fails alone, with the CLI's message.
        let missing = try http("POST", server.base + "/v1/predict", json: ["data": world.world.path, "sample": "no-such-sample"])
        XCTAssertEqual(missing.status, 422)
        XCTAssertTrue(missing.text.contains("no-such-sample"), missing.text)
    }
}

/// Answers written by concurrent requests.
private final class AnswerList: @unchecked Sendable {
    private var answers: [Result<HTTPAnswer, any Error>?]
    private let lock = NSLock()
    init(count: Int) { answers = Array(repeating: nil, count: count) }
    func set(_ i: Int, _ answer: Result<HTTPAnswer, any Error>) { lock.lock(); answers[i] = answer; lock.unlock() }
    func get(_ i: Int) throws -> HTTPAnswer {
        lock.lock()
        defer { lock.unlock() }
        guard let answer = answers[i] else { throw ServerTestFailure("request \(i) has no answer") }
        return try answer.get()
    }
}
