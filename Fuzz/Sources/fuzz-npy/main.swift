// Fuzzes NPY.parse: magic, version, header dictionary (Python literal parser), dtype, shape, Fortran order, data size.
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    var seeds: [String: [UInt8]] = [:]
    for (name, tensor) in Seeds.tensors() where tensor.dtype != .bfloat16 { seeds["\(name).npy"] = try NPY.encode(tensor, path: name) }
    seeds["minilm-embeddings.npy"] = try Fuzzer.fixture("minilm/embeddings.npy")
    return seeds
}) { data in
    _ = try NPY.parse(data, path: "fuzz.npy")
}
