// `--shard I/N` and the merges (issue 18): for n = 1, 2, 3 the merged rollout store and trace, sample folder and
// ablation table are the unsharded run's, byte for byte (stores through `memory export`, creation times aside);
// a killed shard resumed and merged beside its partial copy loses and duplicates nothing; merges refuse inputs of
// different runs with a message naming the problem.
import Foundation
import TestSupport
import XCTest

/// A tiny world (2 scenarios × 120 episodes: 24 sequence episodes of 7 steps), a model trained 20 steps and a
/// reflector tuned 5 steps, made once for the class.
final class ShardWorld {
    static let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]
    let directory: TemporaryDirectory
    var world: URL { directory.url.appendingPathComponent("world") }
    var tuned: URL { directory.url.appendingPathComponent("tuned") }
    func url(_ name: String) -> URL { directory.url.appendingPathComponent(name) }

    init() throws {
        directory = try TemporaryDirectory(prefix: "shards")
        let dir = directory.url
        try "scenarios: 2\nepisodes: 120\nsteps: 7\nseed: 5\ndimension: 64\nhidden: 32\nmodalities: [image, audio]\noracle_samples: 2\n"
            .write(to: dir.appendingPathComponent("world.yaml"), atomically: true, encoding: .utf8)
        try worldgptOutput(["simworld", "generate", "--config", dir.appendingPathComponent("world.yaml").path, "--out", world.path, "--quiet"])
        try """
            data: world/train.yaml
            validation: world/test.yaml
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}
            optimizer: {lr: 3.0e-3, warmup_steps: 2}
            training:
              batch_size: 16
              stages: [{kind: single-unimodal, steps: 20}]
              memory_probability: 0.5
              memory_steps: [2, 3]
            """.write(to: dir.appendingPathComponent("train.yaml"), atomically: true, encoding: .utf8)
        try worldgptOutput(["train", "--config", dir.appendingPathComponent("train.yaml").path, "--out", dir.appendingPathComponent("run").path] + Self.encoder)
        try #"{"steps": 5, "batch_size": 4, "hidden_width": 64, "layers": 1, "candidates": 8, "train_samples": 64, "eval_samples": 16, "filter": {"threshold": 0, "budget": 4, "mmr_lambda": 0.7}}"#
            .write(to: dir.appendingPathComponent("reflector.json"), atomically: true, encoding: .utf8)
        try worldgptOutput(["train-reflector", "--model", dir.appendingPathComponent("run/final").path, "--kb", world.path,
                            "--config", dir.appendingPathComponent("reflector.json").path, "--out", tuned.path] + Self.encoder)
    }

    /// `rollout` with everything on, open loop, in lock-step groups of 8 (three groups: 24 episodes), into `name`.sqlite.
    func rollout(_ name: String, shard: String? = nil) -> [String] {
        ["rollout", "--model", tuned.appendingPathComponent("model").path, "--reflector", tuned.path, "--kb", world.path, "--data", world.path,
         "--episodes", "999", "--no-observe", "--group-size", "8", "--db", url("\(name).sqlite").path, "--trace", url("\(name).jsonl").path]
            + (shard.map { ["--shard", $0] } ?? []) + Self.encoder
    }

    /// A store's `memory export` files, with the creation times (wall clock, the only fields allowed to differ) removed.
    func exported(_ db: URL) throws -> [String: Data] {
        let out = url("export-\(db.lastPathComponent)-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: out) }
        try worldgptOutput(["memory", "export", "--db", db.path, "--out", out.path])
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

    /// Every file under `folder` by relative path.
    func files(under folder: URL) throws -> [String: Data] {
        var out: [String: Data] = [:]
        let base = folder.standardizedFileURL.path
        guard let walker = FileManager.default.enumerator(at: folder, includingPropertiesForKeys: [.isRegularFileKey]) else { return out }
        for case let file as URL in walker where (try file.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
            out[String(file.standardizedFileURL.path.dropFirst(base.count))] = try Data(contentsOf: file)
        }
        return out
    }
}

final class ShardCLITests: XCTestCase {
    nonisolated(unsafe) static var shared: ShardWorld?
    private var w: ShardWorld {
        get throws {
            if let w = Self.shared { return w }
            let w = try ShardWorld()
            Self.shared = w
            return w
        }
    }

    override class func tearDown() {
        shared?.directory.remove()
        shared = nil
        super.tearDown()
    }

    func testShardedRolloutsMergeIntoTheUnshardedStoreAndTrace() throws {
        let w = try w
        try worldgptOutput(w.rollout("whole"))
        let trace = try String(contentsOf: w.url("whole.jsonl"), encoding: .utf8)
        XCTAssertEqual(trace.split(separator: "\n").count, 24 * 7, "24 episodes of 7 steps")
        let expected = try w.exported(w.url("whole.sqlite"))
        XCTAssertTrue(String(decoding: expected["steps.jsonl"] ?? Data(), as: UTF8.self).contains("\"reflector.kept\""), "the run keeps context")
        for n in 1...3 {
            var stores: [String] = []
            var shardLines = 0
            for i in 1...n {
                let out = try worldgptOutput(w.rollout("r\(n)-\(i)", shard: "\(i)/\(n)"))
                XCTAssertTrue(out.hasPrefix("shard \(i)/\(n): "), out)
                stores.append(w.url("r\(n)-\(i).sqlite").path)
                shardLines += try String(contentsOf: w.url("r\(n)-\(i).jsonl"), encoding: .utf8).split(separator: "\n").count
            }
            XCTAssertEqual(shardLines, 24 * 7, "n = \(n): the shards' traces together hold every step once")
            let merged = w.url("merged-\(n).sqlite"), mergedTrace = w.url("merged-\(n).jsonl")
            let report = try worldgptOutput(["memory", "merge", merged.path] + stores + ["--trace", mergedTrace.path])
            XCTAssertTrue(report.contains("merged 168 steps of 24 episodes"), report)
            XCTAssertEqual(try String(contentsOf: mergedTrace, encoding: .utf8), trace, "n = \(n): merged trace")
            let got = try w.exported(merged)
            XCTAssertEqual(Set(got.keys), Set(expected.keys), "n = \(n)")
            for (file, data) in expected where got[file] != data { XCTFail("n = \(n): \(file) differs from the unsharded run's") }
            let verify = try runWorldGPT(["memory", "verify", "--db", merged.path])
            XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
            XCTAssertTrue(verify.stdout.contains("ok: 168 steps checked"), verify.stdout)
        }
    }

    func testAKilledShardResumesAndMergesBesideItsPartialCopyWithoutLossOrDuplicates() throws {
        let w = try w
        if !FileManager.default.fileExists(atPath: w.url("whole.sqlite").path) { try worldgptOutput(w.rollout("whole")) }
        let expected = try w.exported(w.url("whole.sqlite"))
        // Shard 2/2 killed mid-run until part of it is stored; a copy of that partial store is kept (a retried task's
        // earlier attempt), the same command resumes it, and the merge gets both shard stores and the partial copy.
        let db = w.url("k-2.sqlite")
        var partial = 0
        for delay in [0.15, 0.3, 0.05, 0.6, 0.02] where partial == 0 {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db.path + suffix) }
            let child = Process()
            child.executableURL = worldgptBinary()
            child.arguments = w.rollout("k-2", shard: "2/2")
            let err = Pipe()
            child.standardError = err
            child.standardOutput = FileHandle.nullDevice
            let progress = OutputCollector(err.fileHandleForReading)
            try child.run()
            let deadline = Date().addingTimeInterval(60)
            while !progress.text.contains("rollout: "), child.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.002) }
            Thread.sleep(forTimeInterval: delay)
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            _ = progress.finish()
            let stats = try JSONSerialization.jsonObject(with: Data(try worldgptOutput(["memory", "stats", "--db", db.path, "--json"]).utf8)) as? [String: Any]
            let steps = stats?["steps"] as? Int ?? 0
            if child.terminationReason == .uncaughtSignal, steps > 0, steps < 16 * 7 { partial = steps }
        }
        XCTAssertGreaterThan(partial, 0, "a kill landed mid-shard")
        let copy = w.url("k-2-attempt1.sqlite")
        try worldgptOutput(["memory", "merge", copy.path, db.path])  // a consistent copy of the partial store
        try worldgptOutput(w.rollout("k-2", shard: "2/2"))
        try worldgptOutput(w.rollout("k-1", shard: "1/2"))
        let merged = w.url("k-merged.sqlite")
        let out = try worldgptOutput(["memory", "merge", merged.path, w.url("k-1.sqlite").path, copy.path, db.path])
        XCTAssertTrue(out.contains("(\(partial) already in an earlier input, kept once)"), out)
        XCTAssertTrue(out.contains("merged 168 steps of 24 episodes"), out)
        let got = try w.exported(merged)
        for (file, data) in expected where got[file] != data { XCTFail("\(file) differs from the unsharded run's") }
    }

    func testMergeRefusesStoresOfDifferentRuns() throws {
        let w = try w
        if !FileManager.default.fileExists(atPath: w.url("whole.sqlite").path) { try worldgptOutput(w.rollout("whole")) }
        // A closed-loop run of shard 1/3 holds the same ids as the open-loop store with other predictions.
        var other = w.rollout("closed-1", shard: "1/3")
        other.removeAll { $0 == "--no-observe" }
        try worldgptOutput(other)
        try assertWorldGPTFails(["memory", "merge", w.url("never.sqlite").path, w.url("whole.sqlite").path, w.url("closed-1.sqlite").path],
                                mentioning: ["cannot merge", "differs from the step with that id in an earlier input"])
        XCTAssertFalse(FileManager.default.fileExists(atPath: w.url("never.sqlite").path), "a failed merge leaves no output")
        try assertWorldGPTFails(["memory", "merge", w.url("whole.sqlite").path, w.url("closed-1.sqlite").path], mentioning: ["exists"])
        // Shard 1/3 into the store of shard 2/3: its step ids are taken, refused before anything is written.
        try worldgptOutput(w.rollout("collide", shard: "2/3"))
        try assertWorldGPTFails(w.rollout("collide", shard: "1/3"), mentioning: ["not past the stored steps", "a shard's store must hold only that shard's"])
        XCTAssertTrue(try worldgptOutput(["memory", "stats", "--db", w.url("collide.sqlite").path]).contains("steps        56"))
        try assertWorldGPTFails(w.rollout("x", shard: "4/3"), mentioning: ["--shard", "1 ≤ I ≤ N"])
        try assertWorldGPTFails(w.rollout("x", shard: "two/3"), mentioning: ["--shard", "not I/N"])
    }

    func testShardedSamplesMergeIntoTheUnshardedFolder() throws {
        let w = try w
        // 150 samples: the whole build and the halves run on two threads (≥ 64 samples), the thirds on one.
        let build = ["samples", "build", "--data", w.world.path, "--kb", w.world.path, "--limit", "150"] + ShardWorld.encoder
        try worldgptOutput(build + ["--out", w.url("samples-whole").path])
        let expected = try w.files(under: w.url("samples-whole"))
        XCTAssertEqual(expected.keys.filter { $0.hasSuffix(".safetensors") }.count, 150)
        for n in 1...3 {
            let parts = try (1...n).map { i -> String in
                let out = w.url("samples-\(n)-\(i)")
                try worldgptOutput(build + ["--out", out.path, "--shard", "\(i)/\(n)"])
                return out.path
            }
            // The first shard twice: a retried shard's folder beside the first attempt's.
            let merged = w.url("samples-merged-\(n)")
            let out = try worldgptOutput(["samples", "merge", merged.path] + parts + [parts[0]])
            XCTAssertTrue(out.contains("merged 150 samples"), out)
            let got = try w.files(under: merged)
            XCTAssertEqual(Set(got.keys), Set(expected.keys), "n = \(n)")
            for (file, data) in expected where got[file] != data { XCTFail("n = \(n): \(file) differs from the unsharded build's") }
        }
        try assertWorldGPTFails(["samples", "merge", w.url("samples-merged-1").path, w.url("samples-1-1").path], mentioning: ["not empty"])
    }

    func testShardedEvaluationMergesIntoTheUnshardedTable() throws {
        let w = try w
        let eval = ["eval", "--model", w.tuned.appendingPathComponent("model").path, "--data", w.world.path, "--split", "train", "--memory", "2"]
            + ShardWorld.encoder
        let whole = try worldgptOutput(eval + ["--out", w.url("eval-whole.csv").path])
        let csv = try Data(contentsOf: w.url("eval-whole.csv"))
        XCTAssertTrue(whole.contains("mean over modes"), whole)
        for n in 1...3 {
            let dir = w.url("eval-\(n)")
            var predictions = 0, total = 0
            for i in 1...n {
                let out = try worldgptOutput(eval + ["--shard", "\(i)/\(n)", "--report-dir", dir.path])
                XCTAssertTrue(out.hasPrefix("eval shard \(i)/\(n): predictions "), out)
                let scores = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("eval-scores-\(i)-of-\(n).json"))) as? [String: Any])
                let range = try XCTUnwrap(scores["jobRange"] as? [Int])
                predictions += range[1] - range[0]
                total = try XCTUnwrap(scores["jobs"] as? Int)
                if n > 1 { XCTAssertLessThan(range[1] - range[0], try XCTUnwrap(scores["jobs"] as? Int), "a shard does part of the work") }
            }
            XCTAssertEqual(predictions, total, "n = \(n): the shards together make every prediction once")
            let files = (1...n).map { dir.appendingPathComponent("eval-scores-\($0)-of-\(n).json").path }
            let merged = try worldgptOutput(["eval", "--merge"] + files + ["--out", dir.appendingPathComponent("eval.csv").path])
            XCTAssertEqual(merged.split(separator: "\n").dropLast(), whole.split(separator: "\n").dropLast(), "n = \(n): the printed table")
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("eval.csv")), csv, "n = \(n): the CSV")
        }
        try assertWorldGPTFails(["eval", "--merge", w.url("eval-3/eval-scores-2-of-3.json").path], mentioning: ["is in no shard"])
    }

    func testShardedAblationMergesIntoTheUnshardedTable() throws {
        let w = try w
        let ablation = ["eval", "--ablation", "--model", w.tuned.appendingPathComponent("model").path, "--reflector", w.tuned.path,
                        "--data", w.world.path, "--steps", "3", "--group-size", "8", "--no-ridge"] + ShardWorld.encoder
        let whole = try worldgptOutput(ablation + ["--report-dir", w.url("ablation-whole").path])
        XCTAssertTrue(whole.contains("+all"), whole)
        let csv = try Data(contentsOf: w.url("ablation-whole/ablation.csv")), svg = try Data(contentsOf: w.url("ablation-whole/ablation.svg"))
        for n in 1...3 {
            let dir = w.url("ablation-\(n)")
            for i in 1...n { try worldgptOutput(ablation + ["--shard", "\(i)/\(n)", "--report-dir", dir.path]) }
            let files = (1...n).map { dir.appendingPathComponent("ablation-scores-\($0)-of-\(n).json").path }
            let merged = try worldgptOutput(["eval", "--merge"] + files + ["--report-dir", dir.path])
            XCTAssertEqual(merged.split(separator: "\n").dropFirst().first, whole.split(separator: "\n").dropFirst().first)
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("ablation.csv")), csv, "n = \(n): ablation.csv")
            XCTAssertEqual(try Data(contentsOf: dir.appendingPathComponent("ablation.svg")), svg, "n = \(n): ablation.svg")
        }
        try assertWorldGPTFails(["eval", "--merge", w.url("ablation-3/ablation-scores-1-of-3.json").path, "--report-dir", w.url("x").path],
                                mentioning: ["in no shard", "merge every shard"])
    }
}
