// `worldgpt train-reflector`: cognitive-augmented tuning — the learned reflector (and the world model's reflector-token
// projection) trained against a frozen world model on knowledge retrieved with the leakage guard; held-out comparison.
import Agent
import ArgumentParser
import ContextReflector
import Formats
import Foundation
import Tensor
import WorldModel

/// `worldgpt train-reflector --model CKPT --kb KB --config TUNING.json --out DIR`.
struct TrainReflectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-reflector",
        abstract: "Cognitive-augmented tuning: train the learned reflector against a frozen world model.",
        discussion: """
            For every training transition and task mode, candidates are retrieved from --kb (within the sample's \
            scenario, actions compared in the model's own action representation), filtered (leakage guard on: never \
            the sample itself nor later steps of its episode), packed one [state0, state1, action] token per kept \
            triplet (context_packing "triplet"; "part" is the original's three tokens) and turned into reflector \
            tokens; the world model (frozen, except \
            its reflector-token projection unless tune_projection is false) predicts with them and the cosine loss \
            trains the reflector. Writes DIR/reflector.pt (original PyTorch layout), DIR/model/ (the world model \
            with its tuned projection: use it with --reflector), DIR/metrics.csv and DIR/tuning.json, and prints \
            held-out cosine ×100: base model, kNN retrieval, state0 + the kept transitions' mean change (retrieval \
            without a learned stage), base + untrained reflector, base + tuned reflector.
            """)

    @Option(name: .long, help: "The frozen world model: a checkpoint folder from `worldgpt train`.")
    var model: String
    @Option(name: .long, help: "Knowledge: a KB.sqlite from `worldgpt kb build`, a dataset YAML, or a SimWorld folder (its kb split).")
    var kb: String
    @Option(name: .long, help: "Training transitions: a dataset YAML or a SimWorld folder (default: the train split of --kb when it is a SimWorld folder).")
    var data: String?
    @Option(name: .long, help: "Held-out transitions for the comparison (default: the test split beside --data / --kb).")
    var eval: String?
    @Option(name: .long, help: "Tuning settings (JSON; keys in docs/reflector.md: steps, batch_size, learning_rate, candidates, filter, hidden_width, layers, …).")
    var config: String?
    @Option(name: .long, help: "Start from this reflector checkpoint (.pt) instead of a fresh one; its widths must fit the model.")
    var reflector: String?
    @Option(name: .long, help: "Override the config's number of steps.")
    var steps: Int?
    @Option(name: .long, help: "Output folder.")
    var out: String
    @Option(name: .long, help: "Evaluate on at most this many held-out transitions (default: all).")
    var evalLimit: Int?
    @Option(name: .long, help: "With a linear base: the runtime filter its knowledge models are fitted with (JSON: threshold, duplicate_cosine, mmr_lambda, budget; default: the runtime's).")
    var filter: String?
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var encoderOptions: ActionEncoderOptions

    func run() throws {
        threadOptions.apply()
        var tuning = try ReflectorTuningConfig.load(config, option: "--config")
        if let steps { tuning.steps = steps }
        try tuning.validate()
        if reflector == nil { try tuning.checkSavableHeads() }

        let modelURL = URL(fileURLWithPath: model)
        let native = try NativeWorldModel.load(from: modelURL)
        let encoder = try encoderOptions.encoder(recorded: native.config.actionEncoder)
        let cache = encoderOptions.cache(for: encoder)

        // Data: --data or the train split of a SimWorld --kb; held-out: --eval or the test split.
        guard let dataPath = data ?? (DatasetSources.isFolder(kb) ? kb : nil) else {
            throw ValidationError("give --data (training transitions) unless --kb is a SimWorld folder")
        }
        let trainConfig = try DatasetSources.config(URL(fileURLWithPath: dataPath), split: nil, folderSplit: "train", option: data == nil ? "--kb" : "--data")
        let evalPath = try AgentSetup.split("test", explicit: eval, option: "--eval", data: dataPath, purpose: "train-reflector scores held-out transitions")
        let evalConfig = try DatasetSources.config(URL(fileURLWithPath: evalPath), split: nil, folderSplit: "test", option: eval == nil ? "--data" : "--eval")
        let modes = trainConfig.modalityModes.map(TaskMode.init)
        ProgressLine.note("loading training transitions from \(trainConfig.source)")
        let train = try TrainingSetup.transitions(trainConfig, cache: cache)
        var heldOut = try TrainingSetup.transitions(evalConfig, cache: cache)
        if let evalLimit { heldOut = Array(heldOut.prefix(evalLimit)) }
        let knowledge = try AgentSetup.knowledge(kb, cache: cache, model: native)
        try cache.save()

        if native.config.linearBase {
            // The context the runtime keeps by default (`RuntimeOptions.defaultFilter`, as rollout, predict and the ablation).
            var runtime = RuntimeOptions()
            if let filter { runtime.filter = try RuntimeFilterFile.load(filter) }
            let added = try RidgeBaselines.addKnowledge(to: native, transitions: train, modes: modes, knowledge: knowledge, options: runtime) {
                ProgressLine.update("linear base: retrieving kept context for \($0)/\($1) training transitions")
            }
            ProgressLine.finish()
            ProgressLine.note("linear base: fitted \(added.map(\.name).joined(separator: ", ")) (saved with the model in \(out)/model/linear/)")
        }
        let filter = try ReflectorFilter(config: tuning.filter)
        let trainSamples = try ReflectorTuner.prepare(transitions: train, modes: modes, source: knowledge, filter: filter, candidates: tuning.candidates,
                                                      limit: tuning.trainSamples, seed: tuning.seed) {
            ProgressLine.update("retrieving context for training samples: \($0)/\($1)")
        }
        ProgressLine.finish()
        let evalSamples = try ReflectorTuner.prepare(transitions: heldOut, modes: evalConfig.modalityModes.map(TaskMode.init), source: knowledge,
                                                     filter: filter, candidates: tuning.candidates, limit: tuning.evalSamples, seed: tuning.seed &+ 1) {
            ProgressLine.update("retrieving context for held-out samples: \($0)/\($1)")
        }
        ProgressLine.finish()
        guard !trainSamples.isEmpty, !evalSamples.isEmpty else {
            throw ValidationError("no (transition, mode) pairs to train on or evaluate (check modality_modes against the data)")
        }
        let keptMean = Double(trainSamples.reduce(0) { $0 + $1.filter.kept.count }) / Double(trainSamples.count)
        ProgressLine.note(String(format: "%d training samples (%.2f kept context items on average), %d held-out samples", trainSamples.count, keptMean, evalSamples.count))

        let learned = try reflector.map { try LearnedReflector.load(contentsOf: URL(fileURLWithPath: $0)) }
            ?? ReflectorTuner.newReflector(for: native, config: tuning)
        let tuner = try ReflectorTuner(model: native, reflector: learned, config: tuning)
        let base = try tuner.evaluate(evalSamples, useReflector: false)
        let untuned = try tuner.evaluate(evalSamples, useReflector: true)
        // Retrieval without a learned stage, from the same kept context: each target moved by the kept transitions'
        // mean change (or their mean state1 for a modality the query lacks).
        let keptChange = try ReflectorTuner.evaluate(evalSamples) { $0.map(ReflectorTuner.keptChangePrediction) }
        // Retrieval without the learned stage: the kNN baseline over the same knowledge (dataset knowledge only).
        var knn: TuningEvaluation?
        if !kb.hasSuffix(".sqlite") {
            let baseline = try KNNModel(knowledgeBase: try AgentSetup.knowledgeTransitions(kb, cache: cache), k: max(1, tuning.filter.budget))
            knn = try ReflectorTuner.evaluate(evalSamples) { try baseline.predictBatch($0.map(\.predictionInput)) }
        }

        let outURL = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: outURL, withIntermediateDirectories: true)
        var csv = "step,loss,cosine,learning_rate,gradient_norm\n"
        let start = Date()
        for _ in 0..<tuning.steps {
            let m = try tuner.trainStep(trainSamples)
            csv += "\(m.step),\(m.loss),\(m.cosine),\(m.learningRate),\(m.gradientNorm)\n"
            if m.step % 10 == 0 || m.step + 1 == tuning.steps {
                ProgressLine.update(String(format: "step %d/%d  loss %.4f  cos %.4f  lr %.2e  (%.1f steps/s)", m.step + 1, tuning.steps, m.loss, m.cosine,
                                           m.learningRate, Double(m.step + 1) / max(Date().timeIntervalSince(start), 1e-9)))
            }
        }
        ProgressLine.finish()
        let tuned = try tuner.evaluate(evalSamples, useReflector: true)

        try learned.save(to: outURL.appendingPathComponent("reflector.pt"))
        if tuning.tuneProjection || native.config.linearBase { try native.save(to: outURL.appendingPathComponent("model")) }
        try Data(csv.utf8).write(to: outURL.appendingPathComponent("metrics.csv"))
        let summary = TuningSummary(
            config: tuning, reflector: learned.config, trainSamples: trainSamples.count, heldOutSamples: evalSamples.count,
            base: base.cosine, knnRetrieval: knn?.cosine, keptChange: keptChange.cosine, untunedReflector: untuned.cosine, tunedReflector: tuned.cosine,
            byMode: tuned.byMode, baseByMode: base.byMode)
        let encoderJSON = JSONEncoder()
        encoderJSON.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoderJSON.encode(summary).write(to: outURL.appendingPathComponent("tuning.json"))

        print("held-out cosine ×100 on \(evalConfig.source) (\(base.count) predictions):")
        print(String(format: "  base model (frozen)            %6.2f", base.cosine))
        if let knn { print(String(format: "  kNN retrieval (no learned)     %6.2f", knn.cosine)) }
        print(String(format: "  state0 + kept mean change      %6.2f   (retrieval + filter, no learned stage)", keptChange.cosine))
        print(String(format: "  + untrained reflector          %6.2f", untuned.cosine))
        print(String(format: "  + tuned reflector              %6.2f   (%+.2f over base)", tuned.cosine, tuned.cosine - base.cosine))
        print("wrote \(out)/reflector.pt" + (tuning.tuneProjection || native.config.linearBase ? ", \(out)/model/ (use both: --model \(out)/model --reflector \(out)/reflector.pt)" : "")
              + ", metrics.csv, tuning.json")

    }
}

