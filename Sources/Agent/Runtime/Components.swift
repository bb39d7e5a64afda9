// The seams between the runtime and its parts: where knowledge comes from and how kept context becomes tokens.
// The runtime depends on these small protocols, so each part can be switched off, replaced, or faked in tests.
import ContextReflector
import Formats
import WorldModel

/// Where retrieved knowledge comes from: candidates for a query, best first.
public protocol KnowledgeSource {
    /// Up to `k` candidate transitions for `query`, restricted to `scenario` when given, best first.
    func candidates(for query: ReflectorQuery, k: Int, scenario: String?) throws -> [ReflectorCandidate]
}

/// The learned stage of the ContextReflector: turns the query and the kept context into tokens for the model.
public protocol ContextTokenizer {
    /// The reflector tokens for one query and its kept context (nil when it has nothing to say).
    func tokens(for query: ReflectorQuery, kept: [ReflectorCandidate]) throws -> ReflectorTokens?
}

/// A knowledge source over transitions held in memory, scored by the filter's similarity (exact scan).
///
/// Useful for tests and small worlds; the SQLite-backed knowledge base serves large ones.
public struct InMemoryKnowledge: KnowledgeSource {
    /// The transitions, each with a display id.
    public var items: [(id: String, transition: Transition)]

    /// Knowledge over `transitions`, ids `kb:<position>`.
    public init(_ transitions: [Transition]) {
        items = transitions.enumerated().map { ("kb:\($0.offset)", $0.element) }
    }

    public func candidates(for query: ReflectorQuery, k: Int, scenario: String?) throws -> [ReflectorCandidate] {
        var scored: [ReflectorCandidate] = []
        for item in items where scenario == nil || item.transition.provenance.scenario == scenario {
            scored.append(ReflectorCandidate(id: item.id, transition: item.transition,
                                             score: ReflectorSimilarity.score(query: query, transition: item.transition)))
        }
        scored.sort { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
        return Array(scored.prefix(k))
    }
}
