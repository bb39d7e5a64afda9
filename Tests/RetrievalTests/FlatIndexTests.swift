// FlatIndex against a naive double-precision oracle: ids and scores, both search paths, filters, save/load.
import Foundation
import Retrieval
import TestSupport
import XCTest

/// Random unit vectors, row-major.
func unitVectors(_ rows: Int, dim: Int, rng: inout SeededGenerator) -> [Float] {
    var v = [Float](repeating: 0, count: rows * dim)
    for r in 0..<rows {
        var norm: Float = 0
        for j in 0..<dim { let x = rng.nextGaussian(); v[r * dim + j] = x; norm += x * x }
        let s = 1 / norm.squareRoot()
        for j in 0..<dim { v[r * dim + j] *= s }
    }
    return v
}

/// The oracle: every admitted row scored in Double, sorted by (score desc, id asc).
func naiveTopK(_ base: [Float], ids: [Int64], query: ArraySlice<Float>, dim: Int, k: Int, filter: SearchFilter? = nil) -> [(id: Int64, score: Double)] {
    var all = [(id: Int64, score: Double)]()
    let q = Array(query)
    for r in 0..<ids.count where filter?.admits(ids[r]) ?? true {
        var s = 0.0
        for j in 0..<dim { s += Double(base[r * dim + j]) * Double(q[j]) }
        all.append((ids[r], s))
    }
    all.sort { $0.score > $1.score || ($0.score == $1.score && $0.id < $1.id) }
    return Array(all.prefix(k))
}

/// Asserts `found` is an exact top-k: same length, every score is its id's true score, and the ids equal the
/// oracle's wherever the oracle has no near-tie at that rank.
func assertExactTopK(_ found: [SearchResult], _ expected: [(id: Int64, score: Double)], truth: [Int64: Double], file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(found.count, expected.count, "result count", file: file, line: line)
    for (i, hit) in found.enumerated() where i < expected.count {
        XCTAssertEqual(Double(hit.score), expected[i].score, accuracy: 1e-5, "score at rank \(i)", file: file, line: line)
        if let t = truth[hit.id] { XCTAssertEqual(Double(hit.score), t, accuracy: 1e-5, "score of id \(hit.id)", file: file, line: line) } else {
            XCTFail("id \(hit.id) is not admitted", file: file, line: line)
        }
        let nearTie = (i > 0 && abs(expected[i - 1].score - expected[i].score) < 1e-5)
            || (i + 1 < expected.count && abs(expected[i + 1].score - expected[i].score) < 1e-5)
        if !nearTie { XCTAssertEqual(hit.id, expected[i].id, "id at rank \(i)", file: file, line: line) }
    }
}

final class FlatIndexTests: XCTestCase {
    let dim = 48

    func makeIndex(rows: Int, seed: UInt64, threads: Int = 2) throws -> (FlatIndex, [Float], [Int64]) {
        var rng = SeededGenerator(seed: seed)
        let base = unitVectors(rows, dim: dim, rng: &rng)
        let ids = (0..<rows).map { Int64($0 * 7 + 3) }
        let index = FlatIndex(dim: dim, threads: threads)
        try index.add(ids: ids, vectors: base)
        return (index, base, ids)
    }

    func truthTable(_ base: [Float], ids: [Int64], query: ArraySlice<Float>, filter: SearchFilter?) -> [Int64: Double] {
        Dictionary(uniqueKeysWithValues: naiveTopK(base, ids: ids, query: query, dim: dim, k: ids.count, filter: filter).map { ($0.id, $0.score) })
    }

    func testFlatIndexMatchesNaiveOnBothPaths() throws {
        let (index, base, ids) = try makeIndex(rows: 5_000, seed: 11)
        var rng = SeededGenerator(seed: 12)
        for nq in [1, 3, 20] {  // 1 and 3 use the SIMD scan, 20 the blocked GEMM
            let queries = unitVectors(nq, dim: dim, rng: &rng)
            for threads in [1, 2] {
                index.threads = threads
                let found = try index.search(queries, k: 10)
                XCTAssertEqual(found.count, nq)
                for qi in 0..<nq {
                    let query = queries[(qi * dim)..<((qi + 1) * dim)]
                    assertExactTopK(found[qi], naiveTopK(base, ids: ids, query: query, dim: dim, k: 10), truth: truthTable(base, ids: ids, query: query, filter: nil))
                }
            }
        }
    }

    func testOddDimensionAndKLargerThanCount() throws {
        var rng = SeededGenerator(seed: 5)
        let d = 13, rows = 30
        let base = unitVectors(rows, dim: d, rng: &rng)
        let ids = (0..<rows).map { Int64($0) }
        let index = FlatIndex(dim: d, threads: 1)
        try index.add(ids: ids, vectors: base)
        let q = unitVectors(9, dim: d, rng: &rng)
        let found = try index.search(q, k: 50)
        for qi in 0..<9 {
            let expected = naiveTopK(base, ids: ids, query: q[(qi * d)..<((qi + 1) * d)], dim: d, k: 50)
            XCTAssertEqual(found[qi].count, rows)
            XCTAssertEqual(found[qi].map(\.id), expected.map(\.id))
        }
    }

