// Tests of the long-horizon option: one hidden switch per episode (rewire or reverse), deterministic per seed,
// changing only the dynamics from its step on, invisible in the WorldNet files, and measured by the (f) oracle.
import Formats
import TestSupport
import XCTest

@testable import SimWorld

final class LongHorizonTests: XCTestCase {
    /// A small long-horizon world of `family` (40 steps, the switch in steps 2…9).
    func longConfig(_ family: String, kind: SwitchKind = .rewire, seed: UInt64 = 5) -> WorldConfig {
        var config = WorldConfig()
        config.family = family
        config.scenarios = 3
        config.episodes = 10
        config.steps = 40
        config.seed = seed
        config.dimension = 32
        config.hidden = 16
        config.oracleSamples = 2
        config.switchKind = kind
        config.switchFirst = 1
        config.switchLast = 8
        return config
    }

    func testSwitchedWorldsWriteIdenticalBytesForOneSeedAndOtherBytesForAnother() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-long-bytes")
        defer { dir.remove() }
        for family in WorldFamilies.names {
            let a = dir.url.appendingPathComponent("\(family)-a"), b = dir.url.appendingPathComponent("\(family)-b")
            let c = dir.url.appendingPathComponent("\(family)-c")
            try WorldGenerator(longConfig(family)).generate(to: a)
            try WorldGenerator(longConfig(family)).generate(to: b)
            try WorldGenerator(longConfig(family, seed: 6)).generate(to: c)
            let sa = try fileSnapshot(a), sb = try fileSnapshot(b), sc = try fileSnapshot(c)
            XCTAssertEqual(sa, sb, "\(family): same seed, same bytes")
            XCTAssertNotEqual(sa["/world.json"], sc["/world.json"], family)
            XCTAssertTrue(Set(sa.keys).intersection(sc.keys).contains { $0.hasSuffix(".pt") && sa[$0] != sc[$0] }, family)
        }
    }

    func testTheSwitchChangesOnlyTheDynamicsFromItsStepOn() throws {
        for family in WorldFamilies.names {
            var plain = longConfig(family)
            plain.switchKind = .none
            let without = try WorldGenerator(plain).generate(), with = try WorldGenerator(longConfig(family)).generate()
            let dynamics = with.family
            XCTAssertEqual(without.episodes.count, with.episodes.count)
            var changedSteps = 0
            for (e0, e1) in zip(without.episodes, with.episodes) {
                // The data a user has — action sentences, start state, static attributes — are drawn as before.
                XCTAssertEqual(e0.sentences, e1.sentences, family)
                XCTAssertEqual(e0.actions, e1.actions, family)
                XCTAssertEqual(e0.staticAttributes, e1.staticAttributes, family)
                XCTAssertNil(e0.switchEvent)
                let event = try XCTUnwrap(e1.switchEvent)
                XCTAssertTrue((1...8).contains(event.step), "\(family): switch at \(event.step)")
                XCTAssertEqual(Array(e0.states.prefix(event.step + 1)), Array(e1.states.prefix(event.step + 1)), "\(family): before the switch")
                // From the switch on, each step is the family's step under the executed action, recomputed here from
                // the control map: control c works controls[c], in the same way.
                for t in 0..<e1.actions.count {
                    let named = e1.actions[t], perControl = dynamics.actionsPerControl
                    let expected = t < event.step ? named : event.controls[named / perControl] * perControl + named % perControl
                    XCTAssertEqual(event.executed(named, at: t), expected)
                    XCTAssertEqual(e1.states[t + 1], dynamics.step(e1.states[t], action: expected, scenario: e1.scenario), "\(family) step \(t)")
                    if expected != named { changedSteps += 1 }
                }
            }
            XCTAssertGreaterThan(changedSteps, 0, family)
            XCTAssertEqual(with.transitions.map(\.executedAction),
                           with.transitions.map { with.episodes[$0.episode].switchEvent!.executed($0.action, at: $0.step) })
        }
    }

    func testRewireIsOneCycleAndReverseSwapsOppositeActions() throws {
        // Plant with 3 tanks: 8 controls, 2 actions each. All controls rewired: one cycle through all 8.
        var config = longConfig("plant")
        config.units = 3
        let family = try WorldFamilies.make(config: config)
        XCTAssertEqual(family.controlCount, 8)
        for e in 0..<5 {
            let event = try XCTUnwrap(EpisodeSwitch.draw(config: config, family: family, scenario: 0, episode: e))
            XCTAssertEqual(Set(event.controls), Set(0..<8))
            var c = 0, seen: Set<Int> = []
            repeat { seen.insert(c); c = event.controls[c] } while c != 0
            XCTAssertEqual(seen.count, 8, "one cycle through every control")
            XCTAssertFalse(event.reversed.contains(true))
        }
        // Two controls rewired: exactly two swap, the rest stay.
        config.switchControls = 2
        let two = try XCTUnwrap(EpisodeSwitch.draw(config: config, family: family, scenario: 1, episode: 3))
        let moved = (0..<8).filter { two.controls[$0] != $0 }
        XCTAssertEqual(moved.count, 2)
        XCTAssertEqual(two.controls[moved[0]], moved[1])
        XCTAssertEqual(two.controls[moved[1]], moved[0])
        // Spring, reverse one control: that object's left/right and up/down swap (ids object·4 + left, right, up, down).
        var spring = longConfig("spring", kind: .reverse)
        spring.switchControls = 1
        let springFamily = try WorldFamilies.make(config: spring)
        let flip = try XCTUnwrap(EpisodeSwitch.draw(config: spring, family: springFamily, scenario: 0, episode: 0))
        let object = try XCTUnwrap(flip.reversed.firstIndex(of: true))
        XCTAssertEqual(flip.reversed.filter { $0 }.count, 1)
        let t = flip.step
        XCTAssertEqual((0..<4).map { flip.executed(object * 4 + $0, at: t) }, [1, 0, 3, 2].map { object * 4 + $0 })
        XCTAssertEqual((0..<4).map { flip.executed(object * 4 + $0, at: t - 1) }, (0..<4).map { object * 4 + $0 }, "not before the switch")
        let other = (object + 1) % 3
        XCTAssertEqual(flip.executed(other * 4 + 2, at: t), other * 4 + 2)
        // No switch: nothing is drawn.
        XCTAssertNil(EpisodeSwitch.draw(config: WorldConfig(), family: springFamily, scenario: 0, episode: 0))
    }

    func testTheSwitchIsInTheWorldJSONOnly() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-long-json")
        defer { dir.remove() }
        let world = try WorldGenerator(longConfig("plant")).generate(to: dir.url).world
        for split in Split.allCases {
            let entries = try XCTUnwrap(try JSONSerialization.jsonObject(
                with: Data(contentsOf: dir.url.appendingPathComponent(WorldWriter.annotationPath(split)))) as? [[String: Any]])
            for entry in entries { XCTAssertEqual(Set(entry.keys), ["state0", "state1", "action", "scenario", "episode", "step"]) }
            try WorldChecks.assertSplitReadsBack(world, root: dir.url, split: split)
            // Sequences are whole 40-step episodes.
            if split == .sequences {
                XCTAssertEqual(Set(entries.map { $0["step"] as? Int ?? -1 }), Set(0..<40))
            }
        }
        for (name, data) in try fileSnapshot(dir.url) where !name.hasSuffix(".pt") && name != "/world.json" {
            XCTAssertFalse(String(decoding: data, as: UTF8.self).contains("switch"), "\(name) mentions the switch")
        }
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("world.json"))) as? [String: Any])
        let facts = try XCTUnwrap(json["generatorOnly"] as? [String: Any])
        let switches = try XCTUnwrap(facts["switches"] as? [String: [String: Any]])
        XCTAssertEqual(switches.count, world.episodes.count)
        let first = world.episodes[0]
        XCTAssertEqual(switches[first.id]?["step"] as? Int, first.switchEvent?.step)
        XCTAssertEqual(switches[first.id]?["controls"] as? [Int], first.switchEvent?.controls)
        XCTAssertEqual((json["config"] as? [String: Any])?["switch"] as? String, "rewire")
        XCTAssertNotNil(facts["switchStatistics"])
        let late = try XCTUnwrap((json["oracles"] as? [String: Any])?["late"] as? [String: Any])
        XCTAssertEqual(late["fromStep"] as? Int, 10)
    }

    func testSwitchStatisticsAgreeWithARecountOverTheSequences() throws {
        let world = try WorldGenerator(longConfig("plant")).generate()
        let stats = try XCTUnwrap(SwitchStatistics(world))
        // The recount walks the sequences split's transitions (not the episodes' action lists).
        var steps = 0, changed = 0, within3 = 0, within16 = 0, earlier = 0
        let byEpisode = Dictionary(grouping: world.transitions(in: .sequences), by: \.episode)
        for (_, transitions) in byEpisode {
            let ordered = transitions.sorted { $0.step < $1.step }
            let event = try XCTUnwrap(world.episodes[ordered[0].episode].switchEvent)
            for t in ordered where t.step >= 9 {
                steps += 1
                guard t.executedAction != t.action else { continue }
                changed += 1
                let previous = ordered.filter { $0.step >= event.step && $0.step < t.step && $0.action / 2 == t.action / 2 }.map(\.step)
                guard let last = previous.max() else { continue }
                earlier += 1
                if t.step - last <= 3 { within3 += 1 }
                if t.step - last <= 16 { within16 += 1 }
            }
        }
        XCTAssertEqual(stats.fromStep, 10)
        XCTAssertEqual(stats.steps, steps)
        XCTAssertEqual(stats.changed, Double(changed) / Double(steps), accuracy: 1e-6)
        XCTAssertEqual(stats.changed, 1, accuracy: 1e-9, "every control is rewired, so every late action changes")
        XCTAssertEqual(stats.seenWithin3, Double(within3) / Double(changed), accuracy: 1e-6)
        XCTAssertEqual(stats.seenWithin16, Double(within16) / Double(changed), accuracy: 1e-6)
        XCTAssertEqual(stats.seenEarlier, Double(earlier) / Double(changed), accuracy: 1e-6)
        XCTAssertLessThan(stats.seenWithin3, stats.seenWithin16)
        XCTAssertLessThan(stats.seenWithin16, stats.seenEarlier + 1e-9)
    }

    func testUnswitchedOracleAgreesWithANaiveRecomputation() throws {
        // One modality, so the mean is the image figure; (f) recomputed from the latent states through the map.
        var config = longConfig("plant")
        config.modalities = [.image]
        let world = try WorldGenerator(config).generate()
        let map = world.maps[0], d = config.dimension
        let observed = world.observations[.image]!
        var sumA = 0.0, sumF = 0.0, lateA = 0.0, lateF = 0.0, n = 0, late = 0
        for t in world.transitions(in: .test) {
            let episode = world.episodes[t.episode]
            func clean(_ positions: [Double]) -> Embedding {
                var features = [Float](repeating: 0, count: map.inputSize)
                map.features(positions: positions, staticAttributes: episode.staticAttributes, into: &features, offset: 0)
                return Embedding(map.cleanEmbeddings(features: features, count: 1))
            }
            let target = Embedding(Array(observed[(t.observation1 * d)..<((t.observation1 + 1) * d)]))
            let a = clean(episode.states[t.step + 1].positions).cosine(target)
            let f = clean(world.family.step(episode.states[t.step], action: t.action, scenario: t.scenario).positions).cosine(target)
            if t.action == t.executedAction { XCTAssertEqual(a, f, accuracy: 1e-9, "an unchanged action: (f) is (a)") }
            sumA += a; sumF += f; n += 1
            if t.step >= 9 { lateA += a; lateF += f; late += 1 }
        }
        let figures = world.oracles.mean
        XCTAssertEqual(figures.trueDynamics, 100 * sumA / Double(n), accuracy: 0.011)
        XCTAssertEqual(try XCTUnwrap(figures.unswitched), 100 * sumF / Double(n), accuracy: 0.011)
        let lateFigures = try XCTUnwrap(world.oracles.late)
        XCTAssertEqual(lateFigures.transitions, late)
        XCTAssertEqual(lateFigures.trueDynamics, 100 * lateA / Double(late), accuracy: 0.011)
        XCTAssertEqual(lateFigures.unswitched, 100 * lateF / Double(late), accuracy: 0.011)
        XCTAssertGreaterThan(lateFigures.trueDynamics - lateFigures.unswitched, 1, "knowing the switch is worth something")
        // Worlds without a switch have neither figure.
        XCTAssertNil(try FamilyTests.tinyWorld("plant").oracles.mean.unswitched)
        XCTAssertNil(try FamilyTests.tinyWorld("plant").oracles.late)
    }

    func testBadSwitchConfigsThrowActionableErrors() {
        XCTAssertThrowsError(try WorldConfig.parse("switch: rewire\nsteps: 7", file: "w.yaml")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("switch_last 15 needs steps ≥ 16 (got steps 7)") && text.contains("steps: 64"), text)
        }
        XCTAssertThrowsError(try WorldConfig.parse("switch: sideways", file: "w.yaml")) { error in
            XCTAssertTrue("\(error)".contains("none, rewire, reverse"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("steps: 64\nswitch: rewire\nswitch_controls: 1", file: "w.yaml")) { error in
            XCTAssertTrue("\(error)".contains("switch: reverse"), "\(error)")
        }
        XCTAssertThrowsError(try WorldConfig.parse("steps: 64\nswitch: reverse\nswitch_first: 9\nswitch_last: 4", file: "w.yaml")) { error in
            XCTAssertTrue("\(error)".contains("switch_first"), "\(error)")
        }
        // A config without the keys, and the long example, load.
        XCTAssertEqual(try WorldConfig.parse("steps: 7").switchKind, SwitchKind.none)
        XCTAssertNoThrow(try WorldConfig.load(Fixtures.projectRoot.appendingPathComponent("examples/simworld-plant-long.yaml")))
    }
}
