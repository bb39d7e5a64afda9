// A SQLite knowledge base searched by another action key: same candidates as the in-memory source over the same
// transitions, and the base's own entry ids.
import Agent
import ContextReflector
import Formats
import Retrieval
import TestSupport
import XCTest

final class RekeyedKnowledgeTests: XCTestCase {
    func testASQLiteBaseSearchedByAnotherActionKeyKeepsItsEntryIDs() throws {
        var rng = SeededGenerator(seed: 21)
        func vector(_ n: Int) -> Embedding { Embedding((0..<n).map { _ in rng.nextGaussian() }).normalized() }
        let data = (0..<30).map { i in
            Transition(
                state0: State([.video: vector(6)]), action: Action(text: "a\(i % 5)", embedding: vector(4)), state1: State([.video: vector(6)]),
                provenance: Provenance(dataset: "kb", scenario: "s\(i % 3)", sampleID: "id\(i)"))
        }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let base = try KnowledgeBase.build(data, keyMode: .both, at: dir.url.appendingPathComponent("kb.sqlite"))
        // A key map that keeps the action's last two components only: its neighbours differ from the stored keys'.
        let key: ([Float]) -> [Float]? = { Array($0.suffix(2)) }
        let rekeyed = try TransitionContextSource.rekeyed(base, actionKey: key)
        let ids = base.index.ids.sorted()
        let reference = try TransitionContextSource(
            transitions: try ids.map { try base.transition(id: $0) }, actionKey: key, stateWeight: 0, ids: ids)
        for i in [0, 7, 13] {
            let query = ReflectorQuery(state: data[i].state0, action: data[i].action, provenance: Provenance(dataset: "q", scenario: "s\(i % 3)", sampleID: "q"))
            let found = try rekeyed.candidates(for: query, k: 4)
            XCTAssertEqual(found.count, 4)
            XCTAssertEqual(found.map(\.id), try reference.candidates(for: query, k: 4).map(\.id))
            for c in found {
                // The id is the base's entry id, and it names the transition returned; the scenario scope holds.
                let entry = try XCTUnwrap(Int64(c.id.dropFirst("kb:".count)))
                XCTAssertEqual(try base.transition(id: entry).provenance.sampleID, c.transition.provenance.sampleID)
                XCTAssertEqual(c.transition.provenance.scenario, "s\(i % 3)")
                // Score: the cosine of the mapped actions (state weight 0), by hand.
                let a = Array(data[i].action.embedding!.values.suffix(2)), b = Array(c.transition.action.embedding!.values.suffix(2))
                let cosine = (a[0] * b[0] + a[1] * b[1]) / ((a[0] * a[0] + a[1] * a[1]).squareRoot() * (b[0] * b[0] + b[1] * b[1]).squareRoot())
                XCTAssertEqual(c.score, Double(cosine), accuracy: 1e-5)
            }
        }
        XCTAssertThrowsError(try TransitionContextSource(transitions: data, ids: [1, 2]))
    }
}
