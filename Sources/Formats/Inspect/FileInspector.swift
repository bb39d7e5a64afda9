// What `worldgpt inspect` shows: any tensor file (.pt/.pth/.bin, .npy, .npz, .safetensors) as a value, rendered
// as order-preserving JSON (tensors summarised by dtype, shape, float64 sum and first elements) or a text tree.
import Foundation

/// Opens tensor files of every supported kind and describes their contents.
public enum FileInspector {
    /// The kinds of file `load` understands.
    public enum Kind: String, Sendable {
        case torch, npy, npz, safetensors
    }

    /// The kind of `url`, from its extension, else from its first bytes.
    public static func kind(of url: URL) throws -> Kind {
        switch url.pathExtension.lowercased() {
        case "pt", "pth", "bin", "ckpt": return .torch
        case "npy": return .npy
        case "npz": return .npz
        case "safetensors": return .safetensors
        default: break
        }
        let data = try mapFile(url)
        if data.starts(with: NPY.magic) { return .npy }
        if ZipReader.looksLikeZip(data) {
            let zip = try ZipReader(data: data, path: url.path)
            return zip.entries.contains { $0.name.hasSuffix("data.pkl") } ? .torch : .npz
        }
        if data.first == 0x80 { return .torch }
        return .safetensors
    }

    /// The file's contents as a value: a `.pt` file as stored; `.npy` as one tensor; `.npz` and `.safetensors`
    /// as a dict of name → tensor (safetensors metadata under `__metadata__` when present).
    /// - Throws: the reader's `FormatError`.
    public static func load(_ url: URL) throws -> TorchValue {
        switch try kind(of: url) {
        case .torch: return try TorchFile.load(url)
        case .npy: return .tensor(try NPY.read(url))
        case .npz: return .stringDict(try NPZ.read(url).map { ($0.name, .tensor($0.tensor)) })
        case .safetensors:
            let (tensors, metadata) = try SafeTensors.readWithMetadata(url)
            var items = tensors.map { ($0.name, TorchValue.tensor($0.tensor)) }
            if !metadata.isEmpty {
                items.insert(("__metadata__", .stringDict(metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })), at: 0)
            }
            return .stringDict(items)
        }
    }

    /// The first `limit` elements of a tensor, row-major, as JSON numbers (booleans for bool tensors).
    static func head(_ t: TensorData, limit: Int = 8) -> [String] {
        let n = min(limit, t.count)
        let prefix = TensorData(dtype: t.dtype, shape: [n], bytes: Array(t.bytes.prefix(n * t.dtype.size)))
        if t.dtype == .bool { return (prefix.int64Values() ?? []).map { $0 != 0 ? "true" : "false" } }
        if let ints = prefix.int64Values() { return ints.map(String.init) }
        return prefix.doubleValues().map(number)
    }

    static func number(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), abs(d) < 1e15 { return String(Int64(d)) + ".0" }
        return "\(d)"
    }

    static func keyText(_ key: TorchValue) -> String {
        switch key {
        case let .string(s): return s
        case let .int(i): return String(i)
        case let .float(d): return "\(d)"
        case let .bool(b): return b ? "True" : "False"
        case .none: return "None"
        default: return "\(key)"
        }
    }

    /// JSON mirroring the structure: dict → object (keys in stored order, non-string keys as text), list/tuple →
    /// array, scalars as themselves (bytes as base64 text), tensor → `{"dtype", "shape", "sum", "head"}` where
    /// `sum` is the float64 sum of all elements and `head` the first ≤ 8 elements in row-major order.
    /// Non-finite numbers are written as `null`.
    public static func json(_ value: TorchValue, pretty: Bool = true) -> String {
        var out = ""
        writeJSON(value, into: &out, indent: pretty ? 0 : nil)
        return out
    }

    private static func writeJSON(_ value: TorchValue, into out: inout String, indent: Int?) {
        let pad = indent.map { String(repeating: "  ", count: $0 + 1) }
        let close = indent.map { "\n" + String(repeating: "  ", count: $0) } ?? ""
        let next = indent.map { $0 + 1 }
        switch value {
        case .none: out += "null"
        case let .bool(b): out += b ? "true" : "false"
        case let .int(i): out += String(i)
        case let .float(d): out += number(d)
        case let .string(s): JSONValue.escape(s, into: &out)
        case let .bytes(b): JSONValue.escape(Data(b).base64EncodedString(), into: &out)
        case let .list(items), let .tuple(items):
            if items.isEmpty { out += "[]"; return }
            out += "["
            for (i, v) in items.enumerated() {
                if i > 0 { out += "," }
                if let pad { out += "\n" + pad }
                writeJSON(v, into: &out, indent: next)
            }
            out += close + "]"
        case let .dict(items):
            if items.isEmpty { out += "{}"; return }
            out += "{"
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                if let pad { out += "\n" + pad }
                JSONValue.escape(keyText(item.key), into: &out)
                out += indent == nil ? ":" : ": "
                writeJSON(item.value, into: &out, indent: next)
            }
            out += close + "}"
        case let .tensor(t, _, _):
            let sep = indent == nil ? "," : ", "
            let colon = indent == nil ? ":" : ": "
            out += "{\"dtype\"\(colon)\"\(t.dtype.rawValue)\"\(sep)\"shape\"\(colon)[\(t.shape.map(String.init).joined(separator: sep))]"
            out += "\(sep)\"sum\"\(colon)\(number(t.sum()))\(sep)\"head\"\(colon)[\(head(t).joined(separator: sep))]}"
        }
    }

    /// A human-readable tree: one line per value, children indented by two spaces.
    public static func tree(_ value: TorchValue, name: String = "") -> String {
        var lines: [String] = []
        writeTree(value, label: name, depth: 0, into: &lines)
        return lines.joined(separator: "\n")
    }

    private static func writeTree(_ value: TorchValue, label: String, depth: Int, into lines: inout [String]) {
        let prefix = String(repeating: "  ", count: depth) + (label.isEmpty ? "" : label + ": ")
        switch value {
        case let .dict(items):
            lines.append(prefix + "dict (\(items.count) \(items.count == 1 ? "entry" : "entries"))")
            for item in items { writeTree(item.value, label: keyText(item.key), depth: depth + 1, into: &lines) }
        case let .list(items):
            lines.append(prefix + "list (\(items.count))")
            for (i, v) in items.enumerated() { writeTree(v, label: "[\(i)]", depth: depth + 1, into: &lines) }
        case let .tuple(items):
            lines.append(prefix + "tuple (\(items.count))")
            for (i, v) in items.enumerated() { writeTree(v, label: "(\(i))", depth: depth + 1, into: &lines) }
        case let .tensor(t, isParameter, requiresGrad):
            let kind = isParameter ? "Parameter" : "Tensor"
            let grad = requiresGrad ? " requires_grad" : ""
            let shape = "[" + t.shape.map(String.init).joined(separator: ", ") + "]"
            let values = head(t, limit: 4).joined(separator: ", ") + (t.count > 4 ? ", …" : "")
            lines.append(prefix + "\(kind) \(t.dtype.rawValue) \(shape)\(grad)  sum \(number(t.sum()))  [\(values)]")
        case .none: lines.append(prefix + "None")
        case let .bool(b): lines.append(prefix + (b ? "True" : "False"))
        case let .int(i): lines.append(prefix + String(i))
        case let .float(d): lines.append(prefix + "\(d)")
        case let .string(s): lines.append(prefix + "'\(s)'")
        case let .bytes(b): lines.append(prefix + "bytes (\(b.count))")
        }
    }
}
