// Scenarios: per-scenario dynamics (friction, action gain, direction rotation, which object an action moves).
import Foundation

/// The latent state of a world at one time: what an observation shows and what it hides.
///
/// In the spring family these are the positions and velocities of every object (x, y interleaved); in the
/// other families `positions` holds the observed values (levels and temperatures, log-abundances) and
/// `velocities` the hidden ones (actuator activity, resource and arrivals), each of the family's own size.
public struct LatentState: Equatable, Sendable, Codable {
    /// Positions, `[x0, y0, x1, y1, ...]` (a family's observed values).
    public var positions: [Double]
    /// Velocities, same layout (a family's hidden values); not visible in a single observation.
    public var velocities: [Double]

    /// A state.
    public init(positions: [Double], velocities: [Double]) {
        self.positions = positions
        self.velocities = velocities
    }
}

/// One scenario's dynamics. The same action has a different effect in each scenario, and nothing in a
/// single observation tells which scenario a world is in.
public struct Scenario: Equatable, Sendable, Codable {
    /// Index in the world.
    public let index: Int
    /// Name used in annotations (`s03`).
    public let name: String
    /// Velocity kept from one step to the next (1 − friction).
    public let retention: Double
    /// Multiplier of the action impulse.
    public let gain: Double
    /// Rotation (radians, counter-clockwise) applied to the pushed direction.
    public let rotation: Double
    /// `permutation[i]` is the object that actually moves when an action names object `i`.
    public let permutation: [Int]

    /// A scenario with explicit parameters.
    public init(index: Int, name: String, retention: Double, gain: Double, rotation: Double, permutation: [Int]) {
        self.index = index
        self.name = name
        self.retention = retention
        self.gain = gain
        self.rotation = rotation
        self.permutation = permutation
    }

    /// The scenarios of a world. Parameters are stratified (a Latin hypercube over retention, gain and
    /// rotation, and exactly `round(count × swapProbability)` scenarios with permuted objects), so that
    /// every seed gives a similar spread of dynamics and the oracle gaps vary little between seeds.
    public static func makeAll(config: WorldConfig) -> [Scenario] {
        let count = config.scenarios
        var rng = SimRandom(seed: config.seed, purpose: Purpose.scenario, count)
        let retentions = WorldFamilies.strata(count, rng: &rng), gains = WorldFamilies.strata(count, rng: &rng)
        let rotations = WorldFamilies.strata(count, rng: &rng)
        let swapped = WorldFamilies.marked(count, share: config.swapProbability, rng: &rng)
        let objectCount = WorldObject.all.count
        return (0..<count).map { index in
            var permutation = Array(0..<objectCount)
            if swapped[index] {
                // A random permutation other than the identity.
                repeat {
                    for i in stride(from: objectCount - 1, to: 0, by: -1) { permutation.swapAt(i, rng.index(i + 1)) }
                } while permutation == Array(0..<objectCount)
            }
            return Scenario(
                index: index, name: WorldFamilies.scenarioName(index),
                retention: config.retentionMin + (config.retentionMax - config.retentionMin) * retentions[index],
                gain: config.gainMin + (config.gainMax - config.gainMin) * gains[index],
                rotation: config.rotationMax * (2 * rotations[index] - 1),
                permutation: permutation)
        }
    }

    /// The next latent state after `action`:
    /// `v' = retention·v − spring·p`, then the moved object gets `impulse·gain·R(rotation)·u(direction)`,
    /// and `p' = p + v'`.
    public func step(_ state: LatentState, action: ActionMeaning, spring: Double, impulse: Double) -> LatentState {
        var next = state
        step(positions: state.positions, velocities: state.velocities, action: action, spring: spring, impulse: impulse,
             outPositions: &next.positions, outVelocities: &next.velocities)
        return next
    }

    /// `step` on raw buffers (no allocation): writes the next positions and velocities.
    public func step(positions: [Double], velocities: [Double], action: ActionMeaning, spring: Double, impulse: Double,
                     outPositions: inout [Double], outVelocities: inout [Double]) {
        for i in 0..<positions.count {
            outVelocities[i] = retention * velocities[i] - spring * positions[i]
        }
        let moved = permutation[action.object]
        let u = action.direction.vector
        let c = cos(rotation), s = sin(rotation)
        outVelocities[2 * moved] += impulse * gain * (c * u.x - s * u.y)
        outVelocities[2 * moved + 1] += impulse * gain * (s * u.x + c * u.y)
        for i in 0..<positions.count { outPositions[i] = positions[i] + outVelocities[i] }
    }

    /// A one-line human description ("retention 0.62, gain 1.12, rotation +23°, red→green ...").
    public var summary: String {
        let degrees = Int((rotation * 180 / .pi).rounded())
        var text = "retention \(String(format: "%.2f", retention)), gain \(String(format: "%.2f", gain)), rotation \(degrees >= 0 ? "+" : "")\(degrees)°"
        if permutation != Array(0..<permutation.count) {
            let moves = permutation.enumerated().filter { $0.offset != $0.element }
                .map { "\(WorldObject.all[$0.offset].colour)→\(WorldObject.all[$0.element].colour)" }
            text += ", actions move: " + moves.joined(separator: " ")
        }
        return text
    }
}
