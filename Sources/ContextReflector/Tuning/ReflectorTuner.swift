// Cognitive-augmented tuning: trains the learned reflector (and the world model's reflector-token projection) with the
// world model frozen, on transitions whose context is retrieved from a knowledge base and filtered with the leakage guard.
// Shape legend: B batch, Q reflector tokens, O reflector output width (= the world model's reflector width).
import Formats
import Foundation
import Tensor
import WorldModel

/// Settings of cognitive-augmented tuning. Every field has a default; a JSON config may give any subset.
public struct ReflectorTuningConfig: Equatable, Sendable, Codable {
    /// Optimiser steps.
    public var steps: Int = 300
    /// Samples per step.
    public var batchSize: Int = 32
    /// Peak AdamW learning rate.
    public var learningRate: Float = 1e-3
    /// Final learning rate of the cosine schedule.
    public var minLearningRate: Float = 1e-4
    /// Linear warm-up steps.
    public var warmupSteps: Int = 20
    /// AdamW decoupled weight decay (matrices only).
    public var weightDecay: Float = 0.01
    /// Global gradient-norm clip per parameter group (0: off).
    public var gradientClip: Float = 1
    /// Candidates retrieved per query before the filter.
    public var candidates: Int = 16
    /// The filter stage's settings (leakage guard on).
    public var filter: ReflectorFilterConfig = ReflectorFilterConfig(threshold: 0, mmrLambda: 0.7, budget: 4)
    /// Q-Former hidden width for a new reflector (the original: 768).
    public var hiddenWidth: Int = 128
    /// Q-Former layers for a new reflector (the original: 2).
    public var layers: Int = 2
    /// Attention heads for a new reflector (nil: hidden / 64).
    public var heads: Int?
    /// Query tokens for a new reflector (the original: 4).
    public var queryTokens: Int = 4
    /// How a new reflector sees kept triplets: `triplet` (one `[state0, state1, action]` token each, the default)
    /// or `part` (the original's three tokens, which hides which state1 followed which state0).
    public var contextPacking: ContextPacking = .perTriplet
    /// Also train the world model's reflector-token input projection (`reflector.*`).
    public var tuneProjection: Bool = true
    /// Seed of the reflector's initialisation, the sample choice and the batch order.
    public var seed: UInt64 = 0
    /// Start a new reflector with `fc3` at zero, so its first tokens are constant and training grows them from
    /// there. Off by default: on the tiny test world it stalled learning (the body gets no gradient at first).
    public var zeroInitOutput: Bool = false
    /// Most (transition, mode) training samples prepared (retrieval + filter run once per sample); 0 = all.
    public var trainSamples: Int = 8192
    /// Most (transition, mode) held-out samples evaluated; 0 = all.
    public var evalSamples: Int = 2048

    /// The defaults.
    public init() {}

    enum CodingKeys: String, CodingKey {
        case steps, batchSize = "batch_size", learningRate = "learning_rate", minLearningRate = "min_learning_rate"
        case warmupSteps = "warmup_steps", weightDecay = "weight_decay", gradientClip = "gradient_clip", candidates, filter
        case hiddenWidth = "hidden_width", layers, heads, queryTokens = "query_tokens", tuneProjection = "tune_projection", seed
        case contextPacking = "context_packing"
        case trainSamples = "train_samples", evalSamples = "eval_samples", zeroInitOutput = "zero_init_output"
    }

    /// Decodes any subset of the fields; missing ones keep their defaults.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = ReflectorTuningConfig()
        func read<T: Decodable>(_ key: CodingKeys, _ path: WritableKeyPath<ReflectorTuningConfig, T>) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { d[keyPath: path] = v }
        }
        try read(.steps, \.steps)
        try read(.batchSize, \.batchSize)
        try read(.learningRate, \.learningRate)
        try read(.minLearningRate, \.minLearningRate)
        try read(.warmupSteps, \.warmupSteps)
        try read(.weightDecay, \.weightDecay)
        try read(.gradientClip, \.gradientClip)
        try read(.candidates, \.candidates)
        try read(.filter, \.filter)
        try read(.hiddenWidth, \.hiddenWidth)
        try read(.layers, \.layers)
        d.heads = try c.decodeIfPresent(Int.self, forKey: .heads)
        try read(.queryTokens, \.queryTokens)
        try read(.contextPacking, \.contextPacking)
        try read(.tuneProjection, \.tuneProjection)
        try read(.seed, \.seed)
        try read(.trainSamples, \.trainSamples)
        try read(.evalSamples, \.evalSamples)
        try read(.zeroInitOutput, \.zeroInitOutput)
        self = d
    }

    /// Throws `ReflectorError.invalidConfig` naming the first bad field.
    public func validate() throws {
        for (name, value) in [("steps", steps), ("batch_size", batchSize), ("candidates", candidates), ("hidden_width", hiddenWidth),
                              ("layers", layers), ("query_tokens", queryTokens)] where value <= 0 {
            throw ReflectorError.invalidConfig("\(name) must be positive (got \(value))")
        }
        guard trainSamples >= 0, evalSamples >= 0 else { throw ReflectorError.invalidConfig("train_samples and eval_samples must be ≥ 0") }
        guard warmupSteps >= 0 else { throw ReflectorError.invalidConfig("warmup_steps must be ≥ 0") }
        guard learningRate > 0, learningRate.isFinite, minLearningRate >= 0, minLearningRate <= learningRate else {
            throw ReflectorError.invalidConfig("need 0 ≤ min_learning_rate ≤ learning_rate, learning_rate > 0")
        }
        guard weightDecay >= 0, gradientClip >= 0 else { throw ReflectorError.invalidConfig("weight_decay and gradient_clip must be ≥ 0") }
        try filter.validate()
    }
}

