// Deterministic synthetic steps: the same (seed, episode, index) always gives bit-identical embeddings, so a
// crash test or a benchmark can regenerate exactly what a writer offloaded. Not a model of real data.
import Formats
import Foundation

/// Reproducible steps for crash-safety tests and offload benchmarks.
public enum SyntheticSteps {
    /// A step of `episode` at `index` with `modalities` in its input state (values uniform in [−1, 1)) and an
    /// action embedding; everything derives from `seed`, the episode name and the index.
    public static func step(episode: String, index: Int, dim: Int, seed: UInt64 = 0, modalities: [Modality] = [.image, .audio], withAction: Bool = true) -> StepRecord {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a of the name: stable across runs (unlike Hasher)
        for b in episode.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        var state = seed ^ h ^ (UInt64(bitPattern: Int64(index)) &* 0x9E37_79B9_7F4A_7C15)
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        func vector() -> Embedding {
            Embedding((0..<dim).map { _ in Float(Int32(truncatingIfNeeded: next() >> 32)) / 2_147_483_648 })
        }
        var input = State()
        for m in modalities { input[m] = vector() }
        return StepRecord(
            episode: episode, index: index,
            action: Action(text: "synthetic action \(index)", embedding: withAction ? vector() : nil),
            input: input, timestamp: Date(timeIntervalSince1970: 1_700_000_000 + Double(index)))
    }
}
