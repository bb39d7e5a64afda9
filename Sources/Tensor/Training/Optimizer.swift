// AdamW (decoupled weight decay, bias-corrected moments) over a ParameterStore, and a warm-up + cosine LR schedule.
// Shape legend: flat buffers — moments have the layout of `ParameterStore.values`.
import Foundation

/// AdamW: Adam moments with bias correction and weight decay applied directly to the weights
/// (`w −= lr · (m̂/(√v̂ + eps) + weightDecay · w)`), as `torch.optim.AdamW`.
public final class AdamW {
    /// Default learning rate when `step` is not given one.
    public var learningRate: Float
    /// β₁ (first-moment decay).
    public var beta1: Float
    /// β₂ (second-moment decay).
    public var beta2: Float
    /// ε added to √v̂.
    public var epsilon: Float
    /// Decoupled weight decay coefficient.
    public var weightDecay: Float
    /// Which parameters decay; by default those of rank ≥ 2 (matrices), not biases or norm scales.
    public var decays: (Parameter) -> Bool
    /// The number of `step` calls so far (bias correction uses it).
    public internal(set) var stepCount = 0  // internal(set): restored by AdamW+State.swift
    var m: [Float] = []  // internal: read and restored by AdamW+State.swift (checkpoints)
    var v: [Float] = []

    /// An optimiser with PyTorch's defaults (lr 1e-3, betas 0.9/0.999, eps 1e-8, weight decay 0.01).
    public init(
        learningRate: Float = 1e-3, beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0.01,
        decays: @escaping (Parameter) -> Bool = { $0.shape.count >= 2 }
    ) {
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        self.decays = decays
    }

    /// One update of every non-frozen parameter from the gradients in `store`.
    public func step(_ store: ParameterStore, learningRate lr: Float? = nil) {
        let lr = lr ?? learningRate
        if m.count != store.count {
            precondition(m.isEmpty, "AdamW: the store grew from \(m.count) to \(store.count) parameters after the first step")
            m = [Float](repeating: 0, count: store.count)
            v = m
        }
        stepCount += 1
        let c1 = 1 - Float(pow(Double(beta1), Double(stepCount)))
        let c2 = 1 - Float(pow(Double(beta2), Double(stepCount)))
        // The trainable ranges with their decay, split into two near-equal halves of the elements for two threads; each
        // element's update is independent of the others, so the split and the 16-wide lanes change no bit.
        var segments: [(range: Range<Int>, decay: Float)] = []
        for p in store.parameters where !store.isFrozen(p) { segments.append((p.range, decays(p) ? weightDecay : 0)) }
        let total = segments.reduce(0) { $0 + $1.range.count }
        let workers = total >= 1 << 16 && BLAS.workerBudget >= 2 ? 2 : 1
        let constants = AdamWConstants(beta1: beta1, beta2: beta2, c1: c1, c2: c2, learningRate: lr, epsilon: epsilon)
        store.withBuffers { w, g in
            m.withUnsafeMutableBufferPointer { pm in
                v.withUnsafeMutableBufferPointer { pv in
                    guard let m = pm.baseAddress, let v = pv.baseAddress else { return }
                    Kernels.parallel(workers: workers) { worker in
                        let mine = Kernels.slice(total, worker: worker, of: workers)
                        var start = 0
                        for segment in segments {
                            defer { start += segment.range.count }
                            let lo = max(mine.lowerBound, start), hi = min(mine.upperBound, start + segment.range.count)
                            guard lo < hi else { continue }
                            let first = segment.range.lowerBound + (lo - start)
                            Self.update(w + first, g + first, m + first, v + first, count: hi - lo, decay: segment.decay, constants)
                        }
                    }
                }
            }
        }
    }

    /// The step's scalars.
    struct AdamWConstants {
        var beta1, beta2, c1, c2, learningRate, epsilon: Float
    }

    /// One AdamW update of `count` consecutive parameters: 16 at a time, then one by one, with the same operations in
    /// the same order (bit-identical to the scalar formula).
    static func update(
        _ w: UnsafeMutablePointer<Float>, _ g: UnsafePointer<Float>, _ m: UnsafeMutablePointer<Float>, _ v: UnsafeMutablePointer<Float>,
        count: Int, decay wd: Float, _ k: AdamWConstants
    ) {
        typealias Lanes = SIMD16<Float>
        let (b1, b2, c1, c2, lr, eps) = (k.beta1, k.beta2, k.c1, k.c2, k.learningRate, k.epsilon)
        let rw = UnsafeMutableRawPointer(w), rg = UnsafeRawPointer(g), rm = UnsafeMutableRawPointer(m), rv = UnsafeMutableRawPointer(v)
        var i = 0
        while i + 16 <= count {
            let o = i * 4
            let gi = rg.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            let mi = b1 * rm.loadUnaligned(fromByteOffset: o, as: Lanes.self) + (1 - b1) * gi
            let vi = b2 * rv.loadUnaligned(fromByteOffset: o, as: Lanes.self) + (1 - b2) * gi * gi
            rm.storeBytes(of: mi, toByteOffset: o, as: Lanes.self)
            rv.storeBytes(of: vi, toByteOffset: o, as: Lanes.self)
            let mHat = mi / c1, vHat = vi / c2
            let wi = rw.loadUnaligned(fromByteOffset: o, as: Lanes.self)
            rw.storeBytes(of: wi - lr * (mHat / (vHat.squareRoot() + eps) + wd * wi), toByteOffset: o, as: Lanes.self)
            i += 16
        }
        while i < count {
            let gi = g[i]
            m[i] = b1 * m[i] + (1 - b1) * gi
            v[i] = b2 * v[i] + (1 - b2) * gi * gi
            let mHat = m[i] / c1, vHat = v[i] / c2
            w[i] -= lr * (mHat / (vHat.squareRoot() + eps) + wd * w[i])
            i += 1
        }
    }
}

/// Linear warm-up to `peak`, then cosine decay to `minimum` at `totalSteps` (and `minimum` after).
public struct WarmupCosineSchedule: Sendable, Equatable {
    /// The learning rate at the end of warm-up.
    public var peak: Float
    /// The final learning rate.
    public var minimum: Float
    /// Steps of linear warm-up.
    public var warmupSteps: Int
    /// The step at which the cosine reaches `minimum`.
    public var totalSteps: Int

    /// A schedule; `minimum` defaults to 0.
    public init(peak: Float, minimum: Float = 0, warmupSteps: Int, totalSteps: Int) {
        self.peak = peak
        self.minimum = minimum
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The learning rate for step `step` (0-based): `peak·(step+1)/warmup` during warm-up, then
    /// `minimum + ½(peak − minimum)(1 + cos(π·progress))`.
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return peak * Float(step + 1) / Float(warmupSteps) }
        if step >= totalSteps { return minimum }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        return minimum + Float(0.5 * (1 + cos(Double.pi * progress))) * (peak - minimum)
    }
}
