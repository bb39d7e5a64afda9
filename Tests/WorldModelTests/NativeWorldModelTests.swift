// Tests of the native world model: gradients against finite differences, batching, optional memory/reflector inputs.
import Formats
import Tensor
import TestSupport
import XCTest

@testable import WorldModel

final class NativeWorldModelTests: XCTestCase {
    static let tiny = NativeModelConfig(
        embeddingDimension: 6, actionDimension: 4, width: 8, depth: 2, heads: 2, mlpRatio: 2, maxMemorySteps: 3, reflectorWidth: 5, seed: 11)

    private func randomVector(_ rng: inout SeededGenerator, _ n: Int) -> [Float] { (0..<n).map { _ in rng.nextGaussian() } }

    /// A batch of 3 with inputs image+audio, targets audio (residual) and video (cross-modal), 2 memory steps, 2 reflector tokens.
    private func tinyBatch(_ model: NativeWorldModel) throws -> (ModelBatch, [Modality: Tensor]) {
        var rng = SeededGenerator(seed: 5)
        let c = Self.tiny
        var inputs: [PredictionInput] = []
        var truth: [State] = []
        for _ in 0..<3 {
            let state = State([.image: Embedding(randomVector(&rng, 6)).normalized(), .audio: Embedding(randomVector(&rng, 6)).normalized()])
            let memory = (1...2).map { k in
                MemoryItem(
                    state0: State([.image: Embedding(randomVector(&rng, 6))]), action: Action(text: "m", embedding: Embedding(randomVector(&rng, 4))),
                    state1: State([.image: Embedding(randomVector(&rng, 6)), .video: Embedding(randomVector(&rng, 6))]), stepsAgo: k)
            }
            let tokens = ReflectorTokens(tokenCount: 2, width: c.reflectorWidth, values: randomVector(&rng, 2 * c.reflectorWidth))
            inputs.append(PredictionInput(
                state: state, action: Action(text: "a", embedding: Embedding(randomVector(&rng, 4))), targets: [.video, .audio],
                reflectorTokens: tokens, memory: memory))
            truth.append(State([.audio: Embedding(randomVector(&rng, 6)), .video: Embedding(randomVector(&rng, 6))]))
        }
        let layout = try BatchLayout(inputs[0], config: c, index: 0)
        let batch = try model.makeBatch(inputs, layout: layout, truth: truth)
        let targets = batch.truth.mapValues { Tensor(shape: [3, 6], data: $0) }
        return (batch, targets)
    }

    private func loss(_ model: NativeWorldModel, _ batch: ModelBatch, _ targets: [Modality: Tensor]) -> (Double, [Modality: Tensor]) {
        let out = model.forward(batch)
        var total = 0.0
        var grads: [Modality: Tensor] = [:]
        for (m, p) in out {
            let r = Loss.cosine(prediction: p, target: targets[m]!)
            let mse = Loss.mse(prediction: p, target: targets[m]!)
            total += Double(r.value) + 0.5 * Double(mse.value)
            var g = r.gradient
            g.add(mse.gradient, scale: 0.5)
            grads[m] = g
        }
        return (total, grads)
    }

    func testBackwardMatchesFiniteDifferences() throws {
        let model = try NativeWorldModel(config: Self.tiny)
        // Bigger heads than the default so every path carries gradient that finite differences can see.
        for m in Modality.allCases {
            let p = model.heads[m]!.weight
            var rng = SeededGenerator(seed: 99)
            model.store.setValue(p, Tensor(shape: p.shape, data: (0..<p.count).map { _ in 0.3 * rng.nextGaussian() }))
        }
        let (batch, targets) = try tinyBatch(model)
        model.store.zeroGradients()
        let (_, dPred) = loss(model, batch, targets)
        let dReflector = model.backward(dPred)!
        let analytic = model.store.gradients
        // Every parameter group: check a few entries of each.
        var rng = SeededGenerator(seed: 1)
        var checked = 0, worst = 0.0, small = 0
        for p in model.store.parameters where !p.name.hasPrefix("input.video") && !p.name.hasPrefix("input.text")
            && !p.name.hasPrefix("head.image") && !p.name.hasPrefix("head.text") {
            for _ in 0..<3 {
                let i = p.offset + Int(rng.next() % UInt64(p.count))
                let saved = model.store.values[i]
                let h: Float = 1e-2
                model.store.values[i] = saved + h
                let plus = loss(model, batch, targets).0
                model.store.values[i] = saved - h
                let minus = loss(model, batch, targets).0
                model.store.values[i] = saved
                let numeric = (plus - minus) / (2 * Double(h))
                let error = abs(numeric - Double(analytic[i])) / max(1e-2, abs(numeric) + abs(Double(analytic[i])))
                worst = max(worst, error)
                if abs(numeric) < 1e-3 { small += 1 }
                XCTAssertLessThan(error, 0.05, "\(p.name)[\(i - p.offset)]: numeric \(numeric), analytic \(analytic[i])")
                checked += 1
            }
        }
        XCTAssertGreaterThan(checked, 60)
        XCTAssertLessThan(small, checked / 4, "most checked gradients must be large enough to mean something")
        // Parameters of unused modalities get exactly zero gradient.
        let unused = model.store["input.video.weight"]!
        XCTAssertTrue(analytic[unused.range].allSatisfy { $0 == 0 })
        // Gradient with respect to the reflector tokens.
        for j in [0, 7, 13, 29] {
            var perturbed = batch
            perturbed.reflectorTokens[j] += 1e-2
            let plus = loss(model, perturbed, targets).0
            perturbed.reflectorTokens[j] -= 2e-2
            let minus = loss(model, perturbed, targets).0
            let numeric = (plus - minus) / 2e-2
            XCTAssertEqual(numeric, Double(dReflector[j]), accuracy: 0.05 * max(1e-2, abs(numeric)), "reflector token value \(j)")
        }
    }

