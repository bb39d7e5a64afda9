// Little-endian binary writer/reader for index files (layouts in docs/memory.md); writes go to a temporary
// file renamed into place, so a crash never leaves a half-written index under the final name.
import Foundation

/// Accumulates an index file and writes it atomically.
struct IndexFileWriter {
    private let url: URL
    private let tmp: URL
    private let handle: FileHandle

    init(url: URL) throws {
        self.url = url
        tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).tmp-\(getpid())")
        guard FileManager.default.createFile(atPath: tmp.path, contents: nil) else {
            throw RetrievalError.io(path: url.path, reason: "cannot create \(tmp.path)")
        }
        do { handle = try FileHandle(forWritingTo: tmp) } catch {
            throw RetrievalError.io(path: url.path, reason: "cannot open for writing: \(error.localizedDescription)")
        }
    }

    func write(bytes: UnsafeRawBufferPointer) throws {
        guard bytes.count > 0 else { return }
        // 64 MiB slices keep the Data wrapper cheap (no copy) and the syscalls large.
        var offset = 0
        while offset < bytes.count {
            let len = min(64 << 20, bytes.count - offset)
            let data = Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: bytes.baseAddress! + offset), count: len, deallocator: .none)
            do { try handle.write(contentsOf: data) } catch {
                throw RetrievalError.io(path: url.path, reason: "write failed: \(error.localizedDescription)")
            }
            offset += len
        }
    }

    func write<T: FixedWidthInteger>(_ value: T) throws {
        var le = value.littleEndian
        try withUnsafeBytes(of: &le) { try write(bytes: $0) }
    }

    func write<T>(array: [T]) throws {
        try array.withUnsafeBytes { try write(bytes: $0) }  // x86-64/arm64 are little-endian
    }

    func finish() throws {
        do {
            try handle.synchronize()
            try handle.close()
            if FileManager.default.fileExists(atPath: url.path) { try FileManager.default.removeItem(at: url) }
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw RetrievalError.io(path: url.path, reason: "cannot finish writing: \(error.localizedDescription)")
        }
    }
}

/// Reads an index file (memory-mapped) with bounds checks that name the file.
struct IndexFileReader {
    let path: String
    let data: Data
    private(set) var offset = 0

    init(url: URL) throws {
        path = url.path
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw RetrievalError.io(path: url.path, reason: "cannot read: \(error.localizedDescription)")
        }
    }

    var remaining: Int { data.count - offset }

    mutating func expectMagic(_ magic: String) throws {
        let bytes = Array(magic.utf8)
        guard remaining >= bytes.count, Array(data[offset..<(offset + bytes.count)]) == bytes else {
            throw RetrievalError.corruptIndexFile(path: path, reason: "missing magic \(magic)")
        }
        offset += bytes.count
    }

    mutating func read<T: FixedWidthInteger>(_: T.Type) throws -> T {
        let size = MemoryLayout<T>.size
        guard remaining >= size else { throw RetrievalError.corruptIndexFile(path: path, reason: "truncated at byte \(offset)") }
        var value = T.zero
        withUnsafeMutableBytes(of: &value) { dst in
            data.withUnsafeBytes { src in dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: src[offset..<(offset + size)])) }
        }
        offset += size
        return T(littleEndian: value)
    }

    mutating func readArray<T>(_: T.Type, count: Int) throws -> [T] {
        let size = MemoryLayout<T>.stride
        guard count >= 0, count <= remaining / max(size, 1) else {
            throw RetrievalError.corruptIndexFile(path: path, reason: "truncated: \(count) elements of \(size) bytes expected at byte \(offset), \(remaining) bytes left")
        }
        let start = offset
        let result = [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            data.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[start..<(start + count * size)]))
            }
            initialized = count
        }
        offset += count * size
        return result
    }
}

extension FlatIndex {
    static let magic = "WGFLAT01"

    /// Writes the index: magic, dim, count, ids, vectors (see docs/memory.md).
    public func save(to url: URL) throws {
        let writer = try IndexFileWriter(url: url)
        try Array(Self.magic.utf8).withUnsafeBytes { try writer.write(bytes: $0) }
        try writer.write(UInt32(dim))
        try writer.write(UInt32(0))
        try writer.write(UInt64(count))
        try writer.write(array: ids)
        try writer.write(array: vectors)
        try writer.finish()
    }

    /// Reads an index written by `save(to:)`.
    /// - Throws: `RetrievalError.corruptIndexFile` naming the file when it is foreign, truncated or inconsistent.
    public static func load(from url: URL, threads: Int = ProcessInfo.processInfo.activeProcessorCount) throws -> FlatIndex {
        var reader = try IndexFileReader(url: url)
        try reader.expectMagic(magic)
        let dim = Int(try reader.read(UInt32.self))
        _ = try reader.read(UInt32.self)
        let count = try reader.read(UInt64.self)
        guard dim > 0, dim <= 1 << 20, count <= UInt64(Int32.max) else {
            throw RetrievalError.corruptIndexFile(path: url.path, reason: "implausible dim \(dim) / count \(count)")
        }
        let n = Int(count)
        guard reader.remaining == n * 8 + n * dim * 4 else {
            throw RetrievalError.corruptIndexFile(path: url.path, reason: "size mismatch: \(reader.remaining) payload bytes for \(n) rows of dim \(dim)")
        }
        let ids = try reader.readArray(Int64.self, count: n)
        let vectors = try reader.readArray(Float.self, count: n * dim)
        let index = FlatIndex(dim: dim, threads: threads)
        do { try index.add(ids: ids, vectors: vectors) } catch {
            throw RetrievalError.corruptIndexFile(path: url.path, reason: "\(error)")
        }
        return index
    }
}
