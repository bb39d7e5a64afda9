// Approximate inner-product index: a hierarchical navigable small-world graph (Malkov & Yashunin), with the
// neighbour-selection heuristic, tombstone deletes, multi-threaded construction (striped node locks) and
// a flat binary file. Layout: N×D vectors, level-0 links N×(2M+1) Int32 (count first), upper levels packed.
import Foundation
import Glibc

/// HNSW over inner product. Recall is measured in tests and benchmarks, never assumed.
///
/// `add` may use `buildThreads` threads; searches are single-threaded per query and must not overlap an `add`.
public final class HNSWIndex: VectorIndex {
    public let dim: Int
    /// Links per node on upper levels (level 0 keeps up to 2·M).
    public let M: Int
    /// Candidate list size while inserting.
    public let efConstruction: Int
    /// Candidate list size while searching (raised to k when smaller).
    public var efSearch: Int
    /// Threads used by `add` for batches of at least 1,000 vectors.
    public var buildThreads: Int

    var maxM0: Int { 2 * M }
    var stride0: Int { 2 * M + 1 }
    var strideUpper: Int { M + 1 }

    private(set) var vectors: [Float] = []
    private(set) var labels: [Int64] = []
    private(set) var levels: [Int32] = []
    private(set) var links0: [Int32] = []
    private(set) var upperOffset: [Int] = []
    private(set) var upperLinks: [Int32] = []
    private(set) var deleted: [Bool] = []
    private var nodeOf: [Int64: Int32] = [:]
    private var deletedCount = 0
    private(set) var entryPoint: Int32 = -1
    private(set) var maxLevel: Int32 = -1
    private var levelState: UInt64
    private let scratchPool = ScratchPool()

    /// An empty index.
    /// - Parameters:
    ///   - M: links per node (16 is the usual choice); efConstruction: insert-time beam (200 typical).
    ///   - seed: seeds the random level of each node.
    public init(dim: Int, M: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, buildThreads: Int = 2, seed: UInt64 = 100) {
        precondition(dim > 0 && M >= 2 && efConstruction >= 1 && efSearch >= 1, "HNSW parameters out of range")
        self.dim = dim
        self.M = M
        self.efConstruction = efConstruction
        self.efSearch = efSearch
        self.buildThreads = max(1, buildThreads)
        levelState = seed
    }

    /// Stored vectors minus deleted ones.
    public var count: Int { labels.count - deletedCount }

    private func nextLevel() -> Int32 {
        levelState &+= 0x9E37_79B9_7F4A_7C15
        var z = levelState
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        let u = max(Double(z >> 11) / Double(1 << 53), 1e-12)
        return Int32(min(16.0, (-log(u) / log(Double(M))).rounded(.down)))
    }

    public func add(ids newIDs: [Int64], vectors newVectors: [Float]) throws {
        _ = try validateBatch(newVectors, dim: dim, expectedRows: newIDs.count, context: "HNSWIndex.add")
        var seen = Set<Int64>()
        for id in newIDs where nodeOf[id] != nil || !seen.insert(id).inserted { throw RetrievalError.duplicateID(id) }
        guard labels.count + newIDs.count < Int(Int32.max) else { throw RetrievalError.invalidArgument("HNSWIndex holds at most 2^31 vectors") }
        let first = labels.count
        let n = newIDs.count
        vectors.append(contentsOf: newVectors)
        labels.append(contentsOf: newIDs)
        deleted.append(contentsOf: repeatElement(false, count: n))
        links0.append(contentsOf: repeatElement(0, count: n * stride0))
        for (i, id) in newIDs.enumerated() {
            nodeOf[id] = Int32(first + i)
            let level = nextLevel()
            levels.append(level)
            if level > 0 {
                upperOffset.append(upperLinks.count)
                upperLinks.append(contentsOf: repeatElement(0, count: Int(level) * strideUpper))
            } else {
                upperOffset.append(-1)
            }
        }
        var start = first
        if entryPoint < 0, n > 0 {
            entryPoint = Int32(first)
            maxLevel = levels[first]
            start += 1
        }
        let threads = n >= 1000 ? buildThreads : 1
        withGraph { g in
            let next = UnsafeMutablePointer<Int>.allocate(capacity: 1)
            next.initialize(to: start)
            defer { next.deallocate() }
            let counter = UncheckedSendable(value: next)
            parallelFor(threads) { _ in
                var scratch = SearchScratch(capacity: g.count)
                while true {
                    g.locks.lockGlobalCounter()
                    let node = counter.value.pointee
                    counter.value.pointee += 1
                    g.locks.unlockGlobalCounter()
                    guard node < first + n else { break }
                    g.insert(Int32(node), scratch: &scratch)
                }
            }
        }
    }

