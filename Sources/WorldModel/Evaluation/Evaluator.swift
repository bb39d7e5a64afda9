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
        try Data(csv().utf8).write(to: url, options: .atomic)
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
        let modalities = Modality.allCases.filter { m in modes.contains { $0.targets.contains(m) } }
        var sums = [[Double]](repeating: [Double](repeating: 0, count: modalities.count), count: modes.count)
        var counts = [[Int]](repeating: [Int](repeating: 0, count: modalities.count), count: modes.count)
        let jobs = modes.enumerated().flatMap { row, mode in
            samples.indices.filter { mode.applies(to: samples[$0].transition) }.map { (row: row, sample: $0) }
        }
        guard !jobs.isEmpty else {
            throw WorldModelError.emptyDataset(field: "modality_modes", reason: "no sample has the inputs and targets of any mode (\(samples.count) samples)")
        }
        var done = 0
        for start in stride(from: 0, to: jobs.count, by: batchSize) {
            let batch = jobs[start..<min(jobs.count, start + batchSize)]
            let inputs = batch.map { job -> PredictionInput in
                let sample = samples[job.sample], mode = modes[job.row]
                return PredictionInput(
                    state: mode.mask(sample.transition.state0), action: sample.transition.action, targets: mode.targets,
                    context: sample.context, reflectorTokens: sample.reflectorTokens, memory: sample.memory,
                    scenario: sample.transition.provenance.scenario)
            }
            let outputs = try model.predictBatch(inputs)
            for (job, output) in zip(batch, outputs) {
                let truth = samples[job.sample].transition.state1
                for target in modes[job.row].targets {
                    guard let predicted = output[target], let expected = truth[target] else { continue }
                    guard predicted.dim == expected.dim else {
                        throw WorldModelError.dimensionMismatch(field: "prediction.\(target)", expected: expected.dim, actual: predicted.dim)
                    }
                    let column = modalities.firstIndex(of: target)!
                    sums[job.row][column] += predicted.cosine(expected) * 100
                    counts[job.row][column] += 1
                }
            }
            done += batch.count
            progress?(done, jobs.count)
        }
        let scores = zip(sums, counts).map { rowSums, rowCounts in
            zip(rowSums, rowCounts).map { sum, count in count > 0 ? sum / Double(count) : nil }
        }
        return EvaluationReport(modes: modes, modalities: modalities, scores: scores, counts: counts)
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
