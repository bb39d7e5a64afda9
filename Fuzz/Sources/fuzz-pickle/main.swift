// Fuzzes the pickle VM and the tensor converter behind TorchFile on a bare data.pkl: no ZIP around it, so every
// mutation reaches the opcodes; each storage the pickle names is served with exactly the bytes it asks for.
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    var seeds: [String: [UInt8]] = [:]
    for name in ["nested", "state_dict", "parameters", "view_offset", "transposed", "scalar", "malicious"] {
        let data = Data(try Fuzzer.fixture("torch/\(name).pt"))
        let zip = try ZipReader(data: data, path: name)
        if let entry = zip.entries.first(where: { $0.name.hasSuffix("data.pkl") }) { seeds["\(name).pkl"] = [UInt8](try zip.contents(entry)) }
    }
    return seeds
}) { pickle in
    let path = "fuzz.pkl"
    var storages: [String: StorageRef] = [:]
    var machine = PickleMachine(path: path) { pid in
        let ref = try TorchFile.storageReference(pid, path: path)
        if let existing = storages[ref.key] {
            guard existing.dtype == ref.dtype else { throw FormatError.corrupt(path: path, reason: "storage used with two dtypes") }
            return .storage(existing)
        }
        storages[ref.key] = ref
        return .storage(ref)
    }
    var reader = ByteReader(pickle, path: path)
    let root = try machine.run(&reader)
    let budget = OutputBudget(maxBytes: 1 << 20)
    var converter = Converter(path: path, bigEndian: pickle.first == 0x80 && pickle.count % 2 == 1, budget: budget,
                              pickleLength: pickle.count) { ref in
        let (count, overflow) = ref.numel.multipliedReportingOverflow(by: ref.dtype.size)
        guard !overflow, count <= 1 << 20 else { throw FormatError.corrupt(path: path, reason: "storage too large for the harness") }
        return Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 31) })
    }
    _ = try converter.convert(root, depth: 0)
}
