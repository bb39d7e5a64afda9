// Tests of the learned reflector: the recorded PyTorch outputs, a naive float64 oracle for other depths/widths/bf16,
// gradients against finite differences of the oracle, a training step, and checkpoint checks reported by name.
import ContextReflector
import Foundation
import Tensor
import TestSupport
import XCTest

/// Random values in a tensor of `shape` (standard normal × `scale`).
func random(_ shape: [Int], _ rng: inout SeededGenerator, scale: Float = 1) -> Tensor {
    Tensor(shape: shape, data: (0..<shape.reduce(1, *)).map { _ in rng.nextGaussian() * scale })
}

/// The oracle over a reflector's current parameters.
func reference(_ r: LearnedReflector) -> ReferenceReflector {
    var weights: [String: [Double]] = [:], shapes: [String: [Int]] = [:]
    for p in r.store.parameters {
        weights[p.name] = r.store.values[p.range].map(Double.init)
        shapes[p.name] = p.shape
    }
    return ReferenceReflector(weights: weights, shapes: shapes, heads: r.config.heads, eps: Double(r.config.layerNormEps))
}

/// The oracle's tokens for a batch, flattened [B, Q, O].
func referenceTokens(_ ref: ReferenceReflector, _ input: ReflectorInput, layers: Int) -> [Double] {
    let b = input.state0.shape[0], ds = input.state0.lastDimension, da = input.action.lastDimension
    let l = input.context.shape[1], cw = input.context.shape[2]
    var out: [Double] = []
    for r in 0..<b {
        let s = input.state0.data[(r * ds)..<((r + 1) * ds)].map(Double.init)
        let a = input.action.data[(r * da)..<((r + 1) * da)].map(Double.init)
        let c = (0..<l).map { j in input.context.data[((r * l + j) * cw)..<((r * l + j + 1) * cw)].map(Double.init) }
        out += ref.forward(state0: s, action: a, context: c, layers: layers).flatMap { $0 }
    }
    return out
}

func maxAbsDifference(_ a: [Float], _ b: [Double]) -> Double {
    precondition(a.count == b.count)
    return zip(a, b).reduce(0) { max($0, abs(Double($1.0) - $1.1)) }
}

/// Fills every parameter with N(0, scale) noise (LayerNorm weights around 1), so no part of the graph is trivial.
func randomize(_ r: LearnedReflector, seed: UInt64, scale: Float = 0.3) {
    var rng = SeededGenerator(seed: seed)
    for p in r.store.parameters {
        let base: Float = p.name.hasSuffix("LayerNorm.weight") ? 1 : 0
        r.store.setValue(p, Tensor(shape: p.shape, data: (0..<p.count).map { _ in base + rng.nextGaussian() * scale }))
    }
}

let tinyConfig = LearnedReflectorConfig(
    inputWidth: 12, contextWidth: 6, encoderWidth: 10, hiddenWidth: 8, outputWidth: 5, queryTokenCount: 3, layerCount: 2,
    crossAttentionEvery: 1, heads: 2, intermediateWidth: 16)

final class LearnedReflectorTests: XCTestCase {
    func testBadInputsAreRejectedByName() throws {
        let r = try LearnedReflector(config: tinyConfig, seed: 1)
        var rng = SeededGenerator(seed: 3)
        let good = ReflectorInput(state0: random([2, 6], &rng), action: random([2, 6], &rng), context: random([2, 3, 6], &rng))
        XCTAssertNoThrow(try r.forward(good))
        var wrong = good
        wrong.context = random([2, 3, 7], &rng)
        XCTAssertThrowsError(try r.forward(wrong)) { XCTAssertTrue("\($0)".contains("'context': shape [2, 3, 7]"), "\($0)") }
        wrong = good
        wrong.action = random([2, 5], &rng)
        XCTAssertThrowsError(try r.forward(wrong)) { XCTAssertTrue("\($0)".contains("'action'"), "\($0)") }
        wrong = good
        wrong.state0.data[0] = .nan
        XCTAssertThrowsError(try r.forward(wrong)) { XCTAssertTrue("\($0)".contains("'state0': holds NaN"), "\($0)") }
    }

    // MARK: backward

