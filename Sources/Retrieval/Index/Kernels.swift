// Inner-product kernels (SIMD, memory-bandwidth bound) and the bounded top-k selector shared by every index.
// Shapes: D dimension, N stored rows, Q queries. Scores are Float32 inner products.

/// Dot products of one query with stored rows, 4 rows per pass so the query stays in registers.
public enum DotKernel {
    /// `a · b` over `n` components.
    ///
    /// Written with 4-wide vectors and 4 accumulators: the package builds for baseline x86-64 (SSE, 16
    /// vector registers), where 16-wide accumulators spill.
    @inline(__always)  // the innermost operation of every search; the call would cost as much as a short dot.
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        var acc0 = SIMD4<Float>(), acc1 = SIMD4<Float>(), acc2 = SIMD4<Float>(), acc3 = SIMD4<Float>()
        var i = 0
        let ra = UnsafeRawPointer(a), rb = UnsafeRawPointer(b)
        while i + 16 <= n {
            let o = i * 4
            acc0 += ra.loadUnaligned(fromByteOffset: o, as: SIMD4<Float>.self) * rb.loadUnaligned(fromByteOffset: o, as: SIMD4<Float>.self)
            acc1 += ra.loadUnaligned(fromByteOffset: o + 16, as: SIMD4<Float>.self) * rb.loadUnaligned(fromByteOffset: o + 16, as: SIMD4<Float>.self)
            acc2 += ra.loadUnaligned(fromByteOffset: o + 32, as: SIMD4<Float>.self) * rb.loadUnaligned(fromByteOffset: o + 32, as: SIMD4<Float>.self)
            acc3 += ra.loadUnaligned(fromByteOffset: o + 48, as: SIMD4<Float>.self) * rb.loadUnaligned(fromByteOffset: o + 48, as: SIMD4<Float>.self)
            i += 16
        }
        while i + 4 <= n {
            acc0 += ra.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self) * rb.loadUnaligned(fromByteOffset: i * 4, as: SIMD4<Float>.self)
            i += 4
        }
        var s = ((acc0 + acc1) + (acc2 + acc3)).sum()
        while i < n {
            s += a[i] * b[i]
            i += 1
        }
        return s
    }

    /// `out[r] = query · rows[r]` for `rowCount` contiguous rows of length `dim`.
    ///
    /// Four rows per pass share each query load; 2 accumulators of 4 lanes per row (8 registers) plus the
    /// query (2) fit SSE's 16 registers without spilling.
    public static func scores(query: UnsafePointer<Float>, rows: UnsafePointer<Float>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        guard dim % 8 == 0 else {
            for r in 0..<rowCount { out[r] = dot(query, rows + r * dim, dim) }
            return
        }
        let q = UnsafeRawPointer(query)
        var r = 0
        let rowBytes = dim * 4
        while r + 4 <= rowCount {
            let p0 = UnsafeRawPointer(rows + r * dim), p1 = p0 + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes
            var a0 = SIMD4<Float>(), b0 = SIMD4<Float>(), a1 = SIMD4<Float>(), b1 = SIMD4<Float>()
            var a2 = SIMD4<Float>(), b2 = SIMD4<Float>(), a3 = SIMD4<Float>(), b3 = SIMD4<Float>()
            var off = 0
            while off < rowBytes {
                let q0 = q.loadUnaligned(fromByteOffset: off, as: SIMD4<Float>.self)
                let q1 = q.loadUnaligned(fromByteOffset: off + 16, as: SIMD4<Float>.self)
                a0 += q0 * p0.loadUnaligned(fromByteOffset: off, as: SIMD4<Float>.self)
                b0 += q1 * p0.loadUnaligned(fromByteOffset: off + 16, as: SIMD4<Float>.self)
                a1 += q0 * p1.loadUnaligned(fromByteOffset: off, as: SIMD4<Float>.self)
                b1 += q1 * p1.loadUnaligned(fromByteOffset: off + 16, as: SIMD4<Float>.self)
                a2 += q0 * p2.loadUnaligned(fromByteOffset: off, as: SIMD4<Float>.self)
                b2 += q1 * p2.loadUnaligned(fromByteOffset: off + 16, as: SIMD4<Float>.self)
                a3 += q0 * p3.loadUnaligned(fromByteOffset: off, as: SIMD4<Float>.self)
                b3 += q1 * p3.loadUnaligned(fromByteOffset: off + 16, as: SIMD4<Float>.self)
                off += 32
            }
            out[r] = (a0 + b0).sum(); out[r + 1] = (a1 + b1).sum(); out[r + 2] = (a2 + b2).sum(); out[r + 3] = (a3 + b3).sum()
            r += 4
        }
        while r < rowCount {
            out[r] = dot(query, rows + r * dim, dim)
            r += 1
        }
    }
}

