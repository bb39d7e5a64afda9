// The linear baseline: per target modality, closed-form ridge regression from what the runtime hands every model
// (`PredictionInput`: state, action, memory, kept context) to the state change. An honest yardstick for the native model.
// Shape legend: D state width, A action width, F feature width (`RidgeFeatureLayout.width`), N rows.
import Foundation
import Formats
import Tensor

/// Which runtime inputs a ridge model reads besides the state and the action.
public struct RidgeFeatureSet: Equatable, Hashable, Sendable, Codable {
    /// The previous step (`PredictionInput.memory`, its most recent item): its change and its action.
    public var memory: Bool
    /// The mean change of the reflector's kept context (`PredictionInput.context`).
    public var knowledge: Bool

    /// A feature set.
    public init(memory: Bool = false, knowledge: Bool = false) {
        self.memory = memory
        self.knowledge = knowledge
    }

    /// `ridge`, `ridge+memory`, `ridge+knowledge` or `ridge+all`.
    public var name: String {
        switch (memory, knowledge) {
        case (false, false): return "ridge"
        case (true, false): return "ridge+memory"
        case (false, true): return "ridge+knowledge"
        case (true, true): return "ridge+all"
        }
    }
}

/// Where each feature block sits in a row. For a target modality `m`, with `source` = the input's `m` embedding when
/// present, else the mean of the input's embeddings (as `IdentityModel`), and `change(s0, s1)` = `s1[m] − source(s0)`:
///
/// | block | width | value |
/// |---|---|---|
/// | `state0` | D | `source` |
/// | `action` | A | the action embedding |
/// | `bias` | 1 | 1 (not penalised) |
/// | `memory.change` | D | `change` of the most recent memory item (memory only) |
/// | `memory.action` | A | that item's action embedding |
/// | `memory.absent` | 1 | 1 when there is no usable memory item (the two blocks above are then 0) |
/// | `context.change` | D | mean `change` of the kept context items that have `m` in state1, each weighted by `exp((score − best score) / T)` with `T = contextTemperature` (knowledge only) |
/// | `context.absent` | 1 | 1 when no kept item has it (the block above is then 0) |
public struct RidgeFeatureLayout: Equatable, Sendable {
    /// State width D.
    public let stateWidth: Int
    /// Action width A.
    public let actionWidth: Int
    /// The optional blocks present.
    public let features: RidgeFeatureSet

    /// The layout for these widths and blocks.
    public init(stateWidth: Int, actionWidth: Int, features: RidgeFeatureSet) {
        self.stateWidth = stateWidth
        self.actionWidth = actionWidth
        self.features = features
    }

    /// The temperature of the context items' weights in `context.change`: items whose retrieval score is 0.1 below the
    /// best count e⁻¹ as much. A dense knowledge base (tens of transitions per action) is averaged over many close
    /// items, a sparse one over its few nearest: chosen on the seed-11 worlds (docs/perf-log.md).
    public static let contextTemperature = 0.1

    /// Offset of the action block.
    public var action: Int { stateWidth }
    /// Offset of the constant column.
    public var bias: Int { stateWidth + actionWidth }
    /// Offset of the memory block (change, action, absent), when present.
    public var memory: Int? { features.memory ? bias + 1 : nil }
    /// Offset of the context block (change, absent), when present.
    public var context: Int? { features.knowledge ? bias + 1 + (features.memory ? stateWidth + actionWidth + 1 : 0) : nil }
    /// Total width F.
    public var width: Int { bias + 1 + (features.memory ? stateWidth + actionWidth + 1 : 0) + (features.knowledge ? stateWidth + 1 : 0) }

    /// The columns of this layout's features within `wider`'s (a layout of the same widths with every block of this
    /// one): the blocks keep their order, so a row of `wider` restricted to these columns is this layout's row.
    public func columns(in wider: RidgeFeatureLayout) -> [Int] {
        precondition(wider.stateWidth == stateWidth && wider.actionWidth == actionWidth, "ridge layouts of different widths")
        var out = Array(0...bias)
        if memory != nil, let m = wider.memory { out += Array(m..<(m + stateWidth + actionWidth + 1)) }
        if context != nil, let c = wider.context { out += Array(c..<(c + stateWidth + 1)) }
        precondition(out.count == width, "\(features.name) is not within \(wider.features.name)")
        return out
    }

    /// The named blocks in order, for the checkpoint's description.
    public var blocks: [(name: String, offset: Int, width: Int)] {
        var out: [(String, Int, Int)] = [("state0", 0, stateWidth), ("action", action, actionWidth), ("bias", bias, 1)]
        if let m = memory {
            out += [("memory.change", m, stateWidth), ("memory.action", m + stateWidth, actionWidth), ("memory.absent", m + stateWidth + actionWidth, 1)]
        }
        if let c = context { out += [("context.change", c, stateWidth), ("context.absent", c + stateWidth, 1)] }
        return out
    }

