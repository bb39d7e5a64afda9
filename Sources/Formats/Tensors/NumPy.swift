// NumPy `.npy` arrays (format versions 1.0–3.0) and `.npz` archives of them.
import Foundation

/// Reads and writes NumPy `.npy` files.
public enum NPY {
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// NumPy type strings (without byte-order character) for each dtype. bfloat16 has no NumPy equivalent.
    static func typeString(_ dtype: DType) -> String? {
        switch dtype {
        case .float32: return "<f4"
        case .float16: return "<f2"
        case .float64: return "<f8"
        case .int64: return "<i8"
        case .int32: return "<i4"
        case .int16: return "<i2"
        case .int8: return "|i1"
        case .uint8: return "|u1"
        case .bool: return "|b1"
        case .bfloat16: return nil
        }
    }

    /// Reads one array from a `.npy` file, converted to row-major little-endian.
    /// - Throws: `FormatError` naming the file for a bad header, an unsupported dtype, or missing data.
    public static func read(_ url: URL) throws -> TensorData {
        try parse(mapFile(url), path: url.path)
    }

    /// Writes `tensor` as a version 1.0 `.npy` file (C order, little-endian).
    /// - Throws: `FormatError.invalidValue` for bfloat16, which NumPy cannot represent.
    public static func write(_ tensor: TensorData, to url: URL) throws {
        try writeFile(encode(tensor, path: url.path), to: url)
    }

    /// The `.npy` bytes of `tensor` (what `write` stores; an HTTP body, for example).
    /// - Parameter name: names the array in error messages.
    public static func encoded(_ tensor: TensorData, name: String) throws -> [UInt8] {
        try encode(tensor, path: name)
    }

    /// Parses `.npy` bytes received from elsewhere (an HTTP body, for example).
    /// - Parameter name: names the array in error messages.
    public static func decoded(_ data: Data, name: String) throws -> TensorData {
        try parse(data, path: name)
    }

    /// Parses `.npy` bytes.
    static func parse(_ data: Data, path: String) throws -> TensorData {
        var r = ByteReader(data, path: path)
        guard data.count >= 10, try r.array(6) == magic else { throw FormatError.corrupt(path: path, reason: "not a .npy file (bad magic)") }
        let major = try r.u8()
        _ = try r.u8()
        let headerLength: Int
        switch major {
        case 1: headerLength = Int(try r.u16())
        case 2, 3: headerLength = Int(try r.u32())
        default: throw FormatError.unsupported(path: path, reason: ".npy format version \(major)")
        }
        let headerData = try r.bytes(headerLength, ".npy header")
        guard let header = String(data: headerData, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw FormatError.corrupt(path: path, reason: "undecodable .npy header")
        }
        let dict = try PythonLiteral.parseHeader(header, path: path)
        guard case let .string(descr)? = dict["descr"] else {
            throw FormatError.unsupported(path: path, reason: "structured or missing dtype in .npy header")
        }
        guard case let .bool(fortran)? = dict["fortran_order"] else {
            throw FormatError.corrupt(path: path, reason: "missing fortran_order in .npy header")
        }
        guard case let .tuple(dims)? = dict["shape"] else { throw FormatError.corrupt(path: path, reason: "missing shape in .npy header") }
        let shape = try dims.map { d -> Int in
            guard case let .int(n) = d, n >= 0 else { throw FormatError.corrupt(path: path, reason: "invalid dimension in .npy shape") }
            return n
        }
        let (dtype, bigEndian) = try parseDescr(descr, path: path)
        guard let count = TensorData.checkedElementCount(shape) else {
            throw FormatError.corrupt(path: path, reason: "shape \(shape) overflows")
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.size)
        guard !overflow, byteCount <= r.remaining else {
            throw FormatError.corrupt(path: path, reason: "shape \(shape) of \(descr) needs more data than the file holds")
        }
        var bytes = try r.array(byteCount, "array data")
        if bigEndian { byteSwap(&bytes, width: dtype.size) }
        if fortran, shape.count > 1 { bytes = fortranToC(bytes, shape: shape, width: dtype.size) }
        return TensorData(dtype: dtype, shape: shape, bytes: bytes)
    }

    /// The dtype and byte order of a NumPy type string such as `<f4`, `>i8`, `|b1`.
    static func parseDescr(_ descr: String, path: String) throws -> (DType, Bool) {
        guard descr.count >= 2 else { throw FormatError.unsupported(path: path, reason: "dtype '\(descr)'") }
        let order = descr.first!
        let code = String(descr.dropFirst())
        let dtype: DType
        switch code {
        case "f4": dtype = .float32
        case "f2": dtype = .float16
        case "f8": dtype = .float64
        case "i8": dtype = .int64
        case "i4": dtype = .int32
        case "i2": dtype = .int16
        case "i1": dtype = .int8
        case "u1": dtype = .uint8
        case "b1": dtype = .bool
        default: throw FormatError.unsupported(path: path, reason: "NumPy dtype '\(descr)'")
        }
        switch order {
        case "<", "|", "=": return (dtype, false)
        case ">": return (dtype, dtype.size > 1)
        default: throw FormatError.unsupported(path: path, reason: "NumPy dtype '\(descr)'")
        }
    }

