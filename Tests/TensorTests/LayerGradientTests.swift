// Every layer's backward against central finite differences (fixed seeds, small sizes).
import CKernels
import Tensor
import TestSupport
import XCTest

final class LayerGradientTests: XCTestCase {
    func testLinearBackwardMatchesFiniteDifferences() {
        let store = ParameterStore(seed: 3)
        let layer = Linear(store, "fc", inFeatures: 5, outFeatures: 4)
        var rng = SeededGenerator(seed: 11)
        checkLayer("Linear", layer: layer, store: store, input: Tensor(randomNormal: [2, 3, 5], using: &rng))
    }

    func testLinearForwardMatchesNaive() {
        let store = ParameterStore(seed: 5)
        let layer = Linear(store, "fc", inFeatures: 3, outFeatures: 2)
        var rng = SeededGenerator(seed: 2)
        let x = Tensor(randomNormal: [4, 3], using: &rng)
        let y = layer.forward(x)
        let w = store.value(layer.weight), b = store.value(layer.bias!)
        for n in 0..<4 {
            for o in 0..<2 {
                var e = b[o]
                for c in 0..<3 { e += x[n, c] * w[o, c] }
                XCTAssertEqual(y[n, o], e, accuracy: 1e-5)
            }
        }
    }

    func testLayerNormBackwardMatchesFiniteDifferences() {
        let store = ParameterStore(seed: 4)
        let layer = LayerNorm(store, "ln", dim: 6)
        // Non-trivial γ, β so their gradients are exercised.
        var rng = SeededGenerator(seed: 12)
        store.values = store.values.map { $0 + 0.3 * rng.nextGaussian() }
        checkLayer("LayerNorm", layer: layer, store: store, input: Tensor(randomNormal: [3, 6], using: &rng), eps: 1e-2)
    }

    func testLayerNormForwardNormalises() {
        let store = ParameterStore()
        let layer = LayerNorm(store, "ln", dim: 4, eps: 1e-12)
        let y = layer.forward(Tensor(shape: [1, 4], data: [1, 2, 3, 4]))
        // mean 2.5, variance 1.25 → (x − 2.5)/√1.25
        let expected: [Float] = [-1.5, -0.5, 0.5, 1.5].map { $0 / Float(1.25).squareRoot() }
        for i in 0..<4 { XCTAssertEqual(y.data[i], expected[i], accuracy: 1e-6) }
    }

    func testGELUBothFormsBackwardMatchFiniteDifferences() {
        var rng = SeededGenerator(seed: 13)
        let x = Tensor(randomNormal: [4, 5], std: 2, using: &rng)
        checkLayer("GELU erf", layer: GELU(form: .erf), store: nil, input: x, eps: 1e-3)
        checkLayer("GELU tanh", layer: GELU(form: .tanh), store: nil, input: x, eps: 1e-3)
    }

