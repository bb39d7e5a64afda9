// Loading any saved world model from its checkpoint folder: the folder's files say which kind it is.
import Foundation

/// The world models that can be saved as a folder: `NativeWorldModel` (`config.json` + `model.safetensors`) and
/// `RidgeModel` (`ridge.json` + `ridge.safetensors`).
public enum SavedWorldModel {
    /// The model saved in `folder`, and the name of the text encoder its actions were embedded with (when recorded).
    /// - Throws: `WorldModelError.badCheckpoint` when the folder holds neither kind or its files do not fit.
    public static func load(from folder: URL) throws -> (model: any WorldModel, actionEncoder: String?) {
        if RidgeModel.isCheckpoint(folder) {
            let ridge = try RidgeModel.load(from: folder)
            return (ridge, ridge.actionEncoder)
        }
        guard FileManager.default.fileExists(atPath: folder.appendingPathComponent(CheckpointLayout.config).path) else {
            throw WorldModelError.badCheckpoint(
                path: folder.path,
                reason: "neither \(CheckpointLayout.config) (a native model from `worldgpt train`) nor \(RidgeCheckpointLayout.config) (a ridge model from `worldgpt train-ridge`) is in it")
        }
        let native = try NativeWorldModel.load(from: folder)
        return (native, native.config.actionEncoder)
    }
}
