// Tests of the latent world: dynamics by hand, paraphrases, splits, observation maps.
import Formats
import TestSupport
import XCTest

@testable import SimWorld

final class DynamicsTests: XCTestCase {
    func testStepMatchesHandComputation() {
        // retention 0.5, gain 2, rotation +90°, actions on object 0 move object 1; spring 0.1, impulse 0.3.
        let scenario = Scenario(index: 0, name: "s00", retention: 0.5, gain: 2, rotation: .pi / 2, permutation: [1, 0, 2])
        let state = LatentState(positions: [1, 0, 0, 2, -1, -1], velocities: [0.2, 0, 0, -0.4, 0, 0])
        let next = scenario.step(state, action: ActionMeaning(object: 0, direction: .left), spring: 0.1, impulse: 0.3)
        // v' = 0.5·v − 0.1·p: [0.1-0.1, 0, 0, -0.2-0.2, 0.1, 0.1] = [0, 0, 0, -0.4, 0.1, 0.1]
        // push left (-1, 0) rotated by +90° is (0, -1), times 0.3·2 = (0, -0.6), applied to object 1.
        let expectedV: [Double] = [0, 0, 0, -1.0, 0.1, 0.1]
        let expectedP: [Double] = [1, 0, 0, 1.0, -0.9, -0.9]
        for i in 0..<6 {
            XCTAssertEqual(next.velocities[i], expectedV[i], accuracy: 1e-12, "v[\(i)]")
            XCTAssertEqual(next.positions[i], expectedP[i], accuracy: 1e-12, "p[\(i)]")
        }
    }

    func testScenariosAreStratifiedAndDiffer() {
        var config = WorldConfig()
        config.scenarios = 10
        let scenarios = Scenario.makeAll(config: config)
        XCTAssertEqual(scenarios.map(\.name).first, "s00")
        XCTAssertEqual(scenarios.filter { $0.permutation != [0, 1, 2] }.count, 3, "round(10 × 0.3) swapped scenarios")
        // Latin hypercube: exactly one retention per tenth of the range.
        let bins = scenarios.map { Int((($0.retention - config.retentionMin) / (config.retentionMax - config.retentionMin)) * 10) }
        XCTAssertEqual(Set(bins).count, 10)
        for s in scenarios {
            XCTAssertTrue((config.gainMin...config.gainMax).contains(s.gain))
            XCTAssertLessThanOrEqual(abs(s.rotation), config.rotationMax)
            XCTAssertEqual(Set(s.permutation), [0, 1, 2])
        }
        XCTAssertEqual(Scenario.makeAll(config: config), scenarios, "same seed, same scenarios")
        config.seed = 2
        XCTAssertNotEqual(Scenario.makeAll(config: config), scenarios)
    }

    func testParaphrasesKeepTheirKeyWordsAndAreDistinct() {
        XCTAssertEqual(ActionMeaning.count, 12)
        XCTAssertEqual(ActionMeaning(object: 0, direction: .left).canonicalSentence, "push the red block to the left")
        var all = Set<String>()
        for id in 0..<ActionMeaning.count {
            let meaning = ActionMeaning(id: id)
            XCTAssertEqual(meaning.id, id)
            let object = WorldObject.all[meaning.object]
            let sentences = ActionTemplates.paraphrases(of: meaning)
            XCTAssertEqual(sentences.count, ActionTemplates.variantCount)
            XCTAssertEqual(Set(sentences).count, sentences.count, "paraphrases of \(meaning) are distinct")
            for s in sentences {
                let words = Set(s.split(separator: " ").map(String.init))
                XCTAssertTrue(words.contains(object.colour) && words.contains(object.noun), s)
                XCTAssertTrue(s.contains(meaning.direction.word), s)
                for other in Direction.allCases where other != meaning.direction {
                    XCTAssertFalse(words.contains(other.word), "\(s) names \(other.word)")
                }
            }
            all.formUnion(sentences)
        }
        XCTAssertEqual(all.count, ActionMeaning.count * ActionTemplates.variantCount, "no sentence shared by two meanings")
    }

    func testSplitsPartitionEachScenariosEpisodes() {
        var config = WorldConfig()
        config.episodes = 50
        let splits = WorldGenerator.splitAssignment(scenario: 3, config: config)
        XCTAssertEqual(splits.count, 50)
        XCTAssertEqual(splits.filter { $0 == .train }.count, 30)
        XCTAssertEqual(splits.filter { $0 == .kb }.count, 10)
        XCTAssertEqual(splits.filter { $0 == .test }.count, 5)
        XCTAssertEqual(splits.filter { $0 == .sequences }.count, 5)
        XCTAssertNotEqual(splits, WorldGenerator.splitAssignment(scenario: 4, config: config), "shuffled per scenario")
        // Even a 4-episode scenario gets one episode in every split.
        config.episodes = 4
        XCTAssertEqual(Set(WorldGenerator.splitAssignment(scenario: 0, config: config)), Set(Split.allCases))
    }

