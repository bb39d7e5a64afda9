// Trains a NativeWorldModel: progressive stages over `modality_modes`, cosine (+ optional MSE) loss,
// AdamW with warm-up + cosine schedule and gradient clipping, memory batches from episode sequences.
// Deterministic: the batch of step s depends only on (seed, s), so a resumed run replays the same batches.
import Foundation
import Formats
import Tensor

/// The metrics of one optimiser step.
public struct StepMetrics: Sendable, Equatable {
    /// 0-based step index.
    public var step: Int
    /// The stage index.
    public var stage: Int
    /// The mode of this step's batch.
    public var mode: TaskMode
    /// Memory steps per sample in this batch (0 = none).
    public var memorySteps: Int
    /// Whether this batch carried reflector tokens from the context stage.
    public var context: Bool = false
    /// The loss (mean over targets of mean cosine loss, plus the weighted MSE term).
    public var loss: Float
    /// The mean cosine similarity of the batch's predictions (before the update).
    public var cosine: Float
    /// The learning rate used.
    public var learningRate: Float
    /// The gradient norm before clipping.
    public var gradientNorm: Float
}

/// Training data indexed for fast batch sampling.
public struct TrainingData: Sendable {
    /// The transitions (every one with an action embedding).
    public let transitions: [Transition]
    /// The modes from the dataset config.
    public let modes: [TaskMode]
    /// Per mode: indices of transitions that have its inputs and targets.
    let eligible: [[Int]]
    /// Per transition: indices of earlier transitions of its episode, most recent first (empty without sequences).
    let history: [[Int]]

    /// Indexes `transitions` for `modes`, checking them against `model`.
    ///
    /// - Throws: `WorldModelError.emptyDataset` when there is nothing to train on or a mode has no sample;
    ///   `.dimensionMismatch` when embeddings do not match the model's dimensions; `.missingActionEmbedding`.
    public init(transitions: [Transition], modes: [TaskMode], model: NativeModelConfig) throws {
        guard !transitions.isEmpty else { throw WorldModelError.emptyDataset(field: "dataset_list", reason: "no training transitions") }
        guard !modes.isEmpty else { throw WorldModelError.emptyDataset(field: "modality_modes", reason: "no mode listed") }
        for (i, t) in transitions.enumerated() {
            guard let action = t.action.embedding else { throw WorldModelError.missingActionEmbedding(action: t.action.text) }
            guard action.dim == model.actionDimension else {
                throw WorldModelError.dimensionMismatch(
                    field: "model.action_dim (sample \(t.provenance.sampleID) action embedding)", expected: model.actionDimension, actual: action.dim)
            }
            for (m, e) in t.state0.embeddings.merging(t.state1.embeddings.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a }) {
                guard e.dim == model.embeddingDimension else {
                    throw WorldModelError.dimensionMismatch(
                        field: "model.embedding_dim (sample \(t.provenance.sampleID) \(m))", expected: model.embeddingDimension, actual: e.dim)
                }
            }
            _ = i
        }
        var eligible: [[Int]] = []
        for (k, mode) in modes.enumerated() {
            let rows = transitions.indices.filter { mode.applies(to: transitions[$0]) }
            guard !rows.isEmpty else {
                let present = Set(transitions.flatMap { $0.state0.modalities + $0.state1.modalities })
                var missing: [Modality] = []
                for m in mode.inputs + mode.targets where !present.contains(m) && !missing.contains(m) { missing.append(m) }
                let reason = missing.isEmpty
                    ? "no sample has inputs \(mode.inputs.map(\.rawValue)) in state0 and targets \(mode.targets.map(\.rawValue)) in state1"
                    : "modality \(missing.map(\.rawValue).joined(separator: ", ")) is in no training sample"
                throw WorldModelError.invalidConfig(field: "modality_modes[\(k)] \(mode.name)", reason: reason)
            }
            eligible.append(rows)
        }
        // Sequences: transitions sharing an episode, ordered by step.
        var episodes: [String: [(step: Int, index: Int)]] = [:]
        for (i, t) in transitions.enumerated() {
            // Episodes are named per annotation file: the key includes the dataset.
            if let e = t.provenance.episode, let s = t.provenance.step { episodes[t.provenance.dataset + "\u{1}" + e, default: []].append((s, i)) }
        }
        var history = [[Int]](repeating: [], count: transitions.count)
        for (_, steps) in episodes {
            let sorted = steps.sorted { $0.step < $1.step }
            for (k, entry) in sorted.enumerated() {
                // Only contiguous predecessors count as history.
                var previous: [Int] = []
                var expected = entry.step - 1
                var j = k - 1
                while j >= 0 && sorted[j].step == expected {
                    previous.append(sorted[j].index)
                    expected -= 1
                    j -= 1
                }
                history[entry.index] = previous
            }
        }
        self.transitions = transitions
        self.modes = modes
        self.eligible = eligible
        self.history = history
    }

    /// True when some transitions have at least `steps` history steps.
    public func hasSequences(minimum steps: Int) -> Bool { history.contains { $0.count >= steps } }
}

