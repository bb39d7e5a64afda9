// The learned reflector's inference forward: the function `forward` computes, without its backward caches and
// without padding — context tokens that a mask hides are never packed or projected — on one flat workspace.
// Shape legend as LearnedReflector.swift; N real context tokens in the whole batch, R = B·Q query rows,
// I the feed-forward width. Every projection is one BLAS call over all rows of the batch.
import Formats
import Tensor

/// A batch for `LearnedReflector.infer`: each row's `[avg(state0), action]` and only its real context tokens.
public struct ReflectorInferenceBatch: Sendable {
    /// B.
    public var count: Int
    /// [B, In]: `[state0, action]` per row.
    public var joined: [Float]
    /// [N, Cw]: the real context tokens of every row, row after row.
    public var context: [Float]
    /// B + 1 offsets into `context` (in tokens): row `b` owns tokens `contextStart[b]..<contextStart[b + 1]`.
    public var contextStart: [Int]
    /// Cw.
    public var contextWidth: Int

    /// A batch from its parts (checked by `LearnedReflector.infer`).
    public init(count: Int, joined: [Float], context: [Float], contextStart: [Int], contextWidth: Int) {
        self.count = count
        self.joined = joined
        self.context = context
        self.contextStart = contextStart
        self.contextWidth = contextWidth
    }

    /// The batch `ReflectorInputBuilder.batch(queries:context:)` describes, packed directly: state0 = the average
    /// over the present modalities, each kept triplet as `packing` says (three tokens `state0`, `action`, `state1`
    /// zero-padded to `max(stateWidth, actionWidth)`, or one `[state0, state1, action]` token); rows with fewer (or
    /// no) triplets simply have fewer tokens.
    /// - Throws: `ReflectorError.input` when a state, action or context embedding is missing or mis-sized
    ///   (the builder's messages).
    public init(queries: [ReflectorQuery], context: [[Transition]], stateWidth: Int, actionWidth: Int, packing: ContextPacking = .perPart) throws {
        precondition(queries.count == context.count, "reflector batch: \(queries.count) queries, \(context.count) context lists")
        let inWidth = stateWidth + actionWidth, per = packing.tokensPerTriplet
        count = queries.count
        contextWidth = packing.tokenWidth(stateWidth: stateWidth, actionWidth: actionWidth)
        contextStart = [0]
        contextStart.reserveCapacity(count + 1)
        for list in context { contextStart.append(contextStart[contextStart.count - 1] + per * list.count) }
        var joined = [Float](repeating: 0, count: count * inWidth)
        var tokens: [Float] = []
        tokens.reserveCapacity(contextStart[count] * contextWidth)
        for (r, q) in queries.enumerated() {
            try Self.join(q, into: &joined, row: r, stateWidth: stateWidth, actionWidth: actionWidth)
            tokens += try Self.contextTokens(context[r], stateWidth: stateWidth, actionWidth: actionWidth, packing: packing)
        }
        self.joined = joined
        self.context = tokens
    }

    /// The real tokens of a `ReflectorInput` (mask > 0.5, or all without a mask), with state0 and action joined.
    public init(_ input: ReflectorInput) {
        let b = input.state0.shape.first ?? 0
        let ds = input.state0.lastDimension, da = input.action.lastDimension
        let l = input.context.rank == 3 ? input.context.shape[1] : 0, w = input.context.lastDimension
        count = b
        contextWidth = w
        var joined = [Float](repeating: 0, count: b * (ds + da))
        var tokens: [Float] = []
        var starts = [0]
        for r in 0..<b {
            joined.replaceSubrange((r * (ds + da))..<(r * (ds + da) + ds), with: input.state0.data[(r * ds)..<((r + 1) * ds)])
            joined.replaceSubrange((r * (ds + da) + ds)..<((r + 1) * (ds + da)), with: input.action.data[(r * da)..<((r + 1) * da)])
            var kept = 0
            for j in 0..<l where input.contextMask.map({ $0.data[r * l + j] > 0.5 }) ?? true {
                let token = r * l + j
                tokens.append(contentsOf: input.context.data[(token * w)..<((token + 1) * w)])
                kept += 1
            }
            starts.append(starts[r] + kept)
        }
        self.joined = joined
        context = tokens
        contextStart = starts
    }
}

