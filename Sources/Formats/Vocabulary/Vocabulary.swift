// The shared vocabulary of the runtime (DESIGN.md "Core types"): modalities, embeddings, states, actions, transitions.
// It lives in Formats, the bottom of the module stack, so every higher module speaks the same types.

/// A modality of a world state, with the raw values WorldNet JSON uses as keys.
public enum Modality: String, CaseIterable, Codable, Sendable, Comparable, CustomStringConvertible {
    case image, video, audio, text

    /// Stable order for tokens, tables and files: image, video, audio, text.
    public static func < (lhs: Modality, rhs: Modality) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }

    public var description: String { rawValue }
}

/// One embedding vector: contiguous Float32 values; `dim` is its length.
public struct Embedding: Equatable, Sendable, Codable {
    /// The components, contiguous.
    public var values: [Float]

    /// Wraps `values` as an embedding.
    public init(_ values: [Float]) { self.values = values }

    /// The number of components.
    public var dim: Int { values.count }

    /// The Euclidean norm, accumulated in Double.
    public var norm: Double {
        var sum = 0.0
        for v in values { sum += Double(v) * Double(v) }
        return sum.squareRoot()
    }

    /// This embedding scaled to unit length (unchanged if its norm is zero).
    public func normalized() -> Embedding {
        let n = norm
        guard n > 0 else { return self }
        let scale = Float(1 / n)
        return Embedding(values.map { $0 * scale })
    }

    /// Cosine similarity with `other`, in Double; 0 if either is the zero vector.
    /// - Precondition: both have the same `dim`.
    public func cosine(_ other: Embedding) -> Double {
        precondition(dim == other.dim, "cosine of embeddings with dims \(dim) and \(other.dim)")
        var dot = 0.0, a = 0.0, b = 0.0
        for i in 0..<values.count {
            let x = Double(values[i]), y = Double(other.values[i])
            dot += x * y; a += x * x; b += y * y
        }
        guard a > 0, b > 0 else { return 0 }
        return dot / (a.squareRoot() * b.squareRoot())
    }

    /// True when every component is finite (no NaN, no infinity).
    public var isFinite: Bool { values.allSatisfy { $0.isFinite } }
}

/// A world state: an embedding for any subset of modalities.
public struct State: Equatable, Sendable, Codable {
    /// The embeddings of the present modalities.
    public var embeddings: [Modality: Embedding]

    /// A state with the given per-modality embeddings.
    public init(_ embeddings: [Modality: Embedding] = [:]) { self.embeddings = embeddings }

    /// The present modalities in stable order.
    public var modalities: [Modality] { embeddings.keys.sorted() }

    /// The embedding of `modality`, if present.
    public subscript(_ modality: Modality) -> Embedding? {
        get { embeddings[modality] }
        set { embeddings[modality] = newValue }
    }

    /// True when no modality is present.
    public var isEmpty: Bool { embeddings.isEmpty }

    /// The average of the present modality embeddings (the paper's `avg(state0)`), or nil when empty.
    /// - Precondition: all present embeddings have the same dim.
    public func averaged() -> Embedding? {
        let present = modalities.compactMap { embeddings[$0] }
        guard let first = present.first else { return nil }
        var sum = [Float](repeating: 0, count: first.dim)
        for e in present {
            precondition(e.dim == first.dim, "averaging embeddings with dims \(first.dim) and \(e.dim)")
            for i in 0..<sum.count { sum[i] += e.values[i] }
        }
        let scale = 1 / Float(present.count)
        return Embedding(sum.map { $0 * scale })
    }
}

/// An action: a sentence, and its embedding once a text encoder has seen it.
public struct Action: Equatable, Sendable, Codable {
    /// The action sentence.
    public var text: String
    /// The sentence embedding, when computed.
    public var embedding: Embedding?

    /// An action with `text` and an optional embedding.
    public init(text: String, embedding: Embedding? = nil) {
        self.text = text
        self.embedding = embedding
    }
}

/// Where a transition came from: dataset, scenario, episode/step and sample id.
public struct Provenance: Equatable, Hashable, Sendable, Codable {
    /// The dataset (annotation file or world) name.
    public var dataset: String
    /// The scenario that scopes knowledge retrieval, if the data has one.
    public var scenario: String?
    /// The episode linking consecutive transitions, if the data has one.
    public var episode: String?
    /// The step within the episode, if the data has one.
    public var step: Int?
    /// The sample's identifier, unique within the dataset.
    public var sampleID: String

    /// A provenance record.
    public init(dataset: String, scenario: String? = nil, episode: String? = nil, step: Int? = nil, sampleID: String) {
        self.dataset = dataset
        self.scenario = scenario
        self.episode = episode
        self.step = step
        self.sampleID = sampleID
    }
}

/// One transition `(state0, action, state1)` with its provenance.
public struct Transition: Equatable, Sendable, Codable {
    /// The state before the action.
    public var state0: State
    /// The action taken.
    public var action: Action
    /// The state after the action.
    public var state1: State
    /// Where the transition came from.
    public var provenance: Provenance

    /// A transition.
    public init(state0: State, action: Action, state1: State, provenance: Provenance) {
        self.state0 = state0
        self.action = action
        self.state1 = state1
        self.provenance = provenance
    }
}
