// A restricted pickle virtual machine: it runs the opcodes PyTorch checkpoints use (protocols 0–5) but resolves
// only allowlisted globals to built-in handlers. Nothing from the file is ever imported or called.
import Foundation

/// The globals a PyTorch checkpoint may name. Anything else is refused before anything runs.
enum TorchGlobal: Equatable {
    case rebuildTensor, rebuildTensorV2, rebuildTensorV3, rebuildParameter, rebuildParameterWithState, rebuildFromTypeV2
    case orderedDict, storageType(DType), dtype(String), torchSize, device, codecsEncode, tensorClass, parameterClass

    /// The dtype of each legacy typed-storage class name.
    static let storageDTypes: [String: DType] = [
        "FloatStorage": .float32, "HalfStorage": .float16, "BFloat16Storage": .bfloat16, "DoubleStorage": .float64,
        "LongStorage": .int64, "IntStorage": .int32, "ShortStorage": .int16, "CharStorage": .int8,
        "ByteStorage": .uint8, "BoolStorage": .bool,
    ]

    /// torch dtype objects that may appear as values (they load as strings such as "torch.float32").
    static let dtypeNames: Set<String> = [
        "float32", "float", "float16", "half", "bfloat16", "float64", "double", "int64", "long", "int32", "int",
        "int16", "short", "int8", "uint8", "bool", "complex64", "complex128",
    ]

    /// Resolves `module.name`, or throws `forbiddenGlobal` / `unsupported` without importing anything.
    static func resolve(module: String, name: String, path: String) throws -> TorchGlobal {
        switch (module, name) {
        case ("torch._utils", "_rebuild_tensor"): return .rebuildTensor
        case ("torch._utils", "_rebuild_tensor_v2"): return .rebuildTensorV2
        case ("torch._utils", "_rebuild_tensor_v3"): return .rebuildTensorV3
        case ("torch._utils", "_rebuild_parameter"): return .rebuildParameter
        case ("torch._utils", "_rebuild_parameter_with_state"): return .rebuildParameterWithState
        case ("torch._tensor", "_rebuild_from_type_v2"): return .rebuildFromTypeV2
        case ("collections", "OrderedDict"): return .orderedDict
        case ("torch", "Size"): return .torchSize
        case ("torch", "device"): return .device
        case ("torch", "Tensor"): return .tensorClass
        case ("torch.nn.parameter", "Parameter"): return .parameterClass
        case ("_codecs", "encode"): return .codecsEncode
        default: break
        }
        if module == "torch" || module == "torch.cuda" {
            if let dtype = storageDTypes[name] { return .storageType(dtype) }
            if name.hasSuffix("Storage") {
                throw FormatError.unsupported(path: path, reason: "storage type \(module).\(name)")
            }
            if module == "torch", dtypeNames.contains(name) { return .dtype("torch.\(name)") }
        }
        throw FormatError.forbiddenGlobal(name: "\(module).\(name)", path: path)
    }
}

/// A storage named by a persistent id: its bytes come from the container (zip record or legacy stream).
final class StorageRef {
    let key: String
    let dtype: DType
    let numel: Int
    /// Legacy storage views: the root storage key and the view's element offset within it.
    let viewOf: (key: String, offset: Int)?

    init(key: String, dtype: DType, numel: Int, viewOf: (key: String, offset: Int)? = nil) {
        self.key = key
        self.dtype = dtype
        self.numel = numel
        self.viewOf = viewOf
    }
}

/// A tensor as rebuilt by `_rebuild_tensor_v2`: a view of a storage, materialized after the pickle has run.
struct TensorRef {
    var storage: StorageRef
    var offset: Int
    var shape: [Int]
    var strides: [Int]
    var requiresGrad: Bool
    var isParameter: Bool
}

/// A mutable list object (pickle memo entries alias it).
final class PickleList {
    var items: [PickleObject] = []
}

