// A naive float64 re-implementation of the reflector's forward math (reflector.json `forward_math`), used as the
// test oracle: plain loops over [Double], no BLAS, no Tensor layers — written independently of LearnedReflector.
import Foundation

/// The reflector forward pass in Double with explicit loops, over named weights in PyTorch layout.
struct ReferenceReflector {
    /// Weights by checkpoint name (row-major, PyTorch shapes).
    var weights: [String: [Double]]
    /// Shapes by checkpoint name.
    var shapes: [String: [Int]]
    /// Attention heads.
    var heads: Int
    /// LayerNorm epsilon.
    var eps: Double = 1e-12

    /// `x` (rows × in) · Wᵀ + b with `W` = `<name>.weight` [out, in].
    func linear(_ x: [[Double]], _ name: String) -> [[Double]] {
        let w = weights["\(name).weight"]!, b = weights["\(name).bias"]!
        let out = shapes["\(name).weight"]![0], inWidth = shapes["\(name).weight"]![1]
        return x.map { row in
            precondition(row.count == inWidth)
            return (0..<out).map { o in
                var s = b[o]
                for i in 0..<inWidth { s += w[o * inWidth + i] * row[i] }
                return s
            }
        }
    }

    /// Row-wise LayerNorm with population variance.
    func layerNorm(_ x: [[Double]], _ name: String) -> [[Double]] {
        let g = weights["\(name).weight"]!, b = weights["\(name).bias"]!
        return x.map { row in
            let mean = row.reduce(0, +) / Double(row.count)
            let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(row.count)
            let inv = 1 / (variance + eps).squareRoot()
            return row.indices.map { (row[$0] - mean) * inv * g[$0] + b[$0] }
        }
    }

    /// BERT attention block `prefix` (`….attention` or `….crossattention`): returns the output dense projection.
    func attention(_ x: [[Double]], context: [[Double]], _ prefix: String) -> [[Double]] {
        let q = linear(x, "\(prefix).self.query"), k = linear(context, "\(prefix).self.key"), v = linear(context, "\(prefix).self.value")
        let width = q[0].count, headWidth = width / heads
        var merged = [[Double]](repeating: [Double](repeating: 0, count: width), count: x.count)
        for head in 0..<heads {
            let lo = head * headWidth
            for i in 0..<x.count {
                var scores = [Double](repeating: 0, count: context.count)
                for j in 0..<context.count {
                    var s = 0.0
                    for c in lo..<(lo + headWidth) { s += q[i][c] * k[j][c] }
                    scores[j] = s / Double(headWidth).squareRoot()
                }
                let top = scores.max()!
                let e = scores.map { exp($0 - top) }
                let total = e.reduce(0, +)
                for j in 0..<context.count {
                    for c in lo..<(lo + headWidth) { merged[i][c] += e[j] / total * v[j][c] }
                }
            }
        }
        return linear(merged, "\(prefix).output.dense")
    }

    /// Elementwise sum of two matrices.
    func add(_ a: [[Double]], _ b: [[Double]]) -> [[Double]] { zip(a, b).map { zip($0, $1).map(+) } }

    /// The tokens (Q × out) for one sample; `layers` layers, cross-attention where its weights exist.
    func forward(state0: [Double], action: [Double], context: [[Double]], layers: Int) -> [[Double]] {
        let x = linear([state0 + action], "fc1")[0]
        let ctx = linear(context, "fc2")
        let qShape = shapes["query_tokens"]!
        let tokens = weights["query_tokens"]!
        let q0 = (0..<qShape[1]).map { t in (0..<qShape[2]).map { tokens[t * qShape[2] + $0] + x[$0] } }
        var h = layerNorm(q0, "Qformer.bert.embeddings.LayerNorm")
        for i in 0..<layers {
            let p = "Qformer.bert.encoder.layer.\(i)"
            h = layerNorm(add(attention(h, context: h, "\(p).attention"), h), "\(p).attention.output.LayerNorm")
            if weights["\(p).crossattention.self.query.weight"] != nil {
                h = layerNorm(add(attention(h, context: ctx, "\(p).crossattention"), h), "\(p).crossattention.output.LayerNorm")
            }
            let inner = linear(h, "\(p).intermediate_query.dense").map { $0.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) } }
            h = layerNorm(add(linear(inner, "\(p).output_query.dense"), h), "\(p).output_query.LayerNorm")
        }
        return linear(h, "fc3")
    }
}