extension ReflectorTuningConfig {
    /// The settings in the tuning JSON at `path` (errors name the `option` it came from); the defaults without one.
    static func load(_ path: String?, option: String) throws -> ReflectorTuningConfig {
        guard let path else { return ReflectorTuningConfig() }
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(option) \(path)") }
        do { return try JSONDecoder().decode(ReflectorTuningConfig.self, from: data) } catch {
            throw ValidationError("\(option) \(path): not a tuning config (\(error))")
        }
    }

    /// Throws unless a new reflector of these sizes survives a `.pt` round trip: checkpoints do not record the head
    /// count, and loaders assume BERT's 64-wide heads.
    func checkSavableHeads() throws {
        guard hiddenWidth % 64 == 0, (heads ?? hiddenWidth / 64) == hiddenWidth / 64 else {
            throw ValidationError("hidden_width must be a multiple of 64 with heads = hidden_width / 64: .pt checkpoints do not record the head count and loaders assume BERT's 64-wide heads")
        }
    }
}

/// `tuning.json`: the settings and the held-out comparison.
private struct TuningSummary: Encodable {
    var config: ReflectorTuningConfig
    var reflector: LearnedReflectorConfig
    var trainSamples: Int
    var heldOutSamples: Int
    var base: Double
    var knnRetrieval: Double?
    var keptChange: Double
    var untunedReflector: Double
    var tunedReflector: Double
    var byMode: [String: Double]
    var baseByMode: [String: Double]
}
