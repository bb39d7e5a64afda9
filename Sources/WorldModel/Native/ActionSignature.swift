// The action key of a model with a linear base: what an action does in every training scenario at once. A world whose
// scenarios rewire, swap or reverse actuators makes the pooled ridge's action effect an average that cancels (the
// same sentence pushes up in one scenario and down in another), so actions stop being told apart by it. Stacking the
// per-scenario effects instead keeps them apart: two sentences are close exactly when they do the same thing in every
// scenario seen in training, whatever their wording.
// Shape legend: A action width, D state width, S scenarios, H self-predicting heads.
import Foundation
import Formats
import Tensor

/// Keys actions by their stacked per-scenario effects (docs/worldmodel.md, "Action key").
///
/// With `W_s` (A × H·D) the action block of scenario `s`'s ridge — the pooled ridge's block plus a per-scenario
/// correction fitted on the pooled ridge's residuals — the stacked effect of an action `a` is `[W_1ᵀa, …, W_Sᵀa]`.
/// Actions are taken relative to the mean training action `ā`: sentence embeddings share a large common direction,
/// whose effect is the same for every action (the ridge's bias absorbs it), and which would otherwise put every key
/// at cosine ≈ 0.99 to every other. The inner products of the stacked effects of `a − ā` are `(a−ā)ᵀ·G·(b−ā)` with
/// `G = Σ_s W_s·W_sᵀ` (A × A), so the key is `U·(a − ā)` with `G = Uᵀ·U` (Cholesky): A values instead of S·H·D, with
/// the same cosines. Without scenario labels the one group is all the data (the pooled effect, centred).
public struct ActionSignature: Equatable, Sendable {
    /// Action width A.
    public let actionWidth: Int
    /// Key width R: A for the stacked effects, the class count for action classes.
    public let keyWidth: Int
    /// R × A row-major: `U` (upper triangular, `Uᵀ·U = G`) for the stacked effects, the class map's transpose for
    /// action classes.
    public let factor: [Float]
    /// `ā`, the mean action embedding of the training transitions (A values).
    public let center: [Float]
    /// Scenarios stacked in `G` (1: the data had no scenario labels).
    public let scenarios: Int
    /// Action classes keyed (0: the stacked effects are the key).
    public let classes: Int
    /// The held-out retrieval score of each candidate key when it was chosen ("effects" and "classes-K"; empty for a
    /// signature fitted without the choice or read from an older file).
    public let selection: [String: Double]

    /// A signature from its factor.
    /// - Throws: `WorldModelError.invalidConfig` when the factor is not R × A, the center not A values, or either not finite.
    public init(
        actionWidth: Int, keyWidth: Int? = nil, factor: [Float], center: [Float], scenarios: Int, classes: Int = 0,
        selection: [String: Double] = [:]
    ) throws {
        let keyWidth = keyWidth ?? actionWidth
        guard actionWidth > 0, keyWidth > 0, factor.count == keyWidth * actionWidth, factor.allSatisfy(\.isFinite) else {
            throw WorldModelError.invalidConfig(
                field: "action signature", reason: "needs a finite \(keyWidth)×\(actionWidth) factor, got \(factor.count) values")
        }
        guard center.count == actionWidth, center.allSatisfy(\.isFinite) else {
            throw WorldModelError.invalidConfig(field: "action signature", reason: "needs a finite center of \(actionWidth) values, got \(center.count)")
        }
        self.actionWidth = actionWidth
        self.keyWidth = keyWidth
        self.factor = factor
        self.center = center
        self.scenarios = scenarios
        self.classes = classes
        self.selection = selection
    }

