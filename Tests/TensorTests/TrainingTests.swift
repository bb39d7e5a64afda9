// Losses (values against hand computation, gradients against finite differences), AdamW, clipping, schedule.
import Foundation
import Tensor
import TestSupport
import XCTest

final class TrainingTests: XCTestCase {
    private func checkLoss(_ label: String, _ f: (Tensor, Tensor) -> LossResult) {
        var rng = SeededGenerator(seed: 31)
        var p = Tensor(randomNormal: [3, 5], using: &rng)
        let t = Tensor(randomNormal: [3, 5], using: &rng)
        let g = f(p, t).gradient
        assertGradientsMatch(label, analytic: g.data, count: p.count, perturb: { p.data[$0] += $1 },
                             loss: { Double(f(p, t).value) }, eps: 1e-2, tolerance: 1e-2)
    }

    func testLossGradientsMatchFiniteDifferences() {
        checkLoss("cosine") { Loss.cosine(prediction: $0, target: $1) }
        checkLoss("mse") { Loss.mse(prediction: $0, target: $1) }
        checkLoss("l2") { Loss.l2(prediction: $0, target: $1) }
    }

    func testLossValuesByHand() {
        let p = Tensor(shape: [2, 2], data: [1, 0, 3, 4])
        let t = Tensor(shape: [2, 2], data: [0, 1, 3, 4])
        // cos rows: 0 and 1 → mean(1 − cos) = 0.5
        XCTAssertEqual(Loss.cosine(prediction: p, target: t).value, 0.5, accuracy: 1e-6)
        // squared diffs 1, 1, 0, 0 → mean 0.5
        XCTAssertEqual(Loss.mse(prediction: p, target: t).value, 0.5, accuracy: 1e-6)
        // row distances √2 and 0 → mean √2/2
        XCTAssertEqual(Loss.l2(prediction: p, target: t).value, Float(2.0.squareRoot() / 2), accuracy: 1e-6)
        // A zero row has a zero gradient, not NaN.
        let zero = Loss.l2(prediction: t, target: t)
        XCTAssertFalse(zero.gradient.data.contains { $0.isNaN })
    }

    func testAdamWFirstStepsMatchHandComputation() {
        let store = ParameterStore()
        let w = store.add("w", shape: [1, 2], initializer: .values([1, -2]))
        let b = store.add("b", shape: [1], initializer: .values([0.5]))
        let opt = AdamW(learningRate: 0.1, weightDecay: 0.5)
        // Two steps with constant gradient g: m̂ = g, v̂ = g² ⇒ update = lr·(sign(g)·|g|/(|g|+eps) + wd·w).
        var expected: [Double] = [1, -2, 0.5]
        let grads: [Float] = [0.2, -3, 1]
        for _ in 0..<2 {
            store.gradients = grads
            opt.step(store)
            for i in 0..<3 {
                let g = Double(grads[i])
                let wd = i < 2 ? 0.5 : 0  // the bias (rank 1) does not decay
                expected[i] -= 0.1 * (g / (abs(g) + 1e-8) + wd * expected[i])
            }
        }
        for i in 0..<3 { XCTAssertEqual(Double(store.values[i]), expected[i], accuracy: 1e-5) }
        XCTAssertEqual(opt.stepCount, 2)
        _ = (w, b)
    }

    func testAdamWBiasCorrectionWithChangingGradient() {
        // One parameter, gradients 1 then 3, no decay: compare with the textbook recursion in Double.
        let store = ParameterStore()
        store.add("p", shape: [1], initializer: .values([0]))
        let opt = AdamW(learningRate: 0.01, beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0)
        var m = 0.0, v = 0.0, p = 0.0
        for (step, g) in [1.0, 3.0].enumerated() {
            store.gradients = [Float(g)]
            opt.step(store)
            m = 0.9 * m + 0.1 * g
            v = 0.99 * v + 0.01 * g * g
            let mHat = m / (1 - pow(0.9, Double(step + 1))), vHat = v / (1 - pow(0.99, Double(step + 1)))
            p -= 0.01 * mHat / (vHat.squareRoot() + 1e-8)
        }
        XCTAssertEqual(Double(store.values[0]), p, accuracy: 1e-6)
    }

