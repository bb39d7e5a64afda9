// Fuzzes TorchFile.load(data:path:): torch.save zip archives (ZIP, records, pickle VM, tensor views) and legacy pickles.
@testable import Formats
import FuzzSupport

Fuzzer.run(seeds: {
    let names = ["nested", "state_dict", "parameters", "transposed", "view_offset", "legacy", "scalar", "empty", "int64",
                 "bfloat16", "float16", "malicious", "truncated"]
    return Dictionary(uniqueKeysWithValues: try names.map { ("\($0).pt", try Fuzzer.fixture("torch/\($0).pt")) })
}) { data in
    _ = try TorchFile.load(data: data, path: "fuzz.pt")
}
