// Real WorldGPT data: a WorldNet dataset made of the original demo's LanguageBind .pt embeddings trains a few
// steps and evaluates; config errors (missing modality, dimension mismatch, empty dataset) stop before training.
import Foundation
import Formats
import TestSupport
import XCTest

@testable import WorldModel

final class DemoDataTests: XCTestCase {
    /// A deterministic stand-in text encoder (8-d, from the characters), so the test needs no MiniLM weights.
    static var encoder: ActionEncoder { ActionEncoder(name: "test-chars-8", dim: 8) { texts in
        texts.map { text in
            var v = [Float](repeating: 0, count: 8)
            for (i, u) in text.unicodeScalars.enumerated() { v[(i + Int(u.value)) % 8] += 1 }
            return v
        }
    } }

    /// Writes `<root>/{video,audio}/Train_pt/<sample>_state{0,1}.pt` (copies of the fixtures), an annotation file
    /// and a dataset YAML; returns the YAML's URL.
    private func makeDemoDataset(in root: URL, modes: String, annotations: [WorldNetSample]? = nil) throws -> URL {
        let fm = FileManager.default
        for sample in ["skiing", "aircraft"] {
            for modality in ["video", "audio"] {
                let folder = root.appendingPathComponent("\(modality)/Train_pt")
                try fm.createDirectory(at: folder, withIntermediateDirectories: true)
                for state in ["state0", "state1"] {
                    let source = Fixtures.url("worldgpt-demo/languagebind/\(sample)/\(modality)/\(state).pt")
                    let target = folder.appendingPathComponent("\(sample)_\(state).pt")
                    if !fm.fileExists(atPath: target.path) { try fm.copyItem(at: source, to: target) }
                }
            }
        }
        let samples = annotations ?? [
            WorldNetSample(
                index: 0, state0: [.video: "skiing_state0.mp4", .audio: "skiing_state0.wav"],
                state1: [.video: "skiing_state1.mp4", .audio: "skiing_state1.wav"], actionText: "the skier jumps off the ridge"),
            WorldNetSample(
                index: 1, state0: [.video: "aircraft_state0.mp4", .audio: "aircraft_state0.wav"],
                state1: [.video: "aircraft_state1.mp4", .audio: "aircraft_state1.wav"], actionText: "the plane takes off"),
        ]
        try WorldNetAnnotations.write(samples, to: root.appendingPathComponent("action_demo.json"))
        let yaml = """
            dataset_list:
              - root: .
                annotaion_path: action_demo.json
                modality: [video, audio]
                weight: 1.0
            modality_modes:
            \(modes)
            """
        let url = root.appendingPathComponent("demo.yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    private let allModes = """
          - {inputs: [video], targets: [video], weight: 1}
          - {inputs: [audio], targets: [audio], weight: 1}
          - {inputs: [video], targets: [audio], weight: 1}
          - {inputs: [video, audio], targets: [video, audio], weight: 1}
        """

    private func trainYAML(_ folder: URL, extra: String = "") throws -> URL {
        let url = folder.appendingPathComponent("train.yaml")
        try """
            data: demo.yaml
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, max_memory_steps: 5, reflector_width: 8, seed: 3\(extra)}
            optimizer: {lr: 1.0e-3, warmup_steps: 2}
            training:
              batch_size: 2
              stages: [{kind: single-unimodal, steps: 3}, {kind: single-cross, steps: 2}, {kind: multi-unimodal, steps: 2}]
              checkpoint_every: 4
            """.write(to: url, atomically: true, encoding: .utf8)
        return url
    }

    func testDemoEmbeddingsTrainAFewStepsAndEvaluate() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        _ = try makeDemoDataset(in: folder.url, modes: allModes)
        let file = try TrainingFile.load(try trainYAML(folder.url))
        let dataset = try TrainingSetup.dataset(for: file, dataOverride: nil)
        let cache = ActionEmbeddingCache(encoder: Self.encoder, file: folder.url.appendingPathComponent("actions.safetensors"))
        let transitions = try TrainingSetup.transitions(dataset, cache: cache)
        XCTAssertEqual(transitions.count, 2)
        XCTAssertEqual(transitions[0].state0[.video]?.dim, 768)
        // The first values of skiing/video/state0.pt, from the fixture README.
        XCTAssertEqual(transitions[0].state0[.video]!.values[0], -0.01439492, accuracy: 1e-7)
        let trainer = try TrainingSetup.trainer(file: file, dataset: dataset, transitions: transitions, encoder: Self.encoder)
        XCTAssertEqual(trainer.config.model.embeddingDimension, 768)
        XCTAssertEqual(trainer.config.model.actionDimension, 8)
        let summary = try trainer.run(output: folder.url.appendingPathComponent("run"))
        XCTAssertEqual(summary.steps, 7)
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.url.appendingPathComponent("run/checkpoint-0000004/model.safetensors").path))
        XCTAssertTrue(FileManager.default.fileExists(atPath: folder.url.appendingPathComponent("actions.safetensors").path))
        let model = try NativeWorldModel.load(from: try XCTUnwrap(summary.finalCheckpoint))
        XCTAssertEqual(model.config.actionEncoder, "test-chars-8")
        let evaluator = Evaluator(modes: dataset.modalityModes.map(TaskMode.init))
        let report = try evaluator.evaluate(model, on: transitions)
        XCTAssertEqual(report.modes.map(\.name), ["(video) - (video)", "(audio) - (audio)", "(video) - (audio)", "(video, audio) - (video, audio)"])
        XCTAssertTrue(report.scores.allSatisfy { $0.compactMap { $0 }.allSatisfy(\.isFinite) })
        // Identity on the demo pairs equals the README's cos(state0, state1): video (0.853285 + 0.806940) / 2, audio (0.754890 + 0.829254) / 2.
        let identity = try evaluator.evaluate(IdentityModel(), on: transitions)
        XCTAssertEqual(identity.score(mode: TaskMode(inputs: [.video], targets: [.video]), modality: .video)!, (85.3285279 + 80.6940012) / 2, accuracy: 1e-3)
        XCTAssertEqual(identity.score(mode: TaskMode(inputs: [.audio], targets: [.audio]), modality: .audio)!, (75.4890251 + 82.9254093) / 2, accuracy: 1e-3)
        // The action cache now answers without the encoder.
        let cached = ActionEmbeddingCache(
            encoder: ActionEncoder(name: "test-chars-8", dim: 8) { _ in XCTFail("cache miss"); return [] }, file: cache.file)
        XCTAssertEqual(cached.count, 2)
        XCTAssertEqual(try cached.embeddings(["the plane takes off"]), try Self.encoder.embed(["the plane takes off"]))
    }

    func testConfigErrorsNameTheFieldBeforeTraining() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        // A mode naming a modality the subsets do not have.
        _ = try makeDemoDataset(in: folder.url, modes: "  - {inputs: [image], targets: [video]}")
        let file = try TrainingFile.load(try trainYAML(folder.url))
        XCTAssertThrowsError(try TrainingSetup.dataset(for: file, dataOverride: nil)) { error in
            XCTAssertTrue("\(error)".hasPrefix("config field `modality_modes[0].inputs`: modality image is not in any dataset_list[].modality"), "\(error)")
        }
        // A dimension mismatch between the config and the .pt embeddings.
        _ = try makeDemoDataset(in: folder.url, modes: allModes)
        let wide = try TrainingFile.load(try trainYAML(folder.url, extra: ", embedding_dim: 512"))
        let dataset = try TrainingSetup.dataset(for: wide, dataOverride: nil)
        let transitions = try TrainingSetup.transitions(dataset, cache: ActionEmbeddingCache(encoder: Self.encoder, file: nil))
        XCTAssertThrowsError(try TrainingSetup.trainer(file: wide, dataset: dataset, transitions: transitions, encoder: Self.encoder)) { error in
            XCTAssertTrue("\(error)".hasPrefix("model.embedding_dim"), "\(error)")
        }
        let actionDim = try TrainingFile.load(try trainYAML(folder.url, extra: ", action_dim: 384"))
        XCTAssertThrowsError(try TrainingSetup.trainer(file: actionDim, dataset: dataset, transitions: transitions, encoder: Self.encoder)) { error in
            XCTAssertTrue("\(error)".hasPrefix("model.action_dim"), "\(error)")
        }
        // An empty dataset.
        _ = try makeDemoDataset(in: folder.url, modes: allModes, annotations: [])
        XCTAssertThrowsError(try TrainingSetup.transitions(dataset, cache: ActionEmbeddingCache(encoder: Self.encoder, file: nil))) { error in
            XCTAssertTrue("\(error)".hasPrefix("dataset `dataset_list`"), "\(error)")
        }
        // Unknown and ill-typed keys.
        XCTAssertThrowsError(try TrainingFile.parse("model: {widht: 3}", source: "t.yaml", baseDirectory: folder.url)) { error in
            XCTAssertTrue("\(error)".hasPrefix("config field `model.widht`: unknown key"), "\(error)")
        }
        XCTAssertThrowsError(try TrainingFile.parse("training: {stages: [{kind: everything, steps: 3}]}", source: "t.yaml", baseDirectory: folder.url)) { error in
            XCTAssertTrue("\(error)".hasPrefix("config field `training.stages[0].kind`: unknown kind"), "\(error)")
        }
        XCTAssertThrowsError(try TrainingFile.parse("optimizer: {lr: fast}", source: "t.yaml", baseDirectory: folder.url)) { error in
            XCTAssertTrue("\(error)".hasPrefix("config field `optimizer.lr`: must be a number"), "\(error)")
        }
    }
}