/// One tuning or evaluation sample: a transition under a task mode, with its retrieved and filtered context.
public struct TuningSample: Sendable {
    /// The transition (its state1 is the truth).
    public var transition: Transition
    /// The task mode (which state0 modalities go in, which state1 modalities are predicted).
    public var mode: TaskMode
    /// The query as the reflector sees it (masked state, action, provenance).
    public var query: ReflectorQuery
    /// The filter's result on the retrieved candidates.
    public var filter: FilterResult

    /// A sample whose context was already retrieved and filtered.
    public init(transition: Transition, mode: TaskMode, query: ReflectorQuery, filter: FilterResult) {
        self.transition = transition
        self.mode = mode
        self.query = query
        self.filter = filter
    }

    /// The prediction input without reflector tokens (kept context attached).
    public var predictionInput: PredictionInput {
        PredictionInput(
            state: query.state, action: query.action, targets: mode.targets,
            context: filter.kept.map { ContextItem(transition: $0.transition, score: $0.score) }, scenario: transition.provenance.scenario)
    }
}

/// What one tuning step did.
public struct TuningMetrics: Sendable, Equatable {
    /// The step index (0-based).
    public var step: Int
    /// Mean cosine loss of the batch.
    public var loss: Float
    /// Mean cosine of the batch's predictions.
    public var cosine: Float
    /// The learning rate used.
    public var learningRate: Float
    /// The reflector's gradient norm before clipping.
    public var gradientNorm: Float
}

/// Held-out cosine (×100, mean over samples and their targets), overall and per mode.
public struct TuningEvaluation: Sendable, Equatable {
    /// Mean cosine ×100 over every (sample, target).
    public var cosine: Double
    /// Per mode name, mean cosine ×100.
    public var byMode: [String: Double]
    /// Number of (sample, target) pairs.
    public var count: Int
}

/// Trains a `LearnedReflector` against a frozen `NativeWorldModel` (cognitive-augmented tuning).
///
/// Each step draws a batch of samples, packs their kept context (`ReflectorInputBuilder`), runs the
/// reflector, hands its tokens to the world model, back-propagates the cosine loss through the world
/// model (whose weights do not move, except the `reflector.*` token projection when `tuneProjection`)
/// into the reflector, and takes AdamW steps. Deterministic for a given seed.
public final class ReflectorTuner {
    /// The frozen world model (its `reflector.*` projection is trained when `config.tuneProjection`).
    public let model: NativeWorldModel
    /// The reflector being trained.
    public let reflector: LearnedReflector
    /// Packs queries and context into reflector batches.
    public let builder: ReflectorInputBuilder
    /// The settings.
    public let config: ReflectorTuningConfig
    /// Steps taken.
    public private(set) var step = 0
    private let reflectorOptimizer: AdamW
    private let projectionOptimizer: AdamW
    private let schedule: WarmupCosineSchedule
    private var random: SeededRandom

