// Where a command's data comes from: a dataset YAML (optionally one of its sections) or a folder's `<split>.yaml`,
// and checks of `modality_modes` against `dataset_list` that run before any embedding is read.
import Foundation
import Formats
import Yams

extension TaskMode {
    /// The WorldNet config's mode.
    public init(_ mode: ModalityMode) {
        self.init(inputs: mode.inputs, targets: mode.targets, weight: mode.weight)
    }
}

/// Resolves `--data CONFIG.yaml [--split NAME]` to a dataset config.
public enum DatasetSources {
    /// The dataset config for `url` and `split`:
    /// - `url` is a folder: `<folder>/<split>.yaml` (a SimWorld root; split defaults to `folderSplit`);
    /// - `url` is a YAML file: the file itself — its top level, or the section named `split` (the original's
    ///   `train:` / `validation:`) when one is given. A file's sibling `<split>.yaml` is never substituted for it: a
    ///   user's `dataset_train.yaml` is the data it names, whatever the split.
    /// - Parameters:
    ///   - split: the split the user asked for (nil: the folder default, or the whole file).
    ///   - folderSplit: the split a folder means when `split` is nil.
    ///   - option: the command-line option that named `url`, for error messages (`--data`, `--kb`, `--train`, ...).
    /// - Throws: `WorldModelError.invalidConfig` naming the option and exactly what was looked for when nothing matches;
    ///   `FormatError` for bad YAML.
    public static func config(_ url: URL, split: String?, folderSplit: String = "test", option: String = "--data") throws -> DatasetConfig {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw WorldModelError.invalidConfig(field: option, reason: "\(url.path) does not exist")
        }
        if isFolder.boolValue {
            let file = url.appendingPathComponent("\(split ?? folderSplit).yaml")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw WorldModelError.invalidConfig(
                    field: split == nil ? option : "--split",
                    reason: "looked for \(file.path) (the \(split ?? folderSplit) split of the folder \(url.path)): not found")
            }
            return try DatasetConfig.load(file)
        }
        guard let split else { return try DatasetConfig.load(url) }
        if let text = try? String(contentsOf: url, encoding: .utf8), let node = try? Yams.compose(yaml: text),
            node.mapping?[split]?.mapping?["dataset_list"] != nil
        {
            return try DatasetConfig.load(url, section: split)
        }
        throw WorldModelError.invalidConfig(
            field: "--split",
            reason: "looked for a section '\(split):' with a dataset_list in \(url.path): there is none. A YAML file is used as it is "
                + "(`<split>.yaml` files are looked up only in a folder): drop --split, or give that split's own YAML file")
    }

    /// Whether `path` names an existing folder (a SimWorld root) rather than a file.
    public static func isFolder(_ path: String) -> Bool {
        var folder: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &folder) && folder.boolValue
    }

    /// Checks the modes against the subsets before loading: every mode's modalities must be listed in some
    /// `dataset_list[i].modality`, and there must be at least one subset and one mode.
    /// - Throws: `WorldModelError` naming `dataset_list`, `modality_modes` or `modality_modes[k].inputs/targets`.
    public static func check(_ config: DatasetConfig) throws {
        guard !config.datasetList.isEmpty else { throw WorldModelError.emptyDataset(field: "dataset_list", reason: "no subset listed in \(config.source)") }
        guard !config.modalityModes.isEmpty else { throw WorldModelError.emptyDataset(field: "modality_modes", reason: "no mode listed in \(config.source)") }
        let available = Set(config.datasetList.flatMap(\.modalities))
        for (k, mode) in config.modalityModes.enumerated() {
            for (part, list) in [("inputs", mode.inputs), ("targets", mode.targets)] {
                if let missing = list.first(where: { !available.contains($0) }) {
                    throw WorldModelError.invalidConfig(
                        field: "modality_modes[\(k)].\(part)",
                        reason: "modality \(missing) is not in any dataset_list[].modality (\(available.sorted().map(\.rawValue).joined(separator: ", "))) of \(config.source)")
                }
            }
        }
    }
}
