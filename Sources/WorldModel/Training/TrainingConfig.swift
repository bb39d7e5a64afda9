// Training settings of the native world model: optimiser, schedule, progressive stages, memory sampling, checkpoints.
import Foundation
import Formats

/// One progressive-training stage: the kind of task it adds and how many steps it runs.
///
/// Stage `i` samples the modes of its own kind and of every earlier stage's kind (so earlier skills
/// keep being rehearsed), weighted by the modes' `weight`.
public struct TrainingStage: Codable, Equatable, Sendable {
    /// The task kind this stage adds.
    public var kind: TaskMode.Kind
    /// Optimiser steps in this stage.
    public var steps: Int

    /// A stage.
    public init(kind: TaskMode.Kind, steps: Int) {
        self.kind = kind
        self.steps = steps
    }
}

extension TaskMode.Kind: Codable {}

/// Everything `Trainer` needs besides the data.
public struct TrainingConfig: Codable, Equatable, Sendable {
    /// The architecture to train.
    public var model: NativeModelConfig
    /// The progressive stages, in order; the total step count is their sum.
    public var stages: [TrainingStage]
    /// Samples per optimiser step.
    public var batchSize: Int
    /// Peak learning rate (after warm-up).
    public var learningRate: Float
    /// Final learning rate of the cosine schedule.
    public var minLearningRate: Float
    /// Linear warm-up steps.
    public var warmupSteps: Int
    /// AdamW decoupled weight decay.
    public var weightDecay: Float
    /// Global gradient-norm clip (0 disables).
    public var gradientClip: Float
    /// Weight of the optional MSE term added to the cosine loss (0 disables; the paper uses both).
    public var l2Weight: Float
    /// Probability that a step's batch carries memory (when the data has sequences).
    public var memoryProbability: Double
    /// Fewest and most history steps of a memory batch (the paper: 2–5).
    public var memoryRange: ClosedRange<Int>
    /// Probability that a step's batch carries reflector tokens from the trainer's context stage (retrieved
    /// knowledge through the learned reflector); 0 trains without knowledge. Needs a `TrainingContextStage`.
    public var contextProbability: Double = 0
    /// Save a checkpoint every this many steps (0: only at the end).
    public var checkpointEvery: Int
    /// Hold out every this many training episodes (sorted by name; 0: none): the model never trains on them, and
    /// `final/` is the candidate that scores best on them — the start (with a linear base: the base alone, residual
    /// zero), every checkpoint and the last step (`selection.json` lists the scores).
    public var heldOutEvery: Int = 0
    /// Seed of batch sampling (the model has its own `model.seed`).
    public var seed: UInt64

    /// Defaults sized for SimWorld on two cores.
    public init(
        model: NativeModelConfig = NativeModelConfig(),
        stages: [TrainingStage] = TaskMode.Kind.allCases.map { TrainingStage(kind: $0, steps: 250) },
        batchSize: Int = 64, learningRate: Float = 1e-3, minLearningRate: Float = 3e-5, warmupSteps: Int = 100,
        weightDecay: Float = 0.01, gradientClip: Float = 1, l2Weight: Float = 0, memoryProbability: Double = 0.5,
        memoryRange: ClosedRange<Int> = 2...5, checkpointEvery: Int = 0, seed: UInt64 = 0, heldOutEvery: Int = 0
    ) {
        self.model = model
        self.stages = stages
        self.batchSize = batchSize
        self.learningRate = learningRate
        self.minLearningRate = minLearningRate
        self.warmupSteps = warmupSteps
        self.weightDecay = weightDecay
        self.gradientClip = gradientClip
        self.l2Weight = l2Weight
        self.memoryProbability = memoryProbability
        self.memoryRange = memoryRange
        self.checkpointEvery = checkpointEvery
        self.seed = seed
        self.heldOutEvery = heldOutEvery
    }

