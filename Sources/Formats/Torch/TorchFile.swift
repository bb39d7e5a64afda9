// PyTorch `.pt` files: safe loading (zip and legacy containers, restricted unpickler) and saving in the
// zip layout that `torch.load(..., weights_only=True)` accepts. See docs/formats.md for the layouts.
import Foundation

/// Loads and saves PyTorch checkpoint files without executing any code from them.
public enum TorchFile {
    /// The magic number that opens a legacy (non-zip) torch.save stream: 0x1950a86a20f9469cfc6c, little-endian.
    static let legacyMagic: [UInt8] = [0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19]

    /// Loads a `.pt` file written by `torch.save` (zip or legacy format).
    ///
    /// The pickle runs in a restricted machine: only tensor/parameter rebuild functions, storage types,
    /// `collections.OrderedDict`, torch dtypes, `torch.Size`/`torch.device` and `_codecs.encode` are recognised,
    /// and they are interpreted by this library — nothing is imported or called. Tensors come back in
    /// row-major order whatever their strides and storage offsets were.
    /// - Throws: `FormatError.forbiddenGlobal` naming any other global; `FormatError.corrupt` for damaged files.
    public static func load(_ url: URL) throws -> TorchValue {
        try load(data: mapFile(url), path: url.path)
    }

    /// Loads `.pt` bytes; `path` names them in errors.
    public static func load(data: Data, path: String) throws -> TorchValue {
        let budget = OutputBudget(maxBytes: max(data.count.multipliedReportingOverflow(by: 16).partialValue, 256 << 20))
        if ZipReader.looksLikeZip(data) {
            return try loadZip(data, path: path, budget: budget)
        }
        if data.count >= 2, data[data.startIndex] == 0x80 {
            return try loadLegacy(data, path: path, budget: budget)
        }
        if data.count >= 262, data[(data.startIndex + 257)..<(data.startIndex + 262)].elementsEqual("ustar".utf8) {
            throw FormatError.unsupported(path: path, reason: "tar-based torch.save format (PyTorch < 0.4)")
        }
        throw FormatError.corrupt(path: path, reason: "neither a torch zip archive nor a legacy pickle stream")
    }

    // MARK: zip

