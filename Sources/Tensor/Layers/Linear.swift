// Linear (fully connected) layer: y = x·Wᵀ + b with PyTorch's weight layout [O, C].
// Shape legend: N rows (all leading dims of the input flattened), C input width, O output width.

/// `y[..., O] = x[..., C] · Wᵀ + b`, weights named `<name>.weight` [O, C] and `<name>.bias` [O].
public final class Linear: Layer {
    /// The store holding the weights.
    public let store: ParameterStore
    /// `<name>.weight`, shape [O, C].
    public let weight: Parameter
    /// `<name>.bias`, shape [O], if the layer has a bias.
    public let bias: Parameter?
    /// C.
    public let inFeatures: Int
    /// O.
    public let outFeatures: Int
    private var input: Tensor?

    /// Registers `<name>.weight` (and `<name>.bias`) in `store`.
    ///
    /// Default initialisation is PyTorch's: uniform in ±1/√C for weight and bias.
    public init(
        _ store: ParameterStore, _ name: String, inFeatures: Int, outFeatures: Int, bias: Bool = true,
        weightInit: ParameterInit? = nil, biasInit: ParameterInit? = nil
    ) {
        self.store = store
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        let bound = 1 / Float(max(inFeatures, 1)).squareRoot()
        weight = store.add("\(name).weight", shape: [outFeatures, inFeatures], initializer: weightInit ?? .uniform(bound: bound))
        self.bias = bias ? store.add("\(name).bias", shape: [outFeatures], initializer: biasInit ?? .uniform(bound: bound)) : nil
    }

    /// `x[..., C]` → `y[..., O]`.
    public func forward(_ x: Tensor) -> Tensor {
        precondition(x.lastDimension == inFeatures, "\(weight.name): input width \(x.lastDimension), expected \(inFeatures)")
        input = x
        let rows = x.rowCount
        var out = [Float](repeating: 0, count: rows * outFeatures)
        store.withBuffers { v, _ in
            x.data.withUnsafeBufferPointer { px in
                out.withUnsafeMutableBufferPointer { po in
                    guard let xb = px.baseAddress, let ob = po.baseAddress else { return }
                    Kernels.linearForward(out: ob, input: xb, weight: v + weight.offset, bias: bias.map { v + $0.offset },
                                          rows: rows, inDim: inFeatures, outDim: outFeatures)
                }
            }
        }
        return Tensor(shape: Array(x.shape.dropLast()) + [outFeatures], data: out)
    }

    /// Adds dW, db; returns dx.
    public func backward(_ dOut: Tensor) -> Tensor {
        let x = cached(input, weight.name)
        precondition(dOut.rowCount == x.rowCount && dOut.lastDimension == outFeatures, "\(weight.name): dOut \(dOut.shape) does not match")
        let rows = x.rowCount
        var dx = [Float](repeating: 0, count: x.count)
        // Frozen parameters get no gradient (dx is the same either way).
        let learnsWeight = !store.isFrozen(weight), learnsBias = bias.map { !store.isFrozen($0) } ?? false
        store.withBuffers { v, g in
            x.data.withUnsafeBufferPointer { px in
                dOut.data.withUnsafeBufferPointer { pd in
                    dx.withUnsafeMutableBufferPointer { pdx in
                        guard let xb = px.baseAddress, let db = pd.baseAddress else { return }
                        Kernels.linearBackward(
                            dInput: pdx.baseAddress, dWeight: learnsWeight ? g + weight.offset : nil,
                            dBias: learnsBias ? bias.map { g + $0.offset } : nil,
                            dOut: db, input: xb, weight: v + weight.offset, rows: rows, inDim: inFeatures, outDim: outFeatures)
                    }
                }
            }
        }
        return Tensor(shape: x.shape, data: dx)
    }
}
