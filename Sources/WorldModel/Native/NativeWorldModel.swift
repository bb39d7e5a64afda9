// The native world model: a small pre-LN transformer over state, action, memory and reflector tokens,
// with one learned query token per target modality and a residual head (DESIGN.md "The world model").
// Shape legend: B batch, T tokens, C width, D state embedding dim, A action dim, R reflector width,
// H memory steps in the batch, Q reflector tokens in the batch.
import Foundation
import Formats
import Tensor

/// The token kinds that get a learned type embedding (row of `type_embedding`).
enum TokenType: Int, CaseIterable {
    case image, video, audio, text, action, memory, reflector

    init(_ modality: Modality) {
        switch modality {
        case .image: self = .image
        case .video: self = .video
        case .audio: self = .audio
        case .text: self = .text
        }
    }
}

/// One pre-LN transformer block: `x + attn(ln1(x))`, then `+ fc2(gelu(fc1(ln2(x))))`.
final class TransformerBlock {
    let norm1: LayerNorm
    let attention: MultiHeadAttention
    let norm2: LayerNorm
    let fc1: Linear
    let gelu = GELU(form: .erf)
    let fc2: Linear

    init(_ store: ParameterStore, _ name: String, width: Int, heads: Int, mlpRatio: Int) {
        norm1 = LayerNorm(store, "\(name).norm1", dim: width)
        attention = MultiHeadAttention(store, names: .plain("\(name).attention"), width: width, heads: heads)
        norm2 = LayerNorm(store, "\(name).norm2", dim: width)
        fc1 = Linear(store, "\(name).mlp.fc1", inFeatures: width, outFeatures: width * mlpRatio)
        fc2 = Linear(store, "\(name).mlp.fc2", inFeatures: width * mlpRatio, outFeatures: width)
    }

    /// x [B, T, C] → [B, T, C].
    func forward(_ x: Tensor) -> Tensor {
        let x1 = x + attention.forward(norm1.forward(x))
        return x1 + fc2.forward(gelu.forward(fc1.forward(norm2.forward(x1))))
    }

    /// dOut [B, T, C] → dx.
    func backward(_ dOut: Tensor) -> Tensor {
        var dx1 = dOut
        dx1.add(norm2.backward(fc1.backward(gelu.backward(fc2.backward(dOut)))))
        var dx = dx1
        dx.add(norm1.backward(attention.backward(dx1).dInput))
        return dx
    }
}

/// Evidence a change path carries straight into the prediction (`NativeModelConfig.memoryChange`/`contextChange`).
public enum ChangePath: String, CaseIterable, Sendable {
    /// The most recent memory step's change in the target modality.
    case memory
    /// The mean change of the kept context items in the target modality.
    case context

    /// The name of its linear map in the parameter store.
    var parameterName: String { "\(rawValue)_change" }
}

/// A batch whose samples share one token layout: the same input and target modalities,
/// memory length and reflector token count. Values are flat row-major buffers.
public struct ModelBatch: Sendable {
    /// Input modalities, in stable order (one token each).
    public var inputs: [Modality]
    /// Target modalities, in stable order (one query token each).
    public var targets: [Modality]
    /// B.
    public var size: Int
    /// Per input modality: B×D state0 embeddings.
    public var states: [Modality: [Float]]
    /// B×A action embeddings.
    public var actions: [Float]
    /// H: memory tokens per sample.
    public var memoryCount: Int
    /// B×H×(2D+A) memory features `[avg(state0), avg(state1), action]`.
    public var memoryFeatures: [Float]
    /// B×H `stepsAgo` values.
    public var memoryAges: [Int]
    /// Per change path and target modality: B×D changes (the most recent memory step's; the mean of the kept
    /// context's) in that modality. Empty for a path the model lacks or a batch without that evidence; zero rows
    /// where a sample's change is unknown.
    public var changes: [ChangePath: [Modality: [Float]]] = [:]
    /// Per target modality: B×D un-normalised predictions of the linear base (`NativeModelConfig.linearBase`); the
    /// residual is added to these instead of to state0. Empty without a linear base.
    public var linearBase: [Modality: [Float]] = [:]
    /// Q: reflector tokens per sample.
    public var reflectorCount: Int
    /// B×Q×R reflector tokens.
    public var reflectorTokens: [Float]
    /// Per target modality: B×D true state1 embeddings (training only).
    public var truth: [Modality: [Float]]

