// Tests of the action-class key: spherical k-means on rows whose groups are obvious, the held-out retrieval score
// against a value worked out by hand, and a world of paraphrased actions whose single transitions are mostly noise,
// where the class key is chosen over the stacked effects and finds every sentence's own action; the k × A key file
// round-trips.
import Foundation
import Formats
import Tensor
import TestSupport
import XCTest

@testable import WorldModel

final class ActionClassesTests: XCTestCase {
    func testKMeansSeparatesTwoObviousGroups() {
        // Three rows near (1, 0), three near (0, 1): any restart ends with the two groups apart.
        let rows: [Float] = [1, 0, 0.99, 0.14, 0.98, -0.2, 0, 1, 0.1, 0.995, -0.15, 0.99]
        let labels = ActionClasses.cluster(ActionClasses.unitRows(rows, width: 2), count: 6, width: 2, k: 2)
        XCTAssertEqual(Set(labels[0..<3]).count, 1)
        XCTAssertEqual(Set(labels[3..<6]).count, 1)
        XCTAssertNotEqual(labels[0], labels[3])
    }

    func testHeldOutScoreMatchesAHandComputation() {
        // One group, four transitions in two folds; sentences 0, 1 with keys (1, 0) and (0.6, 0.8) (the identity factor).
        // Residuals (width 2): t0 (1, 0) s0 f0, t1 (3, 0) s0 f1, t2 (0, 2) s1 f0, t3 (0, 4) s1 f1.
        var data = SelectionData(residualWidth: 2)
        data.sentence = [0, 0, 1, 1]
        data.group = [0, 0, 0, 0]
        data.fold = [0, 1, 0, 1]
        data.residuals = [1, 0, 3, 0, 0, 2, 0, 4]
        data.members = [[0, 1, 2, 3]]
        data.probes = [0, 1, 2, 3]
        data.sentences = [[1, 0], [0.6, 0.8]]
        // Probe t0 (fold 0) retrieves t1 (cos 1, weight 1) and t3 (cos 0.6, weight e^(−4)): m = (3, 4e^(−4)).
        // Score = m·r0/|m|. Likewise t1 → t0, t2; t2 → t3 (weight 1) and t1 (weight e^(−4)); t3 → t2, t0.
        let w = Float(Foundation.exp(-4.0))
        func part(_ m: [Float], _ r: [Float]) -> Double { Double((m[0] * r[0] + m[1] * r[1]) / (m[0] * m[0] + m[1] * m[1]).squareRoot()) }
        let expected = (part([3, 4 * w], [1, 0]) + part([1, 2 * w], [3, 0]) + part([3 * w, 4], [0, 2]) + part([w, 2], [0, 4])) / 4
        let got = ActionClasses.heldOutScore(
            factor: [1, 0, 0, 1], keyWidth: 2, centred: [1, 0, 0.6, 0.8], width: 2, sentenceCount: 2, data: data)
        XCTAssertEqual(got, expected, accuracy: 1e-5)
    }

    /// Four actions, each worded six ways (an embedding near the action's direction plus a wording of its own), three
    /// scenarios that give every action an effect of their own, and transitions whose noise is three times the effect.
    private func paraphraseWorld() -> (transitions: [Transition], meaning: [String: Int], embedding: [String: [Float]]) {
        var rng = SeededGenerator(seed: 7)
        let a = 16, d = 4, actions = 4, wordings = 6
        func gaussians(_ n: Int, _ scale: Float = 1) -> [Float] { (0..<n).map { _ in rng.nextGaussian() * scale } }
        let directions = (0..<actions).map { _ in gaussians(a) }
        var embedding: [String: [Float]] = [:], meaning: [String: Int] = [:]
        for i in 0..<actions {
            for w in 0..<wordings {
                let text = "action \(i) wording \(w)"
                embedding[text] = zip(directions[i], gaussians(a, 0.5)).map { $0 + $1 }
                meaning[text] = i
            }
        }
        let effects = (0..<3).map { _ in (0..<actions).map { _ in gaussians(d) } }
        let texts = embedding.keys.sorted()
        var out: [Transition] = []
        for s in 0..<3 {
            for e in 0..<30 {
                for step in 0..<8 {
                    let text = texts[Int(rng.next() % UInt64(texts.count))]
                    let s0 = gaussians(d), noise = gaussians(d, 3)
                    let s1 = (0..<d).map { s0[$0] + effects[s][meaning[text]!][$0] + noise[$0] }
                    out.append(Transition(
                        state0: State([.image: Embedding(s0)]), action: Action(text: text, embedding: Embedding(embedding[text]!)),
                        state1: State([.image: Embedding(s1)]),
                        provenance: Provenance(dataset: "cls", scenario: "s\(s)", episode: "s\(s)e\(e)", step: step, sampleID: "\(s).\(e).\(step)")))
                }
            }
        }
        return (out, meaning, embedding)
    }

    func testTheClassKeyIsChosenWhereTransitionsAreNoisyAndFindsEachSentencesAction() throws {
        let world = paraphraseWorld()
        let pooled = try RidgeModel.train(
            samples: EvaluationSample.withHistory(world.transitions, maxSteps: 1), modes: [TaskMode(inputs: [.image], targets: [.image])],
            features: RidgeFeatureSet())
        let signature = try XCTUnwrap(try ActionSignature.fit(transitions: world.transitions, pooled: pooled))
        XCTAssertGreaterThan(signature.classes, 0, "scores \(signature.selection)")
        XCTAssertEqual(signature.keyWidth, signature.classes)
        XCTAssertEqual(Set(signature.selection.keys), ["effects", "classes-4", "classes-6"])
        XCTAssertGreaterThan(signature.selection["classes-\(signature.classes)"]!, signature.selection["effects"]!)
        // Every sentence's nearest other sentence by key is a wording of the same action.
        let texts = world.embedding.keys.sorted()
        let keys = try texts.map { try XCTUnwrap(signature.key(world.embedding[$0]!)) }
        func cosine(_ x: [Float], _ y: [Float]) -> Float {
            zip(x, y).reduce(0) { $0 + $1.0 * $1.1 } / (x.reduce(0) { $0 + $1 * $1 } * y.reduce(0) { $0 + $1 * $1 }).squareRoot()
        }
        for (i, text) in texts.enumerated() {
            let nearest = texts.indices.filter { $0 != i }.max { cosine(keys[i], keys[$0]) < cosine(keys[i], keys[$1]) }!
            XCTAssertEqual(world.meaning[texts[nearest]], world.meaning[text], "nearest to \(text)")
        }
        // Without the choice the stacked effects stay the key (and the older behaviour).
        let effects = try XCTUnwrap(try ActionSignature.fit(transitions: world.transitions, pooled: pooled, chooseClasses: false))
        XCTAssertEqual(effects.classes, 0)
        XCTAssertEqual(effects.keyWidth, 16)
        XCTAssertTrue(effects.selection.isEmpty)

        // The k × A key and its scores round-trip through the checkpoint file.
        let dir = try TemporaryDirectory(prefix: "classes")
        defer { dir.remove() }
        try signature.save(into: dir.url)
        let loaded = try XCTUnwrap(try ActionSignature.load(from: dir.url))
        XCTAssertEqual(loaded.keyWidth, signature.keyWidth)
        XCTAssertEqual(loaded.factor, signature.factor)
        XCTAssertEqual(loaded.classes, signature.classes)
        for (name, score) in signature.selection { XCTAssertEqual(loaded.selection[name]!, score, accuracy: 1e-12) }
        XCTAssertEqual(loaded.key(world.embedding[texts[0]]!), signature.key(world.embedding[texts[0]]!))
    }
}
