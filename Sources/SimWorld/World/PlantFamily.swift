// The `plant` family: tanks with levels and temperatures, driven by valves, heaters and transfer pumps whose
// hidden activity persists and decays; scenarios rewire, reverse, delay and scale the actuators.
import Foundation

/// A process plant of `K` tanks (2–3 by default). Observed per tank: its level `h ∈ [0, 1]` and temperature
/// `θ`; hidden: the activity of every actuator and the commands still on their way (actuator delay).
///
/// Actuators: an inlet valve and a heater per tank, and a transfer pump between neighbouring tanks
/// (`J = 3K − 1`). Actions say "more" or "less" of one named actuator (`2J` meanings). Per scenario, a named
/// actuator may drive another physical actuator (rewiring, also across kinds), act reversed (sign flip), with
/// its own gain, with part of each command arriving a step late (delay); activity decays by the scenario's retention (inertia); heat
/// exchange between tanks and the outflow rate are scenario couplings. See docs/simworld.md for the equations.
public struct PlantFamily: PhrasedFamily {
    /// The kinds of actuator.
    public enum Kind: String, Sendable, Encodable { case inlet, heater, pump }

    /// One physical actuator: its kind and tank (a pump moves water from `tank` to `tank + 1`).
    public struct Actuator: Equatable, Sendable {
        public let kind: Kind
        public let tank: Int
        /// "heater 2", "pump 1→2".
        public var label: String { kind == .pump ? "pump \(tank + 1)→\(tank + 2)" : "\(kind.rawValue) \(tank + 1)" }
    }

    /// One scenario's hidden parameters (all generator-only, listed in `world.json`).
    public struct PlantScenario: Equatable, Sendable, Encodable {
        /// `s03`.
        public let name: String
        /// `wiring[j]`: the physical actuator that named actuator `j` drives.
        public let wiring: [Int]
        /// `signs[j]`: +1, or −1 when named actuator `j` acts reversed.
        public let signs: [Double]
        /// `gains[j]`: the command size of named actuator `j` (scenario gain × per-actuator factor).
        public let gains: [Double]
        /// Activity kept from one step to the next (inertia).
        public let retention: Double
        /// Share of each command that reaches its actuator one step late (0, or `delayedShare` when delayed).
        public let delay: Double
        /// Heat exchange between neighbouring tanks.
        public let exchange: Double
        /// Outflow coefficient pulling each level towards half full.
        public let outflow: Double
        /// A one-line description.
        public let summary: String
    }

    /// Tank count.
    public let tanks: Int
    /// Physical actuators: inlets `0..<K`, heaters `K..<2K`, pumps `2K..<3K−1`.
    public let actuators: [Actuator]
    /// The scenarios.
    public let scenarios: [PlantScenario]

    /// Command added to an actuator's activity per action, before the scenario's gain.
    static let command = 1.2
    /// In a delayed scenario, the share of every command that arrives one step late.
    static let delayedShare = 0.6
    /// Level change per unit of inlet activity, pump transfer per unit of pump activity, heating per unit of
    /// heater activity, heat loss towards ambient (θ = 0), and cooling by inflowing water.
    static let inflowRate = 0.3, pumpRate = 0.2, heatRate = 0.8, heatLoss = 0.3, inflowCooling = 0.6
    /// How levels and temperatures are scaled into the observed vector.
    static let levelScale = 1.6, temperatureScale = 0.8

    /// The plant of `config` (tank count from `config.units`, or by seed when 0: 3 for odd seeds, 2 for even).
    /// - Throws: `SimWorldError.invalidConfig` when `units` is outside 2...4.
    public init(config: WorldConfig) throws {
        try WorldFamilies.checkUnits(config)
        // Odd seeds get three tanks, even seeds two, so neighbouring seeds differ in size.
        tanks = config.units == 0 ? 2 + Int(config.seed % 2) : config.units
        var rng = SimRandom(seed: config.seed, purpose: Purpose.family, 1)
        actuators = PlantFamily.actuators(tanks: tanks)
        scenarios = PlantFamily.makeScenarios(config: config, actuators: actuators, rng: &rng)
    }

    /// A plant with explicit scenarios (tests, hand-built worlds).
    init(tanks: Int, scenarios: [PlantScenario]) {
        self.tanks = tanks
        actuators = PlantFamily.actuators(tanks: tanks)
        self.scenarios = scenarios
    }