/// Trains a `NativeWorldModel` step by step; `run` drives it with checkpoints and progress.
public final class Trainer {
    /// The training settings.
    public let config: TrainingConfig
    /// The model being trained.
    public let model: NativeWorldModel
    /// The optimiser (its moments are part of every checkpoint).
    public let optimizer: AdamW
    /// The data.
    public let data: TrainingData
    /// Steps done so far.
    public internal(set) var step = 0
    /// Supplies reflector tokens (retrieved knowledge through the learned reflector) to the batches drawn for
    /// context (`config.contextProbability`); trained with the model. Required when that probability is above 0.
    public var contextStage: (any TrainingContextStage)?

    /// Per mode: the transitions batches are drawn from (`data.eligible` less the held-out episodes).
    private let pools: [[Int]]
    /// The held-out transitions `final/` is selected on (`config.heldOutEvery`); empty without selection.
    public let heldOut: [Transition]

    private let schedule: WarmupCosineSchedule
    /// Per stage: the modes it samples and their cumulative weights.
    private let stageModes: [[(mode: Int, cumulativeWeight: Double)]]

    /// A trainer with a freshly initialised model.
    /// - Throws: config and data errors naming the field, before any training.
    public init(config: TrainingConfig, data: TrainingData) throws {
        try config.validate()
        self.config = config
        self.data = data
        model = try NativeWorldModel(config: config.model)
        optimizer = AdamW(learningRate: config.learningRate, weightDecay: config.weightDecay)
        schedule = WarmupCosineSchedule(
            peak: config.learningRate, minimum: config.minLearningRate, warmupSteps: config.warmupSteps, totalSteps: config.totalSteps)
        var stageModes: [[(Int, Double)]] = []
        var kinds: Set<TaskMode.Kind> = []
        for (i, stage) in config.stages.enumerated() {
            guard data.modes.contains(where: { $0.kind == stage.kind }) else {
                throw WorldModelError.invalidConfig(
                    field: "training.stages[\(i)].kind", reason: "no mode of kind \(stage.kind.rawValue) in modality_modes")
            }
            kinds.insert(stage.kind)
            var total = 0.0
            var list: [(Int, Double)] = []
            for (k, mode) in data.modes.enumerated() where kinds.contains(mode.kind) && mode.weight > 0 {
                total += mode.weight
                list.append((k, total))
            }
            guard !list.isEmpty else {
                throw WorldModelError.invalidConfig(field: "modality_modes", reason: "every mode of stage \(i) has weight 0")
            }
            stageModes.append(list)
        }
        self.stageModes = stageModes
        if config.heldOutEvery >= 2 {
            let keys = RidgeModel.heldOutEpisodes(data.transitions.map { EvaluationSample(transition: $0) }, every: config.heldOutEvery)
            let isHeldOut = data.transitions.map { keys.contains(RidgeModel.episodeKey($0)) }
            heldOut = data.transitions.indices.filter { isHeldOut[$0] }.map { data.transitions[$0] }
            // A mode whose every sample is held out keeps them all (it would otherwise never train).
            pools = data.eligible.map { pool in
                let kept = pool.filter { !isHeldOut[$0] }
                return kept.isEmpty ? pool : kept
            }
        } else {
            heldOut = []
            pools = data.eligible
        }
        if config.model.linearBase { model.linearBase = try Self.fitLinearBase(data, actionEncoder: config.model.actionEncoder) }
    }

    /// The linear base `train` fits before the first step: `ridge` on (state, action) and, when the data has episodes,
    /// `ridge+memory` with each transition's previous step, both under every training mode (λ on held-out episodes), and
    /// the action key stacked over the training scenarios (`ActionSignature`).
    /// Knowledge models come later, from `train-reflector`, which has a knowledge base.
    public static func fitLinearBase(_ data: TrainingData, actionEncoder: String?) throws -> LinearBase {
        let samples = EvaluationSample.withHistory(data.transitions, maxSteps: 1)
        let sets = samples.contains(where: { !$0.memory.isEmpty }) ? [RidgeFeatureSet(), RidgeFeatureSet(memory: true)] : [RidgeFeatureSet()]
        var base = LinearBase(try RidgeModel.train(samples: samples, modes: data.modes, featureSets: sets, actionEncoder: actionEncoder))
        base.actionSignature = try ActionSignature.fit(transitions: data.transitions, pooled: base.models[RidgeFeatureSet()]!)
        return base
    }

