// The filter stage of the ContextReflector: which retrieved transitions the world model gets to see, and why.
// Rules, in order: validity, leakage guard, similarity threshold, near-duplicate collapse, change outliers, MMR
// diversity, budget.
import Foundation
import Formats
import Tensor

/// Settings of the filter stage. Every field has a default, so a JSON/YAML config may give any subset.
public struct ReflectorFilterConfig: Equatable, Sendable, Codable {
    /// Candidates whose retrieval score is below this are dropped.
    public var threshold: Double
    /// A candidate whose transition cosine to a better-scored kept candidate is at least this is a duplicate.
    public var duplicateCosine: Double
    /// MMR trade-off in [0, 1]: 1 ranks by score alone, lower values favour items unlike those already kept.
    public var mmrLambda: Double
    /// The most items kept.
    public var budget: Int
    /// Drop the query's own sample and later steps of its own episode (on by default; off only for ablations).
    public var leakageGuard: Bool
    /// With the leakage guard on, also drop a candidate whose `avg(state0)` and action both have cosine
    /// at least this with the query's — its own transition under another id. Above 1 disables the check.
    public var identicalCosine: Double
    /// Drop a candidate whose observed change (`|avg state1 − avg state0|`) is more than this many times the median
    /// change of the best-scored `budget` candidates (at least 3 of them): a transition whose state1 was corrupted or
    /// belongs elsewhere. Nil (the default) disables the rule.
    public var outlierRatio: Double?

    /// A configuration; the defaults suit 768-d LanguageBind-like embeddings and the paper's 1–4 triplets.
    public init(
        threshold: Double = 0.3, duplicateCosine: Double = 0.98, mmrLambda: Double = 0.7, budget: Int = 4,
        leakageGuard: Bool = true, identicalCosine: Double = 0.99999, outlierRatio: Double? = nil
    ) {
        self.threshold = threshold
        self.duplicateCosine = duplicateCosine
        self.mmrLambda = mmrLambda
        self.budget = budget
        self.leakageGuard = leakageGuard
        self.identicalCosine = identicalCosine
        self.outlierRatio = outlierRatio
    }

    private enum CodingKeys: String, CodingKey {
        case threshold, duplicateCosine = "duplicate_cosine", mmrLambda = "mmr_lambda", budget
        case leakageGuard = "leakage_guard", identicalCosine = "identical_cosine", outlierRatio = "outlier_ratio"
    }

    /// Decodes any subset of the fields; missing ones take their defaults.
    public init(from decoder: any Decoder) throws {
        let d = ReflectorFilterConfig()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        threshold = try c.decodeIfPresent(Double.self, forKey: .threshold) ?? d.threshold
        duplicateCosine = try c.decodeIfPresent(Double.self, forKey: .duplicateCosine) ?? d.duplicateCosine
        mmrLambda = try c.decodeIfPresent(Double.self, forKey: .mmrLambda) ?? d.mmrLambda
        budget = try c.decodeIfPresent(Int.self, forKey: .budget) ?? d.budget
        leakageGuard = try c.decodeIfPresent(Bool.self, forKey: .leakageGuard) ?? d.leakageGuard
        identicalCosine = try c.decodeIfPresent(Double.self, forKey: .identicalCosine) ?? d.identicalCosine
        outlierRatio = try c.decodeIfPresent(Double.self, forKey: .outlierRatio) ?? d.outlierRatio
    }

    /// Throws `ReflectorError.invalidConfig` when a value is out of range.
    public func validate() throws {
        guard threshold.isFinite else { throw ReflectorError.invalidConfig("threshold must be finite (got \(threshold))") }
        guard duplicateCosine.isFinite, duplicateCosine > -1 else {
            throw ReflectorError.invalidConfig("duplicate_cosine must be a finite cosine above -1 (got \(duplicateCosine))")
        }
        guard mmrLambda >= 0, mmrLambda <= 1 else { throw ReflectorError.invalidConfig("mmr_lambda must be in [0, 1] (got \(mmrLambda))") }
        guard budget >= 0 else { throw ReflectorError.invalidConfig("budget must be ≥ 0 (got \(budget))") }
        guard !identicalCosine.isNaN else { throw ReflectorError.invalidConfig("identical_cosine is NaN") }
        if let r = outlierRatio, !(r.isFinite && r > 1) {
            throw ReflectorError.invalidConfig("outlier_ratio must be a finite ratio above 1 (got \(r))")
        }
    }
}

