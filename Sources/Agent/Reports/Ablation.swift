// The ablation: the same rollouts run by identity, the bare model, and the model with each cognitive
// function switched on; cosine ×100 to the truth per variant, rollout step and modality.
import ContextReflector
import Encoders
import Formats
import Foundation
import Memory
import WorldModel

/// One configuration of the ablation.
public struct AblationVariant {
    /// The variant's label (`identity`, `base`, `+retrieval`, `+reflector`, `+memory`, `+all`).
    public var name: String
    /// The world model it uses.
    public var model: any WorldModel
    /// Which cognitive functions are on.
    public var options: RuntimeOptions
    /// Whether the learned reflector stage runs when retrieval is on.
    public var learnedStage: Bool

    /// A variant.
    public init(name: String, model: any WorldModel, options: RuntimeOptions, learnedStage: Bool = true) {
        self.name = name
        self.model = model
        self.options = options
        self.learnedStage = learnedStage
    }

    /// The paper-style ladder: identity, base, +retrieval, +reflector, +memory, +all, over `model`.
    public static func standard(model: any WorldModel, base: RuntimeOptions = RuntimeOptions()) -> [AblationVariant] {
        func with(memory: Bool, retrieval: Bool, reflector: Bool) -> RuntimeOptions {
            var o = base
            o.memory = memory
            o.retrieval = retrieval
            o.reflector = reflector
            return o
        }
        return [
            AblationVariant(name: "identity", model: IdentityModel(), options: with(memory: false, retrieval: false, reflector: false)),
            AblationVariant(name: "base", model: model, options: with(memory: false, retrieval: false, reflector: false)),
            AblationVariant(name: "+retrieval", model: model, options: with(memory: false, retrieval: true, reflector: false)),
            AblationVariant(name: "+reflector", model: model, options: with(memory: false, retrieval: true, reflector: true)),
            AblationVariant(name: "+memory", model: model, options: with(memory: true, retrieval: false, reflector: false)),
            AblationVariant(name: "+all", model: model, options: with(memory: true, retrieval: true, reflector: true)),
        ]
    }
}

/// Cosine ×100 per variant, rollout step (1-based) and modality, averaged over episodes.
public struct AblationTable: Equatable, Sendable {
    /// Variant names in order.
    public var variants: [String]
    /// Number of rollout steps.
    public var steps: Int
    /// The modalities scored.
    public var modalities: [Modality]
    /// `cosine[variant][step - 1][modality]` = mean cosine ×100.
    public var cosine: [String: [[Modality: Double]]]
    /// Episodes scored.
    public var episodes: Int

    /// A table from its cells (runs build it with `init(merging:)`).
    public init(variants: [String], steps: Int, modalities: [Modality], cosine: [String: [[Modality: Double]]], episodes: Int) {
        self.variants = variants
        self.steps = steps
        self.modalities = modalities
        self.cosine = cosine
        self.episodes = episodes
    }

    /// Mean over modalities at `step` (1-based) for `variant`, nil when nothing was scored.
    public func mean(_ variant: String, step: Int) -> Double? {
        guard let rows = cosine[variant], step >= 1, step <= rows.count, !rows[step - 1].isEmpty else { return nil }
        return rows[step - 1].values.reduce(0, +) / Double(rows[step - 1].count)
    }

