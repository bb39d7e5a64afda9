// Fuzzes the bounds-checked DEFLATE decoder (Inflater) on raw streams, output capped at 64 KiB.
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    // Raw DEFLATE streams cut out of numpy's compressed .npz (fixed and dynamic Huffman blocks) and a stored block.
    let zip = try ZipReader(data: Seeds.numpyCompressedNPZ, path: "seed")
    var seeds: [String: [UInt8]] = [:]
    for entry in zip.entries {
        let start = entry.localHeaderOffset + 30 + entry.name.utf8.count
        let header = Seeds.numpyCompressedNPZ[(entry.localHeaderOffset + 28)..<(entry.localHeaderOffset + 30)]
        let extra = Int(header[header.startIndex]) | Int(header[header.startIndex + 1]) << 8
        seeds["\(entry.name).deflate"] = [UInt8](Seeds.numpyCompressedNPZ[(start + extra)..<(start + extra + entry.compressedSize)])
    }
    seeds["stored.deflate"] = [0x01, 0x05, 0x00, 0xFA, 0xFF] + Array("hello".utf8)
    return seeds
}) { stream in
    var inflater = Inflater([UInt8](stream), limit: 1 << 16)
    try inflater.run()
}
