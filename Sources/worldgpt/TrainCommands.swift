// `worldgpt train`: trains the native world model from a training YAML; progress on stderr.
import Agent
import ArgumentParser
import ContextReflector
import Encoders
import Formats
import Foundation
import Retrieval
import Tensor
import WorldModel

/// Options that pick the text encoder for action sentences (shared by train and eval).
struct ActionEncoderOptions: ParsableArguments {
    @Option(name: .long, help: "Text encoder for action sentences: minilm or hashed (default: the one a checkpoint records; for training, minilm when its weights are installed, else hashed).")
    var textEncoder: String?
    @Option(name: .long, help: "Action-embedding cache file (safetensors). Default: ~/.cache/worldgpt/actions-<encoder>.safetensors; `none` disables.")
    var actionCache: String?

    /// The encoder: `--text-encoder`, else `recorded` (a checkpoint's `action_encoder`), else the default.
    func encoder(recorded: String? = nil) throws -> ActionEncoder {
        let embedder: any Embedder
        if let textEncoder {
            guard let kind = TextEncoderKind(rawValue: textEncoder) else { throw ValidationError("--text-encoder must be minilm or hashed, got \(textEncoder)") }
            embedder = try TextEncoders.make(kind)
        } else if let recorded {
            if recorded.hasPrefix("hashed-"), let dim = Int(recorded.dropFirst("hashed-".count)) {
                embedder = try TextEncoders.make(.hashed, hashedDimension: dim)
            } else if recorded == "all-MiniLM-L6-v2" {
                embedder = try TextEncoders.make(.minilm)
            } else {
                throw ValidationError("the checkpoint's actions were embedded by '\(recorded)', which this build does not know")
            }
        } else {
            embedder = try TextEncoders.default()
        }
        let name = embedder is MiniLMEncoder ? "all-MiniLM-L6-v2" : "hashed-\(embedder.dim)"
        return ActionEncoder(name: name, dim: embedder.dim) { try embedder.embed($0) }
    }

    /// The cache for `encoder`.
    func cache(for encoder: ActionEncoder) -> ActionEmbeddingCache {
        if actionCache == "none" { return ActionEmbeddingCache(encoder: encoder, file: nil) }
        let file = actionCache.map { URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/worldgpt/actions-\(encoder.name).safetensors")
        return ActionEmbeddingCache(encoder: encoder, file: file)
    }
}

/// Writes one line to stderr; on a terminal, progress lines overwrite each other.
enum ProgressLine {
    static let isTerminal = isatty(2) != 0  // fd 2 = stderr (the C global is not concurrency-safe)

    static func update(_ text: String) {
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + text : text + "\n").utf8))
    }

    static func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }

    static func note(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }
}

extension TrainCommand {
    /// The learned reflector trained with the model, over knowledge from `kb`.
    func contextStage(for trainer: Trainer, kb: String, cache: ActionEmbeddingCache) throws -> ReflectorTrainingStage {
        let tuning = try ReflectorTuningConfig.load(reflectorConfig, option: "--reflector-config")
        try tuning.validate()
        try tuning.checkSavableHeads()
        // Knowledge is searched by the model's own action representation, re-keyed as the model learns.
        let model = trainer.model
        let makeSource: () throws -> any ContextSource
        if kb.hasSuffix(".sqlite") {
            guard FileManager.default.fileExists(atPath: kb) else {
                throw AgentError.missingFile(kind: "knowledge base", path: kb, hint: "build it with `worldgpt kb build --data CONFIG.yaml --out \(kb)`")
            }
            let base = try KnowledgeBase(url: URL(fileURLWithPath: kb))
            makeSource = { try TransitionContextSource.rekeyed(base, actionKey: { model.actionKey($0) }) }
        } else {
            let transitions = try AgentSetup.knowledgeTransitions(kb, cache: cache)
            makeSource = { try TransitionContextSource(transitions: transitions, actionKey: { model.actionKey($0) }, stateWeight: 0) }
        }
        ProgressLine.note("context: knowledge from \(kb), reflector hidden \(tuning.hiddenWidth) × \(tuning.layers) layers, \(tuning.queryTokens) tokens, "
                          + "\(tuning.candidates) candidates → budget \(tuning.filter.budget); \(Int(trainer.config.contextProbability * 100))% of batches")
        return try ReflectorTrainingStage(
            reflector: try ReflectorTuner.newReflector(for: trainer.model, config: tuning), model: trainer.model.config,
            transitions: trainer.data.transitions, makeSource: makeSource, refreshEvery: 200, filter: try ReflectorFilter(config: tuning.filter),
            candidates: tuning.candidates, weightDecay: tuning.weightDecay, gradientClip: tuning.gradientClip)
    }
}

