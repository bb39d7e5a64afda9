// The `ecosystem` family: coupled populations (log-abundances) with saturating growth, a hidden food resource,
// releases and culls that arrive over several steps, and discrete crash and emigration events.
import Foundation

/// A food web of `N` species (3–4 by default) feeding on a hidden resource (grass).
///
/// Observed: the log-abundance `x_i` of every species. Hidden: the resource `R` and the arrival momentum
/// `m_i` of released or culled animals still on their way. Actions release or cull one named species, or
/// fertilise or mow the meadow (`2(N + 1)` meanings). Per scenario the couplings of the web are scaled,
/// a named species may be another one (rewiring), a cull may backfire (sign flip), gains and the momentum's
/// retention differ, and the abundance at which a herbivore crashes (disease) is the scenario's.
public struct EcosystemFamily: PhrasedFamily {
    /// One scenario's hidden parameters (generator-only, listed in `world.json`).
    public struct EcosystemScenario: Equatable, Sendable, Encodable {
        /// `s03`.
        public let name: String
        /// `targets[i]`: the species that actions naming species `i` affect.
        public let targets: [Int]
        /// `signs[i]`: +1, or −1 when releases and culls of species `i` act reversed (the resource is index N).
        public let signs: [Double]
        /// Gain of every action.
        public let gain: Double
        /// Share of the arrival momentum kept per step.
        public let retention: Double
        /// Multiplier of the inter-species couplings.
        public let coupling: Double
        /// The couplings `A[i][j]` (effect of species j on species i's growth), row-major.
        public let interactions: [Double]
        /// Log-abundance above which a herbivore population crashes.
        public let crashThreshold: Double
        /// A one-line description.
        public let summary: String
    }

    /// Species count.
    public let species: Int
    /// The scenarios.
    public let scenarios: [EcosystemScenario]
    /// Per species: growth with no neighbours at R = 1 (chosen so the unscaled web rests at x = 0, R = 1).
    let baseline: [Double]
    /// Per species: how much the resource feeds it (herbivores only).
    let feeding: [Double]

    /// Names and synonyms of the species, in web order: rabbits, foxes, deer, wolves.
    static let names = [["rabbits", "rabbit colony", "bunnies"], ["foxes", "fox family", "red foxes"],
                        ["deer", "deer herd", "roe deer"], ["wolves", "wolf pack", "grey wolves"]]
    /// Which species are herbivores (eat the resource, can crash).
    static let herbivores: Set<Int> = [0, 2]
    /// The unscaled web: `A[i][j]` for the four species (diagonal: self-limitation, saturation).
    static let web: [[Double]] = [
        [-0.5, -0.6, -0.1, 0.0],
        [0.5, -0.3, 0.2, -0.3],
        [-0.1, -0.2, -0.5, -0.6],
        [0.0, 0.2, 0.5, -0.3],
    ]
    /// Growth per step is `rate · tanh(growth)`; arrivals per unit command; resource regrowth and grazing;
    /// crash drop; emigration below the resource floor.
    static let rate = 0.4, command = 0.6, regrowth = 0.25, grazing = 0.12, crashDrop = 0.9
    static let resourceFloor = 0.45, emigration = 0.3, observationScale = 1.1

    /// The ecosystem of `config` (species count from `config.units`, or by seed when 0: 3 for odd seeds, 4 for even).
    /// - Throws: `SimWorldError.invalidConfig` when `units` is outside 3...4.
    public init(config: WorldConfig) throws {
        try WorldFamilies.checkUnits(config)
        // Odd seeds get three species, even seeds four, so neighbouring seeds differ in size.
        let n = config.units == 0 ? 3 + Int((config.seed + 1) % 2) : config.units
        var rng = SimRandom(seed: config.seed, purpose: Purpose.family, 2)
        species = n
        (feeding, baseline) = EcosystemFamily.feedingAndBaseline(species: n)
        let count = config.scenarios
        let gains = WorldFamilies.strata(count, rng: &rng), retentions = WorldFamilies.strata(count, rng: &rng)
        let couplings = WorldFamilies.strata(count, rng: &rng), thresholds = WorldFamilies.strata(count, rng: &rng)
        let rewired = WorldFamilies.marked(count, share: config.swapProbability, rng: &rng)
        let flipped = WorldFamilies.marked(count, share: config.signFlipProbability, rng: &rng)
        scenarios = (0..<count).map { s in
            var targets = Array(0..<n)
            if rewired[s] {
                let pair = WorldFamilies.shuffled(n, rng: &rng).prefix(2)
                targets.swapAt(pair[pair.startIndex], pair[pair.startIndex + 1])
            }
            var signs = [Double](repeating: 1, count: n + 1)
            if flipped[s] { for i in WorldFamilies.shuffled(n + 1, rng: &rng).prefix(1 + rng.index(2)) { signs[i] = -1 } }
            let gain = config.gainMin + (config.gainMax - config.gainMin) * gains[s]
            let retention = config.retentionMin + (config.retentionMax - config.retentionMin) * retentions[s]
            let coupling = 0.5 + couplings[s]
            var interactions = [Double](repeating: 0, count: n * n)
            for i in 0..<n {
                for j in 0..<n {
                    // Each off-diagonal coupling also gets its own ±30% jitter.
                    let w = EcosystemFamily.web[i][j]
                    interactions[i * n + j] = Oracles.round6(i == j ? w : w * coupling * rng.uniform(0.7, 1.3))
                }
            }
            let threshold = 0.6 + 0.8 * thresholds[s]
            var summary = String(format: "retention %.2f, gain %.2f, coupling %.2f, crash above %.2f", retention, gain, coupling, threshold)
            let moved = (0..<n).filter { targets[$0] != $0 }.map { "\(EcosystemFamily.names[$0][0])→\(EcosystemFamily.names[targets[$0]][0])" }
            if !moved.isEmpty { summary += ", actions affect: " + moved.joined(separator: " ") }
            let reversed = (0...n).filter { signs[$0] < 0 }.map { $0 == n ? "meadow" : EcosystemFamily.names[$0][0] }
            if !reversed.isEmpty { summary += ", reversed: " + reversed.joined(separator: " ") }
            return EcosystemScenario(
                name: WorldFamilies.scenarioName(s), targets: targets, signs: signs, gain: Oracles.round6(gain),
                retention: Oracles.round6(retention), coupling: Oracles.round6(coupling), interactions: interactions,
                crashThreshold: Oracles.round6(threshold), summary: summary)
        }
    }

