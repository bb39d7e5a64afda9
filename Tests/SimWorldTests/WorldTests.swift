// Tests of a generated world: oracle gaps, the value of same-scenario retrieval and of history, determinism.
import Formats
import TestSupport
import XCTest

@testable import SimWorld

final class WorldTests: XCTestCase {
    /// The tiny example world, generated once for all tests in this class.
    nonisolated(unsafe) static var cached: GeneratedWorld?

    static func tinyWorld() throws -> GeneratedWorld {
        if let cached { return cached }
        let config = try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-tiny.yaml"))
        let world = try WorldGenerator(config).generate()
        cached = world
        return world
    }

    func testOracleGapsAreRealOnTheTinyWorld() throws {
        let world = try Self.tinyWorld()
        let o = world.oracles
        XCTAssertEqual(o.testTransitions, world.transitions(in: .test).count)
        XCTAssertEqual(o.perModality.map(\.modality), Modality.allCases)
        for entry in o.perModality + [OracleReport.Entry(modality: .image, figures: o.mean)] {
            let f = entry.figures
            XCTAssertGreaterThanOrEqual(f.trueDynamics - f.noScenario, 5, "(a)−(b) \(entry.modality)")
            XCTAssertGreaterThanOrEqual(f.trueDynamics - f.noHistory, 5, "(a)−(c) \(entry.modality)")
            XCTAssertGreaterThanOrEqual(f.trueDynamics - f.identity, 5, "(a)−(d) \(entry.modality)")
            XCTAssertGreaterThan(f.noScenario, f.stateActionOnly, "knowing the scenario helps")
            XCTAssertGreaterThan(f.noHistory, f.stateActionOnly, "knowing the velocity helps")
            XCTAssertGreaterThanOrEqual(f.stateActionOnly - f.identity, 5, "state+action beats identity")
            XCTAssertTrue((70...88).contains(f.identity), "identity \(f.identity) like real data")
        }
    }

    func testOraclesAgreeWithANaiveRecomputation() throws {
        // (a) and (d) for `image`, recomputed from the latent states with the naive map of DynamicsTests.
        let world = try Self.tinyWorld()
        let naive = WorldChecks.naiveTrueAndIdentity(world)
        let figures = world.oracles.figures(.image)!
        XCTAssertEqual(naive.trueDynamics, figures.trueDynamics, accuracy: 0.01)
        XCTAssertEqual(naive.identity, figures.identity, accuracy: 0.01)
    }

    func testStateOneOfAStepIsStateZeroOfTheNext() throws {
        let world = try Self.tinyWorld()
        XCTAssertEqual(world.transitions.count, world.config.transitionCount)
        for (a, b) in zip(world.transitions, world.transitions.dropFirst()) where a.episode == b.episode {
            XCTAssertEqual(a.observation1, b.observation0)
            XCTAssertEqual(b.step, a.step + 1)
        }
        let vocab = world.vocabularyTransitions(in: .sequences)
        XCTAssertEqual(vocab.count, world.transitions(in: .sequences).count)
        XCTAssertEqual(vocab[0].state1, vocab[1].state0)
        XCTAssertEqual(vocab[0].provenance.episode, vocab[1].provenance.episode)
        XCTAssertEqual(vocab[0].state0.modalities, Modality.allCases)
        for m in Modality.allCases { XCTAssertEqual(vocab[0].state0[m]!.norm, 1, accuracy: 1e-5) }
        // Velocity is hidden but history reveals it: v_t = p_t − p_{t−1}.
        let e = world.episodes[0]
        for t in 1..<e.states.count {
            for i in 0..<e.states[t].positions.count {
                XCTAssertEqual(e.states[t].velocities[i], e.states[t].positions[i] - e.states[t - 1].positions[i], accuracy: 1e-12)
            }
        }
    }

    func testSameScenarioKnowledgeHelpsAKNNPredictor() throws {
        // The retrieval baseline: apply the mean observed delta of the k nearest KB transitions with the same
        // action meaning. Retrieving from the query's own scenario must beat pooling all scenarios' KBs.
        var config = WorldConfig()
        config.scenarios = 8
        config.episodes = 60
        config.modalities = [.image]
        config.oracleSamples = 1
        let world = try WorldGenerator(config).generate()
        let d = config.dimension
        let x = world.observations[.image]!
        func row(_ r: Int) -> [Float] { Array(x[(r * d)..<((r + 1) * d)]) }
        let kb = world.transitions(in: .kb)
        func score(sameScenario: Bool) -> Double {
            var total = 0.0
            let test = world.transitions(in: .test)
            for t in test {
                let q = row(t.observation0)
                let candidates = kb.filter { $0.action == t.action && (!sameScenario || $0.scenario == t.scenario) }
                let ranked = candidates.map { c -> (Double, SimTransition) in
                    (Embedding(row(c.observation0)).cosine(Embedding(q)), c)
                }.sorted { $0.0 > $1.0 }.prefix(8)
                var prediction = q
                for (_, c) in ranked {
                    let a = row(c.observation0), b = row(c.observation1)
                    for i in 0..<d { prediction[i] += (b[i] - a[i]) / Float(ranked.count) }
                }
                total += Embedding(prediction).cosine(Embedding(row(t.observation1)))
            }
            return 100 * total / Double(test.count)
        }
        let same = score(sameScenario: true), pooled = score(sameScenario: false)
        let identity = world.oracles.mean.identity
        XCTAssertGreaterThan(same, identity + 2, "KNN same-scenario \(same) vs identity \(identity)")
        XCTAssertGreaterThan(same, pooled + 1, "same-scenario \(same) vs pooled \(pooled)")
    }

    func testSameSeedSameWorldDifferentSeedDifferentWorld() throws {
        var config = WorldConfig()
        config.scenarios = 3
        config.episodes = 4
        config.dimension = 32
        config.hidden = 16
        let a = try WorldGenerator(config).generate()
        let b = try WorldGenerator(config).generate()
        XCTAssertEqual(a.observations, b.observations)
        XCTAssertEqual(a.oracles, b.oracles)
        XCTAssertEqual(a.transitions.map(\.sentence), b.transitions.map(\.sentence))
        config.seed = 2
        let c = try WorldGenerator(config).generate()
        XCTAssertNotEqual(a.observations[.image], c.observations[.image])
        XCTAssertNotEqual(a.transitions.map(\.sentence), c.transitions.map(\.sentence))
    }

    func testInvalidConfigIsRejectedBeforeGenerating() {
        var config = WorldConfig()
        config.steps = 0
        XCTAssertThrowsError(try WorldGenerator(config).generate()) { error in
            XCTAssertEqual(error as? SimWorldError, .invalidConfig(field: "steps", reason: "must be in 1...1000 (got 0)"))
        }
    }
}