/// A mutable dict object in insertion order, with an index for hashable keys.
final class PickleDict {
    var items: [(key: PickleObject, value: PickleObject)] = []
    private var index: [PickleKey: Int] = [:]

    func set(_ key: PickleObject, _ value: PickleObject) {
        if let k = PickleKey(key) {
            if let i = index[k] { items[i].value = value; return }
            index[k] = items.count
        }
        items.append((key, value))
    }
}

/// Hashable scalar dict keys.
enum PickleKey: Hashable {
    case none, bool(Bool), int(Int), string(String)
    init?(_ object: PickleObject) {
        switch object {
        case .none: self = .none
        case let .bool(b): self = .int(b ? 1 : 0)  // Python: True == 1
        case let .int(i): self = .int(i)
        case let .string(s): self = .string(s)
        default: return nil
        }
    }
}

/// A value on the pickle machine's stack.
indirect enum PickleObject {
    case none, bool(Bool), int(Int), bigInt([UInt8]), float(Double), string(String), bytes([UInt8])
    case list(PickleList)
    case tuple([PickleObject])
    case dict(PickleDict)
    case global(TorchGlobal)
    case storage(StorageRef)
    case tensor(TensorRef)
}

/// Resource bounds for untrusted pickles.
struct PickleLimits {
    var maxStack = 1 << 20
    var maxMemo = 1 << 20
    var maxDepth = 256
    var maxNodes = 10_000_000
}

/// Runs one pickle (up to STOP) from a byte reader.
struct PickleMachine {
    let path: String
    let limits: PickleLimits
    /// Called for BINPERSID/PERSID with the persistent id; returns the object it stands for.
    let persistentLoad: (PickleObject) throws -> PickleObject

    private var stack: [PickleObject] = []
    private var marks: [Int] = []
    private var memo: [Int: PickleObject] = [:]

    init(path: String, limits: PickleLimits = PickleLimits(), persistentLoad: @escaping (PickleObject) throws -> PickleObject) {
        self.path = path
        self.limits = limits
        self.persistentLoad = persistentLoad
    }

    private func fail(_ reason: String) -> FormatError { .corrupt(path: path, reason: "pickle: \(reason)") }

    private mutating func push(_ o: PickleObject) throws {
        guard stack.count < limits.maxStack else { throw fail("stack deeper than \(limits.maxStack)") }
        stack.append(o)
    }

    private mutating func pop() throws -> PickleObject {
        guard let o = stack.popLast() else { throw fail("stack underflow") }
        return o
    }