    /// A tuner; freezes every world-model parameter except `reflector.*` and `context_change.*` (all of them without
    /// `tuneProjection`).
    /// - Throws: `ReflectorError.invalidConfig` for bad settings or a reflector whose widths do not fit the model.
    public init(model: NativeWorldModel, reflector: LearnedReflector, config: ReflectorTuningConfig) throws {
        try config.validate()
        let builder = try ReflectorInputBuilder.fitting(reflector.config, model: model.config)
        self.model = model
        self.reflector = reflector
        self.builder = builder
        self.config = config
        model.store.setFrozen(true)
        if config.tuneProjection {
            // How the model reads context: the reflector-token projection and, where the model has it, the context
            // change path.
            model.store.setFrozen(false, prefix: "reflector.")
            model.store.setFrozen(false, prefix: "context_change.")
        }
        reflectorOptimizer = AdamW(learningRate: config.learningRate, weightDecay: config.weightDecay)
        projectionOptimizer = AdamW(learningRate: config.learningRate, weightDecay: config.weightDecay)
        schedule = WarmupCosineSchedule(
            peak: config.learningRate, minimum: config.minLearningRate, warmupSteps: config.warmupSteps, totalSteps: config.steps)
        random = SeededRandom(seed: config.seed &+ 0x9E37_79B9)
    }

    /// A new reflector sized for `model` with the config's Q-Former sizes, initialised from its seed.
    public static func newReflector(for model: NativeWorldModel, config: ReflectorTuningConfig) throws -> LearnedReflector {
        let builder = ReflectorInputBuilder(
            stateWidth: model.config.embeddingDimension, actionWidth: model.config.actionDimension, packing: config.contextPacking)
        let reflector = try LearnedReflector(
            config: builder.reflectorConfig(
                hiddenWidth: config.hiddenWidth, layers: config.layers, heads: config.heads, queryTokens: config.queryTokens,
                outputWidth: model.config.reflectorWidth),
            seed: config.seed)
        if config.zeroInitOutput {
            for p in reflector.store.parameters where p.name.hasPrefix("fc3.") { reflector.store.setValue(p, Tensor(zeros: p.shape)) }
        }
        return reflector
    }

