// Recall: the top-k past steps by a weighted sum of state similarity, action similarity and recency,
// computed exactly over every stored step's keys (SIMD scan, split over threads), filters applied in the scan.
import Formats
import Foundation
import GRDB
import Retrieval

extension EpisodeStore {
    /// How many recall keys came from the memory-mapped key files (the rest were read from SQLite); a diagnostic.
    public var recallKeysFromFiles: Int { keyCache?.mappedCount ?? 0 }

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
        let workers = max(1, min(threads, total / 8192))
        var partial = [TopK](repeating: TopK(k: k), count: workers)
        stateKey.withUnsafeBufferPointer { sq in
            actionKey.withUnsafeBufferPointer { aq in
                cache.stepIDs.withUnsafeBufferPointer { stepIDs in
                    cache.episodeIDs.withUnsafeBufferPointer { episodeIDs in
                        partial.withUnsafeMutableBufferPointer { tops in
                            cache.withSegments { sKeys, aKeys, first, n in
                                parallelFor(workers) { w in
                                    let lo = n * w / workers, hi = n * (w + 1) / workers
                                    let block = 4096
                                    let s = UnsafeMutablePointer<Float>.allocate(capacity: block)
                                    let a = UnsafeMutablePointer<Float>.allocate(capacity: block)
                                    defer { s.deallocate(); a.deallocate() }
                                    var start = lo
                                    while start < hi {
                                        let len = min(block, hi - start)
                                        if useState {
                                            DotKernel.scores(query: sq.baseAddress!, rows: sKeys + start * dim, rowCount: len, dim: dim, out: s)
                                            for j in 0..<len { s[j] *= weights.state }
                                        } else {
                                            s.initialize(repeating: 0, count: len)
                                        }
                                        if useAction {
                                            DotKernel.scores(query: aq.baseAddress!, rows: aKeys + start * actionWidth, rowCount: len, dim: actionWidth, out: a)
                                            for j in 0..<len { s[j] += weights.action * a[j] }
                                        }
                                        for j in 0..<len {
                                            let row = first + start + j
                                            var score = s[j]
                                            if useRecency { score += weights.recency * exp2f(-Float(total - 1 - row) / weights.halfLife) }
                                            guard score >= tops[w].threshold else { continue }
                                            let id = stepIDs[row]
                                            if let episodeFilter, episodeIDs[row] != episodeFilter { continue }
                                            if let before, id >= before { continue }
                                            if !excluded.isEmpty, excluded.contains(id) { continue }
                                            tops[w].push(score, Int64(row))
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
        var merged = partial[0]
        for w in 1..<workers { merged.merge(partial[w]) }
        let winners = merged.sorted()
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
