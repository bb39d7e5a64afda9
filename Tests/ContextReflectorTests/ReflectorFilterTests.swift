// Tests of the filter stage: each rule on hand-made candidates, with the exact reasons expected.
import ContextReflector
import Foundation
import Formats
import TestSupport
import XCTest

/// A unit vector along axis `i` of a small space, optionally tilted towards axis `j` by `tilt`.
private func axis(_ i: Int, tilt j: Int? = nil, by tilt: Float = 0, dim: Int = 10) -> Embedding {
    var v = [Float](repeating: 0, count: dim)
    v[i] = 1
    if let j { v[j] += tilt }
    return Embedding(v)
}

/// A transition whose state0, action and state1 all point along the given axes.
private func transition(
    _ s0: Embedding, _ a: Embedding, _ s1: Embedding, id: String, dataset: String = "kb", episode: String? = nil, step: Int? = nil
) -> Transition {
    Transition(
        state0: State([.image: s0]), action: Action(text: "a", embedding: a), state1: State([.image: s1]),
        provenance: Provenance(dataset: dataset, episode: episode, step: step, sampleID: id))
}

/// A query along axes the generic candidates never use (so the copy-of-the-query check stays quiet).
private let query = ReflectorQuery(
    state: State([.image: axis(8)]), action: Action(text: "push", embedding: axis(9)),
    provenance: Provenance(dataset: "train", scenario: "s", episode: "ep1", step: 2, sampleID: "q7"))

/// A query whose own transition is `axis(0) → axis(2)` under `axis(1)`.
private let leakQuery = ReflectorQuery(
    state: State([.image: axis(0)]), action: Action(text: "push", embedding: axis(1)),
    provenance: Provenance(dataset: "train", scenario: "s", episode: "ep1", step: 2, sampleID: "q7"))