    func testObservationsSeePositionsButNotVelocities() {
        var config = WorldConfig()
        config.dimension = 64
        config.hidden = 32
        let map = ObservationMap(modality: .audio, config: config)
        let attributes = (0..<config.staticSize).map { Double($0) / 10 }
        var features = [Float](repeating: 0, count: 2 * map.inputSize)
        map.features(positions: [0.1, 0.2, -0.3, 0.4, 0.5, -0.6], staticAttributes: attributes, into: &features, offset: 0)
        map.features(positions: [0.1, 0.2, -0.3, 0.4, 0.5, -0.5], staticAttributes: attributes, into: &features, offset: map.inputSize)
        let clean = map.cleanEmbeddings(features: features, count: 2)
        // Naive twin: normalize(W · tanh(U · x + b)) in Double.
        for row in 0..<2 {
            var hidden = [Double](repeating: 0, count: map.hiddenSize)
            for j in 0..<map.hiddenSize {
                var s = Double(map.b[j])
                for k in 0..<map.inputSize { s += Double(map.u[j * map.inputSize + k]) * Double(features[row * map.inputSize + k]) }
                hidden[j] = tanh(s)
            }
            var out = [Double](repeating: 0, count: map.outputSize)
            for i in 0..<map.outputSize {
                for j in 0..<map.hiddenSize { out[i] += Double(map.w[i * map.hiddenSize + j]) * hidden[j] }
            }
            let norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
            for i in 0..<map.outputSize {
                XCTAssertEqual(Double(clean[row * map.outputSize + i]), out[i] / norm, accuracy: 1e-5)
            }
        }
        // Velocity is not an input: the map's features have 2 per object plus static attributes only.
        XCTAssertEqual(map.inputSize, 2 * WorldObject.all.count + config.staticSize)
        // Moving one object changes the embedding, but not completely.
        let a = Embedding(Array(clean[0..<64])), b = Embedding(Array(clean[64..<128]))
        XCTAssertLessThan(a.cosine(b), 0.9999)
        XCTAssertGreaterThan(a.cosine(b), 0.5)
        // Noise is per row and reproducible.
        var noisy1 = clean, noisy2 = clean
        map.addNoise(to: &noisy1, firstRow: 10, seed: 1)
        map.addNoise(to: &noisy2, firstRow: 10, seed: 1)
        XCTAssertEqual(noisy1, noisy2)
        let expected = 1 / (1 + Double(map.noise * map.noise)).squareRoot()  // E cos(clean, clean + noise)
        XCTAssertEqual(Embedding(Array(noisy1[0..<64])).cosine(a), expected, accuracy: 0.05)
    }

