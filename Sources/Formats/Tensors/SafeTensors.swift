// safetensors files: an 8-byte little-endian header length, a JSON header, then the raw tensor bytes.
import Foundation

/// Reads and writes the safetensors format (https://huggingface.co/docs/safetensors).
public enum SafeTensors {
    /// The format's dtype codes.
    static let codes: [DType: String] = [
        .float32: "F32", .float16: "F16", .bfloat16: "BF16", .float64: "F64", .int64: "I64",
        .int32: "I32", .int16: "I16", .int8: "I8", .uint8: "U8", .bool: "BOOL",
    ]
    static let dtypes: [String: DType] = Dictionary(uniqueKeysWithValues: codes.map { ($1, $0) })

    /// The largest header accepted (the reference implementation's limit is 100 MB).
    static let maxHeaderSize = 100_000_000

    /// Reads every tensor of a safetensors file, in the order of their data in the file.
    ///
    /// The file is memory-mapped; only the header is parsed up front, and each tensor's bytes are copied once.
    /// - Throws: `FormatError` naming the file when the header is malformed or a tensor lies outside the data.
    public static func read(_ url: URL) throws -> [(name: String, tensor: TensorData)] {
        try readWithMetadata(url).tensors
    }

    /// Reads every tensor and the `__metadata__` string map of a safetensors file.
    public static func readWithMetadata(_ url: URL) throws -> (tensors: [(name: String, tensor: TensorData)], metadata: [String: String]) {
        let data = try mapFile(url)
        return try parse(data, path: url.path)
    }

    /// The bytes of a safetensors file with `tensors` and `metadata` (an HTTP body, for example).
    /// - Parameter name: names the bytes in error messages.
    public static func encoded(_ tensors: [(name: String, tensor: TensorData)], metadata: [String: String] = [:], name: String) throws -> [UInt8] {
        try encode(tensors, metadata: metadata, path: name)
    }

    /// Parses safetensors bytes received from elsewhere (an HTTP body, for example).
    /// - Parameter name: names the bytes in error messages.
    public static func decoded(_ data: Data, name: String) throws -> (tensors: [(name: String, tensor: TensorData)], metadata: [String: String]) {
        try parse(data, path: name)
    }

    /// Parses safetensors bytes (`path` names them in errors).
    static func parse(_ data: Data, path: String) throws -> (tensors: [(name: String, tensor: TensorData)], metadata: [String: String]) {
        var reader = ByteReader(data, path: path)
        let headerLength = try reader.u64()
        guard headerLength <= UInt64(reader.remaining), headerLength <= UInt64(maxHeaderSize) else {
            throw FormatError.corrupt(path: path, reason: "header length \(headerLength) exceeds the file (\(data.count) bytes)")
        }
        let headerBytes = try reader.bytes(Int(headerLength), "header")
        let header = try JSONValue.parse(headerBytes, path: path, maxDepth: 8)
        guard let object = header.objectValue else { throw FormatError.corrupt(path: path, reason: "header is not a JSON object") }
        let dataStart = 8 + Int(headerLength)
        let dataLength = data.count - dataStart
        var metadata: [String: String] = [:]
        var entries: [(name: String, dtype: DType, shape: [Int], begin: Int, end: Int)] = []
        for (name, value) in object {
            if name == "__metadata__" {
                guard let members = value.objectValue else { throw FormatError.corrupt(path: path, reason: "__metadata__ is not an object") }
                for (k, v) in members {
                    guard let s = v.stringValue else { throw FormatError.corrupt(path: path, reason: "__metadata__ value '\(k)' is not a string") }
                    metadata[k] = s
                }
                continue
            }
            func bad(_ reason: String) -> FormatError { .corrupt(path: path, reason: "tensor '\(name)': \(reason)") }
            guard let info = value.objectValue else { throw bad("entry is not an object") }
            guard let code = info["dtype"]?.stringValue else { throw bad("missing dtype") }
            guard let dtype = dtypes[code] else {
                throw FormatError.unsupported(path: path, reason: "tensor '\(name)' has dtype \(code)")
            }
            guard let dims = info["shape"]?.arrayValue else { throw bad("missing shape") }
            let shape = try dims.map { d -> Int in
                guard let n = d.intValue, n >= 0 else { throw bad("invalid dimension \(d)") }
                return n
            }
            guard let offsets = info["data_offsets"]?.arrayValue, offsets.count == 2,
                let begin = offsets[0].intValue, let end = offsets[1].intValue
            else { throw bad("missing data_offsets") }
            guard begin >= 0, begin <= end, end <= dataLength else {
                throw bad("data_offsets [\(begin), \(end)] outside the \(dataLength) data bytes")
            }
            guard let count = TensorData.checkedElementCount(shape) else { throw bad("shape \(shape) overflows") }
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size)
            guard !overflow, byteCount == end - begin else {
                throw bad("shape \(shape) of \(code) does not match \(end - begin) bytes")
            }
            entries.append((name, dtype, shape, begin, end))
        }
        entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
        let tensors = entries.map { e in
            (name: e.name, tensor: TensorData(dtype: e.dtype, shape: e.shape, bytes: data.copiedBytes((dataStart + e.begin)..<(dataStart + e.end))))
        }
        return (tensors, metadata)
    }

    /// Writes tensors (in the given order) and string metadata to a safetensors file.
    ///
    /// The header is padded with spaces to a multiple of 8 bytes so the data is aligned.
    /// - Throws: `FormatError.invalidValue` for duplicate or reserved names, `FormatError.io` when writing fails.
    public static func write(_ tensors: [(name: String, tensor: TensorData)], metadata: [String: String] = [:], to url: URL) throws {
        try writeFile(encode(tensors, metadata: metadata, path: url.path), to: url)
    }

    /// The bytes of a safetensors file.
    static func encode(_ tensors: [(name: String, tensor: TensorData)], metadata: [String: String], path: String) throws -> [UInt8] {
        var out = try header(tensors.map { ($0.name, $0.tensor.dtype, $0.tensor.shape) }, metadata: metadata, path: path)
        out.reserveCapacity(out.count + tensors.reduce(0) { $0 + $1.tensor.bytes.count })
        for (_, tensor) in tensors { out += tensor.bytes }
        return out
    }

    /// The first bytes of a safetensors file holding `arrays` in the given order: the 8-byte little-endian header
    /// length and the JSON header, padded with spaces to a multiple of 8 bytes. The one writer of headers (`encode`
    /// and `StreamWriter` both call it, so both write the same bytes).
    /// - Throws: `FormatError.invalidValue` for duplicate or reserved names.
    static func header(_ arrays: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String], path: String) throws -> [UInt8] {
        var header: [String: JSONValue] = [:]
        if !metadata.isEmpty { header["__metadata__"] = .object(metadata.mapValues { .string($0) }) }
        var offset = 0
        for (name, dtype, shape) in arrays {
            guard name != "__metadata__", header[name] == nil else {
                throw FormatError.invalidValue(path: path, reason: "duplicate or reserved tensor name '\(name)'")
            }
            let byteCount = TensorData.elementCount(shape) * dtype.size
            header[name] = .object([
                "dtype": .string(codes[dtype]!),
                "shape": .array(shape.map { .number(Double($0)) }),
                "data_offsets": .array([.number(Double(offset)), .number(Double(offset + byteCount))]),
            ])
            offset += byteCount
        }
        var json = Array(JSONValue.object(header).serialized().utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var out = [UInt8]()
        out.appendLE(UInt64(json.count))
        out += json
        return out
    }
}

