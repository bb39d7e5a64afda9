// Writing `.pt` files: a protocol-2 pickle with persistent storage ids in the zip layout of torch.save.
import Foundation

extension TorchFile {
    /// Saves `value` as a torch.save zip archive that `torch.load(path, weights_only=True)` accepts.
    ///
    /// Layout: `<prefix>/data.pkl` (protocol-2 pickle), `<prefix>/byteorder` (`little`),
    /// `<prefix>/data/<n>` (one contiguous little-endian storage per tensor), `<prefix>/version` (`3`),
    /// `<prefix>/.format_version`, `<prefix>/.storage_alignment`; payloads are 64-byte aligned.
    /// Dicts are written as plain dicts (insertion-ordered), tuples as tuples, bytes through `_codecs.encode`.
    /// - Parameter prefix: the archive's top folder; by default the file name without extension, as torch does.
    /// - Throws: `FormatError.invalidValue` for values torch cannot hold (e.g. bfloat16 is fine, nested depth > 256
    ///   is not), `FormatError.io` when the file cannot be written.
    public static func save(_ value: TorchValue, to url: URL, prefix: String? = nil) throws {
        try writeFile(archive(value, prefix: prefix ?? defaultPrefix(url), path: url.path), to: url)
    }

    /// The bytes `save` writes.
    static func archive(_ value: TorchValue, prefix: String, path: String) throws -> [UInt8] {
        var writer = PickleWriter(path: path)
        try writer.pickle(value)
        var zip = ZipWriter(path: path, alignment: 64)
        // Payloads plus, per record, a local header, alignment padding and slack for the central directory.
        let records = writer.storages.count + 5
        zip.reserve(writer.output.count + writer.storages.reduce(0) { $0 + $1.count } + records * (3 * prefix.utf8.count + 256))
        try zip.add("\(prefix)/data.pkl", writer.output)
        try zip.add("\(prefix)/.format_version", Array("1".utf8))
        try zip.add("\(prefix)/.storage_alignment", Array("64".utf8))
        try zip.add("\(prefix)/byteorder", Array("little".utf8))
        for (i, storage) in writer.storages.enumerated() {
            try zip.add("\(prefix)/data/\(i)", storage)
        }
        try zip.add("\(prefix)/version", Array("3\n".utf8))
        return try zip.finish()
    }

