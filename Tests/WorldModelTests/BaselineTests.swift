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

    func testKNNMatchesANaiveScan() throws {
        // Random knowledge base with missing modalities and scenarios; the model must equal a naive Double scan.
        var rng = SeededGenerator(seed: 7)
        func vector(_ n: Int) -> [Float] { (0..<n).map { _ in rng.nextGaussian() } }
        var kb: [Transition] = []
        for i in 0..<60 {
            var s0: [Modality: [Float]] = [.image: vector(5)], s1: [Modality: [Float]] = [.image: vector(5)]
            if i % 3 != 0 { s0[.audio] = vector(5); s1[.audio] = vector(5) }
            kb.append(transition(s0, vector(3), s1, scenario: "s\(i % 2)", id: "\(i)"))
        }
        let model = try KNNModel(knowledgeBase: kb, k: 4)
        for q in 0..<8 {
            var state = State([.image: Embedding(vector(5))])
            if q % 2 == 0 { state[.audio] = Embedding(vector(5)) }
            let input = PredictionInput(
                state: state, action: Action(text: "q", embedding: Embedding(vector(3))), targets: [.audio], scenario: "s\(q % 2)")
            // Naive: score every eligible row, take the 4 best, average their change.
            let present = state.modalities
            let eligible = kb.indices.filter {
                kb[$0].provenance.scenario == input.scenario && kb[$0].state1[.audio] != nil && (state[.audio] == nil || kb[$0].state0[.audio] != nil)
            }
            let scores = eligible.map { row -> Double in
                let t = kb[row]
                let stateScore = present.map { m in t.state0[m].map { state[m]!.cosine($0) } ?? 0 }.reduce(0, +) / Double(present.count)
                return stateScore + input.action.embedding!.cosine(t.action.embedding!)
            }
            let best = zip(eligible, scores).sorted { $0.1 > $1.1 }.prefix(4).map(\.0)
            var expected = [Double](repeating: 0, count: 5)
            for row in best {
                for j in 0..<5 {
                    let s1 = Double(kb[row].state1[.audio]!.values[j])
                    expected[j] += (state[.audio] != nil ? s1 - Double(kb[row].state0[.audio]!.values[j]) : s1) / 4
                }
            }
            if let base = state[.audio] { for j in 0..<5 { expected[j] += Double(base.values[j]) } }
            let norm = expected.map { $0 * $0 }.reduce(0, +).squareRoot()
            let got = try model.predict(input)[.audio]!.values
            for j in 0..<5 { XCTAssertEqual(Double(got[j]), expected[j] / norm, accuracy: 1e-4, "query \(q) component \(j)") }
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
