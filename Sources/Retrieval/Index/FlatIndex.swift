// Exact inner-product index: one contiguous N×D matrix, blocked GEMM (batches) or a SIMD scan (single queries),
// per-block partial top-k and a final merge; rows are split over threads.
import Dispatch
import Foundation
import Tensor

/// Exact top-k by inner product over all stored vectors (recall 1.0 by construction).
///
/// Single queries (fewer than `batchThreshold` per call) stream the matrix once per query through
/// the SIMD scan kernel (`DotKernel.scores`); batches run blocked `sgemm` (query block × row block) and select per block. Rows are split
/// into `threads` contiguous ranges, each searched by its own thread with single-threaded BLAS, and the
/// per-thread selections are merged. Not safe for concurrent mutation; concurrent searches are fine.
public final class FlatIndex: VectorIndex {
    public let dim: Int
    /// Threads used by searches (≥ 1).
    public var threads: Int
    /// Queries per call from which the GEMM path is used.
    public var batchThreshold = 8

    /// Row-major N×D vectors.
    public private(set) var vectors: [Float] = []
    /// The id of each row.
    public private(set) var ids: [Int64] = []
    private var rowOf: [Int64: Int] = [:]
    /// The int8 form of the rows for the two-pass exact search (FlatIndex+Int8.swift); empty when D > 1024.
    var compact = CompactRows()
    var compactEnabled: Bool { dim <= CompactRows.maxDim }
    /// Which scan searches use (`.automatic`: int8 bounds + exact re-scoring when the CPU has AVX-512 VNNI).
    public var scanMethod: FlatScanMethod = .automatic
    /// How many rows the last int8-bounded search re-scored exactly (a diagnostic for tests and benchmarks).
    public internal(set) var lastCandidateCount = 0

    /// An empty index for `dim`-dimensional vectors.
    /// - Parameter threads: search threads; defaults to the number of active processors.
    public init(dim: Int, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        precondition(dim > 0, "FlatIndex dimension must be positive")
        self.dim = dim
        self.threads = max(1, threads)
    }

    public var count: Int { ids.count }

    /// Reserves room for `rows` vectors.
    public func reserveCapacity(_ rows: Int) {
        vectors.reserveCapacity(rows * dim)
        ids.reserveCapacity(rows)
        rowOf.reserveCapacity(rows)
    }

    public func add(ids newIDs: [Int64], vectors newVectors: [Float]) throws {
        _ = try validateBatch(newVectors, dim: dim, expectedRows: newIDs.count, context: "FlatIndex.add")
        var seen = Set<Int64>()
        for id in newIDs {
            if rowOf[id] != nil || !seen.insert(id).inserted { throw RetrievalError.duplicateID(id) }
        }
        for (offset, id) in newIDs.enumerated() { rowOf[id] = ids.count + offset }
        let first = ids.count
        ids.append(contentsOf: newIDs)
        vectors.append(contentsOf: newVectors)
        if compactEnabled {
            compact.resize(rows: ids.count, dim: dim)
            let dim = dim
            newVectors.withUnsafeBufferPointer { v in
                for r in 0..<newIDs.count { compact.set(row: first + r, from: v.baseAddress! + r * dim, dim: dim) }
            }
        }
    }

    /// The stored vector of `id`, if present.
    public func vector(of id: Int64) -> [Float]? {
        guard let row = rowOf[id] else { return nil }
        return Array(vectors[(row * dim)..<((row + 1) * dim)])
    }

    /// True when `id` is stored.
    public func contains(_ id: Int64) -> Bool { rowOf[id] != nil }

