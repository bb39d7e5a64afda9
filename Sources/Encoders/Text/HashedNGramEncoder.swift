// Deterministic fallback text encoder: hashed word unigrams/bigrams and character trigrams → signed buckets → L2.
// Shape legend: D buckets (the output width). Used only when the MiniLM weights are absent.

/// A dependency-free sentence embedding: feature hashing of normalised words, word bigrams and character
/// trigrams into `dim` signed buckets, L2-normalised. Same text → same vector on every machine
/// (FNV-1a hashing, no randomness). Similar wording gives similar vectors; meaning is not captured.
public struct HashedNGramEncoder: Embedder, Sendable {
    /// D, the number of buckets.
    public let dim: Int

    /// An encoder with `dim` buckets (default 384, like MiniLM).
    public init(dim: Int = 384) {
        precondition(dim > 0, "HashedNGramEncoder needs a positive dimension, got \(dim)")
        self.dim = dim
    }

    /// One unit vector per text (the zero vector for a text with no word characters).
    public func embed(_ texts: [String]) throws -> [[Float]] { texts.map(embedOne) }

    private func embedOne(_ text: String) -> [Float] {
        var v = [Float](repeating: 0, count: dim)
        let words = text.lowercased().split { !($0.isLetter || $0.isNumber) }.map(String.init)
        func add(_ feature: String, weight: Float) {
            let h = HashedNGramEncoder.fnv1a(feature)
            let bucket = Int(h % UInt64(dim))
            v[bucket] += (h >> 63) == 0 ? weight : -weight
        }
        for (i, w) in words.enumerated() {
            add("w:" + w, weight: 1)
            if i > 0 { add("b:" + words[i - 1] + " " + w, weight: 0.7) }
            let chars = Array("<" + w + ">")
            if chars.count >= 3 {
                for j in 0...(chars.count - 3) { add("c:" + String(chars[j..<(j + 3)]), weight: 0.5) }
            }
        }
        let norm = v.reduce(0) { $0 + $1 * $1 }.squareRoot()
        if norm > 0 { for i in 0..<dim { v[i] /= norm } }
        return v
    }

    /// 64-bit FNV-1a over the UTF-8 bytes.
    static func fnv1a(_ s: String) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for b in s.utf8 { h = (h ^ UInt64(b)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
