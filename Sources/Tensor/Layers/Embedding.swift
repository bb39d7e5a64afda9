// Token (or position) embedding table lookup.
// Shape legend: V vocabulary size, C width; ids of any shape [...] → output [..., C].

/// A lookup table `<name>.weight` [V, C]: row `id` is the embedding of `id`.
public final class Embedding {
    /// The store holding the table.
    public let store: ParameterStore
    /// `<name>.weight` [V, C].
    public let weight: Parameter
    /// V.
    public let vocabularySize: Int
    /// C.
    public let dim: Int
    private var ids: [Int32]?

    /// Registers `<name>.weight`, initialised N(0, std) (BERT: 0.02).
    public init(_ store: ParameterStore, _ name: String, vocabularySize: Int, dim: Int, std: Float = 0.02) {
        self.store = store
        self.vocabularySize = vocabularySize
        self.dim = dim
        weight = store.add("\(name).weight", shape: [vocabularySize, dim], initializer: .normal(std: std))
    }

    /// Rows of the table for `ids` (each in 0..<V); the output has shape `shape + [C]`.
    public func forward(ids: [Int], shape: [Int]) -> Tensor {
        precondition(Tensor.elementCount(shape) == ids.count, "\(weight.name): \(ids.count) ids for shape \(shape)")
        precondition(ids.allSatisfy { $0 >= 0 && $0 < vocabularySize }, "\(weight.name): id out of range 0..<\(vocabularySize)")
        let ids32 = ids.map { Int32($0) }
        self.ids = ids32
        var out = [Float](repeating: 0, count: ids.count * dim)
        store.withBuffers { v, _ in
            ids32.withUnsafeBufferPointer { pi in
                out.withUnsafeMutableBufferPointer { po in
                    guard let ib = pi.baseAddress, let ob = po.baseAddress else { return }
                    Kernels.embeddingForward(out: ob, ids: ib, table: v + weight.offset, count: ids32.count, dim: dim)
                }
            }
        }
        return Tensor(shape: shape + [dim], data: out)
    }

    /// Scatter-adds `dOut` [..., C] into the table's gradient rows.
    public func backward(_ dOut: Tensor) {
        guard let ids else { preconditionFailure("\(weight.name).backward called before forward") }
        precondition(dOut.count == ids.count * dim, "\(weight.name): dOut \(dOut.shape) does not match \(ids.count) ids")
        store.withBuffers { _, g in
            ids.withUnsafeBufferPointer { pi in
                dOut.data.withUnsafeBufferPointer { pd in
                    guard let ib = pi.baseAddress, let db = pd.baseAddress else { return }
                    Kernels.embeddingBackward(dTable: g + weight.offset, ids: ib, dOut: db, count: ids.count, dim: dim)
                }
            }
        }
    }
}
