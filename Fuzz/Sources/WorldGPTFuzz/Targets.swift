// The fuzz targets: each feeds one input to a public reader of the runtime, the same call the CLI or the library
// makes, and then uses what came back the way its callers do (sums, searches, recalls), so a reader that accepts
// an inconsistent file is caught where the inconsistency would bite.
import ContextReflector
import Formats
import Foundation
import Memory
import Retrieval
import WorldModel

/// One libFuzzer target: a name (its corpus folder is Fuzz/corpus/<name>), what it drives, and the input handler.
struct FuzzTarget {
    let name: String
    let summary: String
    let run: (Data) throws -> Void

    static let all: [FuzzTarget] = [
        FuzzTarget(name: "torch", summary: "TorchFile.load(data:path:) on .pt bytes (zip + legacy containers, pickle VM), then FileInspector.json") {
            let value = try TorchFile.load(data: $0, path: "fuzz.pt")
            _ = FileInspector.json(value)
            for (_, tensor) in value.flattenedTensors() { _ = tensor.sum() }
        },
        FuzzTarget(name: "pickle", summary: "the pickle VM: input = data.pkl, wrapped in a valid torch zip with storages 0-7, TorchFile.load") {
            let value = try TorchFile.load(data: TorchArchive.wrap(pickle: $0), path: "fuzz.pt")
            _ = FileInspector.json(value)
            for (_, tensor) in value.flattenedTensors() { _ = tensor.sum() }
        },
        FuzzTarget(name: "npy", summary: "NPY.read(url) on a .npy file, then TensorData.sum / floatValues") {
            let tensor = try NPY.read(Scratch.file("input.npy", $0))
            _ = tensor.sum()
            _ = tensor.floatValues()
        },
        FuzzTarget(name: "npz", summary: "NPZ.read(url): the ZIP reader (zip64, stored and deflated entries, CRC) and NPY per entry") {
            for (_, tensor) in try NPZ.read(Scratch.file("input.npz", $0)) { _ = tensor.sum() }
        },
        FuzzTarget(name: "deflate", summary: "the inflater: input = u32 size, u32 crc, raw deflate stream, as one deflated .npy entry of NPZ.read") {
            let archive = DeflateEntry.wrap($0)
            for (_, tensor) in try NPZ.read(Scratch.file("deflate.npz", archive)) { _ = tensor.sum() }
        },
        FuzzTarget(name: "safetensors", summary: "SafeTensors.readWithMetadata(url), then TensorData.sum") {
            for (_, tensor) in try SafeTensors.readWithMetadata(Scratch.file("input.safetensors", $0)).tensors { _ = tensor.sum() }
        },
        FuzzTarget(name: "annotations", summary: "WorldNetAnnotations.parse(data:path:): WorldNet annotation JSON (our JSON parser)") {
            for sample in try WorldNetAnnotations.parse($0, path: "fuzz.json") {
                _ = (sample.state0.values.joined(), sample.state1.count, sample.metadata.values.map(\.description))
            }
        },
        FuzzTarget(name: "dataset-yaml", summary: "DatasetConfig.parse: WorldNet dataset YAML (Yams), then yaml() and the resolved URLs") {
            let config = try DatasetConfig.parse(String(decoding: $0, as: UTF8.self), source: "fuzz.yaml", baseDirectory: Scratch.folder)
            _ = config.yaml()
            for entry in config.datasetList { _ = (config.rootURL(entry), config.annotationURL(entry)) }
        },
        FuzzTarget(name: "training-yaml", summary: "TrainingFile.parse + TrainingConfig.validate, then totalSteps / stageIndex as the trainer uses them") {
            let file = try TrainingFile.parse(String(decoding: $0, as: UTF8.self), source: "fuzz.yaml", baseDirectory: Scratch.folder)
            try file.training.validate()
            let total = file.training.totalSteps
            _ = file.training.stageIndex(at: total - 1)
        },
        FuzzTarget(name: "tuning-json", summary: "ReflectorTuningConfig from JSON (as train-reflector --config) + validate") {
            let config = try JSONDecoder().decode(ReflectorTuningConfig.self, from: $0)
            try config.validate()
        },
        FuzzTarget(name: "flat-index", summary: "FlatIndex.load(from:) on a WGFLAT01 file, then a k=3 search") {
            let index = try FlatIndex.load(from: Scratch.file("input.flat", $0), threads: 1)
            if index.count > 0 { _ = try index.search([Float](repeating: 0.5, count: index.dim), k: 3) }
        },
        FuzzTarget(name: "hnsw-index", summary: "HNSWIndex.load(from:) on a WGHNSW01 file, then a k=3 search and one insertion") {
            let index = try HNSWIndex.load(from: Scratch.file("input.hnsw", $0), buildThreads: 1)
            let query = (0..<index.dim).map { Float($0 % 3) - 0.5 }
            _ = try index.search(query, k: 3)
            try index.add(ids: [1 << 40], vectors: query)
            _ = try index.search(query, k: 3)
        },
        FuzzTarget(name: "store", summary: "EpisodeStore(url:readOnly:) on a corrupt database file, then stats, verify, every step and a recall") {
            let store = try EpisodeStore(url: Scratch.file("input.sqlite", $0), readOnly: true)
            _ = try store.stats()
            _ = try store.verify()
            for episode in try store.episodes().prefix(4) { _ = try store.steps(StepReference(episode: episode.name, index: nil)) }
            _ = try store.recall(RecallQuery(state: State([.image: Embedding([Float](repeating: 0.5, count: store.dim))])), k: 3, threads: 1)
        },
        FuzzTarget(name: "recall-keys", summary: "EpisodeStore recall with corrupt key files: input = the six -recall.* files of a fixed store") {
            try RecallFixture.recall(keyFiles: $0)
        },
    ]
}

