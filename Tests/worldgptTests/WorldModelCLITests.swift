// End-to-end tests of `worldgpt train` and `worldgpt eval` on a WorldNet dataset made of the original demo's .pt files.
import Foundation
import TestSupport
import XCTest

final class WorldModelCLITests: XCTestCase {
    /// `<root>/{video,audio}/Train_pt/<sample>_state{0,1}.pt`, `action_demo.json` and `demo.yaml` with `modes`.
    private func makeDataset(_ root: URL, modes: String) throws {
        let fm = FileManager.default
        var entries: [String] = []
        for sample in ["skiing", "aircraft"] {
            for modality in ["video", "audio"] {
                let folder = root.appendingPathComponent("\(modality)/Train_pt")
                try fm.createDirectory(at: folder, withIntermediateDirectories: true)
                for state in ["state0", "state1"] {
                    let target = folder.appendingPathComponent("\(sample)_\(state).pt")
                    if !fm.fileExists(atPath: target.path) {
                        try fm.copyItem(at: Fixtures.url("worldgpt-demo/languagebind/\(sample)/\(modality)/\(state).pt"), to: target)
                    }
                }
            }
            entries.append("""
                {"state0": {"video": "\(sample)_state0.mp4", "audio": "\(sample)_state0.wav", "image": "", "text": ""}, \
                "state1": {"video": "\(sample)_state1.mp4", "audio": "\(sample)_state1.wav", "image": "", "text": ""}, \
                "action": {"text": "the \(sample) scene moves on"}}
                """)
        }
        try Data(("[" + entries.joined(separator: ",\n") + "]").utf8).write(to: root.appendingPathComponent("action_demo.json"))
        try """
            dataset_list:
              - {root: ., annotaion_path: action_demo.json, modality: [video, audio], weight: 1}
            modality_modes:
            \(modes)
            """.write(to: root.appendingPathComponent("demo.yaml"), atomically: true, encoding: .utf8)
        try """
            data: demo.yaml
            validation: demo.yaml
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}
            optimizer: {lr: 1.0e-3, warmup_steps: 2}
            training:
              batch_size: 2
              stages: [{kind: single-unimodal, steps: 4}, {kind: single-cross, steps: 3}]
            """.write(to: root.appendingPathComponent("train.yaml"), atomically: true, encoding: .utf8)
    }

    func testTrainThenEvaluateOnDemoEmbeddings() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeDataset(dir.url, modes: "  - {inputs: [video], targets: [video]}\n  - {inputs: [audio], targets: [audio]}\n  - {inputs: [video], targets: [audio]}")
        let out = dir.url.appendingPathComponent("run")
        let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]
        let train = try runWorldGPT(["train", "--config", dir.url.appendingPathComponent("train.yaml").path, "--out", out.path] + encoder)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("trained 7 steps"), train.stdout)
        XCTAssertTrue(train.stdout.contains("(video) - (audio)"), train.stdout)
        XCTAssertTrue(train.stderr.contains("step 7/7"), train.stderr)
        for file in ["final/model.safetensors", "final/config.json", "metrics.csv", "validation_sim.csv"] {
            XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(file).path), file)
        }

        // Identity on the demo pairs: video (0.853285 + 0.806940) / 2 × 100 = 83.01 (fixture README).
        let csv = dir.url.appendingPathComponent("identity.csv")
        let identity = try runWorldGPT(["eval", "--model", "identity", "--data", dir.url.appendingPathComponent("demo.yaml").path, "--out", csv.path] + encoder)
        XCTAssertEqual(identity.status, 0, identity.stderr)
        XCTAssertTrue(identity.stdout.contains("83.01"), identity.stdout)
        let rows = try String(contentsOf: csv, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first, ",video,audio")
        XCTAssertTrue(rows[1].hasPrefix("\"(video) - (video)\",83.01"), String(rows[1]))

        let native = try runWorldGPT(["eval", "--model", out.appendingPathComponent("final").path, "--data", dir.url.appendingPathComponent("demo.yaml").path])
        XCTAssertEqual(native.status, 0, native.stderr)
        XCTAssertTrue(native.stdout.contains("mean over modes"), native.stdout)
    }

    func testTrainRefusesAModeWithAMissingModalityBeforeTraining() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeDataset(dir.url, modes: "  - {inputs: [image], targets: [video]}")
        let result = try runWorldGPT(["train", "--config", dir.url.appendingPathComponent("train.yaml").path, "--out", dir.url.appendingPathComponent("run").path, "--text-encoder", "hashed"])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("modality_modes[0].inputs"), result.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("run/metrics.csv").path))
    }

    func testTrainWithKnowledgeNeedsAKnowledgeBaseAndSavesTheReflector() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try makeDataset(dir.url, modes: "  - {inputs: [video], targets: [video]}\n  - {inputs: [video], targets: [audio]}")
        let config = dir.url.appendingPathComponent("train.yaml")
        try (String(contentsOf: config, encoding: .utf8) + "\n  context_probability: 1.0\n").write(to: config, atomically: true, encoding: .utf8)
        let out = dir.url.appendingPathComponent("run")
        let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]
        let missing = try runWorldGPT(["train", "--config", config.path, "--out", out.path] + encoder)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("context_probability") && missing.stderr.contains("--kb"), missing.stderr)
        // The dataset is its own knowledge base here: the leakage guard leaves each sample the other one.
        let kb = dir.url.appendingPathComponent("demo.yaml").path
        let train = try runWorldGPT(["train", "--config", config.path, "--out", out.path, "--kb", kb] + encoder)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent("final/reflector.pt").path))
        let rows = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(rows.first?.split(separator: ",")[4], "context")
        XCTAssertEqual(rows.dropFirst().map { $0.split(separator: ",")[4] }, Array(repeating: "1", count: 7))
        // The reflector trained with the model loads as the starting point of `train-reflector` (and in `reflector run`).
        let inspect = try runWorldGPT(["inspect", out.appendingPathComponent("final/reflector.pt").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("query_tokens"), inspect.stdout)
    }
}
