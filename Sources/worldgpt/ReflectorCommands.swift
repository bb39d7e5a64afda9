// `worldgpt reflector …`: run the learned reflector on arrays, and explain the filter's decisions for a query.
import ArgumentParser
import ContextReflector
import Formats
import Foundation
import WorldModel

/// `worldgpt reflector`: the ContextReflector's two stages from the command line.
struct ReflectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reflector",
        abstract: "Run the learned reflector (Q-Former) or explain the filter stage's decisions.",
        subcommands: [Run.self, Explain.self])
}

/// Filter settings shared by commands that run the filter stage.
struct FilterOptions: ParsableArguments {
    @Option(name: .long, help: "Drop candidates whose retrieval score is below this (default 0.30).")
    var threshold: Double?
    @Option(name: .long, help: "Collapse a candidate into a better-scored one when their transition cosine is at least this (default 0.98).")
    var duplicateCosine: Double?
    @Option(name: .long, help: "MMR trade-off in [0, 1]: 1 = by score only, lower = prefer diverse items (default 0.70).")
    var mmrLambda: Double?
    @Option(name: .long, help: "Keep at most this many items (default 4).")
    var budget: Int?
    @Flag(name: .long, help: "Turn the leakage guard off (ablations only: the query's own sample may then be kept).")
    var noLeakageGuard = false

    /// `base` with every given option applied.
    func config(base: ReflectorFilterConfig = ReflectorFilterConfig()) -> ReflectorFilterConfig {
        var c = base
        if let threshold { c.threshold = threshold }
        if let duplicateCosine { c.duplicateCosine = duplicateCosine }
        if let mmrLambda { c.mmrLambda = mmrLambda }
        if let budget { c.budget = budget }
        if noLeakageGuard { c.leakageGuard = false }
        return c
    }
}

extension ReflectorCommand {
    /// `worldgpt reflector explain`: the filter decision and reason for every candidate of one query.
    struct Explain: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the filter stage's decision and reason for every retrieved candidate of a query.",
            discussion: """
                Either reads a candidate file (--candidates: JSON {"query": {...}, "candidates": [...], "filter": {...}}; \
                layout in docs/reflector.md), or retrieves the candidates of one dataset sample from a knowledge base \
                (--kb with --data and --sample; the query is the sample's state0 — or only --inputs modalities — and \
                action, with its own provenance, so the leakage guard is exercised). Applies the filter rules (leakage \
                guard, threshold, near-duplicate collapse, MMR diversity, budget) and prints one line per candidate, \
                e.g. `kb:12  kept: rank 1, score 0.91`. Options override a candidate file's "filter" settings.
                """)

        @Option(name: .long, help: "A candidate file (JSON) holding the query and its retrieved candidates.")
        var candidates: String?
        @Option(name: .long, help: "Knowledge to retrieve from: a KB.sqlite (`worldgpt kb build`), a dataset YAML or a SimWorld folder (its kb split).")
        var kb: String?
        @Option(name: .long, help: "With --kb: the dataset (YAML or SimWorld folder) holding the query sample.")
        var data: String?
        @Option(name: .long, help: "With --kb: the split of --data (a YAML section, or SimWorld train/kb/test/sequences; default test for folders).")
        var split: String?
        @Option(name: .long, help: "With --kb: the query sample's id (its index in the annotation file).")
        var sample: String?
        @Option(name: .long, help: "With --kb: the query's input modalities, comma-separated (default: all of the sample's state0).")
        var inputs: String?
        @Option(name: .long, help: "With --kb: candidates retrieved before the filter.")
        var retrieve: Int = 16
        @OptionGroup var filter: FilterOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup var encoderOptions: ActionEncoderOptions

        func run() throws {
            let file = try loadQuery()
            let result = try ReflectorFilter(config: filter.config(base: file.filter ?? ReflectorFilterConfig()))
                .apply(query: file.query, candidates: file.candidates)
            if output.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                let data = try encoder.encode(ExplainOutput(config: result.config, kept: result.kept.map(\.id), decisions: result.decisions))
                print(String(decoding: data, as: UTF8.self))
            } else {
                let c = result.config
                print("filter: threshold \(c.threshold), duplicate cos ≥ \(c.duplicateCosine), MMR λ \(c.mmrLambda), budget \(c.budget), leakage guard \(c.leakageGuard ? "on" : "off")")
                print("kept \(result.kept.count) of \(file.candidates.count): \(result.kept.map(\.id).joined(separator: ", "))")
                print(result.explanation())
            }
        }

        /// The query and candidates: from --candidates, or retrieved for --sample of --data from --kb.
        private func loadQuery() throws -> CandidateFile {
            if let candidates {
                guard kb == nil, sample == nil else { throw ValidationError("give either --candidates or --kb with --data and --sample") }
                return try CandidateFile.load(URL(fileURLWithPath: candidates))
            }
            guard let kb, let data, let sample else { throw ValidationError("give --candidates FILE, or --kb, --data and --sample") }
            let cache = encoderOptions.cache(for: try encoderOptions.encoder())
            let config = try DatasetSources.config(URL(fileURLWithPath: data), split: split, folderSplit: "test")
            let transitions = try TrainingSetup.transitions(config, cache: cache)
            guard let t = transitions.first(where: { $0.provenance.sampleID == sample }) else {
                throw ValidationError("no sample '\(sample)' in \(config.source) (\(transitions.count) samples, ids 0…\(max(0, transitions.count - 1)))")
            }
            var state = t.state0
            if let inputs {
                var kept = State()
                for name in inputs.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
                    guard let m = Modality(rawValue: name) else { throw ValidationError("--inputs: unknown modality '\(name)'") }
                    guard let e = t.state0[m] else { throw ValidationError("--inputs: sample \(sample) has no \(name) in state0") }
                    kept[m] = e
                }
                state = kept
            }
            let query = ReflectorQuery(state: state, action: t.action, provenance: t.provenance)
            let knowledge = try AgentSetup.knowledge(kb, cache: cache)
            try cache.save()
            return CandidateFile(query: query, candidates: try knowledge.candidates(for: query, k: retrieve))
        }
    }
}

