// From a training YAML to a ready Trainer: resolve the dataset, check modes before reading embeddings,
// load transitions, embed actions, settle dimensions. The CLI and tests call this; it prints nothing.
import Foundation
import Formats

/// Prepares training and evaluation data for the native model.
public enum TrainingSetup {
    /// The dataset of a training file: `dataOverride`, else its `data:`, else its inline `dataset_list`.
    /// - Throws: `WorldModelError.invalidConfig` naming `data` when none is given; the dataset checks' errors.
    public static func dataset(for file: TrainingFile, dataOverride: URL?) throws -> DatasetConfig {
        let config: DatasetConfig
        if let dataOverride {
            config = try DatasetSources.config(dataOverride, split: nil, folderSplit: "train")
        } else if let url = file.dataURL {
            config = try DatasetSources.config(url, split: nil, folderSplit: "train")
        } else if let inline = file.inlineDataset {
            config = inline
        } else {
            throw WorldModelError.invalidConfig(field: "data", reason: "no dataset: give `data:` or `dataset_list` in \(file.source), or --data")
        }
        try DatasetSources.check(config)
        return config
    }

    /// Loads the transitions of `config` and fills their action embeddings through `cache`.
    /// - Throws: `WorldModelError.emptyDataset` naming `dataset_list` when there are none; format and encoder errors.
    public static func transitions(_ config: DatasetConfig, cache: ActionEmbeddingCache) throws -> [Transition] {
        var transitions = try WorldNetDataset.load(config)
        guard !transitions.isEmpty else {
            throw WorldModelError.emptyDataset(field: "dataset_list", reason: "the annotation files of \(config.source) hold no sample")
        }
        try cache.fill(&transitions)
        try? cache.save()
        return transitions
    }

    /// The embedding dimension of the first embedding in `transitions`.
    public static func embeddingDimension(of transitions: [Transition]) -> Int? {
        transitions.lazy.compactMap { $0.state0.embeddings.values.first?.dim ?? $0.state1.embeddings.values.first?.dim }.first
    }

    /// A trainer for `file` over `transitions` (actions embedded by `encoder`): dimensions not given in the
    /// file come from the data and the encoder; given ones must match (errors name `model.embedding_dim` /
    /// `model.action_dim`).
    public static func trainer(file: TrainingFile, dataset: DatasetConfig, transitions: [Transition], encoder: ActionEncoder) throws -> Trainer {
        var config = file.training
        if !file.embeddingDimensionGiven, let d = embeddingDimension(of: transitions) { config.model.embeddingDimension = d }
        if file.actionDimensionGiven {
            guard config.model.actionDimension == encoder.dim else {
                throw WorldModelError.dimensionMismatch(field: "model.action_dim (text encoder \(encoder.name))", expected: config.model.actionDimension, actual: encoder.dim)
            }
        } else {
            config.model.actionDimension = encoder.dim
        }
        config.model.actionEncoder = encoder.name
        let modes = dataset.modalityModes.map(TaskMode.init)
        let data = try TrainingData(transitions: transitions, modes: modes, model: config.model)
        return try Trainer(config: config, data: data)
    }
}