    func restore(labels: [Int64], levels: [Int32], deleted: [Bool], upperOffset: [Int], links0: [Int32], upperLinks: [Int32],
                 vectors: [Float], entryPoint: Int32, maxLevel: Int32, path: String) throws {
        self.labels = labels
        self.levels = levels
        self.deleted = deleted
        self.upperOffset = upperOffset
        self.links0 = links0
        self.upperLinks = upperLinks
        self.vectors = vectors
        self.entryPoint = entryPoint
        self.maxLevel = maxLevel
        deletedCount = deleted.filter { $0 }.count
        for (i, id) in labels.enumerated() {
            guard nodeOf.updateValue(Int32(i), forKey: id) == nil else {
                throw RetrievalError.corruptIndexFile(path: path, reason: "duplicate id \(id)")
            }
        }
    }

    /// Level-0 link lists, for tests: (node label, neighbour labels).
    public var levelZeroNeighbors: [Int64: [Int64]] {
        var out = [Int64: [Int64]]()
        for i in 0..<labels.count {
            let base = i * stride0
            out[labels[i]] = (0..<Int(links0[base])).map { labels[Int(links0[base + 1 + $0])] }
        }
        return out
    }

    @discardableResult
    public func remove(ids: [Int64]) -> Int {
        var removed = 0
        for id in ids {
            guard let node = nodeOf[id], !deleted[Int(node)] else { continue }
            deleted[Int(node)] = true  // tombstone: still traversed, never returned
            deletedCount += 1
            removed += 1
        }
        return removed
    }

    public func search(_ queries: [Float], k: Int, filter: SearchFilter?) throws -> [[SearchResult]] {
        let nq = try validateBatch(queries, dim: dim, expectedRows: nil, context: "HNSWIndex.search query")
        guard k >= 1 else { throw RetrievalError.invalidArgument("k must be at least 1, got \(k)") }
        guard entryPoint >= 0 else { return Array(repeating: [], count: nq) }
        var mask: [UInt64]?
        if let filter, filter.allowedIDs != nil || !filter.excludedIDs.isEmpty {
            var words = [UInt64](repeating: filter.allowedIDs == nil ? ~0 : 0, count: (labels.count + 63) / 64)
            if let allowed = filter.allowedIDs {
                for id in allowed { if let n = nodeOf[id] { words[Int(n) >> 6] |= 1 << UInt64(n & 63) } }
            }
            for id in filter.excludedIDs { if let n = nodeOf[id] { words[Int(n) >> 6] &= ~(1 << UInt64(n & 63)) } }
            mask = words
        }
        let ef = max(efSearch, k)
        return withGraph { g in
            // Reused across calls: allocating and zeroing the N-sized visited list and heaps per query cost as much as the search.
            var scratch = scratchPool.take(capacity: g.count)
            defer { scratchPool.give(scratch) }
            return queries.withUnsafeBufferPointer { q in
                mask.withOptionalPointer { m in
                    (0..<nq).map { qi in g.searchKNN(q.baseAddress! + qi * dim, k: k, ef: ef, mask: m, scratch: &scratch) }
                }
            }
        }
    }

