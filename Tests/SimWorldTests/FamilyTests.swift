// Tests of the world zoo: every family deterministic per seed, spring unchanged, held-out templates, knowledge-only
// scenarios, sparse and noisy knowledge bases, absent modalities, oracle sanity, and WorldNet output that never
// needs world.json.
import Formats
import TestSupport
import XCTest

@testable import SimWorld

final class FamilyTests: XCTestCase {
    /// The zoo families (every family but spring).
    static let zoo = ["plant", "ecosystem"]

    /// Tiny example worlds by family, generated once for all tests in this class.
    nonisolated(unsafe) static var cached: [String: GeneratedWorld] = [:]

    static func tinyWorld(_ family: String) throws -> GeneratedWorld {
        if let world = cached[family] { return world }
        let config = try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-\(family)-tiny.yaml"))
        XCTAssertEqual(config.family, family)
        let world = try WorldGenerator(config).generate()
        cached[family] = world
        return world
    }

    /// A small world of `family` with every zoo option on (fast to generate and write).
    func smallConfig(_ family: String, seed: UInt64 = 3) -> WorldConfig {
        var config = WorldConfig()
        config.family = family
        config.scenarios = 4
        config.episodes = 10
        config.steps = 3
        config.seed = seed
        config.dimension = 32
        config.hidden = 16
        config.mapDepth = 2
        config.oracleSamples = 2
        config.absentModalityFraction = 0.1
        config.heldoutTemplates = 2
        config.kbOnlyScenarios = 1
        config.kbNoise = 0.2
        return config
    }

