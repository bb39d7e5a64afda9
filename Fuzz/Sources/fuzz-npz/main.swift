// Fuzzes NPZ.parse: a ZIP of .npy members, stored (our writer) or DEFLATE-compressed (numpy's savez_compressed).
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    var zip = ZipWriter(path: "seed", alignment: 64)
    for (name, tensor) in Seeds.tensors() where tensor.dtype != .bfloat16 { try zip.add(name + ".npy", NPY.encode(tensor, path: name)) }
    return ["stored.npz": try zip.finish(), "numpy-compressed.npz": [UInt8](Seeds.numpyCompressedNPZ)]
}) { data in
    _ = try NPZ.parse(data, path: "fuzz.npz")
}