/// `worldgpt train --data DATA` (the default recipe) or `worldgpt train --config TRAIN.yaml`.
struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train the native world model (progressive stages, AdamW, checkpoints, resume).",
        discussion: """
            Without --config, the default recipe (docs/worldmodel.md, "The default recipe") sizes the model and \
            the schedule from --data: the linear base (closed-form ridge regressions for state, action and \
            memory) with a width-128, depth-2 transformer learning the residual (scaled by 0.1); 1 pass over the \
            data (300–3000 steps, one stage per mode kind); every 5th training episode held out and final/ chosen on them among \
            the base alone, the checkpoints and the last step (selection.json).

            TRAIN.yaml holds the dataset (`data: DATASET.yaml`, or inline WorldNet `dataset_list` and \
            `modality_modes`) and the sections `model` (width, depth, heads, mlp_ratio, max_memory_steps, \
            reflector_width, seed, optional embedding_dim/action_dim), `optimizer` (lr, min_lr, warmup_steps, \
            weight_decay, grad_clip) and `training` (batch_size, stages: [{kind, steps}], l2_weight, \
            memory_probability, memory_steps: [min, max], context_probability, checkpoint_every, seed); \
            `validation: DATASET.yaml` is evaluated at the end. See examples/train-*.yaml and docs/worldmodel.md.

            Knowledge: with `training.context_probability` above 0 and --kb, that share of the batches carries \
            knowledge retrieved from --kb (the sample's scenario, leakage guard on) and compressed into reflector \
            tokens by a learned reflector trained together with the model; the model learns to read reflector \
            tokens, and every checkpoint folder also holds reflector.pt (start `worldgpt train-reflector \
            --reflector OUT/final/reflector.pt` from it). Reflector sizes: --reflector-config (the tuning JSON keys \
            hidden_width, layers, query_tokens, candidates, filter, seed).

            Writes into --out: checkpoint-NNNNNNN/ every checkpoint_every steps, final/ (the model for \
            `worldgpt eval --model OUT/final`), metrics.csv (one row per step) and validation_sim.csv. \
            The same seed gives the same weights; --resume continues from the latest checkpoint and ends with \
            the weights of an uninterrupted run.
            """)

    @Option(name: .long, help: "The training YAML (dataset + model/optimizer/training sections). Default: the recipe, for --data.")
    var config: String?
    @Option(name: .long, help: "A dataset YAML (or SimWorld folder) replacing the config's data.")
    var data: String?
    @Option(name: .long, help: "A dataset YAML (or SimWorld folder) to evaluate after training, replacing the config's validation.")
    var validation: String?
    @Option(name: .long, help: "Output folder for checkpoints, metrics.csv and the final model.")
    var out: String = "runs/worldmodel"
    @Option(name: .long, help: "Knowledge for batches with context (training.context_probability > 0): a KB.sqlite, a dataset YAML, or a SimWorld folder (its kb split).")
    var kb: String?
    @Option(name: .long, help: "Reflector settings for training with context (JSON, the train-reflector keys; default: hidden 128, 2 layers, 4 tokens, 16 candidates, budget 4).")
    var reflectorConfig: String?
    @Flag(name: .long, help: "Continue from the latest checkpoint in --out (same config required).")
    var resume = false
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var encoderOptions: ActionEncoderOptions

    func run() throws {
        threadOptions.apply()
        var file: TrainingFile
        if let config {
            file = try TrainingFile.load(URL(fileURLWithPath: config))
        } else {
            guard data != nil else { throw ValidationError("give --data DATA (a dataset YAML or a SimWorld folder) to train with the default recipe, or --config TRAIN.yaml") }
            file = TrainingFile(training: TrainingConfig(), source: "the default recipe")
        }
        // Knowledge settings are checked before any data is read.
        let contextProbability = file.training.contextProbability
        if contextProbability > 0, kb == nil {
            throw ValidationError("training.context_probability is \(contextProbability): give --kb (the knowledge to retrieve context from)")
        }
        if contextProbability == 0, kb != nil {
            throw ValidationError("--kb is used only when training.context_probability is above 0 in \(config ?? "the training config")")
        }
        let dataset = try TrainingSetup.dataset(for: file, dataOverride: data.map { URL(fileURLWithPath: $0) })
        // Resolve the validation data before training, so a bad path fails now rather than after the run.
        let validationConfig = try (validation.map { URL(fileURLWithPath: $0) } ?? file.validationURL).map { url -> DatasetConfig in
            let config = try DatasetSources.config(url, split: nil)
            try DatasetSources.check(config)
            return config
        }
        let encoder = try encoderOptions.encoder()
        ProgressLine.note("loading \(dataset.source) (\(dataset.datasetList.count) subset(s)), actions embedded by \(encoder.name)")
        let transitions = try TrainingSetup.transitions(dataset, cache: encoderOptions.cache(for: encoder))
        if config == nil {
            file.training = try TrainingRecipe.config(transitionCount: transitions.count, modes: dataset.modalityModes.map(TaskMode.init))
            ProgressLine.note("default recipe: \(file.training.totalSteps) steps, linear base, every \(file.training.heldOutEvery)th episode held out for choosing final/")
        }
        if file.training.model.linearBase { ProgressLine.note("fitting the linear base (ridge regressions, λ chosen on held-out episodes)") }
        let trainer = try TrainingSetup.trainer(file: file, dataset: dataset, transitions: transitions, encoder: encoder)
        if let signature = trainer.model.linearBase?.actionSignature { ProgressLine.note("action key: \(signature.summary)") }
        if let kb { trainer.contextStage = try contextStage(for: trainer, kb: kb, cache: encoderOptions.cache(for: encoder)) }
        let output = URL(fileURLWithPath: out)
        if resume {
            guard let latest = Trainer.latestCheckpoint(in: output) else { throw ValidationError("--resume: no checkpoint in \(out)") }
            try trainer.resume(from: latest)
            ProgressLine.note("resumed from \(latest.path) at step \(trainer.step)")
        }
        let c = trainer.config
        ProgressLine.note(
            "training \(transitions.count) transitions, \(trainer.data.modes.count) modes, \(c.totalSteps) steps × batch \(c.batchSize); "
                + "model width \(c.model.width), depth \(c.model.depth), \(trainer.model.store.count) parameters")
        var lastPrint = Date.distantPast
        let summary = try trainer.run(output: output) { progress in
            if Date().timeIntervalSince(lastPrint) > (ProgressLine.isTerminal ? 0.25 : 5) || progress.done == progress.total {
                ProgressLine.update(progress.line)
                lastPrint = Date()
            }
        }
        ProgressLine.finish()
        print(String(format: "trained %d steps in %.1f s (%.0f samples/s); final model: %@", summary.steps, summary.seconds,
                     summary.samplesPerSecond, summary.finalCheckpoint?.path ?? "-"))
        if let selected = summary.selectedStep {
            print("final/ is the candidate of step \(selected) (best on \(trainer.heldOut.count) held-out transitions; \(out)/selection.json)")
        }
        if trainer.contextStage != nil, let final = summary.finalCheckpoint {
            print("the reflector trained with the model: \(final.appendingPathComponent(ReflectorTrainingStage.reflectorFile).path)")
        }
        if let valConfig = validationConfig {
            let valTransitions = try TrainingSetup.transitions(valConfig, cache: encoderOptions.cache(for: encoder))
            let report = try Evaluator(modes: valConfig.modalityModes.map(TaskMode.init)).evaluate(trainer.model, on: valTransitions)
            print(report.table(title: "validation (\(valConfig.source))"))
            let csv = output.appendingPathComponent("validation_sim.csv")
            try report.writeCSV(to: csv)
            print("wrote \(csv.path)")
        }
    }
}
