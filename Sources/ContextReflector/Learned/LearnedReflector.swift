// WorldGPT's learned reflector: a BERT-style Q-Former that turns (state0, action, retrieved triplets) into tokens.
// Shape legend: B batch, Q query tokens (4), L context tokens (3 per triplet), H hidden width (768),
// In = state width + action width (1536), Cw context width (768), E encoder width (768), O output width.
import Tensor

/// One Q-Former layer: post-LN self-attention, optional cross-attention over the context, query feed-forward.
final class QFormerLayer {
    let selfAttention: MultiHeadAttention
    let selfNorm: LayerNorm
    let crossAttention: MultiHeadAttention?
    let crossNorm: LayerNorm?
    let intermediate: Linear
    let activation = GELU(form: .erf)
    let output: Linear
    let outputNorm: LayerNorm

    /// Registers the layer's parameters under `Qformer.bert.encoder.layer.<index>`, in checkpoint order.
    init(_ store: ParameterStore, index: Int, config c: LearnedReflectorConfig, random: Bool) {
        let p = LearnedReflectorConfig.layerPrefix(index)
        let bertWeights = random ? ParameterInit.normal(std: 0.02) : .zeros
        selfAttention = MultiHeadAttention(
            store, names: .bert("\(p).attention"), width: c.hiddenWidth, heads: c.heads, weightInit: bertWeights, biasInit: .zeros)
        selfNorm = LayerNorm(store, "\(p).attention.output.LayerNorm", dim: c.hiddenWidth, eps: c.layerNormEps)
        if c.crossAttention[index] {
            crossAttention = MultiHeadAttention(
                store, names: .bert("\(p).crossattention"), width: c.hiddenWidth, heads: c.heads, contextWidth: c.encoderWidth,
                weightInit: bertWeights, biasInit: .zeros)
            crossNorm = LayerNorm(store, "\(p).crossattention.output.LayerNorm", dim: c.hiddenWidth, eps: c.layerNormEps)
        } else {
            crossAttention = nil
            crossNorm = nil
        }
        intermediate = Linear(
            store, "\(p).intermediate_query.dense", inFeatures: c.hiddenWidth, outFeatures: c.intermediateWidth,
            weightInit: bertWeights, biasInit: .zeros)
        output = Linear(
            store, "\(p).output_query.dense", inFeatures: c.intermediateWidth, outFeatures: c.hiddenWidth,
            weightInit: bertWeights, biasInit: .zeros)
        outputNorm = LayerNorm(store, "\(p).output_query.LayerNorm", dim: c.hiddenWidth, eps: c.layerNormEps)
    }

    /// `h` [B, Q, H] over `context` [B, L, E] → (after self-attention, after cross-attention, layer output).
    func forward(_ h: Tensor, context: Tensor, mask: Tensor?) -> (selfOut: Tensor, crossOut: Tensor, out: Tensor) {
        let h1 = selfNorm.forward(selfAttention.forward(h) + h)
        var h2 = h1
        if let crossAttention, let crossNorm {
            h2 = crossNorm.forward(crossAttention.forward(h1, context: context, keyMask: mask) + h1)
        }
        let f = output.forward(activation.forward(intermediate.forward(h2)))
        return (h1, h2, outputNorm.forward(f + h2))
    }

    /// Back-propagates dOut [B, Q, H]; returns dh and adds the context gradient into `dContext`.
    func backward(_ dOut: Tensor, dContext: inout Tensor) -> Tensor {
        let d3 = outputNorm.backward(dOut)
        var dh2 = intermediate.backward(activation.backward(output.backward(d3)))
        dh2.add(d3)
        var dh1 = dh2
        if let crossAttention, let crossNorm {
            let d2 = crossNorm.backward(dh2)
            let (dx, dc) = crossAttention.backward(d2)
            dh1 = dx + d2
            if let dc { dContext.add(dc) }
        }
        let d1 = selfNorm.backward(dh1)
        return selfAttention.backward(d1).dInput + d1
    }
}

/// The inputs of the learned reflector for a batch.
public struct ReflectorInput: Sendable {
    /// [B, Ds]: the modality-averaged state0 embedding.
    public var state0: Tensor
    /// [B, Da]: the action embedding (Ds + Da = the checkpoint's `fc1` input width).
    public var action: Tensor
    /// [B, L, Cw]: the kept context triplets, `[state0, action, state1]` per triplet, along L.
    public var context: Tensor
    /// [B, L]: 1 for real context tokens, 0 for padding; nil when every row has L real tokens.
    public var contextMask: Tensor?

    /// Batch inputs.
    public init(state0: Tensor, action: Tensor, context: Tensor, contextMask: Tensor? = nil) {
        self.state0 = state0
        self.action = action
        self.context = context
        self.contextMask = contextMask
    }
}