    /// T: tokens per sample.
    var tokenCount: Int { inputs.count + 1 + memoryCount + reflectorCount + targets.count }
}

/// The native any-to-any world model.
///
/// Tokens per sample: one per present input modality (`input.<m>` projection + type embedding), one for the
/// action (`action` projection), one per recalled memory step (`memory` projection of
/// `[avg(state0), avg(state1), action]` + a `memory_age` embedding), one per reflector token (`reflector`
/// projection), and one learned `query` token per target modality. After `depth` pre-LN blocks and a final
/// norm, each query token goes through `head.<m>` (scaled by `residualScale`) to a residual Δ: the prediction is
/// `normalize(state0_m + Δ)` when the modality is an input, else `normalize(Δ)`.
/// Memory and reflector tokens are optional: the same weights run with or without them.
///
/// Not thread-safe: layers cache activations for backward. One model per thread.
public final class NativeWorldModel: WorldModel {
    /// The architecture.
    public let config: NativeModelConfig
    /// Every parameter, in one flat buffer (saved and loaded as a whole).
    public let store: ParameterStore

    let inputProjections: [Modality: Linear]
    let actionProjection: Linear
    let memoryProjection: Linear
    let reflectorProjection: Linear
    let typeEmbedding: Parameter
    let memoryAgeEmbedding: Parameter
    let queryEmbedding: Parameter
    let blocks: [TransformerBlock]
    let finalNorm: LayerNorm
    let heads: [Modality: Linear]
    /// The change paths the config turns on: D×D each, no bias, zero at start.
    let changePaths: [ChangePath: Linear]
    /// The closed-form ridge models the residual is added to (`config.linearBase`); set by the trainer, by
    /// `train-reflector` (knowledge) and by `load`. Fixed: no gradient reaches them.
    public var linearBase: LinearBase?

    /// What `backward` needs from the last `forward`.
    private var cache: (batch: ModelBatch, tokens: Int)?

    /// A freshly initialised model.
    /// - Throws: `WorldModelError.invalidConfig` for a bad configuration.
    public init(config: NativeModelConfig) throws {
        try config.validate()
        self.config = config
        let store = ParameterStore(seed: config.seed)
        self.store = store
        let c = config.width, d = config.embeddingDimension
        var inputs: [Modality: Linear] = [:]
        for m in Modality.allCases { inputs[m] = Linear(store, "input.\(m.rawValue)", inFeatures: d, outFeatures: c) }
        inputProjections = inputs
        actionProjection = Linear(store, "action", inFeatures: config.actionDimension, outFeatures: c)
        memoryProjection = Linear(store, "memory", inFeatures: 2 * d + config.actionDimension, outFeatures: c)
        reflectorProjection = Linear(store, "reflector", inFeatures: config.reflectorWidth, outFeatures: c)
        typeEmbedding = store.add("type_embedding", shape: [TokenType.allCases.count, c], initializer: .normal(std: 0.02))
        memoryAgeEmbedding = store.add("memory_age", shape: [config.maxMemorySteps + 1, c], initializer: .normal(std: 0.02))
        queryEmbedding = store.add("query", shape: [Modality.allCases.count, c], initializer: .normal(std: 0.02))
        blocks = (0..<config.depth).map {
            TransformerBlock(store, "blocks.\($0)", width: c, heads: config.heads, mlpRatio: config.mlpRatio)
        }
        finalNorm = LayerNorm(store, "final_norm", dim: c)
        // Small heads: the model starts close to identity on unimodal tasks (Δ ≈ 0).
        let headStd = 0.1 / Float(c * d).squareRoot()
        var heads: [Modality: Linear] = [:]
        for m in Modality.allCases {
            heads[m] = Linear(store, "head.\(m.rawValue)", inFeatures: c, outFeatures: d, weightInit: .normal(std: headStd), biasInit: .zeros)
        }
        self.heads = heads
        // Registered last, so that every other parameter keeps the initial values it has without the paths.
        var paths: [ChangePath: Linear] = [:]
        for path in ChangePath.allCases where config.has(path) {
            paths[path] = Linear(store, path.parameterName, inFeatures: d, outFeatures: d, bias: false, weightInit: .zeros)
        }
        changePaths = paths
    }

