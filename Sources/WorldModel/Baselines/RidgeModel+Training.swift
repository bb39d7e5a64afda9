// Fitting a RidgeModel: one feature row per (sample, mode, target), assembled exactly as at prediction time; every
// `heldOutEvery`-th training episode (sorted by name) is held out to choose λ, then each head is refitted on all rows.
import Formats

extension RidgeModel {
    /// The episode a sample belongs to, for the held-out split: dataset and episode, else its own sample id.
    static func episodeKey(_ t: Transition) -> String {
        "\(t.provenance.dataset)\u{1}\(t.provenance.episode ?? t.provenance.sampleID)"
    }

    /// The training episodes held out to choose λ: every `every`-th of the sorted episode keys (the 1st held out is
    /// the `every`-th), or, with fewer than `every` episodes, the last one; none with a single episode.
    static func heldOutEpisodes(_ samples: [EvaluationSample], every: Int) -> Set<String> {
        heldOutEpisodes(of: samples.map(\.transition), every: every)
    }

    /// The same rule over transitions' episodes.
    static func heldOutEpisodes(of transitions: [Transition], every: Int) -> Set<String> {
        let keys = Set(transitions.map(episodeKey)).sorted()
        guard keys.count >= 2 else { return [] }
        guard keys.count >= every else { return [keys[keys.count - 1]] }
        return Set(keys.enumerated().filter { ($0.offset + 1) % every == 0 }.map(\.element))
    }

    /// Fits a ridge model on `samples` under `modes`: for each sample and each mode that applies to it, the input is
    /// the mode's masked state0 with the sample's action, memory and context (as `Evaluator` builds it), and each
    /// target's row regresses `state1_m − source` on the `RidgeFeatureLayout` features.
    ///
    /// - Parameters:
    ///   - features: which of memory and kept context the model reads (the samples must carry them to learn from them).
    ///   - grid: the λ values tried on the held-out episodes.
    ///   - heldOutEvery: one training episode in this many is held out for choosing λ.
    ///   - actionEncoder: the name of the text encoder that embedded the actions (recorded in the checkpoint).
    /// - Throws: `WorldModelError.emptyDataset` when no sample fits any mode; input errors naming the sample.
    public static func train(
        samples: [EvaluationSample], modes: [TaskMode], features: RidgeFeatureSet, grid: [Double] = RidgeSelection.defaultGrid,
        heldOutEvery: Int = 5, actionEncoder: String? = nil
    ) throws -> RidgeModel {
        try train(samples: samples, modes: modes, featureSets: [features], grid: grid, heldOutEvery: heldOutEvery, actionEncoder: actionEncoder)[0]
    }

