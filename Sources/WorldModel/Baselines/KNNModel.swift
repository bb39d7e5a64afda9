// The retrieval baseline: apply the mean state change of the k most similar knowledge-base transitions.
// Similarity = mean cosine over the query's present modalities of state0 + cosine of the action embeddings,
// computed for a whole batch of queries with one GEMM per modality (an exact scan, like a flat index).
import Formats
import Tensor

/// Predicts `normalize(state0_m + mean_k(state1_m − state0_m))` over the k nearest knowledge-base transitions;
/// for a cross-modal target (absent from the input) the mean of the neighbours' `state1_m`.
///
/// Neighbours must carry the target modality in `state1` (and in `state0` when the target is present in the
/// input). With `scopeToScenario`, a query that names a scenario only sees that scenario's transitions (the
/// paper's within-scenario knowledge base).
public final class KNNModel: WorldModel, @unchecked Sendable {  // immutable after init; unchecked: holds arrays only.
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
    /// Per modality: N×D normalised state0 embeddings (zero rows where absent).
    private var state0Keys: [Modality: [Float]] = [:]
    /// Per modality: N×D raw state0 and state1 embeddings (zero rows where absent) and presence masks.
    private var state0Values: [Modality: [Float]] = [:]
    private var state1Values: [Modality: [Float]] = [:]
    private var hasState0: [Modality: [Bool]] = [:]
    private var hasState1: [Modality: [Bool]] = [:]
    /// N×A normalised action embeddings.
    private let actionKeys: [Float]
    private let scenarios: [String?]

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
        rowCount = n
        embeddingDimension = d
        actionDimension = a
        var actions = [Float](repeating: 0, count: n * a)
        for (row, t) in knowledgeBase.enumerated() {
            guard let emb = t.action.embedding else {
                throw WorldModelError.badKnowledgeBase(reason: "transition \(row) (\(t.provenance.sampleID)) has no action embedding")
            }
            try VectorMath.check(emb, dim: a, field: "knowledge base transition \(row) action")
            let unit = VectorMath.normalized(emb.values)
            actions.replaceSubrange(row * a..<(row + 1) * a, with: unit)
        }
        actionKeys = actions
        scenarios = knowledgeBase.map(\.provenance.scenario)
        for modality in Modality.allCases {
            var keys = [Float](repeating: 0, count: n * d)
            var s0 = [Float](repeating: 0, count: n * d), s1 = [Float](repeating: 0, count: n * d)
            var has0 = [Bool](repeating: false, count: n), has1 = [Bool](repeating: false, count: n)
            for (row, t) in knowledgeBase.enumerated() {
                if let e = t.state0[modality] {
                    try VectorMath.check(e, dim: d, field: "knowledge base transition \(row) state0.\(modality)")
                    s0.replaceSubrange(row * d..<(row + 1) * d, with: e.values)
                    keys.replaceSubrange(row * d..<(row + 1) * d, with: VectorMath.normalized(e.values))
                    has0[row] = true
                }
                if let e = t.state1[modality] {
                    try VectorMath.check(e, dim: d, field: "knowledge base transition \(row) state1.\(modality)")
                    s1.replaceSubrange(row * d..<(row + 1) * d, with: e.values)
                    has1[row] = true
                }
            }
            guard has0.contains(true) || has1.contains(true) else { continue }
            state0Keys[modality] = keys
            state0Values[modality] = s0
            state1Values[modality] = s1
            hasState0[modality] = has0
            hasState1[modality] = has1
        }
    }

    /// Predicts one input (a batch of one).
    public func predict(_ input: PredictionInput) throws -> State {
        try predictBatch([input])[0]
    }

    /// Predicts a batch: one GEMM per modality scores every query against every transition.
    public func predictBatch(_ inputs: [PredictionInput]) throws -> [State] {
        let b = inputs.count, n = rowCount, d = embeddingDimension, a = actionDimension
        guard b > 0 else { return [] }
        // Query matrices (B×D per modality, B×A for actions) and the per-query modality counts.
        var queryModalities = [[Modality]](repeating: [], count: b)
        var actionQueries = [Float](repeating: 0, count: b * a)
        var stateQueries: [Modality: [Float]] = [:]
        for (i, input) in inputs.enumerated() {
            guard let emb = input.action.embedding else { throw WorldModelError.missingActionEmbedding(action: input.action.text) }
            try VectorMath.check(emb, dim: a, field: "input \(i) action embedding")
            actionQueries.replaceSubrange(i * a..<(i + 1) * a, with: VectorMath.normalized(emb.values))
            guard !input.state.isEmpty else { throw WorldModelError.emptyState(targets: input.targets) }
            for (modality, e) in input.state.embeddings {
                try VectorMath.check(e, dim: d, field: "input \(i) state.\(modality)")
                if stateQueries[modality] == nil { stateQueries[modality] = [Float](repeating: 0, count: b * d) }
                stateQueries[modality]!.replaceSubrange(i * d..<(i + 1) * d, with: VectorMath.normalized(e.values))
                queryModalities[i].append(modality)
            }
        }
        // Scores: action part plus, per modality, the state part scaled by 1/(number of query modalities).
        var scores = [Float](repeating: 0, count: b * n)
        var stateScores = [Float](repeating: 0, count: b * n)
        actionQueries.withUnsafeBufferPointer { q in
            actionKeys.withUnsafeBufferPointer { kb in
                scores.withUnsafeMutableBufferPointer { s in
                    BLAS.sgemm(transposeB: true, m: b, n: n, k: a, a: q.baseAddress!, b: kb.baseAddress!, c: s.baseAddress!)
                }
            }
        }
        for (modality, queries) in stateQueries {
            guard let keys = state0Keys[modality] else { continue }  // no KB row has it: contributes 0.
            queries.withUnsafeBufferPointer { q in
                keys.withUnsafeBufferPointer { kb in
                    stateScores.withUnsafeMutableBufferPointer { s in
                        BLAS.sgemm(transposeB: true, m: b, n: n, k: d, a: q.baseAddress!, b: kb.baseAddress!, beta: 1, c: s.baseAddress!)
                    }
                }
            }
        }
        var results = [State]()
        results.reserveCapacity(b)
        for (i, input) in inputs.enumerated() {
            let scale = 1 / Float(queryModalities[i].count)
            let rowScores = (0..<n).map { scores[i * n + $0] + scale * stateScores[i * n + $0] }
            var out = State()
            for target in input.targets {
                let inputHasTarget = input.state[target] != nil
                guard let has1 = hasState1[target] else {
                    throw WorldModelError.badKnowledgeBase(reason: "no transition has a \(target) embedding in state1")
                }
                let has0 = hasState0[target] ?? []
                let scenario = scopeToScenario ? input.scenario : nil
                let neighbours = Self.topK(k, scores: rowScores) { row in
                    has1[row] && (!inputHasTarget || has0[row]) && (scenario == nil || scenarios[row] == scenario)
                }
                guard !neighbours.isEmpty else {
                    throw WorldModelError.badKnowledgeBase(reason: "no transition usable for target \(target)\(scenario.map { " in scenario \($0)" } ?? "")")
                }
                var sum = [Float](repeating: 0, count: d)
                let s1 = state1Values[target]!, s0 = state0Values[target]!
                for row in neighbours {
                    for j in 0..<d {
                        sum[j] += inputHasTarget ? s1[row * d + j] - s0[row * d + j] : s1[row * d + j]
                    }
                }
                let inv = 1 / Float(neighbours.count)
                if let base = input.state[target] {
                    for j in 0..<d { sum[j] = base.values[j] + sum[j] * inv }
                }
                out[target] = Embedding(VectorMath.normalized(sum))
            }
            results.append(out)
        }
        return results
    }

    /// The rows of the `k` highest scores among those `eligible` accepts, best first (ties: lower row first).
    static func topK(_ k: Int, scores: [Float], eligible: (Int) -> Bool) -> [Int] {
        var best: [(score: Float, row: Int)] = []
        best.reserveCapacity(k + 1)
        for (row, score) in scores.enumerated() where eligible(row) {
            if best.count == k, let last = best.last, score <= last.score { continue }
            var position = best.count
            while position > 0 && best[position - 1].score < score { position -= 1 }
            best.insert((score, row), at: position)
            if best.count > k { best.removeLast() }
        }
        return best.map(\.row)
    }
}
