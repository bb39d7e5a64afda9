// The ridge baselines are fitted on exactly what the runtime hands a model: the training samples' memory and kept
// context equal the runtime's inputs for the same episode, and so do their feature rows. The told-the-action yardstick
// on a world generated in memory.
import Agent
import ContextReflector
import Formats
import SimWorld
import TestSupport
import WorldModel
import XCTest

/// Records every input the runtime gives it and predicts the input state back.
final class RecordingModel: WorldModel {
    var inputs: [PredictionInput] = []
    func predict(_ input: PredictionInput) throws -> State {
        inputs.append(input)
        return input.state
    }
}

final class RidgeBaselinesTests: XCTestCase {
    func testTrainingSamplesGetTheRuntimesMemoryAndKeptContext() throws {
        var rng = SeededGenerator(seed: 21)
        func unit() -> State { State([.video: Embedding((0..<4).map { _ in rng.nextGaussian() }).normalized()]) }
        func action(_ text: String) throws -> Action { Action(text: text, embedding: Embedding(try TableEmbedder().embed([text])[0])) }
        // One 4-step episode in scenario s; a knowledge base of 12 transitions of the same scenario and 3 of another.
        let states = (0...4).map { _ in unit() }
        let episode = try (0..<4).map { i in
            Transition(state0: states[i], action: try action("act \(i)"), state1: states[i + 1],
                       provenance: Provenance(dataset: "t", scenario: "s", episode: "e", step: i, sampleID: "e-\(i)"))
        }
        let kb = try (0..<15).map { i in
            Transition(state0: unit(), action: try action(String(repeating: "x", count: i % 4 + 1)), state1: unit(),
                       provenance: Provenance(dataset: "kb", scenario: i < 12 ? "s" : "other", sampleID: "k\(i)"))
        }
        let source = try TransitionContextSource(transitions: kb)
        let features = RidgeFeatureSet(memory: true, knowledge: true)
        var base = RuntimeOptions(history: 3)
        base.filter.budget = 3
        let options = RidgeBaselines.options(features, base: base)
        XCTAssertTrue(options.memory && options.retrieval && options.reflector)

        let samples = try RidgeBaselines.samples(episode, features: features, knowledge: source, options: options)
        let model = RecordingModel()
        let runtime = try Runtime(model: model, textEncoder: TableEmbedder(), memory: nil, knowledge: source, tokenizer: nil, options: options)
        try RolloutDriver(runtime: runtime, store: nil).run(EpisodePlans.fromSequences(episode))
        XCTAssertEqual(model.inputs.count, 4)

        let layout = RidgeFeatureLayout(stateWidth: 4, actionWidth: 4, features: features)
        for (step, (sample, input)) in zip(samples, model.inputs).enumerated() {
            XCTAssertEqual(sample.context.map(\.transition.provenance.sampleID), input.context.map(\.transition.provenance.sampleID), "step \(step)")
            XCTAssertEqual(sample.context.map(\.score), input.context.map(\.score), "step \(step)")
            XCTAssertFalse(input.context.isEmpty, "step \(step) keeps context")
            XCTAssertTrue(input.context.allSatisfy { $0.transition.provenance.scenario == "s" })
            XCTAssertEqual(sample.memory.first?.state0, input.memory.first?.state0, "step \(step)")
            XCTAssertEqual(sample.memory.first?.state1, input.memory.first?.state1, "step \(step)")
            XCTAssertEqual(sample.memory.first?.action, input.memory.first?.action, "step \(step)")
            // The rows the ridge is fitted on are the rows it predicts from in the runtime.
            var fitted = [Float](repeating: 0, count: layout.width), runtimeRow = fitted
            let trainingInput = PredictionInput(
                state: sample.transition.state0, action: sample.transition.action, targets: [.video], context: sample.context, memory: sample.memory)
            try fitted.withUnsafeMutableBufferPointer { _ = try layout.write(trainingInput, target: .video, into: $0) }
            try runtimeRow.withUnsafeMutableBufferPointer { _ = try layout.write(input, target: .video, into: $0) }
            XCTAssertEqual(fitted, runtimeRow, "step \(step)")
        }
        XCTAssertThrowsError(try RidgeBaselines.samples(episode, features: features, knowledge: nil, options: options))
    }
}

final class ToldActionYardstickTests: XCTestCase {
    func testBeingToldTheActionAndItsSameScenarioKnowledgeBeatsTheSentence() throws {
        var config = WorldConfig()
        (config.scenarios, config.episodes, config.steps, config.dimension, config.seed) = (4, 30, 3, 32, 5)
        config.modalities = [.image, .video]
        let world = try WorldGenerator(config).generate()
        let rows = try ToldActionYardstick.measure(world, textEncoder: TableEmbedder())
        XCTAssertEqual(rows.map(\.name), ["identity", "ridge", "told ridge", "told ridge+knowledge"])
        XCTAssertEqual(Set(rows[0].cosine.keys), [.image, .video])
        let mean = Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0.mean) })
        // The table embedder hashes sentence lengths: it hides most of what an action means; the truth does not.
        XCTAssertGreaterThan(mean["told ridge"]!, mean["ridge"]!)
        XCTAssertGreaterThan(mean["told ridge+knowledge"]!, mean["told ridge"]!)
        XCTAssertGreaterThan(mean["told ridge"]!, mean["identity"]!)
        // Without an encoder the sentence row is left out.
        XCTAssertEqual(try ToldActionYardstick.measure(world, textEncoder: nil).map(\.name), ["identity", "told ridge", "told ridge+knowledge"])
    }

    func testBeingToldTheSwitchBeatsBeingToldTheNamedActionAfterTheSwitch() throws {
        var config = WorldConfig()
        (config.scenarios, config.episodes, config.steps, config.dimension, config.seed) = (3, 20, 24, 32, 5)
        config.family = "plant"
        config.modalities = [.image]
        config.switchKind = .rewire
        (config.switchFirst, config.switchLast) = (1, 3)
        let world = try WorldGenerator(config).generate()
        let rows = try ToldActionYardstick.measure(world, textEncoder: TableEmbedder())
        XCTAssertEqual(rows.map(\.name), ["identity", "ridge", "ridge+memory", "ridge+recall", "told ridge", "told ridge+knowledge", "told switch ridge"])
        let late = Dictionary(uniqueKeysWithValues: rows.map { ($0.name, $0.late) })
        // After the switch every action is rewired: the one-hot of what ran says what the named action no longer does.
        XCTAssertGreaterThan(try XCTUnwrap(late["told switch ridge"] ?? nil), try XCTUnwrap(late["told ridge"] ?? nil) + 0.5)
        XCTAssertGreaterThan(try XCTUnwrap(late["ridge+memory"] ?? nil), try XCTUnwrap(late["identity"] ?? nil))
        // Without a switch there is neither the late column nor the switch rows.
        config.switchKind = .none
        let plain = try ToldActionYardstick.measure(try WorldGenerator(config).generate(), textEncoder: TableEmbedder())
        XCTAssertEqual(plain.map(\.name), ["identity", "ridge", "told ridge", "told ridge+knowledge"])
        XCTAssertTrue(plain.allSatisfy { $0.late == nil })
    }
}
