// FlatIndex's two-pass exact search: an int8 pass (AVX-512 VNNI where present) gives every row a certain upper
// and lower bound of its float score; only rows whose upper bound reaches the k-th best lower bound are scored
// exactly in float32. The result equals the float scan's (recall 1.0 by proof, not by hope).
import Foundation

/// How FlatIndex scans its rows.
public enum FlatScanMethod: Sendable {
    /// int8 bounds + exact re-scoring when the CPU has AVX-512 VNNI and D ≤ 1024; float32 otherwise.
    case automatic
    /// Float32 only (SIMD scan for single queries, blocked sgemm for batches).
    case float32
    /// Always the int8 bounds + exact re-scoring (with the portable integer kernel where VNNI is missing).
    case int8Bounds
}

/// The int8 form of every row, packed for the VNNI kernel (16-row groups), with per-row bounds.
struct CompactRows {
    var packed: [Int8] = []
    var scales: [Float] = []
    var errors: [Float] = []
    var norms: [Float] = []
    var sums: [Int32] = []

    /// Rows whose integer dots stay below 2^24 (exact in float) with codes in [−127, 127] and query codes ≤ 255.
    static let maxDim = 1024

    /// Quantises `x` (one row): codes, scale, the error bound used by the kernels' epilogue, |x̂| and the code sum.
    static func quantizeRow(_ x: UnsafePointer<Float>, dim: Int, codes: UnsafeMutablePointer<Int8>) -> (scale: Float, error: Float, norm: Float, sum: Int32) {
        var maxAbs: Float = 0
        for i in 0..<dim { maxAbs = max(maxAbs, abs(x[i])) }
        var residual = 0.0, norm = 0.0, approxNorm = 0.0
        var sum: Int32 = 0
        let scale = maxAbs > 0 ? maxAbs / 127 : 0
        for i in 0..<dim {
            let c: Float = scale > 0 ? max(-127, min(127, (x[i] / scale).rounded())) : 0
            codes[i] = Int8(c)
            sum += Int32(c)
            let xh = Double(scale) * Double(c)
            residual += (Double(x[i]) - xh) * (Double(x[i]) - xh)
            norm += Double(x[i]) * Double(x[i])
            approxNorm += xh * xh
        }
        // |f(q,x) − q·x| ≤ γ_D |q||x| for the float kernel's own rounding: 2·D·2⁻²⁴ is twice the textbook γ_D.
        let rounding = (2 * Double(dim) * 0x1p-24 + 1e-6) * (norm.squareRoot() + approxNorm.squareRoot())
        let error = Float((residual.squareRoot() + rounding) * (1 + 1e-6) + 1e-12).nextUp
        return (scale, error, Float(approxNorm.squareRoot() * (1 + 1e-6)).nextUp, sum)
    }

    /// Makes room for `rows` rows (whole 16-row groups).
    mutating func resize(rows: Int, dim: Int) {
        let dim4 = (dim + 3) / 4
        let groups = (rows + 15) / 16
        let bytes = groups * dim4 * 64
        if packed.count < bytes { packed.append(contentsOf: repeatElement(0, count: bytes - packed.count)) }
        if packed.count > bytes { packed.removeLast(packed.count - bytes) }
        let padded = groups * 16
        for i in [0, 1, 2] {
            var a = i == 0 ? scales : (i == 1 ? errors : norms)
            if a.count < padded { a.append(contentsOf: repeatElement(0, count: padded - a.count)) }
            if a.count > padded { a.removeLast(a.count - padded) }
            if i == 0 { scales = a } else if i == 1 { errors = a } else { norms = a }
        }
        if sums.count < padded { sums.append(contentsOf: repeatElement(0, count: padded - sums.count)) }
        if sums.count > padded { sums.removeLast(sums.count - padded) }
    }

    /// Quantises `x` into row slot `row` (the slot must exist).
    mutating func set(row: Int, from x: UnsafePointer<Float>, dim: Int) {
        var codes = [Int8](repeating: 0, count: dim)
        let q = codes.withUnsafeMutableBufferPointer { Self.quantizeRow(x, dim: dim, codes: $0.baseAddress!) }
        scales[row] = q.scale; errors[row] = q.error; norms[row] = q.norm; sums[row] = q.sum
        codes.withUnsafeBufferPointer { c in packed.withUnsafeMutableBufferPointer { NativeKernels.packInt8Row($0.baseAddress!, row: row, dim: dim, codes: c.baseAddress!) } }
    }

