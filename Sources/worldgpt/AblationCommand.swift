// `worldgpt eval --ablation`: the headline table — identity, base, +retrieval, +reflector, +memory, +all, and the
// linear yardsticks ridge, ridge+memory, ridge+knowledge, ridge+all — over a dataset's sequences, per rollout step;
// written as a terminal table, CSV and an SVG chart.
import Agent
import ArgumentParser
import ContextReflector
import Formats
import Foundation
import WorldModel

/// The extra options of the ablation.
struct AblationOptions: ParsableArguments {
    @Flag(name: .long, help: "Run the ablation (identity, base, +retrieval, +reflector, +memory, +all, and the ridge rows fitted on --train) over the sequences split, per rollout step.")
    var ablation = false
    @Option(name: .long, help: "ablation: learned reflector checkpoint (.pt from `worldgpt train-reflector`); without it the retrieval variants are skipped, as the model has no other way to read context.")
    var reflector: String?
    @Option(name: .long, help: "ablation: episodes of the sequences split to roll out (default: all).")
    var episodes: Int?
    @Option(name: .long, help: "ablation: rollout steps per episode (at most the episodes' length; long-horizon worlds: 64, and the table then adds steps 17–64, beyond the runtime's 16-step window).")
    var steps = 7
    @Option(name: .long, help: "ablation: recent steps given as memory in the memory variants.")
    var history = 3
    @Option(name: .long, help: "ablation: most context items the reflector keeps (default 64, the runtime's default filter).")
    var budget: Int?
    @Option(name: .long, help: "ablation: the runtime filter's settings (JSON: threshold, duplicate_cosine, mmr_lambda, budget); --budget overrides its budget.")
    var filter: String?
    @Option(name: .long, help: "ablation: folder for ablation.csv (every step), ablation.md (the printed table) and ablation.svg (one line per variant); with --shard: for the shard's scores file (default: the current folder).")
    var reportDir: String?
    @Option(name: .long, help: "ablation: the dataset YAML whose episodes are rolled out (default: --data itself, or its sequences split when a folder).")
    var sequences: String?
    @Flag(name: .long, help: "ablation: leave out the ridge rows (ridge, ridge+memory, ridge+knowledge, ridge+all).")
    var noRidge = false
    @Option(name: .long, help: "Run only shard I of N (1-based): with --ablation of the episode groups, else of the prediction batches; writes ablation-scores-I-of-N.json or eval-scores-I-of-N.json into --report-dir for `eval --merge`.")
    var shard: String?
    @Option(name: .long, help: "ablation: episodes stepped together in one batch (shards and the unsharded run must use the same value).")
    var groupSize = RolloutDriver.defaultGroupSize
    @Option(name: .long, parsing: .upToNextOption, help: "Merge the scores files of an evaluation's shards into its table (ablation: ablation.csv and .svg in --report-dir; plain eval: --out CSV); needs no model or data.")
    var merge: [String] = []
}