    /// The file name without extension, restricted to characters safe in a ZIP folder name.
    static func defaultPrefix(_ url: URL) -> String {
        let stem = url.deletingPathExtension().lastPathComponent
        let safe = String(stem.unicodeScalars.filter { CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-" }.prefix(64))
        return safe.isEmpty ? "archive" : safe
    }
}

/// Emits a protocol-2 pickle of a `TorchValue`; tensors become `_rebuild_tensor_v2` calls over persistent storages.
struct PickleWriter {
    let path: String
    private(set) var output: [UInt8] = [0x80, 2]
    /// Storage payloads in key order ("0", "1", ...).
    private(set) var storages: [[UInt8]] = []
    private var globals: [String: Int] = [:]
    private var memoCount = 0

    init(path: String) { self.path = path }

    mutating func pickle(_ value: TorchValue) throws {
        try write(value, depth: 0)
        output.append(0x2E)  // STOP
    }

    private mutating func memoize() -> Int {
        let i = memoCount
        memoCount += 1
        if i < 256 { output += [0x71, UInt8(i)] } else { output.append(0x72); output.appendLE(UInt32(i)) }
        return i
    }

    /// GLOBAL `module name`, memoized so repeated uses are a BINGET.
    private mutating func global(_ module: String, _ name: String) {
        let full = module + "\n" + name + "\n"
        if let i = globals[full] {
            if i < 256 { output += [0x68, UInt8(i)] } else { output.append(0x6A); output.appendLE(UInt32(i)) }
            return
        }
        output.append(0x63)
        output += Array(full.utf8)
        globals[full] = memoize()
    }

    private mutating func string(_ s: String) {
        let bytes = Array(s.utf8)
        output.append(0x58)
        output.appendLE(UInt32(bytes.count))
        output += bytes
    }

    private mutating func int(_ v: Int) {
        if v >= 0, v < 256 { output += [0x4B, UInt8(v)] }
        else if v >= 0, v < 65536 { output.append(0x4D); output.appendLE(UInt16(v)) }
        else if let small = Int32(exactly: v) { output.append(0x4A); output.appendLE(small) }
        else {
            // LONG1 with the minimal two's-complement little-endian bytes.
            var bytes: [UInt8] = []
            var x = Int64(v)
            repeat {
                bytes.append(UInt8(truncatingIfNeeded: x))
                x >>= 8
            } while !(x == 0 && bytes.last! & 0x80 == 0) && !(x == -1 && bytes.last! & 0x80 != 0)
            output += [0x8A, UInt8(bytes.count)]
            output += bytes
        }
    }

    private mutating func tuple(_ ints: [Int]) {
        switch ints.count {
        case 0: output.append(0x29)
        case 1: int(ints[0]); output.append(0x85)
        case 2: int(ints[0]); int(ints[1]); output.append(0x86)
        case 3: int(ints[0]); int(ints[1]); int(ints[2]); output.append(0x87)
        default:
            output.append(0x28)
            for v in ints { int(v) }
            output.append(0x74)
        }
    }

    static let storageNames: [DType: String] = [
        .float32: "FloatStorage", .float16: "HalfStorage", .bfloat16: "BFloat16Storage", .float64: "DoubleStorage",
        .int64: "LongStorage", .int32: "IntStorage", .int16: "ShortStorage", .int8: "CharStorage",
        .uint8: "ByteStorage", .bool: "BoolStorage",
    ]

    /// `_rebuild_tensor_v2(storage, 0, shape, contiguous strides, requires_grad, OrderedDict())`.
    private mutating func tensor(_ t: TensorData, requiresGrad: Bool) {
        let key = storages.count
        storages.append(t.bytes)
        global("torch._utils", "_rebuild_tensor_v2")
        output.append(0x28)  // MARK (arguments)
        output.append(0x28)  // MARK (persistent id)
        string("storage")
        global("torch", PickleWriter.storageNames[t.dtype]!)
        string(String(key))
        string("cpu")
        int(t.count)
        output.append(0x74)  // TUPLE
        output.append(0x51)  // BINPERSID
        int(0)
        tuple(t.shape)
        var strides = [Int](repeating: 1, count: t.shape.count)
        if t.shape.count > 1 {
            for d in stride(from: t.shape.count - 2, through: 0, by: -1) { strides[d] = strides[d + 1] * t.shape[d + 1] }
        }
        tuple(strides)
        output.append(requiresGrad ? 0x88 : 0x89)
        global("collections", "OrderedDict")
        output += [0x29, 0x52]  // EMPTY_TUPLE, REDUCE
        output.append(0x74)  // TUPLE
        output.append(0x52)  // REDUCE
    }

    private mutating func write(_ value: TorchValue, depth: Int) throws {
        guard depth < 256 else { throw FormatError.invalidValue(path: path, reason: "nesting deeper than 256") }
        switch value {
        case .none: output.append(0x4E)
        case let .bool(b): output.append(b ? 0x88 : 0x89)
        case let .int(i): int(i)
        case let .float(d):
            output.append(0x47)
            output.appendLE(d.bitPattern.byteSwapped)  // BINFLOAT is big-endian
        case let .string(s): string(s)
        case let .bytes(b):
            // Protocol 2 has no bytes opcode: `_codecs.encode(latin1 text, 'latin1')`, as Python writes it.
            global("_codecs", "encode")
            string(PickleMachine.latin1(b))
            string("latin1")
            output += [0x86, 0x52]  // TUPLE2, REDUCE
        case let .list(items):
            output.append(0x5D)
            if !items.isEmpty {
                output.append(0x28)
                for v in items { try write(v, depth: depth + 1) }
                output.append(0x65)
            }
        case let .tuple(items):
            output.append(0x28)
            for v in items { try write(v, depth: depth + 1) }
            output.append(0x74)
        case let .dict(items):
            output.append(0x7D)
            if !items.isEmpty {
                output.append(0x28)
                for item in items {
                    try write(item.key, depth: depth + 1)
                    try write(item.value, depth: depth + 1)
                }
                output.append(0x75)
            }
        case let .tensor(t, isParameter, requiresGrad):
            if isParameter {
                // `_rebuild_parameter(tensor, requires_grad, OrderedDict())`.
                global("torch._utils", "_rebuild_parameter")
                tensor(t, requiresGrad: false)
                output.append(requiresGrad ? 0x88 : 0x89)
                global("collections", "OrderedDict")
                output += [0x29, 0x52, 0x87, 0x52]  // EMPTY_TUPLE, REDUCE, TUPLE3, REDUCE
            } else {
                tensor(t, requiresGrad: requiresGrad)
            }
        }
    }
}
