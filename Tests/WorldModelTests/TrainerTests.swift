// Tests of training: the loss falls and the model beats identity on a small synthetic world; determinism; config errors.
import Formats
import Tensor
import TestSupport
import XCTest

@testable import WorldModel

/// A small synthetic world: a 4-d latent per episode observed through fixed random maps for image and audio;
/// each of 4 actions moves the latent by a fixed vector. Episodes of 5 steps.
enum SyntheticWorld {
    static let d = 16, a = 8

    static func transitions(episodes: Int, seed: UInt64) -> [Transition] {
        var maps = SeededGenerator(seed: 1000)
        let image = (0..<(d * 4)).map { _ in maps.nextGaussian() }
        let audio = (0..<(d * 4)).map { _ in maps.nextGaussian() }
        let moves = (0..<4).map { _ in (0..<4).map { _ in 0.8 * maps.nextGaussian() } }
        let actionEmbeddings = (0..<4).map { _ in (0..<a).map { _ in maps.nextGaussian() } }
        func observe(_ map: [Float], _ z: [Float], _ rng: inout SeededGenerator) -> Embedding {
            Embedding((0..<d).map { i in tanh((0..<4).reduce(Float(0)) { $0 + map[i * 4 + $1] * z[$1] }) + 0.02 * rng.nextGaussian() }).normalized()
        }
        var rng = SeededGenerator(seed: seed)
        var out: [Transition] = []
        for e in 0..<episodes {
            var z = (0..<4).map { _ in rng.nextGaussian() }
            for s in 0..<5 {
                let k = Int(rng.next() % 4)
                let next = zip(z, moves[k]).map { $0 + $1 }
                let action = Action(text: "action \(k)", embedding: Embedding(actionEmbeddings[k].map { $0 + 0.05 * rng.nextGaussian() }))
                out.append(Transition(
                    state0: State([.image: observe(image, z, &rng), .audio: observe(audio, z, &rng)]), action: action,
                    state1: State([.image: observe(image, next, &rng), .audio: observe(audio, next, &rng)]),
                    provenance: Provenance(dataset: "synthetic", episode: "e\(e)", step: s, sampleID: "\(e)-\(s)")))
                z = next
            }
        }
        return out
    }

    static let modes = [
        TaskMode(inputs: [.image], targets: [.image]), TaskMode(inputs: [.audio], targets: [.audio]),
        TaskMode(inputs: [.image], targets: [.audio]), TaskMode(inputs: [.image, .audio], targets: [.image, .audio]),
    ]

    static func config(steps: Int, seed: UInt64 = 3) -> TrainingConfig {
        TrainingConfig(
            model: NativeModelConfig(embeddingDimension: d, actionDimension: a, width: 32, depth: 2, heads: 4, mlpRatio: 2, maxMemorySteps: 5, reflectorWidth: 8, seed: 1),
            stages: [
                TrainingStage(kind: .singleUnimodal, steps: steps / 3), TrainingStage(kind: .singleCross, steps: steps / 3),
                TrainingStage(kind: .multiUnimodal, steps: steps - 2 * (steps / 3)),
            ],
            batchSize: 32, learningRate: 3e-3, minLearningRate: 1e-4, warmupSteps: 10, checkpointEvery: 0, seed: seed)
    }
}