/// Keeps the `k` best (score, id) pairs seen so far: a min-heap on score whose root is the admission threshold.
public struct TopK: Sendable {
    /// How many candidates are kept.
    public let k: Int
    /// Held scores (heap order).
    public private(set) var scores: [Float]
    /// Held ids (heap order).
    public private(set) var ids: [Int64]

    /// An empty selector for the `k` best.
    public init(k: Int) {
        self.k = k
        scores = []
        ids = []
        scores.reserveCapacity(k)
        ids.reserveCapacity(k)
    }

    /// A candidate must beat this to enter (−∞ until k are held).
    @inline(__always)  // read once per scanned score in the selection loops.
    public var threshold: Float { scores.count < k ? -Float.infinity : scores[0] }

    /// Offers one candidate; ties with the current worst keep the smaller id (deterministic results).
    @inline(__always)  // called for every score above the threshold.
    public mutating func push(_ score: Float, _ id: Int64) {
        if scores.count < k {
            scores.append(score)
            ids.append(id)
            var i = scores.count - 1
            while i > 0 {
                let parent = (i - 1) / 2
                if Self.less(scores[i], ids[i], scores[parent], ids[parent]) {
                    scores.swapAt(i, parent); ids.swapAt(i, parent)
                    i = parent
                } else { break }
            }
            return
        }
        guard Self.less(scores[0], ids[0], score, id) else { return }
        scores[0] = score
        ids[0] = id
        var i = 0
        let n = scores.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && Self.less(scores[l], ids[l], scores[m], ids[m]) { m = l }
            if r < n && Self.less(scores[r], ids[r], scores[m], ids[m]) { m = r }
            if m == i { break }
            scores.swapAt(i, m); ids.swapAt(i, m)
            i = m
        }
    }

    /// "Worse than": lower score, or equal score and larger id.
    @inline(__always)  // heap comparisons.
    static func less(_ s1: Float, _ i1: Int64, _ s2: Float, _ i2: Int64) -> Bool {
        s1 < s2 || (s1 == s2 && i1 > i2)
    }

    /// Merges another selector's candidates into this one.
    public mutating func merge(_ other: TopK) {
        for i in 0..<other.scores.count { push(other.scores[i], other.ids[i]) }
    }

    /// The held candidates, best first (ties by ascending id).
    public func sorted() -> [SearchResult] {
        var order = Array(0..<scores.count)
        order.sort { Self.less(scores[$1], ids[$1], scores[$0], ids[$0]) }
        return order.map { SearchResult(id: ids[$0], score: scores[$0]) }
    }
}

extension TopK {
    /// Offers `count` scores whose ids are `idOf(offset)`; skips 16 at a time while none beats the threshold.
    @inline(__always)  // specialised per call site's id mapping.
    mutating func offer(_ scoresPtr: UnsafePointer<Float>, count: Int, mask: UnsafePointer<UInt64>?, rowBase: Int, idOf: (Int) -> Int64) {
        var j = 0
        let raw = UnsafeRawPointer(scoresPtr)
        while j < count {
            if j + 16 <= count {
                let v = raw.loadUnaligned(fromByteOffset: j * 4, as: SIMD16<Float>.self)
                if !any(v .> SIMD16(repeating: threshold)) {
                    j += 16
                    continue
                }
                let end = j + 16
                while j < end {
                    offerOne(scoresPtr[j], row: rowBase + j, mask: mask, idOf: idOf)
                    j += 1
                }
            } else {
                offerOne(scoresPtr[j], row: rowBase + j, mask: mask, idOf: idOf)
                j += 1
            }
        }
    }

    @inline(__always)  // see offer.
    private mutating func offerOne(_ s: Float, row: Int, mask: UnsafePointer<UInt64>?, idOf: (Int) -> Int64) {
        guard s >= threshold else { return }
        if let mask, mask[row >> 6] & (1 << UInt64(row & 63)) == 0 { return }
        push(s, idOf(row))
    }
}