final class ReflectorFilterTests: XCTestCase {
    func testThresholdDropsWeakMatchesWithReason() throws {
        let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0.30, mmrLambda: 1, budget: 10))
        let candidates = [
            ReflectorCandidate(id: "kb:1", transition: transition(axis(0), axis(1), axis(2), id: "1"), score: 0.81),
            ReflectorCandidate(id: "kb:2", transition: transition(axis(3), axis(4), axis(5), id: "2"), score: 0.12),
        ]
        let result = filter.apply(query: query, candidates: candidates)
        XCTAssertEqual(result.kept.map(\.id), ["kb:1"])
        XCTAssertEqual(result.decisions.map(\.reason), ["kept: rank 1, score 0.81", "dropped: below threshold 0.30 (score 0.12)"])
        XCTAssertEqual(result.decisions[1].verdict, .threshold)
    }

    func testNearDuplicateCollapsesIntoTheBetterScored() throws {
        let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, duplicateCosine: 0.99, mmrLambda: 1, budget: 10))
        // kb:1834 and kb:9 differ only by a small tilt of state1 (cos of state1 parts = 1/sqrt(1+t²)).
        let t: Float = 0.2
        let cosState1 = 1 / Double(sqrt(1 + t * t))
        let expected = (1 + 1 + cosState1) / 3  // mean over the three parts
        let candidates = [
            ReflectorCandidate(id: "kb:9", transition: transition(axis(0), axis(1), axis(2, tilt: 3, by: t), id: "9"), score: 0.70),
            ReflectorCandidate(id: "kb:1834", transition: transition(axis(0), axis(1), axis(2), id: "1834"), score: 0.90),
            ReflectorCandidate(id: "kb:5", transition: transition(axis(4), axis(5), axis(6), id: "5"), score: 0.50),
        ]
        let result = filter.apply(query: query, candidates: candidates)
        XCTAssertEqual(result.kept.map(\.id), ["kb:1834", "kb:5"])
        let dup = result.decisions[0]
        XCTAssertEqual(dup.verdict, .duplicate)
        XCTAssertEqual(dup.relatedID, "kb:1834")
        XCTAssertEqual(dup.cosine ?? 0, expected, accuracy: 1e-6)
        XCTAssertEqual(dup.reason, "dropped: duplicate of kb:1834 (cos \(String(format: "%.3f", expected)))")
        XCTAssertEqual(dup.reason, "dropped: duplicate of kb:1834 (cos 0.994)")
        XCTAssertEqual(result.decisions[1].reason, "kept: rank 1, score 0.90")
        XCTAssertEqual(result.decisions[2].reason, "kept: rank 2, score 0.50")
    }

    func testAChangeFarLargerThanTheMedianIsDroppedAsAnOutlier() throws {
        // Three items change axis 0 → axis 3 (|change| = √2); kb:4's state1 is 5·axis 3 (|change| = √26 = 5.099). The
        // median of the four best-scored is (√2 + √2)/2 = 1.414; 5.099 > 2 × 1.414, so kb:4 goes, though it scores best.
        let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, mmrLambda: 1, budget: 4, outlierRatio: 2))
        let far = Embedding(axis(3).values.map { $0 * 5 })
        let candidates = [
            ReflectorCandidate(id: "kb:4", transition: transition(axis(0), axis(4), far, id: "4"), score: 0.95),
            ReflectorCandidate(id: "kb:1", transition: transition(axis(0), axis(1), axis(3), id: "1"), score: 0.9),
            ReflectorCandidate(id: "kb:2", transition: transition(axis(0), axis(2), axis(3), id: "2"), score: 0.8),
            ReflectorCandidate(id: "kb:3", transition: transition(axis(0), axis(5), axis(3), id: "3"), score: 0.7),
        ]
        let result = filter.apply(query: query, candidates: candidates)
        XCTAssertEqual(result.kept.map(\.id), ["kb:1", "kb:2", "kb:3"])
        XCTAssertEqual(result.decisions[0].verdict, .outlier)
        XCTAssertEqual(result.decisions[0].reason, "dropped: outlier (change 5.099, more than 2.0× the median 1.414)")
        // At ratio 4 it stays (5.099 < 5.657); without the rule it stays; fewer than 3 items: no median to judge by.
        XCTAssertEqual(try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, mmrLambda: 1, budget: 4, outlierRatio: 4))
            .apply(query: query, candidates: candidates).kept.count, 4)
        XCTAssertEqual(try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, mmrLambda: 1, budget: 4))
            .apply(query: query, candidates: candidates).kept.count, 4)
        XCTAssertEqual(filter.apply(query: query, candidates: Array(candidates.prefix(2))).kept.count, 2)
        XCTAssertThrowsError(try ReflectorFilter(config: ReflectorFilterConfig(outlierRatio: 0.5)))
    }

    func testMMRPrefersADiverseItemOverARedundantOne() throws {
        // A and B are close (cos 0.8 in every part); C is orthogonal with a lower score.
        let s: Float = 0.75  // tilt giving cos 0.8 = 1/sqrt(1+0.75²)
        let a = transition(axis(0), axis(1), axis(2), id: "A")
        let b = transition(axis(0, tilt: 5, by: s), axis(1, tilt: 6, by: s), axis(2, tilt: 7, by: s), id: "B")
        let c = transition(axis(3), axis(4), axis(5), id: "C")
        let candidates = [
            ReflectorCandidate(id: "A", transition: a, score: 0.9),
            ReflectorCandidate(id: "B", transition: b, score: 0.85),
            ReflectorCandidate(id: "C", transition: c, score: 0.6),
        ]
        // λ = 1: pure score order, C is over budget.
        let byScore = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, mmrLambda: 1, budget: 2)).apply(query: query, candidates: candidates)
        XCTAssertEqual(byScore.kept.map(\.id), ["A", "B"])
        XCTAssertEqual(byScore.decisions[2].reason, "dropped: over budget 2 (score 0.60)")
        // λ = 0.5: B's value 0.5·0.85 − 0.5·0.8 = 0.025 < C's 0.5·0.6 − 0 = 0.3, so C is picked second.
        let diverse = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, mmrLambda: 0.5, budget: 2)).apply(query: query, candidates: candidates)
        XCTAssertEqual(diverse.kept.map(\.id), ["A", "C"])
        XCTAssertEqual(diverse.decisions[1].verdict, .diversity)
        XCTAssertEqual(diverse.decisions[1].relatedID, "A")
        XCTAssertEqual(diverse.decisions[1].cosine ?? 0, 0.8, accuracy: 1e-6)
        XCTAssertEqual(diverse.decisions[1].reason, "dropped: diversity (MMR λ 0.50: too close to A, cos 0.800)")
        XCTAssertEqual(diverse.decisions[2].reason, "kept: rank 2, score 0.60")
    }

    func testBudgetKeepsTheBestInScoreOrder() throws {
        let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, mmrLambda: 1, budget: 2))
        let candidates = (0..<4).map { i in
            ReflectorCandidate(id: "kb:\(i)", transition: transition(axis(i), axis(i + 1), axis(i + 2), id: "\(i)"), score: [0.4, 0.9, 0.5, 0.7][i])
        }
        let result = filter.apply(query: query, candidates: candidates)
        XCTAssertEqual(result.kept.map(\.id), ["kb:1", "kb:3"])
        XCTAssertEqual(result.decisions.map(\.verdict), [.budget, .kept, .budget, .kept])
        XCTAssertEqual(result.decisions[3].reason, "kept: rank 2, score 0.70")
        XCTAssertEqual(result.decisions[0].reason, "dropped: over budget 2 (score 0.40)")
        let none = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0, budget: 0)).apply(query: query, candidates: candidates)
        XCTAssertTrue(none.kept.isEmpty)
        XCTAssertEqual(Set(none.decisions.map(\.verdict)), [.budget])
    }

    func testLeakageGuardDropsTheQuerysOwnSampleEvenWhenItScoresHighest() throws {
        let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0.3, mmrLambda: 1, budget: 4))
        // The query's own transition (same dataset and sample id) scores highest: it is the answer.
        let own = transition(axis(0), axis(1), axis(2), id: "q7", dataset: "train", episode: "ep1", step: 2)
        let later = transition(axis(2), axis(3), axis(4), id: "q9", dataset: "train", episode: "ep1", step: 4)
        let earlier = transition(axis(5), axis(6), axis(7), id: "q5", dataset: "train", episode: "ep1", step: 1)
        let otherEpisode = transition(axis(3), axis(4), axis(5), id: "x1", dataset: "train", episode: "ep2", step: 4)
        // A copy of the query under another id and dataset (same state0 and action).
        let copy = transition(axis(0), axis(1), axis(6), id: "c1", dataset: "kb")
        let candidates = [
            ReflectorCandidate(id: "train:q7", transition: own, score: 1.0),
            ReflectorCandidate(id: "train:q9", transition: later, score: 0.95),
            ReflectorCandidate(id: "train:q5", transition: earlier, score: 0.6),
            ReflectorCandidate(id: "train:x1", transition: otherEpisode, score: 0.5),
            ReflectorCandidate(id: "kb:c1", transition: copy, score: 0.99),
        ]
        let result = filter.apply(query: leakQuery, candidates: candidates)
        XCTAssertEqual(result.kept.map(\.id), ["train:q5", "train:x1"])
        XCTAssertEqual(result.decisions[0].reason, "dropped: leakage (query's own sample)")
        XCTAssertEqual(result.decisions[1].reason, "dropped: leakage (later step 4 of the query's own episode ep1, query at step 2)")
        XCTAssertEqual(result.decisions[4].reason, "dropped: leakage (same state and action as the query)")
        XCTAssertEqual(result.decisions.map(\.verdict), [.leakage, .leakage, .kept, .kept, .leakage])

        // With the guard off (an ablation), the answer itself comes first: that is what the guard prevents.
        let unguarded = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0.3, mmrLambda: 1, budget: 4, leakageGuard: false))
            .apply(query: leakQuery, candidates: candidates)
        XCTAssertEqual(unguarded.kept.first?.id, "train:q7")
    }

    func testNonFiniteScoresAndEmbeddingsAreDroppedAsInvalid() throws {
        let filter = try ReflectorFilter()
        var bad = transition(axis(0), axis(1), axis(2), id: "n")
        bad.state1[.image] = Embedding([.nan] + [Float](repeating: 0, count: 7))
        let candidates = [
            ReflectorCandidate(id: "kb:nan-score", transition: transition(axis(3), axis(4), axis(5), id: "s"), score: .nan),
            ReflectorCandidate(id: "kb:nan-emb", transition: bad, score: 0.9),
        ]
        let result = filter.apply(query: query, candidates: candidates)
        XCTAssertTrue(result.kept.isEmpty)
        XCTAssertEqual(result.decisions.map(\.reason), ["dropped: invalid (non-finite score)", "dropped: invalid (non-finite embedding)"])
    }

    func testRulesComposeAndTheResultRoundTripsThroughJSON() throws {
        let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0.3, duplicateCosine: 0.99, mmrLambda: 1, budget: 1))
        let candidates = [
            ReflectorCandidate(id: "kb:1", transition: transition(axis(3), axis(4), axis(5), id: "1"), score: 0.8),
            ReflectorCandidate(id: "kb:2", transition: transition(axis(3), axis(4), axis(5), id: "2"), score: 0.7),
            ReflectorCandidate(id: "kb:3", transition: transition(axis(5), axis(6), axis(7), id: "3"), score: 0.6),
            ReflectorCandidate(id: "kb:4", transition: transition(axis(6), axis(7), axis(0), id: "4"), score: 0.1),
        ]
        let result = filter.apply(query: query, candidates: candidates)
        XCTAssertEqual(result.decisions.map(\.reason), [
            "kept: rank 1, score 0.80",
            "dropped: duplicate of kb:1 (cos 1.000)",
            "dropped: over budget 1 (score 0.60)",
            "dropped: below threshold 0.30 (score 0.10)",
        ])
        let data = try JSONEncoder().encode(result)
        let back = try JSONDecoder().decode(FilterResult.self, from: data)
        XCTAssertEqual(back, result)
        XCTAssertTrue(result.explanation().contains("kb:2  dropped: duplicate of kb:1 (cos 1.000)"), result.explanation())
    }

    func testConfigDecodesPartialJSONAndRejectsBadValues() throws {
        let config = try JSONDecoder().decode(ReflectorFilterConfig.self, from: Data(#"{"budget": 2, "mmr_lambda": 0.5}"#.utf8))
        XCTAssertEqual(config, ReflectorFilterConfig(mmrLambda: 0.5, budget: 2))
        let outliers = try JSONDecoder().decode(ReflectorFilterConfig.self, from: Data(#"{"outlier_ratio": 2}"#.utf8))
        XCTAssertEqual(outliers.outlierRatio, 2)
        XCTAssertThrowsError(try ReflectorFilter(config: ReflectorFilterConfig(mmrLambda: 1.5))) { error in
            XCTAssertEqual("\(error)", "invalid reflector config: mmr_lambda must be in [0, 1] (got 1.5)")
        }
        XCTAssertThrowsError(try ReflectorFilter(config: ReflectorFilterConfig(budget: -1)))
        XCTAssertThrowsError(try ReflectorFilter(config: ReflectorFilterConfig(threshold: .nan)))
    }

    func testScoreHelperAveragesStateAndActionCosines() {
        let t = transition(axis(0, tilt: 2, by: 1), axis(3), axis(4), id: "s")
        // state cos = 1/sqrt(2), action cos = 0 → mean 0.3536.
        XCTAssertEqual(ReflectorSimilarity.score(query: leakQuery, transition: t), (1 / 2.0.squareRoot()) / 2, accuracy: 1e-9)
    }

    func testReportedCosinesMatchTheNaiveTransitionCosine() throws {
        // Random candidates, some missing parts (no action embedding, other modalities), clustered so that
        // duplicates and MMR displacements occur; every reported cosine must equal the naive Double one.
        var rng = SeededGenerator(seed: 42)
        func vec(_ base: [Float], _ noise: Float) -> Embedding { Embedding(base.map { $0 + noise * rng.nextGaussian() }) }
        let centres = (0..<3).map { _ in (0..<10).map { _ in rng.nextGaussian() } }
        var candidates: [ReflectorCandidate] = []
        for i in 0..<40 {
            let c = centres[i % 3]
            let noise: Float = i % 5 == 0 ? 0.01 : 0.5
            let s0 = i % 7 == 0 ? State([.audio: vec(c, noise)]) : State([.image: vec(c, noise), .audio: vec(c, noise)])
            let t = Transition(
                state0: s0, action: Action(text: "a", embedding: i % 4 == 0 ? nil : vec(c, noise)), state1: State([.image: vec(c, noise)]),
                provenance: Provenance(dataset: "kb", sampleID: "\(i)"))
            candidates.append(ReflectorCandidate(id: "kb:\(i)", transition: t, score: 0.5 + 0.05 * Double(rng.nextGaussian())))
        }
        let result = try ReflectorFilter(config: ReflectorFilterConfig(threshold: -10, duplicateCosine: 0.9, mmrLambda: 0.5, budget: 6))
            .apply(query: query, candidates: candidates)
        let byID = Dictionary(uniqueKeysWithValues: candidates.map { ($0.id, $0.transition) })
        var checked = 0
        for d in result.decisions {
            guard let related = d.relatedID, let cos = d.cosine, let a = byID[d.candidateID], let b = byID[related] else { continue }
            XCTAssertEqual(cos, ReflectorSimilarity.cosine(a, b), accuracy: 1e-5, "\(d.candidateID) vs \(related)")
            checked += 1
        }
        XCTAssertGreaterThan(result.decisions.filter { $0.verdict == .duplicate }.count, 0)
        XCTAssertGreaterThan(result.decisions.filter { $0.verdict == .diversity }.count, 0)
        XCTAssertGreaterThan(checked, 5)
        XCTAssertEqual(result.kept.count, 6)
    }
}