    @discardableResult
    public func remove(ids toRemove: [Int64]) -> Int {
        var removed = 0
        for id in toRemove {
            guard let row = rowOf.removeValue(forKey: id) else { continue }
            let last = ids.count - 1
            if row != last {
                // Move the last row into the hole: O(D) per removal, rows stay contiguous.
                let lastID = ids[last]
                ids[row] = lastID
                rowOf[lastID] = row
                vectors.withUnsafeMutableBufferPointer { v in
                    let base = v.baseAddress!
                    (base + row * dim).update(from: base + last * dim, count: dim)
                }
                if compactEnabled { vectors.withUnsafeBufferPointer { compact.set(row: row, from: $0.baseAddress! + row * dim, dim: dim) } }
            }
            if compactEnabled { compact.clear(row: last, dim: dim) }
            ids.removeLast()
            vectors.removeLast(dim)
            removed += 1
        }
        if compactEnabled && removed > 0 { compact.resize(rows: ids.count, dim: dim) }
        return removed
    }

    public func search(_ queries: [Float], k: Int, filter: SearchFilter?) throws -> [[SearchResult]] {
        let nq = try validateBatch(queries, dim: dim, expectedRows: nil, context: "FlatIndex.search query")
        guard k >= 1 else { throw RetrievalError.invalidArgument("k must be at least 1, got \(k)") }
        guard nq > 0 else { return [] }
        guard count > 0 else { return Array(repeating: [], count: nq) }
        switch plan(for: filter) {
        case .none:
            return Array(repeating: [], count: nq)
        case let .rows(rows):
            return gatherSearch(queries, nq: nq, k: k, rows: rows)
        case let .mask(mask):
            return usesInt8Bounds ? boundedSearch(queries, nq: nq, k: k, mask: mask) : scanSearch(queries, nq: nq, k: k, mask: mask)
        case .all:
            return usesInt8Bounds ? boundedSearch(queries, nq: nq, k: k, mask: nil) : scanSearch(queries, nq: nq, k: k, mask: nil)
        }
    }

    // MARK: Filters

    enum Plan {
        case all, none
        case mask([UInt64])
        case rows([Int])
    }

    /// Turns a filter into an allowed-row bitmask, or an allowed-row list when it is small (< N/16).
    func plan(for filter: SearchFilter?) -> Plan {
        guard let filter, filter.allowedIDs != nil || !filter.excludedIDs.isEmpty else { return .all }
        if let allowed = filter.allowedIDs {
            var rows = [Int]()
            rows.reserveCapacity(allowed.count)
            for id in allowed where !filter.excludedIDs.contains(id) {
                if let row = rowOf[id] { rows.append(row) }
            }
            rows.sort()
            // Dedupe (an allowed list may repeat an id).
            var unique = [Int]()
            unique.reserveCapacity(rows.count)
            for r in rows where unique.last != r { unique.append(r) }
            if unique.isEmpty { return .none }
            if unique.count * 16 < count { return .rows(unique) }
            var mask = [UInt64](repeating: 0, count: (count + 63) / 64)
            for r in unique { mask[r >> 6] |= 1 << UInt64(r & 63) }
            return .mask(mask)
        }
        var mask = [UInt64](repeating: ~0, count: (count + 63) / 64)
        for id in filter.excludedIDs { if let r = rowOf[id] { mask[r >> 6] &= ~(1 << UInt64(r & 63)) } }
        return .mask(mask)
    }

    // MARK: Search paths

