// Rollout throughput of the runtime with everything on: 64 episodes × 7 steps through memory, retrieval,
// the reflector (filter + learned Q-Former), the native world model and durable offload to SQLite; and the
// share of time outside the world model (goal ≤ 25%). No peer exists for the whole runtime.
import Agent
import ContextReflector
import Encoders
import Formats
import Foundation
import Memory
import SimWorld
import WorldModel

/// Runs the rollout benchmark when `arguments` is empty or names "agent".
func agentBench(arguments: [String]) {
    guard arguments.isEmpty || arguments.contains("agent") else { return }
    print("== agent: rollout throughput, 64 episodes × 7 steps, everything on (goal: memory + retrieval + reflector ≤ 25% of the time)")
    do {
        var config = WorldConfig()
        config.episodes = 40  // 16 scenarios × 40 episodes: 64 sequences, a 2,560-transition knowledge base
        let world = try WorldGenerator(config).generate()
        let encoder = try TextEncoders.default(warn: false)
        func embedded(_ split: SimWorld.Split) throws -> [Transition] {
            var transitions = world.vocabularyTransitions(in: split)
            let texts = Array(Set(transitions.map(\.action.text))).sorted()
            let vectors = Dictionary(uniqueKeysWithValues: zip(texts, try encoder.embed(texts)))
            for i in transitions.indices { transitions[i].action.embedding = Embedding(vectors[transitions[i].action.text]!) }
            return transitions
        }
        let kb = try embedded(.kb)
        let plans = EpisodePlans.fromSequences(try embedded(.sequences), limit: 64)
        let model = try NativeWorldModel(config: NativeModelConfig(embeddingDimension: config.dimension, actionDimension: encoder.dim))
        let reflector = try ReflectorTuner.newReflector(for: model, config: ReflectorTuningConfig())
        let tokenizer = LearnedStage(reflector: reflector, stateWidth: config.dimension, actionWidth: encoder.dim)
        let source = try TransitionContextSource(transitions: kb)
        // The same rollout twice, back to back (the machine is shared: compare within one run): first through the
        // previous paths — the training forward with padding, offload committed before the next step, no caches —
        // then as the runtime now runs.
        let previous = try agentRollout(plans: plans, model: model, encoder: encoder, source: source, dim: config.dimension,
                                        tokenizer: try TrainingForwardStage(reflector: reflector, stateWidth: config.dimension, actionWidth: encoder.dim),
                                        options: RuntimeOptions(cacheCandidates: false), folder: "previous", synchronous: true)
        let runtime = try agentRollout(plans: plans, model: model, encoder: encoder, source: source, dim: config.dimension,
                                       tokenizer: tokenizer, options: RuntimeOptions(), folder: "now", synchronous: false)
        print(String(format: "   now / previous paths: %.2f× the steps/s; share outside the world model %.1f%% vs %.1f%%",
                     runtime.stepsPerSecond / previous.stepsPerSecond, runtime.share, previous.share))
        let runtimeNow = runtime.runtime
        try agentPhaseBreakdown(plans: plans, source: source, tokenizer: tokenizer, runtime: runtimeNow)
    } catch {
        print("   agent bench failed: \(error)")
    }
}

/// One rollout of `plans` into a fresh store under `bench-out/agent/<folder>`, with its figures printed.
///
/// - Parameter synchronous: commit every step before the next one starts (the previous behaviour) instead of
///   leaving commits to the background writer.
func agentRollout(
    plans: [EpisodePlan], model: any WorldModel, encoder: any Embedder, source: any ContextSource, dim: Int, tokenizer: any ContextTokenizer,
    options: RuntimeOptions, folder name: String, synchronous: Bool
) throws -> (runtime: Runtime, stepsPerSecond: Double, share: Double) {
    let folder = URL(fileURLWithPath: "bench-out/agent/\(name)")
    try? FileManager.default.removeItem(at: folder)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    let store = try EpisodeStore(url: folder.appendingPathComponent("memory.sqlite"), dim: dim)
    let runtime = try Runtime(model: model, textEncoder: encoder, memory: WorkingMemory(store: store, window: 5, batchSize: 256),
                              knowledge: source, tokenizer: tokenizer, options: options)
    var load = [Double](repeating: 0, count: 3)
    _ = getloadavg(&load, 3)
    let start = Date()
    var count = 0
    if synchronous {
        for t in 0..<(plans.map(\.count).max() ?? 0) {
            let requests = plans.filter { t < $0.count }.map { p in
                StepRequest(episode: p.name, index: t, state: t == 0 ? p.start : (p.truths[t - 1] ?? p.start), action: p.actions[t],
                            observed: p.truths[t], provenance: p.provenances[t])
            }
            count += try runtime.step(requests).count
            try runtime.flush()
        }
    } else {
        count = try RolloutDriver(runtime: runtime, store: store).run(plans).count
    }
    let seconds = Date().timeIntervalSince(start)
    let t = runtime.timings
    let outside = t.recall + t.retrieval + t.reflector + t.learnedStage + t.offload
    let share = 100 * outside / max(t.total, 1e-9)
    print(String(format: "   [%@] %d steps in %.2f s: %.1f steps/s (%d episodes in lock-step; load average %.2f)",
                 name, count, seconds, Double(count) / seconds, plans.count, load[0]))
    print(String(format: "   [%@] time: prediction %.3f s, recall %.3f s, retrieval %.3f s, reflector filter %.3f s, learned stage %.3f s, offload %.3f s",
                 name, t.prediction, t.recall, t.retrieval, t.reflector, t.learnedStage, t.offload)
          + (synchronous ? "" : String(format: " (+ %.3f s committing in the background writer, overlapped)", t.offloadBackground)))
    print(String(format: "   [%@] share outside the world model: %.1f%% (goal ≤ 25%%)", name, share))
    return (runtime, Double(count) / seconds, share)
}

