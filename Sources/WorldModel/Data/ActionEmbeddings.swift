// Action sentences → embeddings, through a caller-supplied text encoder, with an on-disk cache.
// WorldModel does not depend on Encoders: the CLI or the Agent passes the encoder in as a closure.
import Foundation
import Formats

/// A text encoder as WorldModel sees it: a name (recorded in checkpoints), a width, and a batch function.
public struct ActionEncoder {
    /// A stable name, e.g. `all-MiniLM-L6-v2` or `hashed-384`.
    public var name: String
    /// The embedding width.
    public var dim: Int
    /// Embeds sentences, one vector per sentence, in order.
    public var embed: ([String]) throws -> [[Float]]

    /// An encoder.
    public init(name: String, dim: Int, embed: @escaping ([String]) throws -> [[Float]]) {
        self.name = name
        self.dim = dim
        self.embed = embed
    }
}

/// Embeds action texts once: a text → vector table, loaded from and saved to a safetensors file
/// (`embeddings` [N, dim] plus metadata `encoder` and `texts`, a JSON array in row order).
public final class ActionEmbeddingCache {
    /// The encoder whose vectors are cached.
    public let encoder: ActionEncoder
    /// The cache file, if any.
    public let file: URL?
    private var table: [String: [Float]] = [:]
    private var dirty = false

    /// A cache for `encoder`, read from `file` when it exists and was made by the same encoder (else ignored).
    public init(encoder: ActionEncoder, file: URL?) {
        self.encoder = encoder
        self.file = file
        guard let file, FileManager.default.fileExists(atPath: file.path),
            let (tensors, metadata) = try? SafeTensors.readWithMetadata(file), metadata["encoder"] == encoder.name,
            let textsJSON = metadata["texts"], let texts = try? JSONDecoder().decode([String].self, from: Data(textsJSON.utf8)),
            let matrix = tensors.first(where: { $0.name == "embeddings" })?.tensor, matrix.shape == [texts.count, encoder.dim]
        else { return }
        let values = matrix.floatValues()
        for (i, text) in texts.enumerated() { table[text] = Array(values[i * encoder.dim..<(i + 1) * encoder.dim]) }
    }

    /// Number of cached texts.
    public var count: Int { table.count }

    /// Embeddings of `texts` (computing the missing ones in one batch).
    /// - Throws: the encoder's errors; `WorldModelError.dimensionMismatch` if it returns vectors of another width.
    public func embeddings(_ texts: [String]) throws -> [[Float]] {
        var missing: [String] = []
        var seen: Set<String> = []
        for t in texts where table[t] == nil && seen.insert(t).inserted { missing.append(t) }
        if !missing.isEmpty {
            for start in stride(from: 0, to: missing.count, by: 256) {
                let chunk = Array(missing[start..<min(missing.count, start + 256)])
                let vectors = try encoder.embed(chunk)
                for (text, v) in zip(chunk, vectors) {
                    guard v.count == encoder.dim else {
                        throw WorldModelError.dimensionMismatch(field: "text encoder \(encoder.name) output", expected: encoder.dim, actual: v.count)
                    }
                    table[text] = v
                }
            }
            dirty = true
        }
        return texts.map { table[$0]! }
    }

    /// Sets `action.embedding` of every transition that lacks one.
    public func fill(_ transitions: inout [Transition]) throws {
        let vectors = try embeddings(transitions.map(\.action.text))
        for i in transitions.indices where transitions[i].action.embedding == nil {
            transitions[i].action.embedding = Formats.Embedding(vectors[i])
        }
    }

    /// Writes the table to `file` when it changed.
    public func save() throws {
        guard dirty, let file else { return }
        let texts = table.keys.sorted()
        var values: [Float] = []
        values.reserveCapacity(texts.count * encoder.dim)
        for t in texts { values.append(contentsOf: table[t]!) }
        try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        let textsJSON = String(decoding: try JSONEncoder().encode(texts), as: UTF8.self)
        try SafeTensors.write(
            [("embeddings", TensorData(floats: values, shape: [texts.count, encoder.dim]))],
            metadata: ["encoder": encoder.name, "texts": textsJSON], to: file)
        dirty = false
    }
}