enum AblationReport {
    /// Runs the ablation for `eval --ablation` and prints/writes its table.
    static func run(
        model: String, data: String, split: String?, kb: String?, train: String?, options: AblationOptions, encoderOptions: ActionEncoderOptions
    ) throws {
        guard options.steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        let shard = try options.shard.map(Shard.init(parsing:))
        guard options.groupSize >= 1 else { throw ValidationError("--group-size must be at least 1") }
        let (worldModel, encoder) = try AgentSetup.worldModel(model, kb: kb, encoderOptions: encoderOptions)
        let cache = encoderOptions.cache(for: encoder)
        let plans = try AgentSetup.plans(
            data: options.sequences ?? data, split: options.sequences == nil ? split : nil, episodes: options.episodes ?? Int.max, start: nil,
            cache: cache, option: options.sequences == nil ? "--data" : "--sequences")
        let dim = plans.first?.start.embeddings.values.first?.dim ?? 768
        var base = RuntimeOptions(history: options.history)
        if let file = options.filter { base.filter = try RuntimeFilterFile.load(file) }
        if let budget = options.budget { base.filter.budget = budget }
        var variants = AblationVariant.standard(model: worldModel, base: base)
        let kbPath = kb ?? (DatasetSources.isFolder(data) ? data : nil)
        // The same knowledge source serves the model's retrieval rows and the ridge rows that read kept context.
        let knowledge = try kbPath.map { try AgentSetup.knowledge($0, cache: cache, model: worldModel) }
        var tokenizer: (any ContextTokenizer)?
        if let reflector = options.reflector {
            guard knowledge != nil else { throw ValidationError("--ablation with --reflector needs --kb (or --data as a SimWorld folder with a kb split)") }
            tokenizer = try AgentSetup.tokenizer(URL(fileURLWithPath: reflector), model: worldModel)
        } else {
            ProgressLine.note("ablation: no --reflector given: skipping +retrieval, +reflector and +all (the model reads context only through reflector tokens)")
            variants.removeAll { $0.options.retrieval }
        }
        let linearBase = (worldModel as? NativeWorldModel)?.linearBase
        if options.noRidge {
            // The rows above only.
        } else if train == nil, let linearBase, let rows = RidgeBaselines.ablationVariants(from: linearBase, knowledge: knowledge != nil, options: base) {
            ProgressLine.note("ablation: the ridge rows are the model's own linear base (fitted on its training data); give --train to fit them anew")
            variants += rows
        } else if let trainPath = train ?? (DatasetSources.isFolder(data) ? data : nil) {
            let trainConfig = try DatasetSources.config(URL(fileURLWithPath: trainPath), split: nil, folderSplit: "train", option: train == nil ? "--data" : "--train")
            try DatasetSources.check(trainConfig)
            if knowledge == nil { ProgressLine.note("ablation: no --kb: skipping ridge+knowledge and ridge+all") }
            let transitions = try TrainingSetup.transitions(trainConfig, cache: cache)
            variants += try RidgeBaselines.ablationVariants(
                train: transitions, modes: trainConfig.modalityModes.map(TaskMode.init), knowledge: knowledge, base: base,
                actionEncoder: encoder.name
            ) { ProgressLine.update("ablation: fitted \($0) on \(trainConfig.source)") }
        } else {
            ProgressLine.note("ablation: skipping the ridge rows: give --train FILE (the data they are fitted on). --data \(data) is a file, "
                              + "and the train split (train.yaml) is looked up only in a folder")
        }
        var runner = AblationRunner(knowledge: knowledge, tokenizer: tokenizer, textEncoder: CachedEmbedder(cache: cache), dim: dim)
        runner.groupSize = options.groupSize
        var finished = 0
        let scores = try runner.scores(variants, plans: plans, steps: options.steps, shard: shard ?? .whole, source: options.sequences ?? data) { name in
            finished += 1
            ProgressLine.update("ablation: \(finished)/\(variants.count) variants done (\(name))")
        }
        ProgressLine.finish()
        try cache.save()
        if let shard {
            let dir = URL(fileURLWithPath: options.reportDir ?? ".")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let file = dir.appendingPathComponent("ablation-scores-\(shard.index)-of-\(shard.count).json")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try AtomicFile.write(encoder.encode(scores), to: file)
            print("ablation shard \(shard): episodes \(scores.episodeRange.first.map(String.init) ?? "-")…\(scores.episodeRange.last.map(String.init) ?? "-") of \(plans.count); "
                  + "scores in \(file.path) (join the shards with `worldgpt eval --merge FILE…`)")
            return
        }
        try report(AblationTable(merging: [scores]), source: scores.source, reportDir: options.reportDir)
    }

    /// `eval --merge FILE…`: the table of the shards' scores.
    static func merge(_ files: [String], reportDir: String?) throws {
        var parts: [AblationScores] = []
        for file in files {
            do {
                parts.append(try JSONDecoder().decode(AblationScores.self, from: Data(contentsOf: URL(fileURLWithPath: file))))
            } catch {
                throw ValidationError("\(file): not an ablation scores file written by `eval --ablation --shard` (\(error.localizedDescription))")
            }
        }
        try report(AblationTable(merging: parts), source: parts[0].source, reportDir: reportDir)
    }

    /// Prints the table with its headline differences and writes ablation.csv, ablation.md and ablation.svg.
    static func report(_ table: AblationTable, source: String, reportDir: String?) throws {
        print("Ablation: cosine ×100 to the true next state, mean over modalities (\(table.episodes) episodes of \(source))")
        print(table.text())
        if let b = table.mean("base", step: 1), let all = table.mean("+all", step: 1) {
            print(String(format: "+all vs base at step 1: %+.2f points", all - b))
        }
        if let r = table.mean("ridge", step: 1), let k = table.mean("ridge+knowledge", step: 1) {
            print(String(format: "ridge+knowledge vs ridge at step 1: %+.2f points", k - r))
        }
        // Memory gains over steps 3–7 (the range is empty, and skipped, for rollouts shorter than 3 steps).
        if table.steps >= 3 {
            let late = 3...min(7, table.steps)
            for (with, without) in [("+memory", "base"), ("ridge+memory", "ridge")] {
                if let m = table.mean(with, steps: late), let b = table.mean(without, steps: late) {
                    print(String(format: "%@ vs %@ over steps 3–%d: %+.2f points", with, without, late.upperBound, m - b))
                }
            }
        }
        // Long rollouts: the steps beyond the runtime's 16-step window, where only what memory recalls from earlier in
        // the episode can help.
        if table.steps > 16 {
            let late = 17...table.steps
            for (with, without) in [("+memory", "base"), ("+all", "base"), ("ridge+memory", "ridge")] {
                if let m = table.mean(with, steps: late), let b = table.mean(without, steps: late) {
                    print(String(format: "%@ vs %@ over steps 17–%d: %+.2f points", with, without, late.upperBound, m - b))
                }
            }
        }
        let dir = URL(fileURLWithPath: reportDir ?? ".")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try AtomicFile.write(Data(table.csv().utf8), to: dir.appendingPathComponent("ablation.csv"))
        try AtomicFile.write(Data(table.markdown().utf8), to: dir.appendingPathComponent("ablation.md"))
        try AtomicFile.write(Data(table.svg().utf8), to: dir.appendingPathComponent("ablation.svg"))
        print("wrote \(dir.appendingPathComponent("ablation.csv").path), ablation.md and ablation.svg")
    }
}
