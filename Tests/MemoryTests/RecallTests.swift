// Recall against a naive oracle (Double precision, every step scored) for several weightings and filters,
// through the in-memory key tail, the persisted key files of a reopened store, and after a prune.
import Formats
import Foundation
import Memory
import Retrieval
import TestSupport
import XCTest

final class RecallTests: XCTestCase {
    let dim = 32
    /// Narrower than the states, as with a sentence encoder.
    let actionDim = 12

    struct Oracle {
        var ids: [Int64], episodes: [String], states: [[Double]], actions: [[Double]]
    }

    func unit(_ v: [Float]) -> [Double] {
        let n = v.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
        return n > 0 ? v.map { Double($0) / n } : v.map { _ in 0 }
    }

    func oracle(_ store: EpisodeStore) throws -> Oracle {
        var o = Oracle(ids: [], episodes: [], states: [], actions: [])
        for e in try store.episodes() {
            for s in try store.steps(StepReference(episode: e.name, index: nil)) {
                o.ids.append(s.id); o.episodes.append(e.name)
                o.states.append(unit(s.record.input.averaged()!.values))
                o.actions.append(unit(s.record.action.embedding!.values))
            }
        }
        let order = o.ids.indices.sorted { o.ids[$0] < o.ids[$1] }
        return Oracle(ids: order.map { o.ids[$0] }, episodes: order.map { o.episodes[$0] }, states: order.map { o.states[$0] }, actions: order.map { o.actions[$0] })
    }

    func naive(_ o: Oracle, _ q: RecallQuery, k: Int, _ w: RecallWeights) -> [(Int64, Double)] {
        let qs = unit(q.state.averaged()!.values), qa = q.action.map { unit($0.values) }
        var all = [(Int64, Double)]()
        for r in o.ids.indices {
            if let e = q.episode, o.episodes[r] != e { continue }
            if q.excludedStepIDs.contains(o.ids[r]) { continue }
            if let b = q.beforeStepID, o.ids[r] >= b { continue }
            let ss = zip(qs, o.states[r]).reduce(0) { $0 + $1.0 * $1.1 }
            let sa = qa.map { zip($0, o.actions[r]).reduce(0) { $0 + $1.0 * $1.1 } } ?? 0
            let rec = pow(0.5, Double(o.ids.count - 1 - r) / Double(w.halfLife))
            all.append((o.ids[r], Double(w.state) * ss + Double(w.action) * sa + Double(w.recency) * rec))
        }
        all.sort { $0.1 > $1.1 || ($0.1 == $1.1 && $0.0 < $1.0) }
        return Array(all.prefix(k))
    }

    func check(_ store: EpisodeStore, _ o: Oracle, rng: inout SeededGenerator, file: StaticString = #filePath, line: UInt = #line) throws {
        let weights = [RecallWeights(), RecallWeights(state: 0.5, action: 1), RecallWeights(state: 1, action: 0.3, recency: 0.4, halfLife: 20), RecallWeights(state: 0, action: 0, recency: 1, halfLife: 5)]
        for w in weights {
            for filter in 0..<3 {
                var q = RecallQuery(state: State([.image: randomEmbedding(dim, &rng), .video: randomEmbedding(dim, &rng)]), action: randomEmbedding(actionDim, &rng))
                if filter == 1 { q.episode = "b"; q.excludedStepIDs = Set(o.ids.suffix(3)) }
                if filter == 2 { q.beforeStepID = o.ids[o.ids.count / 2] }
                let found = try store.recall(q, k: 7, weights: w)
                let expected = naive(o, q, k: 7, w)
                XCTAssertEqual(found.count, expected.count, file: file, line: line)
                for (f, e) in zip(found, expected) {
                    XCTAssertEqual(Double(f.score), e.1, accuracy: 1e-4, "weights \(w) filter \(filter)", file: file, line: line)
                    XCTAssertEqual(Double(f.score), Double(w.state * f.stateSimilarity + w.action * f.actionSimilarity + w.recency * f.recency), accuracy: 1e-4, "score parts add up", file: file, line: line)
                    if filter == 1 { XCTAssertEqual(f.episode, "b", file: file, line: line) }
                }
                let gaps = zip(expected, expected.dropFirst()).map { abs($0.1 - $1.1) }
                if gaps.allSatisfy({ $0 > 1e-4 }) { XCTAssertEqual(found.map(\.stepID), expected.map(\.0), "weights \(w) filter \(filter)", file: file, line: line) }
            }
        }
    }