extension LearnedReflector {
    /// The reflector tokens [B, Q, O] of `input`, as `forward` computes them (within float rounding, ≤ 1e-5),
    /// without recording anything for `backward` and without projecting masked context tokens.
    /// - Throws: `ReflectorError.input` when a shape does not match the checkpoint or a value is not finite.
    public func infer(_ input: ReflectorInput) throws -> Tensor {
        try validate(input)
        let b = input.state0.shape[0]
        return Tensor(shape: [b, config.queryTokenCount, config.outputWidth], data: try infer(ReflectorInferenceBatch(input)))
    }

    /// The reflector tokens of a packed batch, flat [B, Q, O].
    /// - Throws: `ReflectorError.input` when a size does not match the checkpoint or a value is not finite.
    public func infer(_ batch: ReflectorInferenceBatch) throws -> [Float] {
        try validate(batch)
        let n = batch.contextStart[batch.count]
        let projected = projectContext(batch.context[...], count: n)
        return core(joined: batch.joined[...], count: batch.count, projected: projected, index: Array(0..<n)[...], contextStart: batch.contextStart)
    }

    /// P: the width of a projected context token — the keys and the values of every cross-attention layer.
    public var projectedContextWidth: Int { 2 * config.hiddenWidth * config.crossAttention.filter { $0 }.count }