    private static func loadZip(_ data: Data, path: String, budget: OutputBudget) throws -> TorchValue {
        let zip = try ZipReader(data: data, path: path)
        // The pickle is `<prefix>/data.pkl` with any single top folder (archive/, the file stem, ...).
        guard let pickleEntry = zip.entries.first(where: { e in
            e.name == "data.pkl" || (e.name.hasSuffix("/data.pkl") && e.name.dropLast(9).firstIndex(of: "/") == nil)
        }) else {
            if zip.entries.contains(where: { $0.name.hasSuffix("constants.pkl") }) {
                throw FormatError.unsupported(path: path, reason: "TorchScript archive (torch.jit.save); only torch.save files load")
            }
            throw FormatError.corrupt(path: path, reason: "no data.pkl record in the archive")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let order = zip.entry(prefix + "byteorder") {
            let text = String(decoding: try zip.contents(order), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            switch text {
            case "little": bigEndian = false
            case "big": bigEndian = true
            default: throw FormatError.corrupt(path: path, reason: "byteorder record '\(text.prefix(20))'")
            }
        }
        var storages: [String: StorageRef] = [:]
        var machine = PickleMachine(path: path) { pid in
            let ref = try storageReference(pid, path: path)
            if let existing = storages[ref.key] {
                guard existing.dtype == ref.dtype else { throw FormatError.corrupt(path: path, reason: "storage \(ref.key) used with two dtypes") }
                return .storage(existing)
            }
            storages[ref.key] = ref
            return .storage(ref)
        }
        let pickle = try zip.contents(pickleEntry)
        var reader = ByteReader(pickle, path: path)
        let root = try machine.run(&reader)
        var cache: [String: Data] = [:]
        let resolve: (StorageRef) throws -> Data = { ref in
            if let d = cache[ref.key] { return d }
            guard let entry = zip.entry(prefix + "data/" + ref.key) else {
                throw FormatError.corrupt(path: path, reason: "missing storage record data/\(ref.key)")
            }
            let bytes = try zip.contents(entry)
            let (expected, overflow) = ref.numel.multipliedReportingOverflow(by: ref.dtype.size)
            guard !overflow, bytes.count == expected else {
                throw FormatError.corrupt(path: path, reason: "storage data/\(ref.key) holds \(bytes.count) bytes, expected \(ref.numel) × \(ref.dtype.size)")
            }
            cache[ref.key] = bytes
            return bytes
        }
        var converter = Converter(path: path, bigEndian: bigEndian, budget: budget, pickleLength: pickle.count, resolve: resolve)
        return try converter.convert(root, depth: 0)
    }

    /// Decodes a persistent id `('storage', StorageType, key, location, numel[, view_metadata])`.
    static func storageReference(_ pid: PickleObject, path: String) throws -> StorageRef {
        func bad(_ reason: String) -> FormatError { .corrupt(path: path, reason: "persistent id: \(reason)") }
        guard case let .tuple(items) = pid, items.count >= 5 else { throw bad("not a storage tuple") }
        guard case .string("storage") = items[0] else { throw FormatError.unsupported(path: path, reason: "persistent id kind other than 'storage'") }
        guard case let .global(.storageType(dtype)) = items[1] else { throw bad("second item is not a storage type") }
        let key: String
        switch items[2] {
        case let .string(s): key = s
        case let .int(i): key = String(i)
        default: throw bad("storage key is not a string")
        }
        guard !key.isEmpty, key.count <= 64, !key.contains("/"), !key.contains("..") else { throw bad("invalid storage key") }
        guard case let .int(numel) = items[4], numel >= 0 else { throw bad("invalid element count") }
        if items.count >= 6, case let .tuple(meta) = items[5], meta.count >= 3 {
            // Legacy storage view: (view_key, offset, view_size) of the root storage `key`.
            guard case let .string(viewKey) = meta[0], case let .int(offset) = meta[1], case let .int(size) = meta[2],
                offset >= 0, size >= 0
            else { throw bad("invalid storage view metadata") }
            return StorageRef(key: viewKey, dtype: dtype, numel: size, viewOf: (key, offset))
        }
        return StorageRef(key: key, dtype: dtype, numel: numel)
    }

    // MARK: legacy

    private static func loadLegacy(_ data: Data, path: String, budget: OutputBudget) throws -> TorchValue {
        var reader = ByteReader(data, path: path)
        func next() throws -> PickleObject {
            var m = PickleMachine(path: path) { _ in throw FormatError.corrupt(path: path, reason: "persistent id in a header pickle") }
            return try m.run(&reader)
        }
        guard case let .bigInt(magic) = try next(), magic == legacyMagic else {
            throw FormatError.corrupt(path: path, reason: "not a torch.save file (legacy magic number missing)")
        }
        guard case let .int(protocolVersion) = try next() else { throw FormatError.corrupt(path: path, reason: "missing protocol version") }
        guard protocolVersion == 1001 else { throw FormatError.unsupported(path: path, reason: "legacy protocol version \(protocolVersion)") }
        guard case let .dict(sysInfo) = try next() else { throw FormatError.corrupt(path: path, reason: "missing sys_info") }
        var bigEndian = false
        for item in sysInfo.items where item.key.stringValue == "little_endian" {
            if case let .bool(little) = item.value { bigEndian = !little }
        }
        var roots: [String: StorageRef] = [:]  // root storages by key, with their dtype and numel
        var machine = PickleMachine(path: path) { pid in
            let ref = try storageReference(pid, path: path)
            let rootKey = ref.viewOf?.key ?? ref.key
            if ref.viewOf == nil {
                if let existing = roots[rootKey] {
                    guard existing.dtype == ref.dtype else { throw FormatError.corrupt(path: path, reason: "storage \(rootKey) used with two dtypes") }
                    return .storage(existing)
                }
                roots[rootKey] = ref
            } else if roots[rootKey] == nil, case let .tuple(items) = pid, case let .int(n) = items[4] {
                roots[rootKey] = StorageRef(key: rootKey, dtype: ref.dtype, numel: n)
            }
            return .storage(ref)
        }
        let root = try machine.run(&reader)
        guard case let .list(keyList) = try next() else { throw FormatError.corrupt(path: path, reason: "missing storage key list") }
        var blobs: [String: Data] = [:]
        for keyObject in keyList.items {
            guard case let .string(key) = keyObject else { throw FormatError.corrupt(path: path, reason: "storage key is not a string") }
            guard let ref = roots[key] else { throw FormatError.corrupt(path: path, reason: "storage \(key) has no known type") }
            let rawCount = try reader.u64()
            let count = Int(bitPattern: UInt(bigEndian ? rawCount.byteSwapped : rawCount))
            let (byteCount, overflow) = count.multipliedReportingOverflow(by: ref.dtype.size)
            guard count >= 0, !overflow, byteCount <= reader.remaining else {
                throw FormatError.corrupt(path: path, reason: "storage \(key) claims \(count) elements beyond the end of the file")
            }
            blobs[key] = try reader.bytes(byteCount, "storage \(key)")
        }
        let resolve: (StorageRef) throws -> Data = { ref in
            let rootKey = ref.viewOf?.key ?? ref.key
            guard let blob = blobs[rootKey], let rootRef = roots[rootKey] else {
                throw FormatError.corrupt(path: path, reason: "storage \(rootKey) missing from the file")
            }
            let size = rootRef.dtype.size
            let offset = ref.viewOf?.offset ?? 0
            guard offset <= blob.count / size, ref.numel <= blob.count / size - offset else {
                throw FormatError.corrupt(path: path, reason: "storage view \(ref.key) outside storage \(rootKey)")
            }
            let start = blob.startIndex + offset * size
            return blob[start..<(start + ref.numel * size)]
        }
        var converter = Converter(path: path, bigEndian: bigEndian, budget: budget, pickleLength: data.count, resolve: resolve)
        return try converter.convert(root, depth: 0)
    }
}

/// Bounds the bytes of tensors materialized from one file (stride-0 views could otherwise expand a tiny
/// storage into an enormous tensor).
final class OutputBudget {
    var remaining: Int
    init(maxBytes: Int) { remaining = maxBytes }
}

/// Turns pickle objects into `TorchValue`s, materializing tensors; bounded in depth and node count.
struct Converter {
    let path: String
    let bigEndian: Bool
    let budget: OutputBudget
    let resolve: (StorageRef) throws -> Data
    var nodes = 0
    let limits = PickleLimits()
    /// Values a pickle of this length can legitimately produce: each value costs at least one opcode byte unless
    /// memo references share it, so a budget proportional to the length stops exponential "billion laughs" sharing.
    let maxNodes: Int

    init(path: String, bigEndian: Bool, budget: OutputBudget, pickleLength: Int, resolve: @escaping (StorageRef) throws -> Data) {
        self.path = path
        self.bigEndian = bigEndian
        self.budget = budget
        self.resolve = resolve
        maxNodes = min(limits.maxNodes, max(1_000_000, pickleLength.multipliedReportingOverflow(by: 8).partialValue))
    }

    mutating func convert(_ object: PickleObject, depth: Int) throws -> TorchValue {
        guard depth < limits.maxDepth else { throw FormatError.corrupt(path: path, reason: "nesting deeper than \(limits.maxDepth) (or cyclic)") }
        nodes += 1
        guard nodes <= maxNodes else { throw FormatError.corrupt(path: path, reason: "more than \(maxNodes) values (shared references expand too far)") }
        switch object {
        case .none: return .none
        case let .bool(b): return .bool(b)
        case let .int(i): return .int(i)
        case .bigInt: throw FormatError.unsupported(path: path, reason: "integer wider than 64 bits")
        case let .float(d): return .float(d)
        case let .string(s): return .string(s)
        case let .bytes(b): return .bytes(b)
        case let .list(l): return .list(try l.items.map { try convert($0, depth: depth + 1) })
        case let .tuple(t): return .tuple(try t.map { try convert($0, depth: depth + 1) })
        case let .dict(d):
            return .dict(try d.items.map { (key: try convert($0.key, depth: depth + 1), value: try convert($0.value, depth: depth + 1)) })
        case let .global(g):
            if case let .dtype(name) = g { return .string(name) }
            throw FormatError.unsupported(path: path, reason: "global \(g) as a value")
        case .storage: throw FormatError.unsupported(path: path, reason: "bare storage object (not wrapped in a tensor)")
        case let .tensor(t): return try materialize(t)
        }
    }

    /// Copies a tensor view out of its storage in row-major order, after checking it lies inside the storage.
    func materialize(_ t: TensorRef) throws -> TorchValue {
        let dtype = t.storage.dtype
        guard let count = TensorData.checkedElementCount(t.shape) else {
            throw FormatError.corrupt(path: path, reason: "tensor shape \(t.shape) overflows")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, byteCount <= budget.remaining else {
            throw FormatError.corrupt(path: path, reason: "tensor of shape \(t.shape) is larger than the file can justify")
        }
        budget.remaining -= byteCount
        var bytes: [UInt8] = []
        if count > 0 {
            guard let last = StridedCopy.lastIndex(shape: t.shape, strides: t.strides, offset: t.offset), last >= 0,
                last < t.storage.numel
            else {
                throw FormatError.corrupt(path: path, reason: "tensor view (offset \(t.offset), shape \(t.shape), stride \(t.strides)) outside its storage of \(t.storage.numel) elements")
            }
            let storage = try resolve(t.storage)
            bytes = StridedCopy.gather(storage, elementSize: dtype.size, shape: t.shape, strides: t.strides, offset: t.offset)
            if bigEndian { NPY.byteSwap(&bytes, width: dtype.size) }
        }
        return .tensor(TensorData(dtype: dtype, shape: t.shape, bytes: bytes), isParameter: t.isParameter, requiresGrad: t.requiresGrad)
    }
}
