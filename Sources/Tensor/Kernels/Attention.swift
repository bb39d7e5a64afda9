// Scaled dot-product attention over heads, each head a strided GEMM into the [B, T, C] buffers (no copies).
// Shape legend: B batch, T query tokens, S key tokens, H heads, Dh head width, C = H·Dh.
// q [B,T,·] row stride ldq; k, v [B,S,·] strides ldk, ldv; head h uses columns h·Dh ..< (h+1)·Dh.
// probs [B,H,T,S] keeps the softmax for backward. keyMask [B,S]: > 0.5 keeps a key, otherwise it is ignored.
import Foundation

/// The sizes of one attention call.
public struct AttentionShape: Sendable, Equatable {
    /// B: sequences in the batch.
    public var batch: Int
    /// T: query tokens per sequence.
    public var queryLength: Int
    /// S: key/value tokens per sequence.
    public var keyLength: Int
    /// H: attention heads.
    public var heads: Int
    /// Dh: width of one head.
    public var headDim: Int
    /// Whether query i may only see keys j ≤ i + (S − T) (autoregressive).
    public var causal: Bool

    /// A shape; `causal` defaults to false.
    public init(batch: Int, queryLength: Int, keyLength: Int, heads: Int, headDim: Int, causal: Bool = false) {
        self.batch = batch
        self.queryLength = queryLength
        self.keyLength = keyLength
        self.heads = heads
        self.headDim = headDim
        self.causal = causal
    }

    /// C = H·Dh.
    public var width: Int { heads * headDim }
}