    /// Fits one model per feature set from a single pass over the rows: the normal equations are accumulated once for
    /// the union of the sets' blocks, and each set's model is solved from the sub-matrices of its own columns (the
    /// same equations a separate fit would accumulate). λ is chosen per set and head.
    /// - Returns: the models, in the order of `featureSets`.
    public static func train(
        samples: [EvaluationSample], modes: [TaskMode], featureSets: [RidgeFeatureSet], grid: [Double] = RidgeSelection.defaultGrid,
        heldOutEvery: Int = 5, actionEncoder: String? = nil
    ) throws -> [RidgeModel] {
        precondition(!featureSets.isEmpty, "no feature set to fit")
        let features = RidgeFeatureSet(memory: featureSets.contains { $0.memory }, knowledge: featureSets.contains { $0.knowledge })
        guard heldOutEvery >= 2 else { throw WorldModelError.invalidConfig(field: "heldOutEvery", reason: "must be at least 2, got \(heldOutEvery)") }
        guard !grid.isEmpty, grid.allSatisfy({ $0 > 0 && $0.isFinite }) else {
            throw WorldModelError.invalidConfig(field: "lambda grid", reason: "needs positive finite values, got \(grid)")
        }
        guard let first = samples.first(where: { s in modes.contains { $0.applies(to: s.transition) } }) else {
            throw WorldModelError.emptyDataset(field: "modality_modes", reason: "no training sample has the inputs and targets of any mode (\(samples.count) samples)")
        }
        guard let stateWidth = first.transition.state1.embeddings.values.first?.dim else {
            throw WorldModelError.emptyDataset(field: "state1", reason: "sample \(first.transition.provenance.sampleID) has no state1 embedding")
        }
        guard let actionWidth = first.transition.action.embedding?.dim else { throw WorldModelError.missingActionEmbedding(action: first.transition.action.text) }
        let layout = RidgeFeatureLayout(stateWidth: stateWidth, actionWidth: actionWidth, features: features)
        let f = layout.width, d = stateWidth
        let heldOut = heldOutEpisodes(samples, every: heldOutEvery)

        // Rows per head, fitting and held-out apart; fitting rows go into the normal equations a block at a time.
        struct Rows {
            var fit: RidgeNormalEquations
            var pending = RidgeRows()
            var heldOut = RidgeRows()

            mutating func flush() {
                fit.add(x: pending.x, y: pending.y, rows: pending.rowCount)
                pending = RidgeRows()
            }
        }
        var rows: [RidgeHeadKey: Rows] = [:]
        let blockRows = 1024
        var row = [Float](repeating: 0, count: f)
        for sample in samples {
            let t = sample.transition
            let isHeldOut = heldOut.contains(episodeKey(t))
            // A target predicted from itself has the same row under every mode (its features read only its own
            // modality): one row per sample and target, however many modes repeat it.
            var sameDone = Set<Modality>()
            for mode in modes where mode.applies(to: t) {
                let input = PredictionInput(
                    state: mode.mask(t.state0), action: t.action, targets: mode.targets, context: sample.context,
                    reflectorTokens: sample.reflectorTokens, memory: sample.memory, scenario: t.provenance.scenario)
                for target in mode.targets {
                    guard let truth = t.state1[target] else { continue }
                    try VectorMath.check(truth, dim: d, field: "sample \(t.provenance.sampleID) state1.\(target)")
                    let key = RidgeHeadKey(target: target, state: input.state)
                    if !key.crossModal { guard sameDone.insert(target).inserted else { continue } }
                    let source = try row.withUnsafeMutableBufferPointer { try layout.write(input, target: target, into: $0) }
                    let change = zip(truth.values, source.values).map { $0 - $1 }
                    if rows[key] == nil { rows[key] = Rows(fit: RidgeNormalEquations(featureCount: f, outputCount: d)) }
                    // Mutated in place through the dictionary (a copy of the entry would copy its buffers).
                    if isHeldOut {
                        rows[key]!.heldOut.append(features: row, target: change)
                    } else {
                        rows[key]!.pending.append(features: row, target: change)
                        if rows[key]!.pending.rowCount == blockRows { rows[key]!.flush() }
                    }
                }
            }
        }
        var heads = [[RidgeHeadKey: RidgeHead]](repeating: [:], count: featureSets.count)
        let unpenalized: Set<Int> = [layout.bias]
        let layouts = featureSets.map { RidgeFeatureLayout(stateWidth: stateWidth, actionWidth: actionWidth, features: $0) }
        for key in rows.keys.sorted() {
            // Taken out of the dictionary, so the head's buffers are not copied when it is finished.
            var entry = rows.removeValue(forKey: key)!
            entry.flush()
            var heldOutEquations = RidgeNormalEquations(featureCount: f, outputCount: d)
            heldOutEquations.add(x: entry.heldOut.x, y: entry.heldOut.y, rows: entry.heldOut.rowCount)
            for (k, sub) in layouts.enumerated() {
                let columns = sub.columns(in: layout)
                let whole = columns.count == f
                let fit = whole ? entry.fit : entry.fit.restricted(to: columns)
                let heldOut = whole ? entry.heldOut : entry.heldOut.restricted(to: columns, featureCount: f)
                let (lambda, errors) = try RidgeSelection.choose(fit: fit, heldOut: heldOut, grid: grid, unpenalized: unpenalized)
                var all = fit
                all.add(whole ? heldOutEquations : heldOutEquations.restricted(to: columns))
                heads[k][key] = RidgeHead(
                    weights: try all.solve(lambda: lambda, unpenalized: unpenalized), lambda: lambda, rows: all.rowCount,
                    heldOutRows: heldOut.rowCount, heldOutErrors: errors)
            }
        }
        return zip(layouts, heads).map { RidgeModel(layout: $0, heads: $1, lambdaGrid: grid, actionEncoder: actionEncoder) }
    }
}
