// The retrieval baseline: apply the mean state change of the k most similar knowledge-base transitions.
// Similarity = mean cosine over the query's present modalities of state0 + cosine of the action embeddings,
// one inner product in a Retrieval `FlatIndex` over concatenated keys [image | video | audio | text | action].
import Formats
import Retrieval

/// Predicts `normalize(state0_m + mean_k(state1_m − state0_m))` over the k nearest knowledge-base transitions;
/// for a cross-modal target (absent from the input) the normalised mean of the neighbours' `state1_m`.
///
/// Neighbours must carry the target modality in `state1` (and in `state0` when the target is present in the
/// input). With `scopeToScenario`, a query that names a scenario only sees that scenario's transitions (the
/// paper's within-scenario knowledge base).
///
/// Keys: per row, each modality slot holds the normalised state0 embedding (zeros when absent) and the last
/// slot the normalised action; a query puts `1/|present|` × its normalised embeddings in its present slots,
/// so the inner product is exactly the similarity above.
public final class KNNModel: WorldModel {
    /// Number of neighbours averaged.
    public let k: Int
    /// Whether queries with a scenario only see transitions of that scenario.
    public let scopeToScenario: Bool
    /// The embedding dimension of states.
    public let embeddingDimension: Int
    /// The action embedding dimension.
    public let actionDimension: Int
    /// Number of knowledge-base transitions.
    public var count: Int { rowCount }

    private let rowCount: Int
    private let index: FlatIndex
    /// Per modality: N×D raw state0 / state1 embeddings (zero rows where absent) and presence masks.
    private var state0Values: [Modality: [Float]] = [:]
    private var state1Values: [Modality: [Float]] = [:]
    private var hasState0: [Modality: [Bool]] = [:]
    private var hasState1: [Modality: [Bool]] = [:]
    private let scenarios: [String?]
    /// Eligible rows per (target, needs state0, scenario), computed once.
    private var eligibleCache: [EligibilityKey: [Int64]] = [:]

    private struct EligibilityKey: Hashable {
        var target: Modality
        var needsState0: Bool
        var scenario: String?
    }

    /// Builds the baseline over `knowledgeBase`.
    /// - Throws: `WorldModelError.badKnowledgeBase` when it is empty, lacks action embeddings or mixes dimensions.
    public init(knowledgeBase: [Transition], k: Int = 8, scopeToScenario: Bool = true) throws {
        guard k >= 1 else { throw WorldModelError.invalidConfig(field: "k", reason: "must be at least 1, got \(k)") }
        guard !knowledgeBase.isEmpty else { throw WorldModelError.badKnowledgeBase(reason: "no transitions") }
        guard let firstAction = knowledgeBase.first?.action.embedding else {
            throw WorldModelError.badKnowledgeBase(reason: "transition 0 has no action embedding")
        }
        guard let firstState = knowledgeBase.lazy.compactMap({ $0.state0.embeddings.values.first }).first else {
            throw WorldModelError.badKnowledgeBase(reason: "no transition has a state0 embedding")
        }
        self.k = k
        self.scopeToScenario = scopeToScenario
        let n = knowledgeBase.count, d = firstState.dim, a = firstAction.dim
        let modalities = Modality.allCases
        let keyWidth = modalities.count * d + a
        rowCount = n
        embeddingDimension = d
        actionDimension = a
        var keys = [Float](repeating: 0, count: n * keyWidth)
        for (row, t) in knowledgeBase.enumerated() {
            guard let emb = t.action.embedding else {
                throw WorldModelError.badKnowledgeBase(reason: "transition \(row) (\(t.provenance.sampleID)) has no action embedding")
            }
            try VectorMath.check(emb, dim: a, field: "knowledge base transition \(row) action")
            let base = row * keyWidth + modalities.count * d
            keys.replaceSubrange(base..<base + a, with: VectorMath.normalized(emb.values))
        }
        scenarios = knowledgeBase.map(\.provenance.scenario)
        for (slot, modality) in modalities.enumerated() {
            var s0 = [Float](repeating: 0, count: n * d), s1 = [Float](repeating: 0, count: n * d)
            var has0 = [Bool](repeating: false, count: n), has1 = [Bool](repeating: false, count: n)
            for (row, t) in knowledgeBase.enumerated() {
                if let e = t.state0[modality] {
                    try VectorMath.check(e, dim: d, field: "knowledge base transition \(row) state0.\(modality)")
                    s0.replaceSubrange(row * d..<(row + 1) * d, with: e.values)
                    let base = row * keyWidth + slot * d
                    keys.replaceSubrange(base..<base + d, with: VectorMath.normalized(e.values))
                    has0[row] = true
                }
                if let e = t.state1[modality] {
                    try VectorMath.check(e, dim: d, field: "knowledge base transition \(row) state1.\(modality)")
                    s1.replaceSubrange(row * d..<(row + 1) * d, with: e.values)
                    has1[row] = true
                }
            }
            guard has0.contains(true) || has1.contains(true) else { continue }
            state0Values[modality] = s0
            state1Values[modality] = s1
            hasState0[modality] = has0
            hasState1[modality] = has1
        }
        index = FlatIndex(dim: keyWidth)
        do {
            try index.add(ids: (0..<n).map(Int64.init), vectors: keys)
        } catch {
            throw WorldModelError.badKnowledgeBase(reason: "cannot index: \(error)")
        }
    }