extension SafeTensors {
    /// A safetensors file written array after array without holding its bytes: the header (names, shapes, offsets)
    /// is fixed at creation, then the caller appends exactly the declared bytes in the declared order, and `finish`
    /// replaces the target atomically (`AtomicFile.Writer`). The bytes equal `SafeTensors.write` of the same arrays.
    ///
    /// For files of hundreds of megabytes (packed samples): no second copy of the data in memory, and the writes go
    /// through one reused buffer. Thread-confined.
    public final class StreamWriter {
        private let file: AtomicFile.Writer
        private let path: String
        private let expected: Int
        private var written = 0

        /// Creates the temporary file and writes the header.
        /// - Throws: `FormatError.invalidValue` for duplicate or reserved names, `FormatError.io` when the file cannot
        ///   be created or written.
        public init(url: URL, arrays: [(name: String, dtype: DType, shape: [Int])], metadata: [String: String] = [:]) throws {
            path = url.path
            let head = try SafeTensors.header(arrays, metadata: metadata, path: url.path)
            expected = arrays.reduce(0) { $0 + TensorData.elementCount($1.shape) * $1.dtype.size }
            do {
                file = try AtomicFile.Writer(url: url)
                try head.withUnsafeBytes { try file.append($0) }
            } catch let error as FormatError {
                throw error
            } catch {
                throw FormatError.io(path: url.path, reason: describeIOError(error))
            }
        }

        /// Appends raw array bytes (little-endian elements).
        /// - Throws: `FormatError.io` when writing fails.
        public func append(_ bytes: UnsafeRawBufferPointer) throws {
            precondition(written + bytes.count <= expected, "\(path): more bytes appended than the header declares")
            do { try file.append(bytes) } catch { throw FormatError.io(path: path, reason: describeIOError(error)) }
            written += bytes.count
        }

        /// Appends float32 elements.
        public func append(floats: [Float]) throws {
            try floats.withUnsafeBytes { try append($0) }  // x86-64 and arm64 are little-endian
        }

        /// Appends int64 elements.
        public func append(int64s: [Int64]) throws {
            try int64s.withUnsafeBytes { try append($0) }
        }

        /// Appends `count` zero bytes.
        public func appendZeros(_ count: Int) throws {
            var left = count
            while left > 0 {
                let n = min(left, Self.zeros.count)
                try Self.zeros.withUnsafeBytes { try append(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
                left -= n
            }
        }

        private static let zeros = [UInt8](repeating: 0, count: 64 << 10)

        /// Flushes, syncs and renames the file into place.
        /// - Precondition: every declared byte was appended.
        /// - Throws: `FormatError.io` when a step fails (the temporary file is removed).
        public func finish() throws {
            precondition(written == expected, "\(path): \(written) of the \(expected) declared bytes appended")
            do { try file.commit() } catch { throw FormatError.io(path: path, reason: describeIOError(error)) }
        }
    }
}
