// The world model's own action representation as a retrieval key: actions that do the same thing in the world land
// close together there, whatever their wording (MiniLM puts "push left" nearer to "push right" than to "slide leftwards").
import Formats
import Tensor

extension NativeWorldModel {
    /// The model's action token before its type embedding, `action.weight · a + action.bias` (width C), for an
    /// action embedding of width `config.actionDimension`; nil for another width or a non-finite value.
    /// Pure: does not touch the activations cached for training.
    public func actionKey(_ action: [Float]) -> [Float]? {
        let a = config.actionDimension, c = config.width
        guard action.count == a, action.allSatisfy(\.isFinite) else { return nil }
        let weight = store.value(actionProjection.weight).data
        var out = actionProjection.bias.map { store.value($0).data } ?? [Float](repeating: 0, count: c)
        weight.withUnsafeBufferPointer { w in
            action.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    BLAS.sgemv(m: c, n: a, a: w.baseAddress!, x: x.baseAddress!, beta: 1, y: y.baseAddress!)
                }
            }
        }
        return out
    }
}
