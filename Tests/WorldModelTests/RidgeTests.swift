// Tests of the ridge baseline: the solve against normal equations worked out by hand, λ selection against a brute-force
// oracle, the feature rows against hand-written vectors, the checkpoint round trip, and a linear world it must recover.
import Foundation
import Formats
import TestSupport
import XCTest

@testable import WorldModel

final class RidgeTests: XCTestCase {
    // MARK: - Solver

    func testRidgeSolveMatchesTheHandComputed3x2System() throws {
        // X = [[1,0],[1,1],[1,2]], Y = [[1,0],[2,1],[4,-1]].
        // XᵀX = [[3,3],[3,5]], XᵀY = [[7,0],[10,-1]].
        // λ = 1 on both columns: A = [[4,3],[3,6]], det 15, A⁻¹ = [[6,-3],[-3,4]]/15,
        //   W = A⁻¹·XᵀY = [[(42-30)/15, (0+3)/15], [(-21+40)/15, (0-4)/15]] = [[0.8, 0.2], [19/15, -4/15]].
        // λ = 1 on column 1 only (column 0 is the constant): A = [[3,3],[3,6]], det 9, A⁻¹ = [[6,-3],[-3,3]]/9,
        //   W = [[(42-30)/9, (0+3)/9], [(-21+30)/9, (0-3)/9]] = [[4/3, 1/3], [1, -1/3]].
        let x: [Float] = [1, 0, 1, 1, 1, 2]
        let y: [Float] = [1, 0, 2, 1, 4, -1]
        var equations = RidgeNormalEquations(featureCount: 2, outputCount: 2)
        equations.add(x: x, y: y, rows: 3)
        let all = try equations.solve(lambda: 1)
        for (got, want) in zip(all, [0.8, 0.2, 19.0 / 15, -4.0 / 15]) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }
        let biasFree = try equations.solve(lambda: 1, unpenalized: [0])
        for (got, want) in zip(biasFree, [4.0 / 3, 1.0 / 3, 1, -1.0 / 3]) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }

        // The same rows added in two blocks give the same equations.
        var split = RidgeNormalEquations(featureCount: 2, outputCount: 2)
        split.add(x: Array(x[0..<2]), y: Array(y[0..<2]), rows: 1)
        split.add(x: Array(x[2...]), y: Array(y[2...]), rows: 2)
        XCTAssertEqual(split.rowCount, 3)
        for (got, want) in zip(try split.solve(lambda: 1), all) { XCTAssertEqual(got, want, accuracy: 1e-6) }
        // Without any penalty on a singular system the solve refuses, naming λ.
        var singular = RidgeNormalEquations(featureCount: 2, outputCount: 1)
        singular.add(x: [1, 1, 2, 2], y: [1, 2], rows: 2)
        XCTAssertThrowsError(try singular.solve(lambda: 0)) { XCTAssertTrue("\($0)".contains("lambda"), "\($0)") }
    }

    /// (XᵀX + λ·I except `free`)⁻¹·XᵀY by Gauss–Jordan elimination in Double: the oracle for λ selection.
    private func naiveRidge(x: [Float], y: [Float], rows: Int, f: Int, d: Int, lambda: Double, free: Int) -> [Double] {
        var a = [Double](repeating: 0, count: f * (f + d))  // [A | B], f rows of f + d
        for r in 0..<rows {
            for i in 0..<f {
                for j in 0..<f { a[i * (f + d) + j] += Double(x[r * f + i]) * Double(x[r * f + j]) }
                for k in 0..<d { a[i * (f + d) + f + k] += Double(x[r * f + i]) * Double(y[r * d + k]) }
            }
        }
        for i in 0..<f where i != free { a[i * (f + d) + i] += lambda }
        for c in 0..<f {
            let pivot = a[c * (f + d) + c]
            for j in 0..<(f + d) { a[c * (f + d) + j] /= pivot }
            for r in 0..<f where r != c {
                let factor = a[r * (f + d) + c]
                for j in 0..<(f + d) { a[r * (f + d) + j] -= factor * a[c * (f + d) + j] }
            }
        }
        return (0..<f).flatMap { i in (0..<d).map { a[i * (f + d) + f + $0] } }
    }

    func testLambdaSelectionPicksTheHeldOutBest() throws {
        var rng = SeededGenerator(seed: 5)
        let f = 4, d = 2, grid = RidgeSelection.defaultGrid
        func rows(_ n: Int, noise: Float, truth: [Float]) -> (x: [Float], y: [Float]) {
            var x: [Float] = [], y: [Float] = []
            for _ in 0..<n {
                let row: [Float] = [1] + (1..<f).map { _ in rng.nextGaussian() }
                x += row
                for k in 0..<d { y.append((0..<f).reduce(0) { $0 + row[$1] * truth[$1 * d + k] } + noise * rng.nextGaussian()) }
            }
            return (x, y)
        }
        let truth: [Float] = [0.5, -1, 2, 0.3, -0.7, 1.1, 0.2, 0.9]
        // A noisy small fit set and a held-out set: the oracle scores every λ; the choice must be its argmin.
        let fitRows = rows(12, noise: 1.5, truth: truth), heldRows = rows(30, noise: 1.5, truth: truth)
        var fit = RidgeNormalEquations(featureCount: f, outputCount: d)
        fit.add(x: fitRows.x, y: fitRows.y, rows: 12)
        var held = RidgeRows()
        for r in 0..<30 { held.append(features: Array(heldRows.x[(r * f)..<((r + 1) * f)]), target: Array(heldRows.y[(r * d)..<((r + 1) * d)])) }
        let oracle = grid.map { lambda -> Double in
            let w = naiveRidge(x: fitRows.x, y: fitRows.y, rows: 12, f: f, d: d, lambda: lambda, free: 0)
            var error = 0.0
            for r in 0..<30 {
                for k in 0..<d {
                    let p = (0..<f).reduce(0.0) { $0 + Double(heldRows.x[r * f + $1]) * w[$1 * d + k] }
                    error += (p - Double(heldRows.y[r * d + k])) * (p - Double(heldRows.y[r * d + k]))
                }
            }
            return error
        }
        let chosen = try RidgeSelection.choose(fit: fit, heldOut: held, grid: grid, unpenalized: [0])
        XCTAssertEqual(chosen.errors.count, grid.count)
        for (got, want) in zip(chosen.errors, oracle) { XCTAssertEqual(got, want, accuracy: 1e-3 * want) }
        XCTAssertEqual(chosen.lambda, grid[oracle.indices.min { oracle[$0] < oracle[$1] }!])

        // Constructed extremes: noiseless data → the smallest λ; held-out targets that are pure zero → the largest λ
        // (the least shrunk weights are the worst guess of a constant 0).
        let clean = rows(20, noise: 0, truth: truth), cleanHeld = rows(10, noise: 0, truth: truth)
        var cleanFit = RidgeNormalEquations(featureCount: f, outputCount: d)
        cleanFit.add(x: clean.x, y: clean.y, rows: 20)
        var cleanHeldRows = RidgeRows()
        for r in 0..<10 { cleanHeldRows.append(features: Array(cleanHeld.x[(r * f)..<((r + 1) * f)]), target: Array(cleanHeld.y[(r * d)..<((r + 1) * d)])) }
        XCTAssertEqual(try RidgeSelection.choose(fit: cleanFit, heldOut: cleanHeldRows, grid: grid).lambda, 1e-3)
        var zeros = RidgeRows()
        for r in 0..<10 { zeros.append(features: [0] + Array(cleanHeld.x[(r * f + 1)..<((r + 1) * f)]), target: [0, 0]) }
        XCTAssertEqual(try RidgeSelection.choose(fit: cleanFit, heldOut: zeros, grid: grid).lambda, 1e3)
    }

    // MARK: - Features

    private func state(_ values: [Modality: [Float]]) -> State { State(values.mapValues(Embedding.init)) }

    private func context(_ s0: [Modality: [Float]], _ s1: [Modality: [Float]], score: Double = 0.5) -> ContextItem {
        ContextItem(transition: Transition(state0: state(s0), action: Action(text: "kb", embedding: Embedding([9, 9])), state1: state(s1),
                                           provenance: Provenance(dataset: "kb", sampleID: "k")), score: score)
    }

    private func row(_ layout: RidgeFeatureLayout, _ input: PredictionInput, _ target: Modality) throws -> (row: [Float], source: [Float]) {
        var row = [Float](repeating: -7, count: layout.width)
        let source = try row.withUnsafeMutableBufferPointer { try layout.write(input, target: target, into: $0) }
        return (row, source.values)
    }

    func testFeatureRowsReadMemoryAndContextAsHandComputed() throws {
        let layout = RidgeFeatureLayout(stateWidth: 2, actionWidth: 2, features: RidgeFeatureSet(memory: true, knowledge: true))
        XCTAssertEqual(layout.width, 13)
        let memory = [
            MemoryItem(state0: state([.image: [1, 1]]), action: Action(text: "p", embedding: Embedding([1, 0])), state1: state([.image: [2, 0]]), stepsAgo: 1),
            MemoryItem(state0: state([.image: [5, 5]]), action: Action(text: "q", embedding: Embedding([0, 1])), state1: state([.image: [0, 0]]), stepsAgo: 2),
        ]
        let kept = [
            context([.image: [0, 0]], [.image: [1, 1]]),  // change (1, 1)
            context([.image: [1, 0]], [.image: [1, 2]]),  // change (0, 2)
            context([.audio: [1, 0]], [.audio: [3, 3]]),  // no image after: not averaged
        ]
        let input = PredictionInput(
            state: state([.image: [1, 2]]), action: Action(text: "a", embedding: Embedding([0.5, -1])), targets: [.image], context: kept,
            memory: memory)
        // [state0 | action | 1 | previous change (2,0)-(1,1) | previous action | no-previous | mean context change | no-context]
        let full = try row(layout, input, .image)
        XCTAssertEqual(full.row, [1, 2, 0.5, -1, 1, 1, -1, 1, 0, 0, 0.5, 1.5, 0])
        XCTAssertEqual(full.source, [1, 2])

        // No memory, no context: zero blocks and both indicators.
        let bare = try row(layout, PredictionInput(state: input.state, action: input.action, targets: [.image]), .image)
        XCTAssertEqual(bare.row, [1, 2, 0.5, -1, 1, 0, 0, 0, 0, 1, 0, 0, 1])

        // A cross-modal target: the source is the mean of the input's embeddings ((1,2)+(3,0))/2 = (2,1); the previous step's
        // video change is measured from its own source (the mean of its state0) and the context's from its video state0.
        let cross = PredictionInput(
            state: state([.image: [1, 2], .audio: [3, 0]]), action: input.action, targets: [.video],
            context: [context([.video: [1, 1]], [.video: [1, 4]])],
            memory: [MemoryItem(state0: state([.image: [0, 2], .audio: [2, 0]]), action: Action(text: "p", embedding: Embedding([0, 1])),
                                state1: state([.video: [3, 3]]), stepsAgo: 1)])
        XCTAssertEqual(try row(layout, cross, .video).row, [2, 1, 0.5, -1, 1, 2, 2, 0, 1, 0, 0, 3, 0])

        // Items of different scores: weights exp((score − best) / 0.1). Scores 1.0 and 0.9 with changes (1, 1) and (0, 2):
        // weights 1 and e⁻¹ = 0.367879, mean ((1, 1) + 0.367879·(0, 2)) / 1.367879 = (0.731059, 1.268941). An item 1.0
        // below the best weighs e⁻¹⁰ = 4.54e-5: (10, 10) moves the mean by about 4.5e-4 per unit of its change.
        let weighted = PredictionInput(
            state: input.state, action: input.action, targets: [.image],
            context: [context([.image: [0, 0]], [.image: [1, 1]], score: 1.0), context([.image: [1, 0]], [.image: [1, 2]], score: 0.9)])
        let w = try row(layout, weighted, .image).row
        XCTAssertEqual(w[10], 0.731059, accuracy: 1e-5)
        XCTAssertEqual(w[11], 1.268941, accuracy: 1e-5)
        var far = weighted
        far.context.append(context([.image: [0, 0]], [.image: [10, 10]], score: 0))
        let f = try row(layout, far, .image).row
        let e10 = Float(4.539993e-5)
        XCTAssertEqual(f[10], (0.731059 * 1.367879 + 10 * e10) / (1.367879 + e10), accuracy: 1e-5)
        XCTAssertEqual(f[11], (1.268941 * 1.367879 + 10 * e10) / (1.367879 + e10), accuracy: 1e-5)

        // Base layout: only [state0 | action | 1].
        let base = RidgeFeatureLayout(stateWidth: 2, actionWidth: 2, features: RidgeFeatureSet())
        XCTAssertEqual(try row(base, input, .image).row, [1, 2, 0.5, -1, 1])
        XCTAssertThrowsError(try row(base, PredictionInput(state: input.state, action: Action(text: "no embedding"), targets: [.image]), .image))
        XCTAssertThrowsError(try row(base, PredictionInput(state: state([.image: [1, 2, 3]]), action: input.action, targets: [.image]), .image))
    }

    // MARK: - Model

    /// A linear world: image1 = image0 + M·action (+ the previous change when `carry`), in `episodes` episodes of 4 steps.
    private func linearWorld(episodes: Int, carry: Bool, seed: UInt64) -> [Transition] {
        var rng = SeededGenerator(seed: seed)
        let m: [[Float]] = [[0.3, -0.2], [0.1, 0.4], [-0.3, 0.2]]
        var out: [Transition] = []
        for e in 0..<episodes {
            var s: [Float] = (0..<3).map { _ in rng.nextGaussian() }
            var previous: [Float] = [0, 0, 0]
            for step in 0..<4 {
                let a: [Float] = [rng.nextGaussian(), rng.nextGaussian()]
                let change = (0..<3).map { i in m[i][0] * a[0] + m[i][1] * a[1] + (carry ? 0.8 * previous[i] : 0) }
                let next = zip(s, change).map { $0 + $1 }
                out.append(Transition(
                    state0: state([.image: s]), action: Action(text: "a\(e).\(step)", embedding: Embedding(a)), state1: state([.image: next]),
                    provenance: Provenance(dataset: "lin", episode: "e\(e)", step: step, sampleID: "e\(e).\(step)")))
                previous = change
                s = next
            }
        }
        return out
    }

    func testRidgeRecoversALinearWorldAndMemoryAddsTheCarriedChange() throws {
        let modes = [TaskMode(inputs: [.image], targets: [.image])]
        let train = linearWorld(episodes: 30, carry: true, seed: 1), test = linearWorld(episodes: 10, carry: true, seed: 2)
        let base = try RidgeModel.train(samples: EvaluationSample.withHistory(train, maxSteps: 1), modes: modes, features: RidgeFeatureSet())
        let memory = try RidgeModel.train(
            samples: EvaluationSample.withHistory(train, maxSteps: 1), modes: modes, features: RidgeFeatureSet(memory: true))
        // 30 episodes: every 5th held out = 6 episodes × 4 steps.
        XCTAssertEqual(base.heads[RidgeHeadKey(target: .image, crossModal: false)]?.heldOutRows, 24)
        XCTAssertEqual(base.heads[RidgeHeadKey(target: .image, crossModal: false)]?.rows, 120)
        // A mode repeated (as single- and multi-unimodal modes repeat a target) adds no rows: the same fit.
        let repeated = try RidgeModel.train(samples: EvaluationSample.withHistory(train, maxSteps: 1), modes: modes + modes, features: RidgeFeatureSet())
        XCTAssertEqual(repeated.heads, base.heads)
        let evaluator = Evaluator(modes: modes)
        let samples = EvaluationSample.withHistory(test, maxSteps: 1)
        let baseScore = try XCTUnwrap(evaluator.evaluate(base, samples: samples).modalityMeans[.image])
        let memoryScore = try XCTUnwrap(evaluator.evaluate(memory, samples: samples).modalityMeans[.image])
        let identityScore = try XCTUnwrap(evaluator.evaluate(IdentityModel(), samples: samples).modalityMeans[.image])
        XCTAssertGreaterThan(baseScore, identityScore)
        // With the previous change the world is exactly linear in the features: (near) perfect predictions.
        XCTAssertGreaterThan(memoryScore, 99.9)
        XCTAssertGreaterThan(memoryScore, baseScore + 0.5)
    }

    func testCheckpointRoundTripPredictsTheSame() throws {
        let modes = [TaskMode(inputs: [.image], targets: [.image])]
        let train = linearWorld(episodes: 12, carry: false, seed: 3)
        var samples = EvaluationSample.withHistory(train, maxSteps: 1)
        for i in samples.indices { samples[i].context = [context([.image: [0, 0, 0]], [.image: [Float(i % 3), 1, 0]])] }
        let model = try RidgeModel.train(
            samples: samples, modes: modes, features: RidgeFeatureSet(memory: true, knowledge: true), actionEncoder: "hashed-2")
        let dir = try TemporaryDirectory(prefix: "ridge-checkpoint")
        defer { dir.remove() }
        try model.save(to: dir.url)
        let loaded = try RidgeModel.load(from: dir.url)
        XCTAssertEqual(loaded.layout, model.layout)
        XCTAssertEqual(loaded.heads, model.heads)
        XCTAssertEqual(loaded.actionEncoder, "hashed-2")
        XCTAssertEqual(loaded.lambdaGrid, RidgeSelection.defaultGrid)
        let inputs = samples.prefix(5).map {
            PredictionInput(state: $0.transition.state0, action: $0.transition.action, targets: [.image], context: $0.context, memory: $0.memory)
        }
        XCTAssertEqual(try loaded.predictBatch(inputs), try model.predictBatch(inputs))
        let (generic, encoder) = try SavedWorldModel.load(from: dir.url)
        XCTAssertTrue(generic is RidgeModel)
        XCTAssertEqual(encoder, "hashed-2")
        // A target without a head is refused by name.
        XCTAssertThrowsError(try loaded.predict(PredictionInput(state: inputs[0].state, action: inputs[0].action, targets: [.audio]))) {
            XCTAssertTrue("\($0)".contains("audio"), "\($0)")
        }
        // A weights file that does not fit ridge.json is refused naming the tensor.
        try SafeTensors.write([(name: "head.image.same", tensor: TensorData(floats: [1, 2], shape: [1, 2]))],
                              to: dir.url.appendingPathComponent(RidgeCheckpointLayout.weights))
        XCTAssertThrowsError(try RidgeModel.load(from: dir.url)) { XCTAssertTrue("\($0)".contains("head.image.same"), "\($0)") }
        XCTAssertThrowsError(try SavedWorldModel.load(from: dir.url.appendingPathComponent("missing")))
    }

    func testActionEffectIsTheActionBlockTimesTheActionPerSelfPredictingHead() throws {
        // F = 2 (state) + 2 (action) + 1 (bias) rows of D = 2: only rows 2 and 3 (the action block) may matter.
        let layout = RidgeFeatureLayout(stateWidth: 2, actionWidth: 2, features: RidgeFeatureSet())
        func head(_ action: [[Float]]) -> RidgeHead {
            RidgeHead(weights: [9, 9, 9, 9] + action[0] + action[1] + [7, 7], lambda: 1, rows: 1, heldOutRows: 0, heldOutErrors: [])
        }
        let model = RidgeModel(layout: layout, heads: [
            RidgeHeadKey(target: .audio, crossModal: false): head([[0, 1], [1, 0]]),
            RidgeHeadKey(target: .image, crossModal: false): head([[1, 2], [3, 4]]),
            RidgeHeadKey(target: .image, crossModal: true): head([[100, 100], [100, 100]]),
        ], lambdaGrid: [1], actionEncoder: nil)
        // action (1, −1): image 1·(1, 2) − 1·(3, 4) = (−2, −2); audio 1·(0, 1) − 1·(1, 0) = (−1, 1); image before audio.
        XCTAssertEqual(model.actionEffect([1, -1]), [-2, -2, -1, 1])
        XCTAssertNil(model.actionEffect([1, 2, 3]))
    }

    func testOnePassForSeveralFeatureSetsEqualsSeparateFits() throws {
        let modes = [TaskMode(inputs: [.image], targets: [.image])]
        var samples = EvaluationSample.withHistory(linearWorld(episodes: 30, carry: true, seed: 4), maxSteps: 1)
        for i in samples.indices where i % 4 != 0 { samples[i].context = [context([.image: [0, 0, 0]], [.image: [Float(i % 5) * 0.1, 1, 0]])] }
        let joint = try RidgeModel.train(samples: samples, modes: modes, featureSets: RidgeFeatureSet.allCasesForTests)
        for (features, model) in zip(RidgeFeatureSet.allCasesForTests, joint) {
            let alone = try RidgeModel.train(samples: samples, modes: modes, features: features)
            XCTAssertEqual(model.layout, alone.layout)
            for (key, head) in alone.heads {
                let other = try XCTUnwrap(model.heads[key])
                XCTAssertEqual(other.lambda, head.lambda, "\(features.name)")
                XCTAssertEqual(other.rows, head.rows)
                XCTAssertEqual(other.heldOutRows, head.heldOutRows)
                let scale = head.weights.map(abs).max() ?? 1
                for (a, b) in zip(other.weights, head.weights) { XCTAssertEqual(a, b, accuracy: 1e-5 * scale, "\(features.name)") }
            }
        }
    }
}

extension RidgeFeatureSet {
    static let allCasesForTests = [RidgeFeatureSet(), RidgeFeatureSet(memory: true), RidgeFeatureSet(knowledge: true), RidgeFeatureSet(memory: true, knowledge: true)]
}