    /// The bytes of a `.npy` file for `tensor`.
    static func encode(_ tensor: TensorData, path: String) throws -> [UInt8] {
        guard let descr = typeString(tensor.dtype) else {
            throw FormatError.invalidValue(path: path, reason: "NumPy has no \(tensor.dtype) dtype")
        }
        let shapeText: String
        switch tensor.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(tensor.shape[0]),)"
        default: shapeText = "(" + tensor.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad with spaces so magic + version + length + header + newline is a multiple of 64.
        let unpadded = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out = magic
        let headerBytes = Array(header.utf8)
        if headerBytes.count <= 0xFFFF {
            out += [1, 0]
            out.appendLE(UInt16(headerBytes.count))
        } else {
            out += [2, 0]
            out.appendLE(UInt32(headerBytes.count))
        }
        out += headerBytes
        out += tensor.bytes
        return out
    }

    /// Reverses the byte order of each `width`-byte element.
    static func byteSwap(_ bytes: inout [UInt8], width: Int) {
        guard width > 1 else { return }
        var i = 0
        while i + width <= bytes.count {
            bytes[i..<(i + width)].reverse()
            i += width
        }
    }

    /// Reorders column-major (Fortran) element bytes into row-major order.
    static func fortranToC(_ bytes: [UInt8], shape: [Int], width: Int) -> [UInt8] {
        let n = TensorData.elementCount(shape)
        guard n > 0 else { return bytes }
        // Column-major strides, visited in row-major order.
        var strides = [Int](repeating: 1, count: shape.count)
        for d in 1..<shape.count { strides[d] = strides[d - 1] * shape[d - 1] }
        return StridedCopy.gather(bytes, elementSize: width, shape: shape, strides: strides, offset: 0)
    }
}

/// Reads and writes NumPy `.npz` archives (a ZIP of `.npy` files, stored or deflated).
public enum NPZ {
    /// Reads every array of an `.npz` file, in archive order; names drop the `.npy` extension.
    /// - Throws: `FormatError` naming the archive (and the member) on any damage.
    public static func read(_ url: URL) throws -> [(name: String, tensor: TensorData)] {
        try parse(mapFile(url), path: url.path)
    }

    /// Writes arrays as an uncompressed `.npz` archive (what `numpy.savez` writes).
    /// - Throws: `FormatError.invalidValue` for duplicate names or bfloat16 arrays.
    public static func write(_ arrays: [(name: String, tensor: TensorData)], to url: URL) throws {
        var zip = ZipWriter(path: url.path, alignment: 64)
        var seen = Set<String>()
        for (name, tensor) in arrays {
            guard !name.isEmpty, seen.insert(name).inserted else {
                throw FormatError.invalidValue(path: url.path, reason: "empty or duplicate array name '\(name)'")
            }
            try zip.add(name + ".npy", NPY.encode(tensor, path: url.path))
        }
        try writeFile(zip.finish(), to: url)
    }

    static func parse(_ data: Data, path: String) throws -> [(name: String, tensor: TensorData)] {
        guard ZipReader.looksLikeZip(data) else { throw FormatError.corrupt(path: path, reason: "not an .npz (ZIP) file") }
        let zip = try ZipReader(data: data, path: path)
        return try zip.entries.map { entry in
            let name = entry.name.hasSuffix(".npy") ? String(entry.name.dropLast(4)) : entry.name
            return (name, try NPY.parse(zip.contents(entry), path: "\(path)[\(entry.name)]"))
        }
    }
}

/// The tiny subset of Python literal syntax used in `.npy` headers: a dict of str keys to str, bool, int or tuple.
enum PythonLiteral: Equatable {
    case string(String), bool(Bool), int(Int), tuple([PythonLiteral]), none

    static func parseHeader(_ text: String, path: String) throws -> [String: PythonLiteral] {
        var p = Parser(chars: Array(text.unicodeScalars), path: path)
        return try p.dict()
    }

    struct Parser {
        let chars: [Unicode.Scalar]
        let path: String
        var i = 0

        func fail() -> FormatError { .corrupt(path: path, reason: "malformed .npy header dictionary") }

        mutating func space() { while i < chars.count, chars[i] == " " || chars[i] == "\n" || chars[i] == "\t" { i += 1 } }

        mutating func expect(_ c: Unicode.Scalar) throws {
            space()
            guard i < chars.count, chars[i] == c else { throw fail() }
            i += 1
        }

        mutating func peek(_ c: Unicode.Scalar) -> Bool {
            space()
            return i < chars.count && chars[i] == c
        }

        mutating func dict() throws -> [String: PythonLiteral] {
            try expect("{")
            var out: [String: PythonLiteral] = [:]
            while !peek("}") {
                guard case let .string(key) = try value(depth: 0) else { throw fail() }
                try expect(":")
                out[key] = try value(depth: 0)
                if peek(",") { i += 1 } else { break }
            }
            try expect("}")
            return out
        }

        mutating func value(depth: Int) throws -> PythonLiteral {
            guard depth < 4 else { throw fail() }
            space()
            guard i < chars.count else { throw fail() }
            let c = chars[i]
            if c == "'" || c == "\"" {
                i += 1
                var s = ""
                while i < chars.count, chars[i] != c { s.unicodeScalars.append(chars[i]); i += 1 }
                guard i < chars.count else { throw fail() }
                i += 1
                return .string(s)
            }
            if c == "(" || c == "[" {
                let close: Unicode.Scalar = c == "(" ? ")" : "]"
                i += 1
                var items: [PythonLiteral] = []
                while !peek(close) {
                    items.append(try value(depth: depth + 1))
                    if peek(",") { i += 1 } else { break }
                }
                try expect(close)
                return .tuple(items)
            }
            var word = ""
            while i < chars.count, chars[i].properties.isAlphabetic || ("0"..."9").contains(chars[i]) || chars[i] == "-" || chars[i] == "L" {
                word.unicodeScalars.append(chars[i]); i += 1
            }
            switch word {
            case "True": return .bool(true)
            case "False": return .bool(false)
            case "None": return .none
            default:
                let digits = word.hasSuffix("L") ? String(word.dropLast()) : word
                guard let n = Int(digits) else { throw fail() }
                return .int(n)
            }
        }
    }
}
