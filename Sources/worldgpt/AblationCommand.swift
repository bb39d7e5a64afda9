// `worldgpt eval --ablation`: the headline table — identity, base, +retrieval, +reflector, +memory, +all —
// over a dataset's sequences, per rollout step; written as a terminal table, CSV and an SVG chart.
import Agent
import ArgumentParser
import ContextReflector
import Formats
import Foundation
import WorldModel

/// The extra options of the ablation.
struct AblationOptions: ParsableArguments {
    @Flag(name: .long, help: "Run the ablation (identity, base, +retrieval, +reflector, +memory, +all) over the sequences split, per rollout step.")
    var ablation = false
    @Option(name: .long, help: "ablation: learned reflector checkpoint (.pt from `worldgpt train-reflector`); without it the retrieval variants are skipped, as the model has no other way to read context.")
    var reflector: String?
    @Option(name: .long, help: "ablation: episodes of the sequences split to roll out (default: all).")
    var episodes: Int?
    @Option(name: .long, help: "ablation: rollout steps per episode.")
    var steps = 7
    @Option(name: .long, help: "ablation: recent steps given as memory in the memory variants.")
    var history = 3
    @Option(name: .long, help: "ablation: most context items the reflector keeps (default 8: what `make demo`'s reflector is tuned with).")
    var budget = 8
    @Option(name: .long, help: "ablation: folder for ablation.csv and ablation.svg (default: beside --out, or the current folder).")
    var reportDir: String?
}

enum AblationReport {
    /// Runs the ablation for `eval --ablation` and prints/writes its table.
    static func run(model: String, data: String, split: String?, kb: String?, options: AblationOptions, encoderOptions: ActionEncoderOptions) throws {
        guard options.steps >= 1 else { throw ValidationError("--steps must be at least 1") }
        let (worldModel, encoder) = try AgentSetup.worldModel(model, kb: kb, encoderOptions: encoderOptions)
        let cache = encoderOptions.cache(for: encoder)
        let plans = try AgentSetup.plans(data: data, split: split ?? "sequences", episodes: options.episodes ?? Int.max, start: nil, cache: cache)
        let dim = plans.first?.start.embeddings.values.first?.dim ?? 768
        var base = RuntimeOptions(history: options.history)
        base.filter.budget = options.budget
        var variants = AblationVariant.standard(model: worldModel, base: base)
        let kbPath = kb ?? (isFolder(data) ? data : nil)
        var knowledge: (any ContextSource)?
        var tokenizer: (any ContextTokenizer)?
        if let reflector = options.reflector {
            guard let kbPath else { throw ValidationError("--ablation with --reflector needs --kb (or --data as a SimWorld folder with a kb split)") }
            knowledge = try AgentSetup.knowledge(kbPath, cache: cache, model: worldModel)
            tokenizer = try AgentSetup.tokenizer(URL(fileURLWithPath: reflector), model: worldModel)
        } else {
            ProgressLine.note("ablation: no --reflector given: skipping +retrieval, +reflector and +all (the model reads context only through reflector tokens)")
            variants.removeAll { $0.options.retrieval }
        }
        let runner = AblationRunner(knowledge: knowledge, tokenizer: tokenizer, textEncoder: CachedEmbedder(cache: cache), dim: dim)
        var finished = 0
        let table = try runner.run(variants, plans: plans, steps: options.steps) { name in
            finished += 1
            ProgressLine.update("ablation: \(finished)/\(variants.count) variants done (\(name))")
        }
        ProgressLine.finish()
        try cache.save()
        print("Ablation: cosine ×100 to the true next state, mean over modalities (\(table.episodes) episodes of \(data))")
        print(table.text())
        if let b = table.mean("base", step: 1), let all = table.mean("+all", step: 1) {
            print(String(format: "+all vs base at step 1: %+.2f points", all - b))
        }
        if let m = table.mean("+memory", steps: 3...min(7, table.steps)), let b = table.mean("base", steps: 3...min(7, table.steps)), table.steps >= 3 {
            print(String(format: "+memory vs base over steps 3–%d: %+.2f points", min(7, table.steps), m - b))
        }
        let dir = URL(fileURLWithPath: options.reportDir ?? ".")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try table.csv().write(to: dir.appendingPathComponent("ablation.csv"), atomically: true, encoding: .utf8)
        try table.svg().write(to: dir.appendingPathComponent("ablation.svg"), atomically: true, encoding: .utf8)
        print("wrote \(dir.appendingPathComponent("ablation.csv").path) and ablation.svg")
    }

    private static func isFolder(_ path: String) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
    }
}
