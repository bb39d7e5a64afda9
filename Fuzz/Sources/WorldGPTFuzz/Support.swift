// What the harnesses share: a per-process scratch folder, inputs as files for URL-only readers, inputs that hold
// several files, and a minimal stored/deflated ZIP builder (the Formats writer is internal).
import Foundation

/// The per-process scratch folder (removed at exit).
enum Scratch {
    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("worldgpt-fuzz-\(getpid())", isDirectory: true)
        try? FileManager.default.removeItem(at: url)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: Scratch.folder) }
        return url
    }()

    /// Writes `data` to `name` in the scratch folder (replacing it) and returns its URL.
    static func file(_ name: String, _ data: Data) -> URL {
        let url = folder.appendingPathComponent(name)
        FileManager.default.createFile(atPath: url.path, contents: data)
        return url
    }

    /// Removes `name` from the scratch folder if it exists.
    static func remove(_ name: String) {
        unlink(folder.appendingPathComponent(name).path)
    }
}

/// Inputs that stand for several files: the parts are joined by `separator` (a seed is written the same way, so
/// libFuzzer's mutations and cross-overs keep the structure most of the time). A missing part is an absent file.
enum MultiFile {
    static let separator = Data("\n@@WGFUZZ-NEXT-FILE@@\n".utf8)

    static func split(_ data: Data, parts: Int) -> [Data?] {
        var out: [Data?] = []
        var rest = data[...]
        while out.count < parts - 1, let range = rest.range(of: separator) {
            out.append(Data(rest[rest.startIndex..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        out.append(Data(rest))
        return out + [Data?](repeating: nil, count: parts - out.count)
    }

    static func join(_ parts: [Data]) -> Data {
        var out = Data()
        for (i, part) in parts.enumerated() {
            if i > 0 { out.append(separator) }
            out.append(part)
        }
        return out
    }
}

/// CRC-32 (ZIP's polynomial), for the archives the harnesses build around fuzzed payloads.
enum ZipCRC {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    static func checksum(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in data { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return ~crc
    }
}

/// Builds a ZIP archive in memory (no zip64, no alignment): enough to wrap a fuzzed pickle or deflate stream so the
/// reader under test gets past the container.
struct ZipBuilder {
    struct Entry {
        var name: String
        var payload: Data
        var method: UInt16 = 0
        var crc: UInt32? = nil
        var uncompressedSize: Int? = nil
    }

    private(set) var entries: [Entry] = []

    mutating func add(_ entry: Entry) { entries.append(entry) }

    func archive() -> Data {
        var out = Data(), central = Data()
        func u16(_ v: UInt16, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        func u32(_ v: UInt32, _ d: inout Data) { withUnsafeBytes(of: v.littleEndian) { d.append(contentsOf: $0) } }
        for entry in entries {
            let name = Data(entry.name.utf8)
            let crc = entry.crc ?? ZipCRC.checksum(entry.payload)
            let size = UInt32(truncatingIfNeeded: entry.uncompressedSize ?? entry.payload.count)
            let offset = UInt32(out.count)
            u32(0x0403_4B50, &out); u16(20, &out); u16(0, &out); u16(entry.method, &out); u32(0, &out)
            u32(crc, &out); u32(UInt32(entry.payload.count), &out); u32(size, &out)
            u16(UInt16(name.count), &out); u16(0, &out)
            out.append(name); out.append(entry.payload)
            u32(0x0201_4B50, &central); u16(20, &central); u16(20, &central); u16(0, &central); u16(entry.method, &central)
            u32(0, &central); u32(crc, &central); u32(UInt32(entry.payload.count), &central); u32(size, &central)
            u16(UInt16(name.count), &central); u16(0, &central); u16(0, &central); u16(0, &central); u16(0, &central)
            u32(0, &central); u32(offset, &central)
            central.append(name)
        }
        let centralOffset = UInt32(out.count)
        out.append(central)
        u32(0x0605_4B50, &out); u16(0, &out); u16(0, &out); u16(UInt16(entries.count), &out); u16(UInt16(entries.count), &out)
        u32(UInt32(central.count), &out); u32(centralOffset, &out); u16(0, &out)
        return out
    }
}

extension Data {
    /// The little-endian UInt32 at `offset` from the start (0 past the end).
    func littleEndianUInt32(at offset: Int) -> UInt32 {
        guard count >= offset + 4 else { return 0 }
        return (0..<4).reduce(UInt32(0)) { $0 | UInt32(self[startIndex + offset + $1]) << (8 * UInt32($1)) }
    }
}