    func testFrozenParametersDoNotMove() {
        let store = ParameterStore()
        store.add("enc.w", shape: [2], initializer: .values([1, 2]))
        store.add("head.w", shape: [2], initializer: .values([3, 4]))
        store.setFrozen(true, prefix: "enc.")
        store.gradients = [1, 1, 1, 1]
        AdamW(learningRate: 0.1).step(store)
        XCTAssertEqual(Array(store.values[0..<2]), [1, 2])
        XCTAssertNotEqual(store.values[2], 3)
    }

    /// Frozen layers pass the same gradient back to their input but compute none for their own parameters.
    func testFrozenLayersPassTheSameInputGradientAndKeepNoParameterGradient() {
        var rng = SeededGenerator(seed: 61)
        let store = ParameterStore(seed: 3)
        let linear = Linear(store, "enc.linear", inFeatures: 6, outFeatures: 5)
        let norm = LayerNorm(store, "enc.norm", dim: 5)
        let head = Linear(store, "head", inFeatures: 5, outFeatures: 2)
        let x = Tensor(randomNormal: [4, 6], std: 1, using: &rng), dy = Tensor(randomNormal: [4, 2], std: 1, using: &rng)
        func inputGradient() -> Tensor {
            store.zeroGradients()
            _ = head.forward(norm.forward(linear.forward(x)))
            return linear.backward(norm.backward(head.backward(dy)))
        }
        let learning = inputGradient()
        let learnedGradients = store.gradients
        store.setFrozen(true, prefix: "enc.")
        let frozen = inputGradient()
        XCTAssertEqual(frozen.data.map(\.bitPattern), learning.data.map(\.bitPattern))
        for p in store.parameters {
            let g = Array(store.gradients[p.range]), before = Array(learnedGradients[p.range])
            if p.name.hasPrefix("enc.") {
                XCTAssertTrue(g.allSatisfy { $0 == 0 }, "\(p.name) is frozen")
                XCTAssertTrue(before.contains { $0 != 0 }, "\(p.name) had a gradient while learning")
            } else {
                XCTAssertEqual(g, before, p.name)
            }
        }
    }

    /// The vectorised AdamW (16 lanes, the elements split over two threads) equals the scalar loop bit for bit over
    /// several steps: parameters of odd sizes, one frozen, decayed and not.
    func testAdamWEqualsTheScalarLoopBitForBit() {
        var rng = SeededGenerator(seed: 67)
        let store = ParameterStore(seed: 5)
        store.add("big.w", shape: [301, 250], initializer: .uniform(bound: 0.1))
        store.add("big.b", shape: [17], initializer: .uniform(bound: 0.1))
        store.add("enc.w", shape: [5, 3], initializer: .uniform(bound: 0.1))
        store.add("head.w", shape: [3, 7], initializer: .uniform(bound: 0.1))
        store.setFrozen(true, prefix: "enc.")
        let optimizer = AdamW(learningRate: 3e-3, weightDecay: 0.05)
        var w = store.values, m = [Float](repeating: 0, count: store.count), v = m
        for step in 1...4 {
            store.gradients = (0..<store.count).map { _ in rng.nextGaussian() }
            optimizer.step(store, learningRate: 2e-3)
            // The scalar loop, as AdamW ran it before.
            let c1 = 1 - Float(pow(Double(optimizer.beta1), Double(step))), c2 = 1 - Float(pow(Double(optimizer.beta2), Double(step)))
            let (b1, b2, eps, lr) = (optimizer.beta1, optimizer.beta2, optimizer.epsilon, Float(2e-3))
            for p in store.parameters where !p.name.hasPrefix("enc.") {
                let wd = p.shape.count >= 2 ? optimizer.weightDecay : 0
                for i in p.range {
                    let gi = store.gradients[i]
                    m[i] = b1 * m[i] + (1 - b1) * gi
                    v[i] = b2 * v[i] + (1 - b2) * gi * gi
                    let mHat = m[i] / c1, vHat = v[i] / c2
                    w[i] -= lr * (mHat / (vHat.squareRoot() + eps) + wd * w[i])
                }
            }
            XCTAssertEqual(store.values.map(\.bitPattern), w.map(\.bitPattern), "step \(step)")
        }
    }

