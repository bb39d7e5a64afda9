// Where candidate context comes from: a protocol, and an in-memory source over transitions on Retrieval's FlatIndex.
// Keys: [w_s·unit(avg state0), w_a·unit(action key)] with w_s² + w_a² = 1, so an inner product is a weighted mean of
// the two cosines; by default w_s = w_a = 1/√2 and the action key is the action embedding itself
// (`ReflectorSimilarity.score`). A world model's own action representation (`NativeWorldModel.actionKey`) makes a
// better action key: there, actions that do the same thing are close whatever their wording.
import Formats
import Foundation
import Retrieval

/// Something that proposes candidate transitions for a query (a knowledge base, a dataset split).
public protocol ContextSource: AnyObject {
    /// Up to `k` candidates, best first, each with its retrieval score.
    func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate]
    /// True when a candidate id names the same transition for the source's whole life, so caches keyed by id
    /// (`FilterCache`, `ReflectorContextCache`) need not check a returned id's transition again.
    var candidateIDsAreStable: Bool { get }
    /// True when `candidates(for:k:)` may be called from several threads at once (the runtime then retrieves and
    /// filters a step's queries on two threads).
    var supportsConcurrentQueries: Bool { get }
}

extension ContextSource {
    /// False unless a source promises otherwise.
    public var candidateIDsAreStable: Bool { false }
    /// False unless a source promises otherwise.
    public var supportsConcurrentQueries: Bool { false }
}

/// An exact in-memory knowledge base over transitions, searched with `FlatIndex`, scoped to the query's
/// scenario when both have one. It does not drop the query's own sample: that is the filter's leakage guard.
public final class TransitionContextSource: ContextSource {
    /// True: the transitions and their ids are fixed when the source is built.
    public var candidateIDsAreStable: Bool { true }
    /// True when the action key map is safe to call from several threads (the source itself only reads after `init`).
    public var supportsConcurrentQueries: Bool { actionKeyIsThreadSafe }

    /// The transitions, in id order (`id` = `<prefix><index>`).
    public let transitions: [Transition]
    /// The id prefix of candidates (e.g. `kb:`).
    public let idPrefix: String
    /// Per transition, the number in its candidate id (default: its position).
    public let ids: [Int64]
    /// Whether queries with a scenario only see that scenario's transitions.
    public let scopeToScenario: Bool
    /// The weight of the state cosine in the score (the action's is `√(1 − stateWeight²)`).
    public let stateWeight: Float
    private let actionKey: (([Float]) -> [Float]?)?
    /// Whether `actionKey` may run on several threads at once (true without a map).
    private let actionKeyIsThreadSafe: Bool
    /// Every transition, for queries without a scenario (or when not scoped).
    private let index: FlatIndex
    /// One index per scenario, so a scoped query scans its scenario's rows only.
    private var scenarioIndexes: [String: FlatIndex] = [:]
    private let stateWidth: Int
    private let actionWidth: Int
    private let actionKeyWidth: Int