final class TrainerTests: XCTestCase {
    func testTrainingBeatsIdentityOnHeldOutSyntheticWorld() throws {
        let train = SyntheticWorld.transitions(episodes: 120, seed: 1)
        let test = SyntheticWorld.transitions(episodes: 30, seed: 2)
        let config = SyntheticWorld.config(steps: 240)
        let trainer = try Trainer(config: config, data: TrainingData(transitions: train, modes: SyntheticWorld.modes, model: config.model))
        let evaluator = Evaluator(modes: SyntheticWorld.modes)
        let untrained = try evaluator.evaluate(trainer.model, on: test)
        var sawMemory = false
        for _ in 0..<config.totalSteps {
            sawMemory = try trainer.trainStep().memorySteps >= 2 || sawMemory
        }
        XCTAssertTrue(sawMemory, "episodes exist, so some batches carry 2–5 memory steps")
        let native = try evaluator.evaluate(trainer.model, on: test)
        let identity = try evaluator.evaluate(IdentityModel(), on: test)
        for m in [Modality.image, .audio] {
            XCTAssertGreaterThan(native.modalityMeans[m]!, identity.modalityMeans[m]! + 5, "\(m): \(native.table())\n\(identity.table())")
            XCTAssertGreaterThan(native.modalityMeans[m]!, untrained.modalityMeans[m]! + 5, "\(m): training helps")
        }
    }

    func testTrainingIsDeterministicForASeed() throws {
        let data = try TrainingData(transitions: SyntheticWorld.transitions(episodes: 20, seed: 1), modes: SyntheticWorld.modes, model: SyntheticWorld.config(steps: 9).model)
        let a = try Trainer(config: SyntheticWorld.config(steps: 9), data: data)
        let b = try Trainer(config: SyntheticWorld.config(steps: 9), data: data)
        let c = try Trainer(config: SyntheticWorld.config(steps: 9, seed: 4), data: data)
        for _ in 0..<9 { try a.trainStep(); try b.trainStep(); try c.trainStep() }
        XCTAssertEqual(a.model.store.values, b.model.store.values)
        XCTAssertNotEqual(a.model.store.values, c.model.store.values)
    }

    func testConfigAndDataErrorsNameTheField() throws {
        let transitions = SyntheticWorld.transitions(episodes: 2, seed: 1)
        let model = SyntheticWorld.config(steps: 3).model
        // A mode naming a modality no sample has.
        XCTAssertThrowsError(try TrainingData(transitions: transitions, modes: [TaskMode(inputs: [.video], targets: [.video])], model: model)) {
            XCTAssertEqual("\($0)", "config field `modality_modes[0] (video) - (video)`: modality video is in no training sample")
        }
        // Dimension mismatch between data and model.
        var wide = model
        wide.embeddingDimension = 32
        XCTAssertThrowsError(try TrainingData(transitions: transitions, modes: SyntheticWorld.modes, model: wide)) {
            XCTAssertTrue("\($0)".hasPrefix("model.embedding_dim"), "\($0)")
        }
        // Empty dataset.
        XCTAssertThrowsError(try TrainingData(transitions: [], modes: SyntheticWorld.modes, model: model)) {
            XCTAssertEqual("\($0)", "dataset `dataset_list`: no training transitions")
        }
        // A stage whose kind has no mode.
        let data = try TrainingData(transitions: transitions, modes: [TaskMode(inputs: [.image], targets: [.image])], model: model)
        XCTAssertThrowsError(try Trainer(config: SyntheticWorld.config(steps: 3), data: data)) {
            XCTAssertTrue("\($0)".contains("training.stages[1].kind"), "\($0)")
        }
    }
}

