// Raw forward/backward kernels on pointers, llm.c style: each layer's math written out plainly.
// Shape legend: N rows (B·T flattened), C width (input), O width (output), B batch, T/S tokens, H heads, Dh head width.
// Backward kernels ACCUMULATE (+=) into their gradient buffers, as llm.c does; callers zero them first.
import CKernels
import Foundation

/// The pointer-level kernels behind every layer; the layers and the sentence encoder both call them.
///
/// Buffers are row-major Float32. Backward kernels add into their gradient outputs.
public enum Kernels {}

// MARK: - Linear

extension Kernels {
    /// `out[N,O] = input[N,C] · weight[O,C]ᵀ + bias[O]` (PyTorch's weight layout, out × in).
    public static func linearForward(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows: Int, inDim: Int, outDim: Int
    ) {
        var beta: Float = 0
        if let bias {
            for r in 0..<rows { (out + r * outDim).update(from: bias, count: outDim) }
            beta = 1
        }
        BLAS.sgemm(transposeB: true, m: rows, n: outDim, k: inDim, a: input, b: weight, beta: beta, c: out)
    }

    /// `linearForward` with every output row a function of its input row alone: the same bits whichever and however
    /// many rows are computed together (BLAS's blocking follows the matrix sizes, so its rows differ in the last
    /// bits from call to call). For per-row results that are cached and must not depend on the cache's history.
    /// Single-threaded SIMD (`CKernels`), within float rounding of `linearForward`.
    public static func linearRowwise(
        out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, inputStride: Int? = nil,
        weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
        rows: Int, inDim: Int, outDim: Int, outStride: Int? = nil
    ) {
        guard rows > 0, outDim > 0 else { return }
        let ldo = outStride ?? outDim
        wgk_rows_dot(input, rows, inputStride ?? inDim, weight, outDim, inDim, out, ldo)
        if let bias {
            for r in 0..<rows {
                let row = out + r * ldo
                for j in 0..<outDim { row[j] += bias[j] }
            }
        }
    }

    /// `a · b` over `count` floats with the widest SIMD the CPU has (CKernels' run-time dispatch).
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        wgk_dot_f32(a, b, count)
    }

    /// The Gram matrix `out[i·n + j] = rows_i · rows_j` of `count` rows of `dim` floats (`stride` apart), exactly
    /// symmetric, each product summed in `linearRowwise`'s fixed order. For small sets (a filter's candidates), where
    /// a BLAS call costs more than its arithmetic and computes every pair twice.
    public static func gram(out: UnsafeMutablePointer<Float>, rows: UnsafePointer<Float>, count: Int, stride: Int? = nil, dim: Int) {
        guard count > 0 else { return }
        wgk_gram(rows, count, stride ?? dim, dim, out)
    }

    /// Gradients of `linearForward`: `dInput += dOut·W`, `dWeight += dOutᵀ·input`, `dBias += Σ rows of dOut`.
    public static func linearBackward(
        dInput: UnsafeMutablePointer<Float>?, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        rows: Int, inDim: Int, outDim: Int
    ) {
        if let dInput {
            BLAS.sgemm(m: rows, n: inDim, k: outDim, a: dOut, b: weight, beta: 1, c: dInput)
        }
        if let dWeight {
            BLAS.sgemm(transposeA: true, m: outDim, n: inDim, k: rows, a: dOut, b: input, beta: 1, c: dWeight)
        }
        if let dBias {
            for r in 0..<rows {
                let row = dOut + r * outDim
                for o in 0..<outDim { dBias[o] += row[o] }
            }
        }
    }
}

// MARK: - LayerNorm

extension Kernels {
    /// `out = (x − mean) / sqrt(var + eps) · weight + bias` per row of width C; saves mean and 1/std when asked.
    public static func layerNormForward(
        out: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>?, rstd: UnsafeMutablePointer<Float>?,
        input: UnsafePointer<Float>, weight: UnsafePointer<Float>, bias: UnsafePointer<Float>,
        rows: Int, dim: Int, eps: Float
    ) {
        // CKernels: each row summed in index order, several rows per vector (bit-identical to the scalar loop).
        wgk_layer_norm(input, out, mean, rstd, weight, bias, rows, dim, eps)
    }

    /// Gradients of `layerNormForward` (needs the saved mean and 1/std).
    public static func layerNormBackward(
        dInput: UnsafeMutablePointer<Float>, dWeight: UnsafeMutablePointer<Float>?, dBias: UnsafeMutablePointer<Float>?,
        dOut: UnsafePointer<Float>, input: UnsafePointer<Float>, weight: UnsafePointer<Float>,
        mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>, rows: Int, dim: Int
    ) {
        // CKernels: the scalar loop's operations in the same order, rows' sums in vector lanes (bit-identical).
        wgk_layer_norm_backward(dInput, dWeight, dBias, dOut, input, weight, mean, rstd, rows, dim)
    }
}

// MARK: - GELU

/// Which formula GELU uses: the exact erf form (BERT, PyTorch default) or the tanh approximation (GPT-2).
public enum GELUForm: String, Sendable, Codable {
    /// `x · Φ(x) = 0.5·x·(1 + erf(x/√2))`.
    case erf
    /// `0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))`.
    case tanh
}

extension Kernels {
    private static let sqrt2OverPi: Float = 0.79788456080286536

