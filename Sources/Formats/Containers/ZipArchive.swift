// A small ZIP reader (stored and deflated entries, zip64) over a memory-mapped file, and a ZIP writer
// (stored entries, 64-byte aligned payloads as torch.save writes them). Used by .pt and .npz.
import Foundation

/// One entry of a ZIP archive's central directory.
struct ZipEntry {
    var name: String
    var method: UInt16
    var crc32: UInt32
    var compressedSize: Int
    var uncompressedSize: Int
    var localHeaderOffset: Int
}

/// A read-only view of a ZIP archive held in memory (usually memory-mapped); every offset and size is
/// checked against the file before use.
struct ZipReader {
    let data: Data
    let path: String
    /// Entries in central-directory order.
    private(set) var entries: [ZipEntry] = []
    private var index: [String: Int] = [:]

    /// True when `data` starts like a ZIP file (local header or empty-archive end record).
    static func looksLikeZip(_ data: Data) -> Bool {
        guard data.count >= 4 else { return false }
        let s = data.startIndex
        return data[s] == 0x50 && data[s + 1] == 0x4B && (data[s + 2] == 3 || data[s + 2] == 5)
    }

    init(data: Data, path: String) throws {
        self.data = data
        self.path = path
        try readCentralDirectory()
    }

    private func fail(_ reason: String) -> FormatError { .corrupt(path: path, reason: reason) }

    private mutating func readCentralDirectory() throws {
        let size = data.count
        guard size >= 22 else { throw fail("too short for a ZIP archive (\(size) bytes)") }
        // The end-of-central-directory record is in the last 22 + 65535 bytes.
        var eocd = -1
        var i = size - 22
        let lowest = max(0, size - 22 - 65535)
        let base = data.startIndex
        while i >= lowest {
            if data[base + i] == 0x50, data[base + i + 1] == 0x4B, data[base + i + 2] == 5, data[base + i + 3] == 6 {
                eocd = i
                break
            }
            i -= 1
        }
        guard eocd >= 0 else { throw fail("ZIP central directory not found (file truncated?)") }
        var r = ByteReader(data, path: path, offset: eocd + 4)
        _ = try r.u16()  // disk number
        _ = try r.u16()  // disk with central directory
        _ = try r.u16()  // entries on this disk
        var count = Int(try r.u16())
        var cdSize = Int(try r.u32())
        var cdOffset = Int(try r.u32())
        if count == 0xFFFF || cdSize == 0xFFFF_FFFF || cdOffset == 0xFFFF_FFFF {
            // zip64: a locator 20 bytes before the end record points at the zip64 end record.
            guard eocd >= 20 else { throw fail("zip64 locator missing") }
            var loc = ByteReader(data, path: path, offset: eocd - 20)
            guard try loc.u32() == 0x0706_4B50 else { throw fail("zip64 locator missing") }
            _ = try loc.u32()
            let recordOffset = try loc.u64()
            guard recordOffset < UInt64(size) else { throw fail("zip64 end record offset outside the file") }
            var rec = ByteReader(data, path: path, offset: Int(recordOffset))
            guard try rec.u32() == 0x0606_4B50 else { throw fail("bad zip64 end record signature") }
            try rec.skip(8 + 2 + 2 + 4 + 4 + 8)
            let c = try rec.u64(), s = try rec.u64(), o = try rec.u64()
            guard c < UInt64(size), s <= UInt64(size), o <= UInt64(size) else { throw fail("zip64 end record out of range") }
            count = Int(c); cdSize = Int(s); cdOffset = Int(o)
        }
        guard cdOffset <= size, cdSize <= size - cdOffset else {
            throw fail("central directory (offset \(cdOffset), \(cdSize) bytes) outside the file")
        }
        // Each central entry is at least 46 bytes: bounds the count before reserving.
        guard count <= cdSize / 46 + 1 else { throw fail("central directory claims \(count) entries in \(cdSize) bytes") }
        var cd = ByteReader(data, path: path, offset: cdOffset)
        entries.reserveCapacity(count)
        for n in 0..<count {
            guard try cd.u32() == 0x0201_4B50 else { throw fail("bad central directory entry \(n)") }
            try cd.skip(4)  // versions
            let flags = try cd.u16()
            let method = try cd.u16()
            try cd.skip(4)  // time, date
            let crc = try cd.u32()
            var compressed = UInt64(try cd.u32())
            var uncompressed = UInt64(try cd.u32())
            let nameLength = Int(try cd.u16())
            let extraLength = Int(try cd.u16())
            let commentLength = Int(try cd.u16())
            try cd.skip(8)  // disk, internal and external attributes
            var localOffset = UInt64(try cd.u32())
            let nameBytes = try cd.bytes(nameLength, "entry name")
            let extra = try cd.bytes(extraLength, "extra field")
            try cd.skip(commentLength)
            if flags & 1 != 0 { throw FormatError.unsupported(path: path, reason: "encrypted ZIP entry") }
            // zip64 extended information: the fields that overflowed, in order.
            if compressed == 0xFFFF_FFFF || uncompressed == 0xFFFF_FFFF || localOffset == 0xFFFF_FFFF {
                var x = ByteReader(extra, path: path)
                while x.remaining >= 4 {
                    let tag = try x.u16(), len = Int(try x.u16())
                    var field = ByteReader(try x.bytes(len, "zip64 extra"), path: path)
                    guard tag == 1 else { continue }
                    if uncompressed == 0xFFFF_FFFF { uncompressed = try field.u64() }
                    if compressed == 0xFFFF_FFFF { compressed = try field.u64() }
                    if localOffset == 0xFFFF_FFFF { localOffset = try field.u64() }
                }
            }
            guard compressed <= UInt64(size), localOffset < UInt64(size), uncompressed <= UInt64(Int.max / 2) else {
                throw fail("entry \(n) sizes or offset outside the file")
            }
            let name = String(decoding: nameBytes, as: UTF8.self)
            entries.append(ZipEntry(name: name, method: method, crc32: crc, compressedSize: Int(compressed),
                                    uncompressedSize: Int(uncompressed), localHeaderOffset: Int(localOffset)))
            index[name] = entries.count - 1
        }
    }

