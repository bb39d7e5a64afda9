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

/// Runs episode plans through a runtime: lock-step over episodes, resuming from steps already in the store.
public struct RolloutDriver {
    /// The runtime that runs each step.
    public let runtime: Runtime
    /// The store to resume from (normally the runtime's memory store).
    public let store: EpisodeStore?

    /// A driver.
    public init(runtime: Runtime, store: EpisodeStore?) {
        self.runtime = runtime
        self.store = store
    }

    /// Runs `plans` for at most `steps` steps each; `onLine` receives every trace line in canonical order
    /// (step by step, episodes in plan order), including those of steps resumed from the store.
    ///
    /// - Returns: the outcome of every step run now (resumed steps are not re-run).
    @discardableResult
    public func run(_ plans: [EpisodePlan], steps: Int? = nil, onLine: (TraceLine) throws -> Void = { _ in },
                    progress: (Int, Int) -> Void = { _, _ in }) throws -> [StepOutcome] {
        let length = plans.map { min($0.count, steps ?? $0.count) }
        // Steps already stored per episode (a prefix of each plan, thanks to in-order offload).
        let storedNames = Set(try store?.episodes().map(\.name) ?? [])
        var stored: [[StepRecord]] = []
        for plan in plans {
            guard let store, storedNames.contains(plan.name) else {
                stored.append([])
                continue
            }
            stored.append(try store.steps(StepReference(episode: plan.name, index: nil)).map(\.record).sorted { $0.index < $1.index })
        }
        var states = plans.map(\.start)
        for (e, records) in stored.enumerated() where !records.isEmpty {
            runtime.restore(episode: plans[e].name, steps: records)
            let last = records[records.count - 1]
            states[e] = runtime.options.observe && !last.observed.isEmpty ? last.observed : last.predicted
        }
        var outcomes: [StepOutcome] = []
        let total = length.reduce(0, +)
        var done = 0
        do {
            for t in 0..<(length.max() ?? 0) {
                var requests: [StepRequest] = []
                var owners: [Int] = []
                for e in plans.indices where t < length[e] {
                    if t < stored[e].count {
                        try onLine(TraceLine(record: stored[e][t]))
                        done += 1
                        continue
                    }
                    let plan = plans[e]
                    requests.append(StepRequest(episode: plan.name, index: t, state: states[e], action: plan.actions[t],
                                                observed: plan.truths[t], provenance: plan.provenances[t]))
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
        } catch {
            try? runtime.flush()  // commit what was already computed; the first error is the one to report
            throw error
        }
        try runtime.flush()
        return outcomes
    }
}