/// Gradients of a loss with respect to the reflector's inputs.
public struct ReflectorInputGradients: Sendable {
    /// [B, Ds].
    public var state0: Tensor
    /// [B, Da].
    public var action: Tensor
    /// [B, L, Cw].
    public var context: Tensor
}

/// WorldGPT's ContextReflector Q-Former, with forward and backward passes on the `Tensor` layers.
///
/// Forward (as the original `Reflector.forward`): `x = fc1([state0, action])`; `ctx = fc2(context)`;
/// `h = LayerNorm(query_tokens + x)`; per layer post-LN self-attention, cross-attention over `ctx`,
/// query feed-forward with erf GELU; `tokens = fc3(h)` [B, Q, O]. No dropout (evaluation semantics,
/// also while training here). Parameters live in one `ParameterStore` under the checkpoint's names.
/// Not thread-safe: layers cache activations for backward.
public final class LearnedReflector {
    /// The sizes.
    public let config: LearnedReflectorConfig
    /// Every parameter, named as in the PyTorch checkpoint.
    public let store: ParameterStore
    /// `query_tokens` [1, Q, H].
    public let queryTokens: Parameter
    let fc1: Linear
    let fc2: Linear
    let embeddingNorm: LayerNorm
    let layers: [QFormerLayer]
    let fc3: Linear
    /// When true, `forward` records its intermediates in `intermediates` (names as the fixture's `debug_*`).
    public var recordsIntermediates = false
    /// The intermediates of the last forward when `recordsIntermediates` is on.
    public private(set) var intermediates: [(name: String, tensor: Tensor)] = []
    private var cache: (batch: Int, stateWidth: Int, contextShape: [Int])?

    /// A freshly initialised reflector (the original init: BERT N(0, 0.02) weights and zero biases in the
    /// Q-Former, PyTorch's default for `fc1..3`, query tokens N(0, 0.02)), drawn from `seed`.
    /// - Throws: `ReflectorError.invalidConfig` for impossible sizes.
    public convenience init(config: LearnedReflectorConfig, seed: UInt64 = 0) throws {
        try self.init(config: config, seed: seed, random: true)
    }

    /// A reflector with random (`random`) or all-zero parameters (LayerNorms 1/0), the latter before loading weights.
    init(config: LearnedReflectorConfig, seed: UInt64, random: Bool) throws {
        try config.validate()
        self.config = config
        let store = ParameterStore(seed: seed)
        self.store = store
        queryTokens = store.add("query_tokens", shape: [1, config.queryTokenCount, config.hiddenWidth], initializer: random ? .normal(std: 0.02) : .zeros)
        let plain: ParameterInit? = random ? nil : .zeros  // nil: PyTorch's default Linear init
        fc1 = Linear(store, "fc1", inFeatures: config.inputWidth, outFeatures: config.hiddenWidth, weightInit: plain, biasInit: plain)
        fc2 = Linear(store, "fc2", inFeatures: config.contextWidth, outFeatures: config.encoderWidth, weightInit: plain, biasInit: plain)
        embeddingNorm = LayerNorm(store, "Qformer.bert.embeddings.LayerNorm", dim: config.hiddenWidth, eps: config.layerNormEps)
        layers = (0..<config.layerCount).map { QFormerLayer(store, index: $0, config: config, random: random) }
        fc3 = Linear(store, "fc3", inFeatures: config.hiddenWidth, outFeatures: config.outputWidth, weightInit: plain, biasInit: plain)
    }

    /// Checks the input shapes and values against the configuration.
    public func validate(_ input: ReflectorInput) throws {
        func check(_ name: String, _ t: Tensor, rank: Int, _ expected: String, _ ok: Bool) throws {
            guard t.rank == rank, ok else { throw ReflectorError.input(name: name, problem: "shape \(t.shape), expected \(expected)") }
            guard t.data.allSatisfy(\.isFinite) else { throw ReflectorError.input(name: name, problem: "holds NaN or infinite values") }
        }
        let b = input.state0.shape.first ?? 0
        try check("state0", input.state0, rank: 2, "[B, Ds] with B ≥ 1", b >= 1)
        try check("action", input.action, rank: 2, "[\(b), \(config.inputWidth - input.state0.lastDimension)]",
                  input.action.rank == 2 && input.action.shape[0] == b && input.state0.lastDimension + input.action.lastDimension == config.inputWidth)
        try check("context", input.context, rank: 3, "[\(b), L ≥ 1, \(config.contextWidth)]",
                  input.context.rank == 3 && input.context.shape[0] == b && input.context.shape[1] >= 1 && input.context.shape[2] == config.contextWidth)
        if let mask = input.contextMask {
            let l = input.context.shape[1]
            try check("context_mask", mask, rank: 2, "[\(b), \(l)]", mask.shape == [b, l])
        }
    }