    /// Indexes `transitions` (each needs a state0 and an action embedding of consistent widths).
    /// - Parameters:
    ///   - actionKey: maps an action embedding to the vector actions are compared by (nil: the embedding itself),
    ///     e.g. a trained world model's `actionKey`.
    ///   - stateWeight: the weight of the state cosine, in 0...1 (default 1/√2: state and action count equally).
    ///   - ids: the number in each transition's candidate id (e.g. its knowledge-base entry id); default: positions.
    ///   - actionKeyIsThreadSafe: `actionKey` may be called from several threads at once (`NativeWorldModel.actionKey`
    ///     may), so the source answers concurrent queries (`supportsConcurrentQueries`).
    /// - Throws: `ReflectorError.input` naming the first unusable transition.
    public init(
        transitions: [Transition], idPrefix: String = "kb:", scopeToScenario: Bool = true, actionKey: (([Float]) -> [Float]?)? = nil,
        stateWeight: Float = Float(1 / 2.0.squareRoot()), ids: [Int64]? = nil, actionKeyIsThreadSafe: Bool = false
    ) throws {
        guard ids == nil || ids?.count == transitions.count else {
            throw ReflectorError.invalidConfig("\(ids?.count ?? 0) ids for \(transitions.count) transitions")
        }
        self.ids = ids ?? transitions.indices.map(Int64.init)
        guard (0...1).contains(stateWeight) else { throw ReflectorError.invalidConfig("state weight must be in 0...1 (got \(stateWeight))") }
        guard let first = transitions.first else { throw ReflectorError.input(name: "knowledge base", problem: "no transitions") }
        guard let s = first.state0.averaged()?.dim, let firstAction = first.action.embedding else {
            throw ReflectorError.input(name: "knowledge base", problem: "transition \(first.provenance.sampleID) lacks a state0 or action embedding")
        }
        let a = firstAction.dim
        stateWidth = s
        actionWidth = a
        self.actionKey = actionKey
        self.actionKeyIsThreadSafe = actionKey == nil || actionKeyIsThreadSafe
        self.stateWeight = stateWeight
        guard let keyWidth = actionKey.map({ $0(firstAction.values)?.count }) ?? a else {
            throw ReflectorError.input(name: "knowledge base", problem: "the action key map refused the action of \(first.provenance.sampleID)")
        }
        actionKeyWidth = keyWidth
        self.transitions = transitions
        self.idPrefix = idPrefix
        self.scopeToScenario = scopeToScenario
        let dim = (stateWeight > 0 ? s : 0) + keyWidth
        index = FlatIndex(dim: dim, threads: 1)
        var keys: [Float] = []
        keys.reserveCapacity(transitions.count * dim)
        var byScenario: [String: (ids: [Int64], keys: [Float])] = [:]
        for (i, t) in transitions.enumerated() {
            guard let key = key(state: t.state0, action: t.action) else {
                throw ReflectorError.input(
                    name: "knowledge base", problem: "transition \(t.provenance.sampleID) has no state0/action embedding of widths \(s)/\(a), or a non-finite one")
            }
            keys += key
            if scopeToScenario, let scenario = t.provenance.scenario {
                byScenario[scenario, default: ([], [])].ids.append(Int64(i))
                byScenario[scenario, default: ([], [])].keys += key
            }
        }
        do {
            try index.add(ids: transitions.indices.map(Int64.init), vectors: keys)
            for (scenario, rows) in byScenario {
                let scoped = FlatIndex(dim: dim, threads: 1)
                try scoped.add(ids: rows.ids, vectors: rows.keys)
                scenarioIndexes[scenario] = scoped
            }
        } catch {
            throw ReflectorError.input(name: "knowledge base", problem: "\(error)")
        }
    }

    /// `[w_s·unit(avg state), w_a·unit(action key)]` (just the action part when w_s = 0), or nil when a part is
    /// missing, mis-sized or not finite.
    func key(state: State, action: Action) -> [Float]? {
        guard let s = state.averaged(), s.dim == stateWidth, s.isFinite, let a = action.embedding, a.dim == actionWidth, a.isFinite else { return nil }
        guard let mapped = actionKey.map({ $0(a.values) }) ?? a.values, mapped.count == actionKeyWidth else { return nil }
        let actionWeight = (1 - stateWeight * stateWeight).squareRoot()
        var norm: Float = 0
        for v in mapped { norm += v * v }
        guard norm > 0, norm.isFinite else { return nil }
        let actionScale = actionWeight / norm.squareRoot()
        let actionPart = mapped.map { $0 * actionScale }
        guard stateWeight > 0 else { return actionPart }
        return s.normalized().values.map { $0 * stateWeight } + actionPart
    }

    public func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate] {
        guard k > 0 else { return [] }
        guard let key = key(state: query.state, action: query.action) else {
            throw ReflectorError.input(name: "query", problem: "needs a state and an action embedding of widths \(stateWidth)/\(actionWidth)")
        }
        var searched = index
        if scopeToScenario, let scenario = query.provenance?.scenario {
            guard let scoped = scenarioIndexes[scenario] else { return [] }
            searched = scoped
        }
        let hits = try searched.search(key, k: k, filter: nil)[0]
        return hits.map { ReflectorCandidate(id: idPrefix + String(ids[Int($0.id)]), transition: transitions[Int($0.id)], score: Double($0.score)) }
    }
}
