// Checkpoints of the native model: a folder with `config.json` (architecture) and `model.safetensors`
// (every parameter by name, float32); training checkpoints add `optimizer.safetensors` and `training.json`.
import Foundation
import Formats
import Tensor

/// The on-disk layout of a checkpoint folder (documented in docs/worldmodel.md).
public enum CheckpointLayout {
    /// `config.json`: the `NativeModelConfig`.
    public static let config = "config.json"
    /// `model.safetensors`: the parameters.
    public static let weights = "model.safetensors"
    /// `optimizer.safetensors`: AdamW moments `adamw.m`, `adamw.v` (training checkpoints only).
    public static let optimizer = "optimizer.safetensors"
    /// `training.json`: the step reached and the training config (training checkpoints only).
    public static let training = "training.json"
    /// The format tag written into the safetensors metadata.
    public static let formatTag = "worldgpt-native-v1"
}

extension NativeWorldModel {
    /// Writes `config.json` and `model.safetensors` into `folder` (created if needed).
    public func save(to folder: URL) throws {
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(encoder.encode(config), to: folder.appendingPathComponent(CheckpointLayout.config))
        } catch {
            throw WorldModelError.badCheckpoint(path: folder.path, reason: "cannot write: \(error)")
        }
        let tensors = store.parameters.map { p in (name: p.name, tensor: TensorData(floats: Array(store.values[p.range]), shape: p.shape)) }
        try SafeTensors.write(tensors, metadata: ["format": CheckpointLayout.formatTag], to: folder.appendingPathComponent(CheckpointLayout.weights))
        try linearBase?.save(into: folder)
    }

    /// Loads a model saved by `save(to:)`: the architecture from `config.json`, then every parameter,
    /// checked by name and shape.
    /// - Throws: `WorldModelError.badCheckpoint` naming the folder and the missing or mismatched tensor.
    public static func load(from folder: URL) throws -> NativeWorldModel {
        let configURL = folder.appendingPathComponent(CheckpointLayout.config)
        let config: NativeModelConfig
        do {
            config = try JSONDecoder().decode(NativeModelConfig.self, from: Data(contentsOf: configURL))
        } catch {
            throw WorldModelError.badCheckpoint(path: configURL.path, reason: "cannot read the model config: \(error)")
        }
        let model = try NativeWorldModel(config: config)
        let weightsURL = folder.appendingPathComponent(CheckpointLayout.weights)
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "file not found")
        }
        let tensors = try SafeTensors.read(weightsURL)
        let byName = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        for p in model.store.parameters {
            guard let t = byName[p.name] else { throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "missing tensor \(p.name)") }
            guard t.shape == p.shape else {
                throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "tensor \(p.name) has shape \(t.shape), config needs \(p.shape)")
            }
            let values = t.floatValues()
            guard values.allSatisfy(\.isFinite) else { throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "tensor \(p.name) has NaN or infinity") }
            model.store.values.replaceSubrange(p.range, with: values)
        }
        let extra = Set(byName.keys).subtracting(model.store.parameters.map(\.name))
        if let name = extra.sorted().first {
            throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "unexpected tensor \(name) (\(extra.count) not in the architecture)")
        }
        if config.linearBase { model.linearBase = try LinearBase.load(from: folder) }
        return model
    }
}

/// What `training.json` records.
struct TrainingCheckpointInfo: Codable {
    var step: Int
    var training: TrainingConfig
}

extension Trainer {
    /// Saves the model, the optimiser state and the step into `folder`.
    public func saveCheckpoint(to folder: URL) throws {
        try model.save(to: folder)
        try contextStage?.saveState(to: folder)
        try optimizer.state.write(
            to: folder.appendingPathComponent(CheckpointLayout.optimizer), parameterCount: model.store.count,
            metadata: ["format": CheckpointLayout.formatTag])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        do {
            try AtomicFile.write(encoder.encode(TrainingCheckpointInfo(step: step, training: config)), to: folder.appendingPathComponent(CheckpointLayout.training))
        } catch {
            throw WorldModelError.badCheckpoint(path: folder.path, reason: "cannot write training state: \(error)")
        }
    }

    /// Restores weights, optimiser state and step from a training checkpoint of the same configuration.
    /// - Throws: `WorldModelError.badCheckpoint` when files are missing or the checkpoint was made with another config.
    public func resume(from folder: URL) throws {
        let infoURL = folder.appendingPathComponent(CheckpointLayout.training)
        let info: TrainingCheckpointInfo
        do {
            info = try JSONDecoder().decode(TrainingCheckpointInfo.self, from: Data(contentsOf: infoURL))
        } catch {
            throw WorldModelError.badCheckpoint(path: infoURL.path, reason: "not a training checkpoint: \(error)")
        }
        guard info.training == config else {
            throw WorldModelError.badCheckpoint(path: infoURL.path, reason: "made with a different training config; resume needs the same config")
        }
        let loaded = try NativeWorldModel.load(from: folder)
        model.store.values = loaded.store.values
        model.linearBase = loaded.linearBase
        let optimizerURL = folder.appendingPathComponent(CheckpointLayout.optimizer)
        guard let state = try AdamWState.read(from: optimizerURL, parameterCount: model.store.count) else {
            throw WorldModelError.badCheckpoint(path: optimizerURL.path, reason: "missing or mis-sized adamw.m / adamw.v / adamw.step")
        }
        optimizer.restore(state)
        try contextStage?.restoreState(from: folder)
        step = info.step
    }
}