    /// The reflector tokens [B, Q, O] for a batch.
    /// - Throws: `ReflectorError.input` when a shape does not match the checkpoint or a value is not finite.
    public func forward(_ input: ReflectorInput) throws -> Tensor {
        try validate(input)
        let b = input.state0.shape[0], ds = input.state0.lastDimension, da = input.action.lastDimension
        let q = config.queryTokenCount, h = config.hiddenWidth
        var joined = [Float](repeating: 0, count: b * (ds + da))
        for r in 0..<b {
            joined.replaceSubrange((r * (ds + da))..<(r * (ds + da) + ds), with: input.state0.data[(r * ds)..<((r + 1) * ds)])
            joined.replaceSubrange((r * (ds + da) + ds)..<((r + 1) * (ds + da)), with: input.action.data[(r * da)..<((r + 1) * da)])
        }
        let x = fc1.forward(Tensor(shape: [b, ds + da], data: joined))
        let context = fc2.forward(input.context)
        var embeds = [Float](repeating: 0, count: b * q * h)
        store.values.withUnsafeBufferPointer { v in
            x.data.withUnsafeBufferPointer { px in
                embeds.withUnsafeMutableBufferPointer { pe in
                    for r in 0..<b {
                        for t in 0..<q {
                            let out = (r * q + t) * h, tok = queryTokens.offset + t * h
                            for c in 0..<h { pe[out + c] = v[tok + c] + px[r * h + c] }
                        }
                    }
                }
            }
        }
        let queryEmbeds = Tensor(shape: [b, q, h], data: embeds)
        var hidden = embeddingNorm.forward(queryEmbeds)
        intermediates = []
        if recordsIntermediates {
            intermediates = [("fc1_out", x), ("query_embeds", queryEmbeds), ("embeddings_ln", hidden), ("fc2_context", context)]
        }
        for (i, layer) in layers.enumerated() {
            let (selfOut, crossOut, out) = layer.forward(hidden, context: context, mask: input.contextMask)
            if recordsIntermediates {
                intermediates += [("layer\(i)_selfattn_out", selfOut), ("layer\(i)_crossattn_out", crossOut), ("layer\(i)_out", out)]
            }
            hidden = out
        }
        cache = (b, ds, input.context.shape)
        return fc3.forward(hidden)
    }

    /// Back-propagates dLoss/dTokens [B, Q, O] through the last `forward`: adds every parameter's gradient
    /// into `store.gradients` and returns the gradients with respect to the inputs.
    public func backward(_ dTokens: Tensor) -> ReflectorInputGradients {
        guard let cache else { preconditionFailure("LearnedReflector.backward called before forward") }
        let b = cache.batch, q = config.queryTokenCount, h = config.hiddenWidth
        precondition(dTokens.shape == [b, q, config.outputWidth], "reflector dTokens \(dTokens.shape), expected [\(b), \(q), \(config.outputWidth)]")
        var dHidden = fc3.backward(dTokens)
        var dContext = Tensor(zeros: [b, cache.contextShape[1], config.encoderWidth])
        for layer in layers.reversed() { dHidden = layer.backward(dHidden, dContext: &dContext) }
        let dEmbeds = embeddingNorm.backward(dHidden)
        // query_embeds = query_tokens (broadcast over B) + x (broadcast over Q).
        var dx = [Float](repeating: 0, count: b * h)
        let offset = queryTokens.offset
        store.gradients.withUnsafeMutableBufferPointer { g in
            dEmbeds.data.withUnsafeBufferPointer { pd in
                for r in 0..<b {
                    for t in 0..<q {
                        let row = (r * q + t) * h
                        for c in 0..<h {
                            g[offset + t * h + c] += pd[row + c]
                            dx[r * h + c] += pd[row + c]
                        }
                    }
                }
            }
        }
        let dJoined = fc1.backward(Tensor(shape: [b, h], data: dx))
        let contextGradient = fc2.backward(dContext)
        let ds = cache.stateWidth, width = config.inputWidth, da = width - ds
        var dState = [Float](repeating: 0, count: b * ds), dAction = [Float](repeating: 0, count: b * da)
        for r in 0..<b {
            dState.replaceSubrange((r * ds)..<((r + 1) * ds), with: dJoined.data[(r * width)..<(r * width + ds)])
            dAction.replaceSubrange((r * da)..<((r + 1) * da), with: dJoined.data[(r * width + ds)..<((r + 1) * width)])
        }
        return ReflectorInputGradients(
            state0: Tensor(shape: [b, ds], data: dState), action: Tensor(shape: [b, da], data: dAction), context: contextGradient)
    }
}
