// HNSWIndex: recall@10 measured against the exact FlatIndex, incremental adds, deletes, filters, save/load.
import Foundation
import Retrieval
import TestSupport
import XCTest

final class HNSWIndexTests: XCTestCase {
    let dim = 24

    /// Clustered unit vectors (like the anchors' clustered set, scaled down).
    func clustered(_ rows: Int, rng: inout SeededGenerator, centroids: [Float]) -> [Float] {
        let c = centroids.count / dim
        var out = [Float]()
        out.reserveCapacity(rows * dim)
        for _ in 0..<rows {
            let k = Int(rng.next() % UInt64(c))
            var v = (0..<dim).map { centroids[k * dim + $0] + 0.6 * rng.nextGaussian() / Float(dim).squareRoot() }
            let n = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
            v = v.map { $0 / n }
            out += v
        }
        return out
    }

    func recall(_ found: [[SearchResult]], _ truth: [[SearchResult]]) -> Double {
        var hit = 0, total = 0
        for (f, t) in zip(found, truth) {
            hit += Set(f.map(\.id)).intersection(t.map(\.id)).count
            total += t.count
        }
        return Double(hit) / Double(total)
    }

    func testRecallIncrementalAddDeleteFilterAndRoundTrip() throws {
        var rng = SeededGenerator(seed: 50)
        let centroids = unitVectors(30, dim: dim, rng: &rng)
        let n = 3_000
        let base = clustered(n, rng: &rng, centroids: centroids)
        let queries = clustered(60, rng: &rng, centroids: centroids)
        let ids = (0..<n).map { Int64($0 + 1_000) }
        let hnsw = HNSWIndex(dim: dim, M: 8, efConstruction: 64, efSearch: 48, buildThreads: 2)
        // Two batches: the second goes into an existing graph (incremental add), multi-threaded.
        try hnsw.add(ids: Array(ids[0..<1_200]), vectors: Array(base[0..<(1_200 * dim)]))
        try hnsw.add(ids: Array(ids[1_200...]), vectors: Array(base[(1_200 * dim)...]))
        XCTAssertEqual(hnsw.count, n)
        let exact = FlatIndex(dim: dim, threads: 1)
        try exact.add(ids: ids, vectors: base)
        let truth = try exact.search(queries, k: 10)
        let found = try hnsw.search(queries, k: 10)
        let r = recall(found, truth)
        print("HNSW recall@10 at N=\(n), M=8, efSearch=48: \(r)")
        XCTAssertGreaterThanOrEqual(r, 0.95)
        for (f, t) in zip(found, truth) {  // best first, and the scores are the exact inner products
            XCTAssertEqual(f.map(\.score), f.map(\.score).sorted(by: >))
            if let best = t.first, f.first?.id == best.id { XCTAssertEqual(f.first!.score, best.score, accuracy: 1e-5) }
        }
        // Graph invariants: degree bounds, no self links.
        for (node, nbs) in hnsw.levelZeroNeighbors {
            XCTAssertLessThanOrEqual(nbs.count, 16)
            XCTAssertFalse(nbs.contains(node))
        }

        // Deletes: never returned; recall of the rest stays high.
        let removed = Array(truth.prefix(20).compactMap { $0.first?.id })
        XCTAssertEqual(hnsw.remove(ids: removed + [-5]), Set(removed).count)
        exact.remove(ids: removed)
        let afterDelete = try hnsw.search(queries, k: 10)
        for res in afterDelete { XCTAssertTrue(Set(res.map(\.id)).isDisjoint(with: removed)) }
        XCTAssertGreaterThanOrEqual(recall(afterDelete, try exact.search(queries, k: 10)), 0.93)

        // Filters: never an excluded id; allowed-only results come from the allowed set.
        let allowed = Array(ids.filter { $0 % 2 == 0 })
        let filtered = try hnsw.search(queries, k: 10, filter: SearchFilter(allowedIDs: allowed, excludedIDs: Set(ids.prefix(500))))
        for res in filtered {
            XCTAssertEqual(res.count, 10)
            for hit in res { XCTAssertTrue(hit.id % 2 == 0 && hit.id >= 1_500, "id \(hit.id) violates the filter") }
        }

        // Save/load: identical graph and identical answers.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("g.hnsw")
        try hnsw.save(to: url)
        let loaded = try HNSWIndex.load(from: url)
        XCTAssertEqual(loaded.count, hnsw.count)
        XCTAssertEqual(loaded.levelZeroNeighbors, hnsw.levelZeroNeighbors)
        XCTAssertEqual(try loaded.search(queries, k: 10), afterDelete)
        // A flipped link target is caught on load.
        var bytes = try Data(contentsOf: url)
        let firstLink = 48 + n * 21 + 4  // header, per-node arrays, node 0's link count
        bytes.replaceSubrange(firstLink..<(firstLink + 4), with: [0xFF, 0xFF, 0xFF, 0x7F])
        let broken = dir.url.appendingPathComponent("broken.hnsw")
        try bytes.write(to: broken)
        XCTAssertThrowsError(try HNSWIndex.load(from: broken)) { error in
            guard case RetrievalError.corruptIndexFile(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, broken.path)
        }
        XCTAssertThrowsError(try HNSWIndex.load(from: dir.url.appendingPathComponent("missing.hnsw")))
    }
}