    /// The memory change path: the prediction moves by exactly `W · (state1 − source(state0))` of the most recent
    /// memory step in each target modality (hand-computed here), and its weight's gradient matches finite differences.
    func testMemoryChangePathAddsTheMappedChangeAndItsGradientMatches() throws {
        var config = Self.tiny
        config.memoryChange = true
        let model = try NativeWorldModel(config: config)
        let w = try XCTUnwrap(model.changePaths[.memory]).weight
        var rng = SeededGenerator(seed: 21)
        model.store.setValue(w, Tensor(shape: w.shape, data: (0..<w.count).map { _ in 0.5 * rng.nextGaussian() }))
        let (batch, targets) = try tinyBatch(model)
        let memoryChanges = try XCTUnwrap(batch.changes[.memory])
        XCTAssertEqual(memoryChanges.keys.sorted(), [.video, .audio].sorted())
        XCTAssertNil(batch.changes[.context], "no context path in this model")
        let with = model.forward(batch)
        var without = batch
        without.changes = [:]
        let plain = model.forward(without)
        // Memory steps hold state0 = {image}, state1 = {image, video}: video's change is state1.video − state0.image,
        // audio's is unknown (zero).
        let weights = model.store.value(w).data
        for s in 0..<3 {
            for (m, change) in [(Modality.video, memoryChanges[.video]!), (.audio, memoryChanges[.audio]!)] {
                let delta = Array(change[(s * 6)..<((s + 1) * 6)])
                if m == .audio { XCTAssertEqual(delta, [Float](repeating: 0, count: 6)) }
                for o in 0..<6 {
                    let expected = (0..<6).reduce(Float(0)) { $0 + weights[o * 6 + $1] * delta[$1] }
                    XCTAssertEqual(with[m]![s, o] - plain[m]![s, o], expected, accuracy: 1e-5, "\(m) sample \(s) value \(o)")
                }
            }
        }
        model.store.zeroGradients()
        let (_, dPred) = loss(model, batch, targets)
        model.backward(dPred)
        let analytic = model.store.gradients
        for i in stride(from: w.offset, to: w.offset + w.count, by: 5) {
            let saved = model.store.values[i]
            model.store.values[i] = saved + 1e-2
            let plus = loss(model, batch, targets).0
            model.store.values[i] = saved - 1e-2
            let minus = loss(model, batch, targets).0
            model.store.values[i] = saved
            let numeric = (plus - minus) / 2e-2
            XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 0.03 * max(1e-2, abs(numeric)), "memory_change[\(i - w.offset)]")
        }
        // A model without the path has no such parameter and the same other parameters as before.
        XCTAssertNil(try NativeWorldModel(config: Self.tiny).store["memory_change.weight"])
    }

    /// The context change path: the prediction moves by `W · mean(state1 − state0)` of the kept context items in the
    /// target modality (items lacking it do not count), hand-computed; inputs without context get nothing.
    func testContextChangePathAddsTheMappedMeanChangeOfTheKeptContext() throws {
        var config = Self.tiny
        config.contextChange = true
        let model = try NativeWorldModel(config: config)
        let w = try XCTUnwrap(model.changePaths[.context]).weight
        var rng = SeededGenerator(seed: 8)
        model.store.setValue(w, Tensor(shape: w.shape, data: (0..<w.count).map { _ in 0.5 * rng.nextGaussian() }))
        func vector() -> Embedding { Embedding(randomVector(&rng, 6)) }
        func item(_ before: State, _ after: State) -> ContextItem {
            ContextItem(transition: Transition(state0: before, action: Action(text: "c", embedding: Embedding(randomVector(&rng, 4))), state1: after, provenance: Provenance(dataset: "kb", sampleID: "k")), score: 1)
        }
        let items = [item(State([.audio: vector()]), State([.audio: vector()])), item(State([.audio: vector()]), State([.audio: vector()])),
                     item(State([.image: vector()]), State([.image: vector()]))]  // no audio: left out of the mean
        let with = PredictionInput(state: State([.audio: vector().normalized()]), action: Action(text: "a", embedding: vector4(&rng)),
                                   targets: [.audio], context: items)
        var without = with
        without.context = []
        let layout = try BatchLayout(with, config: config, index: 0)
        let batch = try model.makeBatch([with, without], layout: layout, truth: nil)
        let out = model.forward(batch)
        var plainBatch = batch
        plainBatch.changes = [:]
        let plain = model.forward(plainBatch)
        func change(_ k: Int) -> [Float] {
            let t = items[k].transition
            return zip(t.state1[.audio]!.values, t.state0[.audio]!.values).map { $0 - $1 }
        }
        let mean: [Float] = zip(change(0), change(1)).map { ($0 + $1) / 2 }
        let weights = model.store.value(w).data
        for o in 0..<6 {
            let expected = (0..<6).reduce(Float(0)) { $0 + weights[o * 6 + $1] * mean[$1] }
            XCTAssertEqual(out[.audio]![0, o] - plain[.audio]![0, o], expected, accuracy: 1e-5, "with context, value \(o)")
            XCTAssertEqual(out[.audio]![1, o], plain[.audio]![1, o], accuracy: 1e-6, "without context, value \(o)")
        }
    }

    private func vector4(_ rng: inout SeededGenerator) -> Embedding { Embedding(randomVector(&rng, 4)) }

    func testBatchedPredictionEqualsOneByOneAndMemoryIsOptional() throws {
        let model = try NativeWorldModel(config: Self.tiny)
        var rng = SeededGenerator(seed: 8)
        var inputs: [PredictionInput] = []
        for i in 0..<6 {
            var state = State([.image: Embedding(randomVector(&rng, 6)).normalized()])
            if i % 2 == 0 { state[.audio] = Embedding(randomVector(&rng, 6)).normalized() }
            let memory = i % 3 == 0 ? [] : [MemoryItem(
                state0: state, action: Action(text: "m", embedding: Embedding(randomVector(&rng, 4))), state1: state, stepsAgo: 1)]
            inputs.append(PredictionInput(
                state: state, action: Action(text: "a", embedding: Embedding(randomVector(&rng, 4))), targets: [.image, .video], memory: memory))
        }
        let batched = try model.predictBatch(inputs)
        for (input, out) in zip(inputs, batched) {
            let single = try model.predict(input)
            for m in [Modality.image, .video] {
                XCTAssertEqual(out[m]!.norm, 1, accuracy: 1e-5)
                for (a, b) in zip(out[m]!.values, single[m]!.values) { XCTAssertEqual(a, b, accuracy: 1e-5) }
            }
        }
        // The same weights run with and without memory, and memory changes the prediction.
        var withMemory = inputs[1]
        withMemory.memory = inputs[1].memory
        var without = withMemory
        without.memory = []
        XCTAssertNotEqual(try model.predict(withMemory)[.image], try model.predict(without)[.image])
    }

    func testPredictRejectsBadInputs() throws {
        let model = try NativeWorldModel(config: Self.tiny)
        let state = State([.image: Embedding([1, 0, 0, 0, 0, 0])])
        XCTAssertThrowsError(try model.predict(PredictionInput(state: state, action: Action(text: "push"), targets: [.image]))) {
            XCTAssertEqual($0 as? WorldModelError, .missingActionEmbedding(action: "push"))
        }
        let wrong = PredictionInput(state: State([.image: Embedding([1, 0])]), action: Action(text: "a", embedding: Embedding([1, 0, 0, 0])), targets: [.image])
        XCTAssertThrowsError(try model.predict(wrong)) { XCTAssertEqual($0 as? WorldModelError, .dimensionMismatch(field: "state.image", expected: 6, actual: 2)) }
        var nan = PredictionInput(state: state, action: Action(text: "a", embedding: Embedding([1, 0, 0, .nan])), targets: [.image])
        XCTAssertThrowsError(try model.predict(nan)) { XCTAssertEqual($0 as? WorldModelError, .notFinite(field: "action embedding")) }
        nan.action.embedding = Embedding([1, 0, 0, 0])
        nan.reflectorTokens = ReflectorTokens(tokenCount: 1, width: 3, values: [1, 2, 3])
        XCTAssertThrowsError(try model.predict(nan)) {
            XCTAssertEqual($0 as? WorldModelError, .dimensionMismatch(field: "reflector tokens width", expected: 5, actual: 3))
        }
        XCTAssertThrowsError(try NativeWorldModel(config: NativeModelConfig(width: 10, heads: 4))) {
            XCTAssertTrue("\($0)".contains("model.heads"))
        }
    }
}
