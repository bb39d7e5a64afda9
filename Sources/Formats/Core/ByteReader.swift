// Bounds-checked little-endian reading over a byte buffer: every read validates against the remaining length first.
import Foundation

/// A cursor over raw bytes that throws `FormatError.corrupt` instead of reading past the end.
struct ByteReader {
    /// The bytes being read (often a memory-mapped file or a slice of one).
    let data: Data
    /// The offset of the next byte, relative to `data.startIndex`.
    private(set) var offset: Int
    /// The file the bytes come from, for error messages.
    let path: String

    init(_ data: Data, path: String, offset: Int = 0) {
        self.data = data
        self.offset = offset
        self.path = path
    }

    /// Bytes left after the cursor.
    var remaining: Int { data.count - offset }

    /// True when the cursor is at the end.
    var isAtEnd: Bool { offset >= data.count }

    func fail(_ reason: String) -> FormatError { .corrupt(path: path, reason: reason) }

    /// Ensures `count` more bytes exist.
    func need(_ count: Int, _ what: @autoclosure () -> String) throws {
        guard count >= 0, count <= remaining else {
            throw fail("truncated \(what()) (needs \(count) bytes at offset \(offset), \(max(0, remaining)) left)")
        }
    }

    mutating func seek(to newOffset: Int) throws {
        guard newOffset >= 0, newOffset <= data.count else { throw fail("offset \(newOffset) outside the file") }
        offset = newOffset
    }

    mutating func skip(_ count: Int) throws {
        try need(count, "field")
        offset += count
    }

    mutating func u8() throws -> UInt8 {
        try need(1, "byte")
        let v = data[data.startIndex + offset]
        offset += 1
        return v
    }

    /// An unsigned little-endian integer of `width` bytes (≤ 8).
    mutating func uintLE(_ width: Int) throws -> UInt64 {
        try need(width, "integer")
        var v: UInt64 = 0
        let base = data.startIndex + offset
        for i in 0..<width { v |= UInt64(data[base + i]) << (8 * UInt64(i)) }
        offset += width
        return v
    }

    mutating func u16() throws -> UInt16 { UInt16(try uintLE(2)) }
    mutating func u32() throws -> UInt32 { UInt32(try uintLE(4)) }
    mutating func u64() throws -> UInt64 { try uintLE(8) }
    mutating func i32() throws -> Int32 { Int32(bitPattern: try u32()) }
    mutating func i64() throws -> Int64 { Int64(bitPattern: try u64()) }

    /// `count` bytes as a slice of the underlying data (no copy).
    mutating func bytes(_ count: Int, _ what: @autoclosure () -> String = "data") throws -> Data {
        try need(count, what())
        let base = data.startIndex + offset
        offset += count
        return data[base..<(base + count)]
    }

    /// `count` bytes copied into an array.
    mutating func array(_ count: Int, _ what: @autoclosure () -> String = "data") throws -> [UInt8] {
        try need(count, what())
        defer { offset += count }
        return data.copiedBytes(offset..<(offset + count))
    }

    /// Bytes up to (not including) the next `terminator`, consuming the terminator.
    mutating func line(terminator: UInt8 = 0x0A, limit: Int = 1 << 16) throws -> Data {
        let base = data.startIndex + offset
        let end = min(data.count, offset + limit + 1)
        var i = offset
        while i < end {
            if data[data.startIndex + i] == terminator {
                let slice = data[base..<(data.startIndex + i)]
                offset = i + 1
                return slice
            }
            i += 1
        }
        throw fail("unterminated line at offset \(offset)")
    }
}

/// Appends little-endian integers to a byte array.
extension Array where Element == UInt8 {
    mutating func appendLE<T: FixedWidthInteger>(_ value: T) {
        var v = value.littleEndian
        Swift.withUnsafeBytes(of: &v) { append(contentsOf: $0) }
    }
}

/// Memory-maps a file for reading, converting failures into `FormatError.io`.
func mapFile(_ url: URL) throws -> Data {
    do {
        return try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw FormatError.io(path: url.path, reason: describeIOError(error))
    }
}

/// Writes `bytes` atomically (temporary file + rename), converting failures into `FormatError.io`.
func writeFile(_ bytes: [UInt8], to url: URL) throws {
    do {
        try bytes.withUnsafeBytes { raw in
            guard let base = raw.baseAddress else { return try AtomicFile.write(Data(), to: url) }
            // No copy: the array outlives the write.
            try AtomicFile.write(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count, deallocator: .none), to: url)
        }
    } catch {
        throw FormatError.io(path: url.path, reason: describeIOError(error))
    }
}

/// A short reason for a Foundation file error.
func describeIOError(_ error: Error) -> String {
    let ns = error as NSError
    if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain,
        let code = POSIXErrorCode(rawValue: Int32(underlying.code))
    {
        return String(describing: POSIXError(code)).replacingOccurrences(of: "POSIXError", with: "")
    }
    if ns.domain == NSCocoaErrorDomain {
        switch ns.code {
        case NSFileReadNoSuchFileError, NSFileNoSuchFileError: return "no such file"
        case NSFileReadNoPermissionError, NSFileWriteNoPermissionError: return "permission denied"
        default: break
        }
    }
    return ns.localizedDescription
}