    /// The physical actuators of `tanks` tanks: inlets, heaters, then pumps.
    static func actuators(tanks: Int) -> [Actuator] {
        var list: [Actuator] = []
        for kind in [Kind.inlet, .heater] { for k in 0..<tanks { list.append(Actuator(kind: kind, tank: k)) } }
        for k in 0..<(tanks - 1) { list.append(Actuator(kind: .pump, tank: k)) }
        return list
    }

    /// Stratified scenarios: Latin hypercube over gain, retention, exchange and outflow; exactly
    /// `round(S × swap_probability)` rewired, `round(S × sign_flip_probability)` reversed, half delayed.
    static func makeScenarios(config: WorldConfig, actuators: [Actuator], rng: inout SimRandom) -> [PlantScenario] {
        let count = config.scenarios, j = actuators.count
        let gains = WorldFamilies.strata(count, rng: &rng), retentions = WorldFamilies.strata(count, rng: &rng)
        let exchanges = WorldFamilies.strata(count, rng: &rng), outflows = WorldFamilies.strata(count, rng: &rng)
        let rewired = WorldFamilies.marked(count, share: config.swapProbability, rng: &rng)
        let flipped = WorldFamilies.marked(count, share: config.signFlipProbability, rng: &rng)
        let delayed = WorldFamilies.marked(count, share: 0.5, rng: &rng)
        return (0..<count).map { s in
            var wiring = Array(0..<j)
            if rewired[s] {
                // Two or three named actuators drive each other's physical actuator (any kinds).
                let chosen = Array(WorldFamilies.shuffled(j, rng: &rng).prefix(min(j, 2 + rng.index(2))))
                for (i, a) in chosen.enumerated() { wiring[a] = chosen[(i + 1) % chosen.count] }
            }
            var signs = [Double](repeating: 1, count: j)
            if flipped[s] { for a in WorldFamilies.shuffled(j, rng: &rng).prefix(1 + rng.index(2)) { signs[a] = -1 } }
            let gain = config.gainMin + (config.gainMax - config.gainMin) * gains[s]
            let perActuator = (0..<j).map { _ in Oracles.round6(gain * rng.uniform(0.8, 1.2)) }
            let retention = config.retentionMin + (config.retentionMax - config.retentionMin) * retentions[s]
            let exchange = 0.3 * exchanges[s], outflow = 0.05 + 0.15 * outflows[s]
            var summary = String(format: "retention %.2f, gain %.2f, delayed share %.1f, exchange %.2f, outflow %.2f",
                                 retention, gain, delayed[s] ? PlantFamily.delayedShare : 0, exchange, outflow)
            let moves = (0..<j).filter { wiring[$0] != $0 }.map { "\(actuators[$0].label)→\(actuators[wiring[$0]].label)" }
            if !moves.isEmpty { summary += ", wiring: " + moves.joined(separator: " ") }
            let reversed = (0..<j).filter { signs[$0] < 0 }.map { actuators[$0].label }
            if !reversed.isEmpty { summary += ", reversed: " + reversed.joined(separator: " ") }
            return PlantScenario(
                name: WorldFamilies.scenarioName(s), wiring: wiring, signs: signs, gains: perActuator,
                retention: Oracles.round6(retention), delay: delayed[s] ? PlantFamily.delayedShare : 0, exchange: Oracles.round6(exchange),
                outflow: Oracles.round6(outflow), summary: summary)
        }
    }

    public var name: String { "plant" }
    public var observedSize: Int { 2 * tanks }
    public var hiddenSize: Int { 2 * actuators.count }
    public var scenarioCount: Int { scenarios.count }
    public var actionCount: Int { 2 * actuators.count }

    /// Levels uniform in [0.1, 0.9], temperatures `N(0, 0.7²)`, actuators already running (`N(0, 0.6²)`
    /// activity): far from the resting state the plant relaxes to.
    public func initialState(rng: inout SimRandom) -> LatentState {
        var observed = [Double](repeating: 0, count: observedSize)
        for k in 0..<tanks {
            observed[2 * k] = (rng.uniform(0.1, 0.9) - 0.5) * PlantFamily.levelScale
            observed[2 * k + 1] = rng.gaussian() * 0.7 * PlantFamily.temperatureScale
        }
        var hidden = [Double](repeating: 0, count: hiddenSize)
        for a in 0..<actuators.count { hidden[a] = rng.gaussian() * 0.4 }
        return LatentState(positions: observed, velocities: hidden)
    }

