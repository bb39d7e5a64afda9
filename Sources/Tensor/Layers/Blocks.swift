// Ready-made transformer blocks built from the layers: a pre-LN block (GPT-style) and a post-LN BERT layer
// with optional cross-attention (the Q-Former's building block). Forward caches, backward returns gradients.
// Shape legend: B batch, T tokens, S context tokens, C width, F feed-forward width, Cc context width.

/// Two linear layers with GELU between: `fc2(gelu(fc1(x)))`, C → F → C.
public final class FeedForward: Layer {
    /// C → F.
    public let up: Linear
    /// The activation.
    public let activation: GELU
    /// F → C.
    public let down: Linear

    /// Registers `<upName>` [F, C] and `<downName>` [C, F].
    public init(_ store: ParameterStore, upName: String, downName: String, width: Int, hiddenWidth: Int,
                gelu: GELUForm = .erf, weightInit: ParameterInit? = nil, biasInit: ParameterInit? = nil) {
        up = Linear(store, upName, inFeatures: width, outFeatures: hiddenWidth, weightInit: weightInit, biasInit: biasInit)
        activation = GELU(form: gelu)
        down = Linear(store, downName, inFeatures: hiddenWidth, outFeatures: width, weightInit: weightInit, biasInit: biasInit)
    }

    /// `down(gelu(up(x)))`.
    public func forward(_ x: Tensor) -> Tensor { down.forward(activation.forward(up.forward(x))) }
    /// Back through down, GELU, up.
    public func backward(_ d: Tensor) -> Tensor { up.backward(activation.backward(down.backward(d))) }
}

/// A pre-LN transformer block: `x + attn(ln1(x))`, then `h + mlp(ln2(h))` (GPT-2 / ViT layout).
///
/// Parameter names under `<name>`: `ln1`, `attn.{query,key,value,out}`, `ln2`, `mlp.fc1`, `mlp.fc2`.
public final class PreLNTransformerBlock {
    /// LayerNorm before attention.
    public let norm1: LayerNorm
    /// Self-attention.
    public let attention: MultiHeadAttention
    /// LayerNorm before the MLP.
    public let norm2: LayerNorm
    /// The MLP (C → F → C).
    public let mlp: FeedForward
    /// Dropout on both residual branches (identity unless `training`).
    public let dropout: Dropout

    /// A block of width C with `heads` heads and MLP width F (default 4C).
    public init(_ store: ParameterStore, _ name: String, width: Int, heads: Int, hiddenWidth: Int? = nil,
                causal: Bool = false, gelu: GELUForm = .tanh, dropout: Float = 0, seed: UInt64 = 0, eps: Float = 1e-5) {
        norm1 = LayerNorm(store, "\(name).ln1", dim: width, eps: eps)
        attention = MultiHeadAttention(store, names: .plain("\(name).attn"), width: width, heads: heads, causal: causal)
        norm2 = LayerNorm(store, "\(name).ln2", dim: width, eps: eps)
        mlp = FeedForward(store, upName: "\(name).mlp.fc1", downName: "\(name).mlp.fc2", width: width,
                          hiddenWidth: hiddenWidth ?? 4 * width, gelu: gelu)
        self.dropout = Dropout(probability: dropout, seed: seed, training: dropout > 0)
        dropout2 = Dropout(probability: dropout, seed: seed &+ 1, training: dropout > 0)
    }
    private let dropout2: Dropout

    /// Sets training mode (dropout on) or evaluation mode (dropout off).
    public func setTraining(_ on: Bool) {
        dropout.training = on && dropout.probability > 0
        dropout2.training = dropout.training
    }

    /// x [B, T, C] → [B, T, C]; `keyMask` [B, T] marks real tokens (1) and padding (0).
    public func forward(_ x: Tensor, keyMask: Tensor? = nil) -> Tensor {
        let h = x + dropout.forward(attention.forward(norm1.forward(x), keyMask: keyMask))
        return h + dropout2.forward(mlp.forward(norm2.forward(h)))
    }

    /// dOut [B, T, C] → dx.
    public func backward(_ dOut: Tensor) -> Tensor {
        let dh = dOut + norm2.backward(mlp.backward(dropout2.backward(dOut)))
        return dh + norm1.backward(attention.backward(dropout.backward(dh)).dInput)
    }
}

/// Checkpoint names of one BERT layer (Hugging Face layout); change the FFN names for the Q-Former's
/// query branch (`intermediate_query`, `output_query`).
public struct BertLayerNames: Sendable, Equatable {
    /// `<layer>.attention` (→ `.self.query`, …, `.output.dense`, `.output.LayerNorm`).
    public var attention: String
    /// `<layer>.crossattention`.
    public var crossAttention: String
    /// `<layer>.intermediate` (→ `.dense`).
    public var intermediate: String
    /// `<layer>.output` (→ `.dense`, `.LayerNorm`).
    public var output: String