    /// What a target is predicted from: the input's own embedding of it, or the mean of the input's embeddings.
    public static func source(_ state: State, target: Modality) -> Formats.Embedding? {
        state[target] ?? state.averaged()
    }

    /// `after[target] − source(before, target)`, nil when either is missing or the widths are not `stateWidth`.
    func change(from before: State, to after: State, target: Modality) -> Embedding? {
        guard let end = after[target], end.dim == stateWidth, let start = Self.source(before, target: target), start.dim == stateWidth else { return nil }
        return Embedding(zip(end.values, start.values).map { $0 - $1 })
    }

    /// Writes the feature row of `input` for `target` into `row` (F values, every one written).
    /// - Returns: the source embedding (what the predicted change is added to).
    /// - Throws: `WorldModelError` for a missing action embedding, an empty state or wrong widths.
    @discardableResult
    public func write(_ input: PredictionInput, target: Modality, into row: UnsafeMutableBufferPointer<Float>) throws -> Formats.Embedding {
        precondition(row.count == width, "ridge feature row of \(row.count) values for width \(width)")
        guard let source = Self.source(input.state, target: target) else { throw WorldModelError.emptyState(targets: input.targets) }
        try VectorMath.check(source, dim: stateWidth, field: "input state (\(target) source)")
        guard let action = input.action.embedding else { throw WorldModelError.missingActionEmbedding(action: input.action.text) }
        try VectorMath.check(action, dim: actionWidth, field: "action embedding")
        row.update(repeating: 0)
        func put(_ values: [Float], at offset: Int) {
            for (i, v) in values.enumerated() { row[offset + i] = v }
        }
        put(source.values, at: 0)
        put(action.values, at: self.action)
        row[bias] = 1
        if let m = memory {
            if let previous = input.memory.first, let change = change(from: previous.state0, to: previous.state1, target: target),
                let previousAction = previous.action.embedding, previousAction.dim == actionWidth
            {
                put(change.values, at: m)
                put(previousAction.values, at: m + stateWidth)
            } else {
                row[m + stateWidth + actionWidth] = 1
            }
        }
        if let c = context {
            // Score-weighted: w = exp((score − best score) / T) over the items that have the target.
            var changes: [(change: Embedding, score: Double)] = []
            for item in input.context {
                guard let change = change(from: item.transition.state0, to: item.transition.state1, target: target) else { continue }
                changes.append((change, item.score.isFinite ? item.score : -.infinity))
            }
            if changes.isEmpty {
                row[c + stateWidth] = 1
            } else {
                let best = changes.map(\.score).max()!
                var total: Float = 0
                for (change, score) in changes {
                    let w = best.isFinite ? Float(Foundation.exp((score - best) / Self.contextTemperature)) : 1
                    for (i, v) in change.values.enumerated() { row[c + i] += w * v }
                    total += w
                }
                let scale = 1 / total
                for i in 0..<stateWidth { row[c + i] *= scale }
            }
        }
        return source
    }
}

/// One regression of a ridge model: a target modality, predicted from its own input embedding (`same`) or, when the
/// input lacks it, from the mean of the input's embeddings (`cross`).
public struct RidgeHeadKey: Hashable, Sendable, Comparable, CustomStringConvertible {
    /// The target modality.
    public var target: Modality
    /// True when the target is absent from the input state.
    public var crossModal: Bool

    /// A head key.
    public init(target: Modality, crossModal: Bool) {
        self.target = target
        self.crossModal = crossModal
    }

    /// The key of `target` for `state`.
    public init(target: Modality, state: State) {
        self.init(target: target, crossModal: state[target] == nil)
    }

    /// `video.same`, `audio.cross`, ...: the name of the head's tensor in the checkpoint (prefixed `head.`).
    public var description: String { "\(target.rawValue).\(crossModal ? "cross" : "same")" }

    public static func < (lhs: RidgeHeadKey, rhs: RidgeHeadKey) -> Bool {
        lhs.target != rhs.target ? lhs.target < rhs.target : (!lhs.crossModal && rhs.crossModal)
    }
}

/// A fitted head: F×D weights and how λ was chosen.
public struct RidgeHead: Equatable, Sendable {
    /// F×D weights, row-major: change = features · weights.
    public var weights: [Float]
    /// The λ used for the final fit.
    public var lambda: Double
    /// Rows of the final fit (fitting plus held-out rows).
    public var rows: Int
    /// Held-out rows λ was chosen on.
    public var heldOutRows: Int
    /// Held-out squared error per λ of `RidgeModel.lambdaGrid` (empty when nothing was held out).
    public var heldOutErrors: [Double]

    /// A head.
    public init(weights: [Float], lambda: Double, rows: Int, heldOutRows: Int, heldOutErrors: [Double]) {
        self.weights = weights
        self.lambda = lambda
        self.rows = rows
        self.heldOutRows = heldOutRows
        self.heldOutErrors = heldOutErrors
    }
}