    /// The query-independent side of the cross-attention for context tokens [n, Cw]: `fc2`, then each cross-attention
    /// layer's key and value projections, as rows [n, P] laid out `[keys₀, values₀, keys₁, values₁, …]`.
    /// - Parameter rowwise: compute each row on its own (`Kernels.linearRowwise`), so that a row's values do not
    ///   depend on the rows projected with it — for rows that are cached across calls; BLAS otherwise.
    func projectContext(_ tokens: ArraySlice<Float>, count n: Int, rowwise: Bool = false) -> [Float] {
        let width = projectedContextWidth, h = config.hiddenWidth, e = config.encoderWidth
        var out = [Float](repeating: 0, count: n * width)
        guard n > 0, width > 0 else { return out }
        var ctx = [Float](repeating: 0, count: n * e)
        store.values.withUnsafeBufferPointer { pv in
            tokens.withUnsafeBufferPointer { pt in
                ctx.withUnsafeMutableBufferPointer { pc in
                    out.withUnsafeMutableBufferPointer { po in
                        guard let v = pv.baseAddress, let t = pt.baseAddress, let c = pc.baseAddress, let o = po.baseAddress else { return }
                        if rowwise {
                            Kernels.linearRowwise(out: c, input: t, weight: v + fc2.weight.offset, bias: fc2.bias.map { v + $0.offset },
                                                  rows: n, inDim: fc2.inFeatures, outDim: fc2.outFeatures)
                        } else {
                            Kernels.linearForward(out: c, input: t, weight: v + fc2.weight.offset, bias: fc2.bias.map { v + $0.offset },
                                                  rows: n, inDim: fc2.inFeatures, outDim: fc2.outFeatures)
                        }
                        var column = 0
                        for layer in layers {
                            guard let ca = layer.crossAttention else { continue }
                            for projection in [ca.key, ca.value] {
                                if rowwise {
                                    Kernels.linearRowwise(out: o + column, input: c, weight: v + projection.weight.offset,
                                                          bias: projection.bias.map { v + $0.offset }, rows: n, inDim: e, outDim: h, outStride: width)
                                    column += h
                                    continue
                                }
                                // Rows of P floats: bias first, then one GEMM writing into this layer's column block.
                                if let bias = projection.bias {
                                    for row in 0..<n { (o + row * width + column).update(from: v + bias.offset, count: h) }
                                }
                                BLAS.sgemm(transposeB: true, m: n, n: h, k: e, a: c, b: v + projection.weight.offset,
                                           beta: projection.bias == nil ? 0 : 1, c: o + column, ldc: width)
                                column += h
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The forward over joined rows [B, In] and projected context rows (`projected` [*, P]): row b attends over the
    /// projected rows `index[contextStart[b]..<contextStart[b + 1]]`.
    func core(joined: ArraySlice<Float>, count b: Int, projected: [Float], index: ArraySlice<Int>, contextStart: [Int]) -> [Float] {
        let q = config.queryTokenCount, h = config.hiddenWidth, width = projectedContextWidth
        let r = b * q, inner = config.intermediateWidth
        let maxKeys = max(q, (0..<b).map { contextStart[$0 + 1] - contextStart[$0] }.max() ?? 0)
        // One workspace, sliced by offsets: x | hidden | h1 | qp | kp | vp | attended | sum | ffn | scores.
        let sizes = [b * h, r * h, r * h, r * h, r * h, r * h, r * h, r * h, r * inner, maxKeys]
        var offsets: [Int] = []
        var total = 0
        for s in sizes { offsets.append(total); total += s }
        var work = [Float](repeating: 0, count: total)
        var out = [Float](repeating: 0, count: r * config.outputWidth)
        store.values.withUnsafeBufferPointer { pv in
            joined.withUnsafeBufferPointer { pj in
                projected.withUnsafeBufferPointer { pp in
                    // One placeholder entry when there is no context token at all, so the buffer has an address (never read).
                    (index.isEmpty ? [0][...] : index).withUnsafeBufferPointer { pi in
                        work.withUnsafeMutableBufferPointer { pw in
                            out.withUnsafeMutableBufferPointer { po in
                                guard let v = pv.baseAddress, let joined = pj.baseAddress, let w = pw.baseAddress, let o = po.baseAddress else { return }
                                // An empty projection has no base address; nothing reads it then (no context token at all).
                                let projected = pp.baseAddress ?? UnsafePointer(w)
                                guard let rows = pi.baseAddress else { return }
                                forward(v: v, joined: joined, b: b, projected: projected, width: width, rows: rows, contextStart: contextStart,
                                        w: w, offsets: offsets, out: o)
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// The layers over raw buffers (see `core`).
    private func forward(
        v: UnsafePointer<Float>, joined: UnsafePointer<Float>, b: Int, projected: UnsafePointer<Float>, width: Int, rows: UnsafePointer<Int>,
        contextStart: [Int], w: UnsafeMutablePointer<Float>, offsets: [Int], out o: UnsafeMutablePointer<Float>
    ) {
        let q = config.queryTokenCount, h = config.hiddenWidth, r = b * q, inner = config.intermediateWidth
        let x = w + offsets[0], hidden = w + offsets[1], h1 = w + offsets[2]
        let qp = w + offsets[3], kp = w + offsets[4], vp = w + offsets[5], attended = w + offsets[6]
        let sum = w + offsets[7], ffn = w + offsets[8], scores = w + offsets[9]
        func linear(_ layer: Linear, _ input: UnsafePointer<Float>, rows: Int, _ output: UnsafeMutablePointer<Float>) {
            Kernels.linearForward(out: output, input: input, weight: v + layer.weight.offset, bias: layer.bias.map { v + $0.offset },
                                  rows: rows, inDim: layer.inFeatures, outDim: layer.outFeatures)
        }
        func norm(_ layer: LayerNorm, _ input: UnsafePointer<Float>, rows: Int, _ output: UnsafeMutablePointer<Float>) {
            Kernels.layerNormForward(out: output, mean: nil, rstd: nil, input: input, weight: v + layer.weight.offset,
                                     bias: v + layer.bias.offset, rows: rows, dim: layer.dim, eps: layer.eps)
        }
        linear(fc1, joined, rows: b, x)
        let tokens = v + queryTokens.offset
        for row in 0..<b {
            for t in 0..<q {
                let dst = hidden + (row * q + t) * h, src = x + row * h, token = tokens + t * h
                for c in 0..<h { dst[c] = token[c] + src[c] }
            }
        }
        norm(embeddingNorm, hidden, rows: r, hidden)
        var column = 0
        for layer in layers {
            let sa = layer.selfAttention
            linear(sa.query, hidden, rows: r, qp)
            linear(sa.key, hidden, rows: r, kp)
            linear(sa.value, hidden, rows: r, vp)
            for row in 0..<b {
                attend(queries: qp + row * q * h, keys: kp + row * q * h, values: vp + row * q * h, stride: h, rows: nil, keyCount: q,
                       out: attended + row * q * h, scores: scores)
            }
            linear(sa.output, attended, rows: r, sum)
            for i in 0..<(r * h) { sum[i] += hidden[i] }
            norm(layer.selfNorm, sum, rows: r, h1)
            if let ca = layer.crossAttention, let crossNorm = layer.crossNorm {
                linear(ca.query, h1, rows: r, qp)
                for row in 0..<b {
                    let first = contextStart[row], count = contextStart[row + 1] - first
                    attend(queries: qp + row * q * h, keys: projected + column, values: projected + column + h, stride: width,
                           rows: rows + first, keyCount: count, out: attended + row * q * h, scores: scores)
                }
                column += 2 * h
                linear(ca.output, attended, rows: r, sum)
                for i in 0..<(r * h) { sum[i] += h1[i] }
                norm(crossNorm, sum, rows: r, hidden)
            } else {
                hidden.update(from: h1, count: r * h)
            }
            linear(layer.intermediate, hidden, rows: r, ffn)
            Kernels.geluForward(out: ffn, input: ffn, count: r * inner, form: layer.activation.form)
            linear(layer.output, ffn, rows: r, sum)
            for i in 0..<(r * h) { sum[i] += hidden[i] }
            norm(layer.outputNorm, sum, rows: r, hidden)
        }
        linear(fc3, hidden, rows: r, o)
    }

    /// Softmax attention of Q query rows over `keyCount` key/value rows, per head, rows `hiddenWidth` apart.
    ///
    /// The products here are Q×S×Dh with S ≤ 3·budget (4×12×64 for the runtime): a BLAS call per head costs
    /// more than its arithmetic, so these are SIMD loops; the projections around them are batched BLAS calls.
    /// With no key, the output is zero (as `Kernels.attentionForward` with every key masked).
    /// Keys and values of key j are `stride` floats apart, at row `rows[j]` (or j when `rows` is nil).
    private func attend(
        queries: UnsafePointer<Float>, keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, rows: UnsafePointer<Int>?,
        keyCount s: Int, out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>
    ) {
        let q = config.queryTokenCount, h = config.hiddenWidth, heads = config.heads, dh = h / heads
        let scale = 1 / Float(dh).squareRoot()
        for t in 0..<q { (out + t * h).update(repeating: 0, count: h) }
        guard s > 0 else { return }
        for head in 0..<heads {
            for t in 0..<q {
                let qh = queries + t * h + head * dh
                var mx = -Float.infinity
                for j in 0..<s {
                    let score = scale * Self.dot(qh, keys + (rows?[j] ?? j) * stride + head * dh, count: dh)
                    scores[j] = score
                    mx = max(mx, score)
                }
                var total: Float = 0
                for j in 0..<s {
                    let p = Kernels.expNonPositive(scores[j] - mx)
                    scores[j] = p
                    total += p
                }
                let inv = 1 / total
                let oh = out + t * h + head * dh
                for j in 0..<s {
                    let p = scores[j] * inv, vh = values + (rows?[j] ?? j) * stride + head * dh
                    for c in 0..<dh { oh[c] += p * vh[c] }
                }
            }
        }
    }

    /// Dot product over 8-wide lanes (a SIMD loop: no call overhead for the 64-long head vectors).
    @inline(__always)  // inner loop of `attend`.
    private static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var acc = SIMD8<Float>(repeating: 0)
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 8 <= count {
            acc += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD8<Float>.self)
            i += 8
        }
        var tail: Float = 0
        while i < count { tail += a[i] * b[i]; i += 1 }
        return acc.sum() + tail
    }

    /// Checks a packed batch against the configuration.
    func validate(_ batch: ReflectorInferenceBatch) throws {
        let b = batch.count
        guard b >= 1 else { throw ReflectorError.input(name: "batch", problem: "no rows") }
        guard batch.joined.count == b * config.inputWidth else {
            throw ReflectorError.input(name: "state0+action", problem: "\(batch.joined.count) values, expected \(b) × \(config.inputWidth)")
        }
        guard batch.contextWidth == config.contextWidth else {
            throw ReflectorError.input(name: "context", problem: "token width \(batch.contextWidth), expected \(config.contextWidth)")
        }
        guard batch.contextStart.count == b + 1, batch.contextStart.first == 0,
            zip(batch.contextStart, batch.contextStart.dropFirst()).allSatisfy({ $0 <= $1 }),
            batch.context.count == batch.contextStart[b] * batch.contextWidth
        else {
            throw ReflectorError.input(name: "context", problem: "offsets \(batch.contextStart.prefix(4))… do not describe \(batch.context.count) values")
        }
        guard FilterVectors.isFinite(batch.joined) else { throw ReflectorError.input(name: "state0+action", problem: "holds NaN or infinite values") }
        guard FilterVectors.isFinite(batch.context) else { throw ReflectorError.input(name: "context", problem: "holds NaN or infinite values") }
    }
}
