// The common shape of a one-input layer: forward caches what backward needs; backward adds parameter gradients.
// Shape legend: B batch, T tokens, C width; inputs are [..., C] and flattened to N = B·T rows.

/// A layer with one input and one output.
///
/// `forward` remembers its input (a copy-on-write reference, no copy) so `backward` can run once
/// afterwards; `backward` adds the parameter gradients into the store and returns the input gradient.
/// Use one instance per place in the graph: a second `forward` replaces the cache.
public protocol Layer: AnyObject {
    /// Computes the output and caches what `backward` needs.
    func forward(_ input: Tensor) -> Tensor
    /// Given dLoss/dOutput, adds parameter gradients into the store and returns dLoss/dInput.
    func backward(_ dOutput: Tensor) -> Tensor
}

/// Layers applied in order; backward runs them in reverse.
public final class Sequential: Layer {
    /// The layers, first applied first.
    public let layers: [any Layer]
    /// A chain of layers.
    public init(_ layers: [any Layer]) { self.layers = layers }
    /// Applies every layer in order.
    public func forward(_ input: Tensor) -> Tensor { layers.reduce(input) { $1.forward($0) } }
    /// Back-propagates through every layer in reverse order.
    public func backward(_ dOutput: Tensor) -> Tensor { layers.reversed().reduce(dOutput) { $1.backward($0) } }
}

@inline(__always)  // tiny helper on every backward call.
func cached(_ t: Tensor?, _ layer: String) -> Tensor {
    guard let t else { preconditionFailure("\(layer).backward called before forward") }
    return t
}
