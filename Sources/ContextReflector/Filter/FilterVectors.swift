// The filter's vector arithmetic on raw buffers: the same operations, in the same order, as `State.averaged()`,
// `Embedding.norm/normalized/cosine` and `isFinite`, without their intermediate arrays — so results are bit-identical.
import Formats
import enum Tensor.Kernels

/// Allocation-light twins of the `Formats` vector helpers the filter uses (one output array per call at most).
enum FilterVectors {
    /// `Embedding(after − before).norm` (as the reference filter computes it), nil when either is absent or the widths differ.
    static func changeNorm(_ before: [Float]?, _ after: [Float]?) -> Double? {
        guard let before, let after, before.count == after.count else { return nil }
        return Double(Embedding(zip(after, before).map { $0 - $1 }).norm)
    }

    /// `state.averaged()?.values`: the modalities summed in `Modality` order into zeros, then scaled by 1/count.
    /// Element-wise in 16-wide lanes (each element sees the same operations in the same order: bit-identical).
    static func average(_ state: State) -> [Float]? {
        var present: [Embedding] = []
        present.reserveCapacity(4)
        for m in Modality.allCases { if let e = state.embeddings[m] { present.append(e) } }
        guard let first = present.first else { return nil }
        let dim = first.dim
        for e in present { precondition(e.dim == dim, "averaging embeddings with dims \(dim) and \(e.dim)") }
        let factor = 1 / Float(present.count)
        return [Float](unsafeUninitializedCapacity: dim) { out, count in
            guard let o = out.baseAddress else { count = 0; return }
            o.initialize(repeating: 0, count: dim)
            let to = UnsafeMutableRawPointer(o)
            for e in present {
                e.values.withUnsafeBufferPointer { v in
                    guard let p = v.baseAddress else { return }
                    let from = UnsafeRawPointer(p)
                    var i = 0
                    while i + 16 <= dim {
                        let sum = to.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                            + from.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                        to.storeBytes(of: sum, toByteOffset: i * 4, as: SIMD16<Float>.self)
                        i += 16
                    }
                    while i < dim { o[i] += p[i]; i += 1 }
                }
            }
            scale(o, count: dim, by: factor, into: o)
            count = dim
        }
    }

    /// `out[i] = values[i] * factor` in 16-wide lanes (`out` may be `values`).
    static func scale(_ values: UnsafePointer<Float>, count: Int, by factor: Float, into out: UnsafeMutablePointer<Float>) {
        let from = UnsafeRawPointer(values), to = UnsafeMutableRawPointer(out)
        var i = 0
        while i + 16 <= count {
            to.storeBytes(of: from.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * factor, toByteOffset: i * 4, as: SIMD16<Float>.self)
            i += 16
        }
        while i < count { out[i] = values[i] * factor; i += 1 }
    }

    /// `values` times `factor`, element by element.
    static func scaled(_ values: [Float], by factor: Float) -> [Float] {
        values.withUnsafeBufferPointer { v in
            [Float](unsafeUninitializedCapacity: v.count) { out, count in
                if let p = v.baseAddress, let o = out.baseAddress { scale(p, count: v.count, by: factor, into: o) }
                count = v.count
            }
        }
    }