    func testFiltersNeverReturnExcludedIDsAndStayExact() throws {
        let (index, base, ids) = try makeIndex(rows: 2_000, seed: 21)
        var rng = SeededGenerator(seed: 22)
        let queries = unitVectors(10, dim: dim, rng: &rng)
        // The natural top-10 of query 0 excluded: a post-filter of the top-10 would return nothing.
        let natural = try index.search(Array(queries[0..<dim]), k: 10)[0].map(\.id)
        let filters: [SearchFilter] = [
            .excluding(Set(natural)),
            .only(Array(ids.filter { $0 % 3 == 0 })),  // large allowed set → bitmask path
            .only(Array(ids.prefix(50)) + [999_999]),  // small allowed set → row-list path; unknown id ignored
            SearchFilter(allowedIDs: Array(ids.prefix(200)), excludedIDs: Set(ids.prefix(100))),
        ]
        for filter in filters {
            for nq in [1, 10] {
                let q = Array(queries[0..<(nq * dim)])
                let found = try index.search(q, k: 10, filter: filter)
                for qi in 0..<nq {
                    for hit in found[qi] { XCTAssertTrue(filter.admits(hit.id), "id \(hit.id) violates the filter") }
                    let query = q[(qi * dim)..<((qi + 1) * dim)]
                    assertExactTopK(found[qi], naiveTopK(base, ids: ids, query: query, dim: dim, k: 10, filter: filter), truth: truthTable(base, ids: ids, query: query, filter: filter))
                }
            }
        }
        XCTAssertEqual(try index.search(Array(queries[0..<dim]), k: 5, filter: .only([])), [[]])
    }

    func testRemoveThenSearchAndSaveLoadRoundTrip() throws {
        let (index, base, ids) = try makeIndex(rows: 1_000, seed: 31)
        let removed = Array(ids.prefix(300).filter { $0 % 2 == 1 })
        XCTAssertEqual(index.remove(ids: removed + [123_456_789]), removed.count)
        XCTAssertEqual(index.count, 1_000 - removed.count)
        var rng = SeededGenerator(seed: 32)
        let q = unitVectors(12, dim: dim, rng: &rng)
        let before = try index.search(q, k: 7)
        let keepFilter = SearchFilter.excluding(Set(removed))
        for qi in 0..<12 {
            let query = q[(qi * dim)..<((qi + 1) * dim)]
            assertExactTopK(before[qi], naiveTopK(base, ids: ids, query: query, dim: dim, k: 7, filter: keepFilter), truth: truthTable(base, ids: ids, query: query, filter: keepFilter))
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("flat.index")
        try index.save(to: url)
        let loaded = try FlatIndex.load(from: url)
        XCTAssertEqual(loaded.ids, index.ids)
        XCTAssertEqual(loaded.vectors, index.vectors)
        XCTAssertEqual(try loaded.search(q, k: 7), before)
    }

    func testBadInputGivesTypedErrors() throws {
        let index = FlatIndex(dim: 4, threads: 1)
        XCTAssertThrowsError(try index.add(ids: [1], vectors: [1, 2, 3])) { error in
            guard case RetrievalError.dimensionMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try index.add(ids: [1], vectors: [1, .nan, 0, 0])) { error in
            guard case RetrievalError.nonFiniteVector = error else { return XCTFail("\(error)") }
            XCTAssertTrue("\(error)".contains("component 1"))
        }
        try index.add(ids: [1], vectors: [1, 0, 0, 0])
        XCTAssertThrowsError(try index.add(ids: [1], vectors: [0, 1, 0, 0])) { error in
            XCTAssertEqual(error as? RetrievalError, .duplicateID(1))
        }
        XCTAssertThrowsError(try index.search([1, 0, 0], k: 1))
        XCTAssertThrowsError(try index.search([1, 0, 0, 0], k: 0))
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let foreign = dir.url.appendingPathComponent("foreign.index")
        try Data("SQLite format 3\0 and more bytes".utf8).write(to: foreign)
        XCTAssertThrowsError(try FlatIndex.load(from: foreign)) { error in
            guard case RetrievalError.corruptIndexFile(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, foreign.path)
        }
        let truncated = dir.url.appendingPathComponent("truncated.index")
        try index.save(to: truncated)
        let bytes = try Data(contentsOf: truncated)
        try bytes.prefix(bytes.count - 3).write(to: truncated)
        XCTAssertThrowsError(try FlatIndex.load(from: truncated)) { error in
            guard case RetrievalError.corruptIndexFile = error else { return XCTFail("\(error)") }
        }
    }
}
