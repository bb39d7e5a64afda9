// World families: the latent dynamics a world is made of, behind one small protocol the shared pipeline drives.
// Scenario sampling, episode recording, splits, knowledge-base building, observation maps, oracles and the
// writer are the same for every family; a family only says what its latent state is and how actions move it.
import Foundation

/// The latent dynamics of one kind of world: what an observation shows, what stays hidden, and what each
/// action does in each scenario.
///
/// A `LatentState`'s `positions` hold the observed values (`observedSize` of them) and its `velocities` the
/// hidden ones (`hiddenSize`); only the observed values ever reach an observation map. Everything a family
/// holds — scenario parameters, wiring, action ids — is generator-only and is written to `world.json` alone.
public protocol WorldFamily: Sendable {
    /// The name `--family` selects (`spring`, `plant`, `ecosystem`).
    var name: String { get }
    /// Number of observed latent values (the map's input, before the static attributes).
    var observedSize: Int { get }
    /// Number of hidden latent values (velocities, actuator activity, resources, ...).
    var hiddenSize: Int { get }
    /// Number of scenarios.
    var scenarioCount: Int { get }
    /// Number of action meanings; actions are ids `0..<actionCount`.
    var actionCount: Int { get }
    /// Number of phrasing templates; held-out templates are chosen among `0..<templateCount`.
    var templateCount: Int { get }

    /// A start state (observed and hidden) drawn from `rng`; episodes start away from equilibrium.
    func initialState(rng: inout SimRandom) -> LatentState
    /// One step of scenario `scenario` under action `action`: writes the next observed and hidden values.
    func step(observed: [Double], hidden: [Double], action: Int, scenario: Int,
              outObserved: inout [Double], outHidden: inout [Double])
    /// A sentence for `action`, phrased with one of `templates` (choices drawn from `rng`).
    func sentence(action: Int, templates: [Int], rng: inout SimRandom) -> String
    /// The canonical sentence of `action` (listed in `world.json`).
    func canonicalSentence(action: Int) -> String
    /// A few paraphrases of action 0, for `world.json`.
    func exampleSentences() -> [String]
    /// Paraphrases per meaning (all templates and fillers), for `world.json`.
    var paraphrasesPerMeaning: Int { get }
    /// The generator-only facts of every scenario (hidden parameters, wiring), for `world.json`.
    func scenarioDocuments() -> [any Encodable & Sendable]
    /// Actions per named control: action `a` works control `a / actionsPerControl` in way `a % actionsPerControl`,
    /// and ways `2i` and `2i + 1` are opposites (more/less, release/cull; spring: left/right, up/down). 2 unless a
    /// family says otherwise. The long-horizon switch rewires and reverses controls through this.
    var actionsPerControl: Int { get }
}

extension WorldFamily {
    /// Two actions per control (more/less) unless the family says otherwise.
    public var actionsPerControl: Int { 2 }

    /// Number of named controls (actuators, species and the meadow, objects).
    public var controlCount: Int { actionCount / actionsPerControl }

    /// The next latent state after `action` in `scenario`.
    public func step(_ state: LatentState, action: Int, scenario: Int) -> LatentState {
        var next = LatentState(positions: [Double](repeating: 0, count: observedSize),
                               velocities: [Double](repeating: 0, count: hiddenSize))
        step(observed: state.positions, hidden: state.velocities, action: action, scenario: scenario,
             outObserved: &next.positions, outHidden: &next.velocities)
        return next
    }
}

/// The registry of families, by name.
public enum WorldFamilies {
    /// Every family `--family` accepts, the default first.
    public static let names = ["spring", "plant", "ecosystem"]

    /// The family of `config.family`, with its scenarios drawn from `config.seed`.
    /// - Throws: `SimWorldError.invalidConfig` for an unknown family (listing the known ones) or a size
    ///   the family does not support.
    public static func make(config: WorldConfig) throws -> any WorldFamily {
        switch config.family {
        case "spring": return SpringFamily(config: config)
        case "plant": return try PlantFamily(config: config)
        case "ecosystem": return try EcosystemFamily(config: config)
        default: throw unknown(config.family)
        }
    }

    /// The sizes (`units`) each family accepts besides 0, with what they count.
    static let unitRanges: [String: (range: ClosedRange<Int>, noun: String, byDefault: String)] = [
        "spring": (3...3, "objects", "3"),
        "plant": (2...4, "tanks", "3 on odd seeds, 2 on even"),
        "ecosystem": (3...4, "species", "3 on odd seeds, 4 on even"),
    ]

