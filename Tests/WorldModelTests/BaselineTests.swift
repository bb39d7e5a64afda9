// Tests of the identity and k-nearest-neighbour baselines against hand-computed predictions.
import Formats
import TestSupport
import XCTest

@testable import WorldModel

final class BaselineTests: XCTestCase {
    private func transition(_ s0: [Modality: [Float]], _ action: [Float], _ s1: [Modality: [Float]], scenario: String? = nil, id: String) -> Transition {
        Transition(
            state0: State(s0.mapValues(Embedding.init)), action: Action(text: id, embedding: Embedding(action)),
            state1: State(s1.mapValues(Embedding.init)), provenance: Provenance(dataset: "t", scenario: scenario, sampleID: id))
    }

    func testIdentityCopiesInputAndAveragesForCrossModal() throws {
        let input = PredictionInput(
            state: State([.image: Embedding([3, 0, 4]), .audio: Embedding([0, 2, 0])]), action: Action(text: "a"),
            targets: [.image, .video])
        let out = try IdentityModel().predict(input)
        XCTAssertEqual(out.modalities, [.image, .video])
        // image: (3,0,4)/5; video (absent): average (1.5, 1, 2) / sqrt(2.25+1+4)
        let n = (2.25 + 1 + 4.0).squareRoot()
        for (got, want) in zip(out[.image]!.values, [0.6, 0, 0.8]) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }
        for (got, want) in zip(out[.video]!.values, [1.5 / n, 1 / n, 2 / n]) { XCTAssertEqual(Double(got), want, accuracy: 1e-6) }
        XCTAssertThrowsError(try IdentityModel().predict(PredictionInput(state: State(), action: Action(text: "a"), targets: [.image])))
    }

    func testKNNAppliesMeanDeltaOfNearestNeighbours() throws {
        // Three KB transitions; the query is closest (state + action) to rows 0 and 1.
        let kb = [
            transition([.image: [1, 0, 0]], [1, 0], [.image: [1, 1, 0]], id: "a"),  // delta (0,1,0)
            transition([.image: [0.9, 0.1, 0]], [1, 0], [.image: [0.9, 0.1, 1]], id: "b"),  // delta (0,0,1)
            transition([.image: [0, 0, 1]], [0, 1], [.image: [5, 5, 5]], id: "c"),  // far away
        ]
        let model = try KNNModel(knowledgeBase: kb, k: 2)
        let query = PredictionInput(state: State([.image: Embedding([1, 0, 0])]), action: Action(text: "q", embedding: Embedding([1, 0])), targets: [.image])
        let out = try model.predict(query)
        // (1,0,0) + mean((0,1,0),(0,0,1)) = (1, .5, .5), normalised.
        let n = 1.5.squareRoot()
        for (got, want) in zip(out[.image]!.values, [1 / n, 0.5 / n, 0.5 / n]) { XCTAssertEqual(Double(got), want, accuracy: 1e-5) }
    }

    func testKNNCrossModalAveragesNeighbourTargetsAndScopesToScenario() throws {
        let kb = [
            transition([.image: [1, 0, 0]], [1, 0], [.audio: [0, 1, 0]], scenario: "s1", id: "a"),
            transition([.image: [1, 0, 0]], [1, 0], [.audio: [0, 0, 1]], scenario: "s2", id: "b"),
            transition([.image: [0, 1, 0]], [0, 1], [.audio: [1, 0, 0]], scenario: "s2", id: "c"),
        ]
        let model = try KNNModel(knowledgeBase: kb, k: 1)
        var query = PredictionInput(state: State([.image: Embedding([1, 0, 0])]), action: Action(text: "q", embedding: Embedding([1, 0])), targets: [.audio])
        query.scenario = "s2"
        XCTAssertEqual(try model.predict(query)[.audio]!.values, [0, 0, 1])  // row b: best in s2
        query.scenario = "s1"
        XCTAssertEqual(try model.predict(query)[.audio]!.values, [0, 1, 0])  // row a
        let unscoped = try KNNModel(knowledgeBase: kb, k: 2, scopeToScenario: false)
        query.scenario = nil
        let both = try unscoped.predict(query)[.audio]!.values  // rows a and b tie at the top: mean (0,.5,.5)
        XCTAssertEqual(Double(both[1]), 0.5.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(Double(both[2]), 0.5.squareRoot(), accuracy: 1e-6)
    }

    func testKNNTopKMatchesNaiveSort() {
        var rng = SeededGenerator(seed: 7)
        for _ in 0..<20 {
            let scores = (0..<200).map { _ in rng.nextGaussian() }
            let eligible = (0..<200).map { _ in rng.next() % 3 != 0 }
            let naive = scores.indices.filter { eligible[$0] }.sorted { scores[$0] > scores[$1] }.prefix(7)
            XCTAssertEqual(KNNModel.topK(7, scores: scores) { eligible[$0] }, Array(naive))
        }
    }

    func testKNNRejectsBadKnowledgeBaseAndInputs() throws {
        XCTAssertThrowsError(try KNNModel(knowledgeBase: []))
        var noAction = transition([.image: [1, 0, 0]], [1, 0], [.image: [1, 0, 0]], id: "x")
        noAction.action.embedding = nil
        XCTAssertThrowsError(try KNNModel(knowledgeBase: [noAction]))
        let model = try KNNModel(knowledgeBase: [transition([.image: [1, 0, 0]], [1, 0], [.image: [1, 0, 0]], id: "x")])
        let wrongDim = PredictionInput(state: State([.image: Embedding([1, 0])]), action: Action(text: "q", embedding: Embedding([1, 0])), targets: [.image])
        XCTAssertThrowsError(try model.predict(wrongDim)) { error in
            XCTAssertEqual(error as? WorldModelError, .dimensionMismatch(field: "input 0 state.image", expected: 3, actual: 2))
        }
    }
}