/// The filter's decision on one candidate, with a human-readable reason.
public struct FilterDecision: Equatable, Sendable, Codable {
    /// Which rule decided.
    public enum Verdict: String, Equatable, Sendable, Codable {
        /// Kept, at `rank`.
        case kept
        /// Dropped: non-finite score or embedding.
        case invalid
        /// Dropped: the query's own sample, a later step of its episode, or a copy of the query.
        case leakage
        /// Dropped: score below the threshold.
        case threshold
        /// Dropped: near-duplicate of a better-scored item (`relatedID`, `cosine`).
        case duplicate
        /// Dropped: its observed change is far larger than the other candidates' (`outlierRatio`).
        case outlier
        /// Dropped: within the budget by score, but MMR preferred more diverse items.
        case diversity
        /// Dropped: beyond the budget.
        case budget
    }

    /// The candidate's id.
    public var candidateID: String
    /// The candidate's retrieval score.
    public var score: Double
    /// The rule that decided.
    public var verdict: Verdict
    /// 1-based rank among kept items (kept only).
    public var rank: Int?
    /// The item this one duplicates or is too close to (duplicate, diversity).
    public var relatedID: String?
    /// The transition cosine to `relatedID`.
    public var cosine: Double?
    /// The reason, e.g. `kept: rank 2, score 0.81` or `dropped: duplicate of kb:1834 (cos 0.992)`.
    public var reason: String

    /// True when the candidate was kept.
    public var isKept: Bool { verdict == .kept }

    /// A decision.
    public init(candidateID: String, score: Double, verdict: Verdict, rank: Int? = nil, relatedID: String? = nil, cosine: Double? = nil, reason: String) {
        self.candidateID = candidateID
        self.score = score
        self.verdict = verdict
        self.rank = rank
        self.relatedID = relatedID
        self.cosine = cosine
        self.reason = reason
    }
}

/// What the filter returns: the kept candidates in rank order, and a decision for every candidate in input order.
public struct FilterResult: Equatable, Sendable, Codable {
    /// Kept candidates, best rank first.
    public var kept: [ReflectorCandidate]
    /// One decision per input candidate, in input order.
    public var decisions: [FilterDecision]
    /// The configuration that produced this result.
    public var config: ReflectorFilterConfig

    /// A result.
    public init(kept: [ReflectorCandidate], decisions: [FilterDecision], config: ReflectorFilterConfig) {
        self.kept = kept
        self.decisions = decisions
        self.config = config
    }

    /// The decisions as text, one line per candidate: `kb:12  kept: rank 1, score 0.91`.
    public func explanation() -> String {
        let width = decisions.map(\.candidateID.count).max() ?? 0
        return decisions.map { $0.candidateID.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.reason }
            .joined(separator: "\n")
    }
}

/// The transparent filter stage: applies the rules of `ReflectorFilterConfig` and says why for each candidate.
public struct ReflectorFilter: Sendable {
    /// The rules' settings.
    public var config: ReflectorFilterConfig

    /// A filter with `config`.
    /// - Throws: `ReflectorError.invalidConfig` for out-of-range settings.
    public init(config: ReflectorFilterConfig = ReflectorFilterConfig()) throws {
        try config.validate()
        self.config = config
    }

    /// Decides on every candidate for `query`.
    ///
    /// Rules in order: non-finite score/embedding → invalid; leakage guard (own sample id, later steps of
    /// the own episode, a copy of the query) → leakage; score below threshold → threshold; then, in score
    /// order, cosine to a better-scored survivor at or above the limit → duplicate; then MMR picks up to
    /// `budget` items from the survivors; unpicked survivors are `diversity` drops if score alone would
    /// have kept them, `budget` drops otherwise. Ties keep input order. Deterministic.
    public func apply(query: ReflectorQuery, candidates: [ReflectorCandidate]) -> FilterResult {
        apply(query: query, candidates: candidates, cache: nil)
    }