    func testRecallMatchesNaiveAcrossWeightsFiltersReopenAndPrune() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("r.sqlite")
        var rng = SeededGenerator(seed: 9)
        do {
            let store = try EpisodeStore(url: url, dim: dim)
            try store.append((0..<60).map { makeStep(episode: $0 % 3 == 0 ? "a" : "b", index: $0, dim: dim, rng: &rng, actionDim: actionDim) })
            try check(store, try oracle(store), rng: &rng)  // keys caught up from SQLite, written to the key files
            try store.append((60..<90).map { makeStep(episode: "b", index: $0, dim: dim, rng: &rng, actionDim: actionDim) })
            try check(store, try oracle(store), rng: &rng)  // keys of new steps appended directly
        }
        XCTAssertTrue(FileManager.default.fileExists(atPath: url.path + "-recall.state"))
        XCTAssertEqual(try EpisodeStore(url: url, readOnly: true).actionDim, actionDim)
        let reopened = try EpisodeStore(url: url, readOnly: true)
        try check(reopened, try oracle(reopened), rng: &rng)  // mapped key files
        XCTAssertEqual(reopened.recallKeysFromFiles, 90, "the reopened store used the key files, not SQLite")
        let writer = try EpisodeStore(url: url)
        try writer.prune(keepLast: 10)
        try check(writer, try oracle(writer), rng: &rng)  // generation changed: keys rebuilt
        try check(try EpisodeStore(url: url, readOnly: true), try oracle(writer), rng: &rng)
    }

    func testRecallRejectsBadQueries() throws {
        let store = try EpisodeStore(inMemoryWithDim: dim)
        var rng = SeededGenerator(seed: 10)
        try store.append([makeStep(episode: "a", index: 0, dim: dim, rng: &rng)])
        XCTAssertThrowsError(try store.recall(RecallQuery(state: State([.image: randomEmbedding(dim, &rng)]), action: randomEmbedding(dim + 1, &rng)), k: 1)) { error in
            guard case StoreError.dimensionMismatch = error else { return XCTFail("\(error)") }
        }
        var wrongAction = makeStep(episode: "a", index: 1, dim: dim, rng: &rng)
        wrongAction.action.embedding = randomEmbedding(dim - 3, &rng)
        XCTAssertThrowsError(try store.append([wrongAction])) { error in
            guard case let StoreError.dimensionMismatch(_, expected, got, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual([expected, got], [self.dim, self.dim - 3], "the first stored action fixed the action dimension")
        }
        XCTAssertThrowsError(try store.recall(RecallQuery(state: State([.image: randomEmbedding(dim + 2, &rng)])), k: 1)) { error in
            guard case StoreError.dimensionMismatch = error else { return XCTFail("\(error)") }
        }
        var nan = randomEmbedding(dim, &rng)
        nan.values[0] = .nan
        XCTAssertThrowsError(try store.recall(RecallQuery(state: State([.image: nan])), k: 1))
        XCTAssertThrowsError(try store.recall(RecallQuery(state: State([.image: randomEmbedding(dim, &rng)])), k: 0))
        XCTAssertEqual(try store.recall(RecallQuery(state: State([.image: randomEmbedding(dim, &rng)]), episode: "none"), k: 3), [])
    }

    /// Near-duplicate states (8 bases + 1e-5 noise) defeat the int8 bounds, so many steps reach the exact pass;
    /// the result must still equal the naive oracle. Damaged or missing compact key files are rebuilt on open.
    func testIntervalPassStaysExactWithNearDuplicatesAndStaleCompactKeysAreRebuilt() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("dup.sqlite")
        var rng = SeededGenerator(seed: 21)
        let bases = (0..<8).map { _ in randomEmbedding(dim, &rng) }
        var steps = [StepRecord]()
        for i in 0..<400 {
            var step = makeStep(episode: i % 2 == 0 ? "a" : "b", index: i, dim: dim, rng: &rng, actionDim: actionDim)
            if i % 2 == 0 {
                let base = bases[i % 8].values
                step.input = State([.image: Embedding(base.map { $0 + 1e-5 * rng.nextGaussian() })])
            }
            steps.append(step)
        }
        do {
            let store = try EpisodeStore(url: url, dim: dim)
            try store.append(steps)
            let o = try oracle(store)
            try check(store, o, rng: &rng)
            let nearTies = try store.recall(RecallQuery(state: State([.image: bases[2]])), k: 5)
            XCTAssertEqual(nearTies.count, 5)
            XCTAssertGreaterThanOrEqual(store.lastRecallCandidateCount, 25, "the 25 near-copies of the base cannot be told apart by int8 keys")
            let expected = naive(o, RecallQuery(state: State([.image: bases[2]])), k: 5, RecallWeights())
            for (f, e) in zip(nearTies, expected) { XCTAssertEqual(Double(f.score), e.1, accuracy: 1e-5) }
            _ = try store.recall(RecallQuery(state: State([.image: randomEmbedding(dim, &rng)])), k: 3)
            XCTAssertLessThan(store.lastRecallCandidateCount, 400, "the int8 bounds rule out most steps of a random query")
            XCTAssertGreaterThanOrEqual(store.lastRecallCandidateCount, 3)
        }
        let state8 = url.path + "-recall.state8", bounds = url.path + "-recall.bounds"
        let good = try Data(contentsOf: URL(fileURLWithPath: state8))
        XCTAssertEqual(good.count, 400 * dim, "one int8 code per component")
        // Damage row 0's codes (the open-time sample covers the first and last rows) and truncate the bounds file.
        var damaged = good
        for j in 0..<dim { damaged[j] = 0x7F }
        try damaged.write(to: URL(fileURLWithPath: state8))
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: bounds))
        try handle.truncate(atOffset: 100)
        try handle.close()
        let reader = try EpisodeStore(url: url, readOnly: true)
        try check(reader, try oracle(reader), rng: &rng)
        XCTAssertEqual(reader.recallKeysFromFiles, 400)
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: state8)), damaged, "a read-only opener rebuilds in memory only")
        let writer = try EpisodeStore(url: url)
        try writer.prepareRecall()
        XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: state8)), good, "a writer rewrites the stale file")
        try check(writer, try oracle(writer), rng: &rng)
        // The same on the portable integer kernel (no VNNI).
        DotKernel.setLevel(.portable)
        defer { DotKernel.setLevel(DotKernel.supportedLevel) }
        try check(writer, try oracle(writer), rng: &rng)
    }
}
