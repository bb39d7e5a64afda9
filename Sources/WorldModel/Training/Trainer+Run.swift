// The training loop around `trainStep`: checkpoints every N steps, a metrics CSV, progress reports, resume.
import Foundation
import Formats

/// A progress report after each step: the step's metrics plus throughput and remaining time.
public struct TrainingProgress: Sendable {
    /// The metrics of the step just done.
    public var metrics: StepMetrics
    /// Steps done (including resumed ones) and total steps.
    public var done: Int, total: Int
    /// Training samples per second in this run so far.
    public var samplesPerSecond: Double
    /// Estimated seconds to the end.
    public var secondsRemaining: Double

    /// One line for a terminal: `step 120/1000 [single-cross] loss 0.1234 cos 0.876 lr 9.8e-04 412 samples/s ETA 2m05s`.
    public var line: String {
        let eta = Int(secondsRemaining.rounded())
        return String(
            format: "step %d/%d [%@] loss %.4f cos %.3f lr %.1e %.0f samples/s ETA %dm%02ds", done, total,
            metrics.mode.kind.rawValue, metrics.loss, metrics.cosine, metrics.learningRate, samplesPerSecond, eta / 60, eta % 60)
    }
}

/// The outcome of `Trainer.run`.
public struct TrainingSummary: Sendable {
    /// Steps done in total.
    public var steps: Int
    /// Steps done in this run (after a resume, fewer than `steps`).
    public var stepsThisRun: Int
    /// Wall-clock seconds of this run.
    public var seconds: Double
    /// Samples per second in this run.
    public var samplesPerSecond: Double
    /// The folder of the final checkpoint, if an output folder was given.
    public var finalCheckpoint: URL?
    /// The step whose weights `final/` holds when it was chosen on held-out episodes (0: the start).
    public var selectedStep: Int?
}

extension Trainer {
    /// The metrics CSV header.
    static let metricsHeader = "step,stage,mode,memory_steps,context,loss,cosine,learning_rate,gradient_norm,samples_per_second,elapsed_seconds"

    /// The checkpoint folder name of `step` steps: `checkpoint-0000500`.
    public static func checkpointName(step: Int) -> String { String(format: "checkpoint-%07d", step) }

    /// The training checkpoint with the most steps in `output`, if any.
    public static func latestCheckpoint(in output: URL) -> URL? {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: output.path)) ?? []
        return names.filter { $0.hasPrefix("checkpoint-") }.sorted().reversed()
            .map { output.appendingPathComponent($0) }
            .first { FileManager.default.fileExists(atPath: $0.appendingPathComponent(CheckpointLayout.training).path) }
    }

    /// Trains until `stopAfter` steps (default: the config's total), saving checkpoints and metrics into `output`.
    ///
    /// With `output`: `checkpoint-NNNNNNN/` every `checkpointEvery` steps, `final/` at the end (the model to
    /// evaluate), and `metrics.csv` with one row per step. When the trainer was resumed, metrics rows from the
    /// resumed step on are replaced.
    /// - Parameter progress: called after every step.
    public func run(output: URL?, stopAfter: Int? = nil, progress: ((TrainingProgress) -> Void)? = nil) throws -> TrainingSummary {
        let total = config.totalSteps
        let end = min(stopAfter ?? total, total)
        var metricsHandle: FileHandle?
        if let output {
            try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
            metricsHandle = try openMetrics(output.appendingPathComponent("metrics.csv"))
        }
        defer { try? metricsHandle?.close() }
        let start = Date()
        let firstStep = step
        var selection = output != nil && !heldOut.isEmpty ? CheckpointSelection() : nil
        if selection != nil, step == 0, config.model.linearBase {
            // The start: the linear base alone (residual exactly zero).
            let initial = model.store.values
            zeroResidualHeads()
            // Only its score is kept: should the base alone win, final/ is the last step's weights with the residual
            // heads at zero (the same predictions, and a trained action projection for retrieval keys).
            try selection!.consider(step: 0, score: try heldOutScore(), values: [])
            model.store.values = initial
        }
        while step < end {
            let metrics = try trainStep()
            let elapsed = Date().timeIntervalSince(start)
            let doneThisRun = step - firstStep
            let rate = Double(doneThisRun * config.batchSize) / max(elapsed, 1e-9)
            let report = TrainingProgress(
                metrics: metrics, done: step, total: total, samplesPerSecond: rate,
                secondsRemaining: elapsed / Double(doneThisRun) * Double(end - step))
            if let metricsHandle {
                let row = [
                    "\(metrics.step)", "\(metrics.stage)", "\"\(metrics.mode.name)\"", "\(metrics.memorySteps)", metrics.context ? "1" : "0", "\(metrics.loss)",
                    "\(metrics.cosine)", "\(metrics.learningRate)", "\(metrics.gradientNorm)", String(format: "%.1f", rate),
                    String(format: "%.3f", elapsed),
                ].joined(separator: ",")
                metricsHandle.write(Data((row + "\n").utf8))
            }
            progress?(report)
            if let output, config.checkpointEvery > 0, step % config.checkpointEvery == 0, step < total {
                try saveCheckpoint(to: output.appendingPathComponent(Self.checkpointName(step: step)))
                if selection != nil { try selection!.consider(step: step, score: try heldOutScore(), values: model.store.values) }
            }
        }
        var final: URL?
        if let output, step == total {
            final = output.appendingPathComponent("final")
            if selection != nil {
                try selection!.consider(step: step, score: try heldOutScore(), values: model.store.values)
                let last = model.store.values
                if selection!.best!.step == 0 {
                    zeroResidualHeads()  // the linear base alone
                } else {
                    model.store.values = selection!.best!.values
                }
                try saveCheckpoint(to: final!)
                model.store.values = last
                try selection!.write(to: output.appendingPathComponent(CheckpointSelection.fileName), heldOut: heldOut.count, every: config.heldOutEvery)
            } else {
                try saveCheckpoint(to: final!)
            }
        }
        let seconds = Date().timeIntervalSince(start)
        return TrainingSummary(
            steps: step, stepsThisRun: step - firstStep, seconds: seconds,
            samplesPerSecond: Double((step - firstStep) * config.batchSize) / max(seconds, 1e-9), finalCheckpoint: final,
            selectedStep: final != nil ? selection?.best?.step : nil)
    }

    /// Opens `metrics.csv` for appending, keeping only rows of steps before the current one.
    private func openMetrics(_ url: URL) throws -> FileHandle {
        var kept = [Self.metricsHeader]
        if step > 0, let text = try? String(contentsOf: url, encoding: .utf8) {
            for line in text.split(separator: "\n").dropFirst() {
                if let s = Int(line.prefix { $0 != "," }), s < step { kept.append(String(line)) }
            }
        }
        do {
            try AtomicFile.write(Data((kept.joined(separator: "\n") + "\n").utf8), to: url)
            let handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
            return handle
        } catch {
            throw WorldModelError.badCheckpoint(path: url.path, reason: "cannot write metrics: \(error)")
        }
    }
}