    private mutating func popMark() throws -> [PickleObject] {
        guard let m = marks.popLast() else { throw fail("missing MARK") }
        guard m <= stack.count else { throw fail("MARK beyond stack") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private mutating func put(_ index: Int) throws {
        guard let top = stack.last else { throw fail("PUT on empty stack") }
        guard memo.count < limits.maxMemo || memo[index] != nil else { throw fail("memo larger than \(limits.maxMemo)") }
        memo[index] = top
    }

    private mutating func get(_ index: Int) throws {
        guard let o = memo[index] else { throw fail("GET of unknown memo entry \(index)") }
        try push(o)
    }

    private mutating func textLine(_ r: inout ByteReader) throws -> String {
        String(decoding: try r.line(), as: UTF8.self)
    }

    /// Executes opcodes until STOP and returns the result.
    mutating func run(_ r: inout ByteReader) throws -> PickleObject {
        while true {
            let op = try r.u8()
            switch op {
            case 0x80:  // PROTO
                let v = try r.u8()
                guard v <= 5 else { throw FormatError.unsupported(path: path, reason: "pickle protocol \(v)") }
            case 0x95: try r.skip(8)  // FRAME: length of the next frame; frames are read as one stream
            case 0x2E:  // STOP
                let result = try pop()
                return result
            case 0x28: marks.append(stack.count)  // MARK
            case 0x30: _ = try pop()  // POP
            case 0x31: _ = try popMark()  // POP_MARK
            case 0x32:  // DUP
                guard let top = stack.last else { throw fail("DUP on empty stack") }
                try push(top)
            case 0x4E: try push(.none)
            case 0x88: try push(.bool(true))
            case 0x89: try push(.bool(false))
            case 0x4B: try push(.int(Int(try r.u8())))  // BININT1
            case 0x4D: try push(.int(Int(try r.u16())))  // BININT2
            case 0x4A: try push(.int(Int(try r.i32())))  // BININT
            case 0x8A:  // LONG1
                let n = Int(try r.u8())
                try push(Self.long(try r.array(n, "LONG1")))
            case 0x8B:  // LONG4
                let n = Int(try r.i32())
                guard n >= 0, n <= 4096 else { throw FormatError.unsupported(path: path, reason: "LONG4 integer of \(n) bytes") }
                try push(Self.long(try r.array(n, "LONG4")))
            case 0x49:  // INT (text); "00"/"01" are protocol-0 booleans
                let s = try textLine(&r)
                if s == "00" { try push(.bool(false)) } else if s == "01" { try push(.bool(true)) } else {
                    guard let v = Int(s) else { throw fail("bad INT '\(s.prefix(40))'") }
                    try push(.int(v))
                }
            case 0x4C:  // LONG (text)
                var s = try textLine(&r)
                if s.hasSuffix("L") { s.removeLast() }
                guard let v = Int(s) else { throw FormatError.unsupported(path: path, reason: "integer '\(s.prefix(40))'") }
                try push(.int(v))
            case 0x46:  // FLOAT (text)
                let s = try textLine(&r)
                guard let v = Double(s) else { throw fail("bad FLOAT '\(s.prefix(40))'") }
                try push(.float(v))
            case 0x47: try push(.float(Double(bitPattern: UInt64(bigEndian: try r.u64()))))  // BINFLOAT
            case 0x58:  // BINUNICODE
                let n = Int(try r.u32())
                try push(.string(try utf8(r.bytes(n, "BINUNICODE"))))
            case 0x8C:  // SHORT_BINUNICODE
                let n = Int(try r.u8())
                try push(.string(try utf8(r.bytes(n, "SHORT_BINUNICODE"))))
            case 0x8D:  // BINUNICODE8
                let n = try r.u64()
                guard n <= UInt64(r.remaining) else { throw fail("BINUNICODE8 longer than the file") }
                try push(.string(try utf8(r.bytes(Int(n), "BINUNICODE8"))))
            case 0x56:  // UNICODE (raw-unicode-escape text)
                try push(.string(Self.rawUnicodeEscape(try textLine(&r))))
            case 0x53:  // STRING (quoted repr)
                try push(.string(try unquote(try textLine(&r))))
            case 0x54:  // BINSTRING (Python 2 str)
                let n = Int(try r.i32())
                guard n >= 0 else { throw fail("negative BINSTRING length") }
                try push(.string(Self.latin1(try r.array(n, "BINSTRING"))))
            case 0x55:  // SHORT_BINSTRING
                let n = Int(try r.u8())
                try push(.string(Self.latin1(try r.array(n, "SHORT_BINSTRING"))))
            case 0x42:  // BINBYTES
                let n = Int(try r.u32())
                try push(.bytes(try r.array(n, "BINBYTES")))
            case 0x43:  // SHORT_BINBYTES
                let n = Int(try r.u8())
                try push(.bytes(try r.array(n, "SHORT_BINBYTES")))
            case 0x8E, 0x96:  // BINBYTES8, BYTEARRAY8
                let n = try r.u64()
                guard n <= UInt64(r.remaining) else { throw fail("BINBYTES8 longer than the file") }
                try push(.bytes(try r.array(Int(n), "BINBYTES8")))
            case 0x5D: try push(.list(PickleList()))  // EMPTY_LIST
            case 0x8F: try push(.list(PickleList()))  // EMPTY_SET (loads as a list)
            case 0x6C:  // LIST
                let l = PickleList()
                l.items = try popMark()
                try push(.list(l))
            case 0x91:  // FROZENSET
                let l = PickleList()
                l.items = try popMark()
                try push(.list(l))
            case 0x61:  // APPEND
                let v = try pop()
                guard case let .list(l)? = stack.last else { throw fail("APPEND to a non-list") }
                l.items.append(v)
            case 0x65, 0x90:  // APPENDS, ADDITEMS
                let items = try popMark()
                guard case let .list(l)? = stack.last else { throw fail("APPENDS to a non-list") }
                l.items += items
            case 0x29: try push(.tuple([]))
            case 0x74: try push(.tuple(try popMark()))  // TUPLE
            case 0x85: try push(.tuple([try pop()]))
            case 0x86:
                let b = try pop(), a = try pop()
                try push(.tuple([a, b]))
            case 0x87:
                let c = try pop(), b = try pop(), a = try pop()
                try push(.tuple([a, b, c]))
            case 0x7D: try push(.dict(PickleDict()))  // EMPTY_DICT
            case 0x64:  // DICT
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("DICT with an odd number of items") }
                let d = PickleDict()
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
                try push(.dict(d))
            case 0x73:  // SETITEM
                let v = try pop(), k = try pop()
                guard case let .dict(d)? = stack.last else { throw fail("SETITEM on a non-dict") }
                d.set(k, v)
            case 0x75:  // SETITEMS
                let items = try popMark()
                guard items.count % 2 == 0 else { throw fail("SETITEMS with an odd number of items") }
                guard case let .dict(d)? = stack.last else { throw fail("SETITEMS on a non-dict") }
                for i in stride(from: 0, to: items.count, by: 2) { d.set(items[i], items[i + 1]) }
            case 0x63:  // GLOBAL
                let module = try textLine(&r), name = try textLine(&r)
                try push(.global(try TorchGlobal.resolve(module: module, name: name, path: path)))
            case 0x93:  // STACK_GLOBAL
                let nameObject = try pop(), moduleObject = try pop()
                guard case let .string(name) = nameObject, case let .string(module) = moduleObject else {
                    throw fail("STACK_GLOBAL without strings")
                }
                try push(.global(try TorchGlobal.resolve(module: module, name: name, path: path)))
            case 0x52:  // REDUCE
                let args = try pop(), callable = try pop()
                guard case let .tuple(arguments) = args else { throw fail("REDUCE arguments are not a tuple") }
                try push(try call(callable, arguments))
            case 0x81:  // NEWOBJ
                let args = try pop(), cls = try pop()
                guard case let .tuple(arguments) = args else { throw fail("NEWOBJ arguments are not a tuple") }
                guard case .global(.orderedDict) = cls else { throw FormatError.unsupported(path: path, reason: "NEWOBJ of \(describe(cls))") }
                try push(try call(cls, arguments))
            case 0x62:  // BUILD
                let state = try pop()
                guard let target = stack.last else { throw fail("BUILD on empty stack") }
                switch target {
                case .dict, .tensor, .list: _ = state  // OrderedDict._metadata, tensor state: not needed
                default: throw FormatError.unsupported(path: path, reason: "BUILD of \(describe(target))")
                }
            case 0x51:  // BINPERSID
                let pid = try pop()
                try push(try persistentLoad(pid))
            case 0x50:  // PERSID
                try push(try persistentLoad(.string(try textLine(&r))))
            case 0x71: try put(Int(try r.u8()))  // BINPUT
            case 0x72: try put(Int(try r.u32()))  // LONG_BINPUT
            case 0x70:  // PUT
                let s = try textLine(&r)
                guard let i = Int(s) else { throw fail("bad PUT index") }
                try put(i)
            case 0x94: try put(memo.count)  // MEMOIZE
            case 0x68: try get(Int(try r.u8()))  // BINGET
            case 0x6A: try get(Int(try r.u32()))  // LONG_BINGET
            case 0x67:  // GET
                let s = try textLine(&r)
                guard let i = Int(s) else { throw fail("bad GET index") }
                try get(i)
            case 0x69, 0x6F, 0x82, 0x83, 0x84, 0x92, 0x97, 0x98:
                throw FormatError.unsupported(path: path, reason: "pickle opcode 0x\(String(op, radix: 16)) (object construction / extensions / buffers)")
            default:
                throw fail("unknown opcode 0x\(String(op, radix: 16)) at offset \(r.offset - 1)")
            }
        }
    }

    private func utf8(_ data: Data) throws -> String {
        guard let s = String(data: data, encoding: .utf8) else { throw fail("invalid UTF-8 string") }
        return s
    }

    static func latin1(_ bytes: [UInt8]) -> String {
        var s = ""
        s.unicodeScalars.append(contentsOf: bytes.map { Unicode.Scalar($0) })
        return s
    }

    /// A little-endian two's-complement integer (LONG1/LONG4); values beyond 64 bits stay as bytes.
    static func long(_ bytes: [UInt8]) -> PickleObject {
        if bytes.isEmpty { return .int(0) }
        guard bytes.count <= 8 else { return .bigInt(bytes) }
        var v: UInt64 = 0
        for (i, b) in bytes.enumerated() { v |= UInt64(b) << (8 * UInt64(i)) }
        if bytes.count < 8, bytes.last! & 0x80 != 0 { v |= ~UInt64(0) << (8 * UInt64(bytes.count)) }  // sign-extend
        return .int(Int(Int64(bitPattern: v)))
    }

    /// Decodes `\uXXXX` / `\UXXXXXXXX` escapes of Python's raw-unicode-escape codec.
    static func rawUnicodeEscape(_ s: String) -> String {
        var out = ""
        var chars = Array(s.unicodeScalars)[...]
        while let c = chars.first {
            chars = chars.dropFirst()
            if c == "\\", let kind = chars.first, kind == "u" || kind == "U" {
                let width = kind == "u" ? 4 : 8
                let digits = String(String.UnicodeScalarView(chars.dropFirst().prefix(width)))
                if digits.count == width, let v = UInt32(digits, radix: 16), let scalar = Unicode.Scalar(v) {
                    out.unicodeScalars.append(scalar)
                    chars = chars.dropFirst(1 + width)
                    continue
                }
            }
            out.unicodeScalars.append(c)
        }
        return out
    }

    /// Decodes a protocol-0 STRING argument: a quoted Python repr with backslash escapes.
    private func unquote(_ s: String) throws -> String {
        let scalars = Array(s.unicodeScalars)
        guard scalars.count >= 2, let q = scalars.first, q == "'" || q == "\"", scalars.last == q else {
            throw fail("STRING argument is not quoted")
        }
        var out = ""
        var i = 1
        while i < scalars.count - 1 {
            let c = scalars[i]
            i += 1
            guard c == "\\", i < scalars.count - 1 else { out.unicodeScalars.append(c); continue }
            let e = scalars[i]
            i += 1
            switch e {
            case "n": out.append("\n")
            case "t": out.append("\t")
            case "r": out.append("\r")
            case "x":
                guard i + 2 <= scalars.count - 1, let v = UInt8(String(String.UnicodeScalarView(scalars[i..<(i + 2)])), radix: 16) else {
                    throw fail("bad \\x escape in STRING")
                }
                out.unicodeScalars.append(Unicode.Scalar(v))
                i += 2
            default: out.unicodeScalars.append(e)
            }
        }
        return out
    }

    private func describe(_ o: PickleObject) -> String {
        switch o {
        case .global(let g): return "\(g)"
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .list: return "list"
        case .tuple: return "tuple"
        case .dict: return "dict"
        case .storage: return "storage"
        case .tensor: return "tensor"
        }
    }

    private func int(_ o: PickleObject, _ what: String) throws -> Int {
        switch o {
        case let .int(i): return i
        case let .bool(b): return b ? 1 : 0
        default: throw fail("\(what) is not an integer")
        }
    }

    private func intTuple(_ o: PickleObject, _ what: String) throws -> [Int] {
        switch o {
        case let .tuple(items): return try items.map { try int($0, what) }
        case let .list(l): return try l.items.map { try int($0, what) }
        default: throw fail("\(what) is not a tuple")
        }
    }

    private func bool(_ o: PickleObject) -> Bool {
        switch o {
        case let .bool(b): return b
        case let .int(i): return i != 0
        default: return false
        }
    }

    /// Applies an allowlisted callable. Only the built-in handlers below ever run.
    private func call(_ callable: PickleObject, _ args: [PickleObject]) throws -> PickleObject {
        guard case let .global(g) = callable else { throw fail("REDUCE of a non-callable \(describe(callable))") }
        switch g {
        case .orderedDict:
            let d = PickleDict()
            if let first = args.first {
                let pairs: [PickleObject]
                switch first {
                case let .list(l): pairs = l.items
                case let .tuple(t): pairs = t
                default: throw fail("OrderedDict argument is not a sequence")
                }
                for p in pairs {
                    guard case let .tuple(kv) = p, kv.count == 2 else { throw fail("OrderedDict item is not a pair") }
                    d.set(kv[0], kv[1])
                }
            }
            return .dict(d)
        case .rebuildTensor, .rebuildTensorV2, .rebuildTensorV3:
            guard args.count >= 4 else { throw fail("tensor rebuild with \(args.count) arguments") }
            guard case let .storage(storage) = args[0] else { throw fail("tensor rebuild without a storage") }
            let offset = try int(args[1], "storage offset")
            let shape = try intTuple(args[2], "size")
            let strides = try intTuple(args[3], "stride")
            guard shape.count == strides.count else { throw fail("size and stride of different lengths") }
            guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
                throw fail("negative size, stride or offset")
            }
            let requiresGrad = args.count > 4 ? bool(args[4]) : false
            return .tensor(TensorRef(storage: storage, offset: offset, shape: shape, strides: strides,
                                     requiresGrad: requiresGrad, isParameter: false))
        case .rebuildParameter, .rebuildParameterWithState:
            guard args.count >= 2, case var .tensor(t) = args[0] else { throw fail("Parameter rebuild without a tensor") }
            t.isParameter = true
            t.requiresGrad = bool(args[1])
            return .tensor(t)
        case .rebuildFromTypeV2:
            guard args.count >= 3, case let .tuple(inner) = args[2] else { throw fail("_rebuild_from_type_v2 arguments") }
            var result = try call(args[0], inner)
            if case .global(.parameterClass) = args[1], case var .tensor(t) = result {
                t.isParameter = true
                result = .tensor(t)
            }
            return result
        case .torchSize:
            guard let first = args.first else { return .tuple([]) }
            return .tuple(try intTuple(first, "torch.Size").map { .int($0) })
        case .device:
            guard case let .string(kind)? = args.first else { throw fail("torch.device argument") }
            if args.count > 1, case let .int(i) = args[1] { return .string("\(kind):\(i)") }
            return .string(kind)
        case .codecsEncode:
            guard case let .string(s)? = args.first else { throw fail("_codecs.encode argument") }
            let encoding = args.count > 1 ? (args[1].stringValue ?? "") : "utf-8"
            if encoding == "latin1" || encoding == "latin-1" {
                var out = [UInt8]()
                for u in s.unicodeScalars {
                    guard u.value < 256 else { throw fail("non-latin1 character in bytes") }
                    out.append(UInt8(u.value))
                }
                return .bytes(out)
            }
            return .bytes(Array(s.utf8))
        case .storageType, .dtype, .tensorClass, .parameterClass:
            throw FormatError.unsupported(path: path, reason: "calling \(g)")
        }
    }
}

extension PickleObject {
    var stringValue: String? { if case let .string(s) = self { return s }; return nil }
}
