// Multi-step rollouts over a batch of episodes: lock-step, resumable from the store, traced line by line.
import ContextReflector
import Formats
import Foundation
import Memory
import WorldModel

/// What one episode of a rollout does: where it starts, its actions, and the truth when known.
public struct EpisodePlan: Sendable {
    /// The episode's name in the store.
    public var name: String
    /// The state before step 0.
    public var start: State
    /// The action of each step.
    public var actions: [Action]
    /// The true state after each step, when known (same length as `actions`, nil entries where unknown).
    public var truths: [State?]
    /// The provenance of each step's sample, when it comes from a dataset.
    public var provenances: [Provenance?]

    /// A plan; `truths`/`provenances` default to unknown.
    public init(name: String, start: State, actions: [Action], truths: [State?]? = nil, provenances: [Provenance?]? = nil) {
        self.name = name
        self.start = start
        self.actions = actions
        self.truths = truths ?? Array(repeating: nil, count: actions.count)
        self.provenances = provenances ?? Array(repeating: nil, count: actions.count)
    }

    /// Steps in the plan.
    public var count: Int { actions.count }
}

/// One line of a rollout trace (JSONL): a pure function of the stored step, so a resumed run writes the same lines.
public struct TraceLine: Codable, Equatable, Sendable {
    /// Episode name.
    public var episode: String
    /// Step index.
    public var step: Int
    /// Action text.
    public var action: String
    /// Recalled steps (`episode:step`), most recent first.
    public var recalled: [String]
    /// Retrieved candidate ids with scores, in retrieval order.
    public var retrieved: [TraceItem]
    /// Kept candidate ids with scores, in rank order.
    public var kept: [TraceItem]
    /// Cosine ×100 between prediction and truth per modality (when the truth is known).
    public var cosine: [String: Double]
    /// First four components of each predicted modality (a fingerprint of the prediction).
    public var predictionHead: [String: [Float]]

    /// An id with a score.
    public struct TraceItem: Codable, Equatable, Sendable {
        /// The candidate id.
        public var id: String
        /// Its score, rounded to 6 decimals.
        public var score: Double
    }

    /// The trace line of a stored step.
    public init(record: StepRecord) {
        episode = record.episode
        step = record.index
        action = record.action.text
        func round6(_ x: Double) -> Double { (x * 1e6).rounded() / 1e6 }
        recalled = record.annotations.filter { $0.kind == "recalled" }.sorted { $0.rank < $1.rank }.map(\.item)
        retrieved = record.annotations.filter { $0.kind == "retrieved" }.sorted { $0.rank < $1.rank }
            .map { TraceItem(id: $0.item, score: round6($0.score ?? 0)) }
        kept = record.annotations.filter { $0.kind == "reflector.kept" }.sorted { $0.rank < $1.rank }
            .map { TraceItem(id: $0.item, score: round6($0.score ?? 0)) }
        var cosine: [String: Double] = [:]
        var head: [String: [Float]] = [:]
        for (m, p) in record.predicted.embeddings {
            head[m.rawValue] = Array(p.values.prefix(4))
            if let t = record.observed[m], t.dim == p.dim { cosine[m.rawValue] = round6(100 * p.cosine(t)) }
        }
        self.cosine = cosine
        predictionHead = head
    }

    /// The line as compact JSON with sorted keys.
    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "{}"
    }
}

/// Runs episode plans through a runtime: lock-step within groups of episodes, resuming from steps already in the store.
///
/// Episodes run in groups of `groupSize` (in plan order), one group after another; within a group, step by step, the
/// group's episodes in one batch. A step's numbers depend on the batch it ran in (BLAS rounds a row differently with
/// other rows), so the groups are also the unit of sharding: shard i/n runs a contiguous range of groups, in the
/// same batches as the unsharded run, and offloads each step under the row ids the unsharded run gives it in a fresh
/// store (episode id = position in the plans + 1; step ids in offload order). `EpisodeStore.merge` of the n shard
/// stores is then the unsharded run's store.
public struct RolloutDriver {
    /// The runtime that runs each step.
    public let runtime: Runtime
    /// The store to resume from (normally the runtime's memory store).
    public let store: (any EpisodeRepository)?
    /// Episodes stepped together in one batch.
    public var groupSize: Int

    /// Episodes per lock-step group by default: the runtime's two-thread paths need 16 or more; 64 fill a batch.
    public static let defaultGroupSize = 64

