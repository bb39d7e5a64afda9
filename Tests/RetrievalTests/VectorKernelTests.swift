// The C vector kernels (AVX-512F, AVX2+FMA, portable) against a naive double-precision twin, at every level this
// CPU supports, on awkward lengths (tails shorter than a vector, odd row counts); FlatIndex on the fallback path.
import Foundation
import Retrieval
import TestSupport
import XCTest

final class VectorKernelTests: XCTestCase {
    /// Every level up to the CPU's best (the portable one always runs).
    var levels: [SIMDLevel] { [SIMDLevel.portable, .avx2, .avx512].filter { $0.rawValue <= DotKernel.supportedLevel.rawValue } }

    override func tearDown() {
        DotKernel.setLevel(DotKernel.supportedLevel)
        super.tearDown()
    }

    func randomFloats(_ n: Int, rng: inout SeededGenerator) -> [Float] { (0..<n).map { _ in rng.nextGaussian() } }

    func naiveDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> (value: Double, magnitude: Double) {
        var s = 0.0, m = 0.0
        for i in 0..<n { s += Double(a[i]) * Double(b[i]); m += abs(Double(a[i]) * Double(b[i])) }
        return (s, m)
    }

    func testSetLevelClampsAndReports() {
        XCTAssertEqual(DotKernel.setLevel(.portable), .portable)
        XCTAssertEqual(DotKernel.level, .portable)
        XCTAssertEqual(DotKernel.setLevel(.avx512), DotKernel.supportedLevel)
        XCTAssertEqual(DotKernel.level, DotKernel.supportedLevel)
    }

    func testDotAndScoresMatchNaiveAtEveryLevel() {
        var rng = SeededGenerator(seed: 41)
        for level in levels {
            XCTAssertEqual(DotKernel.setLevel(level), level)
            for dim in [1, 3, 7, 8, 15, 16, 17, 31, 33, 48, 63, 64, 65, 100, 768] {
                for rowCount in [0, 1, 2, 3, 4, 5, 9] {
                    let q = randomFloats(dim, rng: &rng), rows = randomFloats(rowCount * dim, rng: &rng)
                    var out = [Float](repeating: .nan, count: rowCount + 1)
                    q.withUnsafeBufferPointer { qp in
                        rows.withUnsafeBufferPointer { rp in
                            out.withUnsafeMutableBufferPointer { op in
                                DotKernel.scores(query: qp.baseAddress!, rows: rp.baseAddress ?? qp.baseAddress!, rowCount: rowCount, dim: dim, out: op.baseAddress!)
                            }
                            for r in 0..<rowCount {
                                let (expected, magnitude) = naiveDot(qp.baseAddress!, rp.baseAddress! + r * dim, dim)
                                let tolerance = 1e-6 * magnitude + 1e-7
                                XCTAssertEqual(Double(out[r]), expected, accuracy: tolerance, "scores level \(level) dim \(dim) row \(r)/\(rowCount)")
                                let single = DotKernel.dot(qp.baseAddress!, rp.baseAddress! + r * dim, dim)
                                XCTAssertEqual(Double(single), expected, accuracy: tolerance, "dot level \(level) dim \(dim)")
                            }
                        }
                    }
                    XCTAssertTrue(out[rowCount].isNaN, "wrote past rowCount at level \(level)")
                }
            }
        }
    }

    func testInt8ScoresMatchNaiveAtEveryLevel() {
        var rng = SeededGenerator(seed: 42)
        for level in levels {
            DotKernel.setLevel(level)
            for dim in [1, 5, 15, 16, 17, 32, 33, 47, 768] {
                for rowCount in [0, 1, 2, 3, 7] {
                    let q = randomFloats(dim, rng: &rng)
                    let codes = (0..<(rowCount * dim)).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
                    var out = [Float](repeating: .nan, count: rowCount + 1)
                    q.withUnsafeBufferPointer { qp in
                        codes.withUnsafeBufferPointer { cp in
                            out.withUnsafeMutableBufferPointer { op in
                                DotKernel.scoresInt8(query: qp.baseAddress!, codes: cp.baseAddress ?? UnsafePointer(bitPattern: 8)!, rowCount: rowCount, dim: dim, out: op.baseAddress!)
                            }
                        }
                    }
                    for r in 0..<rowCount {
                        var s = 0.0, m = 0.0
                        for j in 0..<dim { s += Double(q[j]) * Double(codes[r * dim + j]); m += abs(Double(q[j]) * Double(codes[r * dim + j])) }
                        XCTAssertEqual(Double(out[r]), s, accuracy: 1e-6 * m + 1e-6, "int8 level \(level) dim \(dim) row \(r)")
                    }
                    XCTAssertTrue(out[rowCount].isNaN, "wrote past rowCount at level \(level)")
                }
            }
        }
    }