    /// Mean over modalities and the steps in `range` for `variant`.
    public func mean(_ variant: String, steps range: ClosedRange<Int>) -> Double? {
        let values = range.compactMap { mean(variant, step: $0) }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// The step columns of the printed tables: every step up to 16 steps; for longer rollouts steps 1, 2, 3, then
    /// 4–8, 9–16 and blocks of 16 (17–32, 33–48, …), so a 64-step table stays readable (the CSV keeps every step).
    public static func columns(steps: Int) -> [ClosedRange<Int>] {
        let n = max(steps, 1)
        guard n > 16 else { return (1...n).map { $0...$0 } }
        var result: [ClosedRange<Int>] = [1...1, 2...2, 3...3, 4...8, 9...16]
        var start = 17
        while start <= n {
            result.append(start...min(start + 15, n))
            start += 16
        }
        return result
    }

    /// The summary columns after the step columns: `17–N` (the steps beyond the runtime's 16-step window) for rollouts
    /// longer than 32 steps (up to 32 it is the last step column already), then the mean over all steps.
    public var summaryColumns: [ClosedRange<Int>] {
        let n = max(steps, 1)
        return n > 32 ? [17...n, 1...n] : [1...n]
    }

    /// A column's heading: `step 3`, `4–8`, `17–64`; the last summary column is `mean`.
    static func heading(_ range: ClosedRange<Int>, isMean: Bool) -> String {
        if isMean { return "mean" }
        return range.count == 1 ? "step \(range.lowerBound)" : "\(range.lowerBound)–\(range.upperBound)"
    }

    /// The headings and cells of the printed tables (mean over modalities and the column's steps).
    private func grid() -> (headings: [String], rows: [(variant: String, cells: [String])]) {
        let stepColumns = Self.columns(steps: self.steps), summary = summaryColumns
        let columns = stepColumns + summary
        let headings = stepColumns.map { Self.heading($0, isMean: false) }
            + summary.enumerated().map { Self.heading($1, isMean: $0 == summary.count - 1) }
        let rows = variants.map { v in (v, columns.map { range in mean(v, steps: range).map { String(format: "%.2f", $0) } ?? "-" }) }
        return (headings, rows)
    }

    /// A terminal table: one row per variant, one column per step (longer rollouts: per block of steps, see
    /// `columns(steps:)`), then the mean (and `17–N` beyond 16 steps), all means over modalities.
    public func text() -> String {
        let (headings, rows) = grid()
        let nameWidth = max(12, variants.map(\.count).max() ?? 0)
        var lines = [(["variant".padding(toLength: nameWidth, withPad: " ", startingAt: 0)] + headings.map { $0.leftPadded(8) }).joined(separator: " ")]
        for (v, cells) in rows {
            lines.append(([v.padding(toLength: nameWidth, withPad: " ", startingAt: 0)] + cells.map { $0.leftPadded(8) }).joined(separator: " "))
        }
        return lines.joined(separator: "\n")
    }

    /// The same table in Markdown (written as `ablation.md`).
    public func markdown() -> String {
        let (headings, rows) = grid()
        var out = "| variant | " + headings.joined(separator: " | ") + " |\n"
        out += "|---|" + String(repeating: "---:|", count: headings.count) + "\n"
        for (v, cells) in rows { out += "| \(v) | " + cells.joined(separator: " | ") + " |\n" }
        return out
    }

    /// CSV: `variant,step,modality,cosine` with one row per cell, plus `mean` rows over modalities.
    public func csv() -> String {
        var out = "variant,step,modality,cosine\n"
        for v in variants {
            for s in 1...max(steps, 1) {
                let row = cosine[v]?[s - 1] ?? [:]
                for m in modalities { if let c = row[m] { out += "\(v),\(s),\(m.rawValue),\(String(format: "%.4f", c))\n" } }
                if let c = mean(v, step: s) { out += "\(v),\(s),mean,\(String(format: "%.4f", c))\n" }
            }
        }
        return out
    }

    /// The SVG chart of mean cosine against rollout step, one line per variant. Beyond 16 steps the points are
    /// joined without markers, the x axis is labelled every 8 steps and a dashed line marks the end of the
    /// runtime's 16-step window.
    public func svg() -> String {
        LineChart(
            title: "Cosine ×100 to the true next state, by rollout step (\(episodes) episodes)", xLabel: "rollout step",
            yLabel: "cosine ×100",
            series: variants.map { v in .init(name: v, values: (1...max(steps, 1)).map { mean(v, step: $0) }) },
            markers: steps > 16 ? [.init(after: 16, label: "16-step window")] : []
        ).svg(width: steps > 16 ? 960 : 720)
    }
}

extension String {
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// The cosines of every scored step of an ablation run (or of one shard of it), per variant, in offload order: what
/// the table is computed from. Shards write these (`eval --ablation --shard`); `AblationTable(merging:)` adds the
/// shards' steps in the unsharded run's order, so the merged table is the unsharded table bit for bit.
public struct AblationScores: Codable, Equatable, Sendable {
    /// One scored step: the episode's position in the plans, the step index, cosine (not ×100) per modality.
    public struct Step: Codable, Equatable, Sendable {
        public var episode: Int
        public var step: Int
        public var cosine: [String: Double]
    }

    /// Format marker of the JSON file.
    public var format = "worldgpt-ablation-scores-1"
    /// Variant names in order.
    public var variants: [String]
    /// Rollout steps per episode.
    public var steps: Int
    /// Episodes of the whole (unsharded) run.
    public var episodes: Int
    /// Episodes per lock-step group (the unit of sharding).
    public var groupSize: Int
    /// The shard these scores are of (`1/1`: the whole run).
    public var shard: String
    /// The plan indices this shard ran.
    public var episodeRange: [Int]
    /// What was rolled out (printed with the table).
    public var source: String
    /// Per variant, the scored steps in offload order.
    public var scored: [String: [Step]]
}

/// Runs every variant over the same plans and tabulates the cosines.
public struct AblationRunner {
    /// Where knowledge comes from for variants with retrieval.
    public var knowledge: (any ContextSource)?
    /// The learned reflector stage, when trained.
    public var tokenizer: (any ContextTokenizer)?
    /// Embeds action texts.
    public var textEncoder: (any Embedder)?
    /// The state dimension (for the variants' in-memory episode stores).
    public var dim: Int
    /// Episodes stepped together (`RolloutDriver.groupSize`).
    public var groupSize = RolloutDriver.defaultGroupSize

    /// A runner.
    public init(knowledge: (any ContextSource)?, tokenizer: (any ContextTokenizer)?, textEncoder: (any Embedder)?, dim: Int) {
        self.knowledge = knowledge
        self.tokenizer = tokenizer
        self.textEncoder = textEncoder
        self.dim = dim
    }

