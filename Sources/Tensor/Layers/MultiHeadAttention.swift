// Multi-head attention (self or cross) with query/key/value/output projections and a key-padding mask.
// Shape legend: B batch, T query tokens, S context tokens, C width (= H·Dh), Cc context width, H heads.
// x [B, T, C]; context [B, S, Cc] (self-attention: context = x); keyMask [B, S] (1 keep, 0 padding).

/// The checkpoint names of the four projections of an attention block.
public struct AttentionNames: Sendable, Equatable {
    /// Query projection prefix (`.weight`/`.bias` are appended).
    public var query: String
    /// Key projection prefix.
    public var key: String
    /// Value projection prefix.
    public var value: String
    /// Output projection prefix.
    public var output: String

    /// Four explicit prefixes.
    public init(query: String, key: String, value: String, output: String) {
        self.query = query
        self.key = key
        self.value = value
        self.output = output
    }

    /// `<p>.query`, `<p>.key`, `<p>.value`, `<p>.out`.
    public static func plain(_ p: String) -> AttentionNames {
        AttentionNames(query: "\(p).query", key: "\(p).key", value: "\(p).value", output: "\(p).out")
    }

    /// Hugging Face BERT: `<p>.self.query|key|value`, `<p>.output.dense` (e.g. p = `encoder.layer.0.attention`).
    public static func bert(_ p: String) -> AttentionNames {
        AttentionNames(query: "\(p).self.query", key: "\(p).self.key", value: "\(p).self.value", output: "\(p).output.dense")
    }
}

/// `out = Wo · concat_h softmax(Q_h K_hᵀ / √Dh + mask) V_h + bo` with Q from `x`, K and V from the context.
///
/// Heads are strided GEMMs into the projected [B, T, C] buffers; nothing is copied per head.
public final class MultiHeadAttention {
    /// Projects x [.., C] → Q [.., C].
    public let query: Linear
    /// Projects context [.., Cc] → K [.., C].
    public let key: Linear
    /// Projects context [.., Cc] → V [.., C].
    public let value: Linear
    /// Projects the concatenated heads [.., C] → [.., C].
    public let output: Linear
    /// H.
    public let heads: Int
    /// C.
    public let width: Int
    /// Whether a query may only attend to keys at or before its own position.
    public let causal: Bool
    private var cache: (q: Tensor, k: Tensor, v: Tensor, probs: [Float], shape: AttentionShape, isSelf: Bool)?

    /// Registers the four projections under `names`.
    ///
    /// - Parameters:
    ///   - width: C, the query/output width; must be divisible by `heads`.
    ///   - contextWidth: Cc, the width of the context for cross-attention (defaults to C).
    public init(
        _ store: ParameterStore, names: AttentionNames, width: Int, heads: Int, contextWidth: Int? = nil, causal: Bool = false,
        weightInit: ParameterInit? = nil, biasInit: ParameterInit? = nil
    ) {
        precondition(heads > 0 && width % heads == 0, "attention width \(width) is not divisible by \(heads) heads")
        self.heads = heads
        self.width = width
        self.causal = causal
        let cc = contextWidth ?? width
        query = Linear(store, names.query, inFeatures: width, outFeatures: width, weightInit: weightInit, biasInit: biasInit)
        key = Linear(store, names.key, inFeatures: cc, outFeatures: width, weightInit: weightInit, biasInit: biasInit)
        value = Linear(store, names.value, inFeatures: cc, outFeatures: width, weightInit: weightInit, biasInit: biasInit)
        output = Linear(store, names.output, inFeatures: width, outFeatures: width, weightInit: weightInit, biasInit: biasInit)
    }

