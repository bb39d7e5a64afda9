// The world model's own action representation as a retrieval key: actions that do the same thing in the world land
// close together there, whatever their wording (MiniLM puts "push left" nearer to "push right" than to "slide leftwards").
import Formats
import Tensor

extension NativeWorldModel {
    /// The model's action token before its type embedding, `action.weight · a + action.bias` (width C), for an
    /// action embedding of width `config.actionDimension`; nil for another width or a non-finite value.
    /// Pure (does not touch the activations cached for training) and safe to call from several threads at once.
    ///
    /// With a linear base, the key is instead what the base says the action does (`LinearBase.actionKey`): its
    /// effects stacked over the training scenarios (`ActionSignature`), or the pooled ridge's effect without scenario
    /// labels. The residual transformer of the default recipe is trained too briefly to separate actions in its
    /// projection (on the default SimWorld, knowledge keyed by it gained nothing), while the ridge's effects tell
    /// "push left" from "push right" by construction (docs/perf-log.md).
    public func actionKey(_ action: [Float]) -> [Float]? {
        let a = config.actionDimension, c = config.width
        guard action.count == a, action.allSatisfy(\.isFinite) else { return nil }
        if let base = linearBase, base.models[RidgeFeatureSet()] != nil { return base.actionKey(action) }
        var out = [Float](repeating: 0, count: c)
        // Straight from the parameter store (no copy of the weight matrix per call), in one fixed summation order:
        // the key does not depend on BLAS's thread count, so retrieval may compute keys on several threads at once.
        store.values.withUnsafeBufferPointer { v in
            action.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    guard let values = v.baseAddress, let input = x.baseAddress, let output = y.baseAddress else { return }
                    Kernels.linearRowwise(out: output, input: input, weight: values + actionProjection.weight.offset,
                                          bias: actionProjection.bias.map { values + $0.offset }, rows: 1, inDim: a, outDim: c)
                }
            }
        }
        return out
    }
}
