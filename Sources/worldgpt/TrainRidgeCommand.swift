// `worldgpt train-ridge`: fits the closed-form ridge baseline and writes its checkpoint folder. Parsing and printing only.
import Agent
import ArgumentParser
import ContextReflector
import Formats
import Foundation
import Tensor
import WorldModel

/// `worldgpt train-ridge --data D [--memory] [--knowledge --kb KB] --out DIR`.
struct TrainRidgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-ridge",
        abstract: "Fit the ridge baseline (closed form, per target modality) and save it as a checkpoint folder.",
        discussion: """
            Regresses state1 − state0 on [state0, action embedding, 1] per target modality, for every mode of the \
            data's modality_modes; --memory adds the previous step's change and action, --knowledge the mean change \
            of the context the runtime's retrieval and reflector filter keep (from --kb). λ is chosen from \
            1e-3 … 1e3 on every 5th training episode, then the model is refitted on all of them. Use the folder \
            like any model: `worldgpt eval --model DIR`, `worldgpt rollout --model DIR`. Layout: docs/worldmodel.md.
            """)

    @Option(name: .long, help: "Training data: a dataset YAML (used as it is) or a SimWorld folder (its train split).")
    var data: String
    @Option(name: .long, help: "Output folder for ridge.json and ridge.safetensors.")
    var out: String
    @Flag(name: .long, help: "Read the previous step (its change and action) from the runtime's memory.")
    var memory = false
    @Flag(name: .long, help: "Read the mean change of the reflector's kept context (needs --kb, or --data as a folder with a kb split).")
    var knowledge = false
    @Option(name: .long, help: "--knowledge: the knowledge base (dataset YAML, SimWorld folder or KB.sqlite).")
    var kb: String?
    @Option(name: .long, help: "--knowledge: candidates retrieved per sample before the filter.")
    var retrievalK = RuntimeOptions.defaultRetrievalK
    @Option(name: .long, help: "--knowledge: most context items the reflector keeps (as `rollout --budget`; default 64).")
    var budget = RuntimeOptions.defaultFilter.budget
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var encoderOptions: ActionEncoderOptions

    func run() throws {
        threadOptions.apply()
        let features = RidgeFeatureSet(memory: memory, knowledge: knowledge)
        let config = try DatasetSources.config(URL(fileURLWithPath: data), split: nil, folderSplit: "train")
        try DatasetSources.check(config)
        let encoder = try encoderOptions.encoder()
        let cache = encoderOptions.cache(for: encoder)
        var options = RidgeBaselines.options(features, base: RuntimeOptions(retrievalK: retrievalK))
        options.filter.budget = budget
        try options.validate()
        var source: (any ContextSource)?
        if knowledge {
            let kbPath = try AgentSetup.split("kb", explicit: kb, option: "--kb", data: data, purpose: "--knowledge reads kept context")
            source = try AgentSetup.knowledge(kbPath, cache: cache)
        } else if kb != nil {
            throw ValidationError("--kb is used only with --knowledge")
        }
        ProgressLine.note("loading \(config.source), actions embedded by \(encoder.name)")
        let transitions = try TrainingSetup.transitions(config, cache: cache)
        let model = try RidgeBaselines.train(
            transitions, modes: config.modalityModes.map(TaskMode.init), features: features, knowledge: source, options: options,
            actionEncoder: encoder.name
        ) { done, total in ProgressLine.update("retrieving context: \(done)/\(total)") }
        if knowledge { ProgressLine.finish() }
        try model.save(to: URL(fileURLWithPath: out))
        print("\(features.name) on \(transitions.count) transitions: \(model.layout.width) features per row")
        for key in model.heads.keys.sorted() {
            let head = model.heads[key]!
            print("  \(key): λ \(head.lambda) (held out \(head.heldOutRows) of \(head.rows) rows)")
        }
        print("wrote \(out)/\(RidgeCheckpointLayout.config) and \(RidgeCheckpointLayout.weights) (use: worldgpt eval --model \(out))")
    }
}