    // MARK: forward / backward

    /// Runs the batch; returns per target modality the un-normalised prediction `base + Δ` [B, D].
    /// Caches activations for `backward`.
    func forward(_ batch: ModelBatch) -> [Modality: Tensor] {
        let b = batch.size, c = config.width, d = config.embeddingDimension, t = batch.tokenCount
        var x = [Float](repeating: 0, count: b * t * c)
        let typeRows = store.value(typeEmbedding).data
        // Writes `rows` (B×k×C, k tokens per sample) plus `extra(sample, token)` rows into x at token `start`.
        func place(_ rows: Tensor, start: Int, perSample k: Int, extra: (Int, Int) -> ArraySlice<Float>) {
            rows.data.withUnsafeBufferPointer { src in
                x.withUnsafeMutableBufferPointer { dst in
                    for s in 0..<b {
                        for j in 0..<k {
                            let e = extra(s, j)
                            let o = (s * t + start + j) * c, i = (s * k + j) * c
                            var ei = e.startIndex
                            for u in 0..<c { dst[o + u] = src[i + u] + e[ei]; ei += 1 }
                        }
                    }
                }
            }
        }
        func typeRow(_ type: TokenType) -> ArraySlice<Float> { typeRows[type.rawValue * c..<(type.rawValue + 1) * c] }
        var position = 0
        for m in batch.inputs {
            let projected = inputProjections[m]!.forward(Tensor(shape: [b, d], data: batch.states[m]!))
            place(projected, start: position, perSample: 1) { _, _ in typeRow(TokenType(m)) }
            position += 1
        }
        let action = actionProjection.forward(Tensor(shape: [b, config.actionDimension], data: batch.actions))
        place(action, start: position, perSample: 1) { _, _ in typeRow(.action) }
        position += 1
        if batch.memoryCount > 0 {
            let h = batch.memoryCount
            let ages = store.value(memoryAgeEmbedding).data
            let memoryType = typeRow(.memory)
            let projected = memoryProjection.forward(Tensor(shape: [b * h, 2 * d + config.actionDimension], data: batch.memoryFeatures))
            var combined = [Float](repeating: 0, count: c)
            place(projected, start: position, perSample: h) { s, j in
                let age = min(max(batch.memoryAges[s * h + j], 0), self.config.maxMemorySteps)
                for u in 0..<c { combined[u] = ages[age * c + u] + memoryType[memoryType.startIndex + u] }
                return combined[...]
            }
            position += h
        }
        if batch.reflectorCount > 0 {
            let q = batch.reflectorCount
            let projected = reflectorProjection.forward(Tensor(shape: [b * q, config.reflectorWidth], data: batch.reflectorTokens))
            place(projected, start: position, perSample: q) { _, _ in typeRow(.reflector) }
            position += q
        }
        let queries = store.value(queryEmbedding).data
        for m in batch.targets {
            let row = Modality.allCases.firstIndex(of: m)!
            x.withUnsafeMutableBufferPointer { dst in
                for s in 0..<b {
                    let o = (s * t + position) * c
                    for u in 0..<c { dst[o + u] = queries[row * c + u] }
                }
            }
            position += 1
        }
        var hidden = Tensor(shape: [b, t, c], data: x)
        for block in blocks { hidden = block.forward(hidden) }
        let normed = finalNorm.forward(hidden)
        var outputs: [Modality: Tensor] = [:]
        let queryStart = t - batch.targets.count
        for (k, m) in batch.targets.enumerated() {
            var rows = [Float](repeating: 0, count: b * c)
            for s in 0..<b {
                let o = (s * t + queryStart + k) * c
                rows.replaceSubrange(s * c..<(s + 1) * c, with: normed.data[o..<o + c])
            }
            var out = heads[m]!.forward(Tensor(shape: [b, c], data: rows)) * config.residualScale
            if let base = batch.linearBase[m] ?? batch.states[m] { out.add(Tensor(shape: [b, d], data: base)) }
            outputs[m] = out
        }
        for path in ChangePath.allCases {
            guard let map = changePaths[path], let changes = batch.changes[path], !changes.isEmpty else { continue }
            // One product per path for every target: rows [target k, sample s] of the stacked changes.
            let carried = map.forward(Self.stacked(batch.targets.map { changes[$0] }, rows: b, width: d))
            for (k, m) in batch.targets.enumerated() {
                outputs[m]!.add(Tensor(shape: [b, d], data: Array(carried.data[(k * b * d)..<((k + 1) * b * d)])))
            }
        }
        cache = (batch, t)
        return outputs
    }

