// Parameter-free layers: GELU (erf and tanh forms), softmax over the last dimension, dropout.
// Shape legend: any shape; softmax works on rows of the last dimension C.

/// GELU activation, elementwise.
public final class GELU: Layer {
    /// The formula (erf for BERT/PyTorch default, tanh for GPT-2).
    public let form: GELUForm
    private var input: Tensor?

    /// A GELU of the given form.
    public init(form: GELUForm = .erf) { self.form = form }

    /// `gelu(x)` elementwise.
    public func forward(_ x: Tensor) -> Tensor {
        input = x
        var out = x
        out.data.withUnsafeMutableBufferPointer { p in
            guard let b = p.baseAddress else { return }
            Kernels.geluForward(out: b, input: b, count: p.count, form: form)
        }
        return out
    }

    /// `gelu'(x) ⊙ dOut`.
    public func backward(_ dOut: Tensor) -> Tensor {
        let x = cached(input, "GELU")
        var dx = Tensor(zeros: x.shape)
        dx.data.withUnsafeMutableBufferPointer { pdx in
            x.data.withUnsafeBufferPointer { px in
                dOut.data.withUnsafeBufferPointer { pd in
                    guard let a = pdx.baseAddress, let b = px.baseAddress, let c = pd.baseAddress else { return }
                    Kernels.geluBackward(dInput: a, input: b, dOut: c, count: px.count, form: form)
                }
            }
        }
        return dx
    }
}

/// Softmax over the last dimension.
public final class Softmax: Layer {
    private var output: Tensor?

    /// A softmax layer.
    public init() {}

    /// Row-wise softmax of `x[..., C]`.
    public func forward(_ x: Tensor) -> Tensor {
        var out = x
        let rows = x.rowCount, dim = x.lastDimension
        out.data.withUnsafeMutableBufferPointer { p in
            guard let b = p.baseAddress else { return }
            Kernels.softmaxForward(out: b, input: b, rows: rows, dim: dim)
        }
        output = out
        return out
    }

    /// `p ⊙ (dOut − Σ p·dOut)` per row.
    public func backward(_ dOut: Tensor) -> Tensor {
        let p = cached(output, "Softmax")
        var dx = Tensor(zeros: p.shape)
        dx.data.withUnsafeMutableBufferPointer { pdx in
            p.data.withUnsafeBufferPointer { pp in
                dOut.data.withUnsafeBufferPointer { pd in
                    guard let a = pdx.baseAddress, let b = pp.baseAddress, let c = pd.baseAddress else { return }
                    Kernels.softmaxBackward(dInput: a, probs: b, dOut: c, rows: p.rowCount, dim: p.lastDimension)
                }
            }
        }
        return dx
    }
}

/// Inverted dropout: in training, zeroes each element with probability `p` and scales the rest by 1/(1−p);
/// at inference (`training == false`) it is the identity. Masks come from a seeded generator.
public final class Dropout: Layer {
    /// The drop probability p in [0, 1).
    public let probability: Float
    /// Whether `forward` drops (set false for evaluation).
    public var training: Bool
    private var random: SeededRandom
    private var mask: [Float]?

    /// A dropout layer; `seed` fixes the sequence of masks.
    public init(probability: Float, seed: UInt64 = 0, training: Bool = true) {
        precondition(probability >= 0 && probability < 1, "dropout probability \(probability) not in [0, 1)")
        self.probability = probability
        self.training = training
        random = SeededRandom(seed: seed)
    }

    /// Applies a fresh mask (training) or passes `x` through (inference).
    public func forward(_ x: Tensor) -> Tensor {
        guard training && probability > 0 else { mask = nil; return x }
        let keep = 1 - probability, scale = 1 / keep
        var m = [Float](repeating: 0, count: x.count)
        for i in 0..<m.count where random.nextUnit() < keep { m[i] = scale }
        mask = m
        return x.multiplied(by: Tensor(shape: x.shape, data: m))
    }

    /// The same mask applied to the gradient.
    public func backward(_ dOut: Tensor) -> Tensor {
        guard let mask else { return dOut }
        return dOut.multiplied(by: Tensor(shape: dOut.shape, data: mask))
    }
}
