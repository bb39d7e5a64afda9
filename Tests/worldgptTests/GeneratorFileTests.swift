// Training and the runtime read only what a WorldNet user has: the same commands on a copy of a generated world whose
// world.json (the generator's oracles, action ids, hidden parameters) is replaced by an unreadable folder give
// byte-identical models, selections and ablation tables. Only the report (`scripts/worlds_report.py`) reads world.json.
import Foundation
import TestSupport
import XCTest

final class GeneratorFileTests: XCTestCase {
    /// Runs the pipeline of `make worlds` (linear-base training with held-out selection, reflector tuning, ablation
    /// with the ridge rows) on `world`, writing into `out`.
    private func pipeline(world: URL, out: URL) throws {
        let encoder = TinyAgentWorld.encoder
        let train = out.appendingPathComponent("train.yaml")
        try """
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1, linear_base: true}
            optimizer: {lr: 3.0e-3, warmup_steps: 2}
            training:
              batch_size: 16
              stages: [{kind: single-unimodal, steps: 10}, {kind: single-cross, steps: 10}]
              checkpoint_every: 10
              held_out_every: 5
            """.write(to: train, atomically: true, encoding: .utf8)
        try worldgptOutput(["train", "--config", train.path, "--data", world.path, "--out", out.appendingPathComponent("run").path] + encoder)
        let tuning = out.appendingPathComponent("tuning.json")
        try TinyAgentWorld.tuningConfig(steps: 5).write(to: tuning, atomically: true, encoding: .utf8)
        try worldgptOutput(["train-reflector", "--model", out.appendingPathComponent("run/final").path, "--kb", world.path, "--config", tuning.path,
                            "--out", out.appendingPathComponent("tuned").path] + encoder)
        try worldgptOutput(["eval", "--ablation", "--model", out.appendingPathComponent("tuned/model").path,
                            "--reflector", out.appendingPathComponent("tuned/reflector.pt").path, "--data", world.path, "--kb", world.path,
                            "--episodes", "4", "--steps", "3", "--report-dir", out.appendingPathComponent("ablation").path] + encoder)
    }

    func testTrainingAndTheRuntimeNeverReadWorldJSON() throws {
        let dir = try TemporaryDirectory(prefix: "no-world-json")
        defer { dir.remove() }
        let world = dir.url.appendingPathComponent("world"), blind = dir.url.appendingPathComponent("blind")
        let config = dir.url.appendingPathComponent("world.yaml")
        try "scenarios: 2\nepisodes: 12\nsteps: 7\nseed: 5\ndimension: 32\nhidden: 16\nmodalities: [image, audio]\noracle_samples: 2\n"
            .write(to: config, atomically: true, encoding: .utf8)
        try worldgptOutput(["simworld", "generate", "--config", config.path, "--out", world.path, "--quiet"])
        try FileManager.default.copyItem(at: world, to: blind)
        let json = blind.appendingPathComponent("world.json")
        try FileManager.default.removeItem(at: json)
        // A folder where the file was: any attempt to read it as a file fails.
        try FileManager.default.createDirectory(at: json, withIntermediateDirectories: false)

        let seen = dir.url.appendingPathComponent("seen"), unseen = dir.url.appendingPathComponent("unseen")
        for out in [seen, unseen] { try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true) }
        try pipeline(world: world, out: seen)
        try pipeline(world: blind, out: unseen)
        for file in ["run/final/model.safetensors", "run/final/linear/ridge+memory/ridge.safetensors", "run/selection.json",
                     "tuned/model/linear/ridge+all/ridge.safetensors", "tuned/reflector.pt", "ablation/ablation.csv"] {
            let a = try Data(contentsOf: seen.appendingPathComponent(file)), b = try Data(contentsOf: unseen.appendingPathComponent(file))
            XCTAssertFalse(a.isEmpty, file)
            XCTAssertEqual(a, b, "\(file) differs when world.json cannot be read")
        }
        // The ablation carries the ridge rows, taken from the model's linear base.
        let table = try String(contentsOf: unseen.appendingPathComponent("ablation/ablation.csv"), encoding: .utf8)
        for row in ["ridge,", "ridge+memory,", "ridge+knowledge,", "ridge+all,", "+all,"] { XCTAssertTrue(table.contains("\n" + row) || table.contains(row), row) }
    }
}
