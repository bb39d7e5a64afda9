// Tests of the action key stacked over scenarios: on a world whose two scenarios reverse one actuator, the pooled
// effect of that actuator cancels while the signature keeps it; its inner products equal aᵀ·G·b with G worked out
// from the world's own matrices; the checkpoint file round-trips and a bad one is refused by name.
import Foundation
import Formats
import TestSupport
import XCTest

@testable import WorldModel

final class ActionSignatureTests: XCTestCase {
    /// change = M_s·a (2-d image state, 3-d action), no dependence on the state. M_y reverses actuator 0 of M_x.
    private let effects: [String: [[Float]]] = [
        "x": [[1, 0, 0.5], [0, 1, 0]],
        "y": [[-1, 0, 0.5], [0, 1, 0]],
    ]

    private func world(seed: UInt64) -> [Transition] {
        var rng = SeededGenerator(seed: seed)
        var out: [Transition] = []
        for (k, scenario) in ["x", "y"].enumerated() {
            let m = effects[scenario]!
            for e in 0..<40 {
                for step in 0..<5 {
                    let s: [Float] = [rng.nextGaussian(), rng.nextGaussian()]
                    let a: [Float] = [rng.nextGaussian(), rng.nextGaussian(), rng.nextGaussian()]
                    let next = (0..<2).map { i in s[i] + (0..<3).reduce(Float(0)) { $0 + m[i][$1] * a[$1] } }
                    out.append(Transition(
                        state0: State([.image: Embedding(s)]), action: Action(text: "a", embedding: Embedding(a)), state1: State([.image: Embedding(next)]),
                        provenance: Provenance(dataset: "sig", scenario: scenario, episode: "\(scenario)\(e)", step: step, sampleID: "\(k).\(e).\(step)")))
                }
            }
        }
        return out
    }

    private func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
    private func cosine(_ a: [Float], _ b: [Float]) -> Float { dot(a, b) / (dot(a, a).squareRoot() * dot(b, b).squareRoot()) }

    func testTheSignatureKeepsApartActionsWhosePooledEffectCancels() throws {
        let transitions = world(seed: 3)
        let pooled = try RidgeModel.train(
            samples: EvaluationSample.withHistory(transitions, maxSteps: 1), modes: [TaskMode(inputs: [.image], targets: [.image])], features: RidgeFeatureSet())
        let signature = try XCTUnwrap(try ActionSignature.fit(transitions: transitions, pooled: pooled))
        XCTAssertEqual(signature.scenarios, 2)
        let c = signature.center
        XCTAssertLessThan(c.map(abs).max()!, 0.2, "the mean of N(0, 1) actions")

        // G = Σ_s M_sᵀ·M_s: G[i][j] = Σ_s Σ_r M_s[r][i]·M_s[r][j]. With M as above: G = [[2,0,0],[0,2,0],[0,0,0.5]]
        // (the ±1 of actuator 0 times 0.5 cancels between the scenarios in G[0][2]).
        let g: [[Float]] = [[2, 0, 0], [0, 2, 0], [0, 0, 0.5]]
        let basis: [[Float]] = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, -1, 0.5]]
        for a in basis {
            for b in basis {
                // Actions relative to the fitted mean action: (a − ā)ᵀ·G·(b − ā).
                let expected = (0..<3).reduce(Float(0)) { sum, i in sum + (0..<3).reduce(Float(0)) { $0 + (a[i] - c[i]) * g[i][$1] * (b[$1] - c[$1]) } }
                let got = dot(try XCTUnwrap(signature.key(a)), try XCTUnwrap(signature.key(b)))
                XCTAssertEqual(got, expected, accuracy: 0.03 * 4, "aᵀGb for \(a), \(b)")
            }
        }
        // Actuator 0 pushed up vs pushed down: the pooled ridge barely sees it (its averaged effect is ~0), the
        // signature puts the two opposite (cosine −1) and a rewording of "up" next to "up".
        let up: [Float] = [1 + c[0], c[1], c[2]], down: [Float] = [-1 + c[0], c[1], c[2]], reworded: [Float] = [0.95 + c[0], 0.05 + c[1], 0.02 + c[2]]
        let pooledUp = try XCTUnwrap(pooled.actionEffect(up))
        XCTAssertLessThan(dot(pooledUp, pooledUp).squareRoot(), 0.25, "the pooled effect of actuator 0 cancels")
        XCTAssertEqual(cosine(try XCTUnwrap(signature.key(up)), try XCTUnwrap(signature.key(down))), -1, accuracy: 1e-4)
        XCTAssertGreaterThan(cosine(try XCTUnwrap(signature.key(up)), try XCTUnwrap(signature.key(reworded))), 0.99)
        XCTAssertNil(signature.key([1, 0]))

        // Without labels everything is one group: the pooled effect, centred, in which "up" and "down" are no longer apart.
        let unlabelled = transitions.map { t -> Transition in
            var t = t
            t.provenance.scenario = nil
            return t
        }
        let pooledOnly = try XCTUnwrap(try ActionSignature.fit(transitions: unlabelled, pooled: pooled))
        XCTAssertEqual(pooledOnly.scenarios, 1)
        let second: [Float] = [c[0], 1 + c[1], c[2]]
        let upKey = try XCTUnwrap(pooledOnly.key(up)), secondKey = try XCTUnwrap(pooledOnly.key(second))
        XCTAssertLessThan(dot(upKey, upKey).squareRoot(), 0.25 * dot(secondKey, secondKey).squareRoot(),
                          "pooled, actuator 0's effect cancels: its key is near zero, up and down are not apart")
    }

    func testTheSignatureFileRoundTripsAndABadOneIsRefusedByName() throws {
        let signature = try ActionSignature(actionWidth: 2, factor: [1, 2, 0, 3], center: [0.5, 0], scenarios: 5)
        let dir = try TemporaryDirectory(prefix: "signature")
        defer { dir.remove() }
        XCTAssertNil(try ActionSignature.load(from: dir.url), "no file: no signature")
        try signature.save(into: dir.url)
        XCTAssertEqual(try ActionSignature.load(from: dir.url), signature)
        XCTAssertEqual(signature.key([1.5, 1]), [3, 3], "U·(a − ā) = [[1, 2], [0, 3]]·(1, 1)")
        try SafeTensors.write([(name: "factor", tensor: TensorData(floats: [1, 2, 3], shape: [1, 3]))],
                              metadata: ["format": "worldgpt-action-signature-v1"], to: dir.url.appendingPathComponent(ActionSignature.fileName))
        XCTAssertThrowsError(try ActionSignature.load(from: dir.url)) { XCTAssertTrue("\($0)".contains(ActionSignature.fileName), "\($0)") }
        XCTAssertThrowsError(try ActionSignature(actionWidth: 2, factor: [1, .nan, 0, 1], center: [0, 0], scenarios: 1))
        XCTAssertThrowsError(try ActionSignature(actionWidth: 2, factor: [1, 0, 0, 1], center: [0], scenarios: 1))
    }
}