    func testClipGradientsToGlobalNorm() {
        let store = ParameterStore()
        store.add("a", shape: [2], initializer: .zeros)
        store.add("b", shape: [1], initializer: .zeros)
        store.gradients = [3, 0, 4]
        let norm = store.clipGradients(maxNorm: 1)
        XCTAssertEqual(norm, 5, accuracy: 1e-6)
        XCTAssertEqual(store.gradientNorm(), 1, accuracy: 1e-5)
        XCTAssertEqual(store.gradients[0], 0.6, accuracy: 1e-5)
        store.gradients = [0.3, 0, 0.4]
        store.clipGradients(maxNorm: 1)
        XCTAssertEqual(store.gradients, [0.3, 0, 0.4], "below the threshold nothing changes")
    }

    func testWarmupCosineSchedule() {
        let s = WarmupCosineSchedule(peak: 1e-3, minimum: 1e-4, warmupSteps: 10, totalSteps: 110)
        XCTAssertEqual(s.learningRate(at: 0), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.learningRate(at: 9), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.learningRate(at: 10), 1e-3, accuracy: 1e-9)
        XCTAssertEqual(s.learningRate(at: 60), 5.5e-4, accuracy: 1e-9)  // halfway: (peak + min)/2
        XCTAssertEqual(s.learningRate(at: 110), 1e-4, accuracy: 1e-9)
        XCTAssertEqual(s.learningRate(at: 500), 1e-4, accuracy: 1e-9)
    }

    func testTinyRegressionTrainsDown() {
        // A 2-layer MLP fits a fixed linear map: the cosine + MSE loss must fall by 10× in 200 AdamW steps.
        let store = ParameterStore(seed: 41)
        let net = Sequential([Linear(store, "l1", inFeatures: 4, outFeatures: 16), GELU(), Linear(store, "l2", inFeatures: 16, outFeatures: 3)])
        var rng = SeededGenerator(seed: 42)
        let x = Tensor(randomNormal: [32, 4], using: &rng)
        let m = Tensor(randomNormal: [3, 4], using: &rng)
        let y = Tensor.matmul(x, m, transposeB: true)
        let opt = AdamW(learningRate: 1e-2, weightDecay: 0)
        var first: Float = 0, last: Float = 0
        for step in 0..<200 {
            store.zeroGradients()
            let loss = Loss.mse(prediction: net.forward(x), target: y)
            _ = net.backward(loss.gradient)
            store.clipGradients(maxNorm: 5)
            opt.step(store)
            if step == 0 { first = loss.value }
            last = loss.value
        }
        XCTAssertLessThan(last, first / 10, "loss \(first) → \(last)")
    }
}

/// The worked example of docs/tensor.md at toy sizes: it must compile as written and learn.
final class DocsExampleTests: XCTestCase {
    func testPreLNTransformerTrainingStepLowersCosineLoss() {
        let store = ParameterStore(seed: 42)
        let embedIn = Linear(store, "in_proj", inFeatures: 6, outFeatures: 8)
        let blocks = (0..<2).map { PreLNTransformerBlock(store, "blocks.\($0)", width: 8, heads: 2) }
        let finalNorm = LayerNorm(store, "ln_f", dim: 8)
        let head = Linear(store, "head", inFeatures: 8, outFeatures: 6)
        let optimizer = AdamW(learningRate: 3e-3, weightDecay: 0.01)
        let schedule = WarmupCosineSchedule(peak: 3e-3, minimum: 3e-4, warmupSteps: 5, totalSteps: 60)

        func trainStep(_ step: Int, inputs: Tensor, mask: Tensor, targets: Tensor) -> Float {
            var h = embedIn.forward(inputs)
            for block in blocks { h = block.forward(h, keyMask: mask) }
            let prediction = head.forward(finalNorm.forward(h))
            let loss = Loss.cosine(prediction: prediction, target: targets)
            store.zeroGradients()
            var d = finalNorm.backward(head.backward(loss.gradient))
            for block in blocks.reversed() { d = block.backward(d) }
            _ = embedIn.backward(d)
            store.clipGradients(maxNorm: 1)
            optimizer.step(store, learningRate: schedule.learningRate(at: step))
            return loss.value
        }

        var rng = SeededGenerator(seed: 43)
        let inputs = Tensor(randomNormal: [4, 3, 6], using: &rng)
        let targets = Tensor(randomNormal: [4, 3, 6], using: &rng)
        let mask = Tensor(zeros: [4, 3], value: 1)
        let first = trainStep(0, inputs: inputs, mask: mask, targets: targets)
        var last = first
        for step in 1..<60 { last = trainStep(step, inputs: inputs, mask: mask, targets: targets) }
        XCTAssertLessThan(last, first * 0.5, "cosine loss \(first) → \(last)")
    }
}