    /// The erf form runs in CKernels at the widest instruction set: at every level, every value (in the vector blocks
    /// and in the tail, specials included) equals Tensor's scalar formula bit for bit.
    func testVectorGELUEqualsTheScalarFormulaBitForBitAtEveryLevel() {
        var rng = SeededGenerator(seed: 31)
        var values = (0..<1_003).map { _ in rng.nextGaussian() * 4 }  // a tail after the 16- and 8-lane blocks
        values += [0, -0.0, 1e-30, -1e-30, 40, -40, 100, -100, .leastNonzeroMagnitude * 1000, -.leastNonzeroMagnitude * 1000, .infinity, -.infinity, .nan, .greatestFiniteMagnitude]
        let scalar = values.map { x in 0.5 * x * (1 + Kernels.erf(x * Float(0.70710678118654752))) }
        let saved = wgk_level()
        defer { _ = wgk_set_level(saved) }
        for level in 0...wgk_supported_level() {
            XCTAssertEqual(wgk_set_level(level), level)
            var out = [Float](repeating: 0, count: values.count)
            values.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { Kernels.geluForward(out: $0.baseAddress!, input: x.baseAddress!, count: x.count, form: .erf) }
            }
            XCTAssertEqual(out.map(\.bitPattern), scalar.map(\.bitPattern), "level \(level)")
            // In place, as the layers call it.
            var inPlace = values
            inPlace.withUnsafeMutableBufferPointer { Kernels.geluForward(out: $0.baseAddress!, input: $0.baseAddress!, count: $0.count, form: .erf) }
            XCTAssertEqual(inPlace.map(\.bitPattern), scalar.map(\.bitPattern), "level \(level), in place")
        }
    }

    /// Layer norm runs in CKernels, 16 (AVX-512) or 8 (AVX2) rows per vector: at every level, outputs, means and 1/stds
    /// equal the scalar loop's bit for bit (rows that fill whole vectors and a remainder, several widths, in place).
    func testVectorLayerNormEqualsTheScalarLoopBitForBitAtEveryLevel() {
        var rng = SeededGenerator(seed: 47)
        for (rows, dim) in [(37, 128), (16, 384), (9, 256), (3, 5), (20, 1)] {
            let x = (0..<(rows * dim)).map { _ in rng.nextGaussian() * 3 + 0.5 }
            let w = (0..<dim).map { _ in 1 + 0.2 * rng.nextGaussian() }, b = (0..<dim).map { _ in 0.1 * rng.nextGaussian() }
            let eps: Float = 1e-5
            // The scalar loop, as Tensor ran it before: sums in index order, then ((x − m)·s)·w + b.
            var expected = [Float](repeating: 0, count: rows * dim), means = [Float](repeating: 0, count: rows), rstds = means
            for r in 0..<rows {
                var m: Float = 0
                for i in 0..<dim { m += x[r * dim + i] }
                m /= Float(dim)
                var v: Float = 0
                for i in 0..<dim { let d = x[r * dim + i] - m; v += d * d }
                v /= Float(dim)
                let s = 1 / (v + eps).squareRoot()
                for i in 0..<dim { expected[r * dim + i] = (x[r * dim + i] - m) * s * w[i] + b[i] }
                (means[r], rstds[r]) = (m, s)
            }
            let saved = wgk_level()
            defer { _ = wgk_set_level(saved) }
            for level in 0...wgk_supported_level() {
                XCTAssertEqual(wgk_set_level(level), level)
                var out = [Float](repeating: 0, count: rows * dim), mean = [Float](repeating: 0, count: rows), rstd = mean
                Kernels.layerNormForward(out: &out, mean: &mean, rstd: &rstd, input: x, weight: w, bias: b, rows: rows, dim: dim, eps: eps)
                XCTAssertEqual(out.map(\.bitPattern), expected.map(\.bitPattern), "level \(level), \(rows) × \(dim)")
                XCTAssertEqual(mean.map(\.bitPattern), means.map(\.bitPattern), "level \(level), \(rows) × \(dim)")
                XCTAssertEqual(rstd.map(\.bitPattern), rstds.map(\.bitPattern), "level \(level), \(rows) × \(dim)")
                var inPlace = x
                inPlace.withUnsafeMutableBufferPointer { p in
                    Kernels.layerNormForward(out: p.baseAddress!, mean: nil, rstd: nil, input: p.baseAddress!, weight: w, bias: b,
                                             rows: rows, dim: dim, eps: eps)
                }
                XCTAssertEqual(inPlace.map(\.bitPattern), expected.map(\.bitPattern), "level \(level), \(rows) × \(dim), in place")
            }
        }
    }

    /// The backward kernels of GELU (erf form) and layer norm run in CKernels: at every level they add exactly what the
    /// scalar loops added (those loops, as Tensor ran them before, are the reference here).
    func testVectorGELUAndLayerNormBackwardEqualTheScalarLoopsBitForBitAtEveryLevel() {
        var rng = SeededGenerator(seed: 53)
        let saved = wgk_level()
        defer { _ = wgk_set_level(saved) }
        // GELU: 1,003 values (a tail after the vector blocks) plus specials.
        var xs = (0..<1_003).map { _ in rng.nextGaussian() * 4 }
        xs += [0, -0.0, 40, -40, .leastNonzeroMagnitude * 1000, .infinity, -.infinity]
        let dys = xs.indices.map { _ in rng.nextGaussian() }, start = xs.indices.map { _ in rng.nextGaussian() }
        var expectedGELU = start
        for i in xs.indices {
            let x = xs[i]
            let cdf = 0.5 * (1 + Kernels.erf(x * Float(0.70710678118654752)))
            let pdf = Float(0.39894228040143268) * Kernels.expNonPositive(-0.5 * x * x)
            expectedGELU[i] += (cdf + x * pdf) * dys[i]
        }
        // Layer norm: 37 rows (two blocks of 16 and a remainder) of width 128, then 5 × 7.
        for (rows, dim) in [(37, 128), (5, 7)] {
            let x = (0..<(rows * dim)).map { _ in rng.nextGaussian() * 2 + 0.3 }, dy = (0..<(rows * dim)).map { _ in rng.nextGaussian() }
            let w = (0..<dim).map { _ in 1 + 0.2 * rng.nextGaussian() }
            let mean = (0..<rows).map { r in x[(r * dim)..<((r + 1) * dim)].reduce(0, +) / Float(dim) }
            let rstd = (0..<rows).map { _ in 0.5 + abs(rng.nextGaussian()) }
            let dx0 = x.indices.map { _ in rng.nextGaussian() }, dw0 = w.map { $0 * 0.1 }, db0 = w.map { $0 * -0.1 }
            var (dx, dw, db) = (dx0, dw0, db0)
            for r in 0..<rows {
                let m = mean[r], s = rstd[r]
                var a: Float = 0, c: Float = 0
                for i in 0..<dim {
                    let norm = (x[r * dim + i] - m) * s, dNorm = w[i] * dy[r * dim + i]
                    a += dNorm
                    c += dNorm * norm
                }
                a /= Float(dim)
                c /= Float(dim)
                for i in 0..<dim {
                    let norm = (x[r * dim + i] - m) * s, dNorm = w[i] * dy[r * dim + i]
                    db[i] += dy[r * dim + i]
                    dw[i] += norm * dy[r * dim + i]
                    dx[r * dim + i] += (dNorm - a - norm * c) * s
                }
            }
            for level in 0...wgk_supported_level() {
                XCTAssertEqual(wgk_set_level(level), level)
                var (gx, gw, gb) = (dx0, dw0, db0)
                Kernels.layerNormBackward(dInput: &gx, dWeight: &gw, dBias: &gb, dOut: dy, input: x, weight: w, mean: mean, rstd: rstd, rows: rows, dim: dim)
                XCTAssertEqual(gx.map(\.bitPattern), dx.map(\.bitPattern), "level \(level), \(rows) × \(dim)")
                XCTAssertEqual(gw.map(\.bitPattern), dw.map(\.bitPattern), "level \(level), \(rows) × \(dim)")
                XCTAssertEqual(gb.map(\.bitPattern), db.map(\.bitPattern), "level \(level), \(rows) × \(dim)")
                var onlyX = dx0
                Kernels.layerNormBackward(dInput: &onlyX, dWeight: nil, dBias: nil, dOut: dy, input: x, weight: w, mean: mean, rstd: rstd, rows: rows, dim: dim)
                XCTAssertEqual(onlyX.map(\.bitPattern), dx.map(\.bitPattern), "level \(level), without dweight and dbias")
            }
        }
        for level in 0...wgk_supported_level() {
            XCTAssertEqual(wgk_set_level(level), level)
            var dx = start
            Kernels.geluBackward(dInput: &dx, input: xs, dOut: dys, count: xs.count, form: .erf)
            XCTAssertEqual(dx.map(\.bitPattern), expectedGELU.map(\.bitPattern), "level \(level)")
        }
    }

    func testGELUValuesMatchReference() {
        // Reference values: torch.nn.functional.gelu(x) and gelu(x, approximate="tanh") at x = −1, 0.5, 2.
        let x = Tensor(shape: [3], data: [-1, 0.5, 2])
        let erfOut = GELU(form: .erf).forward(x).data
        let tanhOut = GELU(form: .tanh).forward(x).data
        let erfExpected: [Float] = [-0.15865526, 0.34573123, 1.9544997]
        let tanhExpected: [Float] = [-0.15880801, 0.34571401, 1.9545977]
        for i in 0..<3 {
            XCTAssertEqual(erfOut[i], erfExpected[i], accuracy: 1e-6)
            XCTAssertEqual(tanhOut[i], tanhExpected[i], accuracy: 1e-6)
        }
    }

    func testSoftmaxBackwardMatchesFiniteDifferences() {
        var rng = SeededGenerator(seed: 14)
        checkLayer("Softmax", layer: Softmax(), store: nil, input: Tensor(randomNormal: [3, 7], using: &rng), eps: 1e-3)
    }

    func testSoftmaxRowsSumToOneAndResistOverflow() {
        let y = Softmax().forward(Tensor(shape: [2, 3], data: [1000, 1001, 1002, -5, 0, 5]))
        XCTAssertEqual(y.row(0).reduce(0, +), 1, accuracy: 1e-6)
        XCTAssertEqual(y[0, 2], 0.66524096, accuracy: 1e-6)
        XCTAssertEqual(y[1, 0], 4.5094e-05, accuracy: 1e-8)
    }

    func testEmbeddingBackwardScatterAddsMatchesFiniteDifferences() {
        let store = ParameterStore(seed: 6)
        let emb = Embedding(store, "tok", vocabularySize: 5, dim: 3, std: 1)
        let ids = [1, 4, 1, 0]  // id 1 repeats: its gradient must accumulate
        var rng = SeededGenerator(seed: 15)
        let r = Tensor(randomNormal: [2, 2, 3], using: &rng)
        let out = emb.forward(ids: ids, shape: [2, 2])
        XCTAssertEqual(out.shape, [2, 2, 3])
        XCTAssertEqual(out.row(2), Array(store.values[3..<6]))
        store.zeroGradients()
        emb.backward(r)
        assertGradientsMatch("Embedding", analytic: store.gradients, count: store.count,
                             perturb: { store.values[$0] += $1 }, loss: { weightedSum(emb.forward(ids: ids, shape: [2, 2]), r) })
        XCTAssertEqual(store.gradients[2 * 3], 0)  // id 2 unused
    }

    func testDropoutIsSeededInvertedAndIdentityAtInference() {
        var rng = SeededGenerator(seed: 16)
        let x = Tensor(randomNormal: [1000], using: &rng)
        let a = Dropout(probability: 0.25, seed: 9), b = Dropout(probability: 0.25, seed: 9)
        let ya = a.forward(x), yb = b.forward(x)
        XCTAssertEqual(ya, yb, "same seed, same mask")
        let kept = ya.data.filter { $0 != 0 }.count
        XCTAssertEqual(Double(kept) / 1000, 0.75, accuracy: 0.05)
        for i in 0..<1000 where ya.data[i] != 0 { XCTAssertEqual(ya.data[i], x.data[i] / 0.75, accuracy: 1e-5) }
        // Backward applies the same mask: check against finite differences through a fixed mask.
        let r = Tensor(randomNormal: [1000], using: &rng)
        let dx = a.backward(r)
        for i in 0..<1000 { XCTAssertEqual(dx.data[i], ya.data[i] == 0 ? 0 : r.data[i] / 0.75, accuracy: 1e-5) }
        a.training = false
        XCTAssertEqual(a.forward(x), x)
    }

    func testResidualAddGradientFlowsToBothBranches() {
        // y = x + f(x) with f = Linear: dx = dy + f.backward(dy).
        let store = ParameterStore(seed: 8)
        let f = Linear(store, "f", inFeatures: 4, outFeatures: 4)
        final class Residual: Layer {
            let inner: Linear
            init(_ inner: Linear) { self.inner = inner }
            func forward(_ x: Tensor) -> Tensor { x + inner.forward(x) }
            func backward(_ d: Tensor) -> Tensor { d + inner.backward(d) }
        }
        var rng = SeededGenerator(seed: 17)
        checkLayer("Residual", layer: Residual(f), store: store, input: Tensor(randomNormal: [3, 4], using: &rng))
    }

    func testSequentialChainsForwardAndBackward() {
        let store = ParameterStore(seed: 10)
        let mlp = Sequential([
            Linear(store, "fc1", inFeatures: 4, outFeatures: 8), GELU(form: .tanh),
            Linear(store, "fc2", inFeatures: 8, outFeatures: 3), LayerNorm(store, "ln", dim: 3),
        ])
        var rng = SeededGenerator(seed: 18)
        checkLayer("MLP", layer: mlp, store: store, input: Tensor(randomNormal: [2, 4], using: &rng))
    }
}
