// `worldgpt reflector …`: run the learned reflector on arrays, and explain the filter's decisions for a query.
import ArgumentParser
import ContextReflector
import Foundation

/// `worldgpt reflector`: the ContextReflector's two stages from the command line.
struct ReflectorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reflector",
        abstract: "Run the learned reflector (Q-Former) or explain the filter stage's decisions.",
        subcommands: [Explain.self])
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
                Reads a candidate file (JSON: {"query": {...}, "candidates": [...], "filter": {...}}; layout in \
                docs/reflector.md), applies the filter rules (leakage guard, threshold, near-duplicate collapse, \
                MMR diversity, budget) and prints one line per candidate, e.g. `kb:12  kept: rank 1, score 0.91`. \
                Options override the file's "filter" settings.
                """)

        @Option(name: .long, help: "The candidate file (JSON) holding the query and its retrieved candidates.")
        var candidates: String
        @OptionGroup var filter: FilterOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let file = try CandidateFile.load(URL(fileURLWithPath: candidates))
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
    }
}

/// The `--json` form of `reflector explain`.
private struct ExplainOutput: Encodable {
    var config: ReflectorFilterConfig
    var kept: [String]
    var decisions: [FilterDecision]
}