    /// The standard names under a layer prefix such as `encoder.layer.0`.
    public init(layer: String, intermediate: String = "intermediate", output: String = "output") {
        attention = "\(layer).attention"
        crossAttention = "\(layer).crossattention"
        self.intermediate = "\(layer).\(intermediate)"
        self.output = "\(layer).\(output)"
    }
}

/// A post-LN BERT layer: `h = LN(x + selfAttn(x))`, optionally `h = LN(h + crossAttn(h, context))`,
/// then `LN(h + FFN(h))` with GELU. With a context width it is the Q-Former layer.
public final class BertLayer {
    /// Self-attention.
    public let selfAttention: MultiHeadAttention
    /// LayerNorm after self-attention.
    public let selfNorm: LayerNorm
    /// Cross-attention over a context, if configured.
    public let crossAttention: MultiHeadAttention?
    /// LayerNorm after cross-attention.
    public let crossNorm: LayerNorm?
    /// The FFN (`intermediate.dense` then `output.dense`).
    public let feedForward: FeedForward
    /// LayerNorm after the FFN.
    public let outputNorm: LayerNorm
    /// Dropout after each sublayer (identity unless training).
    private let drops: [Dropout]

    /// A layer of width C, `heads` heads, FFN width F; `contextWidth` (Cc) adds cross-attention.
    public init(_ store: ParameterStore, names: BertLayerNames, width: Int, heads: Int, hiddenWidth: Int,
                contextWidth: Int? = nil, eps: Float = 1e-12, gelu: GELUForm = .erf, dropout: Float = 0, seed: UInt64 = 0,
                weightInit: ParameterInit? = .normal(std: 0.02), biasInit: ParameterInit? = .zeros) {
        selfAttention = MultiHeadAttention(store, names: .bert(names.attention), width: width, heads: heads,
                                           weightInit: weightInit, biasInit: biasInit)
        selfNorm = LayerNorm(store, "\(names.attention).output.LayerNorm", dim: width, eps: eps)
        if let contextWidth {
            crossAttention = MultiHeadAttention(store, names: .bert(names.crossAttention), width: width, heads: heads,
                                                contextWidth: contextWidth, weightInit: weightInit, biasInit: biasInit)
            crossNorm = LayerNorm(store, "\(names.crossAttention).output.LayerNorm", dim: width, eps: eps)
        } else {
            crossAttention = nil
            crossNorm = nil
        }
        feedForward = FeedForward(store, upName: "\(names.intermediate).dense", downName: "\(names.output).dense",
                                  width: width, hiddenWidth: hiddenWidth, gelu: gelu, weightInit: weightInit, biasInit: biasInit)
        outputNorm = LayerNorm(store, "\(names.output).LayerNorm", dim: width, eps: eps)
        drops = (0..<3).map { Dropout(probability: dropout, seed: seed &+ UInt64($0), training: dropout > 0) }
    }

    /// Sets training mode (dropout on) or evaluation mode.
    public func setTraining(_ on: Bool) { for d in drops { d.training = on && d.probability > 0 } }

    /// x [B, T, C] (+ context [B, S, Cc]) → [B, T, C].
    ///
    /// - Parameters:
    ///   - keyMask: [B, T] padding mask for self-attention.
    ///   - contextMask: [B, S] padding mask for cross-attention.
    public func forward(_ x: Tensor, keyMask: Tensor? = nil, context: Tensor? = nil, contextMask: Tensor? = nil) -> Tensor {
        var h = selfNorm.forward(x + drops[0].forward(selfAttention.forward(x, keyMask: keyMask)))
        if let crossAttention, let crossNorm {
            guard let context else { preconditionFailure("BertLayer with cross-attention needs a context") }
            h = crossNorm.forward(h + drops[1].forward(crossAttention.forward(h, context: context, keyMask: contextMask)))
        }
        return outputNorm.forward(h + drops[2].forward(feedForward.forward(h)))
    }

    /// dOut → (dx, dContext) — dContext is nil without cross-attention.
    public func backward(_ dOut: Tensor) -> (dInput: Tensor, dContext: Tensor?) {
        let dSum = outputNorm.backward(dOut)
        var dh = dSum + feedForward.backward(drops[2].backward(dSum))
        var dContext: Tensor?
        if let crossAttention, let crossNorm {
            let dCross = crossNorm.backward(dh)
            let (dq, dc) = crossAttention.backward(drops[1].backward(dCross))
            dh = dCross + dq
            dContext = dc
        }
        let dSelf = selfNorm.backward(dh)
        return (dSelf + selfAttention.backward(drops[0].backward(dSelf)).dInput, dContext)
    }
}
