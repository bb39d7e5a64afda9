// The training YAML (`worldgpt train --config TRAIN.yaml`): WorldNet dataset keys plus model, optimiser and
// training sections. Every field is checked here and errors name the field, before any data is read.
import Foundation
import Formats
import Yams

/// A parsed training YAML.
///
/// ```yaml
/// data: world/train.yaml          # or inline dataset_list / modality_modes (WorldNet dataset YAML keys)
/// validation: world/test.yaml     # optional: evaluated after training
/// model:     {width: 256, depth: 3, heads: 4, mlp_ratio: 4, max_memory_steps: 8, reflector_width: 256, seed: 0}
/// optimizer: {lr: 1.0e-3, min_lr: 3.0e-5, warmup_steps: 100, weight_decay: 0.01, grad_clip: 1.0}
/// training:
///   batch_size: 64
///   stages: [{kind: single-unimodal, steps: 500}, {kind: single-cross, steps: 500}, ...]
///   l2_weight: 0.0
///   memory_probability: 0.5
///   memory_steps: [2, 5]
///   context_probability: 0.5      # optional: batches with retrieved knowledge (needs `train --kb`)
///   checkpoint_every: 500
///   seed: 0
/// ```
/// `model.embedding_dim` and `model.action_dim` are optional: when absent they come from the data and the
/// text encoder; when present they must match them.
public struct TrainingFile: Sendable {
    /// The training settings (dimensions filled with placeholders when not given).
    public var training: TrainingConfig
    /// Whether `model.embedding_dim` was given.
    public var embeddingDimensionGiven: Bool
    /// Whether `model.action_dim` was given.
    public var actionDimensionGiven: Bool
    /// The inline dataset (`dataset_list` at the top level), if any.
    public var inlineDataset: DatasetConfig?
    /// The `data:` dataset YAML, resolved against the training YAML's folder.
    public var dataURL: URL?
    /// The `validation:` dataset YAML, resolved likewise.
    public var validationURL: URL?
    /// The file this came from.
    public var source: String

    /// A training file made in code: `training` for data given on the command line (dimensions from the data and
    /// the text encoder), as `worldgpt train` without `--config` uses `TrainingRecipe`.
    public init(training: TrainingConfig, source: String) {
        self.training = training
        self.embeddingDimensionGiven = false
        self.actionDimensionGiven = false
        self.inlineDataset = nil
        self.dataURL = nil
        self.validationURL = nil
        self.source = source
    }