    /// The generator of step `step`'s batch: a function of the seed and the step only.
    private func generator(for step: Int) -> SeededRandom {
        SeededRandom(seed: config.seed &+ 0x5851_F42D_4C95_7F2D &* UInt64(step + 1))
    }

    /// Draws the batch of step `step`: its mode, memory length, whether it carries context, and the packed tensors.
    func sampleBatch(step: Int) throws -> (mode: TaskMode, memory: Int, context: Bool, batch: ModelBatch) {
        var rng = generator(for: step)
        let choices = stageModes[config.stageIndex(at: step)]
        let pick = Double(rng.nextUnit()) * choices.last!.cumulativeWeight
        let modeIndex = (choices.first { pick < $0.cumulativeWeight } ?? choices.last!).mode
        let mode = data.modes[modeIndex]
        var pool = pools[modeIndex]
        var memory = 0
        if Double(rng.nextUnit()) < config.memoryProbability {
            let span = config.memoryRange.upperBound - config.memoryRange.lowerBound + 1
            let wanted = config.memoryRange.lowerBound + Int(rng.next() % UInt64(span))
            let withHistory = pool.filter { data.history[$0].count >= wanted }
            if !withHistory.isEmpty {
                pool = withHistory
                memory = wanted
            }
        }
        var inputs: [PredictionInput] = []
        var truth: [State] = []
        var indices: [Int] = []
        inputs.reserveCapacity(config.batchSize)
        for _ in 0..<config.batchSize {
            let index = pool[Int(rng.next() % UInt64(pool.count))]
            indices.append(index)
            let t = data.transitions[index]
            let items = data.history[index].prefix(memory).enumerated().map { k, j in
                let past = data.transitions[j]
                return MemoryItem(state0: past.state0, action: past.action, state1: past.state1, stepsAgo: k + 1)
            }
            inputs.append(PredictionInput(state: mode.mask(t.state0), action: t.action, targets: mode.targets, memory: items))
            truth.append(t.state1)
        }
        // Drawn last, so configurations without context keep the batches they always had.
        var reflectorCount = 0
        let context = config.contextProbability > 0 && Double(rng.nextUnit()) < config.contextProbability
        if context {
            guard let contextStage else {
                throw WorldModelError.invalidConfig(field: "training.context_probability", reason: "needs a knowledge base to retrieve context from (train --kb)")
            }
            let tokens = try contextStage.tokens(for: indices, mode: mode)
            for (i, t) in tokens.enumerated() { inputs[i].reflectorTokens = t }
            reflectorCount = tokens.first?.tokenCount ?? 0
        }
        let layout = BatchLayout(
            inputs: inputs[0].state.modalities, targets: Array(Set(mode.targets)).sorted(), memoryCount: memory, reflectorCount: reflectorCount)
        return (mode, memory, context, try model.makeBatch(inputs, layout: layout, truth: truth))
    }

    /// Runs one optimiser step and returns its metrics.
    @discardableResult
    public func trainStep() throws -> StepMetrics {
        let (mode, memory, context, batch) = try sampleBatch(step: step)
        model.store.zeroGradients()
        let predictions = model.forward(batch)
        var gradients: [Modality: Tensor] = [:]
        var loss: Float = 0, cosine: Float = 0
        let share = 1 / Float(batch.targets.count)
        for m in batch.targets {
            let prediction = predictions[m]!
            let target = Tensor(shape: prediction.shape, data: batch.truth[m]!)
            let cos = Loss.cosine(prediction: prediction, target: target)
            var gradient = cos.gradient * share
            loss += cos.value * share
            cosine += (1 - cos.value) * share
            if config.l2Weight > 0 {
                let mse = Loss.mse(prediction: prediction, target: target)
                gradient.add(mse.gradient, scale: config.l2Weight * share)
                loss += config.l2Weight * mse.value * share
            }
            gradients[m] = gradient
        }
        guard loss.isFinite else { throw WorldModelError.notFinite(field: "training loss at step \(step)") }
        let dTokens = model.backward(gradients)
        let norm = config.gradientClip > 0 ? model.store.clipGradients(maxNorm: config.gradientClip) : model.store.gradientNorm()
        let lr = schedule.learningRate(at: step)
        optimizer.step(model.store, learningRate: lr)
        if context, let contextStage, let dTokens {
            try contextStage.backward(dTokens)
            contextStage.step(learningRate: lr)
        }
        let metrics = StepMetrics(
            step: step, stage: config.stageIndex(at: step), mode: mode, memorySteps: memory, context: context, loss: loss, cosine: cosine,
            learningRate: lr, gradientNorm: norm)
        step += 1
        return metrics
    }
}