    /// Predicts one input (a batch of one).
    public func predict(_ input: PredictionInput) throws -> State {
        try predictBatch([input])[0]
    }

    /// Predicts a batch: queries that share a (target, scenario) filter are searched together.
    public func predictBatch(_ inputs: [PredictionInput]) throws -> [State] {
        let d = embeddingDimension, a = actionDimension
        let modalities = Modality.allCases
        let keyWidth = modalities.count * d + a
        var queries = [Float](repeating: 0, count: inputs.count * keyWidth)
        for (i, input) in inputs.enumerated() {
            guard let emb = input.action.embedding else { throw WorldModelError.missingActionEmbedding(action: input.action.text) }
            try VectorMath.check(emb, dim: a, field: "input \(i) action embedding")
            guard !input.state.isEmpty else { throw WorldModelError.emptyState(targets: input.targets) }
            let base = i * keyWidth
            queries.replaceSubrange(base + modalities.count * d..<base + keyWidth, with: VectorMath.normalized(emb.values))
            let weight = 1 / Float(input.state.embeddings.count)
            for (slot, modality) in modalities.enumerated() {
                guard let e = input.state[modality] else { continue }
                try VectorMath.check(e, dim: d, field: "input \(i) state.\(modality)")
                let unit = VectorMath.normalized(e.values)
                for j in 0..<d { queries[base + slot * d + j] = weight * unit[j] }
            }
        }
        // Group (input, target) pairs by their eligibility filter.
        var groups: [EligibilityKey: [(input: Int, target: Modality)]] = [:]
        var order: [EligibilityKey] = []
        for (i, input) in inputs.enumerated() {
            for target in input.targets {
                guard hasState1[target]?.contains(true) == true else {
                    throw WorldModelError.badKnowledgeBase(reason: "no transition has a \(target) embedding in state1")
                }
                let key = EligibilityKey(target: target, needsState0: input.state[target] != nil, scenario: scopeToScenario ? input.scenario : nil)
                if groups[key] == nil { order.append(key) }
                groups[key, default: []].append((i, target))
            }
        }
        var results = [State](repeating: State(), count: inputs.count)
        for key in order {
            let members = groups[key]!
            let allowed = eligibleRows(key)
            guard !allowed.isEmpty else {
                throw WorldModelError.badKnowledgeBase(
                    reason: "no transition usable for target \(key.target)\(key.scenario.map { " in scenario \($0)" } ?? "")")
            }
            var batch = [Float]()
            batch.reserveCapacity(members.count * keyWidth)
            for member in members { batch.append(contentsOf: queries[member.input * keyWidth..<(member.input + 1) * keyWidth]) }
            let found: [[SearchResult]]
            do {
                found = try index.search(batch, k: k, filter: allowed.count == rowCount ? nil : .only(allowed))
            } catch {
                throw WorldModelError.badKnowledgeBase(reason: "search failed: \(error)")
            }
            let s1 = state1Values[key.target]!, s0 = state0Values[key.target]!
            for (member, neighbours) in zip(members, found) {
                var sum = [Float](repeating: 0, count: d)
                for result in neighbours {
                    let row = Int(result.id)
                    for j in 0..<d { sum[j] += key.needsState0 ? s1[row * d + j] - s0[row * d + j] : s1[row * d + j] }
                }
                let inv = 1 / Float(max(neighbours.count, 1))
                if let base = inputs[member.input].state[key.target] {
                    for j in 0..<d { sum[j] = base.values[j] + sum[j] * inv }
                }
                results[member.input][key.target] = Embedding(VectorMath.normalized(sum))
            }
        }
        return results
    }

    /// The rows usable for `key`, cached.
    private func eligibleRows(_ key: EligibilityKey) -> [Int64] {
        if let cached = eligibleCache[key] { return cached }
        let has1 = hasState1[key.target] ?? [], has0 = hasState0[key.target] ?? []
        let rows = (0..<rowCount).filter { row in
            has1[row] && (!key.needsState0 || has0[row]) && (key.scenario == nil || scenarios[row] == key.scenario)
        }.map(Int64.init)
        eligibleCache[key] = rows
        return rows
    }
}