    func testConfigParsingReportsLineAndField() throws {
        let config = try WorldConfig.parse("""
            # comment
            scenarios: 5   # trailing comment
            noise_factors: [1, 1, 1, 2]
            modalities: [text, image]
            media: true
            """)
        XCTAssertEqual(config.scenarios, 5)
        XCTAssertEqual(config.noiseFactors, [1, 1, 1, 2])
        XCTAssertEqual(config.modalities, [.image, .text])
        XCTAssertTrue(config.media)
        XCTAssertThrowsError(try WorldConfig.parse("scenarios: 5\nscenaros: 3", file: "w.yaml")) { error in
            XCTAssertEqual(String(describing: error).contains("w.yaml:2"), true, "\(error)")
            XCTAssertTrue(String(describing: error).contains("scenaros"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("episodes: many")) { error in
            XCTAssertTrue(String(describing: error).contains("episodes"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("modalities: [image, smell]")) { error in
            XCTAssertTrue(String(describing: error).contains("smell"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("retention_max: 1.5")) { error in
            XCTAssertTrue(String(describing: error).contains("retention_max"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("noise: nan"))
        XCTAssertThrowsError(try WorldConfig.load(URL(fileURLWithPath: "/nonexistent/world.yaml"))) { error in
            XCTAssertTrue(String(describing: error).contains("/nonexistent/world.yaml"), "\(error)")
        }
    }

    func testExampleConfigsLoad() throws {
        let tiny = try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-tiny.yaml"))
        XCTAssertEqual(tiny.transitionCount, 8 * 20 * 7)
        let demo = try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-default.yaml"))
        XCTAssertEqual(demo, WorldConfig(), "the default example spells out the built-in defaults")
        XCTAssertGreaterThanOrEqual(demo.transitionCount, 20_000)
    }
}

final class ZooDynamicsTests: XCTestCase {
    func testPlantStepMatchesHandComputation() {
        // Two tanks; actuators inlet 1, inlet 2, heater 1, heater 2, pump 1→2. Named inlet 1 drives heater 1,
        // reversed; retention 0.5; no delay. At rest (h = ½, θ = 0, no activity), "open inlet 1" (action 0):
        // u = −1.2 on heater 1, a' = −1.2, θ1' = 0.8·tanh(−1.2), levels stay at ½ (no inflow, no outflow at ½).
        let scenario = PlantFamily.PlantScenario(
            name: "s00", wiring: [2, 1, 0, 3, 4], signs: [-1, 1, 1, 1, 1], gains: [1, 1, 1, 1, 1], retention: 0.5,
            delay: 0, exchange: 0.1, outflow: 0.1, summary: "")
        let delayed = PlantFamily.PlantScenario(
            name: "s01", wiring: scenario.wiring, signs: scenario.signs, gains: scenario.gains, retention: 0.5,
            delay: 0.6, exchange: 0.1, outflow: 0.1, summary: "")
        let plant = PlantFamily(tanks: 2, scenarios: [scenario, delayed])
        XCTAssertEqual(plant.actionCount, 10)
        XCTAssertEqual(plant.hiddenSize, 10)
        let rest = LatentState(positions: [0, 0, 0, 0], velocities: [Double](repeating: 0, count: 10))
        let next = plant.step(rest, action: 0, scenario: 0)
        let expected = [0, 0.8 * 0.8 * tanh(-1.2), 0, 0]
        for i in 0..<4 { XCTAssertEqual(next.positions[i], expected[i], accuracy: 1e-12, "observed[\(i)]") }
        XCTAssertEqual(next.velocities[2], -1.2, accuracy: 1e-12, "heater 1 activity")
        XCTAssertEqual(next.velocities.filter { $0 != 0 }.count, 1)
        // Delayed: 40% now, 60% next step (whatever the next action), on top of the decayed activity.
        let late = plant.step(rest, action: 0, scenario: 1)
        XCTAssertEqual(late.velocities[2], -0.48, accuracy: 1e-12)
        XCTAssertEqual(late.velocities[5 + 2], -0.72, accuracy: 1e-12, "the late part waits")
        XCTAssertEqual(late.positions[1], 0.8 * 0.8 * tanh(-0.48), accuracy: 1e-12)
        let after = plant.step(late, action: 9, scenario: 1)  // "slow down the pump": −0.48 now on the pump
        XCTAssertEqual(after.velocities[2], 0.5 * -0.48 - 0.72, accuracy: 1e-12)
        XCTAssertEqual(after.velocities[4], -0.4 * 1.2, accuracy: 1e-12)
        // Levels saturate: a full tank with the inlet wide open stays full.
        let full = LatentState(positions: [0.8, 0, 0, 0], velocities: [5, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        XCTAssertEqual(plant.step(full, action: 2, scenario: 0).positions[0], 0.8, accuracy: 1e-12)
    }

    func testEcosystemStepMatchesHandComputation() {
        // Three species with the unscaled web: at x = 0, R = 1 every growth is 0, so releasing rabbits
        // (action 0) moves only the rabbits, by the arrival momentum 0.6 (gain 1).
        func scenario(threshold: Double) -> EcosystemFamily.EcosystemScenario {
            EcosystemFamily.EcosystemScenario(
                name: "s00", targets: [0, 1, 2], signs: [1, 1, 1, 1], gain: 1, retention: 0.5, coupling: 1,
                interactions: (0..<3).flatMap { i in (0..<3).map { EcosystemFamily.web[i][$0] } },
                crashThreshold: threshold, summary: "")
        }
        let world = EcosystemFamily(species: 3, scenarios: [scenario(threshold: 2), scenario(threshold: 0.5)])
        XCTAssertEqual(world.actionCount, 8)
        let rest = LatentState(positions: [0, 0, 0], velocities: [1, 0, 0, 0])
        let next = world.step(rest, action: 0, scenario: 0)
        XCTAssertEqual(next.positions[0], 1.1 * 0.6, accuracy: 1e-12)
        XCTAssertEqual(next.positions[1], 0, accuracy: 1e-12)
        XCTAssertEqual(next.positions[2], 0, accuracy: 1e-12)
        XCTAssertEqual(next.velocities, [1, 0.6, 0, 0])
        // The momentum keeps arriving (retention 0.5) though the next action culls the foxes.
        let then = world.step(next, action: 3, scenario: 0)
        XCTAssertEqual(then.velocities[1], 0.3, accuracy: 1e-12)
        XCTAssertEqual(then.velocities[2], -0.6, accuracy: 1e-12)
        // A crash: the same rabbits above the scenario's threshold lose exactly 0.9 more.
        let crowded = LatentState(positions: [1.1, 0, 0], velocities: [1, 0, 0, 0])
        let calm = world.step(crowded, action: 4, scenario: 0), crashed = world.step(crowded, action: 4, scenario: 1)
        XCTAssertEqual(calm.positions[0] - crashed.positions[0], 1.1 * 0.9, accuracy: 1e-12)
        XCTAssertEqual(calm.positions[1], crashed.positions[1], accuracy: 1e-12)
    }
}