final class CheckpointTests: XCTestCase {
    func testResumedTrainingEndsWithTheSameWeightsAsAnUninterruptedRun() throws {
        let config = SyntheticWorld.config(steps: 12)
        var withCheckpoints = config
        withCheckpoints.checkpointEvery = 5
        let data = try TrainingData(transitions: SyntheticWorld.transitions(episodes: 20, seed: 1), modes: SyntheticWorld.modes, model: config.model)
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        // Uninterrupted.
        let straight = try Trainer(config: withCheckpoints, data: data)
        let summary = try straight.run(output: folder.url.appendingPathComponent("a"))
        XCTAssertEqual(summary.steps, 12)
        // Interrupted after step 8 (the last checkpoint is at step 5), then resumed by a fresh trainer.
        let out = folder.url.appendingPathComponent("b")
        _ = try Trainer(config: withCheckpoints, data: data).run(output: out, stopAfter: 8)
        let latest = try XCTUnwrap(Trainer.latestCheckpoint(in: out))
        XCTAssertEqual(latest.lastPathComponent, "checkpoint-0000005")
        let resumed = try Trainer(config: withCheckpoints, data: data)
        try resumed.resume(from: latest)
        XCTAssertEqual(resumed.step, 5)
        _ = try resumed.run(output: out)
        XCTAssertEqual(resumed.model.store.values, straight.model.store.values)
        // The metrics file has one row per step, 0...11, despite the replay of steps 5...7.
        let rows = try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n").dropFirst()
        XCTAssertEqual(rows.map { Int($0.prefix { $0 != "," })! }, Array(0..<12))
        // The final checkpoint loads into an identical model.
        let loaded = try NativeWorldModel.load(from: out.appendingPathComponent("final"))
        XCTAssertEqual(loaded.config, config.model)
        XCTAssertEqual(loaded.store.values, straight.model.store.values)
        // A different config refuses to resume.
        var other = withCheckpoints
        other.learningRate *= 2
        XCTAssertThrowsError(try Trainer(config: other, data: data).resume(from: latest)) { XCTAssertTrue("\($0)".contains("different training config")) }
    }

    func testLoadRejectsMismatchedTensors() throws {
        let folder = try TemporaryDirectory()
        defer { folder.remove() }
        let model = try NativeWorldModel(config: NativeWorldModelTests.tiny)
        try model.save(to: folder.url)
        var bigger = NativeWorldModelTests.tiny
        bigger.width = 12
        let data = try JSONEncoder().encode(bigger)
        try data.write(to: folder.url.appendingPathComponent("config.json"))
        XCTAssertThrowsError(try NativeWorldModel.load(from: folder.url)) { error in
            XCTAssertTrue("\(error)".contains("has shape"), "\(error)")
        }
        XCTAssertThrowsError(try NativeWorldModel.load(from: folder.url.appendingPathComponent("missing"))) { error in
            XCTAssertTrue("\(error)".contains("config.json"), "\(error)")
        }
    }
}

final class LinearBaseTests: XCTestCase {
    /// The ridge models `train` fits, fitted again independently on the same rows.
    private func ridge(_ train: [Transition], memory: Bool) throws -> RidgeModel {
        try RidgeModel.train(samples: EvaluationSample.withHistory(train, maxSteps: 1), modes: SyntheticWorld.modes, features: RidgeFeatureSet(memory: memory))
    }

    private func inputs(_ transitions: [Transition], memory: Bool) -> [PredictionInput] {
        EvaluationSample.withHistory(transitions, maxSteps: 1).filter { !memory || !$0.memory.isEmpty }.prefix(40).flatMap { s in
            SyntheticWorld.modes.filter { $0.applies(to: s.transition) }.map { mode in
                PredictionInput(state: mode.mask(s.transition.state0), action: s.transition.action, targets: mode.targets, memory: memory ? s.memory : [])
            }
        }
    }

