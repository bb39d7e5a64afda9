// Multi-head attention: forward against a naive per-head reference, backward against finite differences.
import Tensor
import TestSupport
import XCTest

final class AttentionTests: XCTestCase {
    /// Naive attention on the projected Q, K, V: per batch, head and query, a masked softmax over keys.
    private func naiveAttention(q: Tensor, k: Tensor, v: Tensor, heads: Int, mask: Tensor?, causal: Bool) -> Tensor {
        let b = q.shape[0], t = q.shape[1], s = k.shape[1], c = q.shape[2], dh = c / heads
        var out = Tensor(zeros: [b, t, c])
        for bi in 0..<b {
            for h in 0..<heads {
                for i in 0..<t {
                    var scores = [Double](repeating: -.infinity, count: s)
                    for j in 0..<s {
                        if let mask, mask[bi, j] < 0.5 { continue }
                        if causal && j > i + (s - t) { continue }
                        var dot = 0.0
                        for d in 0..<dh { dot += Double(q[bi, i, h * dh + d]) * Double(k[bi, j, h * dh + d]) }
                        scores[j] = dot / Double(dh).squareRoot()
                    }
                    let mx = scores.max() ?? -.infinity
                    guard mx > -.infinity else { continue }
                    let e = scores.map { exp($0 - mx) }
                    let z = e.reduce(0, +)
                    for d in 0..<dh {
                        var acc = 0.0
                        for j in 0..<s { acc += e[j] / z * Double(v[bi, j, h * dh + d]) }
                        out[bi, i, h * dh + d] = Float(acc)
                    }
                }
            }
        }
        return out
    }

    private func checkForward(causal: Bool, cross: Bool) {
        let store = ParameterStore(seed: 21)
        let mha = MultiHeadAttention(store, names: .plain("attn"), width: 8, heads: 2, contextWidth: cross ? 6 : nil, causal: causal)
        var rng = SeededGenerator(seed: 22)
        let x = Tensor(randomNormal: [2, 3, 8], using: &rng)
        let ctx = cross ? Tensor(randomNormal: [2, 4, 6], using: &rng) : x
        let s = ctx.shape[1]
        var maskValues = [Float](repeating: 1, count: 2 * s)
        maskValues[2 * s - 1] = 0  // last key of the second sequence is padding
        let mask = Tensor(shape: [2, s], data: maskValues)
        let y = mha.forward(x, context: cross ? ctx : nil, keyMask: mask)
        let q = mha.query.forward(x), k = mha.key.forward(ctx), v = mha.value.forward(ctx)
        let expected = mha.output.forward(naiveAttention(q: q, k: k, v: v, heads: 2, mask: mask, causal: causal))
        for i in 0..<y.count { XCTAssertEqual(y.data[i], expected.data[i], accuracy: 1e-5, "causal \(causal) cross \(cross) [\(i)]") }
    }

    func testSelfAttentionForwardMatchesNaive() { checkForward(causal: false, cross: false) }
    func testCausalSelfAttentionForwardMatchesNaive() { checkForward(causal: true, cross: false) }
    func testCrossAttentionForwardMatchesNaive() { checkForward(causal: false, cross: true) }

    func testPaddedKeyChangesNothing() {
        // Appending a masked key with arbitrary values must leave the output unchanged.
        let store = ParameterStore(seed: 23)
        let mha = MultiHeadAttention(store, names: .bert("a"), width: 4, heads: 2, contextWidth: 3)
        var rng = SeededGenerator(seed: 24)
        let x = Tensor(randomNormal: [1, 2, 4], using: &rng)
        let ctx = Tensor(randomNormal: [1, 3, 3], using: &rng)
        let padded = Tensor(shape: [1, 4, 3], data: ctx.data + [50, -50, 9])
        let y1 = mha.forward(x, context: ctx)
        let y2 = mha.forward(x, context: padded, keyMask: Tensor(shape: [1, 4], data: [1, 1, 1, 0]))
        for i in 0..<y1.count { XCTAssertEqual(y1.data[i], y2.data[i], accuracy: 1e-6) }
        XCTAssertNotNil(store["a.self.query.weight"])
        XCTAssertNotNil(store["a.output.dense.bias"])
    }

    func testSelfAttentionBackwardMatchesFiniteDifferences() {
        for causal in [false, true] {
            let store = ParameterStore(seed: 25)
            let mha = MultiHeadAttention(store, names: .plain("attn"), width: 6, heads: 3, causal: causal)
            var rng = SeededGenerator(seed: 26)
            var x = Tensor(randomNormal: [2, 3, 6], using: &rng)
            let mask = Tensor(shape: [2, 3], data: [1, 1, 1, 1, 1, 0])
            let r = Tensor(randomNormal: [2, 3, 6], using: &rng)
            store.zeroGradients()
            _ = mha.forward(x, keyMask: mask)
            let (dx, dctx) = mha.backward(r)
            XCTAssertNil(dctx)
            let loss = { weightedSum(mha.forward(x, keyMask: mask), r) }
            assertGradientsMatch("self-attention dx causal \(causal)", analytic: dx.data, count: x.count, perturb: { x.data[$0] += $1 }, loss: loss)
            let g = store.gradients
            assertGradientsMatch("self-attention dParameters", analytic: g, count: store.count, perturb: { store.values[$0] += $1 }, loss: loss)
        }
    }