    /// `apply(query:candidates:)`, taking what does not depend on the query (finiteness, unit vectors of each
    /// candidate's parts) from `cache` — the same decisions, bit for bit, at a lookup per repeated candidate.
    ///
    /// The cache must only ever see candidates of one knowledge source (their ids name one transition each).
    public func apply(query: ReflectorQuery, candidates: [ReflectorCandidate], cache: FilterCache?) -> FilterResult {
        var decisions = [FilterDecision?](repeating: nil, count: candidates.count)
        var survivors: [Int] = []
        let queryState = FilterVectors.average(query.state)
        let queryUnits = [queryState.flatMap(FilterVectors.unit), query.action.embedding.flatMap { FilterVectors.unit($0.values) }]
        var prepared = [PreparedCandidate?](repeating: nil, count: candidates.count)
        var state0s = [[Float]?](repeating: nil, count: candidates.count)
        for (i, c) in candidates.enumerated() {
            prepared[i] = cache?.prepared(c) ?? PreparedCandidate(c.transition)
            let decision = prepared[i].map { preparedRuleDecision(query: query, queryState: queryState, queryUnits: queryUnits, candidate: c, prepared: $0) }
                ?? fastRuleDecision(query: query, queryState: queryState, candidate: c, state0: &state0s[i])
            if let decision {
                decisions[i] = decision
            } else {
                survivors.append(i)
            }
        }
        // Score order, stable on input order.
        survivors.sort { candidates[$0].score != candidates[$1].score ? candidates[$0].score > candidates[$1].score : $0 < $1 }
        // Pairwise transition cosines of the survivors only, through BLAS (one Gram matrix per part).
        let parts: [(widths: [Int?], units: [[Float]?])] = survivors.map { i in
            if let p = prepared[i] { return (p.widths, p.units) }
            // A state with mixed modality widths: the original code stops here (State.averaged's precondition).
            let t = candidates[i].transition
            let vectors = [state0s[i] ?? FilterVectors.average(t.state0), t.action.embedding?.values, FilterVectors.average(t.state1)]
            return (vectors.map { $0?.count }, vectors.map { $0.flatMap(FilterVectors.unit) })
        }
        let similarity = PairwiseSimilarity(units: parts, indices: survivors, total: candidates.count)
        var changes = [Double?](repeating: nil, count: candidates.count)
        if config.outlierRatio != nil {
            for i in survivors {
                let t = candidates[i].transition
                changes[i] = prepared[i]?.changeNorm ?? FilterVectors.changeNorm(state0s[i] ?? FilterVectors.average(t.state0), FilterVectors.average(t.state1))
            }
        }
        return select(candidates: candidates, decisions: decisions, survivors: survivors, similarity: similarity, changeNorms: changes)
    }

    /// The filter as first written, on `Formats`' allocating vector helpers: the naive twin `apply` is tested against.
    func applyReference(query: ReflectorQuery, candidates: [ReflectorCandidate]) -> FilterResult {
        var decisions = [FilterDecision?](repeating: nil, count: candidates.count)
        var survivors: [Int] = []
        let queryState = query.state.averaged()
        for (i, c) in candidates.enumerated() {
            if let d = ruleDecision(query: query, queryState: queryState, candidate: c) {
                decisions[i] = d
            } else {
                survivors.append(i)
            }
        }
        survivors.sort { candidates[$0].score != candidates[$1].score ? candidates[$0].score > candidates[$1].score : $0 < $1 }
        let similarity = PairwiseSimilarity(survivors.map { candidates[$0].transition }, indices: survivors, total: candidates.count)
        var changes = [Double?](repeating: nil, count: candidates.count)
        for i in survivors {
            let t = candidates[i].transition
            if let a = t.state0.averaged(), let b = t.state1.averaged(), a.dim == b.dim {
                changes[i] = Double(Embedding(zip(b.values, a.values).map { $0 - $1 }).norm)
            }
        }
        return select(candidates: candidates, decisions: decisions, survivors: survivors, similarity: similarity, changeNorms: changes)
    }

