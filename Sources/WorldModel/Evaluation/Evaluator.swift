// WorldGPT's evaluation: cosine similarity ×100 between predicted and true target embeddings,
// per target modality and per task mode; CSV in the layout of the original's `validation_sim.csv`.
import Foundation
import Formats

/// One evaluation case: a transition plus the cognitive inputs the model may use for it.
public struct EvaluationSample: Sendable {
    /// The transition (state0, action with embedding, true state1).
    public var transition: Transition
    /// Recalled memory steps for it (empty when none).
    public var memory: [MemoryItem]
    /// Kept context items for it (empty when none).
    public var context: [ContextItem]
    /// Reflector tokens for it, if any.
    public var reflectorTokens: ReflectorTokens?

    /// An evaluation case.
    public init(transition: Transition, memory: [MemoryItem] = [], context: [ContextItem] = [], reflectorTokens: ReflectorTokens? = nil) {
        self.transition = transition
        self.memory = memory
        self.context = context
        self.reflectorTokens = reflectorTokens
    }
}

/// The result of an evaluation: mean cosine ×100 per (mode, target modality).
public struct EvaluationReport: Equatable, Sendable {
    /// The evaluated modes, in config order (rows).
    public var modes: [TaskMode]
    /// The target modalities that occur in any mode (columns), in stable order.
    public var modalities: [Modality]
    /// `scores[row][column]`: mean cosine ×100, nil where the mode has no such target or no sample.
    public var scores: [[Double?]]
    /// `counts[row][column]`: number of predictions behind each score.
    public var counts: [[Int]]

    /// Per target modality: the mean of that column's scores over modes (the macro average), nil if none.
    public var modalityMeans: [Modality: Double] {
        var out: [Modality: Double] = [:]
        for (column, modality) in modalities.enumerated() {
            let values = scores.compactMap { $0[column] }
            if !values.isEmpty { out[modality] = values.reduce(0, +) / Double(values.count) }
        }
        return out
    }

    /// The score of `modality` in `mode`, if evaluated.
    public func score(mode: TaskMode, modality: Modality) -> Double? {
        guard let row = modes.firstIndex(where: { $0.inputs == mode.inputs && $0.targets == mode.targets }),
            let column = modalities.firstIndex(of: modality)
        else { return nil }
        return scores[row][column]
    }