    /// Throws `SimWorldError.invalidConfig` when `config.units` is neither 0 nor a size its family has.
    static func checkUnits(_ config: WorldConfig) throws {
        guard config.units != 0, let entry = unitRanges[config.family], !entry.range.contains(config.units) else { return }
        throw SimWorldError.invalidConfig(
            field: "units", reason: "the \(config.family) family has \(entry.range.lowerBound)...\(entry.range.upperBound) \(entry.noun) "
                + "(got \(config.units); 0 picks \(entry.byDefault))")
    }

    /// The error for an unknown family name.
    static func unknown(_ name: String) -> SimWorldError {
        .invalidConfig(field: "family", reason: "unknown family `\(name)` (known: \(names.joined(separator: ", ")))")
    }

    /// The scenario name used in annotations: `s03`.
    static func scenarioName(_ index: Int) -> String {
        "s" + String(repeating: "0", count: max(0, 2 - String(index).count)) + String(index)
    }

    /// A seeded Fisher–Yates shuffle of `0..<count` (the one shuffle every stratified draw uses).
    static func shuffled(_ count: Int, rng: inout SimRandom) -> [Int] {
        var order = Array(0..<count)
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.index(i + 1)) }
        return order
    }

    /// Latin-hypercube strata: `count` values in [0, 1), one per `1/count` bin, in random order.
    static func strata(_ count: Int, rng: inout SimRandom) -> [Double] {
        shuffled(count, rng: &rng).map { (Double($0) + rng.unit()) / Double(count) }
    }

    /// Exactly `round(count × share)` scenarios marked true, chosen at random.
    static func marked(_ count: Int, share: Double, rng: inout SimRandom) -> [Bool] {
        var marks = [Bool](repeating: false, count: count)
        let order = shuffled(count, rng: &rng)
        for i in 0..<Int((Double(count) * share).rounded()) { marks[order[i]] = true }
        return marks
    }
}

/// The original world: three objects on springs, pushed by actions (see `Scenario`).
public struct SpringFamily: WorldFamily {
    /// The scenarios.
    public let scenarios: [Scenario]
    /// Spring constant and action impulse.
    public let spring: Double, impulse: Double
    /// Spread of the initial positions.
    let initialSpread: Double

    /// The spring family of `config` (scenarios from `Scenario.makeAll`).
    public init(config: WorldConfig) {
        scenarios = Scenario.makeAll(config: config)
        spring = config.spring
        impulse = config.impulse
        initialSpread = config.initialSpread
    }

    public var name: String { "spring" }
    public var observedSize: Int { 2 * WorldObject.all.count }
    public var hiddenSize: Int { 2 * WorldObject.all.count }
    public var scenarioCount: Int { scenarios.count }
    public var actionCount: Int { ActionMeaning.count }
    public var templateCount: Int { 1 }
    public var paraphrasesPerMeaning: Int { ActionTemplates.variantCount }
    /// Four pushes (left, right, up, down) per object.
    public var actionsPerControl: Int { Direction.allCases.count }

    /// At rest at `p ~ N(0, initialSpread²)`; the warm-up steps set the objects in motion.
    public func initialState(rng: inout SimRandom) -> LatentState {
        LatentState(positions: (0..<observedSize).map { _ in rng.gaussian() * initialSpread },
                    velocities: [Double](repeating: 0, count: hiddenSize))
    }

    public func step(observed: [Double], hidden: [Double], action: Int, scenario: Int,
                     outObserved: inout [Double], outHidden: inout [Double]) {
        scenarios[scenario].step(positions: observed, velocities: hidden, action: ActionMeaning(id: action), spring: spring,
                                 impulse: impulse, outPositions: &outObserved, outVelocities: &outHidden)
    }

    /// One of the 72 paraphrases, uniformly (the spring world has no held-out templates).
    public func sentence(action: Int, templates: [Int], rng: inout SimRandom) -> String {
        ActionTemplates.sentence(for: ActionMeaning(id: action), variant: rng.index(ActionTemplates.variantCount))
    }

    public func canonicalSentence(action: Int) -> String { ActionMeaning(id: action).canonicalSentence }

    public func exampleSentences() -> [String] { Array(ActionTemplates.paraphrases(of: ActionMeaning(id: 0)).prefix(8)) }

    public func scenarioDocuments() -> [any Encodable & Sendable] {
        scenarios.map {
            SpringScenarioDocument(name: $0.name, retention: Oracles.round6($0.retention), gain: Oracles.round6($0.gain),
                                   rotation: Oracles.round6($0.rotation), permutation: $0.permutation, summary: $0.summary)
        }
    }
}

/// A spring scenario as `world.json` lists it.
struct SpringScenarioDocument: Encodable, Sendable {
    let name: String
    let retention: Double
    let gain: Double
    let rotation: Double
    let permutation: [Int]
    let summary: String
}