    /// Empties slot `row` (zero codes and bounds: a padded slot never passes a filter, see `boundedSearch`).
    mutating func clear(row: Int, dim: Int) {
        scales[row] = 0; errors[row] = 0; norms[row] = 0; sums[row] = 0
        let zeros = [Int8](repeating: 0, count: dim)
        zeros.withUnsafeBufferPointer { c in packed.withUnsafeMutableBufferPointer { NativeKernels.packInt8Row($0.baseAddress!, row: row, dim: dim, codes: c.baseAddress!) } }
    }
}

/// Queries in the kernel's unsigned form (code + 128), contiguous, with their scales and bounds.
struct QuantizedQueries {
    let stride: Int
    var codes: [UInt8]
    var scales: [Float], errors: [Float], norms: [Float]

    init(_ q: UnsafePointer<Float>, count nq: Int, dim: Int) {
        stride = (dim + 3) / 4 * 4
        codes = [UInt8](repeating: 128, count: nq * stride)
        scales = []; errors = []; norms = []
        for qi in 0..<nq {
            let x = q + qi * dim
            var maxAbs: Float = 0
            for i in 0..<dim { maxAbs = max(maxAbs, abs(x[i])) }
            let s = maxAbs > 0 ? maxAbs / 127 : 0
            var residual = 0.0, norm = 0.0, approxNorm = 0.0
            for i in 0..<dim {
                let c: Float = s > 0 ? max(-127, min(127, (x[i] / s).rounded())) : 0
                codes[qi * stride + i] = UInt8(Int(c) + 128)
                let qh = Double(s) * Double(c)
                residual += (Double(x[i]) - qh) * (Double(x[i]) - qh)
                norm += Double(x[i]) * Double(x[i])
                approxNorm += qh * qh
            }
            scales.append(s)
            errors.append(Float(residual.squareRoot() * (1 + 1e-6) + 1e-12).nextUp)
            norms.append(Float(max(norm, approxNorm).squareRoot() * (1 + 1e-6)).nextUp)
        }
    }
}

extension FlatIndex {
    /// True when searches take the int8 + exact re-scoring path.
    var usesInt8Bounds: Bool {
        guard compactEnabled else { return false }
        switch scanMethod {
        case .float32: return false
        case .int8Bounds: return true
        case .automatic: return NativeKernels.hasVNNI && count >= 2048
        }
    }

    /// Which scan searches take now, in words (for benchmark logs).
    public var usesInt8BoundsDescription: String {
        usesInt8Bounds ? "int8 bounds + exact re-scoring, \(NativeKernels.hasVNNI ? "VNNI" : "portable integer kernel")" : "float32 scan"
    }