    /// Duplicate collapse, MMR selection and the remaining decisions, given the rule decisions and the survivors
    /// in score order.
    private func select(
        candidates: [ReflectorCandidate], decisions: [FilterDecision?], survivors: [Int], similarity: PairwiseSimilarity,
        changeNorms: [Double?]
    ) -> FilterResult {
        var decisions = decisions
        // Near-duplicate collapse: keep the best-scored of each group.
        var distinct: [Int] = []
        for i in survivors {
            var best: (index: Int, cos: Double)?
            for j in distinct {
                let cos = similarity.cosine(i, j)
                if cos >= config.duplicateCosine, cos > (best?.cos ?? -.infinity) { best = (j, cos) }
            }
            if let best {
                decisions[i] = FilterDecision(
                    candidateID: candidates[i].id, score: candidates[i].score, verdict: .duplicate,
                    relatedID: candidates[best.index].id, cosine: best.cos,
                    reason: "dropped: duplicate of \(candidates[best.index].id) (cos \(fmt(best.cos, 3)))")
            } else {
                distinct.append(i)
            }
        }

        // Change outliers: far larger changes than the median of the best-scored `budget` distinct items.
        if let ratio = config.outlierRatio {
            let norms = distinct.prefix(config.budget).compactMap { changeNorms[$0] }.sorted()
            if norms.count >= 3 {
                let median = norms.count % 2 == 1 ? norms[norms.count / 2] : (norms[norms.count / 2 - 1] + norms[norms.count / 2]) / 2
                distinct = distinct.filter { i in
                    guard let n = changeNorms[i], n > ratio * median else { return true }
                    decisions[i] = FilterDecision(
                        candidateID: candidates[i].id, score: candidates[i].score, verdict: .outlier,
                        reason: "dropped: outlier (change \(fmt(n, 3)), more than \(fmt(ratio, 1))× the median \(fmt(median, 3)))")
                    return false
                }
            }
        }

        // MMR selection up to the budget.
        var selected: [Int] = []
        var remaining = distinct
        var maxSimilarity = [Double](repeating: 0, count: candidates.count)
        var closest = [Int?](repeating: nil, count: candidates.count)
        while selected.count < config.budget, !remaining.isEmpty {
            var bestPosition = 0
            var bestValue = -Double.infinity
            for (p, i) in remaining.enumerated() {
                let penalty = selected.isEmpty ? 0 : maxSimilarity[i]
                let value = config.mmrLambda * candidates[i].score - (1 - config.mmrLambda) * penalty
                if value > bestValue { bestValue = value; bestPosition = p }
            }
            let pick = remaining.remove(at: bestPosition)
            selected.append(pick)
            for i in remaining {
                let cos = similarity.cosine(i, pick)
                if closest[i] == nil || cos > maxSimilarity[i] { maxSimilarity[i] = cos; closest[i] = pick }
            }
        }
        for (r, i) in selected.enumerated() {
            decisions[i] = FilterDecision(
                candidateID: candidates[i].id, score: candidates[i].score, verdict: .kept, rank: r + 1,
                reason: "kept: rank \(r + 1), score \(fmt(candidates[i].score, 2))")
        }
        let byScore = Set(distinct.prefix(config.budget))
        for i in remaining {
            if byScore.contains(i), let j = closest[i] {
                decisions[i] = FilterDecision(
                    candidateID: candidates[i].id, score: candidates[i].score, verdict: .diversity,
                    relatedID: candidates[j].id, cosine: maxSimilarity[i],
                    reason: "dropped: diversity (MMR λ \(fmt(config.mmrLambda, 2)): too close to \(candidates[j].id), cos \(fmt(maxSimilarity[i], 3)))")
            } else {
                decisions[i] = FilterDecision(
                    candidateID: candidates[i].id, score: candidates[i].score, verdict: .budget,
                    reason: "dropped: over budget \(config.budget) (score \(fmt(candidates[i].score, 2)))")
            }
        }
        return FilterResult(kept: selected.map { candidates[$0] }, decisions: decisions.map { $0! }, config: config)
    }

