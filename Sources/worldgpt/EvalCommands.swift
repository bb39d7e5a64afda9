// `worldgpt eval`: cosine ×100 per target modality and per input→target mode, as a table and CSV.
import Agent
import ArgumentParser
import Formats
import Foundation
import Tensor
import WorldModel

/// `worldgpt eval --model CKPT|identity|knn|ridge|http://HOST:PORT --data CONFIG.yaml [--split test] [--out CSV]`.
struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Evaluate a world model: cosine ×100 per target modality and per task mode (WorldGPT's metric).",
        discussion: """
            For every mode of the data's `modality_modes` and every sample with the mode's inputs in state0 and \
            targets in state1, the model predicts the targets from the masked state0 and the action; the table \
            shows the mean cosine ×100 to the true state1. The CSV has the layout of WorldGPT's \
            validation_sim.csv: one row per mode (`(image, audio) - (video)`), one column per modality.

            --model is a checkpoint folder (e.g. runs/worldmodel/final, or a ridge model from `worldgpt train-ridge`), \
            `identity` (copy state0; average of the inputs for cross-modal targets), `knn` (mean state change of the \
            k nearest knowledge-base transitions, within the query's scenario) or `ridge` (closed-form ridge \
            regression fitted now on --train, reading the previous step when --memory is above 0). --data is a \
            dataset YAML, used as it is, or a SimWorld folder; --split picks a section of the YAML or a folder's \
            `<split>.yaml` (default test).
            """)

    @Option(name: .customLong("model"), help: "A checkpoint folder (native or ridge), `identity`, `knn` or `ridge`.")
    var modelOption: String?
    @Option(name: .customLong("data"), help: "Dataset YAML (or SimWorld folder) with dataset_list and modality_modes.")
    var dataOption: String?
    @Option(name: .long, help: "Split: a section of the YAML file, or a folder's <split>.yaml (SimWorld: train, kb, test, sequences; default test).")
    var split: String?
    @Option(name: .long, help: "Write the CSV here.")
    var out: String?
    @Option(name: .long, help: "knn and --ablation: knowledge-base dataset YAML or SimWorld folder (--ablation: also a KB.sqlite); default: the kb split when --data is a folder.")
    var kb: String?
    @Option(name: .long, help: "ridge and --ablation: training dataset YAML or SimWorld folder the ridge is fitted on (default: the train split when --data is a folder).")
    var train: String?
    @Option(name: .long, help: "knn: neighbours averaged.")
    var k: Int = 8
    @Flag(name: .long, help: "knn: search the whole knowledge base instead of the query's scenario.")
    var anyScenario = false
    @Option(name: .long, help: "Give the model up to this many earlier steps of the sample's episode as memory (0 = none).")
    var memory: Int = 0
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var encoderOptions: ActionEncoderOptions
    @OptionGroup(title: "Ablation") var ablationOptions: AblationOptions

    func run() throws {
        if !ablationOptions.merge.isEmpty {
            if let first = ablationOptions.merge.first, (try? JSONDecoder().decode(EvaluationScores.self, from: Data(contentsOf: URL(fileURLWithPath: first)))) != nil {
                return try mergeEvaluation(ablationOptions.merge)
            }
            return try AblationReport.merge(ablationOptions.merge, reportDir: ablationOptions.reportDir)
        }
        guard let model = modelOption, let data = dataOption else { throw ValidationError("give --model and --data (or --merge FILE… to join the shards of an evaluation)") }
        if ablationOptions.ablation {
            threadOptions.apply()
            try AblationReport.run(model: model, data: data, split: split, kb: kb, train: train, options: ablationOptions, encoderOptions: encoderOptions)
            return
        }
        threadOptions.apply()
        guard memory >= 0 else { throw ValidationError("--memory must not be negative") }
        let dataURL = URL(fileURLWithPath: data)
        let dataset = try DatasetSources.config(dataURL, split: split)
        try DatasetSources.check(dataset)
        let worldModel: any WorldModel
        let encoder: ActionEncoder
        switch model {
        case "identity":
            worldModel = IdentityModel()
            encoder = try encoderOptions.encoder()
        case "knn":
            encoder = try encoderOptions.encoder()
            let kbPath = try AgentSetup.split("kb", explicit: kb, option: "--kb", data: data, purpose: "--model knn averages its transitions")
            let kbTransitions = try AgentSetup.knowledgeTransitions(kbPath, cache: encoderOptions.cache(for: encoder))
            worldModel = try KNNModel(knowledgeBase: kbTransitions, k: k, scopeToScenario: !anyScenario)
        case let url where url.hasPrefix("http://") || url.hasPrefix("https://"):
            encoder = try encoderOptions.encoder()
            worldModel = try RemoteWorldModel(url: url)
        case "ridge":
            encoder = try encoderOptions.encoder()
            let trainPath = try AgentSetup.split("train", explicit: train, option: "--train", data: data, purpose: "--model ridge is fitted on it")
            let trainConfig = try DatasetSources.config(URL(fileURLWithPath: trainPath), split: nil, folderSplit: "train", option: "--train")
            try DatasetSources.check(trainConfig)
            let features = RidgeFeatureSet(memory: memory > 0)
            ProgressLine.note("fitting \(features.name) on \(trainConfig.source)")
            let trainTransitions = try TrainingSetup.transitions(trainConfig, cache: encoderOptions.cache(for: encoder))
            worldModel = try RidgeBaselines.train(
                trainTransitions, modes: trainConfig.modalityModes.map(TaskMode.init), features: features, knowledge: nil,
                options: RuntimeOptions(), actionEncoder: encoder.name)
        default:
            let saved = try SavedWorldModel.load(from: URL(fileURLWithPath: model))
            encoder = try encoderOptions.encoder(recorded: saved.actionEncoder)
            worldModel = saved.model
        }
        let transitions = try TrainingSetup.transitions(dataset, cache: encoderOptions.cache(for: encoder))
        let samples = EvaluationSample.withHistory(transitions, maxSteps: memory)
        var lastPrint = Date.distantPast
        let shard = try ablationOptions.shard.map(Shard.init(parsing:)) ?? .whole
        var scores = try Evaluator(modes: dataset.modalityModes.map(TaskMode.init)).scores(
            worldModel, samples: samples, batches: { shard.range(of: $0) }, shard: shard.description
        ) { done, total in
            if Date().timeIntervalSince(lastPrint) > 0.5 || done == total {
                ProgressLine.update("evaluated \(done)/\(total) predictions")
                lastPrint = Date()
            }
        }
        ProgressLine.finish()
        scores.title = "\(model) on \(dataset.source) (\(transitions.count) samples)"
        if ablationOptions.shard != nil {
            let dir = URL(fileURLWithPath: ablationOptions.reportDir ?? ".")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let file = dir.appendingPathComponent("eval-scores-\(shard.index)-of-\(shard.count).json")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try AtomicFile.write(encoder.encode(scores), to: file)
            print("eval shard \(shard): predictions \(scores.jobRange[0])..<\(scores.jobRange[1]) of \(scores.jobs); scores in \(file.path) "
                  + "(join the shards with `worldgpt eval --merge FILE… [--out CSV]`)")
            return
        }
        try printReport(EvaluationReport(merging: [scores]), title: scores.title)
    }

    /// `eval --merge FILE…` for the shards of a plain evaluation.
    func mergeEvaluation(_ files: [String]) throws {
        let parts = try files.map { file -> EvaluationScores in
            do { return try JSONDecoder().decode(EvaluationScores.self, from: Data(contentsOf: URL(fileURLWithPath: file))) } catch {
                throw ValidationError("\(file): not a scores file of `eval --shard` (\(error.localizedDescription))")
            }
        }
        try printReport(EvaluationReport(merging: parts), title: parts[0].title)
    }

    /// Prints the table and writes the CSV (--out).
    func printReport(_ report: EvaluationReport, title: String) throws {
        print(report.table(title: title))
        if let out {
            try report.writeCSV(to: URL(fileURLWithPath: out))
            print("wrote \(out)")
        }
    }
}
