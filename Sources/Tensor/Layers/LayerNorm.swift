// Layer normalisation over the last dimension with a learned scale and shift.
// Shape legend: N rows (leading dims flattened), C width.

/// `y = (x − mean) / √(var + eps) · weight + bias` per row; parameters `<name>.weight`, `<name>.bias` [C].
public final class LayerNorm: Layer {
    /// The store holding the parameters.
    public let store: ParameterStore
    /// `<name>.weight` [C] (γ), initialised to ones.
    public let weight: Parameter
    /// `<name>.bias` [C] (β), initialised to zeros.
    public let bias: Parameter
    /// C.
    public let dim: Int
    /// Added to the variance (PyTorch 1e-5; BERT 1e-12).
    public let eps: Float
    private var input: Tensor?
    private var mean: [Float] = []
    private var rstd: [Float] = []

    /// Registers `<name>.weight` and `<name>.bias`.
    public init(_ store: ParameterStore, _ name: String, dim: Int, eps: Float = 1e-5) {
        self.store = store
        self.dim = dim
        self.eps = eps
        weight = store.add("\(name).weight", shape: [dim], initializer: .ones)
        bias = store.add("\(name).bias", shape: [dim], initializer: .zeros)
    }

    /// Normalises each row of `x[..., C]`.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == dim, "\(weight.name): input width \(x.lastDimension), expected \(dim)")
        input = x
        let rows = x.rowCount
        var out = [Float](repeating: 0, count: x.count)
        mean = [Float](repeating: 0, count: rows)
        rstd = [Float](repeating: 0, count: rows)
        store.withBuffers { v, _ in
            x.data.withUnsafeBufferPointer { px in
                out.withUnsafeMutableBufferPointer { po in
                    mean.withUnsafeMutableBufferPointer { pm in
                        rstd.withUnsafeMutableBufferPointer { ps in
                            guard let xb = px.baseAddress, let ob = po.baseAddress else { return }
                            Kernels.layerNormForward(out: ob, mean: pm.baseAddress, rstd: ps.baseAddress, input: xb,
                                                     weight: v + weight.offset, bias: v + bias.offset, rows: rows, dim: dim, eps: eps)
                        }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: out)
    }

    /// Adds dγ, dβ; returns dx.
    public func backward(_ dOut: Tensor) -> Tensor {
        let x = cached(input, weight.name)
        precondition(dOut.shape == x.shape, "\(weight.name): dOut \(dOut.shape) vs input \(x.shape)")
        var dx = [Float](repeating: 0, count: x.count)
        // Frozen parameters get no gradient (dx is the same either way).
        let learnsWeight = !store.isFrozen(weight), learnsBias = !store.isFrozen(bias)
        store.withBuffers { v, g in
            x.data.withUnsafeBufferPointer { px in
                dOut.data.withUnsafeBufferPointer { pd in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        mean.withUnsafeBufferPointer { pm in
                            rstd.withUnsafeBufferPointer { ps in
                                guard let xb = px.baseAddress, let db = pd.baseAddress, let dxb = pdx.baseAddress,
                                      let mb = pm.baseAddress, let sb = ps.baseAddress else { return }
                                Kernels.layerNormBackward(dInput: dxb, dWeight: learnsWeight ? g + weight.offset : nil,
                                                          dBias: learnsBias ? g + bias.offset : nil, dOut: db,
                                                          input: xb, weight: v + weight.offset, mean: mb, rstd: sb, rows: x.rowCount, dim: dim)
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: dx)
    }
}