    /// `ruleDecision` over a prepared candidate: the same rules and order; the copy-of-the-query check first
    /// compares unit vectors in Float and computes the exact Double cosines only when that comes within 1e-3.
    private func preparedRuleDecision(
        query: ReflectorQuery, queryState: [Float]?, queryUnits: [[Float]?], candidate c: ReflectorCandidate, prepared p: PreparedCandidate
    ) -> FilterDecision? {
        func drop(_ verdict: FilterDecision.Verdict, _ reason: String) -> FilterDecision {
            FilterDecision(candidateID: c.id, score: c.score, verdict: verdict, reason: "dropped: " + reason)
        }
        guard c.score.isFinite else { return drop(.invalid, "invalid (non-finite score)") }
        guard p.isFinite else { return drop(.invalid, "invalid (non-finite embedding)") }
        if config.leakageGuard {
            if let d = provenanceLeak(query: query, candidate: c) { return d }
            let limit = config.identicalCosine
            if limit <= 1, let a = queryState, let w = p.widths[0], a.count == w, let qa = query.action.embedding,
                let ca = c.transition.action.embedding, qa.dim == ca.dim,
                FilterVectors.mayReach(queryUnits[0], p.units[0], limit), FilterVectors.mayReach(queryUnits[1], p.units[1], limit),
                let b = FilterVectors.average(c.transition.state0),
                FilterVectors.cosineReaches(a, b, limit), FilterVectors.cosineReaches(qa.values, ca.values, limit)
            {
                return drop(.leakage, "leakage (same state and action as the query)")
            }
        }
        if c.score < config.threshold {
            return drop(.threshold, "below threshold \(fmt(config.threshold, 2)) (score \(fmt(c.score, 2)))")
        }
        return nil
    }

    /// `ruleDecision` on raw buffers: the same rules, order and arithmetic; the candidate's averaged state0 is
    /// left in `state0` when it was computed (for the pairwise cosines).
    private func fastRuleDecision(
        query: ReflectorQuery, queryState: [Float]?, candidate c: ReflectorCandidate, state0: inout [Float]?
    ) -> FilterDecision? {
        func drop(_ verdict: FilterDecision.Verdict, _ reason: String) -> FilterDecision {
            FilterDecision(candidateID: c.id, score: c.score, verdict: verdict, reason: "dropped: " + reason)
        }
        guard c.score.isFinite else { return drop(.invalid, "invalid (non-finite score)") }
        guard FilterVectors.isFinite(c.transition) else { return drop(.invalid, "invalid (non-finite embedding)") }
        if config.leakageGuard {
            if let d = provenanceLeak(query: query, candidate: c) { return d }
            if config.identicalCosine <= 1, let a = queryState {
                state0 = FilterVectors.average(c.transition.state0)
                if let b = state0, a.count == b.count, let qa = query.action.embedding, let ca = c.transition.action.embedding,
                    qa.dim == ca.dim, FilterVectors.cosineReaches(a, b, config.identicalCosine),
                    FilterVectors.cosineReaches(qa.values, ca.values, config.identicalCosine)
                {
                    return drop(.leakage, "leakage (same state and action as the query)")
                }
            }
        }
        if c.score < config.threshold {
            return drop(.threshold, "below threshold \(fmt(config.threshold, 2)) (score \(fmt(c.score, 2)))")
        }
        return nil
    }

    /// The leakage guard's provenance rules: the query's own sample, or a same or later step of its own episode.
    private func provenanceLeak(query: ReflectorQuery, candidate c: ReflectorCandidate) -> FilterDecision? {
        func drop(_ reason: String) -> FilterDecision {
            FilterDecision(candidateID: c.id, score: c.score, verdict: .leakage, reason: "dropped: " + reason)
        }
        let p = c.transition.provenance
        guard let q = query.provenance else { return nil }
        if p.dataset == q.dataset, p.sampleID == q.sampleID { return drop("leakage (query's own sample)") }
        if let episode = q.episode, p.dataset == q.dataset, p.episode == episode, let qs = q.step, let cs = p.step, cs >= qs {
            return drop(
                cs == qs
                    ? "leakage (same step \(cs) of the query's own episode \(episode))"
                    : "leakage (later step \(cs) of the query's own episode \(episode), query at step \(qs))")
        }
        return nil
    }