/// The learned stage as it ran before the inference path: `ReflectorInputBuilder` batches (padded) through the
/// training `forward`, which records what `backward` would need.
struct TrainingForwardStage: ContextTokenizer {
    let reflector: LearnedReflector
    let builder: ReflectorInputBuilder

    init(reflector: LearnedReflector, stateWidth: Int, actionWidth: Int) throws {
        self.reflector = reflector
        builder = try ReflectorInputBuilder(for: reflector.config, stateWidth: stateWidth, actionWidth: actionWidth)
    }

    func tokens(for queries: [ReflectorQuery], kept: [[ReflectorCandidate]]) throws -> [ReflectorTokens] {
        guard !queries.isEmpty else { return [] }
        let out = try reflector.forward(try builder.batch(queries: queries, context: kept.map { $0.map(\.transition) }))
        let q = reflector.config.queryTokenCount, o = reflector.config.outputWidth
        return (0..<queries.count).map { ReflectorTokens(tokenCount: q, width: o, values: Array(out.data[($0 * q * o)..<(($0 + 1) * q * o)])) }
    }
}

/// Times each non-model phase alone over the rollout's own queries (7 batches of 64), to show where the time goes.
func agentPhaseBreakdown(plans: [EpisodePlan], source: any ContextSource, tokenizer: LearnedStage, runtime: Runtime) throws {
    let filter = try ReflectorFilter(config: runtime.options.filter)
    var batches: [[ReflectorQuery]] = []
    for t in 0..<7 {
        let actions = try runtime.embedActions(plans.map { $0.actions[t] })
        batches.append(zip(plans, actions).map { plan, action in
            ReflectorQuery(state: t == 0 ? plan.start : plan.truths[t - 1]!, action: action, provenance: plan.provenances[t])
        })
    }
    // CPU time of this thread: steadier than wall time while other processes share the 2 cores (the phases timed
    // here are single-threaded except the learned stage's BLAS calls, whose helper threads this does not count).
    func time(_ body: () throws -> Void) rethrows -> Double {
        func now() -> Double {
            var t = timespec()
            clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t)
            return Double(t.tv_sec) + Double(t.tv_nsec) / 1e9
        }
        let start = now()
        try body()
        return now() - start
    }
    var candidates: [[[ReflectorCandidate]]] = []
    let retrieval = try time { candidates = try batches.map { try $0.map { try source.candidates(for: $0, k: runtime.options.retrievalK) } } }
    var kept: [[[ReflectorCandidate]]] = []
    let uncached = time { _ = zip(batches, candidates).map { b, c in zip(b, c).map { filter.apply(query: $0, candidates: $1).kept } } }
    let cache = FilterCache()
    let filtering = time { kept = zip(batches, candidates).map { b, c in zip(b, c).map { filter.apply(query: $0, candidates: $1, cache: cache).kept } } }
    print("   retrieved \(candidates.joined().joined().count) candidates, \(cache.count) of them distinct (each looked at once by the filter's cache)")
    var inputs: [ReflectorInput] = []
    let packing = try time { inputs = try zip(batches, kept).map { try tokenizer.builder.batch(queries: $0, context: $1.map { $0.map(\.transition) }) } }
    let validation = try time { for i in inputs { try tokenizer.reflector.validate(i) } }
    let forward = try time { for i in inputs { _ = try tokenizer.reflector.forward(i) } }
    var packed: [ReflectorInferenceBatch] = []
    let fastPacking = try time {
        packed = try zip(batches, kept).map { b, k in
            try ReflectorInferenceBatch(queries: b, context: k.map { $0.map(\.transition) }, stateWidth: tokenizer.builder.stateWidth,
                                        actionWidth: tokenizer.builder.actionWidth, packing: tokenizer.builder.packing)
        }
    }
    let inference = try time { for p in packed { _ = try tokenizer.reflector.infer(p) } }
    let tokensPerBatch = packed.map { $0.contextStart[$0.count] }
    let distinct = kept.map { Set($0.flatMap { $0.map(\.id) }).count }
    let distinctOverall = Set(kept.flatMap { $0.flatMap { $0.map(\.id) } }).count
    print("   kept context per batch (\(tokenizer.builder.packing) packing): \(tokensPerBatch.map(String.init).joined(separator: ", ")) tokens; distinct triplets per batch "
          + "\(distinct.map(String.init).joined(separator: ", ")), \(distinctOverall) over the run")
    // A fresh stage: its context cache starts empty, as in the rollout.
    let stage = LearnedStage(reflector: tokenizer.reflector, stateWidth: tokenizer.builder.stateWidth, actionWidth: tokenizer.builder.actionWidth)
    let tokens = try time { for (b, k) in zip(batches, kept) { _ = try stage.tokens(for: b, kept: k) } }
    print(String(format: "   phases alone (448 queries, CPU time of the calling thread): retrieval %.3f s, filter %.3f s (%.3f s without its cache), learned stage %.3f s",
                 retrieval, filtering, uncached, tokens))
    print(String(format: "   learned stage: inference path packing %.3f s + infer %.3f s; training path packing %.3f s + validation %.3f s + forward %.3f s",
                 fastPacking, inference, packing, validation, forward))
}
