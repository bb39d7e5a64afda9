// Named parameters: every trainable value of a model lives in one flat buffer, gradients in a twin buffer.
// Shape legend: each parameter keeps its own shape (PyTorch layout, e.g. Linear weight [O, C]).
import Foundation

/// One named slice of a `ParameterStore`'s flat buffers.
public struct Parameter: Sendable, Hashable, CustomStringConvertible {
    /// The checkpoint name, e.g. `encoder.layer.0.attention.self.query.weight`.
    public let name: String
    /// The parameter's shape.
    public let shape: [Int]
    /// Where the values start in `ParameterStore.values` (and the gradients in `gradients`).
    public let offset: Int
    /// The number of elements.
    public var count: Int { Tensor.elementCount(shape) }
    /// `offset ..< offset + count`.
    public var range: Range<Int> { offset..<(offset + count) }
    /// "name [shape]".
    public var description: String { "\(name) \(shape)" }
}

/// How a new parameter is filled.
public enum ParameterInit: Sendable {
    /// All zeros.
    case zeros
    /// All ones.
    case ones
    /// Normal samples with mean 0 and this standard deviation (BERT uses 0.02).
    case normal(std: Float)
    /// Uniform samples in [−bound, bound) (PyTorch's Linear default uses 1/√fanIn).
    case uniform(bound: Float)
    /// Exactly these values.
    case values([Float])
}

/// A small deterministic generator (SplitMix64): same seed, same parameters and dropout masks everywhere.
public struct SeededRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64
    /// A generator started from `seed`.
    public init(seed: UInt64) { state = seed }
    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// A uniform Float in [0, 1).
    public mutating func nextUnit() -> Float { Float(next() >> 40) / Float(1 << 24) }
}

/// All parameters of a model: names → slices of one flat value buffer, with gradients alongside.
///
/// Layers register their parameters at construction (`add`) and read/write them through the
/// buffers during forward/backward. One call saves or loads everything (`Checkpoint`).
/// Not thread-safe: one model, one thread (BLAS does the parallel work).
public final class ParameterStore {
    /// Every parameter in registration order.
    public private(set) var parameters: [Parameter] = []
    /// All values, concatenated in registration order.
    public var values: [Float] = []
    /// All gradients, same layout as `values`. Backward passes add into it; `zeroGradients()` clears it.
    public var gradients: [Float] = []
    /// Parameters excluded from optimisation (their gradients are still computed).
    public private(set) var frozen: Set<String> = []
    private var indexByName: [String: Int] = [:]
    /// The generator used to initialise new parameters.
    public var random: SeededRandom

    /// An empty store whose initialisers draw from a generator seeded with `seed`.
    public init(seed: UInt64 = 0) { random = SeededRandom(seed: seed) }

    /// The total number of scalar parameters.
    public var count: Int { values.count }

    /// Registers a new parameter and fills it.
    ///
    /// - Precondition: the name is not already registered.
    @discardableResult
    public func add(_ name: String, shape: [Int], initializer: ParameterInit) -> Parameter {
        precondition(indexByName[name] == nil, "parameter \(name) registered twice")
        let n = Tensor.elementCount(shape)
        let p = Parameter(name: name, shape: shape, offset: values.count)
        switch initializer {
        case .zeros: values.append(contentsOf: repeatElement(0, count: n))
        case .ones: values.append(contentsOf: repeatElement(1, count: n))
        case .normal(let std): values.append(contentsOf: Tensor(randomNormal: shape, std: std, using: &random).data)
        case .uniform(let bound): values.append(contentsOf: Tensor(randomUniform: shape, bound: bound, using: &random).data)
        case .values(let v):
            precondition(v.count == n, "parameter \(name): \(v.count) initial values for shape \(shape)")
            values.append(contentsOf: v)
        }
        gradients.append(contentsOf: repeatElement(0, count: n))
        indexByName[name] = parameters.count
        parameters.append(p)
        return p
    }

    /// The parameter with this name, if registered.
    public subscript(name: String) -> Parameter? { indexByName[name].map { parameters[$0] } }

    /// A copy of a parameter's values as a tensor.
    public func value(_ p: Parameter) -> Tensor { Tensor(shape: p.shape, data: Array(values[p.range])) }

    /// A copy of a parameter's gradient as a tensor.
    public func gradient(_ p: Parameter) -> Tensor { Tensor(shape: p.shape, data: Array(gradients[p.range])) }

    /// Overwrites a parameter's values (same element count).
    public func setValue(_ p: Parameter, _ t: Tensor) {
        precondition(t.count == p.count, "parameter \(p.name) \(p.shape) cannot take \(t.shape)")
        values.replaceSubrange(p.range, with: t.data)
    }

    /// Sets every gradient to zero (call before each backward pass).
    public func zeroGradients() {
        gradients.withUnsafeMutableBufferPointer { g in g.update(repeating: 0) }
    }

    /// Whether `p` is frozen: the optimizer leaves it alone, and layers skip computing its gradient (a frozen model
    /// that only passes gradients back to its inputs costs no weight-gradient products).
    public func isFrozen(_ p: Parameter) -> Bool { !frozen.isEmpty && frozen.contains(p.name) }

    /// Excludes (or re-includes) every parameter whose name starts with `prefix` from optimisation (and from gradient
    /// computation, see `isFrozen`).
    public func setFrozen(_ isFrozen: Bool, prefix: String = "") {
        for p in parameters where p.name.hasPrefix(prefix) {
            if isFrozen { frozen.insert(p.name) } else { frozen.remove(p.name) }
        }
    }

    /// The global L2 norm of all gradients of trainable parameters (accumulated in Double).
    public func gradientNorm() -> Float {
        var sum = 0.0
        gradients.withUnsafeBufferPointer { g in
            for p in parameters where !frozen.contains(p.name) {
                for i in p.range { sum += Double(g[i]) * Double(g[i]) }
            }
        }
        return Float(sum.squareRoot())
    }

    /// Scales all gradients so their global norm is at most `maxNorm`; returns the norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Float) -> Float {
        let norm = gradientNorm()
        if norm > maxNorm && norm > 0 {
            let s = maxNorm / (norm + 1e-6)
            gradients.withUnsafeMutableBufferPointer { g in for i in g.indices { g[i] *= s } }
        }
        return norm
    }

    /// Pointer access to a parameter's values and gradients together (for layer kernels).
    @inline(__always)  // a closure forwarder in every forward/backward call.
    public func withBuffers<R>(_ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) throws -> R) rethrows -> R {
        try values.withUnsafeMutableBufferPointer { v in
            try gradients.withUnsafeMutableBufferPointer { g in
                // Both arrays are non-empty whenever a layer exists; an empty store yields dangling-free dummies.
                guard let vb = v.baseAddress, let gb = g.baseAddress else {
                    var dummy: Float = 0
                    return try withUnsafeMutablePointer(to: &dummy) { d in try body(d, d) }
                }
                return try body(vb, gb)
            }
        }
    }

    /// Every parameter as a (name, tensor) pair, in registration order.
    public func namedTensors() -> [(name: String, tensor: Tensor)] {
        parameters.map { ($0.name, value($0)) }
    }
}