    /// Back-propagates dLoss/dPrediction for every target of the last `forward`; adds parameter gradients
    /// into `store.gradients` and returns dLoss/dReflectorTokens [B×Q×R] (nil when the batch had none).
    @discardableResult
    func backward(_ dPredictions: [Modality: Tensor]) -> [Float]? {
        guard let (batch, t) = cache else { preconditionFailure("NativeWorldModel.backward called before forward") }
        let b = batch.size, c = config.width, d = config.embeddingDimension
        var dNormed = [Float](repeating: 0, count: b * t * c)
        let queryStart = t - batch.targets.count
        for path in ChangePath.allCases {
            guard let map = changePaths[path], let changes = batch.changes[path], !changes.isEmpty else { continue }
            _ = map.backward(Self.stacked(batch.targets.map { dPredictions[$0]?.data }, rows: b, width: d))
        }
        for (k, m) in batch.targets.enumerated() {
            guard let dPred = dPredictions[m] else { continue }
            let dRows = heads[m]!.backward(dPred * config.residualScale)
            for s in 0..<b {
                let o = (s * t + queryStart + k) * c
                dNormed.replaceSubrange(o..<o + c, with: dRows.data[s * c..<(s + 1) * c])
            }
        }
        var dHidden = finalNorm.backward(Tensor(shape: [b, t, c], data: dNormed))
        for block in blocks.reversed() { dHidden = block.backward(dHidden) }
        let dx = dHidden.data
        // Gathers token rows [start, start+k) of every sample into a (B·k)×C tensor.
        func gather(start: Int, perSample k: Int) -> Tensor {
            var rows = [Float](repeating: 0, count: b * k * c)
            for s in 0..<b {
                let o = (s * t + start) * c
                rows.replaceSubrange(s * k * c..<(s + 1) * k * c, with: dx[o..<o + k * c])
            }
            return Tensor(shape: [b * k, c], data: rows)
        }
        // Adds the column sums of `rows` (n×C) into gradient row `row` of `parameter`.
        func accumulate(_ rows: Tensor, into parameter: Parameter, row: (Int) -> Int) {
            let n = rows.rowCount
            store.withBuffers { _, g in
                rows.data.withUnsafeBufferPointer { r in
                    for i in 0..<n {
                        let base = parameter.offset + row(i) * c
                        for u in 0..<c { g[base + u] += r[i * c + u] }
                    }
                }
            }
        }
        var position = 0
        for m in batch.inputs {
            let rows = gather(start: position, perSample: 1)
            _ = inputProjections[m]!.backward(rows)
            accumulate(rows, into: typeEmbedding) { _ in TokenType(m).rawValue }
            position += 1
        }
        let actionRows = gather(start: position, perSample: 1)
        _ = actionProjection.backward(actionRows)
        accumulate(actionRows, into: typeEmbedding) { _ in TokenType.action.rawValue }
        position += 1
        if batch.memoryCount > 0 {
            let h = batch.memoryCount
            let rows = gather(start: position, perSample: h)
            _ = memoryProjection.backward(rows)
            accumulate(rows, into: typeEmbedding) { _ in TokenType.memory.rawValue }
            accumulate(rows, into: memoryAgeEmbedding) { min(max(batch.memoryAges[$0], 0), self.config.maxMemorySteps) }
            position += h
        }
        var dReflector: [Float]?
        if batch.reflectorCount > 0 {
            let q = batch.reflectorCount
            let rows = gather(start: position, perSample: q)
            dReflector = reflectorProjection.backward(rows).data
            accumulate(rows, into: typeEmbedding) { _ in TokenType.reflector.rawValue }
            position += q
        }
        for m in batch.targets {
            let rows = gather(start: position, perSample: 1)
            let row = Modality.allCases.firstIndex(of: m)!
            accumulate(rows, into: queryEmbedding) { _ in row }
            position += 1
        }
        _ = d
        return dReflector
    }