    /// `a' = ρ·a + (1 − δ)·u + q`, `q' = δ·u` (u the command, δ the delayed share, q the late part of the
    /// last command), `e = tanh(a')` (saturation), then
    /// levels `h' = clip(h + 0.12·e_in − c·(√h − √½) ∓ pumps, 0, 1)` and temperatures
    /// `θ' = θ + 0.3·e_heat − 0.15·θ + κ·(θ̄_neighbours − θ) − 0.6·max(inflow, 0)·θ`.
    public func step(observed: [Double], hidden: [Double], action: Int, scenario: Int,
                     outObserved: inout [Double], outHidden: inout [Double]) {
        let s = scenarios[scenario]
        let j = actuators.count
        let named = action / 2
        let direction: Double = action % 2 == 0 ? 1 : -1
        var activity = [Double](repeating: 0, count: j)
        for a in 0..<j {
            let command = a == s.wiring[named] ? direction * s.signs[named] * s.gains[named] * PlantFamily.command : 0
            let input = (1 - s.delay) * command + hidden[j + a]
            outHidden[j + a] = s.delay * command
            activity[a] = s.retention * hidden[a] + input
            outHidden[a] = activity[a]
        }
        let effort = activity.map { tanh($0) }
        var levels = (0..<tanks).map { observed[2 * $0] / PlantFamily.levelScale + 0.5 }
        let temperatures = (0..<tanks).map { observed[2 * $0 + 1] / PlantFamily.temperatureScale }
        var inflow = [Double](repeating: 0, count: tanks)
        for k in 0..<tanks {
            inflow[k] = PlantFamily.inflowRate * effort[k]
            levels[k] += inflow[k] - s.outflow * (max(levels[k], 0).squareRoot() - 0.5.squareRoot())
        }
        for k in 0..<(tanks - 1) {
            let q = PlantFamily.pumpRate * effort[2 * tanks + k]
            let moved = q > 0 ? min(q, max(levels[k], 0)) : max(q, -max(levels[k + 1], 0))
            levels[k] -= moved
            levels[k + 1] += moved
        }
        for k in 0..<tanks {
            let h = min(max(levels[k], 0), 1)
            var neighbours = 0.0, n = 0.0
            if k > 0 { neighbours += temperatures[k - 1]; n += 1 }
            if k + 1 < tanks { neighbours += temperatures[k + 1]; n += 1 }
            let t = temperatures[k]
            var next = t + PlantFamily.heatRate * effort[tanks + k] - PlantFamily.heatLoss * t
                - PlantFamily.inflowCooling * max(inflow[k], 0) * t
            if n > 0 { next += s.exchange * (neighbours / n - t) }
            outObserved[2 * k] = (h - 0.5) * PlantFamily.levelScale
            outObserved[2 * k + 1] = min(max(next, -2.5), 2.5) * PlantFamily.temperatureScale
        }
    }

    static let ordinals = ["first", "second", "third", "fourth"]
    static let numberWords = ["one", "two", "three", "four"]

    /// The verbs and objects of `action`.
    public func wording(action: Int) -> ActionWording {
        let actuator = actuators[action / 2]
        let up = action % 2 == 0
        let k = actuator.tank
        let short = ["tank \(k + 1)", "tank \(PlantFamily.numberWords[k])"]
        let long = short + ["the \(PlantFamily.ordinals[k]) tank"]
        switch actuator.kind {
        case .inlet:
            return ActionWording(
                verbs: up ? ["open", "open up", "turn up", "increase"] : ["close", "close down", "throttle", "turn down"],
                objects: long.map { "inlet valve of \($0)" } + short.map { "\($0) feed valve" } + long.map { "supply valve on \($0)" })
        case .heater:
            return ActionWording(
                verbs: up ? ["turn up", "raise", "boost", "increase"] : ["turn down", "lower", "reduce", "cut"],
                objects: long.map { "heater of \($0)" } + short.map { "\($0) heating coil" } + long.map { "heating element in \($0)" })
        case .pump:
            let from = ["tank \(k + 1)", "tank \(PlantFamily.numberWords[k])"]
            let to = ["tank \(k + 2)", "tank \(PlantFamily.numberWords[k + 1])"]
            return ActionWording(
                verbs: up ? ["speed up", "turn up", "run up", "increase"] : ["slow down", "turn down", "ease off", "decrease"],
                objects: zip(from, to).flatMap { ["transfer pump from \($0) to \($1)", "\($0) to \($1) pump", "pump between \($0) and \($1)"] })
        }
    }

    public func scenarioDocuments() -> [any Encodable & Sendable] { scenarios }
}