    /// Scores only the allowed rows (small allowed sets): exact, no over-fetching.
    private func gatherSearch(_ queries: [Float], nq: Int, k: Int, rows: [Int]) -> [[SearchResult]] {
        let dim = dim
        return queries.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { v in
                (0..<nq).map { qi in
                    var top = TopK(k: k)
                    let qp = q.baseAddress! + qi * dim
                    for r in rows { top.push(DotKernel.dot(qp, v.baseAddress! + r * dim, dim), ids[r]) }
                    return top.sorted()
                }
            }
        }
    }

    /// Full scan split over threads; SIMD per query below `batchThreshold`, blocked sgemm above.
    private func scanSearch(_ queries: [Float], nq: Int, k: Int, mask: [UInt64]?) -> [[SearchResult]] {
        let n = count, dim = dim
        // Small problems are not worth a thread hand-off (~10 µs).
        let workers = max(1, min(threads, n * dim * nq / 2_000_000, n / 1024))
        let useGEMM = nq >= batchThreshold

        let partial = UnsafeMutableBufferPointer<[TopK]>.allocate(capacity: workers)
        partial.initialize(repeating: [])
        defer { partial.deinitialize(); partial.deallocate() }
        queries.withUnsafeBufferPointer { q in
            vectors.withUnsafeBufferPointer { v in
                ids.withUnsafeBufferPointer { idBuffer in
                    let maskCopy = mask
                    let body = { (w: Int) in
                        let lo = n * w / workers, hi = n * (w + 1) / workers
                        maskCopy.withOptionalPointer { m in
                            partial[w] = useGEMM
                                ? Self.gemmRange(q.baseAddress!, nq: nq, v.baseAddress!, rows: lo..<hi, dim: dim, k: k, mask: m, ids: idBuffer.baseAddress!)
                                : Self.simdRange(q.baseAddress!, nq: nq, v.baseAddress!, rows: lo..<hi, dim: dim, k: k, mask: m, ids: idBuffer.baseAddress!)
                        }
                    }
                    // Our threads split the rows; each calls single-threaded BLAS (no nested thread pools).
                    BLAS.withThreadCount(1) { parallelFor(workers, body) }
                }
            }
        }
        var merged = partial[0]
        for w in 1..<workers { for qi in 0..<nq { merged[qi].merge(partial[w][qi]) } }
        return merged.map { $0.sorted() }
    }

    /// Rows `rows` for each query in turn, 4,096 rows at a time through the SIMD scan kernel.
    static func simdRange(
        _ q: UnsafePointer<Float>, nq: Int, _ v: UnsafePointer<Float>, rows: Range<Int>, dim: Int, k: Int,
        mask: UnsafePointer<UInt64>?, ids: UnsafePointer<Int64>
    ) -> [TopK] {
        let block = 4096
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: block)
        defer { scores.deallocate() }
        var tops = [TopK](repeating: TopK(k: k), count: nq)
        for qi in 0..<nq {
            var start = rows.lowerBound
            while start < rows.upperBound {
                let len = min(block, rows.upperBound - start)
                // The C kernel (AVX-512 / AVX2 chosen at run time) measured ~7% faster than OpenBLAS sgemv here:
                // see the kernel check in RetrievalBench.
                DotKernel.scores(query: q + qi * dim, rows: v + start * dim, rowCount: len, dim: dim, out: scores)
                tops[qi].offer(scores, count: len, mask: mask, rowBase: start) { ids[$0] }
                start += len
            }
        }
        return tops
    }

    /// Rows `rows` against all queries: sgemm of (≤256 queries) × (≤2,048 rows) blocks, then selection.
    static func gemmRange(
        _ q: UnsafePointer<Float>, nq: Int, _ v: UnsafePointer<Float>, rows: Range<Int>, dim: Int, k: Int,
        mask: UnsafePointer<UInt64>?, ids: UnsafePointer<Int64>
    ) -> [TopK] {
        let rowBlock = 2048, queryBlock = 256
        let scores = UnsafeMutablePointer<Float>.allocate(capacity: rowBlock * queryBlock)
        defer { scores.deallocate() }
        var tops = [TopK](repeating: TopK(k: k), count: nq)
        var start = rows.lowerBound
        while start < rows.upperBound {
            let len = min(rowBlock, rows.upperBound - start)
            var q0 = 0
            while q0 < nq {
                let qn = min(queryBlock, nq - q0)
                // scores (qn × len) = Q[q0..] (qn × D) · X[start..]ᵀ (D × len)
                BLAS.sgemm(transposeB: true, m: qn, n: len, k: dim, a: q + q0 * dim, b: v + start * dim, c: scores)
                for qi in 0..<qn {
                    tops[q0 + qi].offer(scores + qi * len, count: len, mask: mask, rowBase: start) { ids[$0] }
                }
                q0 += qn
            }
            start += len
        }
        return tops
    }
}

extension Optional where Wrapped == [UInt64] {
    /// Calls `body` with a pointer to the words, or nil.
    func withOptionalPointer<R>(_ body: (UnsafePointer<UInt64>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case let .some(words): return words.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