    func testUnsignedSignedIntegerDotsAreExactAtEveryLevel() {
        var rng = SeededGenerator(seed: 46)
        for level in levels {
            DotKernel.setLevel(level)
            for dim in [1, 3, 4, 63, 64, 65, 100, 768, 1030] {
                for rowCount in [0, 1, 2, 3, 5] {
                    let q = (0..<dim).map { _ in Int8(truncatingIfNeeded: Int(rng.next() % 255) - 127) }
                    let rows = (0..<(rowCount * dim)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
                    var out = [Int32](repeating: -7, count: rowCount + 1)
                    q.withUnsafeBufferPointer { qp in
                        rows.withUnsafeBufferPointer { rp in
                            out.withUnsafeMutableBufferPointer { op in
                                DotKernel.dotsUnsignedSigned(query: qp.baseAddress!, rows: rp.baseAddress ?? UnsafePointer(bitPattern: 8)!, rowCount: rowCount, dim: dim, out: op.baseAddress!)
                            }
                        }
                    }
                    for r in 0..<rowCount {
                        let expected = (0..<dim).reduce(Int32(0)) { $0 + Int32(rows[r * dim + $1]) * Int32(q[$1]) }
                        XCTAssertEqual(out[r], expected, "level \(level) dim \(dim) row \(r)")
                    }
                    XCTAssertEqual(out[rowCount], -7, "wrote past rowCount at level \(level)")
                }
            }
        }
    }

    func testFlatIndexIsExactOnThePortableFallback() throws {
        DotKernel.setLevel(.portable)
        var rng = SeededGenerator(seed: 43)
        let dim = 40, rows = 3_000
        let base = unitVectors(rows, dim: dim, rng: &rng)
        let ids = (0..<rows).map { Int64($0) }
        let index = FlatIndex(dim: dim, threads: 2)
        try index.add(ids: ids, vectors: base)
        let queries = unitVectors(2, dim: dim, rng: &rng)
        let found = try index.search(queries, k: 7)
        for qi in 0..<2 {
            let query = queries[(qi * dim)..<((qi + 1) * dim)]
            let all = naiveTopK(base, ids: ids, query: query, dim: dim, k: rows)
            assertExactTopK(found[qi], Array(all.prefix(7)), truth: Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0.score) }))
        }
    }

    func testHNSWBuildAndSearchOnThePortableFallback() throws {
        DotKernel.setLevel(.portable)
        var rng = SeededGenerator(seed: 44)
        let dim = 24, n = 1_500
        let base = unitVectors(n, dim: dim, rng: &rng), queries = unitVectors(40, dim: dim, rng: &rng)
        let ids = (0..<n).map { Int64($0) }
        let hnsw = HNSWIndex(dim: dim, M: 8, efConstruction: 64, efSearch: 64, buildThreads: 2)
        try hnsw.add(ids: ids, vectors: base)
        let exact = FlatIndex(dim: dim, threads: 1)
        try exact.add(ids: ids, vectors: base)
        let truth = try exact.search(queries, k: 10), found = try hnsw.search(queries, k: 10)
        var hit = 0
        for (f, t) in zip(found, truth) { hit += Set(f.map(\.id)).intersection(t.map(\.id)).count }
        XCTAssertGreaterThanOrEqual(Double(hit) / Double(truth.count * 10), 0.95, "recall@10 on the portable kernels")
        let excluded = Set(truth.compactMap { $0.first?.id })
        for res in try hnsw.search(queries, k: 10, filter: SearchFilter(excludedIDs: excluded)) {
            XCTAssertEqual(res.count, 10)
            XCTAssertTrue(Set(res.map(\.id)).isDisjoint(with: excluded))
        }
    }

    /// The int8-bounds path (VNNI where present, and the portable integer kernel) equals the naive oracle, also with
    /// 40 near-copies of one row (the bounds cannot separate them, so all of them must reach the exact pass), after
    /// removals (rows move), under filters, and for a D that is not a multiple of 4.
    func testInt8BoundedFlatSearchIsExactWithNearDuplicatesRemovalsAndFilters() throws {
        for level in [SIMDLevel.portable, DotKernel.supportedLevel] {
            DotKernel.setLevel(level)
            var rng = SeededGenerator(seed: 45)
            for dim in [50, 64] {
                let rows = 2_500
                var base = unitVectors(rows, dim: dim, rng: &rng)
                for r in 100..<140 { for j in 0..<dim { base[r * dim + j] = base[7 * dim + j] + 1e-6 * rng.nextGaussian() } }
                var ids = (0..<rows).map { Int64($0 * 3 + 1) }
                let index = FlatIndex(dim: dim, threads: 2)
                index.scanMethod = .int8Bounds
                try index.add(ids: ids, vectors: base)
                var queries = unitVectors(3, dim: dim, rng: &rng)
                queries += Array(base[(7 * dim)..<(8 * dim)])  // a query right on the near-copies
                let check = { (found: [[SearchResult]], filter: SearchFilter?) in
                    for qi in 0..<4 {
                        let query = queries[(qi * dim)..<((qi + 1) * dim)]
                        let all = naiveTopK(base, ids: ids, query: query, dim: dim, k: ids.count, filter: filter)
                        assertExactTopK(found[qi], Array(all.prefix(10)), truth: Dictionary(uniqueKeysWithValues: all.map { ($0.id, $0.score) }))
                    }
                }
                check(try index.search(queries, k: 10), nil)
                for qi in 0..<4 { check(try index.search(Array(queries[(qi * dim)..<((qi + 1) * dim)]) + queries, k: 10).dropFirst().map { $0 }, nil) }
                _ = try index.search(Array(queries[(3 * dim)...]), k: 10)
                XCTAssertGreaterThanOrEqual(index.lastCandidateCount, 40, "level \(level) dim \(dim): every near-copy reaches the exact pass")
                _ = try index.search(Array(queries[0..<dim]), k: 10)
                XCTAssertLessThan(index.lastCandidateCount, rows / 2, "level \(level) dim \(dim): the bounds rule out most rows")
                // Remove rows (the last rows move into the holes), then search with filters.
                let gone = Array(ids[100..<120]) + Array(ids.suffix(5))
                XCTAssertEqual(index.remove(ids: gone), gone.count)
                let keep = ids.indices.filter { !Set(gone).contains(ids[$0]) }
                base = keep.flatMap { Array(base[($0 * dim)..<(($0 + 1) * dim)]) }
                ids = keep.map { ids[$0] }
                check(try index.search(queries, k: 10), nil)
                let filter = SearchFilter(excludedIDs: Set(ids.prefix(300)))
                check(try index.search(queries, k: 10, filter: filter), filter)
            }
        }
    }
}
