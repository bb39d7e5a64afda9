// Inner-product kernels (C SIMD kernels behind DotKernel) and the bounded top-k selector shared by every index.
// Shapes: D dimension, N stored rows, Q queries. Scores are Float32 inner products.

/// Inner products of one query with stored rows, through the C kernels of `CKernels` (AVX-512F, AVX2+FMA or
/// portable C, picked once per process from the CPU's features; the Swift package itself builds for baseline SSE).
public enum DotKernel {
    /// `a · b` over `n` components.
    @inline(__always)  // the innermost operation of every graph step; a Swift frame would cost as much as a short dot.
    public static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        NativeKernels.dot(a, b, n)
    }

    /// `out[r] = query · rows[r]` for `rowCount` contiguous rows of length `dim` (four rows per pass share each query load).
    public static func scores(query: UnsafePointer<Float>, rows: UnsafePointer<Float>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        NativeKernels.scores(query: query, rows: rows, rowCount: rowCount, dim: dim, out: out)
    }

    /// `out[r] = query · codes[r]` for `rowCount` rows of `dim` int8 codes (no scale applied: callers multiply).
    public static func scoresInt8(query: UnsafePointer<Float>, codes: UnsafePointer<Int8>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        NativeKernels.scoresInt8(query: query, codes: codes, rowCount: rowCount, dim: dim, out: out)
    }

    /// `out[r] = Σ rows[r][i] · query[i]` as exact int32 for `rowCount` rows of `dim` unsigned codes and a signed query
    /// (AVX-512 VNNI where present, portable integer loops otherwise).
    public static func dotsUnsignedSigned(query: UnsafePointer<Int8>, rows: UnsafePointer<UInt8>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Int32>) {
        NativeKernels.dotsUnsignedSigned(query: query, rows: rows, rowCount: rowCount, dim: dim, out: out)
    }

    /// Asks the CPU to start loading `bytes` at `p` into cache (a hint; no effect on results).
    @inline(__always)  // per visited neighbour in HNSW.
    public static func prefetch(_ p: UnsafeRawPointer, bytes: Int) { NativeKernels.prefetch(p, bytes: bytes) }

    /// The instruction set in use.
    public static var level: SIMDLevel { NativeKernels.level }
    /// The best instruction set this CPU supports.
    public static var supportedLevel: SIMDLevel { NativeKernels.supportedLevel }

    /// Switches the instruction set (clamped to what the CPU supports) and returns the one now in use.
    /// Process-wide; for tests of the fallback paths and for benchmarks.
    @discardableResult
    public static func setLevel(_ level: SIMDLevel) -> SIMDLevel { NativeKernels.setLevel(level) }
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