    /// An ecosystem with explicit scenarios (tests, hand-built worlds).
    init(species: Int, scenarios: [EcosystemScenario]) {
        self.species = species
        self.scenarios = scenarios
        (feeding, baseline) = EcosystemFamily.feedingAndBaseline(species: species)
    }

    /// Per species: how much the resource feeds it (rabbits 0.8, deer 0.6), and the baseline growth that puts
    /// the unscaled web at rest at x = 0, R = 1.
    static func feedingAndBaseline(species n: Int) -> (feeding: [Double], baseline: [Double]) {
        let feeding = (0..<n).map { i in i == 0 ? 0.8 : (i == 2 ? 0.6 : 0) }
        let baseline = (0..<n).map { i in -((0..<n).reduce(0) { $0 + EcosystemFamily.web[i][$1] } + feeding[i]) }
        return (feeding, baseline)
    }

    public var name: String { "ecosystem" }
    public var observedSize: Int { species }
    public var hiddenSize: Int { species + 1 }
    public var scenarioCount: Int { scenarios.count }
    public var actionCount: Int { 2 * (species + 1) }

    /// Log-abundances `N(0, 0.7²)`, resource uniform in [0.4, 1.6], arrivals `N(0, 0.2²)` under way.
    public func initialState(rng: inout SimRandom) -> LatentState {
        let observed = (0..<species).map { _ in rng.gaussian() * 0.7 * EcosystemFamily.observationScale }
        var hidden = [rng.uniform(0.4, 1.6)]
        for _ in 0..<species { hidden.append(rng.gaussian() * 0.2) }
        return LatentState(positions: observed, velocities: hidden)
    }

    /// `m' = ρ·m + u`, `R' = clip(R + 0.25·(1 − R) − 0.12·R·Σ_herb (n − 1) + u_R, 0.05, 2.5)`,
    /// `x' = clip(x + 0.4·tanh(b + Σ_j A_ij·n_j + f_i·R) + m' − events, −3, 3)` with `n = eˣ`; events: a
    /// herbivore above the crash threshold loses 0.9, and every herbivore loses 0.3 when `R' < 0.45`.
    public func step(observed: [Double], hidden: [Double], action: Int, scenario: Int,
                     outObserved: inout [Double], outHidden: inout [Double]) {
        let s = scenarios[scenario]
        let n = species
        let named = action / 2
        let direction: Double = action % 2 == 0 ? 1 : -1
        let x = observed.map { $0 / EcosystemFamily.observationScale }
        let abundance = x.map { exp($0) }
        let resource = hidden[0]
        var grazed = 0.0
        for i in 0..<n where EcosystemFamily.herbivores.contains(i) { grazed += abundance[i] - 1 }
        var nextResource = resource + EcosystemFamily.regrowth * (1 - resource) - EcosystemFamily.grazing * resource * grazed
        if named == n { nextResource += direction * s.signs[n] * s.gain * EcosystemFamily.command }
        nextResource = min(max(nextResource, 0.05), 2.5)
        outHidden[0] = nextResource
        for i in 0..<n {
            var momentum = s.retention * hidden[1 + i]
            if named < n && s.targets[named] == i { momentum += direction * s.signs[named] * s.gain * EcosystemFamily.command }
            outHidden[1 + i] = momentum
            var growth = baseline[i] + feeding[i] * resource
            for j in 0..<n { growth += s.interactions[i * n + j] * abundance[j] }
            var next = x[i] + EcosystemFamily.rate * tanh(growth) + momentum
            if EcosystemFamily.herbivores.contains(i) {
                if x[i] > s.crashThreshold { next -= EcosystemFamily.crashDrop }
                if nextResource < EcosystemFamily.resourceFloor { next -= EcosystemFamily.emigration }
            }
            outObserved[i] = min(max(next, -3), 3) * EcosystemFamily.observationScale
        }
    }

    /// The verbs and objects of `action`.
    public func wording(action: Int) -> ActionWording {
        let up = action % 2 == 0
        if action / 2 == species {
            return ActionWording(verbs: up ? ["fertilize", "water", "irrigate", "reseed"] : ["mow", "cut back", "burn off", "graze down"],
                                 objects: ["meadow", "grassland", "pasture", "grass"])
        }
        return ActionWording(verbs: up ? ["release", "introduce", "bring in", "reintroduce"] : ["cull", "hunt", "thin out", "trap"],
                             objects: EcosystemFamily.names[action / 2])
    }

    public func scenarioDocuments() -> [any Encodable & Sendable] { scenarios }
}