extension Kernels {
    /// `out = softmax(scale · Q·Kᵀ + mask) · V` for every sequence and head; saves the probabilities.
    ///
    /// A query whose keys are all masked attends to nothing: its probabilities and output are zero.
    /// - Parameters:
    ///   - scale: usually `1/√Dh`.
    ///   - ldq, ldk, ldv, ldo: row strides of the four buffers (elements between consecutive tokens).
    public static func attentionForward(
        out: UnsafeMutablePointer<Float>, ldo: Int,
        probs: UnsafeMutablePointer<Float>,
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        keyMask: UnsafePointer<Float>?, shape: AttentionShape, scale: Float
    ) {
        let t = shape.queryLength, s = shape.keyLength, dh = shape.headDim
        guard t > 0 else { return }
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let p = probs + ((b * shape.heads + h) * t) * s
                let qh = q + b * t * ldq + h * dh
                let kh = k + b * s * ldk + h * dh
                let vh = v + b * s * ldv + h * dh
                let oh = out + b * t * ldo + h * dh
                guard s > 0 else {
                    for i in 0..<t { (oh + i * ldo).update(repeating: 0, count: dh) }
                    continue
                }
                BLAS.sgemm(transposeB: true, m: t, n: s, k: dh, alpha: scale, a: qh, lda: ldq, b: kh, ldb: ldk, c: p, ldc: s)
                maskedSoftmaxRows(p, rows: t, keys: s, mask: keyMask.map { $0 + b * s }, causal: shape.causal)
                BLAS.sgemm(m: t, n: dh, k: s, a: p, lda: s, b: vh, ldb: ldv, c: oh, ldc: ldo)
            }
        }
    }

    /// In-place softmax over each row of a [T, S] score block, skipping masked and (if causal) future keys.
    ///
    /// Written as separate simple loops (max, exp, sum, scale) so the exp and scale loops vectorise and the
    /// reductions run on four accumulators; masked keys are zeroed exactly afterwards.
    @inline(__always)  // called once per head in the hot loop.
    static func maskedSoftmaxRows(_ p: UnsafeMutablePointer<Float>, rows t: Int, keys s: Int, mask: UnsafePointer<Float>?, causal: Bool) {
        for i in 0..<t {
            let row = p + i * s
            let limit = causal ? min(s, i + (s - t) + 1) : s
            if limit < s { (row + limit).update(repeating: 0, count: s - limit) }
            if let mask { for j in 0..<limit where !(mask[j] > 0.5) { row[j] = -Float.infinity } }
            // Row maximum over visible keys (4 independent lanes).
            var m0 = -Float.infinity, m1 = -Float.infinity, m2 = -Float.infinity, m3 = -Float.infinity
            var j = 0
            while j + 4 <= limit {
                m0 = max(m0, row[j]); m1 = max(m1, row[j + 1]); m2 = max(m2, row[j + 2]); m3 = max(m3, row[j + 3])
                j += 4
            }
            while j < limit { m0 = max(m0, row[j]); j += 1 }
            let mx = max(max(m0, m1), max(m2, m3))
            if mx == -Float.infinity {
                row.update(repeating: 0, count: s)
                continue
            }
            for j in 0..<limit { row[j] = Kernels.expNonPositive(row[j] - mx) }
            if let mask { for j in 0..<limit where !(mask[j] > 0.5) { row[j] = 0 } }
            var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
            j = 0
            while j + 4 <= limit {
                s0 += row[j]; s1 += row[j + 1]; s2 += row[j + 2]; s3 += row[j + 3]
                j += 4
            }
            while j < limit { s0 += row[j]; j += 1 }
            let inv = 1 / ((s0 + s1) + (s2 + s3))
            for j in 0..<limit { row[j] *= inv }
        }
    }

    /// Gradients of `attentionForward`: adds into dQ, dK, dV (same strides as q, k, v).
    ///
    /// - Parameter scratch: at least T·S floats of workspace.
    public static func attentionBackward(
        dQ: UnsafeMutablePointer<Float>, dK: UnsafeMutablePointer<Float>, dV: UnsafeMutablePointer<Float>,
        dOut: UnsafePointer<Float>, ldo: Int, probs: UnsafePointer<Float>,
        q: UnsafePointer<Float>, ldq: Int, k: UnsafePointer<Float>, ldk: Int, v: UnsafePointer<Float>, ldv: Int,
        shape: AttentionShape, scale: Float, scratch: UnsafeMutablePointer<Float>
    ) {
        let t = shape.queryLength, s = shape.keyLength, dh = shape.headDim
        guard t > 0, s > 0 else { return }
        for b in 0..<shape.batch {
            for h in 0..<shape.heads {
                let p = probs + ((b * shape.heads + h) * t) * s
                let qOff = b * t * ldq + h * dh, kOff = b * s * ldk + h * dh, vOff = b * s * ldv + h * dh
                let dOh = dOut + b * t * ldo + h * dh
                // dP = dO · Vᵀ  [T,S]
                BLAS.sgemm(transposeB: true, m: t, n: s, k: dh, a: dOh, lda: ldo, b: v + vOff, ldb: ldv, c: scratch, ldc: s)
                // dV += Pᵀ · dO  [S,Dh]
                BLAS.sgemm(transposeA: true, m: s, n: dh, k: t, a: p, lda: s, b: dOh, ldb: ldo, beta: 1, c: dV + vOff, ldc: ldv)
                // dScores = P ⊙ (dP − rowsum(P ⊙ dP)); masked entries have P = 0 and get 0.
                for i in 0..<t {
                    let pr = p + i * s, dr = scratch + i * s
                    var dot: Float = 0
                    for j in 0..<s { dot += pr[j] * dr[j] }
                    for j in 0..<s { dr[j] = pr[j] * (dr[j] - dot) }
                }
                // dQ += scale · dS · K ; dK += scale · dSᵀ · Q
                BLAS.sgemm(m: t, n: dh, k: s, alpha: scale, a: scratch, lda: s, b: k + kOff, ldb: ldk, beta: 1, c: dQ + qOff, ldc: ldq)
                BLAS.sgemm(transposeA: true, m: s, n: dh, k: t, alpha: scale, a: scratch, lda: s, b: q + qOff, ldb: ldq, beta: 1, c: dK + kOff, ldc: ldk)
            }
        }
    }
}