/// The `--json` form of `reflector explain`.
private struct ExplainOutput: Encodable {
    var config: ReflectorFilterConfig
    var kept: [String]
    var decisions: [FilterDecision]
}

extension ReflectorCommand {
    /// `worldgpt reflector run`: the learned stage on arrays from a file.
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run the learned reflector (WorldGPT's Q-Former) on arrays from a file and save its tokens.",
            discussion: """
                Loads a reflector checkpoint in the original PyTorch layout ({name: tensor or Parameter}, fp32/fp16/bf16; \
                layers, widths and output width are read from the tensor shapes) and arrays named as in \
                reflector.json: state0 [B, Ds], action [B, Da], context [B, L, Cw] (3 tokens per retrieved triplet), \
                optional context_mask [B, L]. Writes the tokens [B, Q, O] as .npy.
                """)

        @Option(name: .long, help: "The reflector checkpoint (.pt).")
        var checkpoint: String
        @Option(name: .long, help: "The input arrays (.npz, .pt or .safetensors) holding state0, action and the context array.")
        var inputs: String
        @Option(name: .long, help: "Where to write the output tokens (.npy, float32, shape [B, Q, O]).")
        var out: String
        @Option(name: .long, help: "The name of the context array in --inputs (default: context).")
        var contextName = "context"
        @Option(name: .long, help: "Attention heads (default: hidden width / 64, as in every BERT size).")
        var heads: Int?
        @Option(name: .long, help: "Compare the output with this array of --inputs (e.g. output) and print the max absolute difference.")
        var expect: String?
        @Option(name: .long, help: "With --expect: fail (exit 1) when the max absolute difference exceeds this.")
        var tolerance: Double = 1e-3

        func run() throws {
            let start = Date()
            // Inputs first: a missing array is reported before the (larger) checkpoint is read.
            let arrays = try ReflectorArrays.load(URL(fileURLWithPath: inputs))
            let input = try arrays.reflectorInput(contextName: contextName)
            let reflector = try LearnedReflector.load(contentsOf: URL(fileURLWithPath: checkpoint), heads: heads)
            let c = reflector.config
            let crossLayers = c.crossAttention.enumerated().filter(\.element).map { String($0.offset) }.joined(separator: ",")
            print("checkpoint: \(c.layerCount) Q-Former layer(s) (cross-attention in \(crossLayers.isEmpty ? "none" : crossLayers)), hidden \(c.hiddenWidth), \(c.heads) heads, \(c.queryTokenCount) query tokens, output width \(c.outputWidth), \(reflector.store.count) parameters")
            let tokens = try reflector.forward(input)
            try NPY.write(TensorData(floats: tokens.data, shape: tokens.shape), to: URL(fileURLWithPath: out))
            print("wrote \(out): tokens \(tokens.shape) in \(String(format: "%.2f", Date().timeIntervalSince(start))) s")
            if let expect {
                guard let want = arrays.tensor(expect), want.count == tokens.count else {
                    throw ValidationError("--expect \(expect): no array of \(tokens.count) values named '\(expect)' in \(inputs)")
                }
                let diff = zip(tokens.data, want.data).map { Double(abs($0 - $1)) }.max() ?? 0
                print("max |output - \(expect)| = \(String(format: "%.3g", diff)) (tolerance \(tolerance))")
                if !(diff <= tolerance) { throw ExitCode(1) }
            }
        }
    }
}
