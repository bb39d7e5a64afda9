// Deterministic random numbers for the world: SplitMix64 streams keyed by (seed, purpose, indices).
// Every random draw in a world comes from a stream named by what it is for, so the output does not
// depend on thread scheduling or on the order in which parts of the world are generated.
import Foundation

/// A SplitMix64 generator with Gaussian and uniform helpers; identical on every platform.
public struct SimRandom: RandomNumberGenerator, Sendable {
    private var state: UInt64

    /// A generator started from `seed`.
    public init(seed: UInt64) { state = seed }

    /// A generator for the stream named by `seed`, a `purpose` tag and up to three indices.
    ///
    /// Streams with different keys are statistically independent; the same key gives the same numbers.
    public init(seed: UInt64, purpose: UInt64, _ a: Int = 0, _ b: Int = 0, _ c: Int = 0) {
        var h = SimRandom.mix(seed ^ 0x5157_4F52_4C44)
        h = SimRandom.mix(h ^ purpose)
        h = SimRandom.mix(h ^ UInt64(bitPattern: Int64(a)))
        h = SimRandom.mix(h ^ (UInt64(bitPattern: Int64(b)) &* 0x9E37_79B9_7F4A_7C15))
        h = SimRandom.mix(h ^ (UInt64(bitPattern: Int64(c)) &* 0xC2B2_AE3D_27D4_EB4F))
        state = h
    }

    /// The SplitMix64 finaliser.
    @inline(__always)  // called per draw in generation loops.
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform Double in [0, 1).
    public mutating func unit() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// A uniform Double in [lower, upper).
    public mutating func uniform(_ lower: Double, _ upper: Double) -> Double { lower + (upper - lower) * unit() }

    /// A uniform integer in 0..<count.
    public mutating func index(_ count: Int) -> Int {
        precondition(count > 0, "index(0)")
        return Int(next() % UInt64(count))
    }

    /// A standard normal sample (Box–Muller, one value per call).
    public mutating func gaussian() -> Double {
        let u1 = max(unit(), 1e-300)
        let u2 = unit()
        return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
    }
}

/// Stream purposes (tags mixed into `SimRandom` seeds).
enum Purpose {
    static let scenario: UInt64 = 1
    static let episode: UInt64 = 2
    static let map: UInt64 = 3
    static let noise: UInt64 = 4
    static let split: UInt64 = 5
    static let oracle: UInt64 = 6
    static let media: UInt64 = 7
    static let family: UInt64 = 8
    static let language: UInt64 = 9
    static let knowledge: UInt64 = 10
    static let absence: UInt64 = 11
    static let switching: UInt64 = 12
}