    /// Attention of `x` [B, T, C] over `context` [B, S, Cc] (nil: self-attention over `x`).
    ///
    /// - Parameter keyMask: [B, S] with 1 for real tokens and 0 for padding; nil keeps every key.
    ///   A query with no visible key outputs the output bias only.
    public func forward(_ x: Tensor, context: Tensor? = nil, keyMask: Tensor? = nil) -> Tensor {
        precondition(x.rank == 3 && x.shape[2] == width, "attention input must be [B, T, \(width)], got \(x.shape)")
        let ctx = context ?? x
        precondition(ctx.rank == 3 && ctx.shape[0] == x.shape[0], "attention context must be [B, S, Cc] with B = \(x.shape[0]), got \(ctx.shape)")
        let b = x.shape[0], t = x.shape[1], s = ctx.shape[1]
        if let keyMask { precondition(keyMask.shape == [b, s], "key mask must be [\(b), \(s)], got \(keyMask.shape)") }
        let q = query.forward(x), k = key.forward(ctx), v = value.forward(ctx)
        let shape = AttentionShape(batch: b, queryLength: t, keyLength: s, heads: heads, headDim: width / heads, causal: causal)
        var probs = [Float](repeating: 0, count: b * heads * t * s)
        var attended = [Float](repeating: 0, count: b * t * width)
        let scale = 1 / Float(width / heads).squareRoot()
        q.data.withUnsafeBufferPointer { pq in
            k.data.withUnsafeBufferPointer { pk in
                v.data.withUnsafeBufferPointer { pv in
                    probs.withUnsafeMutableBufferPointer { pp in
                        attended.withUnsafeMutableBufferPointer { po in
                            guard let qb = pq.baseAddress, let kb = pk.baseAddress, let vb = pv.baseAddress,
                                  let pb = pp.baseAddress, let ob = po.baseAddress else { return }
                            let run = { (mask: UnsafePointer<Float>?) in
                                Kernels.attentionForward(out: ob, ldo: self.width, probs: pb, q: qb, ldq: self.width, k: kb, ldk: self.width,
                                                         v: vb, ldv: self.width, keyMask: mask, shape: shape, scale: scale)
                            }
                            if let keyMask { keyMask.data.withUnsafeBufferPointer { run($0.baseAddress) } } else { run(nil) }
                        }
                    }
                }
            }
        }
        cache = (q, k, v, probs, shape, context == nil)
        return output.forward(Tensor(shape: [b, t, width], data: attended))
    }

    /// Back-propagates; returns dx and, for cross-attention, dContext (for self-attention dContext is nil
    /// and its contribution is already inside dx).
    public func backward(_ dOut: Tensor) -> (dInput: Tensor, dContext: Tensor?) {
        guard let c = cache else { preconditionFailure("\(query.weight.name): attention backward called before forward") }
        let dAttended = output.backward(dOut)
        var dq = Tensor(zeros: c.q.shape), dk = Tensor(zeros: c.k.shape), dv = Tensor(zeros: c.v.shape)
        let scale = 1 / Float(width / heads).squareRoot()
        var scratch = [Float](repeating: 0, count: max(1, c.shape.queryLength * c.shape.keyLength))
        dq.data.withUnsafeMutableBufferPointer { pdq in
            dk.data.withUnsafeMutableBufferPointer { pdk in
                dv.data.withUnsafeMutableBufferPointer { pdv in
                    dAttended.data.withUnsafeBufferPointer { pdo in
                        c.probs.withUnsafeBufferPointer { pp in
                            c.q.data.withUnsafeBufferPointer { pq in
                                c.k.data.withUnsafeBufferPointer { pk in
                                    c.v.data.withUnsafeBufferPointer { pv in
                                        scratch.withUnsafeMutableBufferPointer { ps in
                                            guard let a = pdq.baseAddress, let b = pdk.baseAddress, let d = pdv.baseAddress,
                                                  let o = pdo.baseAddress, let p = pp.baseAddress, let q = pq.baseAddress,
                                                  let k = pk.baseAddress, let v = pv.baseAddress, let s = ps.baseAddress else { return }
                                            Kernels.attentionBackward(dQ: a, dK: b, dV: d, dOut: o, ldo: width, probs: p, q: q, ldq: width,
                                                                      k: k, ldk: width, v: v, ldv: width, shape: c.shape, scale: scale, scratch: s)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var dx = query.backward(dq)
        var dContext = key.backward(dk)
        dContext.add(value.backward(dv))
        if c.isSelf {
            dx.add(dContext)
            return (dx, nil)
        }
        return (dx, dContext)
    }
}