    private func assertClose(_ a: [State], _ b: [State], _ message: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, message, file: file, line: line)
        for (x, y) in zip(a, b) {
            XCTAssertEqual(Set(x.modalities), Set(y.modalities), message, file: file, line: line)
            for m in x.modalities {
                let diff = zip(x[m]!.values, y[m]!.values).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThan(diff, 1e-6, "\(message): \(m)", file: file, line: line)
            }
        }
    }

    func testTheLinearBaseIsTheRidgeForTheEvidenceAnInputCarriesAndTheResidualTrainsOnTop() throws {
        let train = SyntheticWorld.transitions(episodes: 60, seed: 1), test = SyntheticWorld.transitions(episodes: 12, seed: 2)
        var config = SyntheticWorld.config(steps: 30)
        config.model.linearBase = true
        let trainer = try Trainer(config: config, data: TrainingData(transitions: train, modes: SyntheticWorld.modes, model: config.model))
        let base = try XCTUnwrap(trainer.model.linearBase)
        XCTAssertEqual(Set(base.models.keys), [RidgeFeatureSet(), RidgeFeatureSet(memory: true)])
        let plain = try ridge(train, memory: false), withMemory = try ridge(train, memory: true)
        XCTAssertEqual(base.models[RidgeFeatureSet()]?.heads, plain.heads)
        XCTAssertEqual(base.models[RidgeFeatureSet(memory: true)]?.heads, withMemory.heads)

        // With the heads at zero the residual is 0: the model predicts exactly what the ridge of its evidence predicts.
        let model = trainer.model
        trainer.zeroResidualHeads()
        let bare = inputs(test, memory: false), remembered = inputs(test, memory: true)
        XCTAssertFalse(bare.isEmpty || remembered.isEmpty)
        assertClose(try model.predictBatch(bare), try plain.predictBatch(bare), "no memory → ridge")
        assertClose(try model.predictBatch(remembered), try withMemory.predictBatch(remembered), "memory → ridge+memory")
        // Kept context without a knowledge model falls back to the richest model the input's evidence allows.
        var withContext = remembered
        for i in withContext.indices { withContext[i].context = [ContextItem(transition: test[0], score: 1)] }
        XCTAssertEqual(base.model(for: withContext[0])?.name, "ridge+memory")
        assertClose(try model.predictBatch(withContext), try withMemory.predictBatch(remembered), "context without a knowledge model")

        // Training moves the residual, not the base; the checkpoint keeps both.
        for _ in 0..<config.totalSteps { try trainer.trainStep() }
        XCTAssertEqual(trainer.model.linearBase?.models[RidgeFeatureSet()]?.heads, plain.heads)
        let trained = try model.predictBatch(remembered)
        XCTAssertNotEqual(trained, try withMemory.predictBatch(remembered), "30 steps must move the residual off zero")
        let dir = try TemporaryDirectory(prefix: "linear-base")
        defer { dir.remove() }
        try trainer.saveCheckpoint(to: dir.url)
        XCTAssertTrue(RidgeModel.isCheckpoint(dir.url.appendingPathComponent("linear/ridge+memory")))
        let loaded = try NativeWorldModel.load(from: dir.url)
        XCTAssertEqual(try loaded.predictBatch(remembered), trained)
        let resumed = try Trainer(config: config, data: TrainingData(transitions: train, modes: SyntheticWorld.modes, model: config.model))
        try resumed.resume(from: dir.url)
        XCTAssertEqual(try resumed.model.predictBatch(remembered), trained)
        // A checkpoint that lost its linear base is refused by name.
        try FileManager.default.removeItem(at: dir.url.appendingPathComponent("linear"))
        XCTAssertThrowsError(try NativeWorldModel.load(from: dir.url)) { XCTAssertTrue("\($0)".contains("linear"), "\($0)") }
    }
}

final class TrainingRecipeTests: XCTestCase {
    func testTheRecipeSizesStepsFromTheDataByItsRule() throws {
        let three = [TaskMode(inputs: [.image], targets: [.image]), TaskMode(inputs: [.image], targets: [.audio]),
                     TaskMode(inputs: [.image, .audio], targets: [.image, .audio])]
        // 10,000 transitions: 10,000 / 64 = 156.25 → 200 → at least 300, three stages of 100.
        let small = try TrainingRecipe.config(transitionCount: 10_000, modes: three)
        XCTAssertEqual(small.stages, [TrainingStage(kind: .singleUnimodal, steps: 100), TrainingStage(kind: .singleCross, steps: 100),
                                      TrainingStage(kind: .multiUnimodal, steps: 100)])
        XCTAssertEqual(small.warmupSteps, 20)
        XCTAssertEqual(small.checkpointEvery, 100)
        XCTAssertEqual(small.heldOutEvery, 5)
        XCTAssertTrue(small.model.linearBase)
        XCTAssertEqual(small.model.residualScale, 0.1)
        // 100,000 transitions, one kind: 1,562.5 → 1,600 steps in one stage.
        XCTAssertEqual(try TrainingRecipe.config(transitionCount: 100_000, modes: [three[0]]).stages, [TrainingStage(kind: .singleUnimodal, steps: 1600)])
        // 10,000,000: capped at 3,000 (1,000 per stage).
        XCTAssertEqual(try TrainingRecipe.config(transitionCount: 10_000_000, modes: three).totalSteps, 3000)
        XCTAssertThrowsError(try TrainingRecipe.config(transitionCount: 0, modes: three))
        try small.validate()
    }

