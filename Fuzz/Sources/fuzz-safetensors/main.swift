// Fuzzes SafeTensors.parse: header length, JSON header, dtypes, shapes, data offsets and metadata.
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    ["sample.safetensors": try SafeTensors.encode(Seeds.tensors(), metadata: ["format": "pt"], path: "seed"),
     "one.safetensors": try SafeTensors.encode([("w", TensorData(floats: [1, 2, 3, 4], shape: [2, 2]))], metadata: [:], path: "seed")]
}) { data in
    _ = try SafeTensors.parse(data, path: "fuzz.safetensors")
}
