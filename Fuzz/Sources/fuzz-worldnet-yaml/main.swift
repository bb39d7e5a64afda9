// Fuzzes DatasetConfig.parse: WorldNet dataset YAML through Yams (lists, modality modes, weights, paths).
import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    let yaml = """
        train:
            dataset_list:
                -
                    root: worldnet/ag                                    # root of subset
                    annotaion_path: worldnet/ag/state/action_train.json  # path to annotations
                    modality: ['image', 'video', 'audio']
                    weight: 0.2
            modality_modes:
                -
                    inputs: ['image']
                    targets: ['video', "audio"]
                    weight: 0.2
                - {inputs: [video], targets: [video]}
        """
    let config = try DatasetConfig.parse(yaml, source: "seed.yaml", section: "train", baseDirectory: URL(fileURLWithPath: "/tmp"))
    return ["worldnet.yaml": Array(yaml.utf8), "written.yaml": Array(config.yaml().utf8)]
}) { data in
    _ = try DatasetConfig.parse(String(decoding: data, as: UTF8.self), source: "fuzz.yaml", baseDirectory: URL(fileURLWithPath: "/tmp"))
}
