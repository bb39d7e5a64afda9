// Recall: the top-k past steps by a weighted sum of state similarity, action similarity and recency,
// exact: an int8 scan with error bounds over every stored step, then exact float re-scoring of the survivors.
import Formats
import Foundation
import GRDB
import Retrieval

extension EpisodeStore {
    /// How many recall keys came from the memory-mapped key files (the rest were read from SQLite); a diagnostic.
    public var recallKeysFromFiles: Int { keyCache?.mappedCount ?? 0 }

    /// How many steps the last `recall` re-scored exactly after the int8 pass (the rest were ruled out by their bounds).
    public var lastRecallCandidateCount: Int { keyCache?.lastCandidateCount ?? 0 }

    /// Loads (or refreshes) the recall keys; later `append` calls keep them current.
    public func prepareRecall() throws {
        if let cache = keyCache, cache.actionDim == (actionDim ?? 0), try pruneGeneration() == cache.generation {
            try cache.catchUp(store: self)
        } else {
            keyCache = try KeyCache.open(store: self)
        }
    }

    /// The `k` best past steps for `query` under `weights`, best first, each with its score parts.
    ///
    /// Exact: every admitted step is scored; the episode / exclusion / before filters are applied while
    /// scanning (a step that fails them never enters the top-k).
    /// - Parameter threads: scan threads.
    /// - Throws: `StoreError` on a wrong query dimension, NaN, or k < 1.
    public func recall(_ query: RecallQuery, k: Int, weights: RecallWeights = RecallWeights(), threads: Int = 2) throws -> [RecalledStep] {
        guard k >= 1 else { throw StoreError.invalidArgument("k must be at least 1, got \(k)") }
        guard weights.halfLife > 0, weights.state.isFinite, weights.action.isFinite, weights.recency.isFinite else {
            throw StoreError.invalidArgument("recall weights must be finite and the half-life positive")
        }
        for modality in query.state.modalities { try check(query.state[modality]!, field: "recall query \(modality)") }
        if let a = query.action, let actionDim { try check(a, expected: actionDim, field: "recall query action") }
        try prepareRecall()
        guard let cache = keyCache, cache.count > 0 else { return [] }

        let stateKey = recallKey(of: query.state, dim: dim)
        let actionWidth = cache.actionDim
        let actionKey = query.action.map { normalizedOrZero($0.values) } ?? [Float](repeating: 0, count: max(actionWidth, 1))
        var episodeFilter: Int64?
        if let name = query.episode {
            guard let id = try episodeIDs(named: [name])[name] else { return [] }
            episodeFilter = id
        }
        let total = cache.count, dim = dim
        let useState = weights.state != 0, useAction = weights.action != 0 && query.action != nil && actionWidth > 0, useRecency = weights.recency != 0
        let excluded = query.excludedStepIDs, before = query.beforeStepID
        // Pass 1 scores every step from its int8 key (a quarter of the bytes of the float keys) and keeps, per
        // step, an interval [approx − slack, approx + slack] that surely holds its exact score (see `quantize`).
        // A step whose upper end is below the k-th best lower end cannot be in the top k; the rest are re-scored
        // exactly from the float keys in pass 2, so the result equals a full float scan.
        // Query keys as signed codes: pass 1 computes exact integer dots with the stored unsigned codes (VNNI).
        let qState = QueryCodes(stateKey), qAction = QueryCodes(actionKey)
        let stateOffset = 128 * qState.sum, actionOffset = 128 * qAction.sum
        let stateScale = qState.scale, actionScale = qAction.scale
        let wState = abs(weights.state), wAction = abs(weights.action)
        let combineSlack = 4e-6 * (abs(weights.state) + abs(weights.action) + abs(weights.recency)) + 1e-30
        let workers = max(1, min(threads, total / 8192))
        var lowers = [TopK](repeating: TopK(k: k), count: workers)
        var candidates = [[(row: Int, upper: Float)]](repeating: [], count: workers)
        stateKey.withUnsafeBufferPointer { sq in
            actionKey.withUnsafeBufferPointer { aq in
                cache.stepIDs.withUnsafeBufferPointer { stepIDs in
                    cache.episodeIDs.withUnsafeBufferPointer { episodeIDs in
                        lowers.withUnsafeMutableBufferPointer { tops in
                            candidates.withUnsafeMutableBufferPointer { cands in
                                cache.withCompactSegments { seg in
                                    let n = seg.count
                                    parallelFor(workers) { w in
                                        let lo = n * w / workers, hi = n * (w + 1) / workers
                                        let block = 4096
                                        let s = UnsafeMutablePointer<Int32>.allocate(capacity: block)
                                        let a = UnsafeMutablePointer<Int32>.allocate(capacity: block)
                                        defer { s.deallocate(); a.deallocate() }
                                        var start = lo
                                        while start < hi {
                                            let len = min(block, hi - start)
                                            if useState { qState.codes.withUnsafeBufferPointer { DotKernel.dotsUnsignedSigned(query: $0.baseAddress!, rows: seg.codesState + start * dim, rowCount: len, dim: dim, out: s) } }
                                            if useAction { qAction.codes.withUnsafeBufferPointer { DotKernel.dotsUnsignedSigned(query: $0.baseAddress!, rows: seg.codesAction + start * actionWidth, rowCount: len, dim: actionWidth, out: a) } }
                                            for j in 0..<len {
                                                let local = start + j, row = seg.first + local
                                                let b = seg.bounds + local * KeyCache.boundsPerRow
                                                var approx: Float = 0, slack = combineSlack
                                                // |f(q,x) − q̂·x̂| ≤ |q|·err + |q − q̂|·|x̂|, plus 1e-6·|q|·|x̂| for the float products here.
                                                if useState {
                                                    approx = weights.state * (stateScale * (b[0] * Float(s[j] - stateOffset)))
                                                    slack += wState * (qState.norm * b[1] + qState.error * b[2] + 1e-6 * qState.norm * b[2])
                                                }
                                                if useAction {
                                                    approx += weights.action * (actionScale * (b[3] * Float(a[j] - actionOffset)))
                                                    slack += wAction * (qAction.norm * b[4] + qAction.error * b[5] + 1e-6 * qAction.norm * b[5])
                                                }
                                                if useRecency { approx += weights.recency * exp2f(-Float(total - 1 - row) / weights.halfLife) }
                                                let upper = approx + slack
                                                guard upper >= tops[w].threshold else { continue }
                                                let id = stepIDs[row]
                                                if let episodeFilter, episodeIDs[row] != episodeFilter { continue }
                                                if let before, id >= before { continue }
                                                if !excluded.isEmpty, excluded.contains(id) { continue }
                                                tops[w].push(approx - slack, Int64(row))
                                                cands[w].append((row, upper))
                                            }
                                            start += len
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        var bound = lowers[0]
        for w in 1..<workers { bound.merge(lowers[w]) }
        let threshold = bound.threshold
        // Pass 2: exact scores of the surviving candidates, from the float keys.
        var exact = TopK(k: k)
        var rescored = 0
        stateKey.withUnsafeBufferPointer { sq in
            actionKey.withUnsafeBufferPointer { aq in
                cache.withCompactSegments { seg in
                    for list in candidates {
                        for c in list where c.upper >= threshold && c.row >= seg.first && c.row < seg.first + seg.count {
                            let local = c.row - seg.first
                            var score: Float = 0
                            if useState { score = weights.state * DotKernel.dot(sq.baseAddress!, seg.state + local * dim, dim) }
                            if useAction { score += weights.action * DotKernel.dot(aq.baseAddress!, seg.action + local * actionWidth, actionWidth) }
                            if useRecency { score += weights.recency * exp2f(-Float(total - 1 - c.row) / weights.halfLife) }
                            exact.push(score, Int64(c.row))
                            rescored += 1
                        }
                    }
                }
            }
        }
        cache.lastCandidateCount = rescored
        let winners = exact.sorted()
        let names = try episodeNames(ids: Set(winners.map { cache.episodeIDs[Int($0.id)] }))
        return winners.map { hit in
            let row = Int(hit.id)
            let keys = cache.keys(row: row)
            let sState = keys.state.withUnsafeBufferPointer { k in stateKey.withUnsafeBufferPointer { DotKernel.dot($0.baseAddress!, k.baseAddress!, dim) } }
            let sAction = query.action == nil || actionWidth == 0 ? 0 : keys.action.withUnsafeBufferPointer { k in actionKey.withUnsafeBufferPointer { DotKernel.dot($0.baseAddress!, k.baseAddress!, actionWidth) } }
            let ago = Int64(total - 1 - row)
            return RecalledStep(
                stepID: cache.stepIDs[row], episode: names[cache.episodeIDs[row]] ?? "?", index: Int(cache.indexes[row]),
                score: hit.score, stateSimilarity: sState, actionSimilarity: sAction,
                recency: exp2f(-Float(ago) / weights.halfLife), stepsAgo: ago, weights: weights)
        }
    }

    func episodeNames(ids: Set<Int64>) throws -> [Int64: String] {
        try read { db in
            var out = [Int64: String]()
            for id in ids { out[id] = try String.fetchOne(db, sql: "SELECT name FROM episodes WHERE id = ?", arguments: [id]) }
            return out
        }
    }
}
