// The runtime: each step recalls memory, retrieves knowledge, reflects, predicts and offloads.
// Sequential within an episode, lock-step across a batch of episodes; deterministic for the same inputs.
import ContextReflector
import Encoders
import Formats
import Foundation
import Memory
import enum Tensor.BLAS
import enum Tensor.Kernels
import WorldModel

/// One episode's request for the next step: where it is, what to do, and (when known) what truly happens.
public struct StepRequest: Sendable {
    /// The episode's name.
    public var episode: String
    /// The step's index in the episode (0-based).
    public var index: Int
    /// The current state.
    public var state: State
    /// The action (its embedding is computed when missing).
    public var action: Action
    /// The true next state, when known (for scoring and for observing).
    public var observed: State?
    /// The query's own provenance (scenario scope and leakage guard), when known.
    public var provenance: Provenance?
    /// The row ids to offload the step under (a shard of a rollout); nil: the store's next ids.
    public var identity: StoreIdentity?

    /// A step request.
    public init(episode: String, index: Int, state: State, action: Action, observed: State? = nil, provenance: Provenance? = nil,
                identity: StoreIdentity? = nil) {
        self.episode = episode
        self.index = index
        self.state = state
        self.action = action
        self.observed = observed
        self.provenance = provenance
        self.identity = identity
    }
}

/// What one step produced, with its evidence.
public struct StepOutcome: Sendable {
    /// The step as offloaded (prediction, observation, annotations).
    public var record: StepRecord
    /// The memory items the model saw, most recent first.
    public var memory: [MemoryItem]
    /// The filter's decisions on the retrieved candidates (nil when retrieval is off).
    public var filter: FilterResult?
    /// Cosine between prediction and truth per target modality, when the truth is known.
    public var cosine: [Modality: Double]
}

/// Wall time spent in each phase of the runtime's steps, summed over all steps so far.
public struct PhaseTimings: Equatable, Sendable {
    /// Gathering the episode's recent steps (working memory).
    public var recall: Double = 0
    /// Retrieving knowledge-base candidates.
    public var retrieval: Double = 0
    /// The reflector's filter stage.
    public var reflector: Double = 0
    /// The reflector's learned stage (Q-Former tokens).
    public var learnedStage: Double = 0
    /// The world model's predictions.
    public var prediction: Double = 0
    /// Offload on the critical path: building the step records, queueing them for the background writer,
    /// and waiting for it (when its queue is full, and in `flush`).
    public var offload: Double = 0
    /// Time the background writer spent committing steps (overlaps the other phases; not part of `total`).
    public var offloadBackground: Double = 0

    /// All phases on the critical path together (wall time of the steps).
    public var total: Double { recall + retrieval + reflector + learnedStage + prediction + offload }
}

/// The cognitive architecture around a world model: memory, retrieval, reflector, each optional.
///
/// Thread-confined: use one runtime per thread.
public final class Runtime {
    /// The world model that predicts.
    public let model: any WorldModel
    /// Embeds action texts that arrive without an embedding.
    public let textEncoder: (any Embedder)?
    /// The working memory in front of the episode store (nil: nothing is offloaded or recalled).
    ///
    /// Steps are offloaded by a background writer, one transaction per `step` call, in order; call `flush()`
    /// before using the memory or its store directly.
    public let memory: WorkingMemory?
    /// Where knowledge comes from (nil: no retrieval).
    public let knowledge: (any ContextSource)?
    /// The learned reflector stage (nil: the model gets kept context without tokens).
    public let tokenizer: (any ContextTokenizer)?
    /// What the runtime does at each step.
    public let options: RuntimeOptions
    /// The clock that stamps offloaded steps (inject a fixed one for replayable stores).
    public let clock: @Sendable () -> Date
    /// Time spent per phase (for benchmarks and `--verbose` summaries).
    public var timings: PhaseTimings {
        var t = phaseTimings
        t.offloadBackground = writer?.busy ?? 0
        return t
    }
    private var phaseTimings = PhaseTimings()
    /// Commits each step's batch in the background, in order (nil without memory).
    private let writer: OffloadWriter?
    private let filter: ReflectorFilter
    /// What the filter derives from each knowledge-base candidate, remembered across steps (one source per runtime);
    /// one cache per retrieval thread (a cache is not thread-safe), each serving a fixed half of the episodes.
    private let filterCaches = [FilterCache(), FilterCache()]
    private var actionCache: [String: Embedding] = [:]

