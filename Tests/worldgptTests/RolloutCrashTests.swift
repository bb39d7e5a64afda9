// A real `worldgpt rollout` — a trained native model, a tuned reflector, a knowledge base, open loop (each step
// continues from the model's own prediction, so a resume that restored the wrong state or memory would predict
// different numbers) — SIGKILLed at random moments at least 20 times, each time with the store holding part of
// the run; the same command run again must end with exactly the store and trace of an uninterrupted run: every
// stored float (inputs, predictions, truths, action embeddings) and every annotation (recalled, retrieved, kept,
// dropped with reasons), compared byte for byte through `memory export`.
import Foundation
import TestSupport
import XCTest

final class RolloutCrashTests: XCTestCase {
    /// What a run is compared on: the export's files, with the creation times (the only fields that may differ)
    /// taken out of the JSON lines.
    private func exported(_ db: URL, into dir: URL) throws -> [String: Data] {
        let out = dir.appendingPathComponent("export-\(db.lastPathComponent)")
        try? FileManager.default.removeItem(at: out)
        let r = try runWorldGPT(["memory", "export", "--db", db.path, "--out", out.path])
        XCTAssertEqual(r.status, 0, r.stderr)
        var files: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: out.path) {
            var data = try Data(contentsOf: out.appendingPathComponent(name))
            if name.hasSuffix(".jsonl") {
                let lines = try String(decoding: data, as: UTF8.self).split(separator: "\n").map { line -> String in
                    var object = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
                    object["createdAt"] = nil
                    return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
                }
                data = Data(lines.joined(separator: "\n").utf8)
            }
            files[name] = data
        }
        return files
    }

    private func storedSteps(_ db: URL) throws -> Int {
        guard FileManager.default.fileExists(atPath: db.path) else { return 0 }
        let r = try runWorldGPT(["memory", "stats", "--db", db.path, "--json"])
        XCTAssertEqual(r.status, 0, r.stderr)
        let stats = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        return try XCTUnwrap(stats["steps"] as? Int, r.stdout)
    }

    func testKilledRolloutResumesToTheUninterruptedStoreBitForBit() throws {
        continueAfterFailure = false  // one differing resume says it all; the rest would only repeat it
        let dir = try TemporaryDirectory(prefix: "rollout-crash")
        defer { dir.remove() }
        let world = dir.url.appendingPathComponent("world")
        let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]
        var r = try runWorldGPT(["simworld", "generate", "--out", world.path, "--scenarios", "2", "--episodes", "160", "--seed", "5", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        try """
            data: \(world.path)/train.yaml
            validation: \(world.path)/test.yaml
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}
            optimizer: {lr: 1.0e-3, warmup_steps: 2}
            training:
              batch_size: 8
              stages: [{kind: single-unimodal, steps: 10}]
              memory_probability: 0.5
              memory_steps: [1, 3]
            """.write(to: dir.url.appendingPathComponent("train.yaml"), atomically: true, encoding: .utf8)
        r = try runWorldGPT(["train", "--config", dir.url.appendingPathComponent("train.yaml").path, "--out", dir.url.appendingPathComponent("run").path] + encoder)
        XCTAssertEqual(r.status, 0, r.stderr)
        try #"{"steps": 5, "batch_size": 4, "hidden_width": 64, "layers": 1, "candidates": 8, "train_samples": 64, "eval_samples": 16, "filter": {"threshold": 0, "budget": 4, "mmr_lambda": 0.7}}"#
            .write(to: dir.url.appendingPathComponent("reflector.json"), atomically: true, encoding: .utf8)
        let tuned = dir.url.appendingPathComponent("reflector")
        r = try runWorldGPT(["train-reflector", "--model", dir.url.appendingPathComponent("run/final").path, "--kb", world.path,
                             "--config", dir.url.appendingPathComponent("reflector.json").path, "--out", tuned.path] + encoder)
        XCTAssertEqual(r.status, 0, r.stderr)

        // 16 candidates for 4 places, so that every step records dropped items too.
        func arguments(_ name: String) -> [String] {
            ["rollout", "--model", tuned.appendingPathComponent("model").path, "--reflector", tuned.path, "--kb", world.path,
             "--data", world.path, "--episodes", "32", "--no-observe", "--retrieval-k", "16", "--budget", "4",
             "--db", dir.url.appendingPathComponent("\(name).sqlite").path,
             "--trace", dir.url.appendingPathComponent("\(name).jsonl").path] + encoder
        }
        r = try runWorldGPT(arguments("full"))
        XCTAssertEqual(r.status, 0, r.stderr)
        let fullTrace = try String(contentsOf: dir.url.appendingPathComponent("full.jsonl"), encoding: .utf8)
        let total = fullTrace.split(separator: "\n").count
        XCTAssertGreaterThanOrEqual(total, 7 * 16, "the sequences split holds enough episodes for a long run")
        XCTAssertEqual(try storedSteps(dir.url.appendingPathComponent("full.sqlite")), total)
        let expected = try exported(dir.url.appendingPathComponent("full.sqlite"), into: dir.url)
        XCTAssertNotNil(expected["predicted_image.npy"])
        let annotations = String(decoding: expected["steps.jsonl"] ?? Data(), as: UTF8.self)
        for kind in ["\"recalled\"", "\"retrieved\"", "\"reflector.kept\"", "\"reflector.dropped\""] {
            XCTAssertTrue(annotations.contains(kind), "the uninterrupted run records \(kind) annotations")
        }

        var rng = SeededGenerator(seed: 2027)
        var partialKills = 0, attempts = 0
        var maxDelay = 400.0  // ms after the first step's progress line; halved when a kill lands after the end
        while partialKills < 20 && attempts < 80 {
            attempts += 1
            let name = "killed-\(attempts)"
            let db = dir.url.appendingPathComponent("\(name).sqlite")
            // Killed one to three times before the run may finish: a resumed run is killed again too.
            for _ in 0..<(1 + Int(rng.next() % 3)) {
                let before = try storedSteps(db)
                let child = Process()
                child.executableURL = worldgptBinary()
                child.arguments = arguments(name)
                let err = Pipe()
                child.standardError = err
                child.standardOutput = FileHandle.nullDevice
                let progress = OutputCollector(err.fileHandleForReading)
                try child.run()
                let deadline = Date().addingTimeInterval(60)
                while !progress.text.contains("rollout: "), child.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
                Thread.sleep(forTimeInterval: Double(rng.next() % UInt64(maxDelay)) / 1000)
                kill(child.processIdentifier, SIGKILL)
                child.waitUntilExit()
                _ = progress.finish()
                let after = try storedSteps(db)
                if child.terminationReason == .uncaughtSignal && after > before && after < total {
                    partialKills += 1  // the kill landed mid-run, with part of the run (and more than before) stored
                } else if after == total {
                    maxDelay = max(20, maxDelay / 2)
                    break
                }
            }
            r = try runWorldGPT(arguments(name))
            XCTAssertEqual(r.status, 0, "attempt \(attempts): the resumed run failed: \(r.stderr)")
            XCTAssertEqual(try String(contentsOf: dir.url.appendingPathComponent("\(name).jsonl"), encoding: .utf8), fullTrace,
                           "attempt \(attempts): the resumed trace differs")
            let got = try exported(db, into: dir.url)
            XCTAssertEqual(Set(got.keys), Set(expected.keys), "attempt \(attempts)")
            for (file, data) in expected where got[file] != data {
                XCTFail("attempt \(attempts): \(file) differs from the uninterrupted run's")
            }
            let verify = try runWorldGPT(["memory", "verify", "--db", db.path])
            XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db.path + suffix) }
            try? FileManager.default.removeItem(at: dir.url.appendingPathComponent("\(name).jsonl"))
        }
        print("rollout crash: \(partialKills) SIGKILLs left a partly written store, in \(attempts) runs")
        XCTAssertGreaterThanOrEqual(partialKills, 20, "fewer than 20 kills landed mid-run in \(attempts) attempts")
    }
}