/// The candidates `final/` is chosen from (`TrainingConfig.heldOutEvery`): each one's held-out score, and the best's weights.
struct CheckpointSelection {
    /// `selection.json` in the output folder.
    static let fileName = "selection.json"

    /// Step and held-out cosine ×100 of every candidate, in order.
    private(set) var scores: [(step: Int, score: Double)] = []
    /// The best candidate so far (the earliest on ties).
    private(set) var best: (step: Int, score: Double, values: [Float])?

    /// How much a trained checkpoint must beat the linear base alone (step 0) by, in held-out cosine points: about two
    /// standard errors of a paired difference over the 500 scored transitions. Below it, the residual's gain is not
    /// told apart from the held-out sample's noise, and the simpler model — exactly the ridge — is kept.
    static let marginOverBase = 0.05

    mutating func consider(step: Int, score: Double, values: [Float]) throws {
        guard score.isFinite else { throw WorldModelError.notFinite(field: "held-out score at step \(step)") }
        scores.append((step, score))
        let bar = best.map { $0.step == 0 && step > 0 ? $0.score + Self.marginOverBase : $0.score }
        if bar == nil || score > bar! { best = (step, score, values) }
    }

    func write(to url: URL, heldOut: Int, every: Int) throws {
        struct File: Encodable {
            var selectedStep: Int
            var heldOutTransitions: Int
            var heldOutEvery: Int
            var candidates: [[String: Double]]
            enum CodingKeys: String, CodingKey {
                case selectedStep = "selected_step", heldOutTransitions = "held_out_transitions", heldOutEvery = "held_out_every", candidates
            }
        }
        let file = File(
            selectedStep: best?.step ?? 0, heldOutTransitions: heldOut, heldOutEvery: every,
            candidates: scores.map { ["step": Double($0.step), "cosine": $0.score] })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do { try AtomicFile.write(encoder.encode(file), to: url) } catch {
            throw WorldModelError.badCheckpoint(path: url.path, reason: "cannot write the checkpoint selection: \(error)")
        }
    }
}

extension Trainer {
    /// The most held-out transitions a candidate is scored on (the first ones, in data order).
    public static let heldOutScoreLimit = 500

    /// Mean cosine ×100 on the held-out episodes (at most `heldOutScoreLimit` transitions) over every training mode,
    /// the mean of two passes: without memory, and with up to 3 earlier steps of the episode as memory (where it has them).
    public func heldOutScore() throws -> Double {
        let heldOut = Array(self.heldOut.prefix(Self.heldOutScoreLimit))
        let evaluator = Evaluator(modes: data.modes)
        func mean(_ report: EvaluationReport) -> Double {
            let values = report.scores.flatMap { $0.compactMap { $0 } }
            return values.isEmpty ? 0 : values.reduce(0, +) / Double(values.count)
        }
        let bare = try evaluator.evaluate(model, samples: heldOut.map { EvaluationSample(transition: $0) })
        let remembered = try evaluator.evaluate(model, samples: EvaluationSample.withHistory(heldOut, maxSteps: 3))
        return (mean(bare) + mean(remembered)) / 2
    }

    /// Sets every `head.*` parameter to zero: with a linear base the model then predicts the base alone.
    func zeroResidualHeads() {
        for p in model.store.parameters where p.name.hasPrefix("head.") {
            model.store.values.replaceSubrange(p.range, with: [Float](repeating: 0, count: p.range.count))
        }
    }
}
