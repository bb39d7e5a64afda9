// The inputs of the filter stage: the query being predicted and the retrieved candidate transitions.
import Formats

/// What the world model is asked to predict from: a state, an action, and where the query itself came from.
///
/// The provenance is what the leakage guard checks: a candidate with the query's own sample id, or a
/// later step of the query's own episode, would hand the model its own answer.
public struct ReflectorQuery: Equatable, Sendable, Codable {
    /// The current state.
    public var state: State
    /// The action to apply.
    public var action: Action
    /// The query's own sample (dataset, scenario, episode, step, id), when known.
    public var provenance: Provenance?

    /// A query.
    public init(state: State, action: Action, provenance: Provenance? = nil) {
        self.state = state
        self.action = action
        self.provenance = provenance
    }
}

/// One retrieved transition offered to the filter, with its id and retrieval score.
public struct ReflectorCandidate: Equatable, Sendable, Codable {
    /// A display id, unique among the candidates (e.g. `kb:1834`).
    public var id: String
    /// The retrieved transition.
    public var transition: Transition
    /// The retrieval score (cosine similarity to the query, higher is closer).
    public var score: Double

    /// A candidate.
    public init(id: String, transition: Transition, score: Double) {
        self.id = id
        self.transition = transition
        self.score = score
    }
}

/// Similarity measures the filter uses between a query and a transition, and between two transitions.
public enum ReflectorSimilarity {
    /// The retrieval score a knowledge base keyed by both `avg(state0)` and the action would give:
    /// the mean of the cosine of the averaged states and the cosine of the action embeddings, over the
    /// parts both sides have (0 when they share none).
    public static func score(query: ReflectorQuery, transition: Transition) -> Double {
        var parts: [Double] = []
        if let a = query.state.averaged(), let b = transition.state0.averaged(), a.dim == b.dim { parts.append(a.cosine(b)) }
        if let a = query.action.embedding, let b = transition.action.embedding, a.dim == b.dim { parts.append(a.cosine(b)) }
        return parts.isEmpty ? 0 : parts.reduce(0, +) / Double(parts.count)
    }

    /// How alike two transitions are: the mean of the cosines of `avg(state0)`, action and `avg(state1)`,
    /// over the parts both have (0 when they share none). 1 means the same triplet up to scale.
    public static func cosine(_ x: Transition, _ y: Transition) -> Double {
        var parts: [Double] = []
        if let a = x.state0.averaged(), let b = y.state0.averaged(), a.dim == b.dim { parts.append(a.cosine(b)) }
        if let a = x.action.embedding, let b = y.action.embedding, a.dim == b.dim { parts.append(a.cosine(b)) }
        if let a = x.state1.averaged(), let b = y.state1.averaged(), a.dim == b.dim { parts.append(a.cosine(b)) }
        return parts.isEmpty ? 0 : parts.reduce(0, +) / Double(parts.count)
    }

    /// True when every embedding of the transition is finite.
    static func isFinite(_ t: Transition) -> Bool {
        t.state0.embeddings.values.allSatisfy(\.isFinite) && t.state1.embeddings.values.allSatisfy(\.isFinite)
            && (t.action.embedding?.isFinite ?? true)
    }
}
