// Fuzzes ZipReader (end record, ZIP64, central directory, local headers, CRC) and reading every entry's contents.
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    var seeds: [String: [UInt8]] = ["state_dict.pt.zip": try Fuzzer.fixture("torch/state_dict.pt")]
    var stored = ZipWriter(path: "seed", alignment: 64)
    try stored.add("a.txt", Array("hello zip".utf8))
    try stored.add("dir/b.bin", (0..<200).map { UInt8($0) })
    try stored.add("empty", [])
    seeds["stored.zip"] = try stored.finish()
    seeds["npz-deflated.zip"] = Array(Seeds.numpyCompressedNPZ)
    return seeds
}) { data in
    let zip = try ZipReader(data: data, path: "fuzz.zip")
    for entry in zip.entries { _ = try zip.contents(entry) }
}