    /// Reads and checks `url`.
    /// - Throws: `WorldModelError.invalidConfig` naming the field (or `FormatError` for the dataset keys).
    public static func load(_ url: URL) throws -> TrainingFile {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw WorldModelError.invalidConfig(field: url.path, reason: "cannot read the training config: \(error.localizedDescription)")
        }
        return try parse(text, source: url.path, baseDirectory: url.deletingLastPathComponent())
    }

    /// Parses YAML text; relative paths resolve against `baseDirectory`.
    public static func parse(_ text: String, source: String, baseDirectory: URL) throws -> TrainingFile {
        func bad(_ field: String, _ reason: String) -> WorldModelError { .invalidConfig(field: field, reason: "\(reason) (in \(source))") }
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw bad("<yaml>", "YAML syntax: \(String(describing: error).prefix(300))") }
        guard let root = node?.mapping else { throw bad("<top level>", "is not a mapping") }
        let known: Set<String> = ["data", "validation", "model", "optimizer", "optimiser", "training", "dataset_list", "modality_modes"]
        for key in root.keys.compactMap(\.string) where !known.contains(key) {
            throw bad(key, "unknown key (expected one of \(known.sorted().joined(separator: ", ")))")
        }
        var file = TrainingFile(training: TrainingConfig(), source: source)
        func path(_ key: String) throws -> URL? {
            guard let value = root[key] else { return nil }
            guard let s = value.string, !s.isEmpty else { throw bad(key, "must be a path to a dataset YAML") }
            return s.hasPrefix("/") ? URL(fileURLWithPath: s) : baseDirectory.appendingPathComponent(s).standardizedFileURL
        }
        file.dataURL = try path("data")
        file.validationURL = try path("validation")
        if root["dataset_list"] != nil {
            guard file.dataURL == nil else { throw bad("data", "give either `data:` or an inline `dataset_list`, not both") }
            file.inlineDataset = try DatasetConfig.parse(text, source: source, baseDirectory: baseDirectory)
        }
        // Section readers.
        func section(_ names: [String]) throws -> Node.Mapping? {
            for name in names {
                guard let value = root[name] else { continue }
                guard let mapping = value.mapping else { throw bad(name, "must be a mapping") }
                return mapping
            }
            return nil
        }
        func reader(_ mapping: Node.Mapping?, _ prefix: String, _ allowed: Set<String>) throws -> (String) -> Node? {
            if let mapping {
                for key in mapping.keys.compactMap(\.string) where !allowed.contains(key) {
                    throw bad("\(prefix).\(key)", "unknown key (expected one of \(allowed.sorted().joined(separator: ", ")))")
                }
            }
            return { mapping?[$0] }
        }
        func int(_ get: (String) -> Node?, _ prefix: String, _ key: String) throws -> Int? {
            guard let n = get(key) else { return nil }
            guard let v = n.int else { throw bad("\(prefix).\(key)", "must be an integer, got '\(n.string ?? "?")'") }
            return v
        }
        func float(_ get: (String) -> Node?, _ prefix: String, _ key: String) throws -> Double? {
            guard let n = get(key) else { return nil }
            guard let v = n.float ?? n.int.map(Double.init), v.isFinite else { throw bad("\(prefix).\(key)", "must be a number, got '\(n.string ?? "?")'") }
            return v
        }
        var t = TrainingConfig()
        let model = try reader(
            section(["model"]), "model",
            ["embedding_dim", "action_dim", "width", "depth", "heads", "mlp_ratio", "max_memory_steps", "reflector_width", "seed", "residual_scale", "memory_change", "context_change", "linear_base"])
        if let v = try int(model, "model", "embedding_dim") { t.model.embeddingDimension = v; file.embeddingDimensionGiven = true }
        if let v = try int(model, "model", "action_dim") { t.model.actionDimension = v; file.actionDimensionGiven = true }
        if let v = try int(model, "model", "width") { t.model.width = v }
        if let v = try int(model, "model", "depth") { t.model.depth = v }
        if let v = try int(model, "model", "heads") { t.model.heads = v }
        if let v = try int(model, "model", "mlp_ratio") { t.model.mlpRatio = v }
        if let v = try int(model, "model", "max_memory_steps") { t.model.maxMemorySteps = v }
        if let v = try int(model, "model", "reflector_width") { t.model.reflectorWidth = v }
        if let v = try float(model, "model", "residual_scale") { t.model.residualScale = Float(v) }
        for (key, path) in [("memory_change", \NativeModelConfig.memoryChange), ("context_change", \NativeModelConfig.contextChange), ("linear_base", \NativeModelConfig.linearBase)] {
            guard let n = model(key) else { continue }
            guard let v = n.bool else { throw bad("model.\(key)", "must be true or false, got '\(n.string ?? "?")'") }
            t.model[keyPath: path] = v
        }
        if let v = try int(model, "model", "seed") {
            guard v >= 0 else { throw bad("model.seed", "must not be negative") }
            t.model.seed = UInt64(v)
        }
        let optimizer = try reader(section(["optimizer", "optimiser"]), "optimizer", ["lr", "min_lr", "warmup_steps", "weight_decay", "grad_clip"])
        if let v = try float(optimizer, "optimizer", "lr") { t.learningRate = Float(v) }
        if let v = try float(optimizer, "optimizer", "min_lr") { t.minLearningRate = Float(v) } else { t.minLearningRate = min(t.minLearningRate, t.learningRate) }
        if let v = try int(optimizer, "optimizer", "warmup_steps") { t.warmupSteps = v }
        if let v = try float(optimizer, "optimizer", "weight_decay") { t.weightDecay = Float(v) }
        if let v = try float(optimizer, "optimizer", "grad_clip") { t.gradientClip = Float(v) }
        let training = try reader(
            section(["training"]), "training",
            ["batch_size", "stages", "l2_weight", "memory_probability", "memory_steps", "context_probability", "checkpoint_every", "held_out_every", "seed"])
        if let v = try int(training, "training", "batch_size") { t.batchSize = v }
        if let v = try float(training, "training", "l2_weight") { t.l2Weight = Float(v) }
        if let v = try float(training, "training", "memory_probability") { t.memoryProbability = v }
        if let v = try float(training, "training", "context_probability") { t.contextProbability = v }
        if let v = try int(training, "training", "checkpoint_every") { t.checkpointEvery = v }
        if let v = try int(training, "training", "held_out_every") { t.heldOutEvery = v }
        if let v = try int(training, "training", "seed") {
            guard v >= 0 else { throw bad("training.seed", "must not be negative") }
            t.seed = UInt64(v)
        }
        if let n = training("memory_steps") {
            guard let seq = n.sequence, seq.count == 2, let lo = seq[0].int, let hi = seq[1].int, lo <= hi else {
                throw bad("training.memory_steps", "must be [min, max] with min <= max")
            }
            t.memoryRange = lo...hi
        }
        if let n = training("stages") {
            guard let seq = n.sequence, !seq.isEmpty else { throw bad("training.stages", "must be a non-empty list") }
            t.stages = try seq.enumerated().map { i, item in
                let field = "training.stages[\(i)]"
                guard let m = item.mapping else { throw bad(field, "must be {kind: ..., steps: N}") }
                guard let kindText = m["kind"]?.string else { throw bad("\(field).kind", "is missing") }
                guard let kind = TaskMode.Kind(rawValue: kindText) else {
                    throw bad("\(field).kind", "unknown kind '\(kindText)' (expected \(TaskMode.Kind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                guard let steps = m["steps"]?.int else { throw bad("\(field).steps", "must be an integer") }
                return TrainingStage(kind: kind, steps: steps)
            }
        }
        file.training = t
        return file
    }
}
