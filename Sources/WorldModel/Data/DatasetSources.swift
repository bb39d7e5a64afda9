// Where a command's data comes from: a dataset YAML (optionally one of its sections or a sibling split file),
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
    /// - `split` is nil: the YAML itself (its top level, or its `train` section);
    /// - the YAML has a section named `split` (the original's `train:` / `validation:`): that section;
    /// - otherwise `<split>.yaml` beside it (SimWorld writes `train.yaml`, `kb.yaml`, `test.yaml`, `sequences.yaml`).
    /// - Throws: `WorldModelError.invalidConfig` naming `--data`/`--split` when nothing matches; `FormatError` for bad YAML.
    /// - Parameter folderSplit: the split a folder means when `split` is nil.
    public static func config(_ url: URL, split: String?, folderSplit: String = "test") throws -> DatasetConfig {
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else {
            throw WorldModelError.invalidConfig(field: "--data", reason: "\(url.path) does not exist")
        }
        if isFolder.boolValue {
            let file = url.appendingPathComponent("\(split ?? folderSplit).yaml")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw WorldModelError.invalidConfig(field: "--split", reason: "no \(file.lastPathComponent) in \(url.path)")
            }
            return try DatasetConfig.load(file)
        }
        guard let split else { return try DatasetConfig.load(url) }
        if let text = try? String(contentsOf: url, encoding: .utf8), let node = try? Yams.compose(yaml: text),
            node.mapping?[split]?.mapping?["dataset_list"] != nil
        {
            return try DatasetConfig.load(url, section: split)
        }
        let sibling = url.deletingLastPathComponent().appendingPathComponent("\(split).yaml")
        guard FileManager.default.fileExists(atPath: sibling.path) else {
            throw WorldModelError.invalidConfig(
                field: "--split", reason: "\(url.lastPathComponent) has no section '\(split)' and there is no \(sibling.path)")
        }
        return try DatasetConfig.load(sibling)
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
