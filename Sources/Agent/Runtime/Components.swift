// The seams between the runtime and its parts: where knowledge comes from and how kept context becomes tokens.
// Knowledge sources are ContextReflector's `ContextSource`s (an in-memory FlatIndex over transitions, or the
// SQLite knowledge base below); the learned stage is a `ContextTokenizer`.
import ContextReflector
import Formats
import Foundation
import Retrieval
import enum Tensor.BLAS
import WorldModel

/// The learned stage of the ContextReflector: turns the query and the kept context into tokens for the model.
public protocol ContextTokenizer {
    /// The reflector tokens for each query and its kept context, in order.
    func tokens(for queries: [ReflectorQuery], kept: [[ReflectorCandidate]]) throws -> [ReflectorTokens]
    /// Tells the stage which knowledge source its candidates come from (the runtime calls it once).
    func attach(to source: any ContextSource)
}

extension ContextTokenizer {
    /// Nothing to tell.
    public func attach(to source: any ContextSource) {}
}

/// The paper's Q-Former reflector as the runtime's learned stage.
public struct LearnedStage: ContextTokenizer {
    /// The trained reflector.
    public let reflector: LearnedReflector
    /// Packs queries and context into the reflector's input arrays.
    public let builder: ReflectorInputBuilder
    /// The projected context of kept candidates, by id (one knowledge source per runtime); nil: projected every time,
    /// with the step's batch.
    private let cache: ReflectorContextCache?

    /// A learned stage for a model with the given state and action widths.
    /// - Parameter cachesContext: remember each kept candidate's packed and projected context (fc2 and the
    ///   cross-attention keys/values) by id across calls (on by default: most knowledge-base rows are kept at several
    ///   steps). Cached rows are projected one by one, so they do not depend on which rows came with them and a
    ///   rollout resumed with a cold cache reproduces the uninterrupted run bit for bit; they agree with the uncached
    ///   path (one BLAS call over the step's rows) within float rounding (≈ 1e-6). The cache must only see one
    ///   knowledge source's candidates (ids name one transition each; a reused id with another transition is
    ///   noticed and projected again).
    public init(reflector: LearnedReflector, stateWidth: Int, actionWidth: Int, cachesContext: Bool = true) {
        self.reflector = reflector
        // The packing follows from the reflector's context width; a reflector that fits no packing fails its first forward.
        builder = (try? ReflectorInputBuilder(for: reflector.config, stateWidth: stateWidth, actionWidth: actionWidth))
            ?? ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth)
        cache = cachesContext ? ReflectorContextCache() : nil
    }

    /// Lets the context cache skip re-checking ids of a single source with stable ids.
    public func attach(to source: any ContextSource) { cache?.attach(to: source) }

    public func tokens(for queries: [ReflectorQuery], kept: [[ReflectorCandidate]]) throws -> [ReflectorTokens] {
        guard !queries.isEmpty else { return [] }
        // One OpenBLAS thread: the reflector's products are small (queries × query tokens rows of the hidden width),
        // and split by OpenBLAS across two threads each one waits for a helper that shares its core with the background
        // offload writer (agent bench: learned stage 0.036–0.045 s on two threads, 0.032–0.035 s on one). Instead the
        // batch's halves run on two threads of ours when the thread budget allows.
        let threads = min(2, BLAS.workerBudget)
        return try BLAS.withThreadCount(1) { try tokensOnThisThread(for: queries, kept: kept, threads: threads) }
    }

    /// The inference path: no padding tokens, no backward caches (equal to `forward` within 1e-5); with
    /// `cachesContext`, each kept candidate's projected context remembered across steps.
    private func tokensOnThisThread(for queries: [ReflectorQuery], kept: [[ReflectorCandidate]], threads: Int) throws -> [ReflectorTokens] {
        let out: [Float]
        if let cache {
            out = try reflector.infer(queries: queries, kept: kept, stateWidth: builder.stateWidth, actionWidth: builder.actionWidth, cache: cache,
                                      threads: threads)
        } else {
            out = try reflector.infer(ReflectorInferenceBatch(
                queries: queries, context: kept.map { $0.map(\.transition) }, stateWidth: builder.stateWidth, actionWidth: builder.actionWidth,
                packing: builder.packing))
        }
        let q = reflector.config.queryTokenCount, o = reflector.config.outputWidth
        return (0..<queries.count).map { ReflectorTokens(tokenCount: q, width: o, values: Array(out[($0 * q * o)..<(($0 + 1) * q * o)])) }
    }
}

extension TransitionContextSource {
    /// Every entry of a SQLite knowledge base, searched in memory by another action key (e.g. a world model's
    /// `actionKey`) instead of the keys the base stores; candidate ids stay the base's (`kb:<entry id>`).
    /// `actionKeyIsThreadSafe` as for `init(transitions:…)`.
    /// - Throws: `StoreError`/`RetrievalError` for an unreadable base, `ReflectorError` for unusable entries.
    public static func rekeyed(
        _ knowledgeBase: KnowledgeBase, actionKey: @escaping ([Float]) -> [Float]?, stateWeight: Float = 0, actionKeyIsThreadSafe: Bool = false
    ) throws -> TransitionContextSource {
        let ids = knowledgeBase.index.ids.sorted()
        return try TransitionContextSource(
            transitions: try ids.map { try knowledgeBase.transition(id: $0) }, actionKey: actionKey, stateWeight: stateWeight, ids: ids,
            actionKeyIsThreadSafe: actionKeyIsThreadSafe)
    }
}

/// The SQLite knowledge base (`worldgpt kb build`) as a context source, scoped to the query's scenario.
public final class KnowledgeBaseSource: ContextSource {
    /// The opened knowledge base.
    public let knowledgeBase: KnowledgeBase
    /// Whether a query with a scenario only sees that scenario's transitions.
    public let scopeToScenario: Bool

    /// Wraps an opened knowledge base.
    public init(_ knowledgeBase: KnowledgeBase, scopeToScenario: Bool = true) {
        self.knowledgeBase = knowledgeBase
        self.scopeToScenario = scopeToScenario
    }

    public func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate] {
        let filter = KnowledgeFilter(scenario: scopeToScenario ? query.provenance?.scenario : nil)
        return try knowledgeBase.search(state: query.state, action: query.action.embedding, k: k, filter: filter).map { hit in
            ReflectorCandidate(id: "kb:\(hit.id)", transition: try knowledgeBase.transition(id: hit.id), score: Double(hit.score))
        }
    }
}