    /// Retrieves and filters context for the (transition, mode) pairs where the mode applies — all of them, or
    /// `limit` of them chosen at random with `seed` (kept in data order).
    /// - Parameter progress: called with (done, total) samples.
    public static func prepare(
        transitions: [Transition], modes: [TaskMode], source: any ContextSource, filter: ReflectorFilter, candidates: Int,
        limit: Int = 0, seed: UInt64 = 0, progress: ((Int, Int) -> Void)? = nil
    ) throws -> [TuningSample] {
        var pairs: [(Int, Int)] = []
        for (i, t) in transitions.enumerated() {
            for (k, mode) in modes.enumerated() where mode.applies(to: t) { pairs.append((i, k)) }
        }
        if limit > 0, pairs.count > limit {
            var rng = SeededRandom(seed: seed &+ 0x51_7CC1)
            for i in stride(from: pairs.count - 1, to: 0, by: -1) { pairs.swapAt(i, Int(rng.next() % UInt64(i + 1))) }
            pairs = Array(pairs.prefix(limit)).sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }
        }
        var samples: [TuningSample] = []
        samples.reserveCapacity(pairs.count)
        for (n, (i, k)) in pairs.enumerated() {
            let t = transitions[i], mode = modes[k]
            let query = ReflectorQuery(state: mode.mask(t.state0), action: t.action, provenance: t.provenance)
            let result = filter.apply(query: query, candidates: try source.candidates(for: query, k: candidates))
            samples.append(TuningSample(transition: t, mode: mode, query: query, filter: result))
            if n % 64 == 63 || n + 1 == pairs.count { progress?(n + 1, pairs.count) }
        }
        return samples
    }

    /// The reflector tokens for `samples` (one forward pass), as the world model takes them.
    public func tokens(for samples: [TuningSample]) throws -> [ReflectorTokens] {
        let input = try builder.batch(queries: samples.map(\.query), context: samples.map { $0.filter.kept.map(\.transition) })
        let out = try reflector.forward(input)
        let q = reflector.config.queryTokenCount, o = reflector.config.outputWidth
        return (0..<samples.count).map { ReflectorTokens(tokenCount: q, width: o, values: Array(out.data[($0 * q * o)..<(($0 + 1) * q * o)])) }
    }

    /// One optimiser step on a batch drawn from `samples`.
    /// - Throws: `ReflectorError`/`WorldModelError` for unusable samples; `ReflectorError.invalidConfig` on a non-finite loss.
    @discardableResult
    public func trainStep(_ samples: [TuningSample]) throws -> TuningMetrics {
        precondition(!samples.isEmpty, "trainStep needs samples")
        let batch = (0..<config.batchSize).map { _ in samples[Int(random.next() % UInt64(samples.count))] }
        reflector.store.zeroGradients()
        model.store.zeroGradients()
        let input = try builder.batch(queries: batch.map(\.query), context: batch.map { $0.filter.kept.map(\.transition) })
        let out = try reflector.forward(input)
        let q = reflector.config.queryTokenCount, o = reflector.config.outputWidth
        var inputs: [PredictionInput] = []
        for (i, s) in batch.enumerated() {
            var p = s.predictionInput
            p.reflectorTokens = ReflectorTokens(tokenCount: q, width: o, values: Array(out.data[(i * q * o)..<((i + 1) * q * o)]))
            inputs.append(p)
        }
        let pass = try model.reflectorTuningPass(inputs, truth: batch.map(\.transition.state1))
        guard pass.loss.isFinite else { throw ReflectorError.invalidConfig("non-finite tuning loss at step \(step)") }
        var dTokens = [Float]()
        dTokens.reserveCapacity(out.count)
        for g in pass.reflectorGradients {
            precondition(g.count == q * o, "world model returned \(g.count) reflector gradients, expected \(q * o)")
            dTokens += g
        }
        _ = reflector.backward(Tensor(shape: out.shape, data: dTokens))
        let lr = schedule.learningRate(at: step)
        let norm = config.gradientClip > 0 ? reflector.store.clipGradients(maxNorm: config.gradientClip) : reflector.store.gradientNorm()
        reflectorOptimizer.step(reflector.store, learningRate: lr)
        if config.tuneProjection {
            if config.gradientClip > 0 { model.store.clipGradients(maxNorm: config.gradientClip) }
            projectionOptimizer.step(model.store, learningRate: lr)
        }
        let metrics = TuningMetrics(step: step, loss: pass.loss, cosine: pass.cosine, learningRate: lr, gradientNorm: norm)
        step += 1
        return metrics
    }

    /// Held-out cosine with the reflector's tokens (`useReflector`) or without (the frozen base model).
    public func evaluate(_ samples: [TuningSample], useReflector: Bool, batchSize: Int = 256) throws -> TuningEvaluation {
        try ReflectorTuner.evaluate(samples, batchSize: batchSize) { chunk in
            var inputs = chunk.map(\.predictionInput)
            if useReflector {
                for (i, t) in try tokens(for: chunk).enumerated() { inputs[i].reflectorTokens = t }
            }
            return try model.predictBatch(inputs)
        }
    }

    /// Retrieval without a learned stage: per target modality, the query's state0 moved by the mean change
    /// (state1 − state0) of the kept transitions that have it; for a target the query lacks, their mean state1.
    /// A target no kept transition has is left out.
    public static func keptChangePrediction(_ sample: TuningSample) -> State {
        var out: [Modality: Formats.Embedding] = [:]
        for m in sample.mode.targets {
            let start = sample.query.state[m]
            var sum: [Float] = []
            var count = 0
            for k in sample.filter.kept {
                guard let after = k.transition.state1[m], after.dim == (start?.dim ?? after.dim) else { continue }
                var change = after.values
                if let start {
                    guard let before = k.transition.state0[m], before.dim == start.dim else { continue }
                    for i in change.indices { change[i] -= before.values[i] }
                }
                if sum.isEmpty { sum = [Float](repeating: 0, count: change.count) }
                guard change.count == sum.count else { continue }
                for i in sum.indices { sum[i] += change[i] }
                count += 1
            }
            guard count > 0 else { continue }
            let scale = 1 / Float(count)
            for i in sum.indices { sum[i] = sum[i] * scale + (start?.values[i] ?? 0) }
            out[m] = Formats.Embedding(sum).normalized()
        }
        return State(out)
    }

    /// Held-out cosine ×100 of any predictor over `samples` (e.g. a retrieval baseline).
    public static func evaluate(
        _ samples: [TuningSample], batchSize: Int = 256, predict: ([TuningSample]) throws -> [State]
    ) throws -> TuningEvaluation {
        var total = 0.0, count = 0
        var sums: [String: (Double, Int)] = [:]
        for start in stride(from: 0, to: samples.count, by: batchSize) {
            let chunk = Array(samples[start..<min(samples.count, start + batchSize)])
            let predictions = try predict(chunk)
            for (s, p) in zip(chunk, predictions) {
                for m in s.mode.targets {
                    guard let truth = s.transition.state1[m], let guess = p[m], truth.dim == guess.dim else { continue }
                    let c = truth.cosine(guess) * 100
                    total += c
                    count += 1
                    sums[s.mode.name, default: (0, 0)].0 += c
                    sums[s.mode.name, default: (0, 0)].1 += 1
                }
            }
        }
        return TuningEvaluation(
            cosine: count == 0 ? 0 : total / Double(count), byMode: sums.mapValues { $0.1 == 0 ? 0 : $0.0 / Double($0.1) }, count: count)
    }
}
