// Where candidate context comes from: a protocol, and an in-memory source over transitions on Retrieval's FlatIndex.
// Keys: [unit(avg state0), unit(action)] / √2, so an inner product is the mean of the two cosines
// (`ReflectorSimilarity.score`).
import Formats
import Foundation
import Retrieval

/// Something that proposes candidate transitions for a query (a knowledge base, a dataset split).
public protocol ContextSource: AnyObject {
    /// Up to `k` candidates, best first, each with its retrieval score.
    func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate]
}

/// An exact in-memory knowledge base over transitions, searched with `FlatIndex`, scoped to the query's
/// scenario when both have one. It does not drop the query's own sample: that is the filter's leakage guard.
public final class TransitionContextSource: ContextSource {
    /// The transitions, in id order (`id` = `<prefix><index>`).
    public let transitions: [Transition]
    /// The id prefix of candidates (e.g. `kb:`).
    public let idPrefix: String
    /// Whether queries with a scenario only see that scenario's transitions.
    public let scopeToScenario: Bool
    private let index: FlatIndex
    private let stateWidth: Int
    private let actionWidth: Int
    private var idsByScenario: [String: [Int64]] = [:]

    /// Indexes `transitions` (each needs a state0 and an action embedding of consistent widths).
    /// - Throws: `ReflectorError.input` naming the first unusable transition.
    public init(transitions: [Transition], idPrefix: String = "kb:", scopeToScenario: Bool = true) throws {
        guard let first = transitions.first else { throw ReflectorError.input(name: "knowledge base", problem: "no transitions") }
        guard let s = first.state0.averaged()?.dim, let a = first.action.embedding?.dim else {
            throw ReflectorError.input(name: "knowledge base", problem: "transition \(first.provenance.sampleID) lacks a state0 or action embedding")
        }
        stateWidth = s
        actionWidth = a
        self.transitions = transitions
        self.idPrefix = idPrefix
        self.scopeToScenario = scopeToScenario
        index = FlatIndex(dim: s + a, threads: 1)
        var keys: [Float] = []
        keys.reserveCapacity(transitions.count * (s + a))
        for (i, t) in transitions.enumerated() {
            guard let key = TransitionContextSource.key(state: t.state0, action: t.action, stateWidth: s, actionWidth: a) else {
                throw ReflectorError.input(
                    name: "knowledge base", problem: "transition \(t.provenance.sampleID) has no state0/action embedding of widths \(s)/\(a), or a non-finite one")
            }
            keys += key
            if let scenario = t.provenance.scenario { idsByScenario[scenario, default: []].append(Int64(i)) }
        }
        do { try index.add(ids: transitions.indices.map(Int64.init), vectors: keys) } catch {
            throw ReflectorError.input(name: "knowledge base", problem: "\(error)")
        }
    }

    /// `[unit(avg state), unit(action)] / √2`, or nil when a part is missing, mis-sized or not finite.
    static func key(state: State, action: Action, stateWidth: Int, actionWidth: Int) -> [Float]? {
        guard let s = state.averaged(), s.dim == stateWidth, s.isFinite, let a = action.embedding, a.dim == actionWidth, a.isFinite else { return nil }
        let scale = Float(1 / 2.0.squareRoot())
        let su = s.normalized().values, au = a.normalized().values
        return su.map { $0 * scale } + au.map { $0 * scale }
    }

    public func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate] {
        guard k > 0 else { return [] }
        guard let key = TransitionContextSource.key(state: query.state, action: query.action, stateWidth: stateWidth, actionWidth: actionWidth) else {
            throw ReflectorError.input(name: "query", problem: "needs a state and an action embedding of widths \(stateWidth)/\(actionWidth)")
        }
        var filter: SearchFilter?
        if scopeToScenario, let scenario = query.provenance?.scenario {
            filter = .only(idsByScenario[scenario] ?? [])
        }
        let hits = try index.search(key, k: k, filter: filter)[0]
        return hits.map { ReflectorCandidate(id: idPrefix + String($0.id), transition: transitions[Int($0.id)], score: Double($0.score)) }
    }
}