    /// True when every value is finite: `x · 0` is 0 for finite x and NaN for ±∞ and NaN, so one sum over
    /// 16-wide lanes decides.
    static func isFinite(_ values: [Float]) -> Bool {
        values.withUnsafeBufferPointer { v in
            guard let base = v.baseAddress else { return true }
            let raw = UnsafeRawPointer(base)
            var acc = SIMD16<Float>(repeating: 0)
            var i = 0
            let n = v.count
            while i + 16 <= n {
                acc += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self) * 0
                i += 16
            }
            var tail: Float = 0
            while i < n { tail += base[i] * 0; i += 1 }
            return acc.sum() + tail == 0
        }
    }

    /// `ReflectorSimilarity.isFinite(t)`.
    static func isFinite(_ t: Transition) -> Bool {
        for e in t.state0.embeddings.values where !isFinite(e.values) { return false }
        for e in t.state1.embeddings.values where !isFinite(e.values) { return false }
        if let a = t.action.embedding, !isFinite(a.values) { return false }
        return true
    }

    /// `Embedding(values).norm` for several vectors of one width at once: each accumulates in Double in index
    /// order exactly as `Embedding.norm` does, but four independent chains run interleaved.
    static func norms(_ vectors: [UnsafePointer<Float>], width: Int) -> [Double] {
        var out = [Double](repeating: 0, count: vectors.count)
        let last = vectors.count - 1
        var v = 0
        while v <= last {
            // A last group of fewer than four repeats its final vector: the extra chains cost no latency.
            let a = vectors[v], b = vectors[min(v + 1, last)], c = vectors[min(v + 2, last)], d = vectors[min(v + 3, last)]
            var sa = 0.0, sb = 0.0, sc = 0.0, sd = 0.0
            for i in 0..<width {
                let x = Double(a[i]), y = Double(b[i]), z = Double(c[i]), w = Double(d[i])
                sa += x * x; sb += y * y; sc += z * z; sd += w * w
            }
            let sums = [sa, sb, sc, sd]
            for k in 0..<min(4, vectors.count - v) { out[v + k] = sums[k].squareRoot() }
            v += 4
        }
        return out
    }

    /// `Embedding(values).normalized().values`, or nil when the norm is 0 (Double norm, Float scale, as there).
    static func unit(_ values: [Float]) -> [Float]? {
        guard !values.isEmpty else { return nil }
        let norm = values.withUnsafeBufferPointer { p in norms([p.baseAddress!], width: p.count)[0] }
        guard norm > 0 else { return nil }
        let scale = Float(1 / norm)
        return scaled(values, by: scale)
    }

    /// `unit(_:)` of several vectors, with the norms of equal-width vectors computed together (same values).
    static func units(_ vectors: [[Float]?]) -> [[Float]?] {
        var out = [[Float]?](repeating: nil, count: vectors.count)
        var groups: [Int: [Int]] = [:]
        for (i, v) in vectors.enumerated() { if let v, !v.isEmpty { groups[v.count, default: []].append(i) } }
        for (width, members) in groups {
            let flat = members.flatMap { vectors[$0]! }
            let lengths = flat.withUnsafeBufferPointer { b in norms(members.indices.map { b.baseAddress! + $0 * width }, width: width) }
            for (k, i) in members.enumerated() where lengths[k] > 0 {
                let scale = Float(1 / lengths[k])
                out[i] = scaled(vectors[i]!, by: scale)
            }
        }
        return out
    }

    /// False only when the cosine of the vectors behind two unit vectors is certainly below `limit`: their Float
    /// dot product is more than 1e-3 under it (its rounding error is below 1e-5). True when either is missing.
    static func mayReach(_ a: [Float]?, _ b: [Float]?, _ limit: Double) -> Bool {
        guard let a, let b, a.count == b.count else { return true }
        let dot = a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb -> Float in
                guard let x = pa.baseAddress, let y = pb.baseAddress else { return 0 }
                return Kernels.dot(x, y, count: pa.count)
            }
        }
        return !(dot.isFinite && Double(dot) < limit - 1e-3)
    }

    /// A Float estimate of the cosine (four-lane sums; within ~1e-5 of `Embedding.cosine` for unit-scale vectors).
    static func roughCosine(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
        var d0: Float = 0, d1: Float = 0, d2: Float = 0, d3: Float = 0
        var a0: Float = 0, a1: Float = 0, a2: Float = 0, a3: Float = 0
        var b0: Float = 0, b1: Float = 0, b2: Float = 0, b3: Float = 0
        var i = 0
        while i + 4 <= count {
            d0 += a[i] * b[i]; d1 += a[i + 1] * b[i + 1]; d2 += a[i + 2] * b[i + 2]; d3 += a[i + 3] * b[i + 3]
            a0 += a[i] * a[i]; a1 += a[i + 1] * a[i + 1]; a2 += a[i + 2] * a[i + 2]; a3 += a[i + 3] * a[i + 3]
            b0 += b[i] * b[i]; b1 += b[i + 1] * b[i + 1]; b2 += b[i + 2] * b[i + 2]; b3 += b[i + 3] * b[i + 3]
            i += 4
        }
        while i < count { d0 += a[i] * b[i]; a0 += a[i] * a[i]; b0 += b[i] * b[i]; i += 1 }
        let na = (a0 + a1) + (a2 + a3), nb = (b0 + b1) + (b2 + b3)
        // Tiny or zero norms lose Float precision (and the zero vector's cosine is 0 only in Double): no estimate.
        guard na > 1e-20, nb > 1e-20 else { return .nan }
        return ((d0 + d1) + (d2 + d3)) / (na.squareRoot() * nb.squareRoot())
    }

    /// Whether `Embedding(a).cosine(Embedding(b)) >= limit`, computing the exact Double cosine only when a
    /// Float estimate is within 1e-3 of the limit (the estimate's error is orders of magnitude smaller).
    static func cosineReaches(_ a: [Float], _ b: [Float], _ limit: Double) -> Bool {
        precondition(a.count == b.count, "cosine of embeddings with dims \(a.count) and \(b.count)")
        let rough = a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb -> Float in
                guard let x = pa.baseAddress, let y = pb.baseAddress else { return 0 }
                return roughCosine(x, y, count: pa.count)
            }
        }
        if rough.isFinite, Double(rough) < limit - 1e-3 { return false }
        return Embedding(a).cosine(Embedding(b)) >= limit
    }
}
