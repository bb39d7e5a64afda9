// Fast writing of many same-shaped `.pt` files: the bytes `TorchFile.save` produces for one tensor, with the
// payload, CRC-32 and archive prefix patched per file (no pickling, no zip building, no fsync per file).
// It is checked against `TorchFile.save` byte for byte before use; on any difference callers fall back.
import Foundation
import Formats

/// The `.pt` archive of a 1-D float32 tensor of a fixed length, as `TorchFile.save` writes it, ready to patch.
struct TensorFileTemplate {
    private var bytes: [UInt8]
    private let prefixOffsets: [Int]
    private let prefixLength: Int
    private let payloadOffset: Int
    private let payloadLength: Int
    private let crcOffsets: [Int]

    /// Builds the template by saving a tensor of `count` zeros with `TorchFile.save` under a prefix of
    /// `prefixLength` characters into `scratch`, and locating the prefix, payload and CRC fields.
    /// Returns nil when the archive does not have the expected layout.
    init?(count: Int, prefixLength: Int, scratch: URL) throws {
        let prefix = String(repeating: "p", count: prefixLength)
        let tensor = TensorData(floats: [Float](repeating: 0, count: count), shape: [count])
        try TorchFile.save(.tensor(tensor, isParameter: false, requiresGrad: false), to: scratch, prefix: prefix)
        let data = [UInt8](try Data(contentsOf: scratch))
        try? FileManager.default.removeItem(at: scratch)
        func u16(_ o: Int) -> Int { Int(data[o]) | Int(data[o + 1]) << 8 }
        func u32(_ o: Int) -> Int { u16(o) | u16(o + 2) << 16 }
        var prefixOffsets: [Int] = []
        var crcOffsets: [Int] = []
        var payloadOffset = -1
        let storageName = Array("\(prefix)/data/0".utf8)
        var o = 0
        while o + 4 <= data.count {
            let signature = u32(o)
            if signature == 0x0403_4B50 {  // local file header
                let nameLength = u16(o + 26), extraLength = u16(o + 28), size = u32(o + 18)
                guard o + 30 + nameLength <= data.count, u16(o + 8) == 0 else { return nil }  // stored entries only
                let name = Array(data[(o + 30)..<(o + 30 + nameLength)])
                guard name.starts(with: Array(prefix.utf8)) else { return nil }
                prefixOffsets.append(o + 30)
                let payload = o + 30 + nameLength + extraLength
                if name == storageName {
                    guard size == count * 4 else { return nil }
                    payloadOffset = payload
                    crcOffsets.append(o + 14)
                }
                o = payload + size
            } else if signature == 0x0201_4B50 {  // central directory entry
                let nameLength = u16(o + 28), extraLength = u16(o + 30), commentLength = u16(o + 32)
                guard o + 46 + nameLength <= data.count else { return nil }
                let name = Array(data[(o + 46)..<(o + 46 + nameLength)])
                guard name.starts(with: Array(prefix.utf8)) else { return nil }
                prefixOffsets.append(o + 46)
                if name == storageName { crcOffsets.append(o + 16) }
                o += 46 + nameLength + extraLength + commentLength
            } else {
                break  // end of central directory records (zip64 or classic): nothing to patch there
            }
        }
        guard payloadOffset >= 0, crcOffsets.count == 2 else { return nil }
        self.bytes = data
        self.prefixOffsets = prefixOffsets
        self.prefixLength = prefixLength
        self.payloadOffset = payloadOffset
        self.payloadLength = count * 4
        self.crcOffsets = crcOffsets
    }

    /// The archive bytes for `values` under `prefix` (which must have the template's prefix length).
    mutating func archive(values: [Float], prefix: String) -> [UInt8] {
        let prefixBytes = Array(prefix.utf8)
        precondition(prefixBytes.count == prefixLength && values.count * 4 == payloadLength, "template misuse")
        bytes.withUnsafeMutableBufferPointer { out in
            for offset in prefixOffsets {
                for i in 0..<prefixBytes.count { out[offset + i] = prefixBytes[i] }
            }
            values.withUnsafeBytes { raw in
                for i in 0..<payloadLength { out[payloadOffset + i] = raw[i] }  // little-endian host
            }
            let crc = CRC32.checksum(UnsafeBufferPointer(rebasing: out[payloadOffset..<(payloadOffset + payloadLength)]))
            for offset in crcOffsets {
                out[offset] = UInt8(crc & 0xFF)
                out[offset + 1] = UInt8((crc >> 8) & 0xFF)
                out[offset + 2] = UInt8((crc >> 16) & 0xFF)
                out[offset + 3] = UInt8(crc >> 24)
            }
        }
        return bytes
    }

    /// The archive prefix `TorchFile.save` uses by default for a file name (its stem, as torch does).
    static func prefix(forFileName name: String) -> String {
        let stem = (name as NSString).deletingPathExtension
        let safe = String(stem.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" }.prefix(64))
        return safe.isEmpty ? "archive" : safe
    }
}

/// CRC-32 (IEEE 802.3, as ZIP uses), table-driven.
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n -> UInt32 in
        var c = UInt32(n)
        for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// The CRC-32 of `bytes`.
    static func checksum(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        table.withUnsafeBufferPointer { t in
            for b in bytes { c = t[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
        }
        return c ^ 0xFFFF_FFFF
    }
}

/// Writes `bytes` to `path` with plain POSIX calls: Foundation's `Data.write` syncs every file to disk,
/// which makes writing ~100k small embedding files I/O-bound. A crash mid-generation leaves a partial world
/// that the next run overwrites.
func writeFileUnsynced(_ bytes: [UInt8], to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw SimWorldError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var written = 0
    try bytes.withUnsafeBytes { raw in
        while written < raw.count {
            let n = write(fd, raw.baseAddress! + written, raw.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw SimWorldError.writeFailed(path: path, reason: String(cString: strerror(errno)))
            }
            written += n
        }
    }
}