    /// The validity and leakage decision for one candidate, or nil when it passes both and the threshold.
    private func ruleDecision(query: ReflectorQuery, queryState: Formats.Embedding?, candidate c: ReflectorCandidate) -> FilterDecision? {
        func drop(_ verdict: FilterDecision.Verdict, _ reason: String) -> FilterDecision {
            FilterDecision(candidateID: c.id, score: c.score, verdict: verdict, reason: "dropped: " + reason)
        }
        guard c.score.isFinite else { return drop(.invalid, "invalid (non-finite score)") }
        guard ReflectorSimilarity.isFinite(c.transition) else { return drop(.invalid, "invalid (non-finite embedding)") }
        if config.leakageGuard {
            let p = c.transition.provenance
            if let q = query.provenance {
                if p.dataset == q.dataset, p.sampleID == q.sampleID { return drop(.leakage, "leakage (query's own sample)") }
                if let episode = q.episode, p.dataset == q.dataset, p.episode == episode, let qs = q.step, let cs = p.step, cs >= qs {
                    return drop(
                        .leakage,
                        cs == qs
                            ? "leakage (same step \(cs) of the query's own episode \(episode))"
                            : "leakage (later step \(cs) of the query's own episode \(episode), query at step \(qs))")
                }
            }
            if config.identicalCosine <= 1, let a = queryState, let b = c.transition.state0.averaged(), a.dim == b.dim,
                let qa = query.action.embedding, let ca = c.transition.action.embedding, qa.dim == ca.dim,
                a.cosine(b) >= config.identicalCosine, qa.cosine(ca) >= config.identicalCosine
            {
                return drop(.leakage, "leakage (same state and action as the query)")
            }
        }
        if c.score < config.threshold {
            return drop(.threshold, "below threshold \(fmt(config.threshold, 2)) (score \(fmt(c.score, 2)))")
        }
        return nil
    }
}

/// Transition cosines between a set of candidates: the mean, over the parts both have (avg state0, action,
/// avg state1), of the cosines of those parts — `ReflectorSimilarity.cosine`, computed as three Gram matrices
/// (`Kernels.gram`: each pair once, in a fixed order).
private struct PairwiseSimilarity {
    /// Row of each candidate index in the matrices (-1 when not included).
    private var row: [Int]
    private var n: Int
    /// Σ over common parts of the part cosines, n×n.
    private var sums: [Float]
    /// Number of common parts, n×n.
    private var counts: [UInt8]

    /// Empty sums for the candidates at `indices` (rows in that order) of `total` candidates.
    private init(indices: [Int], total: Int) {
        n = indices.count
        row = [Int](repeating: -1, count: total)
        for (r, i) in indices.enumerated() { row[i] = r }
        sums = [Float](repeating: 0, count: n * n)
        counts = [UInt8](repeating: 0, count: n * n)
    }

    init(_ transitions: [Transition], indices: [Int], total: Int) {
        self.init(indices: indices, total: total)
        guard n > 0 else { return }
        let parts: [(Transition) -> Formats.Embedding?] = [{ $0.state0.averaged() }, { $0.action.embedding }, { $0.state1.averaged() }]
        for part in parts {
            let vectors = transitions.map(part)
            // The part's width: the first present one; other widths count as absent.
            guard let width = vectors.compactMap({ $0?.dim }).first, width > 0 else { continue }
            var matrix = [Float](repeating: 0, count: n * width)
            var present = [Bool](repeating: false, count: n)
            for (r, v) in vectors.enumerated() {
                guard let v, v.dim == width, v.norm > 0 else { continue }
                present[r] = true
                let unit = v.normalized().values
                matrix.replaceSubrange((r * width)..<((r + 1) * width), with: unit)
            }
            var gram = [Float](repeating: 0, count: n * n)
            matrix.withUnsafeBufferPointer { m in
                gram.withUnsafeMutableBufferPointer { g in
                    guard let a = m.baseAddress, let c = g.baseAddress else { return }
                    Kernels.gram(out: c, rows: a, count: n, dim: width)
                }
            }
            accumulate(gram, present: present)
        }
    }

