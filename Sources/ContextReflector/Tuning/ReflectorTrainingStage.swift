// Joint context training: the learned reflector as `Trainer`'s context stage. For the transitions of a batch it
// retrieves knowledge (scoped to the scenario, leakage guard on), runs the reflector, and learns from the gradient the
// world model hands back — so the model learns to read reflector tokens while it learns the world.
// Shape legend: B batch, Q reflector tokens, O reflector output width.
import Formats
import Foundation
import Tensor
import WorldModel

/// The learned reflector trained together with the world model (`Trainer.contextStage`).
///
/// Context per (transition, mode) is retrieved, filtered and cached; every `refreshEvery` optimiser steps the
/// source is made anew (`makeSource`) and the cache dropped, so retrieval keyed by the model's own, still
/// learning, action representation follows the model. The reflector has its own AdamW and gradient clip; the
/// trainer's schedule sets the rate.
public final class ReflectorTrainingStage: TrainingContextStage {
    /// The reflector being trained.
    public let reflector: LearnedReflector
    /// The training transitions (`Trainer.data.transitions`; indices refer to them).
    public let transitions: [Transition]
    /// Where candidates come from (made anew every `refreshEvery` steps).
    public private(set) var source: any ContextSource
    /// Optimiser steps between two rebuilds of the source (0: never).
    public let refreshEvery: Int
    private let makeSource: () throws -> any ContextSource
    private var steps = 0
    private var stale = false
    /// The filter stage (its leakage guard keeps a sample's own transition out of its context).
    public let filter: ReflectorFilter
    /// Candidates retrieved per query before the filter.
    public let candidates: Int
    /// Gradient-norm clip of the reflector's parameters (0: off).
    public let gradientClip: Float
    private let builder: ReflectorInputBuilder
    private let optimizer: AdamW
    private var cache: [String: FilterResult] = [:]
    private var lastBatchSize = 0

    /// File names inside a training checkpoint folder.
    public static let reflectorFile = "reflector.pt", optimizerFile = "reflector_optimizer.safetensors"

    /// A stage over `transitions` with knowledge from `source`.
    /// - Throws: `ReflectorError.invalidConfig` when the reflector's widths do not fit `model`.
    /// - Parameter makeSource: builds the context source, now and at every refresh.
    public init(
        reflector: LearnedReflector, model: NativeModelConfig, transitions: [Transition], makeSource: @escaping () throws -> any ContextSource,
        refreshEvery: Int = 0, filter: ReflectorFilter, candidates: Int = 16, weightDecay: Float = 0.01, gradientClip: Float = 1
    ) throws {
        let builder = try ReflectorInputBuilder.fitting(reflector.config, model: model)
        guard candidates > 0 else { throw ReflectorError.invalidConfig("candidates must be positive (got \(candidates))") }
        self.reflector = reflector
        self.transitions = transitions
        self.makeSource = makeSource
        source = try makeSource()
        self.refreshEvery = max(0, refreshEvery)
        self.filter = filter
        self.candidates = candidates
        self.gradientClip = gradientClip
        self.builder = builder
        optimizer = AdamW(learningRate: 1e-3, weightDecay: weightDecay)
    }

    /// The query of `transitions[index]` under `mode`: its masked state0, action and provenance.
    func query(_ index: Int, mode: TaskMode) -> ReflectorQuery {
        let t = transitions[index]
        return ReflectorQuery(state: mode.mask(t.state0), action: t.action, provenance: t.provenance)
    }

    /// The filtered context of `transitions[index]` under `mode` (retrieved once, then cached).
    public func context(_ index: Int, mode: TaskMode) throws -> FilterResult {
        let key = "\(index)\u{1}\(mode.name)"
        if let hit = cache[key] { return hit }
        let q = query(index, mode: mode)
        let result = filter.apply(query: q, candidates: try source.candidates(for: q, k: candidates))
        cache[key] = result
        return result
    }

    public func tokens(for indices: [Int], mode: TaskMode) throws -> [ReflectorTokens] {
        if stale {
            source = try makeSource()
            cache.removeAll(keepingCapacity: true)
            stale = false
        }
        let queries = indices.map { query($0, mode: mode) }
        let context = try indices.map { try self.context($0, mode: mode).kept.map(\.transition) }
        let out = try reflector.forward(try builder.batch(queries: queries, context: context))
        lastBatchSize = indices.count
        let q = reflector.config.queryTokenCount, o = reflector.config.outputWidth
        return out.data.withUnsafeBufferPointer { values in
            (0..<indices.count).map { ReflectorTokens(tokenCount: q, width: o, values: Array(values[($0 * q * o)..<(($0 + 1) * q * o)])) }
        }
    }

    public func backward(_ gradient: [Float]) throws {
        let q = reflector.config.queryTokenCount, o = reflector.config.outputWidth
        guard gradient.count == lastBatchSize * q * o else {
            throw ReflectorError.input(name: "reflector token gradient", problem: "\(gradient.count) values, expected \(lastBatchSize * q * o)")
        }
        _ = reflector.backward(Tensor(shape: [lastBatchSize, q, o], data: gradient))
    }

    public func step(learningRate: Float) {
        if gradientClip > 0 { reflector.store.clipGradients(maxNorm: gradientClip) }
        optimizer.step(reflector.store, learningRate: learningRate)
        reflector.store.zeroGradients()
        steps += 1
        if refreshEvery > 0, steps % refreshEvery == 0 { stale = true }
    }

    public func saveState(to folder: URL) throws {
        try reflector.save(to: folder.appendingPathComponent(Self.reflectorFile))
        try optimizer.state.write(to: folder.appendingPathComponent(Self.optimizerFile), parameterCount: reflector.store.count)
    }

    public func restoreState(from folder: URL) throws {
        let url = folder.appendingPathComponent(Self.reflectorFile)
        let loaded = try LearnedReflector.load(contentsOf: url, heads: reflector.config.heads)
        guard loaded.config == reflector.config else {
            throw ReflectorError.checkpoint(file: url.path, problems: ["saved with other reflector sizes; resume needs the same ones"])
        }
        reflector.store.values = loaded.store.values
        let optimizerURL = folder.appendingPathComponent(Self.optimizerFile)
        guard let state = try AdamWState.read(from: optimizerURL, parameterCount: reflector.store.count) else {
            throw ReflectorError.checkpoint(file: optimizerURL.path, problems: ["missing or mis-sized adamw.m / adamw.v / adamw.step"])
        }
        optimizer.restore(state)
    }
}
