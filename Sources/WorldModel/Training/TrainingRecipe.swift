// The one recipe: what `worldgpt train --data D` uses when no `--config` is given. Sizes, steps and schedule follow
// from the data by the rule below (docs/worldmodel.md, "The default recipe"); no per-world setting exists.
import Foundation
import Formats

/// The default training configuration, derived from the training data.
public enum TrainingRecipe {
    /// Passes over the training transitions (batches × batch size ≈ `epochs` × transitions).
    public static let epochs = 1.0
    /// Fewest and most optimiser steps.
    public static let stepRange = 300...3000
    /// Samples per step.
    public static let batchSize = 64

    /// The rule:
    /// - model: width 128, depth 2, 4 heads, MLP ×4, 8 memory steps, reflector width 256, with the **linear base**
    ///   (closed-form ridge for the evidence an input carries; the transformer learns the residual, scaled by 0.1);
    /// - steps: `epochs` passes over the transitions, rounded up to a multiple of 100 and clamped to `stepRange`,
    ///   split equally over one stage per mode kind present (single-unimodal, single-cross, multi-unimodal,
    ///   multi-cross, in that order);
    /// - AdamW, lr 7e-4 → 3e-5 on a cosine after a warm-up of 5% of the steps, weight decay 0.01, clip 1;
    ///   memory in half the batches (2–5 steps);
    /// - every 5th training episode held out; `final/` is the best on them (at most 500 transitions) of the linear base alone, three checkpoints
    ///   and the last step.
    /// - Parameters:
    ///   - transitionCount: training transitions.
    ///   - modes: the dataset's modes (their kinds decide the stages).
    /// - Throws: `WorldModelError.emptyDataset` without transitions or modes.
    public static func config(transitionCount: Int, modes: [TaskMode]) throws -> TrainingConfig {
        guard transitionCount > 0 else { throw WorldModelError.emptyDataset(field: "dataset_list", reason: "no training transitions") }
        let kinds = TaskMode.Kind.allCases.filter { kind in modes.contains { $0.kind == kind } }
        guard !kinds.isEmpty else { throw WorldModelError.emptyDataset(field: "modality_modes", reason: "no mode listed") }
        let wanted = Int((epochs * Double(transitionCount) / Double(batchSize) / 100).rounded(.up)) * 100
        let total = min(max(wanted, stepRange.lowerBound), stepRange.upperBound)
        let stages = kinds.enumerated().map { i, kind in
            TrainingStage(kind: kind, steps: total / kinds.count + (i < total % kinds.count ? 1 : 0))
        }
        return TrainingConfig(
            model: NativeModelConfig(
                width: 128, depth: 2, heads: 4, mlpRatio: 4, maxMemorySteps: 8, reflectorWidth: 256, seed: 0, residualScale: 0.1, linearBase: true),
            stages: stages, batchSize: batchSize, learningRate: 7e-4, minLearningRate: 3e-5, warmupSteps: max(20, total / 20),
            weightDecay: 0.01, gradientClip: 1, l2Weight: 0, memoryProbability: 0.5, memoryRange: 2...5,
            checkpointEvery: max(1, total / 3), seed: 0, heldOutEvery: 5)
    }
}