    func testCrossAttentionBackwardMatchesFiniteDifferences() {
        let store = ParameterStore(seed: 27)
        let mha = MultiHeadAttention(store, names: .plain("x"), width: 4, heads: 2, contextWidth: 5)
        var rng = SeededGenerator(seed: 28)
        var x = Tensor(randomNormal: [2, 2, 4], using: &rng)
        var ctx = Tensor(randomNormal: [2, 3, 5], using: &rng)
        let mask = Tensor(shape: [2, 3], data: [1, 0, 1, 1, 1, 1])
        let r = Tensor(randomNormal: [2, 2, 4], using: &rng)
        store.zeroGradients()
        _ = mha.forward(x, context: ctx, keyMask: mask)
        let (dx, dctx) = mha.backward(r)
        let loss = { weightedSum(mha.forward(x, context: ctx, keyMask: mask), r) }
        assertGradientsMatch("cross dx", analytic: dx.data, count: x.count, perturb: { x.data[$0] += $1 }, loss: loss)
        guard let dctx else { return XCTFail("cross-attention must return dContext") }
        assertGradientsMatch("cross dContext", analytic: dctx.data, count: ctx.count, perturb: { ctx.data[$0] += $1 }, loss: loss)
        // Masked key (batch 0, key 1) receives no gradient.
        for c in 0..<5 { XCTAssertEqual(dctx[0, 1, c], 0) }
        let g = store.gradients
        assertGradientsMatch("cross dParameters", analytic: g, count: store.count, perturb: { store.values[$0] += $1 }, loss: loss)
    }
}

final class BlockGradientTests: XCTestCase {
    func testPreLNBlockBackwardMatchesFiniteDifferences() {
        let store = ParameterStore(seed: 61)
        let block = PreLNTransformerBlock(store, "h.0", width: 4, heads: 2, hiddenWidth: 6, causal: true)
        var rng = SeededGenerator(seed: 62)
        var x = Tensor(randomNormal: [2, 3, 4], using: &rng)
        let mask = Tensor(shape: [2, 3], data: [1, 1, 1, 1, 1, 0])
        let r = Tensor(randomNormal: [2, 3, 4], using: &rng)
        store.zeroGradients()
        _ = block.forward(x, keyMask: mask)
        let dx = block.backward(r)
        let loss = { weightedSum(block.forward(x, keyMask: mask), r) }
        assertGradientsMatch("pre-LN dx", analytic: dx.data, count: x.count, perturb: { x.data[$0] += $1 }, loss: loss)
        let g = store.gradients
        assertGradientsMatch("pre-LN dParameters", analytic: g, count: store.count, perturb: { store.values[$0] += $1 }, loss: loss)
    }

    func testBertCrossLayerBackwardMatchesFiniteDifferences() {
        let store = ParameterStore(seed: 63)
        let layer = BertLayer(store, names: BertLayerNames(layer: "l0", intermediate: "intermediate_query", output: "output_query"),
                              width: 4, heads: 2, hiddenWidth: 8, contextWidth: 3, weightInit: .normal(std: 0.5), biasInit: .normal(std: 0.1))
        XCTAssertNotNil(store["l0.crossattention.self.key.weight"])
        XCTAssertEqual(store["l0.crossattention.self.key.weight"]?.shape, [4, 3])
        XCTAssertNotNil(store["l0.output_query.LayerNorm.bias"])
        var rng = SeededGenerator(seed: 64)
        var x = Tensor(randomNormal: [2, 2, 4], using: &rng)
        var ctx = Tensor(randomNormal: [2, 3, 3], using: &rng)
        let r = Tensor(randomNormal: [2, 2, 4], using: &rng)
        store.zeroGradients()
        _ = layer.forward(x, context: ctx)
        let (dx, dctx) = layer.backward(r)
        let loss = { weightedSum(layer.forward(x, context: ctx), r) }
        assertGradientsMatch("BERT dx", analytic: dx.data, count: x.count, perturb: { x.data[$0] += $1 }, loss: loss)
        assertGradientsMatch("BERT dContext", analytic: dctx?.data ?? [], count: ctx.count, perturb: { ctx.data[$0] += $1 }, loss: loss)
        let g = store.gradients
        assertGradientsMatch("BERT dParameters", analytic: g, count: store.count, perturb: { store.values[$0] += $1 }, loss: loss)
    }
}