    /// A runtime over the given parts.
    /// - Throws: `AgentError.invalidOption` for invalid options.
    public init(
        model: any WorldModel, textEncoder: (any Embedder)?, memory: WorkingMemory?, knowledge: (any ContextSource)?,
        tokenizer: (any ContextTokenizer)?, options: RuntimeOptions = RuntimeOptions(), clock: @escaping @Sendable () -> Date = { Date() }
    ) throws {
        try options.validate()
        self.clock = clock
        self.model = model
        self.textEncoder = textEncoder
        self.memory = memory
        writer = memory.map { OffloadWriter(memory: $0) }
        self.knowledge = knowledge
        self.tokenizer = tokenizer
        self.options = options
        filter = try ReflectorFilter(config: options.filterInForce)
        if let knowledge {
            // Candidates of a source with stable ids need no re-checking in the caches.
            for cache in filterCaches { cache.checksTransitions = !knowledge.candidateIDsAreStable }
            tokenizer?.attach(to: knowledge)
        }
    }

    /// Embeds the texts of actions that have no embedding yet (cached by text).
    public func embedActions(_ actions: [Action]) throws -> [Action] {
        let missing = Array(Set(actions.filter { $0.embedding == nil && actionCache[$0.text] == nil }.map(\.text))).sorted()
        if !missing.isEmpty {
            guard let textEncoder else {
                throw AgentError.invalidOption(name: "text-encoder", reason: "actions need embeddings but no text encoder is configured")
            }
            let vectors = try textEncoder.embed(missing)
            for (text, vector) in zip(missing, vectors) { actionCache[text] = Embedding(vector) }
        }
        return actions.map { action in
            var a = action
            if a.embedding == nil { a.embedding = actionCache[a.text] }
            return a
        }
    }

    /// Runs one step for each request (one request per episode), in lock-step; offloads every step.
    ///
    /// - Returns: one outcome per request, in order.
    public func step(_ requests: [StepRequest]) throws -> [StepOutcome] {
        let actions = try embedActions(requests.map(\.action))
        let recallStart = DispatchTime.now().uptimeNanoseconds
        let memories = requests.map { options.memory ? recentMemory(episode: $0.episode, before: $0.index) : [] }
        phaseTimings.recall += Double(DispatchTime.now().uptimeNanoseconds - recallStart) / 1e9
        let reflectorQueries = zip(requests, actions).map { request, action in
            options.retrieval && knowledge != nil ? ReflectorQuery(state: request.state, action: action, provenance: request.provenance) : nil
        }
        let filters = try retrieveAndFilter(reflectorQueries)
        var inputs: [PredictionInput] = []
        var queries: [(position: Int, query: ReflectorQuery)] = []
        for (position, (request, action)) in zip(requests, actions).enumerated() {
            let targets = options.targets.isEmpty ? request.state.modalities : options.targets
            if let query = reflectorQueries[position] { queries.append((position, query)) }
            inputs.append(PredictionInput(
                state: request.state, action: action, targets: targets,
                context: filters[position]?.kept.map { ContextItem(transition: $0.transition, score: $0.score) } ?? [],
                memory: memories[position], scenario: request.provenance?.scenario))
        }
        var start = DispatchTime.now().uptimeNanoseconds
        func elapsed() -> Double {
            let now = DispatchTime.now().uptimeNanoseconds
            defer { start = now }
            return Double(now - start) / 1e9
        }
        if let tokenizer, !queries.isEmpty {
            let tokens = try tokenizer.tokens(for: queries.map(\.query), kept: queries.map { filters[$0.position]?.kept ?? [] })
            for (q, t) in zip(queries, tokens) { inputs[q.position].reflectorTokens = t }
        }
        phaseTimings.learnedStage += elapsed()
        let predictions = try model.predictBatch(inputs)
        phaseTimings.prediction += elapsed()
        var outcomes: [StepOutcome] = []
        var records: [StepRecord] = []
        records.reserveCapacity(requests.count)
        for i in 0..<requests.count {
            let request = requests[i]
            let record = StepRecord(
                episode: request.episode, index: request.index, action: actions[i], input: request.state,
                predicted: predictions[i], observed: request.observed ?? State(), provenance: request.provenance,
                timestamp: clock(), annotations: Self.annotations(memory: memories[i], episode: request.episode, index: request.index, filter: filters[i]))
            records.append(record)
            recentSteps[request.episode, default: []].append(record)
            if recentSteps[request.episode]!.count > 16 { recentSteps[request.episode]!.removeFirst() }
            var cosine: [Modality: Double] = [:]
            if let truth = request.observed {
                for (m, p) in predictions[i].embeddings { if let t = truth[m], t.dim == p.dim { cosine[m] = p.cosine(t) } }
            }
            outcomes.append(StepOutcome(record: record, memory: memories[i], filter: filters[i], cosine: cosine))
        }
        // One transaction for the whole lock-step batch, committed in the background while the next step runs.
        try writer?.submit(records, identities: requests.map(\.identity))
        phaseTimings.offload += elapsed()
        return outcomes
    }