    /// Runs `body` with raw views of the graph arrays (valid only inside).
    private func withGraph<R>(_ body: (Graph) -> R) -> R {
        let locks = StripedLocks.shared
        return vectors.withUnsafeBufferPointer { v in
            links0.withUnsafeMutableBufferPointer { l0 in
                upperLinks.withUnsafeMutableBufferPointer { up in
                    upperOffset.withUnsafeBufferPointer { uo in
                        levels.withUnsafeBufferPointer { lv in
                            deleted.withUnsafeBufferPointer { del in
                                labels.withUnsafeBufferPointer { lab in
                                    withUnsafeMutablePointer(to: &entryPoint) { ep in
                                        withUnsafeMutablePointer(to: &maxLevel) { ml in
                                            body(Graph(
                                                dim: dim, M: M, efConstruction: efConstruction, count: labels.count,
                                                vectors: v.baseAddress!, links0: l0.baseAddress!, upper: up.baseAddress, upperOffset: uo.baseAddress!,
                                                levels: lv.baseAddress!, deleted: del.baseAddress!, labels: lab.baseAddress!,
                                                entryPoint: ep, maxLevel: ml, locks: locks))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Node locks, striped (node % 4096), plus a lock for the entry point and one for the work counter.
final class StripedLocks: @unchecked Sendable {
    static let shared = StripedLocks()
    let count = 4096
    let locks: UnsafeMutablePointer<pthread_mutex_t>

    init() {
        locks = .allocate(capacity: count + 2)
        for i in 0..<(count + 2) { pthread_mutex_init(locks + i, nil) }
    }

    @inline(__always) func lock(_ node: Int32) { pthread_mutex_lock(locks + Int(node) % count) }
    @inline(__always) func unlock(_ node: Int32) { pthread_mutex_unlock(locks + Int(node) % count) }
    func lockGlobal() { pthread_mutex_lock(locks + count) }
    func unlockGlobal() { pthread_mutex_unlock(locks + count) }
    func lockGlobalCounter() { pthread_mutex_lock(locks + count + 1) }
    func unlockGlobalCounter() { pthread_mutex_unlock(locks + count + 1) }
}

/// Search scratch kept between searches (a few, for concurrent searchers); one sized for fewer nodes is dropped.
final class ScratchPool: @unchecked Sendable {
    private var items: [SearchScratch] = []
    private let lock = NSLock()

    func take(capacity: Int) -> SearchScratch {
        lock.lock()
        defer { lock.unlock() }
        while let s = items.popLast() { if s.visited.count == capacity { return s } }
        return SearchScratch(capacity: capacity)
    }

    func give(_ scratch: SearchScratch) {
        lock.lock()
        if items.count < 4 { items.append(scratch) }
        lock.unlock()
    }
}

/// Per-thread search state: visited tags and the two heaps, reused across searches.
struct SearchScratch {
    var visited: [UInt32]
    var tag: UInt32 = 0
    var candidates = PairHeap(max: true)
    var top = PairHeap(max: false)
    var neighbors: [Int32] = []
    /// Heap storage for the C beam search: candidates (≤ N + 1 entries) and results (≤ N + 1).
    var candidateSims: [Float]
    var candidateNodes: [Int32]
    var resultSims: [Float]
    var resultNodes: [Int32]

    init(capacity: Int) {
        visited = [UInt32](repeating: 0, count: capacity)
        candidateSims = [Float](repeating: 0, count: capacity + 1)
        candidateNodes = [Int32](repeating: 0, count: capacity + 1)
        resultSims = [Float](repeating: 0, count: capacity + 1)
        resultNodes = [Int32](repeating: 0, count: capacity + 1)
    }

    mutating func nextTag() {
        tag &+= 1
        if tag == 0 {
            for i in visited.indices { visited[i] = 0 }
            tag = 1
        }
    }
}

/// A binary heap of (similarity, node): a max-heap (best first) or a min-heap (worst first).
struct PairHeap {
    let max: Bool
    var sims: [Float] = []
    var nodes: [Int32] = []

    init(max: Bool) { self.max = max }

    var count: Int { sims.count }
    var topSim: Float { sims[0] }
    var topNode: Int32 { nodes[0] }

    @inline(__always)  // heap order test, in the innermost graph loop.
    func above(_ a: Int, _ b: Int) -> Bool { max ? sims[a] > sims[b] : sims[a] < sims[b] }

    mutating func removeAll() { sims.removeAll(keepingCapacity: true); nodes.removeAll(keepingCapacity: true) }

    mutating func push(_ s: Float, _ n: Int32) {
        sims.append(s); nodes.append(n)
        var i = sims.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard above(i, p) else { break }
            sims.swapAt(i, p); nodes.swapAt(i, p)
            i = p
        }
    }

    @discardableResult
    mutating func pop() -> (Float, Int32) {
        let result = (sims[0], nodes[0])
        let last = sims.count - 1
        sims[0] = sims[last]; nodes[0] = nodes[last]
        sims.removeLast(); nodes.removeLast()
        var i = 0
        let n = sims.count
        while true {
            let l = 2 * i + 1, r = l + 1
            var m = i
            if l < n && above(l, m) { m = l }
            if r < n && above(r, m) { m = r }
            if m == i { break }
            sims.swapAt(i, m); nodes.swapAt(i, m)
            i = m
        }
        return result
    }
}

/// Raw views of an index's arrays for the graph algorithms (build and search).
struct Graph: @unchecked Sendable {
    let dim: Int, M: Int, efConstruction: Int, count: Int
    let vectors: UnsafePointer<Float>
    let links0: UnsafeMutablePointer<Int32>
    let upper: UnsafeMutablePointer<Int32>?
    let upperOffset: UnsafePointer<Int>
    let levels: UnsafePointer<Int32>
    let deleted: UnsafePointer<Bool>
    let labels: UnsafePointer<Int64>
    let entryPoint: UnsafeMutablePointer<Int32>
    let maxLevel: UnsafeMutablePointer<Int32>
    let locks: StripedLocks

    @inline(__always)  // address arithmetic.
    func vector(_ n: Int32) -> UnsafePointer<Float> { vectors + Int(n) * dim }

    /// The link list of `node` at `level`: element 0 is the count.
    @inline(__always)  // address arithmetic.
    func list(_ node: Int32, _ level: Int32) -> UnsafeMutablePointer<Int32> {
        level == 0 ? links0 + Int(node) * (2 * M + 1) : upper! + upperOffset[Int(node)] + Int(level - 1) * (M + 1)
    }

    @inline(__always)  // the distance of every graph step.
    func sim(_ q: UnsafePointer<Float>, _ n: Int32) -> Float { DotKernel.dot(q, vector(n), dim) }

    /// Copies a node's neighbours at `level` under its lock (`locked`) or directly (searches).
    @inline(__always)  // per expanded node.
    func neighbors(_ node: Int32, _ level: Int32, into out: inout [Int32], locked: Bool) {
        out.removeAll(keepingCapacity: true)
        if locked { locks.lock(node) }
        let l = list(node, level)
        let n = Int(l[0])
        for i in 0..<n { out.append(l[1 + i]) }
        if locked { locks.unlock(node) }
    }

    /// Greedy descent on one level from `start`: the node most similar to `q`.
    func greedy(_ q: UnsafePointer<Float>, from start: Int32, level: Int32, locked: Bool, scratch: inout SearchScratch) -> Int32 {
        var current = start
        var best = sim(q, current)
        var changed = true
        while changed {
            changed = false
            neighbors(current, level, into: &scratch.neighbors, locked: locked)
            for nb in scratch.neighbors {
                let s = sim(q, nb)
                if s > best { best = s; current = nb; changed = true }
            }
        }
        return current
    }

    /// Beam search on one level; leaves the `ef` best in `scratch.top` (a min-heap). Masked / deleted nodes are
    /// traversed but only enter `top` when admitted. Runs in C (`wgk_hnsw_search_layer`, through Native/).
    func searchLayer(_ q: UnsafePointer<Float>, entry: Int32, ef: Int, level: Int32, locked: Bool, mask: UnsafePointer<UInt64>?, skipDeleted: Bool, scratch: inout SearchScratch) {
        scratch.nextTag()
        NativeKernels.hnswSearchLayer(self, q, entry: entry, ef: ef, level: level, locked: locked, mask: mask, skipDeleted: skipDeleted, scratch: &scratch)
    }

    /// The heuristic of the HNSW paper (Alg. 4): keep a candidate only if it is closer to the base than to
    /// every neighbour kept so far. `pairs` is sorted best first. Runs in C (`wgk_hnsw_select`).
    func selectNeighbors(_ pairs: [(Float, Int32)], max: Int) -> [Int32] {
        if pairs.count <= max { return pairs.map(\.1) }
        return NativeKernels.hnswSelect(self, sims: pairs.map(\.0), nodes: pairs.map(\.1), max: max)
    }

    /// Inserts `node` (its vector and level are already stored).
    func insert(_ node: Int32, scratch: inout SearchScratch) {
        let q = vector(node)
        let level = levels[Int(node)]
        locks.lockGlobal()
        var ep = entryPoint.pointee
        let top = maxLevel.pointee
        let raisesTop = level > top
        if !raisesTop { locks.unlockGlobal() }  // else hold the global lock for the whole insertion (rare)
        // Node locks are striped and only ever held one at a time (never across a search), so two threads
        // can never wait on each other, and a node never waits on its own stripe.
        defer {
            if raisesTop {
                entryPoint.pointee = node
                maxLevel.pointee = level
                locks.unlockGlobal()
            }
        }
        var l = top
        while l > level { ep = greedy(q, from: ep, level: l, locked: true, scratch: &scratch); l -= 1 }
        l = min(level, top)
        while l >= 0 {
            searchLayer(q, entry: ep, ef: efConstruction, level: l, locked: true, mask: nil, skipDeleted: false, scratch: &scratch)
            var pairs = [(Float, Int32)]()
            pairs.reserveCapacity(scratch.top.count)
            while scratch.top.count > 0 { pairs.append(scratch.top.pop()) }
            pairs.reverse()  // best first
            let chosen = selectNeighbors(pairs, max: M)
            locks.lock(node)
            let mine = list(node, l)
            mine[0] = Int32(chosen.count)
            for (i, c) in chosen.enumerated() { mine[1 + i] = c }
            locks.unlock(node)
            let cap = l == 0 ? 2 * M : M
            for c in chosen where c != node {
                locks.lock(c)
                let theirs = list(c, l)
                let n = Int(theirs[0])
                if n < cap {
                    theirs[1 + n] = node
                    theirs[0] = Int32(n + 1)
                } else {
                    NativeKernels.hnswRelink(self, c, newNode: node, cap: cap, list: theirs)
                }
                locks.unlock(c)
            }
            if let best = pairs.first { ep = best.1 }
            l -= 1
        }
    }

    /// k nearest by inner product (search time: no locks).
    func searchKNN(_ q: UnsafePointer<Float>, k: Int, ef: Int, mask: UnsafePointer<UInt64>?, scratch: inout SearchScratch) -> [SearchResult] {
        var ep = entryPoint.pointee
        var l = maxLevel.pointee
        while l > 0 { ep = greedy(q, from: ep, level: l, locked: false, scratch: &scratch); l -= 1 }
        searchLayer(q, entry: ep, ef: ef, level: 0, locked: false, mask: mask, skipDeleted: true, scratch: &scratch)
        while scratch.top.count > k { scratch.top.pop() }
        var out = [SearchResult]()
        while scratch.top.count > 0 {
            let (s, n) = scratch.top.pop()
            out.append(SearchResult(id: labels[Int(n)], score: s))
        }
        return out.reversed()
    }
}