    func testEveryFamilyWritesIdenticalBytesForOneSeedAndOtherBytesForAnother() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-zoo-bytes")
        defer { dir.remove() }
        for family in Self.zoo {
            let a = dir.url.appendingPathComponent("\(family)-a"), b = dir.url.appendingPathComponent("\(family)-b")
            let c = dir.url.appendingPathComponent("\(family)-c")
            try WorldGenerator(smallConfig(family)).generate(to: a)
            try WorldGenerator(smallConfig(family)).generate(to: b)
            try WorldGenerator(smallConfig(family, seed: 4)).generate(to: c)
            let sa = try fileSnapshot(a), sb = try fileSnapshot(b), sc = try fileSnapshot(c)
            XCTAssertGreaterThan(sa.count, 9, family)
            XCTAssertEqual(sa, sb, "\(family): same seed, same bytes")
            XCTAssertNotEqual(sa["/world.json"], sc["/world.json"], family)
            XCTAssertNotEqual(sa["/state/action_train.json"], sc["/state/action_train.json"], family)
            let shared = Set(sa.keys).intersection(sc.keys).filter { $0.hasSuffix(".pt") }
            XCTAssertFalse(shared.isEmpty, family)
            XCTAssertTrue(shared.contains { sa[$0] != sc[$0] }, "\(family): other seed, other embeddings")
        }
    }

    func testSpringFollowsTheOriginalDrawsAndWritesNoZooFacts() throws {
        // The spring family must replay the pre-zoo generator: episode 0 of scenario 1, recomputed with
        // `Scenario.step` and `ActionTemplates` straight from the episode's random stream.
        var config = WorldConfig()
        config.scenarios = 3
        config.episodes = 4
        config.dimension = 32
        config.hidden = 16
        config.oracleSamples = 2
        let world = try WorldGenerator(config).generate()
        XCTAssertTrue(world.family is SpringFamily)
        let scenarios = Scenario.makeAll(config: config)
        let episode = try XCTUnwrap(world.episodes.first { $0.scenario == 1 && $0.indexInScenario == 0 })
        var rng = SimRandom(seed: config.seed, purpose: Purpose.episode, 1, 0)
        let attributes = (0..<config.staticSize).map { _ in rng.gaussian() }
        var state = LatentState(positions: (0..<6).map { _ in rng.gaussian() * config.initialSpread }, velocities: [0, 0, 0, 0, 0, 0])
        for _ in 0..<config.warmup {
            state = scenarios[1].step(state, action: ActionMeaning(id: rng.index(ActionMeaning.count)), spring: config.spring, impulse: config.impulse)
        }
        XCTAssertEqual(episode.staticAttributes, attributes)
        XCTAssertEqual(episode.states[0], state)
        for t in 0..<config.steps {
            let meaning = ActionMeaning(id: rng.index(ActionMeaning.count))
            let sentence = ActionTemplates.sentence(for: meaning, variant: rng.index(ActionTemplates.variantCount))
            state = scenarios[1].step(state, action: meaning, spring: config.spring, impulse: config.impulse)
            XCTAssertEqual(episode.actions[t], meaning.id)
            XCTAssertEqual(episode.sentences[t], sentence)
            XCTAssertEqual(episode.states[t + 1], state)
        }
        // world.json of a plain spring world has neither zoo config keys nor generator-only facts.
        let dir = try TemporaryDirectory(prefix: "simworld-spring-json")
        defer { dir.remove() }
        try WorldGenerator(config).generate(to: dir.url)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("world.json"))) as? [String: Any])
        XCTAssertNil(json["generatorOnly"])
        XCTAssertNotNil(json["objects"])
        let written = try XCTUnwrap(json["config"] as? [String: Any])
        for key in ["family", "units", "mapDepth", "kbNoise", "kbOnlyScenarios", "heldoutTemplates", "absentModalityFraction"] {
            XCTAssertNil(written[key], key)
        }
    }

    func testKnowledgeOnlyScenariosAreAbsentFromTrainButInKBAndTest() throws {
        for family in Self.zoo {
            let world = try Self.tinyWorld(family)
            let only = WorldGenerator.knowledgeOnlyScenarios(config: world.config)
            XCTAssertEqual(only.count, world.config.kbOnlyScenarios, family)
            XCTAssertFalse(only.isEmpty, family)
            let trained = Set(world.transitions(in: .train).map(\.scenario))
            for s in only {
                XCTAssertFalse(trained.contains(s), "\(family): scenario \(s) is knowledge-only")
                XCTAssertTrue(world.transitions(in: .kb).contains { $0.scenario == s && $0.noise == nil }, "\(family): \(s) in kb")
                XCTAssertTrue(world.transitions(in: .test).contains { $0.scenario == s }, "\(family): \(s) in test")
            }
            XCTAssertEqual(trained.count, world.config.scenarios - only.count, family)
        }
    }

    func testHeldOutTemplatesNeverPhraseTrainOrKnowledge() throws {
        for family in Self.zoo {
            let world = try Self.tinyWorld(family)
            let phrased = try XCTUnwrap(world.family as? any PhrasedFamily)
            let heldOut = PhraseBook.heldOut(count: world.config.heldoutTemplates, seed: world.config.seed)
            XCTAssertEqual(heldOut.count, 2)
            var heldOutSentences = Set<String>()
            for action in 0..<phrased.actionCount {
                let w = phrased.wording(action: action)
                for t in heldOut { for v in w.verbs { for o in w.objects { heldOutSentences.insert(PhraseBook.fill(PhraseBook.templates[t], verb: v, object: o)) } } }
            }
            for split in [Split.train, .kb] {
                let leaked = world.transitions(in: split).filter { $0.noise == nil && heldOutSentences.contains($0.sentence) }
                XCTAssertTrue(leaked.isEmpty, "\(family) \(split): \(leaked.first?.sentence ?? "")")
            }
            let unseen = (world.transitions(in: .test) + world.transitions(in: .sequences)).filter { heldOutSentences.contains($0.sentence) }
            XCTAssertFalse(unseen.isEmpty, "\(family): held-out templates appear in test and sequences")
            // Paraphrases of one meaning never phrase another.
            var owner: [String: Int] = [:]
            for action in 0..<phrased.actionCount {
                for s in PhraseBook.paraphrases(of: phrased.wording(action: action)) {
                    XCTAssertNil(owner[s].flatMap { $0 == action ? nil : $0 }, "\(family): \(s)")
                    owner[s] = action
                }
            }
        }
    }

    func testNoisyKnowledgeFractionIsTheConfiguredOne() throws {
        let world = try Self.tinyWorld("ecosystem")
        let kb = world.transitions(in: .kb)
        let noisy = kb.filter { $0.noise != nil }
        let fraction = Double(noisy.count) / Double(kb.count)
        XCTAssertEqual(noisy.count, Int((Double(kb.count) * world.config.kbNoise).rounded()))
        XCTAssertTrue((0.10...0.20).contains(fraction), "noisy share \(fraction)")
        var wrong = 0, corrupted = 0
        for t in noisy {
            switch t.noise {
            case .wrongScenario(let source)?:
                wrong += 1
                XCTAssertNotEqual(world.transitions[source].scenario, t.scenario, "borrowed from another scenario")
                XCTAssertEqual(world.transitions[source].action, t.action, "with the same action")
                XCTAssertEqual(t.observation0, world.transitions[source].observation0)
            case .corruptedState(let row)?:
                corrupted += 1
                XCTAssertEqual(t.observation1, row)
                XCTAssertNotEqual(row / (world.config.steps + 1), t.episode, "an unrelated state")
            case nil: XCTFail("filtered")
            }
        }
        XCTAssertGreaterThan(wrong, 0)
        XCTAssertGreaterThan(corrupted, 0)
        XCTAssertTrue(world.transitions(in: .train).allSatisfy { $0.noise == nil }, "only the KB is noisy")
        // The plant example's KB is clean.
        XCTAssertTrue(try Self.tinyWorld("plant").transitions.allSatisfy { $0.noise == nil })
    }

    func testSparseKnowledgeHoldsAboutThreeTransitionsPerActionAndScenario() throws {
        var config = try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-plant.yaml"))
        config.scenarios = 4
        config.kbOnlyScenarios = 1
        config.dimension = 32
        config.hidden = 16
        config.modalities = [.image]
        config.absentModalityFraction = 0
        config.oracleSamples = 1
        let world = try WorldGenerator(config).generate()
        let kb = world.transitions(in: .kb)
        let perCell = Double(kb.count) / Double(config.scenarios * world.family.actionCount)
        XCTAssertTrue((2...5).contains(perCell), "KB transitions per action and scenario: \(perCell)")
    }

    func testAbsentModalitiesAreEmptyInAnnotationsAndHaveNoFiles() throws {
        for family in Self.zoo {
            let world = try Self.tinyWorld(family)
            let absent = world.episodes.filter { $0.absentModality != nil }
            let fraction = Double(absent.count) / Double(world.episodes.count)
            XCTAssertTrue((0.05...0.15).contains(fraction), "\(family): absent share \(fraction)")
            XCTAssertEqual(absent.count, Int((Double(world.episodes.count) * world.config.absentModalityFraction).rounded()))
        }
        let dir = try TemporaryDirectory(prefix: "simworld-absent")
        defer { dir.remove() }
        let world = try WorldGenerator(smallConfig("plant")).generate(to: dir.url).world
        let episode = try XCTUnwrap(world.episodes.first { $0.absentModality != nil })
        let modality = try XCTUnwrap(episode.absentModality)
        let name = world.mediaName(modality, row: episode.firstObservation)
        XCTAssertFalse(FileManager.default.fileExists(atPath: WorldNetLayout.embeddingURL(root: dir.url, modality: modality, name: name).path))
        let split = episode.split
        let samples = try WorldNetAnnotations.load(dir.url.appendingPathComponent(WorldWriter.annotationPath(split)))
        let mine = samples.filter { $0.episode == episode.id }
        XCTAssertEqual(mine.count, world.config.steps)
        for sample in mine {
            XCTAssertNil(sample.state0[modality])
            XCTAssertNil(sample.state1[modality])
            XCTAssertEqual(sample.state0.count, world.config.modalities.count - 1)
        }
        let loaded = try WorldNetDataset.load(try DatasetConfig.load(dir.url.appendingPathComponent("\(split.rawValue).yaml")))
        XCTAssertTrue(loaded.filter { $0.provenance.episode == episode.id }.allSatisfy { $0.state0[modality] == nil })
    }

    func testOraclesAreOrderedAndAgreeWithANaiveRecomputationOnEveryFamily() throws {
        for family in Self.zoo {
            let world = try Self.tinyWorld(family)
            let o = world.oracles.mean
            XCTAssertGreaterThan(o.trueDynamics, o.noScenario + 1, "\(family): knowing the scenario is worth something")
            XCTAssertGreaterThan(o.trueDynamics, o.noHistory + 1, "\(family): knowing the history is worth something")
            XCTAssertGreaterThan(o.noScenario, o.stateActionOnly, family)
            XCTAssertGreaterThan(o.noHistory, o.stateActionOnly, family)
            XCTAssertGreaterThan(o.stateActionOnly, o.identity + 1, "\(family): the action is worth something")
            XCTAssertTrue((65...92).contains(o.identity), "\(family): identity \(o.identity)")
            // (a) and (d) for image, recomputed from the latent states through the map, over recorded targets.
            let naive = WorldChecks.naiveTrueAndIdentity(world)
            let figures = world.oracles.figures(.image)!
            XCTAssertEqual(naive.trueDynamics, figures.trueDynamics, accuracy: 0.01, family)
            XCTAssertEqual(naive.identity, figures.identity, accuracy: 0.01, family)
        }
    }

    func testDeeperMapsStayUnitAndAgreeWithANaiveTwin() {
        var config = WorldConfig()
        config.dimension = 24
        config.hidden = 12
        config.mapDepth = 3
        let map = ObservationMap(modality: .text, config: config, observedSize: 4)
        XCTAssertEqual(map.deepLayers.count, 2)
        let x = (0..<map.inputSize).map { Float($0 % 5) * 0.1 - 0.2 }
        let clean = map.cleanEmbeddings(features: x, count: 1)
        func layer(_ input: [Double], _ weights: [Float], _ bias: [Float]) -> [Double] {
            (0..<bias.count).map { j in tanh(Double(bias[j]) + (0..<input.count).reduce(0) { $0 + Double(weights[j * input.count + $1]) * input[$1] }) }
        }
        var h = layer(x.map(Double.init), map.u, map.b)
        for deep in map.deepLayers { h = layer(h, deep.weights, deep.bias) }
        var out = (0..<map.outputSize).map { i in (0..<h.count).reduce(0) { $0 + Double(map.w[i * h.count + $1]) * h[$1] } }
        let norm = out.reduce(0) { $0 + $1 * $1 }.squareRoot()
        out = out.map { $0 / norm }
        for i in 0..<map.outputSize { XCTAssertEqual(Double(clean[i]), out[i], accuracy: 1e-5) }
    }

    func testWorldNetOutputLoadsWithoutWorldJSONAndHidesGeneratorFacts() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-no-json")
        defer { dir.remove() }
        for family in Self.zoo {
            let root = dir.url.appendingPathComponent(family)
            let world = try WorldGenerator(smallConfig(family)).generate(to: root).world
            try FileManager.default.removeItem(at: root.appendingPathComponent("world.json"))
            for split in Split.allCases {
                try WorldChecks.assertSplitReadsBack(world, root: root, split: split)
                // Entries carry only what a WorldNet user has: states, action text, scenario, episode, step.
                let entries = try XCTUnwrap(try JSONSerialization.jsonObject(
                    with: Data(contentsOf: root.appendingPathComponent(WorldWriter.annotationPath(split)))) as? [[String: Any]])
                for entry in entries {
                    XCTAssertEqual(Set(entry.keys), ["state0", "state1", "action", "scenario", "episode", "step"])
                    XCTAssertEqual(Set((entry["action"] as? [String: Any] ?? [:]).keys), ["text"])
                }
            }
            let files = try fileSnapshot(root)
            XCTAssertNil(files.keys.first { !$0.hasSuffix(".pt") && !$0.hasSuffix(".json") && !$0.hasSuffix(".yaml") }, family)
        }
    }

    func testWorldJSONKeepsTheGeneratorOnlyFacts() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-zoo-json")
        defer { dir.remove() }
        let world = try WorldGenerator(smallConfig("ecosystem")).generate(to: dir.url).world
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("world.json"))) as? [String: Any])
        let facts = try XCTUnwrap(json["generatorOnly"] as? [String: Any])
        XCTAssertEqual(facts["family"] as? String, "ecosystem")
        let ids = try XCTUnwrap(facts["actionIDs"] as? [String: [Int]])
        XCTAssertEqual(ids["test"], world.transitions(in: .test).map(\.action))
        XCTAssertEqual((facts["kbNoise"] as? [Any])?.count, world.transitions(in: .kb).filter { $0.noise != nil }.count)
        XCTAssertEqual((facts["knowledgeOnlyScenarios"] as? [String])?.count, 1)
        XCTAssertEqual((json["scenarios"] as? [[String: Any]])?.first?["name"] as? String, "s00")
        XCTAssertNotNil((json["scenarios"] as? [[String: Any]])?.first?["interactions"])
        XCTAssertEqual((json["config"] as? [String: Any])?["family"] as? String, "ecosystem")
    }

    func testBadFamilyConfigsThrowActionableErrors() {
        XCTAssertThrowsError(try WorldConfig.parse("family: forest", file: "w.yaml")) { error in
            let text = String(describing: error)
            XCTAssertTrue(text.contains("w.yaml:1") && text.contains("forest") && text.contains("spring, plant, ecosystem"), text)
        }
        var config = WorldConfig()
        config.family = "market"
        XCTAssertThrowsError(try WorldGenerator(config).generate()) { error in
            XCTAssertEqual(error as? SimWorldError, WorldFamilies.unknown("market"))
        }
        config.family = "plant"
        config.units = 9
        XCTAssertThrowsError(try WorldGenerator(config).generate()) { error in
            XCTAssertTrue(String(describing: error).contains("2...4 tanks"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("family: ecosystem\nunits: 2")) { error in
            XCTAssertTrue(String(describing: error).contains("3...4 species"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("units: 4")) { error in
            XCTAssertTrue(String(describing: error).contains("spring family has 3...3 objects"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("heldout_templates: 2")) { error in
            XCTAssertTrue(String(describing: error).contains("plant or ecosystem"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("family: plant\nmedia: true")) { error in
            XCTAssertTrue(String(describing: error).contains("media"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("kb_noise: 0.7"))
        XCTAssertThrowsError(try WorldConfig.parse("scenarios: 4\nkb_only_scenarios: 4"))
        XCTAssertThrowsError(try WorldConfig.parse("family: ecosystem\nmodalities: [text]\nabsent_modality_fraction: 0.1"))
    }

    func testExampleFamilyConfigsLoadAndVaryTheWorld() throws {
        var sizes: [String: Set<Int>] = [:]
        for family in Self.zoo {
            let config = try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-\(family).yaml"))
            XCTAssertEqual(config.family, family)
            XCTAssertEqual(config.scenarios, 16)
            XCTAssertEqual(config.episodes, 200)
            for seed in UInt64(1)...6 {
                var c = config
                c.seed = seed
                sizes[family, default: []].insert(try WorldFamilies.make(config: c).observedSize)
            }
        }
        XCTAssertEqual(sizes["plant"], [4, 6], "2 or 3 tanks by seed")
        XCTAssertEqual(sizes["ecosystem"], [3, 4], "3 or 4 species by seed")
    }
}