    /// Decodes a config; `contextProbability` may be absent (checkpoints written before it existed): 0.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(NativeModelConfig.self, forKey: .model)
        stages = try c.decode([TrainingStage].self, forKey: .stages)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        learningRate = try c.decode(Float.self, forKey: .learningRate)
        minLearningRate = try c.decode(Float.self, forKey: .minLearningRate)
        warmupSteps = try c.decode(Int.self, forKey: .warmupSteps)
        weightDecay = try c.decode(Float.self, forKey: .weightDecay)
        gradientClip = try c.decode(Float.self, forKey: .gradientClip)
        l2Weight = try c.decode(Float.self, forKey: .l2Weight)
        memoryProbability = try c.decode(Double.self, forKey: .memoryProbability)
        memoryRange = try c.decode(ClosedRange<Int>.self, forKey: .memoryRange)
        contextProbability = try c.decodeIfPresent(Double.self, forKey: .contextProbability) ?? 0
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
        heldOutEvery = try c.decodeIfPresent(Int.self, forKey: .heldOutEvery) ?? 0
        seed = try c.decode(UInt64.self, forKey: .seed)
    }

    enum CodingKeys: String, CodingKey {
        case model, stages, batchSize, learningRate, minLearningRate, warmupSteps, weightDecay, gradientClip, l2Weight
        case memoryProbability, memoryRange, contextProbability, checkpointEvery, heldOutEvery, seed
    }

    /// The total number of optimiser steps.
    public var totalSteps: Int { stages.reduce(0) { $0 + $1.steps } }

    /// The stage index of step `step` (0-based).
    public func stageIndex(at step: Int) -> Int {
        var end = 0
        for (i, stage) in stages.enumerated() {
            end += stage.steps
            if step < end { return i }
        }
        return max(0, stages.count - 1)
    }

    /// Throws `WorldModelError.invalidConfig` naming the first bad field.
    public func validate() throws {
        try model.validate()
        guard !stages.isEmpty else { throw WorldModelError.invalidConfig(field: "training.stages", reason: "no stage listed") }
        var total = 0
        for (i, stage) in stages.enumerated() {
            guard stage.steps > 0 else {
                throw WorldModelError.invalidConfig(field: "training.stages[\(i)].steps", reason: "must be positive, got \(stage.steps)")
            }
            // `totalSteps` (the schedule's length) must exist: huge counts overflowed its sum.
            let (sum, overflow) = total.addingReportingOverflow(stage.steps)
            guard !overflow else {
                throw WorldModelError.invalidConfig(field: "training.stages[\(i)].steps", reason: "the stages' total does not fit in 64 bits")
            }
            total = sum
        }
        guard batchSize > 0 else { throw WorldModelError.invalidConfig(field: "training.batch_size", reason: "must be positive, got \(batchSize)") }
        guard learningRate > 0, learningRate.isFinite else {
            throw WorldModelError.invalidConfig(field: "optimizer.lr", reason: "must be a positive number, got \(learningRate)")
        }
        guard minLearningRate >= 0, minLearningRate <= learningRate else {
            throw WorldModelError.invalidConfig(field: "optimizer.min_lr", reason: "must be in 0...lr, got \(minLearningRate)")
        }
        guard warmupSteps >= 0 else { throw WorldModelError.invalidConfig(field: "optimizer.warmup_steps", reason: "must not be negative") }
        guard weightDecay >= 0 else { throw WorldModelError.invalidConfig(field: "optimizer.weight_decay", reason: "must not be negative") }
        guard gradientClip >= 0 else { throw WorldModelError.invalidConfig(field: "optimizer.grad_clip", reason: "must not be negative") }
        guard l2Weight >= 0 else { throw WorldModelError.invalidConfig(field: "training.l2_weight", reason: "must not be negative") }
        guard (0...1).contains(memoryProbability) else {
            throw WorldModelError.invalidConfig(field: "training.memory_probability", reason: "must be in 0...1, got \(memoryProbability)")
        }
        guard memoryRange.lowerBound >= 1, memoryRange.upperBound <= model.maxMemorySteps else {
            throw WorldModelError.invalidConfig(
                field: "training.memory_steps", reason: "must be within 1...\(model.maxMemorySteps), got \(memoryRange)")
        }
        guard (0...1).contains(contextProbability) else {
            throw WorldModelError.invalidConfig(field: "training.context_probability", reason: "must be in 0...1, got \(contextProbability)")
        }
        guard heldOutEvery == 0 || heldOutEvery >= 2 else {
            throw WorldModelError.invalidConfig(field: "training.held_out_every", reason: "must be 0 (none) or at least 2, got \(heldOutEvery)")
        }
        guard checkpointEvery >= 0 else { throw WorldModelError.invalidConfig(field: "training.checkpoint_every", reason: "must not be negative") }
    }
}