    // MARK: WorldModel

    /// Predicts one input.
    public func predict(_ input: PredictionInput) throws -> State {
        try predictBatch([input])[0]
    }

    /// Predicts many inputs: groups them by token layout and runs each group as one batch.
    public func predictBatch(_ inputs: [PredictionInput]) throws -> [State] {
        var results = [State](repeating: State(), count: inputs.count)
        var groups: [BatchLayout: [Int]] = [:]
        var order: [BatchLayout] = []
        for (i, input) in inputs.enumerated() {
            let layout = try BatchLayout(input, config: config, index: i)
            if groups[layout] == nil { order.append(layout) }
            groups[layout, default: []].append(i)
        }
        for layout in order {
            let members = groups[layout]!
            for start in stride(from: 0, to: members.count, by: 256) {
                let chunk = Array(members[start..<min(members.count, start + 256)])
                let batch = try makeBatch(chunk.map { inputs[$0] }, layout: layout, truth: nil)
                let outputs = forward(batch)
                let d = config.embeddingDimension
                for (s, index) in chunk.enumerated() {
                    var state = State()
                    for m in layout.targets {
                        let row = Array(outputs[m]!.data[s * d..<(s + 1) * d])
                        state[m] = Embedding(VectorMath.normalized(row))
                    }
                    results[index] = state
                }
            }
        }
        cache = nil
        return results
    }

    /// Packs inputs that share `layout` into a batch, checking dimensions and finiteness.
    func makeBatch(_ inputs: [PredictionInput], layout: BatchLayout, truth: [State]?) throws -> ModelBatch {
        let b = inputs.count, d = config.embeddingDimension, a = config.actionDimension
        let h = layout.memoryCount, q = layout.reflectorCount, r = config.reflectorWidth
        var states: [Modality: [Float]] = [:]
        for m in layout.inputs { states[m] = [Float](); states[m]!.reserveCapacity(b * d) }
        var actions = [Float](); actions.reserveCapacity(b * a)
        var memory = [Float](); memory.reserveCapacity(b * h * (2 * d + a))
        var ages = [Int](); ages.reserveCapacity(b * h)
        var reflector = [Float](); reflector.reserveCapacity(b * q * r)
        var targets: [Modality: [Float]] = [:]
        var changes: [ChangePath: [Modality: [Float]]] = [:]
        let contextChanges = changePaths[.context] != nil && inputs.contains { !$0.context.isEmpty }
        for (i, input) in inputs.enumerated() {
            for m in layout.inputs {
                let e = input.state[m]!
                try VectorMath.check(e, dim: d, field: "state.\(m)")
                states[m]!.append(contentsOf: e.values)
            }
            guard let actionEmbedding = input.action.embedding else { throw WorldModelError.missingActionEmbedding(action: input.action.text) }
            try VectorMath.check(actionEmbedding, dim: a, field: "action embedding")
            actions.append(contentsOf: actionEmbedding.values)
            for item in input.memory.prefix(h) {
                let zeros = [Float](repeating: 0, count: d)
                let s0 = item.state0.averaged()?.values ?? zeros, s1 = item.state1.averaged()?.values ?? zeros
                guard s0.count == d, s1.count == d else {
                    throw WorldModelError.dimensionMismatch(field: "memory state", expected: d, actual: s0.count == d ? s1.count : s0.count)
                }
                guard let act = item.action.embedding else { throw WorldModelError.missingActionEmbedding(action: item.action.text) }
                try VectorMath.check(act, dim: a, field: "memory action embedding")
                memory.append(contentsOf: s0)
                memory.append(contentsOf: s1)
                memory.append(contentsOf: act.values)
                ages.append(item.stepsAgo)
            }
            for m in layout.targets {
                if changePaths[.memory] != nil, h > 0 {
                    changes[.memory, default: [:]][m, default: []] += Self.change(from: input.memory.first.map { [($0.state0, $0.state1)] } ?? [], in: m, width: d)
                }
                if contextChanges {
                    changes[.context, default: [:]][m, default: []] += Self.change(from: input.context.map { ($0.transition.state0, $0.transition.state1) }, in: m, width: d)
                }
            }
            if q > 0, let tokens = input.reflectorTokens {
                guard tokens.width == r else { throw WorldModelError.dimensionMismatch(field: "reflector tokens width", expected: r, actual: tokens.width) }
                guard tokens.values.allSatisfy(\.isFinite) else { throw WorldModelError.notFinite(field: "reflector tokens") }
                reflector.append(contentsOf: tokens.values)
            }
            if let truth {
                for m in layout.targets {
                    guard let e = truth[i][m] else { throw WorldModelError.emptyDataset(field: "state1.\(m)", reason: "target missing in sample \(i)") }
                    try VectorMath.check(e, dim: d, field: "state1.\(m)")
                    targets[m, default: []].append(contentsOf: e.values)
                }
            }
        }
        var batch = ModelBatch(
            inputs: layout.inputs, targets: layout.targets, size: b, states: states, actions: actions, memoryCount: h,
            memoryFeatures: memory, memoryAges: ages, reflectorCount: q, reflectorTokens: reflector, truth: targets)
        batch.changes = changes
        if config.linearBase {
            guard let linearBase else {
                throw WorldModelError.invalidConfig(field: "model.linear_base", reason: "the model has no fitted linear base yet (train fits it; a checkpoint keeps it in linear/)")
            }
            let rows = try linearBase.predictions(inputs)
            for m in layout.targets {
                var column = [Float]()
                column.reserveCapacity(b * d)
                for row in rows { column += row[m]! }
                batch.linearBase[m] = column
            }
        }
        return batch
    }

