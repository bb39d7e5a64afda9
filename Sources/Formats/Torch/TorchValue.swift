// The values a PyTorch `.pt` file can hold once loaded safely: containers, scalars and tensors.

/// A value read from / written to a PyTorch file. Dicts keep their order.
public indirect enum TorchValue: Equatable, Sendable {
    /// Python `None`.
    case none
    /// A Python bool.
    case bool(Bool)
    /// A Python int that fits 64 bits.
    case int(Int)
    /// A Python float.
    case float(Double)
    /// A Python str (also used for torch dtypes such as `torch.float32` and devices).
    case string(String)
    /// Python bytes.
    case bytes([UInt8])
    /// A Python list (sets load as lists too).
    case list([TorchValue])
    /// A Python tuple (and `torch.Size`).
    case tuple([TorchValue])
    /// A dict or OrderedDict, in insertion order.
    case dict([(key: TorchValue, value: TorchValue)])
    /// A tensor, already in row-major order; `isParameter` for `torch.nn.Parameter`.
    case tensor(TensorData, isParameter: Bool, requiresGrad: Bool)

    /// A plain tensor (not a Parameter, no gradient).
    public static func tensor(_ data: TensorData) -> TorchValue { .tensor(data, isParameter: false, requiresGrad: false) }

    /// A dict with string keys, in the given order.
    public static func stringDict(_ items: [(String, TorchValue)]) -> TorchValue {
        .dict(items.map { (key: .string($0.0), value: $0.1) })
    }

    public static func == (lhs: TorchValue, rhs: TorchValue) -> Bool {
        switch (lhs, rhs) {
        case (.none, .none): return true
        case let (.bool(a), .bool(b)): return a == b
        case let (.int(a), .int(b)): return a == b
        case let (.float(a), .float(b)): return a == b || (a.isNaN && b.isNaN)
        case let (.string(a), .string(b)): return a == b
        case let (.bytes(a), .bytes(b)): return a == b
        case let (.list(a), .list(b)): return a == b
        case let (.tuple(a), .tuple(b)): return a == b
        case let (.dict(a), .dict(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        case let (.tensor(a, pa, ga), .tensor(b, pb, gb)): return a == b && pa == pb && ga == gb
        default: return false
        }
    }

    /// The value stored under string key `key`, when this is a dict.
    public subscript(key: String) -> TorchValue? {
        guard case let .dict(items) = self else { return nil }
        return items.first { $0.key == .string(key) }?.value
    }

    /// Element `index` of a list or tuple.
    public subscript(index: Int) -> TorchValue? {
        switch self {
        case let .list(items), let .tuple(items): return items.indices.contains(index) ? items[index] : nil
        default: return nil
        }
    }

    /// The tensor, when this value is one (Parameter or not).
    public var tensorData: TensorData? {
        if case let .tensor(t, _, _) = self { return t }
        return nil
    }

    /// The keys of a dict whose keys are strings, in order; nil otherwise.
    public var stringKeys: [String]? {
        guard case let .dict(items) = self else { return nil }
        var keys: [String] = []
        for item in items {
            guard case let .string(s) = item.key else { return nil }
            keys.append(s)
        }
        return keys
    }

    /// The string, when this value is one.
    public var stringValue: String? { if case let .string(s) = self { return s }; return nil }
    /// The integer, when this value is one.
    public var intValue: Int? { if case let .int(i) = self { return i }; return nil }
    /// The float (or int converted), when this value is numeric.
    public var doubleValue: Double? {
        switch self {
        case let .float(d): return d
        case let .int(i): return Double(i)
        default: return nil
        }
    }

    /// Every tensor in this value with a dotted path (`"a.b.0"`), depth-first in stored order —
    /// the flattening PyTorch state dicts use.
    public func flattenedTensors(prefix: String = "") -> [(name: String, tensor: TensorData)] {
        func join(_ key: String) -> String { prefix.isEmpty ? key : prefix + "." + key }
        switch self {
        case let .tensor(t, _, _): return [(prefix, t)]
        case let .dict(items):
            return items.flatMap { item -> [(name: String, tensor: TensorData)] in
                let key: String
                switch item.key {
                case let .string(s): key = s
                case let .int(i): key = String(i)
                default: key = "\(item.key)"
                }
                return item.value.flattenedTensors(prefix: join(key))
            }
        case let .list(items), let .tuple(items):
            return items.enumerated().flatMap { $0.element.flattenedTensors(prefix: join(String($0.offset))) }
        default: return []
        }
    }
}