    /// Runs `variants` over `plans` (each at most `steps` steps).
    /// - Parameter progress: called after each variant with its name.
    public func run(_ variants: [AblationVariant], plans: [EpisodePlan], steps: Int, progress: (String) -> Void = { _ in }) throws -> AblationTable {
        try AblationTable(merging: [scores(variants, plans: plans, steps: steps, shard: .whole, source: "", progress: progress)])
    }

    /// The scored steps of `shard` of the run of `variants` over `plans`.
    public func scores(_ variants: [AblationVariant], plans: [EpisodePlan], steps: Int, shard: Shard, source: String,
                       progress: (String) -> Void = { _ in }) throws -> AblationScores {
        var scored: [String: [AblationScores.Step]] = [:]
        var range: Range<Int> = 0..<0
        let position = Dictionary(plans.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first })
        for variant in variants {
            let store = try EpisodeStore(inMemoryWithDim: dim)
            let runtime = try Runtime(
                model: variant.model, textEncoder: textEncoder, memory: WorkingMemory(store: store, window: 8, batchSize: 1024),
                knowledge: knowledge, tokenizer: variant.learnedStage ? tokenizer : nil, options: variant.options)
            let driver = RolloutDriver(runtime: runtime, store: store, groupSize: groupSize)
            range = driver.planRange(plans, shard: shard)
            let outcomes = try driver.run(plans, steps: steps, shard: shard)
            scored[variant.name] = outcomes.compactMap { outcome in
                guard outcome.record.index < steps, let e = position[outcome.record.episode] else { return nil }
                return AblationScores.Step(episode: e, step: outcome.record.index,
                                           cosine: Dictionary(uniqueKeysWithValues: outcome.cosine.map { ($0.key.rawValue, $0.value) }))
            }
            progress(variant.name)
        }
        return AblationScores(variants: variants.map(\.name), steps: steps, episodes: plans.count, groupSize: groupSize,
                              shard: shard.description, episodeRange: Array(range), source: source, scored: scored)
    }
}

extension AblationTable {
    /// The table of a whole run from the scores of its shards (one shard: the run itself). Steps are added in the
    /// unsharded run's offload order, so the means are the same bits however the run was split.
    /// - Throws: `AgentError.invalidOption(name: "merge", …)` when the parts are of different runs, overlap with
    ///   different scores, or leave episodes out.
    public init(merging parts: [AblationScores]) throws {
        guard let first = parts.first else { throw AgentError.invalidOption(name: "merge", reason: "no ablation scores given") }
        func fail(_ reason: String) -> AgentError { AgentError.invalidOption(name: "merge", reason: reason) }
        var covered = [Bool](repeating: false, count: first.episodes)
        var byVariant: [String: [Int: AblationScores.Step]] = [:]  // key: episode * steps + step
        for part in parts {
            guard part.format == first.format, part.variants == first.variants, part.steps == first.steps,
                  part.episodes == first.episodes, part.groupSize == first.groupSize else {
                throw fail("shard \(part.shard) is of another run than shard \(first.shard) (variants, steps, episodes or group size differ)")
            }
            for e in part.episodeRange {
                guard e >= 0, e < first.episodes else { throw fail("shard \(part.shard) names episode \(e) of \(first.episodes)") }
                covered[e] = true
            }
            for (variant, steps) in part.scored {
                for step in steps {
                    let key = step.episode * first.steps + step.step
                    if let earlier = byVariant[variant]?[key], earlier != step {
                        throw fail("\(variant): episode \(step.episode) step \(step.step + 1) has different scores in two shards")
                    }
                    byVariant[variant, default: [:]][key] = step
                }
            }
        }
        if let missing = covered.firstIndex(of: false) {
            throw fail("episode \(missing) of \(first.episodes) is in no shard (\(covered.filter { !$0 }.count) missing): merge every shard of the run")
        }
        let steps = first.steps, groupSize = first.groupSize
        var cosine: [String: [[Modality: Double]]] = [:]
        var modalities = Set<Modality>()
        for variant in first.variants {
            // Offload order: group, then step, then episode.
            let ordered = (byVariant[variant] ?? [:]).values.sorted {
                ($0.episode / groupSize, $0.step, $0.episode) < ($1.episode / groupSize, $1.step, $1.episode)
            }
            var sums = [[Modality: Double]](repeating: [:], count: steps)
            var counts = [[Modality: Int]](repeating: [:], count: steps)
            for step in ordered where step.step < steps {
                for (name, c) in step.cosine {
                    guard let m = Modality(rawValue: name) else { throw fail("unknown modality `\(name)` in the scores") }
                    sums[step.step][m, default: 0] += 100 * c
                    counts[step.step][m, default: 0] += 1
                    modalities.insert(m)
                }
            }
            cosine[variant] = (0..<steps).map { s in sums[s].reduce(into: [:]) { $0[$1.key] = $1.value / Double(counts[s][$1.key]!) } }
        }
        self.init(variants: first.variants, steps: steps, modalities: modalities.sorted(), cosine: cosine, episodes: first.episodes)
    }
}
