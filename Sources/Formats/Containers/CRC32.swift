// CRC-32 (IEEE 802.3, as ZIP uses it), slicing-by-8: about 1–2 GB/s, so checking every record stays cheap.
import Foundation


/// The ZIP CRC-32 of byte buffers.
enum CRC32 {
    /// Eight 256-entry tables: table[0] is the classic byte table, table[k] advances k further bytes.
    static let tables: [[UInt32]] = {
        var t = [[UInt32]](repeating: [UInt32](repeating: 0, count: 256), count: 8)
        for i in 0..<256 {
            var c = UInt32(i)
            for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
            t[0][i] = c
        }
        for i in 0..<256 {
            for k in 1..<8 { t[k][i] = (t[k - 1][i] >> 8) ^ t[0][Int(t[k - 1][i] & 0xFF)] }
        }
        return t
    }()

    /// The eight tables in one contiguous buffer.
    static let flat: [UInt32] = tables.flatMap { $0 }

    /// The CRC-32 of `bytes`, continuing from `crc` (0 to start).
    static func checksum(_ bytes: UnsafeRawBufferPointer, crc: UInt32 = 0) -> UInt32 {
        var c = ~crc
        let n = bytes.count
        guard n > 0, let base = bytes.baseAddress else { return crc }
        return flat.withUnsafeBufferPointer { t -> UInt32 in
            var i = 0
            while i + 8 <= n {
                let lo = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i, as: UInt32.self)) ^ c
                let hi = UInt32(littleEndian: base.loadUnaligned(fromByteOffset: i + 4, as: UInt32.self))
                c = t[7 * 256 + Int(lo & 0xFF)] ^ t[6 * 256 + Int((lo >> 8) & 0xFF)]
                    ^ t[5 * 256 + Int((lo >> 16) & 0xFF)] ^ t[4 * 256 + Int(lo >> 24)]
                    ^ t[3 * 256 + Int(hi & 0xFF)] ^ t[2 * 256 + Int((hi >> 8) & 0xFF)]
                    ^ t[1 * 256 + Int((hi >> 16) & 0xFF)] ^ t[Int(hi >> 24)]
                i += 8
            }
            while i < n {
                c = t[Int((c ^ UInt32(base.load(fromByteOffset: i, as: UInt8.self))) & 0xFF)] ^ (c >> 8)
                i += 1
            }
            return ~c
        }
    }

    /// The CRC-32 of an array.
    static func checksum(_ bytes: [UInt8]) -> UInt32 { bytes.withUnsafeBytes { checksum($0) } }
}

extension Data {
    /// The bytes in `range` (offsets from `startIndex`) copied into an array with one memcpy.
    func copiedBytes(_ range: Range<Int>) -> [UInt8] {
        withUnsafeBytes { raw in
            makeLargeBuffer(count: range.count) { dst in
                if let src = raw.baseAddress { dst.copyMemory(from: src + range.lowerBound, byteCount: range.count) }
            }
        }
    }
}
