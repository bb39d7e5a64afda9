// Loading and saving the learned reflector in the original PyTorch layout: an (Ordered)dict {name: tensor or Parameter}.
// fp32/fp16/bf16/fp64 tensors are cast to Float32; names and shapes are checked and every mismatch is reported by name.
import Foundation
import Formats
import Tensor

extension LearnedReflector {
    /// Loads a reflector checkpoint saved by the original code (`torch.save(OrderedDict(named_parameters))`).
    ///
    /// The sizes (layers, widths, query tokens, output width, which layers have cross-attention) are read
    /// from the tensor shapes. A whole-agent checkpoint works too: the tensors under the prefix of its one
    /// `…query_tokens` entry (e.g. `reflector.`) are taken and the rest ignored.
    /// - Parameter heads: attention heads; nil for BERT's `hidden / 64`.
    /// - Throws: `FormatError` for unreadable files, `ReflectorError.checkpoint` naming every missing,
    ///   unexpected, mis-shaped or non-finite tensor.
    public static func load(contentsOf url: URL, heads: Int? = nil) throws -> LearnedReflector {
        let value = try TorchFile.load(url)
        return try LearnedReflector(checkpoint: try reflectorTensors(in: value, file: url.path), heads: heads, file: url.path)
    }

    /// A reflector holding the given checkpoint tensors (names without prefix).
    /// - Throws: `ReflectorError.checkpoint` as `load`.
    public convenience init(checkpoint tensors: [(name: String, tensor: TensorData)], heads: Int? = nil, file: String = "<memory>") throws {
        let config = try LearnedReflectorConfig.inferred(from: tensors.map { ($0.name, $0.tensor.shape) }, heads: heads, file: file)
        try self.init(config: config, seed: 0, random: false)
        var problems: [String] = []
        for (name, tensor) in tensors {
            guard tensor.dtype.isFloatingPoint else {
                problems.append("\(name) has dtype \(tensor.dtype.rawValue), expected a floating-point tensor")
                continue
            }
            let values = tensor.floatValues()
            guard values.allSatisfy(\.isFinite) else {
                problems.append("\(name) holds NaN or infinite values")
                continue
            }
            guard let p = store[name] else { continue }  // inferred() already rejected unknown names
            store.setValue(p, Tensor(shape: p.shape, data: values))
        }
        guard problems.isEmpty else { throw ReflectorError.checkpoint(file: file, problems: problems) }
    }

    /// The checkpoint tensors in `named_parameters()` order, converted to `dtype` (fp32, fp16 or bf16).
    public func checkpointTensors(dtype: DType = .float32) -> [(name: String, tensor: TensorData)] {
        store.parameters.map { p in
            let values = Array(store.values[p.range])
            let data = dtype == .float32 ? TensorData(floats: values, shape: p.shape) : TensorData(converting: values, to: dtype, shape: p.shape)
            return (p.name, data)
        }
    }

    /// Saves in the original layout: an ordered dict `{name: Parameter(requires_grad=True)}` in `dtype`,
    /// which the original `Reflector.load_state_dict` and this module's `load` both accept.
    public func save(to url: URL, dtype: DType = .float32) throws {
        let items = checkpointTensors(dtype: dtype).map { ($0.name, TorchValue.tensor($0.tensor, isParameter: true, requiresGrad: true)) }
        try TorchFile.save(.stringDict(items), to: url)
    }

    /// The `{name: tensor}` entries of a loaded file that belong to the reflector, prefix removed.
    static func reflectorTensors(in value: TorchValue, file: String) throws -> [(name: String, tensor: TensorData)] {
        var root = value
        // Common wrappers: {"state_dict": {...}}, {"module": {...}}, {"model": {...}}.
        for key in ["state_dict", "module", "model"] {
            if let inner = root[key], inner.stringKeys != nil { root = inner }
        }
        guard case let .dict(items) = root else {
            throw ReflectorError.checkpoint(file: file, problems: ["the file does not hold a dict of tensors"])
        }
        var entries: [(name: String, value: TorchValue)] = []
        for item in items {
            guard case let .string(name) = item.key else {
                throw ReflectorError.checkpoint(file: file, problems: ["a key is not a string: \(item.key)"])
            }
            entries.append((name, item.value))
        }
        let anchors = entries.map(\.name).filter { $0 == "query_tokens" || $0.hasSuffix(".query_tokens") }
        guard anchors.count == 1, let anchor = anchors.first else {
            throw ReflectorError.checkpoint(
                file: file,
                problems: [anchors.isEmpty ? "missing tensor query_tokens" : "several reflectors in one file: \(anchors.joined(separator: ", "))"])
        }
        let prefix = String(anchor.dropLast("query_tokens".count))
        var tensors: [(name: String, tensor: TensorData)] = []
        var problems: [String] = []
        for (name, value) in entries where name.hasPrefix(prefix) {
            let short = String(name.dropFirst(prefix.count))
            guard let t = value.tensorData else {
                problems.append("\(short) is not a tensor")
                continue
            }
            tensors.append((short, t))
        }
        guard problems.isEmpty else { throw ReflectorError.checkpoint(file: file, problems: problems) }
        return tensors
    }
}
