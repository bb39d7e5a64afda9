// Losses with their gradients: cosine (per row, mean), MSE (per element, mean), L2 (per row Euclidean, mean).
// Shape legend: prediction and target [N, D] (any leading dims flatten to N rows of width D).
import Foundation

/// A loss value and its gradient with respect to the prediction.
public struct LossResult: Sendable {
    /// The scalar loss.
    public var value: Float
    /// dLoss/dPrediction, same shape as the prediction.
    public var gradient: Tensor
}

/// Loss functions; each returns the value and dLoss/dPrediction (sums accumulate in Double).
public enum Loss {
    /// `mean over rows of (1 − cos(pred_i, target_i))`; norms are clamped at `eps` (PyTorch's cosine_similarity).
    public static func cosine(prediction p: Tensor, target t: Tensor, eps: Double = 1e-8) -> LossResult {
        precondition(p.shape == t.shape, "cosine loss: prediction \(p.shape) vs target \(t.shape)")
        let rows = p.rowCount, d = p.lastDimension
        var grad = [Float](repeating: 0, count: p.count)
        var total = 0.0
        p.data.withUnsafeBufferPointer { pp in
            t.data.withUnsafeBufferPointer { pt in
                for r in 0..<rows {
                    let base = r * d
                    var dot = 0.0, np2 = 0.0, nt2 = 0.0
                    for i in 0..<d {
                        let a = Double(pp[base + i]), b = Double(pt[base + i])
                        dot += a * b; np2 += a * a; nt2 += b * b
                    }
                    let np = max(np2.squareRoot(), eps), nt = max(nt2.squareRoot(), eps)
                    let cos = dot / (np * nt)
                    total += 1 - cos
                    // d(1 − cos)/dp = −(t/(|p||t|) − cos·p/|p|²) / rows  (when |p| > eps)
                    let pScale = np2.squareRoot() > eps ? cos / (np * np) : 0
                    for i in 0..<d {
                        let g = -(Double(pt[base + i]) / (np * nt) - pScale * Double(pp[base + i])) / Double(rows)
                        grad[base + i] = Float(g)
                    }
                }
            }
        }
        return LossResult(value: Float(total / Double(max(rows, 1))), gradient: Tensor(shape: p.shape, data: grad))
    }

    /// `mean over all elements of (pred − target)²`.
    public static func mse(prediction p: Tensor, target t: Tensor) -> LossResult {
        precondition(p.shape == t.shape, "MSE loss: prediction \(p.shape) vs target \(t.shape)")
        let n = p.count
        var grad = [Float](repeating: 0, count: n)
        var total = 0.0
        p.data.withUnsafeBufferPointer { pp in
            t.data.withUnsafeBufferPointer { pt in
                for i in 0..<n {
                    let diff = Double(pp[i]) - Double(pt[i])
                    total += diff * diff
                    grad[i] = Float(2 * diff / Double(n))
                }
            }
        }
        return LossResult(value: Float(total / Double(max(n, 1))), gradient: Tensor(shape: p.shape, data: grad))
    }

    /// `mean over rows of ‖pred_i − target_i‖₂` (the Euclidean distance; zero rows get a zero gradient).
    public static func l2(prediction p: Tensor, target t: Tensor) -> LossResult {
        precondition(p.shape == t.shape, "L2 loss: prediction \(p.shape) vs target \(t.shape)")
        let rows = p.rowCount, d = p.lastDimension
        var grad = [Float](repeating: 0, count: p.count)
        var total = 0.0
        p.data.withUnsafeBufferPointer { pp in
            t.data.withUnsafeBufferPointer { pt in
                for r in 0..<rows {
                    let base = r * d
                    var s = 0.0
                    for i in 0..<d { let diff = Double(pp[base + i]) - Double(pt[base + i]); s += diff * diff }
                    let norm = s.squareRoot()
                    total += norm
                    guard norm > 0 else { continue }
                    for i in 0..<d { grad[base + i] = Float((Double(pp[base + i]) - Double(pt[base + i])) / norm / Double(rows)) }
                }
            }
        }
        return LossResult(value: Float(total / Double(max(rows, 1))), gradient: Tensor(shape: p.shape, data: grad))
    }
}
