// The ridge baselines trained on what the runtime would hand them: each training transition with its episode's
// previous step (memory) and the context the runtime's retrieval and reflector filter keep for it (knowledge).
import ContextReflector
import Formats
import WorldModel

/// Training `RidgeModel`s on runtime-shaped inputs, and their rows in the ablation.
public enum RidgeBaselines {
    /// The four feature sets of the ablation, in row order: `ridge`, `ridge+memory`, `ridge+knowledge`, `ridge+all`.
    public static let ablationFeatures: [RidgeFeatureSet] = [
        RidgeFeatureSet(), RidgeFeatureSet(memory: true), RidgeFeatureSet(knowledge: true), RidgeFeatureSet(memory: true, knowledge: true),
    ]

    /// Training samples for `features`: each transition with, when `features.memory`, its episode's previous step
    /// (true states, as the runtime recalls an observed step) and, when `features.knowledge`, the context items the
    /// runtime keeps for it: `options.retrievalK` candidates from `knowledge` for the query (state0, action, provenance),
    /// filtered with `options.filterInForce` (leakage guard on: a sample never sees itself).
    /// - Throws: `AgentError.invalidOption` when knowledge features are asked for without a source; retrieval errors.
    public static func samples(
        _ transitions: [Transition], features: RidgeFeatureSet, knowledge: (any ContextSource)?, options: RuntimeOptions,
        progress: ((Int, Int) -> Void)? = nil
    ) throws -> [EvaluationSample] {
        var samples = EvaluationSample.withHistory(transitions, maxSteps: features.memory ? 1 : 0)
        guard features.knowledge else { return samples }
        guard let knowledge else {
            throw AgentError.invalidOption(name: "kb", reason: "\(features.name) reads kept context: give a knowledge base")
        }
        let filter = try ReflectorFilter(config: options.filterInForce)
        let cache = FilterCache()
        for i in samples.indices {
            let t = samples[i].transition
            let query = ReflectorQuery(state: t.state0, action: t.action, provenance: t.provenance)
            let kept = filter.apply(query: query, candidates: try knowledge.candidates(for: query, k: options.retrievalK), cache: cache).kept
            samples[i].context = kept.map { ContextItem(transition: $0.transition, score: $0.score) }
            if i % 64 == 63 || i + 1 == samples.count { progress?(i + 1, samples.count) }
        }
        return samples
    }

    /// A ridge model for `features`, fitted on `transitions` under `modes` with inputs from `samples(...)`.
    public static func train(
        _ transitions: [Transition], modes: [TaskMode], features: RidgeFeatureSet, knowledge: (any ContextSource)?,
        options: RuntimeOptions, actionEncoder: String?, progress: ((Int, Int) -> Void)? = nil
    ) throws -> RidgeModel {
        let inputs = try samples(transitions, features: features, knowledge: knowledge, options: options, progress: progress)
        return try RidgeModel.train(samples: inputs, modes: modes, features: features, actionEncoder: actionEncoder)
    }

    /// The runtime options of `features`' ablation row: memory on when it reads memory, retrieval with the reflector's
    /// filter on when it reads kept context.
    public static func options(_ features: RidgeFeatureSet, base: RuntimeOptions) -> RuntimeOptions {
        var options = base
        options.memory = features.memory
        options.retrieval = features.knowledge
        options.reflector = features.knowledge
        return options
    }

    /// The ridge rows of the ablation, each model fitted on `transitions` (the train split) with the inputs its row's
    /// runtime gives it: `ridge`, `ridge+memory` and, with a knowledge source, `ridge+knowledge` and `ridge+all`. The
    /// runtime runs them without the learned stage: a ridge model reads the kept items themselves.
    ///
    /// The ablation's runtime predicts every modality of a state from that state, so only the heads that predict a
    /// modality from itself are fitted: `modes` is narrowed to those whose targets are all among their inputs (all of
    /// `modes` when none is).
    /// - Parameter progress: called with each row's name once its model is fitted.
    public static func ablationVariants(
        train transitions: [Transition], modes: [TaskMode], knowledge: (any ContextSource)?, base: RuntimeOptions, actionEncoder: String?,
        progress: (String) -> Void = { _ in }
    ) throws -> [AblationVariant] {
        let selfPredicting = modes.filter { mode in mode.targets.allSatisfy { mode.inputs.contains($0) } }
        // One set of samples (previous step and, with a source, kept context) serves every row: a model reads only
        // the blocks of its feature set, and the context rows share the filter settings.
        let everything = RidgeFeatureSet(memory: true, knowledge: knowledge != nil)
        let inputs = try samples(transitions, features: everything, knowledge: knowledge, options: options(everything, base: base))
        let sets = ablationFeatures.filter { knowledge != nil || !$0.knowledge }
        // One pass over the rows serves every row's model (each solved from its own columns).
        let models = try RidgeModel.train(samples: inputs, modes: selfPredicting.isEmpty ? modes : selfPredicting, featureSets: sets, actionEncoder: actionEncoder)
        return models.map { model in
            progress(model.name)
            return AblationVariant(name: model.name, model: model, options: options(model.layout.features, base: base), learnedStage: false)
        }
    }

    /// The ridge rows of the ablation taken from a native model's linear base (fitted on the model's training data
    /// with the same inputs `ablationVariants(train:...)` would build), in row order; rows reading kept context only
    /// with `knowledge`. Nil unless the base has every row the ablation shows (all four with knowledge, else `ridge`
    /// and `ridge+memory`).
    public static func ablationVariants(from base: LinearBase, knowledge: Bool, options: RuntimeOptions) -> [AblationVariant]? {
        let wanted = ablationFeatures.filter { knowledge || !$0.knowledge }
        guard wanted.allSatisfy({ base.models[$0] != nil }) else { return nil }
        return wanted.map { AblationVariant(name: $0.name, model: base.models[$0]!, options: Self.options($0, base: options), learnedStage: false) }
    }

    /// Completes a native model's linear base with the knowledge models (`ridge+knowledge`, `ridge+all`), fitted on
    /// `transitions` with the context the runtime keeps for each under `options` (leakage guard on) — the same fit as
    /// the ablation's rows of those names. No-op for a model without `linear_base`.
    /// - Returns: the feature sets added.
    @discardableResult
    public static func addKnowledge(
        to model: NativeWorldModel, transitions: [Transition], modes: [TaskMode], knowledge: any ContextSource,
        options: RuntimeOptions = RuntimeOptions(), progress: ((Int, Int) -> Void)? = nil
    ) throws -> [RidgeFeatureSet] {
        guard model.config.linearBase, var base = model.linearBase else { return [] }
        let everything = RidgeFeatureSet(memory: true, knowledge: true)
        let inputs = try samples(transitions, features: everything, knowledge: knowledge, options: Self.options(everything, base: options), progress: progress)
        let added = [RidgeFeatureSet(knowledge: true), everything]
        for fitted in try RidgeModel.train(samples: inputs, modes: modes, featureSets: added, actionEncoder: model.config.actionEncoder) {
            base.insert(fitted)
        }
        model.linearBase = base
        return added
    }
}