    /// `out[i] = gelu(input[i])` over `count` elements (out may alias input).
    public static func geluForward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, count: Int, form: GELUForm) {
        switch form {
        case .erf:
            // CKernels: the scalar formula's operations at the widest instruction set (bit-identical to `erf` below).
            wgk_gelu_erf(input, out, count)
        case .tanh:
            for i in 0..<count {
                let x = input[i]
                out[i] = 0.5 * x * (1 + Kernels.tanh(sqrt2OverPi * (x + 0.044715 * x * x * x)))
            }
        }
    }

    /// `dInput[i] += gelu'(input[i]) · dOut[i]`.
    public static func geluBackward(
        dInput: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, dOut: UnsafePointer<Float>, count: Int, form: GELUForm
    ) {
        switch form {
        case .erf:
            // CKernels: the scalar formula's operations at the widest instruction set (bit-identical).
            wgk_gelu_erf_backward(dInput, input, dOut, count)
        case .tanh:
            for i in 0..<count {
                let x = input[i]
                let inner = sqrt2OverPi * (x + 0.044715 * x * x * x)
                let t = Kernels.tanh(inner)
                let sech2 = 1 - t * t
                let grad = 0.5 * (1 + t) + 0.5 * x * sech2 * sqrt2OverPi * (1 + 3 * 0.044715 * x * x)
                dInput[i] += grad * dOut[i]
            }
        }
    }
}

// MARK: - Elementary functions

extension Kernels {
    /// `exp(x)` for `x ≤ 0` (inputs below −87 are clamped there), relative error ≤ 2e-7.
    ///
    /// Range reduction `x = k·ln2 + r` with k rounded through the 1.5·2²³ trick, a degree-7 Taylor
    /// polynomial for `exp(r)`, and `2^k` built from its exponent bits: no branches and no libm call,
    /// so loops over it vectorise (libm's expf/erff cost 3–6× more per element here).
    @inline(__always)  // must inline into the GELU/softmax loops to vectorise.
    public static func expNonPositive(_ x: Float) -> Float {
        let xc = max(x, -87)
        let shifted = xc * 1.442_695_04 + 12_582_912  // 1.5·2²³: k lands in the low mantissa bits
        let k = shifted - 12_582_912
        let r = xc - k * 0.693_145_751_953_125 - k * 1.428_606_765_330_187e-6  // ln2 split high/low
        var p: Float = 1.0 / 5040
        p = p * r + 1.0 / 720
        p = p * r + 1.0 / 120
        p = p * r + 1.0 / 24
        p = p * r + 1.0 / 6
        p = p * r + 0.5
        p = p * r + 1
        p = p * r + 1
        return p * Float(bitPattern: (shifted.bitPattern &- 0x4B40_0000 &+ 127) << 23)
    }

    /// `erf(x)` with absolute error ≤ 6e-7 (measured 5.3e-7 over [−5, 5]): Abramowitz & Stegun 7.1.26 on |x|, sign restored by bit copy.
    @inline(__always)  // as expNonPositive.
    public static func erf(_ x: Float) -> Float {
        let a = abs(x)
        let t = 1 / (1 + 0.327_591_1 * a)
        let poly = t * (0.254_829_592 + t * (-0.284_496_736 + t * (1.421_413_741 + t * (-1.453_152_027 + t * 1.061_405_429))))
        let r = 1 - poly * expNonPositive(-a * a)
        return Float(bitPattern: r.bitPattern | (x.bitPattern & 0x8000_0000))
    }

    /// `tanh(x)` with absolute error ≤ 3e-7: `(1 − e^{−2|x|}) / (1 + e^{−2|x|})`, sign restored by bit copy.
    @inline(__always)  // as expNonPositive.
    public static func tanh(_ x: Float) -> Float {
        let e = expNonPositive(-2 * abs(x))
        let r = (1 - e) / (1 + e)
        return Float(bitPattern: r.bitPattern | (x.bitPattern & 0x8000_0000))
    }
}

// MARK: - Softmax

extension Kernels {
    /// Row-wise softmax over the last dimension (width `dim`); out may alias input.
    public static func softmaxForward(out: UnsafeMutablePointer<Float>, input: UnsafePointer<Float>, rows: Int, dim: Int) {
        for r in 0..<rows {
            let x = input + r * dim, y = out + r * dim
            var mx = -Float.infinity
            for i in 0..<dim where x[i] > mx { mx = x[i] }
            var sum: Float = 0
            for i in 0..<dim { let e = Kernels.expNonPositive(x[i] - mx); y[i] = e; sum += e }
            let inv = 1 / sum
            for i in 0..<dim { y[i] *= inv }
        }
    }

    /// `dInput += J_softmaxᵀ · dOut` per row, from the saved probabilities: `p ⊙ (dOut − Σ p·dOut)`.
    public static func softmaxBackward(
        dInput: UnsafeMutablePointer<Float>, probs: UnsafePointer<Float>, dOut: UnsafePointer<Float>, rows: Int, dim: Int
    ) {
        for r in 0..<rows {
            let p = probs + r * dim, dy = dOut + r * dim, dx = dInput + r * dim
            var dot: Float = 0
            for i in 0..<dim { dot += p[i] * dy[i] }
            for i in 0..<dim { dx[i] += p[i] * (dy[i] - dot) }
        }
    }
}

// MARK: - Embedding

extension Kernels {
    /// `out[n, :] = table[ids[n], :]` for N ids over a [V, C] table.
    public static func embeddingForward(out: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, table: UnsafePointer<Float>, count: Int, dim: Int) {
        for n in 0..<count { (out + n * dim).update(from: table + Int(ids[n]) * dim, count: dim) }
    }

    /// `dTable[ids[n], :] += dOut[n, :]` (a scatter-add; repeated ids accumulate).
    public static func embeddingBackward(dTable: UnsafeMutablePointer<Float>, ids: UnsafePointer<Int32>, dOut: UnsafePointer<Float>, count: Int, dim: Int) {
        for n in 0..<count {
            let row = dTable + Int(ids[n]) * dim, dy = dOut + n * dim
            for c in 0..<dim { row[c] += dy[c] }
        }
    }
}