    func testFinalIsTheBestHeldOutCandidateAndHeldOutEpisodesNeverTrain() throws {
        let train = SyntheticWorld.transitions(episodes: 50, seed: 1)
        var config = SyntheticWorld.config(steps: 60)
        config.model.linearBase = true
        config.heldOutEvery = 5
        config.checkpointEvery = 20
        let trainer = try Trainer(config: config, data: TrainingData(transitions: train, modes: SyntheticWorld.modes, model: config.model))
        // 50 episodes sorted by name, every 5th held out: 10 episodes.
        let heldOutEpisodes = Set(trainer.heldOut.map { $0.provenance.episode ?? "" })
        XCTAssertEqual(heldOutEpisodes.count, 10)
        XCTAssertEqual(trainer.heldOut.count, train.filter { heldOutEpisodes.contains($0.provenance.episode ?? "") }.count)
        // No batch of the run draws a held-out transition: every sampled state is compared with the held-out ones.
        let heldOutStates = Set(trainer.heldOut.flatMap { $0.state0.embeddings.values.map(\.values) })
        for step in 0..<config.totalSteps {
            let batch = try trainer.sampleBatch(step: step).batch
            for (_, values) in batch.states {
                for s in 0..<batch.size {
                    let row = Array(values[(s * SyntheticWorld.d)..<((s + 1) * SyntheticWorld.d)])
                    XCTAssertFalse(heldOutStates.contains(row), "step \(step) drew a held-out transition")
                }
            }
        }
        let dir = try TemporaryDirectory(prefix: "selection")
        defer { dir.remove() }
        let summary = try trainer.run(output: dir.url)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("selection.json"))) as! [String: Any]
        let candidates = json["candidates"] as! [[String: Double]]
        XCTAssertEqual(candidates.map { Int($0["step"]!) }, [0, 20, 40, 60])
        // The rule, worked out from the recorded scores: the best trained checkpoint if it beats the base alone (step
        // 0) by more than the margin, else the base.
        let trained = candidates.dropFirst().max { $0["cosine"]! < $1["cosine"]! }!
        let best = trained["cosine"]! > candidates[0]["cosine"]! + 0.05 ? trained : candidates[0]
        XCTAssertEqual(json["selected_step"] as? Int, Int(best["step"]!))
        XCTAssertEqual(summary.selectedStep, Int(best["step"]!))
        // final/ scores on the held-out episodes what the selection recorded for it.
        let final = try NativeWorldModel.load(from: dir.url.appendingPathComponent("final"))
        trainer.model.store.values = final.store.values
        XCTAssertEqual(try trainer.heldOutScore(), best["cosine"]!, accuracy: 1e-9)
    }

    func testACheckpointMustBeatTheBaseAloneByTheMargin() throws {
        var selection = CheckpointSelection()
        try selection.consider(step: 0, score: 80.00, values: [])
        try selection.consider(step: 100, score: 80.03, values: [1])
        XCTAssertEqual(selection.best?.step, 0, "0.03 above the base is within the held-out noise")
        try selection.consider(step: 200, score: 80.07, values: [2])
        XCTAssertEqual(selection.best?.step, 200)
        try selection.consider(step: 300, score: 80.08, values: [3])
        XCTAssertEqual(selection.best?.step, 300, "between trained checkpoints the better one wins")
        XCTAssertEqual(selection.best?.values, [3])
        XCTAssertThrowsError(try selection.consider(step: 400, score: .nan, values: []))
    }
}