    /// The entry called `name`, if any.
    func entry(_ name: String) -> ZipEntry? { index[name].map { entries[$0] } }

    /// The stored bytes of `entry`, as a slice of the mapped file for stored entries (no copy) and a new
    /// buffer for deflated ones. The CRC-32 is checked.
    func contents(_ entry: ZipEntry) throws -> Data {
        var local = ByteReader(data, path: path, offset: entry.localHeaderOffset)
        guard try local.u32() == 0x0403_4B50 else { throw fail("bad local header for \(entry.name)") }
        try local.skip(22)
        let nameLength = Int(try local.u16()), extraLength = Int(try local.u16())
        try local.skip(nameLength + extraLength)
        let payload = try local.bytes(entry.compressedSize, "contents of \(entry.name)")
        let result: Data
        switch entry.method {
        case 0:
            guard entry.compressedSize == entry.uncompressedSize else {
                throw fail("stored entry \(entry.name) has different compressed and uncompressed sizes")
            }
            result = payload
        case 8:
            // Deflate cannot expand more than ~1032:1; a larger claim is a corrupt (or hostile) header.
            guard entry.uncompressedSize <= entry.compressedSize * 1032 + 1024 else {
                throw fail("\(entry.name) claims \(entry.uncompressedSize) bytes from \(entry.compressedSize) compressed")
            }
            result = try inflate(payload, expected: entry.uncompressedSize, name: entry.name)
        default:
            throw FormatError.unsupported(path: path, reason: "ZIP compression method \(entry.method) in \(entry.name)")
        }
        guard result.withUnsafeBytes({ CRC32.checksum($0) }) == entry.crc32 else { throw fail("CRC-32 mismatch in \(entry.name)") }
        return result
    }

    /// Inflates a deflate stream, refusing to produce more than `expected` bytes.
    private func inflate(_ payload: Data, expected: Int, name: String) throws -> Data {
        var inflater = Inflater([UInt8](payload), limit: expected)
        do { try inflater.run() } catch let failure as Inflater.Failure {
            throw fail("cannot inflate \(name): \(failure)")
        }
        guard inflater.output.count == expected else { throw fail("\(name) inflates to \(inflater.output.count) bytes, expected \(expected)") }
        return Data(inflater.output)
    }
}