    /// The mean over `pairs` of `after[m] − before[m]` (the mean of `before`'s modalities where it lacks `m`, as the
    /// ridge baseline reads it), over the pairs where both exist with width `width`; zeros when none does.
    static func change(from pairs: [(before: State, after: State)], in m: Modality, width: Int) -> [Float] {
        var sum = [Float](repeating: 0, count: width)
        var count = 0
        for (before, after) in pairs {
            guard let end = after[m], end.dim == width, let start = RidgeFeatureLayout.source(before, target: m), start.dim == width else { continue }
            for i in 0..<width { sum[i] += end.values[i] - start.values[i] }
            count += 1
        }
        if count > 1 {
            let scale = 1 / Float(count)
            for i in 0..<width { sum[i] *= scale }
        }
        return sum
    }

    /// `blocks` (B×D each; nil = zeros) stacked into one (K·B)×D tensor.
    static func stacked(_ blocks: [[Float]?], rows: Int, width: Int) -> Tensor {
        var out = [Float]()
        out.reserveCapacity(blocks.count * rows * width)
        for block in blocks { out += block ?? [Float](repeating: 0, count: rows * width) }
        return Tensor(shape: [blocks.count * rows, width], data: out)
    }
}

/// The token layout of one prediction; inputs with equal layouts batch together.
struct BatchLayout: Hashable {
    var inputs: [Modality]
    var targets: [Modality]
    var memoryCount: Int
    var reflectorCount: Int

    init(inputs: [Modality], targets: [Modality], memoryCount: Int, reflectorCount: Int) {
        self.inputs = inputs
        self.targets = targets
        self.memoryCount = memoryCount
        self.reflectorCount = reflectorCount
    }

    /// The layout of `input`; memory beyond `maxMemorySteps` is dropped (most recent kept).
    init(_ input: PredictionInput, config: NativeModelConfig, index: Int) throws {
        guard !input.state.isEmpty || !input.memory.isEmpty else { throw WorldModelError.emptyState(targets: input.targets) }
        guard !input.targets.isEmpty else { throw WorldModelError.invalidConfig(field: "targets", reason: "input \(index) has no target modality") }
        inputs = input.state.modalities
        targets = Array(Set(input.targets)).sorted()
        memoryCount = min(input.memory.count, config.maxMemorySteps)
        reflectorCount = input.reflectorTokens?.tokenCount ?? 0
    }
}