/// The zip around a fuzzed pickle: a valid torch.save layout with eight 4 KiB storages, so the pickle machine and
/// the tensor rebuild get every input.
enum TorchArchive {
    static let storageBytes = 4096

    /// The fixed entries, CRCs computed once.
    static let fixedEntries: [ZipBuilder.Entry] = [ZipBuilder.Entry(name: "archive/byteorder", payload: Data("little".utf8))]
        + (0..<8).map { key in
            let payload = Data((0..<storageBytes).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ key) })
            return ZipBuilder.Entry(name: "archive/data/\(key)", payload: payload, crc: ZipCRC.checksum(payload))
        }

    static func wrap(pickle: Data) -> Data {
        var zip = ZipBuilder()
        zip.add(.init(name: "archive/data.pkl", payload: pickle))
        for entry in fixedEntries { zip.add(entry) }
        return zip.archive()
    }
}

/// The npz around a fuzzed deflate stream: input = claimed inflated size (u32), CRC-32 (u32), raw deflate bytes.
enum DeflateEntry {
    static func wrap(_ input: Data) -> Data {
        let stream = input.count > 8 ? Data(input.dropFirst(8)) : Data()
        var zip = ZipBuilder()
        zip.add(.init(name: "x.npy", payload: stream, method: 8, crc: input.littleEndianUInt32(at: 4),
                      uncompressedSize: Int(input.littleEndianUInt32(at: 0))))
        return zip.archive()
    }

    /// The input for `stream` (raw deflate) of `original`.
    static func input(original: Data, stream: Data) -> Data {
        var out = Data()
        withUnsafeBytes(of: UInt32(original.count).littleEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: ZipCRC.checksum(original).littleEndian) { out.append(contentsOf: $0) }
        return out + stream
    }
}

/// A small episode store (dim 8, action dim 4, two episodes of six steps) whose recall key files the target replaces.
enum RecallFixture {
    static let dim = 8, actionDim = 4
    /// The key files next to a store, in the order an input holds them (docs/memory.md).
    static let suffixes = ["-recall.meta", "-recall.state", "-recall.action", "-recall.state8", "-recall.action8", "-recall.bounds"]

    /// Creates the store at `url` (deterministic: the seeds' key files match the harness's store).
    static func makeStore(at url: URL) throws {
        let store = try EpisodeStore(url: url, dim: dim)
        var records: [StepRecord] = []
        for episode in 0..<2 {
            for step in 0..<6 {
                let x = Float(episode * 6 + step)
                let state = State([.image: Embedding((0..<dim).map { sin(x + Float($0)) })])
                let action = Action(text: "a\(step)", embedding: Embedding((0..<actionDim).map { cos(x * 0.5 + Float($0)) }))
                records.append(StepRecord(episode: "e\(episode)", index: step, action: action, input: state,
                                          timestamp: Date(timeIntervalSince1970: 1_700_000_000 + Double(episode * 6 + step))))
            }
        }
        _ = try store.append(records)
        try store.prepareRecall()
    }

    static let store: URL? = {
        let url = Scratch.folder.appendingPathComponent("store.sqlite")
        do { try makeStore(at: url) } catch {
            print("recall-keys: cannot create the fixture store: \(error)")
            return nil
        }
        return url
    }()

    static let query = RecallQuery(
        state: State([.image: Embedding((0..<dim).map { cos(Float($0)) })]), action: Embedding((0..<actionDim).map { sin(Float($0)) }))

    static func recall(keyFiles input: Data) throws {
        guard let url = store else { return }
        for (suffix, part) in zip(suffixes, MultiFile.split(input, parts: suffixes.count)) {
            let name = url.lastPathComponent + suffix
            if let part { _ = Scratch.file(name, part) } else { Scratch.remove(name) }
        }
        let reader = try EpisodeStore(url: url, readOnly: true)
        let weights = RecallWeights(state: 1, action: 0.5, recency: 0.25, halfLife: 4)
        for step in try reader.recall(query, k: 4, weights: weights, threads: 1) { _ = try reader.step(id: step.stepID) }
        _ = try reader.recall(RecallQuery(state: query.state, episode: "e1", beforeStepID: 9), k: 3, threads: 1)
    }
}