/// Builds a ZIP archive in memory with stored (uncompressed) entries whose payloads start on `alignment`-byte
/// boundaries (the padding goes into the local header's extra field, as PyTorch's writer does).
struct ZipWriter {
    private(set) var bytes: [UInt8] = []
    private var central: [UInt8] = []
    private var count = 0
    let alignment: Int
    let path: String

    init(path: String, alignment: Int = 64) {
        self.path = path
        self.alignment = alignment
    }

    /// Reserves room for `byteCount` more archive bytes (avoids regrowing the buffer for large payloads).
    mutating func reserve(_ byteCount: Int) { bytes.reserveCapacity(bytes.count + byteCount) }

    /// Appends a stored entry.
    mutating func add(_ name: String, _ payload: [UInt8]) throws {
        let nameBytes = Array(name.utf8)
        guard nameBytes.count <= 0xFFFF else { throw FormatError.invalidValue(path: path, reason: "ZIP entry name too long") }
        let offset = bytes.count
        guard offset + payload.count + 1024 < 0xFFFF_FFFF else {
            throw FormatError.invalidValue(path: path, reason: "archive larger than 4 GiB (zip64 writing is not supported)")
        }
        let crc = CRC32.checksum(payload)
        // Pad so the payload starts on an alignment boundary: extra field tag 0x4246 ("FB") like torch.
        let headerEnd = offset + 30 + nameBytes.count
        var pad = (alignment - (headerEnd + 4) % alignment) % alignment
        if alignment <= 1 { pad = -4 }
        var local: [UInt8] = []
        local.appendLE(UInt32(0x0403_4B50))
        local.appendLE(UInt16(20))  // version needed
        local.appendLE(UInt16(0))  // flags
        local.appendLE(UInt16(0))  // stored
        local.appendLE(UInt16(0)); local.appendLE(UInt16(0x21))  // time, date (1980-01-01)
        local.appendLE(crc)
        local.appendLE(UInt32(payload.count)); local.appendLE(UInt32(payload.count))
        local.appendLE(UInt16(nameBytes.count))
        local.appendLE(UInt16(pad + 4))
        local += nameBytes
        if pad >= 0 {
            local.appendLE(UInt16(0x4246)); local.appendLE(UInt16(pad))
            local += [UInt8](repeating: 0x5A, count: pad)
        }
        bytes += local
        bytes += payload

        central.appendLE(UInt32(0x0201_4B50))
        central.appendLE(UInt16(20)); central.appendLE(UInt16(20))
        central.appendLE(UInt16(0)); central.appendLE(UInt16(0))
        central.appendLE(UInt16(0)); central.appendLE(UInt16(0x21))
        central.appendLE(crc)
        central.appendLE(UInt32(payload.count)); central.appendLE(UInt32(payload.count))
        central.appendLE(UInt16(nameBytes.count))
        central.appendLE(UInt16(0)); central.appendLE(UInt16(0))  // extra, comment
        central.appendLE(UInt16(0)); central.appendLE(UInt16(0))  // disk, internal attributes
        central.appendLE(UInt32(0))  // external attributes
        central.appendLE(UInt32(offset))
        central += nameBytes
        count += 1
    }

    /// The finished archive: entries, central directory and end record (the writer is spent afterwards).
    mutating func finish() throws -> [UInt8] {
        guard count < 0xFFFF else { throw FormatError.invalidValue(path: path, reason: "more than 65534 ZIP entries") }
        let cdOffset = bytes.count
        var out = bytes
        bytes = []  // `out` now owns the only reference: appending does not copy the payloads
        out += central
        out.appendLE(UInt32(0x0605_4B50))
        out.appendLE(UInt16(0)); out.appendLE(UInt16(0))
        out.appendLE(UInt16(count)); out.appendLE(UInt16(count))
        out.appendLE(UInt32(central.count))
        out.appendLE(UInt32(cdOffset))
        out.appendLE(UInt16(0))
        return out
    }
}
