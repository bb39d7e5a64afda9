// `worldgpt-fuzz seeds DIR`: small valid inputs for every target, written with the runtime's own writers (the
// committed Fuzz/corpus was made this way; Fuzz/make-seeds.sh adds the torch fixtures, pickles and deflate streams).
import ContextReflector
import Formats
import Foundation
import Memory
import Retrieval
import WorldModel

enum SeedCorpus {
    static func write(into root: URL) throws {
        let fm = FileManager.default
        func folder(_ target: String) throws -> URL {
            let url = root.appendingPathComponent(target, isDirectory: true)
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        func text(_ target: String, _ name: String, _ content: String) throws {
            try Data(content.utf8).write(to: try folder(target).appendingPathComponent(name))
        }

        // Tensors of every dtype, small.
        let values: [Float] = [0, 1.5, -2, 3.25, 65504, -0.0001]
        let tensors: [(name: String, tensor: TensorData)] = DType.allCases.map { dtype in
            (dtype.rawValue, TensorData(converting: values, to: dtype, shape: [2, 3]))
        } + [("scalar", TensorData(floats: [7], shape: [])), ("empty", TensorData(floats: [], shape: [0, 4]))]

        let torch = try folder("torch")
        try TorchFile.save(.stringDict(tensors.map { ($0.name, .tensor($0.tensor)) }), to: torch.appendingPathComponent("dtypes.pt"))
        try TorchFile.save(
            .stringDict([
                ("weight", .tensor(tensors[0].tensor, isParameter: true, requiresGrad: true)),
                ("meta", .dict([(key: .int(1), value: .list([.none, .bool(true), .float(2.5), .string("s"), .bytes([1, 2])]))])),
                ("shape", .tuple([.int(2), .int(3)])),
            ]), to: torch.appendingPathComponent("nested.pt"))

        let npy = try folder("npy")
        let numpy = tensors.filter { $0.tensor.dtype != .bfloat16 }  // NumPy has no bfloat16
        for (name, tensor) in numpy { try NPY.write(tensor, to: npy.appendingPathComponent("\(name).npy")) }
        try NPZ.write(Array(numpy.prefix(4)), to: try folder("npz").appendingPathComponent("four.npz"))
        try NPZ.write([tensors[0]], to: try folder("npz").appendingPathComponent("one.npz"))
        try SafeTensors.write(tensors.filter { $0.tensor.dtype != .bool }, metadata: ["format": "pt"],
                              to: try folder("safetensors").appendingPathComponent("dtypes.safetensors"))
        try SafeTensors.write([tensors[0]], to: try folder("safetensors").appendingPathComponent("one.safetensors"))

        let samples = (0..<3).map { i in
            WorldNetSample(
                index: i, state0: [.video: "v\(i).mp4", .audio: "a\(i).wav"], state1: [.image: "i\(i).jpg"],
                actionText: "do \"thing\" \(i) ✓", scenario: "s\(i % 2)", episode: "e", step: i,
                metadata: ["tags": .array([.string("x"), .number(1.5), .null, .bool(true)]), "state0.depth": .string("d.png")])
        }
        try WorldNetAnnotations.write(samples, to: try folder("annotations").appendingPathComponent("samples.json"))

        let dataset = DatasetConfig(
            datasetList: [DatasetEntry(root: "worldnet/ag", annotationPath: "worldnet/ag/state/action_train.json", modalities: [.image, .video, .audio], weight: 0.2)],
            modalityModes: [ModalityMode(inputs: [.image], targets: [.video, .audio], weight: 0.5)],
            baseDirectory: root)
        try dataset.write(to: try folder("dataset-yaml").appendingPathComponent("written.yaml"))

        try text("training-yaml", "full.yaml", """
            data: world/train.yaml
            validation: world/test.yaml
            model: {width: 64, depth: 2, heads: 4, mlp_ratio: 4, max_memory_steps: 8, reflector_width: 64, seed: 0, residual_scale: 0.5}
            optimizer: {lr: 1.0e-3, min_lr: 3.0e-5, warmup_steps: 10, weight_decay: 0.01, grad_clip: 1.0}
            training:
              batch_size: 16
              stages: [{kind: single-unimodal, steps: 50}, {kind: single-cross, steps: 50}]
              l2_weight: 0.0
              memory_probability: 0.5
              memory_steps: [2, 5]
              context_probability: 0.5
              checkpoint_every: 50
              seed: 7

            """)
        try text("training-yaml", "inline.yaml", """
            dataset_list:
              - {root: world, annotaion_path: world/train.json, modality: [image, audio], weight: 1}
            modality_modes:
              - {inputs: [image], targets: [audio]}
            model: {embedding_dim: 16, action_dim: 8}
            training: {batch_size: 4, stages: [{kind: single-unimodal, steps: 3}]}

            """)

        let tuning = JSONEncoder()
        tuning.outputFormatting = [.sortedKeys]
        try tuning.encode(ReflectorTuningConfig()).write(to: try folder("tuning-json").appendingPathComponent("defaults.json"))
        try text("tuning-json", "subset.json", #"{"steps": 20, "batch_size": 8, "heads": 2, "context_packing": "part", "filter": {"threshold": 0.1}}"#)

        let rows = 12, dim = 4
        let ids = (0..<rows).map { Int64($0 * 3 + 1) }
        let vectors = (0..<(rows * dim)).map { sin(Float($0) * 0.7) }
        let flat = FlatIndex(dim: dim, threads: 1)
        try flat.add(ids: ids, vectors: vectors)
        try flat.save(to: try folder("flat-index").appendingPathComponent("twelve.flat"))
        try FlatIndex(dim: 3, threads: 1).save(to: try folder("flat-index").appendingPathComponent("empty.flat"))
        let hnsw = HNSWIndex(dim: dim, M: 2, efConstruction: 8, efSearch: 4, buildThreads: 1, seed: 3)
        try hnsw.add(ids: ids, vectors: vectors)
        _ = hnsw.remove(ids: [4])
        try hnsw.save(to: try folder("hnsw-index").appendingPathComponent("twelve.hnsw"))
        let single = HNSWIndex(dim: 2, M: 2, efConstruction: 2, efSearch: 2, buildThreads: 1)
        try single.add(ids: [5], vectors: [1, 0])
        try single.save(to: try folder("hnsw-index").appendingPathComponent("one.hnsw"))
        try HNSWIndex(dim: 2, M: 2, buildThreads: 1).save(to: try folder("hnsw-index").appendingPathComponent("empty.hnsw"))

        let storeFolder = fm.temporaryDirectory.appendingPathComponent("worldgpt-fuzz-seeds-\(getpid())", isDirectory: true)
        try fm.createDirectory(at: storeFolder, withIntermediateDirectories: true)
        defer { try? fm.removeItem(at: storeFolder) }
        let store = storeFolder.appendingPathComponent("store.sqlite")
        try RecallFixture.makeStore(at: store)
        let parts = try RecallFixture.suffixes.map { try Data(contentsOf: URL(fileURLWithPath: store.path + $0)) }
        try MultiFile.join(parts).write(to: try folder("recall-keys").appendingPathComponent("twelve-steps"))
        try MultiFile.join(Array(parts.prefix(3))).write(to: try folder("recall-keys").appendingPathComponent("floats-only"))
        try Data(contentsOf: store).write(to: try folder("store").appendingPathComponent("twelve-steps.sqlite"))
    }
}
