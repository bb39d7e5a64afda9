// KnowledgeBase: keys per mode against hand-built expectations, filters inside the search vs a naive scan, errors.
import Formats
import Foundation
import Retrieval
import TestSupport
import XCTest

final class KnowledgeBaseTests: XCTestCase {
    let dim = 16
    /// Actions are narrower than states (as MiniLM's 384 vs 768).
    let actionDim = 10

    func embedding(_ rng: inout SeededGenerator) -> Embedding { Embedding((0..<dim).map { _ in rng.nextGaussian() }).normalized() }

    func transitions(_ n: Int, rng: inout SeededGenerator) -> [Transition] {
        (0..<n).map { i in
            var s0 = State([.image: embedding(&rng)])
            if i % 2 == 0 { s0[.audio] = embedding(&rng) }
            return Transition(
                state0: s0, action: Action(text: "act \(i)", embedding: Embedding((0..<actionDim).map { _ in rng.nextGaussian() }).normalized()), state1: State([.image: embedding(&rng)]),
                provenance: Provenance(dataset: "d", scenario: "s\(i % 3)", episode: "e\(i % 5)", step: i, sampleID: "sample-\(i)"))
        }
    }

    func naive(_ ts: [Transition], query: [Float], mode: KnowledgeKey, k: Int, admit: (Int) -> Bool) -> [(Int, Double)] {
        var all = [(Int, Double)]()
        for (i, t) in ts.enumerated() where admit(i) {
            let key = KnowledgeBase.key(state: t.state0, action: t.action.embedding, mode: mode, dim: dim, actionDim: actionDim)!
            all.append((i, zip(key, query).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }))
        }
        all.sort { $0.1 > $1.1 }
        return Array(all.prefix(k))
    }

    func testKeysSearchAndFiltersMatchNaive() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var rng = SeededGenerator(seed: 40)
        let ts = transitions(120, rng: &rng)
        // The `both` key: [s/|s|, a/|a|]/√2, so key·key' = (cos_s + cos_a)/2.
        let k = KnowledgeBase.key(state: ts[0].state0, action: ts[0].action.embedding, mode: .both, dim: dim, actionDim: actionDim)!
        let k2 = KnowledgeBase.key(state: ts[1].state0, action: ts[1].action.embedding, mode: .both, dim: dim, actionDim: actionDim)!
        let expected = (ts[0].state0.averaged()!.cosine(ts[1].state0.averaged()!) + ts[0].action.embedding!.cosine(ts[1].action.embedding!)) / 2
        XCTAssertEqual(Double(zip(k, k2).reduce(0) { $0 + $1.0 * $1.1 }), expected, accuracy: 1e-5)

        for mode in KnowledgeKey.allCases {
            let kb = try KnowledgeBase.build(ts, keyMode: mode, at: dir.url.appendingPathComponent("\(mode).sqlite"))
            let reopened = try KnowledgeBase(url: kb.url)
            XCTAssertEqual(reopened.index.vectors, kb.index.vectors, "index rebuilt identically on open")
            let q = ts[7]
            let qKey = KnowledgeBase.key(state: q.state0, action: q.action.embedding, mode: mode, dim: dim, actionDim: actionDim)!
            let filters: [(KnowledgeFilter, (Int) -> Bool)] = [
                (KnowledgeFilter(), { _ in true }),
                (KnowledgeFilter(scenario: "s1", excludedSampleIDs: ["sample-7"]), { i in i % 3 == 1 && i != 7 }),
                (KnowledgeFilter(modalities: [.audio]), { i in i % 2 == 0 }),
                (KnowledgeFilter(episode: "e2", excludedIDs: [3]), { i in i % 5 == 2 && i != 2 }),  // entry id = index + 1
            ]
            for (filter, admit) in filters {
                let hits = try reopened.search(state: q.state0, action: q.action.embedding, k: 5, filter: filter)
                let want = naive(ts, query: qKey, mode: mode, k: 5, admit: admit)
                XCTAssertEqual(hits.map { Int($0.id) - 1 }, want.map(\.0), "\(mode) \(filter)")
                for (h, w) in zip(hits, want) {
                    XCTAssertEqual(Double(h.score), w.1, accuracy: 1e-5)
                    XCTAssertEqual(h.transition, ts[w.0])
                }
            }
        }
    }

    func testBadInputErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var rng = SeededGenerator(seed: 41)
        var ts = transitions(4, rng: &rng)
        ts[2].state1[.video] = Embedding([Float](repeating: 0.1, count: dim + 1))
        XCTAssertThrowsError(try KnowledgeBase.build(ts, keyMode: .state, at: dir.url.appendingPathComponent("a.sqlite"))) { error in
            XCTAssertTrue("\(error)".contains("sample-2") && "\(error)".contains("state1 video"), "\(error)")
        }
        ts = transitions(4, rng: &rng)
        ts[1].action.embedding = nil
        XCTAssertThrowsError(try KnowledgeBase.build(ts, keyMode: .action, at: dir.url.appendingPathComponent("b.sqlite"))) { error in
            XCTAssertTrue("\(error)".contains("sample-1"), "\(error)")
        }
        let junk = dir.url.appendingPathComponent("junk.sqlite")
        try Data(repeating: 7, count: 5000).write(to: junk)
        XCTAssertThrowsError(try KnowledgeBase(url: junk)) { error in
            guard case RetrievalError.database(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, junk.path)
        }
        let kb = try KnowledgeBase.build(transitions(3, rng: &rng), keyMode: .both, at: dir.url.appendingPathComponent("c.sqlite"))
        XCTAssertThrowsError(try kb.search(state: State([.image: embedding(&rng)]), action: nil, k: 1))
        XCTAssertThrowsError(try kb.search(state: State([.image: Embedding([1, 2])]), action: Embedding([Float](repeating: 0.3, count: actionDim)), k: 1))
        XCTAssertThrowsError(try kb.search(state: State([.image: embedding(&rng)]), action: embedding(&rng), k: 1)) { error in
            guard case RetrievalError.dimensionMismatch = error else { return XCTFail("\(error)") }
        }
    }
}