/// Closed-form ridge regression per target modality: `state1_m = normalize(source + features · W)`, with the feature
/// row of `RidgeFeatureLayout` assembled from the same `PredictionInput` the native model receives (memory and kept
/// context included), so both read exactly the same information.
///
/// Train with `RidgeModel.train`; save and load with `save(to:)` / `load(from:)` (docs/worldmodel.md).
public final class RidgeModel: WorldModel, Sendable {
    /// The feature layout (widths and optional blocks).
    public let layout: RidgeFeatureLayout
    /// The fitted heads.
    public let heads: [RidgeHeadKey: RidgeHead]
    /// The λ grid the heads were selected from.
    public let lambdaGrid: [Double]
    /// The text encoder that embedded the training actions (e.g. `all-MiniLM-L6-v2`), when known.
    public let actionEncoder: String?

    /// A model from fitted heads.
    /// - Precondition: every head has `layout.width × layout.stateWidth` weights.
    public init(layout: RidgeFeatureLayout, heads: [RidgeHeadKey: RidgeHead], lambdaGrid: [Double], actionEncoder: String?) {
        for (key, head) in heads {
            precondition(head.weights.count == layout.width * layout.stateWidth, "ridge head \(key): \(head.weights.count) weights")
        }
        self.layout = layout
        self.heads = heads
        self.lambdaGrid = lambdaGrid
        self.actionEncoder = actionEncoder
    }

    /// `ridge`, `ridge+memory`, `ridge+knowledge` or `ridge+all`.
    public var name: String { layout.features.name }

    /// Predicts one input.
    public func predict(_ input: PredictionInput) throws -> State {
        try predictBatch([input])[0]
    }

    /// Predicts a batch: the rows of each head go through one GEMM.
    /// - Throws: `WorldModelError` for unusable inputs, or `invalidConfig` naming `targets` for a target this model has
    ///   no head for (its training data had no such mode).
    public func predictBatch(_ inputs: [PredictionInput]) throws -> [State] {
        try unnormalizedPredictions(inputs).map { rows in
            var state = State()
            for (m, row) in rows { state[m] = Embedding(VectorMath.normalized(row)) }
            return state
        }
    }

    /// Per input and target: `source + features · W` before normalisation (D values). The native model's linear base
    /// (`LinearBase`) adds its residual to these.
    /// - Throws: as `predictBatch`.
    public func unnormalizedPredictions(_ inputs: [PredictionInput]) throws -> [[Modality: [Float]]] {
        let f = layout.width, d = layout.stateWidth
        var groups: [RidgeHeadKey: [(input: Int, target: Modality)]] = [:]
        for (i, input) in inputs.enumerated() {
            for target in input.targets { groups[RidgeHeadKey(target: target, state: input.state), default: []].append((i, target)) }
        }
        var results = [[Modality: [Float]]](repeating: [:], count: inputs.count)
        for key in groups.keys.sorted() {
            let members = groups[key]!
            guard let head = heads[key] else {
                throw WorldModelError.invalidConfig(
                    field: "targets", reason: "this ridge model has no head for \(key.target) predicted \(key.crossModal ? "from other modalities" : "from itself") (its training data had no such mode)")
            }
            var x = [Float](repeating: 0, count: members.count * f)
            var sources: [Embedding] = []
            sources.reserveCapacity(members.count)
            try x.withUnsafeMutableBufferPointer { px in
                for (r, member) in members.enumerated() {
                    let row = UnsafeMutableBufferPointer(rebasing: px[(r * f)..<((r + 1) * f)])
                    sources.append(try layout.write(inputs[member.input], target: member.target, into: row))
                }
            }
            var change = [Float](repeating: 0, count: members.count * d)
            x.withUnsafeBufferPointer { px in
                head.weights.withUnsafeBufferPointer { pw in
                    change.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(m: members.count, n: d, k: f, a: px.baseAddress!, b: pw.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            for (r, member) in members.enumerated() {
                var next = Array(change[(r * d)..<((r + 1) * d)])
                for j in 0..<d { next[j] += sources[r].values[j] }
                results[member.input][member.target] = next
            }
        }
        return results
    }

    /// What the model says `action` does on its own: per head that predicts a modality from itself (sorted by
    /// modality), `action · W[action block]` (D values each), concatenated. Nil for an action of another width.
    /// Pure and safe to call from several threads.
    public func actionEffect(_ action: [Float]) -> [Float]? {
        let a = layout.actionWidth, d = layout.stateWidth
        guard action.count == a else { return nil }
        let keys = heads.keys.filter { !$0.crossModal }.sorted()
        var out = [Float](repeating: 0, count: keys.count * d)
        for (k, key) in keys.enumerated() {
            let w = heads[key]!.weights
            for i in 0..<a where action[i] != 0 {
                let row = (layout.action + i) * d, x = action[i]
                for j in 0..<d { out[k * d + j] += x * w[row + j] }
            }
        }
        return out
    }
}