    /// Retrieval and the filter for each query (nil: none), in order. A batch of at least 16 queries runs on two
    /// threads when the source answers concurrent queries and the thread budget (`BLAS.workerBudget`) allows, each
    /// with its own half of the queries and its own filter cache; the results are the same either way (the filter's
    /// cache is exact).
    /// The phase timings split the wall time of the two phases in proportion to the threads' time in each.
    private func retrieveAndFilter(_ queries: [ReflectorQuery?]) throws -> [FilterResult?] {
        var results = [FilterResult?](repeating: nil, count: queries.count)
        guard let knowledge, queries.contains(where: { $0 != nil }) else { return results }
        let threads = knowledge.supportsConcurrentQueries && queries.count >= 16 && BLAS.workerBudget >= 2 ? 2 : 1
        var failures = [(any Error)?](repeating: nil, count: threads)
        var seconds = [(retrieval: Double, filter: Double)](repeating: (0, 0), count: threads)
        let start = DispatchTime.now().uptimeNanoseconds
        let (filter, k) = (filter, options.retrievalK)
        let caches: [FilterCache?] = options.cacheCandidates ? filterCaches : [nil, nil]
        results.withUnsafeMutableBufferPointer { resultBuffer in
            failures.withUnsafeMutableBufferPointer { failureBuffer in
                seconds.withUnsafeMutableBufferPointer { timeBuffer in
                    guard let out = resultBuffer.baseAddress, let failure = failureBuffer.baseAddress, let time = timeBuffer.baseAddress else { return }
                    // Each thread writes only its own range of `out` and its own slot of `failure` and `time`.
                    let half = { (thread: Int) in
                        var mark = DispatchTime.now().uptimeNanoseconds
                        func lap() -> Double {
                            let now = DispatchTime.now().uptimeNanoseconds
                            defer { mark = now }
                            return Double(now - mark) / 1e9
                        }
                        for position in (queries.count * thread / threads)..<(queries.count * (thread + 1) / threads) {
                            guard let query = queries[position] else { continue }
                            do {
                                let candidates = try knowledge.candidates(for: query, k: k)
                                time[thread].retrieval += lap()
                                out[position] = filter.apply(query: query, candidates: candidates, cache: caches[thread])
                                time[thread].filter += lap()
                            } catch {
                                failure[thread] = error
                                return
                            }
                        }
                    }
                    if threads == 1 {
                        half(0)
                    } else {
                        // Small products only (action keys): one BLAS thread each, no nested thread pools.
                        BLAS.withThreadCount(1) { Kernels.parallel(workers: threads, half) }
                    }
                }
            }
        }
        // The first failure in query order: the lower half's comes first.
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }
        let wall = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let retrieval = seconds.reduce(0) { $0 + $1.retrieval }, filtering = seconds.reduce(0) { $0 + $1.filter }
        if retrieval + filtering > 0 {
            phaseTimings.retrieval += wall * retrieval / (retrieval + filtering)
            phaseTimings.reflector += wall * filtering / (retrieval + filtering)
        }
        return results
    }

    /// Waits until every step so far is committed to the store (durable), and rethrows a failed offload.
    public func flush() throws {
        let start = DispatchTime.now().uptimeNanoseconds
        try writer?.drain()
        phaseTimings.offload += Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
    }

    /// Seeds an episode's recent history (after a resume or a fork) from stored steps, oldest first.
    public func restore(episode: String, steps: [StepRecord]) {
        recentSteps[episode] = Array(steps.suffix(16))
    }

    private var recentSteps: [String: [StepRecord]] = [:]

    /// The episode's last `history` steps before `index`, most recent first, as the model sees them.
    private func recentMemory(episode: String, before index: Int) -> [MemoryItem] {
        guard options.history > 0, let steps = recentSteps[episode] else { return [] }
        return steps.filter { $0.index < index }.suffix(options.history).reversed().map { record in
            MemoryItem(state0: record.input, action: record.action,
                       state1: record.observed.isEmpty ? record.predicted : record.observed, stepsAgo: index - record.index)
        }
    }

    /// The evidence of a step as store annotations: recalled steps, retrieved candidates, reflector decisions.
    static func annotations(memory: [MemoryItem], episode: String, index: Int, filter: FilterResult?) -> [StepAnnotation] {
        var out: [StepAnnotation] = []
        for (rank, item) in memory.enumerated() {
            out.append(StepAnnotation(kind: "recalled", rank: rank, item: "\(episode):\(index - item.stepsAgo)", score: nil,
                                      reason: "\(item.stepsAgo) step(s) ago"))
        }
        if let filter {
            let kept = Set(filter.kept.map(\.id))
            for (rank, decision) in filter.decisions.enumerated() {
                out.append(StepAnnotation(kind: "retrieved", rank: rank, item: decision.candidateID, score: decision.score))
                out.append(StepAnnotation(kind: kept.contains(decision.candidateID) ? "reflector.kept" : "reflector.dropped",
                                          rank: decision.rank ?? rank, item: decision.candidateID, score: decision.score, reason: decision.reason))
            }
        }
        return out
    }
}