    func testBackwardMatchesFiniteDifferencesOfTheOracle() throws {
        for config in [tinyConfig, { var c = tinyConfig; c.crossAttention = [false, true]; return c }()] {
            let r = try LearnedReflector(config: config, seed: 11)
            randomize(r, seed: 12, scale: 0.5)
            var rng = SeededGenerator(seed: 13)
            let input = ReflectorInput(state0: random([2, 6], &rng), action: random([2, 6], &rng), context: random([2, 3, 6], &rng))
            let weights = random([2, 3, 5], &rng)  // loss = Σ tokens · weights
            r.store.zeroGradients()
            _ = try r.forward(input)
            let dInput = r.backward(weights)

            var ref = reference(r)
            func loss(_ ref: ReferenceReflector, _ input: ReflectorInput) -> Double {
                zip(referenceTokens(ref, input, layers: 2), weights.data).reduce(0) { $0 + $1.0 * Double($1.1) }
            }
            let h = 1e-5
            var worst = 0.0
            for p in r.store.parameters {
                for k in 0..<p.count {
                    let saved = ref.weights[p.name]![k]
                    ref.weights[p.name]![k] = saved + h
                    let up = loss(ref, input)
                    ref.weights[p.name]![k] = saved - h
                    let down = loss(ref, input)
                    ref.weights[p.name]![k] = saved
                    let numeric = (up - down) / (2 * h)
                    let analytic = Double(r.store.gradients[p.offset + k])
                    let error = abs(analytic - numeric) / max(1, abs(numeric))
                    worst = max(worst, error)
                    XCTAssertLessThan(error, 1e-3, "\(p.name)[\(k)]: analytic \(analytic), numeric \(numeric)")
                    if error >= 1e-3 { return }
                }
            }
            // Input gradients, with the inputs perturbed in float64 (a Float step would be too coarse).
            let b = 2, l = 3
            let s0 = (0..<b).map { r in input.state0.data[(r * 6)..<((r + 1) * 6)].map(Double.init) }
            let a0 = (0..<b).map { r in input.action.data[(r * 6)..<((r + 1) * 6)].map(Double.init) }
            let c0 = (0..<b).map { r in (0..<l).map { j in input.context.data[((r * l + j) * 6)..<((r * l + j + 1) * 6)].map(Double.init) } }
            func inputLoss(_ s: [[Double]], _ a: [[Double]], _ c: [[[Double]]]) -> Double {
                let tokens = (0..<b).flatMap { ref.forward(state0: s[$0], action: a[$0], context: c[$0], layers: 2).flatMap { $0 } }
                return zip(tokens, weights.data).reduce(0) { $0 + $1.0 * Double($1.1) }
            }
            func check(_ name: String, _ analytic: Float, _ up: Double, _ down: Double) {
                let numeric = (up - down) / (2 * h)
                let error = abs(Double(analytic) - numeric) / max(1, abs(numeric))
                worst = max(worst, error)
                XCTAssertLessThan(error, 1e-3, "\(name): analytic \(analytic), numeric \(numeric)")
            }
            for r in 0..<b {
                for k in 0..<6 {
                    var up = s0, down = s0
                    up[r][k] += h
                    down[r][k] -= h
                    check("dstate0[\(r),\(k)]", dInput.state0.data[r * 6 + k], inputLoss(up, a0, c0), inputLoss(down, a0, c0))
                    var upA = a0, downA = a0
                    upA[r][k] += h
                    downA[r][k] -= h
                    check("daction[\(r),\(k)]", dInput.action.data[r * 6 + k], inputLoss(s0, upA, c0), inputLoss(s0, downA, c0))
                    for j in 0..<l {
                        var upC = c0, downC = c0
                        upC[r][j][k] += h
                        downC[r][j][k] -= h
                        check("dcontext[\(r),\(j),\(k)]", dInput.context.data[(r * l + j) * 6 + k], inputLoss(s0, a0, upC), inputLoss(s0, a0, downC))
                    }
                }
            }
            print("reflector backward vs finite differences (cross \(config.crossAttention)): worst relative error \(worst)")
        }
    }

    func testATrainingStepLowersTheLoss() throws {
        let r = try LearnedReflector(config: tinyConfig, seed: 21)
        var rng = SeededGenerator(seed: 22)
        let input = ReflectorInput(state0: random([4, 6], &rng), action: random([4, 6], &rng), context: random([4, 3, 6], &rng))
        let target = random([4, 3, 5], &rng)
        func mse() throws -> (loss: Double, gradient: Tensor) {
            let out = try r.forward(input)
            let diff = out - target
            let n = Double(diff.count)
            return (diff.data.reduce(0) { $0 + Double($1) * Double($1) } / n, diff * Float(2 / n))
        }
        let optimizer = AdamW(learningRate: 1e-2, weightDecay: 0)
        let (before, _) = try mse()
        var loss = before
        for _ in 0..<20 {
            r.store.zeroGradients()
            let (l, g) = try mse()
            loss = l
            _ = r.backward(g)
            optimizer.step(r.store)
        }
        let (after, _) = try mse()
        print("reflector training: MSE \(before) → \(after) after 20 AdamW steps (last step loss \(loss))")
        XCTAssertLessThan(after, before * 0.5)
    }
}