    /// CSV like `validation_sim.csv`: header `,image,video,...`, one row per mode named as `serialize_task`
    /// (quoted, since names contain commas), empty cells where a mode has no such target. Values are ×100.
    public func csv() -> String {
        var lines = ["," + modalities.map(\.rawValue).joined(separator: ",")]
        for (row, mode) in modes.enumerated() {
            let cells = scores[row].map { $0.map { String(format: "%.4f", $0) } ?? "" }
            lines.append("\"\(mode.name)\"," + cells.joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A fixed-width table for the terminal, with a final row of per-modality means.
    public func table(title: String? = nil) -> String {
        let nameWidth = max(24, modes.map { $0.name.count }.max() ?? 0)
        func pad(_ s: String, _ w: Int, left: Bool = false) -> String {
            s.count >= w ? s : (left ? s + String(repeating: " ", count: w - s.count) : String(repeating: " ", count: w - s.count) + s)
        }
        var lines: [String] = []
        if let title { lines.append(title) }
        lines.append(pad("mode (cosine ×100)", nameWidth, left: true) + modalities.map { pad($0.rawValue, 9) }.joined())
        for (row, mode) in modes.enumerated() {
            lines.append(pad(mode.name, nameWidth, left: true) + scores[row].map { pad($0.map { String(format: "%.2f", $0) } ?? "-", 9) }.joined())
        }
        let means = modalityMeans
        lines.append(pad("mean over modes", nameWidth, left: true) + modalities.map { pad(means[$0].map { String(format: "%.2f", $0) } ?? "-", 9) }.joined())
        return lines.joined(separator: "\n")
    }

    /// Writes `csv()` to `url`.
    public func writeCSV(to url: URL) throws {
        try AtomicFile.write(Data(csv().utf8), to: url)
    }
}

/// Runs a world model over samples for every task mode and averages cosine similarities.
public struct Evaluator: Sendable {
    /// The modes to evaluate (rows of the report).
    public var modes: [TaskMode]
    /// Inputs per `predictBatch` call.
    public var batchSize: Int

    /// An evaluator over `modes`.
    public init(modes: [TaskMode], batchSize: Int = 256) {
        self.modes = modes
        self.batchSize = max(1, batchSize)
    }

    /// Evaluates `model` on plain transitions (no memory, no context).
    public func evaluate(_ model: any WorldModel, on transitions: [Transition], progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        try evaluate(model, samples: transitions.map { EvaluationSample(transition: $0) }, progress: progress)
    }

    /// Evaluates `model` on `samples`: for every mode, every sample that has the mode's inputs in state0
    /// and targets in state1 is predicted from its masked state0; cosine ×100 to the true state1 is averaged.
    /// - Parameter progress: called with (done, total) predictions after each batch.
    /// - Throws: `WorldModelError.emptyDataset` when no sample fits any mode, and the model's errors.
    public func evaluate(_ model: any WorldModel, samples: [EvaluationSample], progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationReport {
        try EvaluationReport(merging: [scores(model, samples: samples, batches: { 0..<$0 }, shard: "1/1", progress: progress)])
    }

    /// The per-prediction cosines of the batches `batches(total batch count)` of an evaluation (a shard of it; all
    /// batches: the whole run). Batches of `batchSize` predictions are the unit: a prediction's numbers depend on the
    /// batch it ran in, so a shard computes whole batches, exactly as the unsharded run does.
    /// - Throws: as `evaluate`.
    public func scores(_ model: any WorldModel, samples: [EvaluationSample], batches: (Int) -> Range<Int>, shard: String,
                       progress: ((Int, Int) -> Void)? = nil) throws -> EvaluationScores {
        let modalities = Modality.allCases.filter { m in modes.contains { $0.targets.contains(m) } }
        let jobs = modes.enumerated().flatMap { row, mode in
            samples.indices.filter { mode.applies(to: samples[$0].transition) }.map { (row: row, sample: $0) }
        }
        guard !jobs.isEmpty else {
            throw WorldModelError.emptyDataset(field: "modality_modes", reason: "no sample has the inputs and targets of any mode (\(samples.count) samples)")
        }
        var result = try scores(model, jobs: jobs, samples: samples, modalities: modalities,
                                batches: batches((jobs.count + batchSize - 1) / batchSize), progress: progress)
        result.shard = shard
        return result
    }

    private func scores(_ model: any WorldModel, jobs: [(row: Int, sample: Int)], samples: [EvaluationSample], modalities: [Modality],
                        batches: Range<Int>, progress: ((Int, Int) -> Void)?) throws -> EvaluationScores {
        var scored: [EvaluationScores.Score] = []
        var done = 0
        let selected = min(jobs.count, batches.lowerBound * batchSize)..<min(jobs.count, batches.upperBound * batchSize)
        for start in stride(from: selected.lowerBound, to: selected.upperBound, by: batchSize) {
            let batch = (start..<min(jobs.count, start + batchSize)).map { ($0, jobs[$0]) }
            let inputs = batch.map { _, job -> PredictionInput in
                let sample = samples[job.sample], mode = modes[job.row]
                return PredictionInput(
                    state: mode.mask(sample.transition.state0), action: sample.transition.action, targets: mode.targets,
                    context: sample.context, reflectorTokens: sample.reflectorTokens, memory: sample.memory,
                    scenario: sample.transition.provenance.scenario)
            }
            let outputs = try model.predictBatch(inputs)
            for ((index, job), output) in zip(batch, outputs) {
                let truth = samples[job.sample].transition.state1
                for target in modes[job.row].targets {
                    guard let predicted = output[target], let expected = truth[target] else { continue }
                    guard predicted.dim == expected.dim else {
                        throw WorldModelError.dimensionMismatch(field: "prediction.\(target)", expected: expected.dim, actual: predicted.dim)
                    }
                    let column = modalities.firstIndex(of: target)!  // targets of the modes are among `modalities`
                    scored.append(.init(job: index, row: job.row, column: column, value: predicted.cosine(expected) * 100))
                }
            }
            done += batch.count
            progress?(done, selected.count)
        }
        return EvaluationScores(
            modes: modes.map { .init(inputs: $0.inputs.map(\.rawValue), targets: $0.targets.map(\.rawValue), weight: $0.weight) },
            modalities: modalities.map(\.rawValue), jobs: jobs.count, batchSize: batchSize, shard: "1/1",
            jobRange: [selected.lowerBound, selected.upperBound], scored: scored)
    }
}

/// The per-prediction cosines ×100 of an evaluation or of one shard of it (`eval --shard`), in job order; the report
/// is computed from them by adding in job order (`EvaluationReport(merging:)`), so merged shards give the unsharded
/// report bit for bit.
public struct EvaluationScores: Codable, Equatable, Sendable {
    /// A task mode as names.
    public struct Mode: Codable, Equatable, Sendable {
        public var inputs: [String], targets: [String], weight: Double
    }
    /// One scored target of one prediction.
    public struct Score: Codable, Equatable, Sendable {
        public var job: Int, row: Int, column: Int, value: Double
    }

    /// Format marker.
    public var format = "worldgpt-eval-scores-1"
    /// The modes (report rows) and target modalities (columns).
    public var modes: [Mode]
    public var modalities: [String]
    /// Predictions of the whole run and per batch.
    public var jobs: Int, batchSize: Int
    /// The shard (`I/N`) and the predictions it ran (`[lower, upper)`).
    public var shard: String
    public var jobRange: [Int]
    /// What the report's title says (set by the caller).
    public var title = ""
    /// The scores, in job order.
    public var scored: [Score]
}

extension EvaluationReport {
    /// The report of a whole evaluation from its shards' scores (one part: the run itself).
    /// - Throws: `WorldModelError.invalidConfig(field: "merge", …)` when parts are of different runs, disagree, or
    ///   leave predictions out.
    public init(merging parts: [EvaluationScores]) throws {
        func fail(_ reason: String) -> WorldModelError { .invalidConfig(field: "merge", reason: reason) }
        guard let first = parts.first else { throw fail("no evaluation scores given") }
        var covered = [Bool](repeating: false, count: first.jobs)
        var byJob: [Int: [EvaluationScores.Score]] = [:]
        for part in parts {
            guard part.format == first.format, part.modes == first.modes, part.modalities == first.modalities, part.jobs == first.jobs,
                  part.batchSize == first.batchSize, part.jobRange.count == 2 else {
                throw fail("shard \(part.shard) is of another evaluation than shard \(first.shard) (modes, predictions or batch size differ)")
            }
            var mine: [Int: [EvaluationScores.Score]] = [:]
            for score in part.scored { mine[score.job, default: []].append(score) }
            for job in part.jobRange[0]..<part.jobRange[1] {
                guard job >= 0, job < first.jobs else { throw fail("shard \(part.shard) names prediction \(job) of \(first.jobs)") }
                if covered[job], byJob[job] ?? [] != mine[job] ?? [] { throw fail("prediction \(job) has different scores in two shards") }
                covered[job] = true
                byJob[job] = mine[job] ?? []
            }
        }
        if let missing = covered.firstIndex(of: false) {
            throw fail("prediction \(missing) of \(first.jobs) is in no shard (\(covered.filter { !$0 }.count) missing): merge every shard")
        }
        var modes: [TaskMode] = []
        for mode in first.modes {
            let inputs = mode.inputs.compactMap(Modality.init(rawValue:)), targets = mode.targets.compactMap(Modality.init(rawValue:))
            guard inputs.count == mode.inputs.count, targets.count == mode.targets.count else { throw fail("unknown modality in a mode") }
            modes.append(TaskMode(inputs: inputs, targets: targets, weight: mode.weight))
        }
        let modalities = first.modalities.compactMap(Modality.init(rawValue:))
        guard modalities.count == first.modalities.count else { throw fail("unknown modality in the columns") }
        var sums = [[Double]](repeating: [Double](repeating: 0, count: modalities.count), count: modes.count)
        var counts = [[Int]](repeating: [Int](repeating: 0, count: modalities.count), count: modes.count)
        for job in 0..<first.jobs {
            for score in byJob[job] ?? [] {
                guard score.row >= 0, score.row < modes.count, score.column >= 0, score.column < modalities.count else {
                    throw fail("prediction \(job) names row \(score.row), column \(score.column) outside the table")
                }
                sums[score.row][score.column] += score.value
                counts[score.row][score.column] += 1
            }
        }
        let scores = zip(sums, counts).map { rowSums, rowCounts in
            zip(rowSums, rowCounts).map { sum, count in count > 0 ? sum / Double(count) : nil }
        }
        self.init(modes: modes, modalities: modalities, scores: scores, counts: counts)
    }
}

extension EvaluationSample {
    /// One sample per transition; with `maxSteps` > 0, each gets up to that many earlier contiguous steps of its
    /// episode (same annotation file) as memory, most recent first, with their true states.
    public static func withHistory(_ transitions: [Transition], maxSteps: Int) -> [EvaluationSample] {
        guard maxSteps > 0 else { return transitions.map { EvaluationSample(transition: $0) } }
        var byKey: [String: Int] = [:]
        for (i, t) in transitions.enumerated() {
            if let e = t.provenance.episode, let s = t.provenance.step { byKey["\(t.provenance.dataset)\u{1}\(e)\u{1}\(s)"] = i }
        }
        return transitions.map { t in
            var memory: [MemoryItem] = []
            if let e = t.provenance.episode, let s = t.provenance.step {
                for back in 1...maxSteps {
                    guard let j = byKey["\(t.provenance.dataset)\u{1}\(e)\u{1}\(s - back)"] else { break }
                    let past = transitions[j]
                    memory.append(MemoryItem(state0: past.state0, action: past.action, state1: past.state1, stepsAgo: back))
                }
            }
            return EvaluationSample(transition: t, memory: memory)
        }
    }
}