    /// `factor·(action − ā)` (R values); nil for an action of another width or a non-finite one. Pure and thread-safe.
    public func key(_ action: [Float]) -> [Float]? {
        let a = actionWidth, r = keyWidth
        guard action.count == a, action.allSatisfy(\.isFinite) else { return nil }
        var out = [Float](repeating: 0, count: r)
        let centred = zip(action, center).map { $0 - $1 }
        factor.withUnsafeBufferPointer { u in
            centred.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    // One row at a time in a fixed order (not BLAS): the key does not depend on BLAS's thread count. (A
                    // triangular factor's zeros add +0 to a sum that starts at +0: the same bits as skipping them.)
                    for i in 0..<r {
                        var sum: Float = 0
                        for j in 0..<a { sum += u[i * a + j] * x[j] }
                        y[i] = sum
                    }
                }
            }
        }
        return out
    }

    /// Fits the signature of `pooled` (a ridge on state and action, `RidgeFeatureSet()`) over `transitions` grouped by
    /// their `scenario`: per scenario and self-predicting head, a ridge of the pooled model's residual on
    /// [action, 1] corrects the pooled action block; λ per head from `grid`, on every `heldOutEvery`-th episode of
    /// each scenario (the rule of `RidgeModel.train`).
    /// Transitions without a scenario form one group of their own (all of them, when nothing is labelled).
    /// With `chooseClasses`, the key returned is the better of these stacked effects and the action-class keys by their
    /// held-out retrieval score (`choosingClasses`).
    /// - Returns: nil when no transition has an action embedding of the model's width.
    /// - Throws: input errors naming a transition; `WorldModelError.invalidConfig` when `G` cannot be factored.
    public static func fit(
        transitions: [Transition], pooled: RidgeModel, grid: [Double] = RidgeSelection.defaultGrid, heldOutEvery: Int = 5,
        chooseClasses: Bool = true
    ) throws -> ActionSignature? {
        let layout = pooled.layout
        let a = layout.actionWidth, d = layout.stateWidth, f = layout.width
        guard !layout.features.memory, !layout.features.knowledge else {
            throw WorldModelError.invalidConfig(field: "action signature", reason: "needs the ridge on state and action alone, got \(layout.features.name)")
        }
        var byScenario: [String: [Transition]] = [:]
        var center = [Double](repeating: 0, count: a), actions = 0
        for t in transitions {
            guard let e = t.action.embedding, e.dim == a, e.isFinite else { continue }
            // "\u{1}" cannot be a scenario name read from YAML: the group of unlabelled transitions.
            byScenario[t.provenance.scenario ?? "\u{1}", default: []].append(t)
            for i in 0..<a { center[i] += Double(e.values[i]) }
            actions += 1
        }
        guard actions > 0 else { return nil }
        var gram = [Double](repeating: 0, count: a * a)
        var block = [Float](repeating: 0, count: a * d)
        var row = [Float](repeating: 0, count: f)
        let scenarios = byScenario.keys.sorted()
        let heldOut = scenarios.map { RidgeModel.heldOutEpisodes(of: byScenario[$0]!, every: heldOutEvery) }
        let unpenalized: Set<Int> = [a]
        let selfHeads = pooled.heads.keys.filter { !$0.crossModal }.sorted()
        // The transitions the action-class choice reads (all, or an even spread when their residuals would pass 2²⁶
        // floats), numbered in scenario order.
        let offsets = scenarios.reduce(into: [0]) { $0.append($0.last! + byScenario[$1]!.count) }
        let total = offsets.last!, residualWidth = selfHeads.count * d
        let cap = max(ActionClasses.probes, (1 << 26) / max(1, residualWidth))
        var selection = SelectionData(residualWidth: residualWidth)
        var selectedAs = [Int?](repeating: nil, count: total)
        if chooseClasses, residualWidth > 0 {
            let picked = Set(total <= cap ? Array(0..<total) : (0..<cap).map { $0 * total / cap })
            let episodes = Set(scenarios.flatMap { byScenario[$0]!.map(RidgeModel.episodeKey) }).sorted()
            let foldOf = Dictionary(uniqueKeysWithValues: episodes.enumerated().map { ($0.element, $0.offset % ActionClasses.folds) })
            var sentenceOf: [String: Int] = [:]
            selection.members = Array(repeating: [], count: scenarios.count)
            for (s, scenario) in scenarios.enumerated() {
                for t in byScenario[scenario]! where sentenceOf[t.action.text] == nil { sentenceOf[t.action.text] = sentenceOf.count }
                for (i, t) in byScenario[scenario]!.enumerated() {
                    let g = offsets[s] + i
                    guard picked.contains(g) else { continue }
                    selectedAs[g] = selection.sentence.count
                    selection.members[s].append(selection.sentence.count)
                    selection.sentence.append(sentenceOf[t.action.text]!)
                    selection.group.append(s)
                    selection.fold.append(foldOf[RidgeModel.episodeKey(t)]!)
                }
            }
            selection.residuals = [Float](repeating: 0, count: selection.sentence.count * residualWidth)
            let count = selection.sentence.count
            selection.probes = count <= ActionClasses.probes ? Array(0..<count) : (0..<ActionClasses.probes).map { $0 * count / ActionClasses.probes }
            selection.sentences = Array(repeating: [], count: sentenceOf.count)
            for scenario in scenarios {
                for t in byScenario[scenario]! where selection.sentences[sentenceOf[t.action.text]!].isEmpty {
                    selection.sentences[sentenceOf[t.action.text]!] = t.action.embedding!.values
                }
            }
        }
        for (h, key) in selfHeads.enumerated() {
            let head = pooled.heads[key]!
            // Per scenario, residual rows: features [action, 1], target = truth − the pooled prediction; fitting rows
            // into normal equations, rows of held-out episodes kept for choosing λ.
            var fits: [RidgeNormalEquations] = [], checks: [RidgeRows] = []
            for (s, scenario) in scenarios.enumerated() {
                var fit = RidgeNormalEquations(featureCount: a + 1, outputCount: d)
                var pending = RidgeRows(), check = RidgeRows()
                // The scenario's feature rows, sources and truths first; the pooled predictions in one product.
                var rows: [Float] = [], sources: [[Float]] = [], ends: [[Float]] = [], held: [Bool] = [], numbers: [Int] = []
                for (i, t) in byScenario[scenario]!.enumerated() {
                    guard let start = t.state0[key.target], let end = t.state1[key.target] else { continue }
                    numbers.append(offsets[s] + i)
                    let input = PredictionInput(state: State([key.target: start]), action: t.action, targets: [key.target])
                    let source = try row.withUnsafeMutableBufferPointer { try layout.write(input, target: key.target, into: $0) }
                    try VectorMath.check(end, dim: d, field: "sample \(t.provenance.sampleID) state1.\(key.target)")
                    rows += row
                    sources.append(source.values)
                    ends.append(end.values)
                    held.append(heldOut[s].contains(RidgeModel.episodeKey(t)))
                }
                var predicted = [Float](repeating: 0, count: held.count * d)
                if !held.isEmpty { rows.withUnsafeBufferPointer { pr in
                    head.weights.withUnsafeBufferPointer { pw in
                        predicted.withUnsafeMutableBufferPointer { pp in
                            BLAS.sgemm(m: held.count, n: d, k: f, a: pr.baseAddress!, b: pw.baseAddress!, c: pp.baseAddress!)
                        }
                    }
                } }
                var features = [Float](repeating: 0, count: a + 1), target = [Float](repeating: 0, count: d)
                features[a] = 1
                for r in held.indices {
                    for i in 0..<a { features[i] = rows[r * f + layout.action + i] }
                    for j in 0..<d { target[j] = ends[r][j] - sources[r][j] - predicted[r * d + j] }
                    if let row = selectedAs[numbers[r]] {
                        for j in 0..<d { selection.residuals[row * residualWidth + h * d + j] = target[j] }
                    }
                    if held[r] {
                        check.append(features: features, target: target)
                    } else {
                        pending.append(features: features, target: target)
                    }
                }
                fit.add(x: pending.x, y: pending.y, rows: pending.rowCount)
                fits.append(fit)
                checks.append(check)
            }
            // One λ per head for every scenario's correction: the least held-out error summed over the scenarios (the
            // pooled head's λ answers a different question: it was chosen where scenarios disagree).
            var total = [Double](repeating: 0, count: grid.count), scored = false
            for (fit, check) in zip(fits, checks) where fit.rowCount > 0 && check.rowCount > 0 {
                let errors = try RidgeSelection.choose(fit: fit, heldOut: check, grid: grid, unpenalized: unpenalized).errors
                for i in grid.indices { total[i] += errors[i] }
                scored = true
            }
            var lambda = head.lambda
            if scored, let best = total.indices.min(by: { total[$0] < total[$1] }) { lambda = grid[best] }
            for (fit, check) in zip(fits, checks) {
                var all = fit
                all.add(x: check.x, y: check.y, rows: check.rowCount)
                guard all.rowCount > 0 else { continue }
                let correction = try all.solve(lambda: lambda, unpenalized: unpenalized)
                // W_s = the pooled action block + the correction's action rows.
                for i in 0..<a {
                    for j in 0..<d { block[i * d + j] = head.weights[(layout.action + i) * d + j] + correction[i * d + j] }
                }
                var product = [Float](repeating: 0, count: a * a)
                block.withUnsafeBufferPointer { pb in
                    product.withUnsafeMutableBufferPointer { pg in
                        BLAS.sgemm(transposeB: true, m: a, n: a, k: d, a: pb.baseAddress!, b: pb.baseAddress!, c: pg.baseAddress!)
                    }
                }
                for i in 0..<(a * a) { gram[i] += Double(product[i]) }
            }
        }
        // A small ridge on the diagonal keeps G positive definite where the actions' span leaves directions unused (and
        // where the Float products left it a rounding short of semi-definite): 10⁻⁶ of the mean diagonal, more if needed.
        let trace = (0..<a).reduce(0.0) { $0 + gram[$1 * a + $1] }
        guard trace > 0, trace.isFinite else { return nil }
        var factor: [Double]?
        for jitter in [1e-6, 1e-4, 1e-2] where factor == nil {
            var g = gram
            for i in 0..<a { g[i * a + i] += jitter * trace / Double(a) }
            if g.withUnsafeMutableBufferPointer({ BLAS.choleskyFactor(n: a, a: $0.baseAddress!) }) { factor = g }
        }
        guard let factor else {
            throw WorldModelError.invalidConfig(field: "action signature", reason: "the stacked action effects could not be factored (not positive definite even with a ridge of 1% of their mean on the diagonal): check that the training data's action texts differ and embed to finite vectors (--text-encoder)")
        }
        let mean = center.map { Float($0 / Double(actions)) }
        let effects = try ActionSignature(actionWidth: a, factor: factor.map { Float($0) }, center: mean, scenarios: byScenario.count)
        guard chooseClasses, !selection.probes.isEmpty else { return effects }
        return try effects.choosingClasses(selection)
    }

    /// This signature, or the action-class key that retrieves better on held-out training episodes (`ActionClasses`):
    /// every candidate class count is fitted from the distinct training sentences, clustered first by this signature's
    /// keys, and scored beside the stacked effects; the best score wins.
    func choosingClasses(_ data: SelectionData) throws -> ActionSignature {
        let a = actionWidth, n = data.sentences.count
        var centred = [Float](repeating: 0, count: n * a)
        for (r, e) in data.sentences.enumerated() { for i in 0..<a { centred[r * a + i] = e[i] - center[i] } }
        var start = [Float](repeating: 0, count: n * a)
        centred.withUnsafeBufferPointer { px in
            factor.withUnsafeBufferPointer { pf in
                start.withUnsafeMutableBufferPointer { ps in
                    BLAS.sgemm(transposeB: true, m: n, n: a, k: a, a: px.baseAddress!, b: pf.baseAddress!, c: ps.baseAddress!)
                }
            }
        }
        var scores = ["effects": ActionClasses.heldOutScore(factor: factor, keyWidth: a, centred: centred, width: a, sentenceCount: n, data: data)]
        var best: (k: Int, factor: [Float], score: Double)?
        for k in ActionClasses.candidateCounts where k * 4 <= n {
            guard let f = ActionClasses.classFactor(sentences: centred, count: n, width: a, start: start, startWidth: a, k: k) else { continue }
            let score = ActionClasses.heldOutScore(factor: f, keyWidth: k, centred: centred, width: a, sentenceCount: n, data: data)
            scores["classes-\(k)"] = score
            if best == nil || score > best!.score { best = (k, f, score) }
        }
        guard let best, best.score > scores["effects"]! else {
            return try ActionSignature(actionWidth: a, factor: factor, center: center, scenarios: scenarios, selection: scores)
        }
        return try ActionSignature(
            actionWidth: a, keyWidth: best.k, factor: best.factor, center: center, scenarios: scenarios, classes: best.k, selection: scores)
    }

    /// One line on what keys actions and why: the chosen key and the held-out retrieval scores it was chosen by.
    public var summary: String {
        let kind = classes > 0
            ? "\(classes) action classes found without labels"
            : "the actions' effects stacked over \(scenarios) scenario\(scenarios == 1 ? "" : "s")"
        guard !selection.isEmpty else { return kind }
        let scores = selection.sorted { $0.value > $1.value }.prefix(4).map { String(format: "%@ %.3f", $0.key, $0.value) }
        return "\(kind) (held-out retrieval score: \(scores.joined(separator: ", ")))"
    }

    /// The file of a linear base's signature: `linear/action_signature.safetensors` (tensors `factor`, A × A, and
    /// `center`, A).
    public static let fileName = "action_signature.safetensors"

    /// Writes `folder/action_signature.safetensors`.
    public func save(into folder: URL) throws {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try SafeTensors.write(
                [(name: "center", tensor: TensorData(floats: center, shape: [actionWidth])),
                 (name: "factor", tensor: TensorData(floats: factor, shape: [keyWidth, actionWidth]))],
                metadata: [
                    "format": "worldgpt-action-signature-v1", "scenarios": String(scenarios), "classes": String(classes),
                    "selection": selection.keys.sorted().map { "\($0)=\(selection[$0]!)" }.joined(separator: ","),
                ], to: folder.appendingPathComponent(Self.fileName))
        } catch {
            throw WorldModelError.badCheckpoint(path: folder.path, reason: "cannot write the action signature: \(error)")
        }
    }

    /// Reads `folder/action_signature.safetensors`, nil when the file does not exist.
    /// - Throws: `WorldModelError.badCheckpoint` naming the file when it is unreadable or malformed.
    public static func load(from folder: URL) throws -> ActionSignature? {
        let url = folder.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        func bad(_ reason: String) -> WorldModelError { .badCheckpoint(path: url.path, reason: reason) }
        let file: [(name: String, tensor: TensorData)]
        let metadata: [String: String]
        do {
            (file, metadata) = try SafeTensors.readWithMetadata(url)
        } catch {
            throw bad("cannot read: \(error)")
        }
        guard metadata["format"] == "worldgpt-action-signature-v1" else { throw bad("format is '\(metadata["format"] ?? "none")', expected 'worldgpt-action-signature-v1'") }
        guard let t = file.first(where: { $0.name == "factor" })?.tensor, t.shape.count == 2, t.dtype.isFloatingPoint,
              let c = file.first(where: { $0.name == "center" })?.tensor, c.shape == [t.shape[1]], c.dtype.isFloatingPoint
        else {
            throw bad("needs a float matrix named factor (key width × action width) and a float vector named center of the action width")
        }
        var selection: [String: Double] = [:]
        for part in (metadata["selection"] ?? "").split(separator: ",") {
            let pair = part.split(separator: "=")
            if pair.count == 2, let score = Double(pair[1]) { selection[String(pair[0])] = score }
        }
        do {
            return try ActionSignature(
                actionWidth: t.shape[1], keyWidth: t.shape[0], factor: t.floatValues(), center: c.floatValues(),
                scenarios: Int(metadata["scenarios"] ?? "") ?? 0, classes: Int(metadata["classes"] ?? "") ?? 0, selection: selection)
        } catch {
            throw bad("\(error)")
        }
    }
}