    /// Exact top-k through int8 bounds: pass 1 per thread over its rows, merge of the k-th best lower bounds,
    /// pass 2 re-scores the surviving candidates in float32 (the same kernel as the float path's single queries).
    func boundedSearch(_ queries: [Float], nq: Int, k: Int, mask: [UInt64]?) -> [[SearchResult]] {
        let n = count, dim = dim
        let groups = (n + 15) / 16
        let workers = max(1, min(threads, groups / 64))
        let prepared = queries.withUnsafeBufferPointer { QuantizedQueries($0.baseAddress!, count: nq, dim: dim) }
        // Per worker and query: the k best lower bounds (their threshold is the admission bar) and the candidates.
        let lowers = UnsafeMutableBufferPointer<[TopK]>.allocate(capacity: workers)
        lowers.initialize(repeating: [])
        let candidates = UnsafeMutableBufferPointer<[[Candidate]]>.allocate(capacity: workers)
        candidates.initialize(repeating: [])
        defer { lowers.deinitialize(); lowers.deallocate(); candidates.deinitialize(); candidates.deallocate() }
        compact.packed.withUnsafeBufferPointer { packed in
            compact.scales.withUnsafeBufferPointer { scales in
                compact.errors.withUnsafeBufferPointer { errors in
                    compact.norms.withUnsafeBufferPointer { norms in
                        compact.sums.withUnsafeBufferPointer { sums in
                            mask.withOptionalPointer { m in
                                let rows = Int8Rows(packed: packed.baseAddress!, dim4: (dim + 3) / 4, scales: scales.baseAddress!, errors: errors.baseAddress!, norms: norms.baseAddress!, sums: sums.baseAddress!)
                                parallelFor(workers) { w in
                                    let g0 = groups * w / workers, g1 = groups * (w + 1) / workers
                                    (lowers[w], candidates[w]) = Self.boundedRange(prepared, rows: rows, groups: g0..<g1, count: n, k: k, mask: m)
                                }
                            }
                        }
                    }
                }
            }
        }
        // Pass 2: exact float scores of every candidate whose upper bound reaches the final bar (queries split over threads).
        let results = UnsafeMutableBufferPointer<[SearchResult]>.allocate(capacity: nq)
        results.initialize(repeating: [])
        let rescored = UnsafeMutableBufferPointer<Int>.allocate(capacity: workers)
        rescored.initialize(repeating: 0)
        defer { results.deinitialize(); results.deallocate(); rescored.deinitialize(); rescored.deallocate() }
        queries.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { v in
                ids.withUnsafeBufferPointer { idBuffer in
                    parallelFor(min(workers, nq)) { t in
                        let parts = min(workers, nq)
                        for qi in (nq * t / parts)..<(nq * (t + 1) / parts) {
                            var bar = lowers[0][qi]
                            for w in 1..<workers { bar.merge(lowers[w][qi]) }
                            let threshold = bar.threshold
                            var top = TopK(k: k)
                            let qp = q.baseAddress! + qi * dim
                            for w in 0..<workers {
                                for c in candidates[w][qi] where c.upper >= threshold {
                                    let r = Int(c.row)
                                    top.push(DotKernel.dot(qp, v.baseAddress! + r * dim, dim), idBuffer[r])
                                    rescored[t] += 1
                                }
                            }
                            results[qi] = top.sorted()
                        }
                    }
                }
            }
        }
        lastCandidateCount = rescored.reduce(0, +)
        return Array(results)
    }

    /// Pass 1 over groups `groups`: blocks of 64 groups × 256 queries through the int8 kernel, then per query the
    /// lower-bound heap and the candidate list (rows whose upper bound reaches the current bar).
    static func boundedRange(_ queries: QuantizedQueries, rows: Int8Rows, groups: Range<Int>, count n: Int, k: Int, mask: UnsafePointer<UInt64>?) -> ([TopK], [[Candidate]]) {
        let nq = queries.scales.count
        var lowers = [TopK](repeating: TopK(k: k), count: nq)
        var candidates = [[Candidate]](repeating: [], count: nq)
        let groupBlock = 64, queryBlock = 256
        let ldo = groupBlock * 16
        let upper = UnsafeMutablePointer<Float>.allocate(capacity: queryBlock * ldo)
        defer { upper.deallocate() }
        var g = groups.lowerBound
        while g < groups.upperBound {
            let gn = min(groupBlock, groups.upperBound - g)
            let rowBase = g * 16
            let live = min(gn * 16, n - rowBase)  // padded slots past the last row are never offered
            var q0 = 0
            while q0 < nq {
                let qn = min(queryBlock, nq - q0)
                NativeKernels.int8UpperBounds(queries, q0..<(q0 + qn), rows: rows, groups: g..<(g + gn), out: upper, ldo: ldo)
                for qi in 0..<qn {
                    let qNorm = queries.norms[q0 + qi], qError = queries.errors[q0 + qi]
                    let u = upper + qi * ldo
                    var j = 0
                    while j < live {
                        let bar = lowers[q0 + qi].threshold
                        if j + 16 <= live {
                            let v = UnsafeRawPointer(u + j).loadUnaligned(as: SIMD16<Float>.self)
                            if !any(v .>= SIMD16(repeating: bar)) { j += 16; continue }
                        }
                        let end = min(j + 16, live)
                        while j < end {
                            let row = rowBase + j
                            let up = u[j]
                            if up >= lowers[q0 + qi].threshold, mask.map({ $0[row >> 6] & (1 << UInt64(row & 63)) != 0 }) ?? true {
                                let slack = qNorm * rows.errors[row] + qError * rows.norms[row] + 1e-6 * qNorm * rows.norms[row]
                                let lower = up - 2.0001 * slack - 1e-6 * qNorm * rows.norms[row]
                                lowers[q0 + qi].push(lower, Int64(row))
                                candidates[q0 + qi].append(Candidate(row: Int32(row), upper: up))
                            }
                            j += 1
                        }
                    }
                }
                q0 += qn
            }
            g += gn
        }
        return (lowers, candidates)
    }
}

/// A row that pass 1 could not rule out, with its upper bound.
struct Candidate {
    var row: Int32
    var upper: Float
}

/// Raw views of CompactRows for the kernel.
struct Int8Rows: @unchecked Sendable {
    let packed: UnsafePointer<Int8>
    let dim4: Int
    let scales: UnsafePointer<Float>, errors: UnsafePointer<Float>, norms: UnsafePointer<Float>
    let sums: UnsafePointer<Int32>
}
