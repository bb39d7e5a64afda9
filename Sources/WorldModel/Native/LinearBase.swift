// The native model's linear base: closed-form ridge regressions (`RidgeModel`) that give the transformer its starting
// point. With `model.linear_base` on, each prediction is `ridge(input) + Δ`, where the ridge is the one fitted for the
// evidence the input carries (memory, kept context, both or neither) and Δ is the transformer's residual. The model
// then extracts from memory and knowledge at least what a linear model does, and learns only what is left.
// Shape legend: B batch, D state width.
import Foundation
import Formats

/// The ridge models under a native model, one per feature set (docs/worldmodel.md, "Linear base").
public struct LinearBase: Sendable {
    /// The fitted models by the evidence they read. `train` fits `ridge` and `ridge+memory`; `train-reflector`, which
    /// has a knowledge base, adds `ridge+knowledge` and `ridge+all`.
    public private(set) var models: [RidgeFeatureSet: RidgeModel]
    /// The action key: the `ridge` model's action effects stacked over the training scenarios (`ActionSignature`;
    /// nil only in a checkpoint written before it existed, whose key is then the pooled effect, `RidgeModel.actionEffect`).
    public var actionSignature: ActionSignature?

    /// A base of `models` (keyed by their own feature sets).
    public init(_ models: [RidgeModel] = []) {
        self.models = Dictionary(models.map { ($0.layout.features, $0) }, uniquingKeysWith: { _, new in new })
    }

    /// Adds or replaces the model of `model`'s feature set.
    public mutating func insert(_ model: RidgeModel) { models[model.layout.features] = model }

    /// The feature sets present, in ablation order.
    public var featureSets: [RidgeFeatureSet] {
        models.keys.sorted { ($0.memory ? 1 : 0) + ($0.knowledge ? 2 : 0) < ($1.memory ? 1 : 0) + ($1.knowledge ? 2 : 0) }
    }

    /// The model an input is predicted from: the one reading exactly the evidence the input carries (a memory item,
    /// kept context), else the richest one reading a part of it (knowledge is dropped before memory).
    public func model(for input: PredictionInput) -> RidgeModel? {
        let memory = !input.memory.isEmpty, knowledge = !input.context.isEmpty
        let preferences = [
            RidgeFeatureSet(memory: memory, knowledge: knowledge), RidgeFeatureSet(memory: memory, knowledge: false),
            RidgeFeatureSet(memory: false, knowledge: knowledge), RidgeFeatureSet(),
        ]
        return preferences.lazy.compactMap { models[$0] }.first
    }

    /// Per input and target: the chosen ridge's un-normalised prediction (D values).
    /// - Throws: `WorldModelError.invalidConfig` when the base has no model at all or no head for a target; input errors.
    public func predictions(_ inputs: [PredictionInput]) throws -> [[Modality: [Float]]] {
        var groups: [RidgeFeatureSet: [Int]] = [:]
        for (i, input) in inputs.enumerated() {
            guard let model = model(for: input) else {
                throw WorldModelError.invalidConfig(field: "model.linear_base", reason: "the checkpoint's linear base has no ridge model (linear/ is empty)")
            }
            groups[model.layout.features, default: []].append(i)
        }
        var out = [[Modality: [Float]]](repeating: [:], count: inputs.count)
        for (features, members) in groups {
            let rows = try models[features]!.unnormalizedPredictions(members.map { inputs[$0] })
            for (k, i) in members.enumerated() { out[i] = rows[k] }
        }
        return out
    }

    /// The folder of a checkpoint's linear base: `linear/` with one ridge checkpoint per feature set (`linear/ridge`,
    /// `linear/ridge+memory`, ...).
    public static let folderName = "linear"

    /// Writes every model into `checkpoint/linear/<name>/`, replacing what was there.
    public func save(into checkpoint: URL) throws {
        let folder = checkpoint.appendingPathComponent(Self.folderName)
        try? FileManager.default.removeItem(at: folder)
        for features in featureSets { try models[features]!.save(to: folder.appendingPathComponent(features.name)) }
        try actionSignature?.save(into: folder)
    }

    /// Reads `checkpoint/linear/*/` and the action signature beside them.
    /// - Throws: `WorldModelError.badCheckpoint` when the folder is missing or holds no ridge checkpoint.
    public static func load(from checkpoint: URL) throws -> LinearBase {
        let folder = checkpoint.appendingPathComponent(folderName)
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted()
        var base = LinearBase()
        for name in names where RidgeModel.isCheckpoint(folder.appendingPathComponent(name)) {
            base.insert(try RidgeModel.load(from: folder.appendingPathComponent(name)))
        }
        guard !base.models.isEmpty else {
            throw WorldModelError.badCheckpoint(
                path: folder.path, reason: "model.linear_base is on but the checkpoint has no linear base (expected ridge checkpoints such as linear/ridge/)")
        }
        base.actionSignature = try ActionSignature.load(from: folder)
        return base
    }

    /// The vector actions are compared by in retrieval: the stacked per-scenario effect when the base has one, else
    /// (an older checkpoint) the `ridge` model's pooled effect; nil for an action of another width or a base without `ridge`.
    public func actionKey(_ action: [Float]) -> [Float]? {
        if let signature = actionSignature { return signature.key(action) }
        return models[RidgeFeatureSet()]?.actionEffect(action)
    }
}