    /// A driver.
    public init(runtime: Runtime, store: (any EpisodeRepository)?, groupSize: Int = RolloutDriver.defaultGroupSize) {
        precondition(groupSize >= 1, "lock-step groups hold at least one episode")
        self.runtime = runtime
        self.store = store
        self.groupSize = groupSize
    }

    /// The plans a shard runs: the contiguous range of lock-step groups `shard.range(of: groups)`, as plan indices.
    public func planRange(_ plans: [EpisodePlan], shard: Shard) -> Range<Int> {
        let groups = shard.range(of: (plans.count + groupSize - 1) / groupSize)
        return min(plans.count, groups.lowerBound * groupSize)..<min(plans.count, groups.upperBound * groupSize)
    }

    /// Runs `plans` for at most `steps` steps each; `onLine` receives every trace line in offload order (group by
    /// group; within a group step by step, episodes in plan order), including those of steps resumed from the store.
    ///
    /// - Parameter shard: run only this shard's groups, under the unsharded run's row ids (nil: every group, with the
    ///   store's next ids).
    /// - Returns: the outcome of every step run now (resumed steps are not re-run).
    @discardableResult
    public func run(_ plans: [EpisodePlan], steps: Int? = nil, shard: Shard? = nil, onLine: (TraceLine) throws -> Void = { _ in },
                    progress: (Int, Int) -> Void = { _, _ in }) throws -> [StepOutcome] {
        let length = plans.map { min($0.count, steps ?? $0.count) }
        let selected = shard.map { planRange(plans, shard: $0) } ?? plans.indices
        // The unsharded run's row ids: episodes in plan order, steps in offload order (groups, steps, episodes).
        var identities: [[StoreIdentity]] = plans.map { _ in [] }
        if shard != nil {
            var next: Int64 = 1
            for groupStart in stride(from: 0, to: plans.count, by: groupSize) {
                let group = groupStart..<min(plans.count, groupStart + groupSize)
                for t in 0..<(group.map { length[$0] }.max() ?? 0) {
                    for e in group where t < length[e] {
                        identities[e].append(StoreIdentity(stepID: next, episodeID: Int64(e + 1)))
                        next += 1
                    }
                }
            }
        }
        // Steps already stored per episode (a prefix of each plan, thanks to in-order offload).
        let storedNames = Set(try store?.episodes().map(\.name) ?? [])
        var stored: [[StepRecord]] = plans.map { _ in [] }
        for e in selected {
            guard let store, storedNames.contains(plans[e].name) else { continue }
            stored[e] = try store.steps(StepReference(episode: plans[e].name, index: nil)).map(\.record).sorted { $0.index < $1.index }
        }
        var states = plans.map(\.start)
        for e in selected where !stored[e].isEmpty {
            runtime.restore(episode: plans[e].name, steps: stored[e])
            let last = stored[e][stored[e].count - 1]
            states[e] = runtime.options.observe && !last.observed.isEmpty ? last.observed : last.predicted
        }
        var outcomes: [StepOutcome] = []
        let total = selected.map { length[$0] }.reduce(0, +)
        var done = 0
        do {
            for groupStart in stride(from: selected.lowerBound, to: selected.upperBound, by: groupSize) {
                let group = groupStart..<min(selected.upperBound, groupStart + groupSize)
                for t in 0..<(group.map { length[$0] }.max() ?? 0) {
                    var requests: [StepRequest] = []
                    var owners: [Int] = []
                    for e in group where t < length[e] {
                        if t < stored[e].count {
                            try onLine(TraceLine(record: stored[e][t]))
                            done += 1
                            continue
                        }
                        let plan = plans[e]
                        requests.append(StepRequest(episode: plan.name, index: t, state: states[e], action: plan.actions[t],
                                                    observed: plan.truths[t], provenance: plan.provenances[t],
                                                    identity: shard == nil ? nil : identities[e][t]))
                        owners.append(e)
                    }
                    guard !requests.isEmpty else { continue }
                    // Each step's batch is committed in the background while the next one runs (in order, one
                    // transaction each): a crash loses at most the uncommitted tail, which a resume recomputes.
                    let results = try runtime.step(requests)
                    for (e, outcome) in zip(owners, results) {
                        try onLine(TraceLine(record: outcome.record))
                        let record = outcome.record
                        states[e] = runtime.options.observe && !record.observed.isEmpty ? record.observed : record.predicted
                    }
                    outcomes += results
                    done += results.count
                    progress(done, total)
                }
            }
        } catch {
            try? runtime.flush()  // commit what was already computed; the first error is the one to report
            throw error
        }
        try runtime.flush()
        return outcomes
    }
}