    /// The same matrices from each survivor's prepared parts (`units[r]`: the width and unit vector of each part,
    /// computed as `normalized()` does) — the arithmetic of the initializer above, value for value.
    init(units: [(widths: [Int?], units: [[Float]?])], indices: [Int], total: Int) {
        self.init(indices: indices, total: total)
        guard n > 0 else { return }
        // Each part's width: the first present one; other widths count as absent.
        let widths = (0..<3).map { part in units.lazy.compactMap({ $0.widths[part] }).first }
        // One buffer for the three parts: a row a part lacks keeps whatever an earlier part left there, which only
        // reaches Gram entries that `accumulate` skips (the row is not present).
        var matrix = [Float](repeating: 0, count: n * (widths.compactMap { $0 }.max() ?? 0))
        var gram = [Float](repeating: 0, count: n * n)
        for part in 0..<3 {
            guard let width = widths[part], width > 0 else { continue }
            var present = [Bool](repeating: false, count: n)
            matrix.withUnsafeMutableBufferPointer { m in
                guard let base = m.baseAddress else { return }
                for (r, u) in units.enumerated() {
                    guard u.widths[part] == width, let unit = u.units[part] else { continue }
                    unit.withUnsafeBufferPointer { src in (base + r * width).update(from: src.baseAddress!, count: width) }
                    present[r] = true
                }
                gram.withUnsafeMutableBufferPointer { g in
                    guard let c = g.baseAddress else { return }
                    Kernels.gram(out: c, rows: base, count: n, dim: width)
                }
            }
            accumulate(gram, present: present)
        }
    }

    /// Adds one part's Gram matrix into the sums where both rows have the part.
    private mutating func accumulate(_ gram: [Float], present: [Bool]) {
        for i in 0..<n where present[i] {
            for j in 0..<n where present[j] {
                sums[i * n + j] += gram[i * n + j]
                counts[i * n + j] += 1
            }
        }
    }

    /// The transition cosine of candidates `i` and `j` (indices into the filter's input).
    func cosine(_ i: Int, _ j: Int) -> Double {
        let a = row[i], b = row[j]
        guard a >= 0, b >= 0 else { return 0 }
        let c = counts[a * n + b]
        return c == 0 ? 0 : Double(sums[a * n + b]) / Double(c)
    }
}

/// `value` with `digits` decimals, e.g. `fmt(0.8125, 2) == "0.81"`: exactly what `String(format: "%.Nf")` prints.
///
/// Reasons are formatted for every candidate at every step, and Foundation's formatter costs about a microsecond a
/// call; so values whose rounding is unambiguous are rounded here, and only those within 1e-6 of a tie (where the
/// rounded product `|value|·10ᴺ`, off by at most 1e-7 below 1e9, could land on the wrong side) go to Foundation.
func fmt(_ value: Double, _ digits: Int) -> String {
    let powers: [Double] = [1, 10, 100, 1_000, 10_000, 100_000, 1_000_000]
    guard digits >= 0, digits < powers.count, value.isFinite else { return String(format: "%.\(digits)f", value) }
    let scaled = abs(value) * powers[digits]
    let whole = scaled.rounded(.down)
    let fraction = scaled - whole
    guard scaled < 1e9, abs(fraction - 0.5) > 1e-6 else { return String(format: "%.\(digits)f", value) }
    let n = Int(whole) + (fraction > 0.5 ? 1 : 0)
    let unit = Int(powers[digits])
    var text = value.sign == .minus ? "-" : ""
    text += String(n / unit)
    if digits > 0 {
        let decimals = String(n % unit)
        text += "." + String(repeating: "0", count: digits - decimals.count) + decimals
    }
    return text
}
