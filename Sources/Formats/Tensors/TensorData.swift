// Dense tensors as stored in files: an element type, a shape and contiguous little-endian row-major bytes.

/// The element types the tensor formats here read and write.
public enum DType: String, Sendable, CaseIterable, Codable {
    case float32, float16, bfloat16, float64, int64, int32, int16, int8, uint8, bool

    /// Bytes per element.
    public var size: Int {
        switch self {
        case .float64, .int64: return 8
        case .float32, .int32: return 4
        case .float16, .bfloat16, .int16: return 2
        case .int8, .uint8, .bool: return 1
        }
    }

    /// True for the floating-point types.
    public var isFloatingPoint: Bool {
        switch self {
        case .float32, .float16, .bfloat16, .float64: return true
        default: return false
        }
    }
}

/// A dense row-major little-endian tensor as stored in files.
///
/// `bytes` always holds exactly `count * dtype.size` bytes in logical row-major order, whatever layout
/// (strides, offsets, byte order) the file used.
public struct TensorData: Equatable, Sendable {
    /// The element type.
    public var dtype: DType
    /// The dimensions; `[]` is a 0-d (scalar) tensor holding one element.
    public var shape: [Int]
    /// The elements, contiguous, row-major, little-endian.
    public var bytes: [UInt8]

    /// A tensor from raw bytes.
    /// - Precondition: `bytes.count == count * dtype.size` and no dimension is negative.
    public init(dtype: DType, shape: [Int], bytes: [UInt8]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(bytes.count == TensorData.elementCount(shape) * dtype.size,
                     "\(bytes.count) bytes for a \(dtype) tensor of shape \(shape)")
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 tensor holding `floats`.
    /// - Precondition: `floats.count` equals the product of `shape`.
    public init(floats: [Float], shape: [Int]) {
        precondition(floats.count == TensorData.elementCount(shape), "\(floats.count) floats for shape \(shape)")
        let bytes = floats.withUnsafeBytes { [UInt8]($0) }  // x86-64 and arm64 are little-endian
        self.init(dtype: .float32, shape: shape, bytes: bytes)
    }

    /// A tensor of `dtype` holding `values` converted from Float (rounded to nearest even for float16/bfloat16,
    /// truncated toward zero and clamped for integer types, nonzero → true for bool).
    public init(converting values: [Float], to dtype: DType, shape: [Int]) {
        precondition(values.count == TensorData.elementCount(shape), "\(values.count) values for shape \(shape)")
        var out = [UInt8]()
        out.reserveCapacity(values.count * dtype.size)
        for v in values {
            switch dtype {
            case .float32: out.appendLE(v.bitPattern)
            case .float64: out.appendLE(Double(v).bitPattern)
            case .float16: out.appendLE(HalfFloat.fromFloat(v))
            case .bfloat16: out.appendLE(HalfFloat.bfloat16FromFloat(v))
            case .int64: out.appendLE(TensorData.clamped(v, to: Int64.self))
            case .int32: out.appendLE(TensorData.clamped(v, to: Int32.self))
            case .int16: out.appendLE(TensorData.clamped(v, to: Int16.self))
            case .int8: out.appendLE(TensorData.clamped(v, to: Int8.self))
            case .uint8: out.appendLE(TensorData.clamped(v, to: UInt8.self))
            case .bool: out.append(v != 0 ? 1 : 0)
            }
        }
        self.init(dtype: dtype, shape: shape, bytes: out)
    }

    /// `v` truncated toward zero and clamped to the range of `T` (NaN gives 0).
    static func clamped<T: FixedWidthInteger>(_ v: Float, to: T.Type) -> T {
        guard !v.isNaN else { return 0 }
        if v <= Float(T.min) { return T.min }
        if v >= Float(T.max) { return T.max }
        return T(v.rounded(.towardZero))
    }

    /// An int64 tensor holding `values`.
    public init(int64s values: [Int64], shape: [Int]) {
        precondition(values.count == TensorData.elementCount(shape), "\(values.count) values for shape \(shape)")
        var out = [UInt8]()
        out.reserveCapacity(values.count * 8)
        for v in values { out.appendLE(v) }
        self.init(dtype: .int64, shape: shape, bytes: out)
    }

    /// The product of `shape` (1 for `[]`).
    public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// The product of `shape`, or nil when it overflows or a dimension is negative (for untrusted headers).
    static func checkedElementCount(_ shape: [Int]) -> Int? {
        var n = 1
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, o) = n.multipliedReportingOverflow(by: d)
            if o { return nil }
            n = p
        }
        return n
    }

    /// The number of elements: the product of `shape`, 1 for a 0-d tensor.
    public var count: Int { TensorData.elementCount(shape) }

    /// Every element converted to Float32, in row-major order.
    public func floatValues() -> [Float] {
        let n = count
        if dtype == .float32 {
            // Same bytes on little-endian hosts (x86-64, arm64): one copy.
            return [Float](unsafeUninitializedCapacity: n) { out, initialized in
                bytes.withUnsafeBytes { raw in
                    if let dst = out.baseAddress, let src = raw.baseAddress { UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: n * 4) }
                }
                initialized = n
            }
        }
        return bytes.withUnsafeBytes { raw in
            [Float](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = Float(TensorData.element(raw, i, dtype)) }
                initialized = n
            }
        }
    }

    /// Every element converted to Float64, in row-major order.
    public func doubleValues() -> [Double] {
        let n = count
        return bytes.withUnsafeBytes { raw in
            [Double](unsafeUninitializedCapacity: n) { out, initialized in
                for i in 0..<n { out[i] = TensorData.element(raw, i, dtype) }
                initialized = n
            }
        }
    }

    /// Every element as Int64 for integer and bool tensors; nil for floating-point tensors.
    public func int64Values() -> [Int64]? {
        guard !dtype.isFloatingPoint else { return nil }
        let n = count
        return bytes.withUnsafeBytes { raw in
            (0..<n).map { i -> Int64 in
                switch dtype {
                case .int64: return Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self))
                case .int32: return Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
                case .int16: return Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
                case .int8: return Int64(Int8(bitPattern: raw[i]))
                case .uint8: return Int64(raw[i])
                case .bool: return raw[i] != 0 ? 1 : 0
                default: return 0
                }
            }
        }
    }

    /// The sum of all elements in Float64 (0 for an empty tensor).
    public func sum() -> Double {
        let n = count
        return bytes.withUnsafeBytes { raw in
            var s = 0.0
            for i in 0..<n { s += TensorData.element(raw, i, dtype) }
            return s
        }
    }

    /// Element `i` (row-major) of a buffer of `dtype`, as Double.
    @inline(__always)  // called once per element in the conversion loops
    static func element(_ raw: UnsafeRawBufferPointer, _ i: Int, _ dtype: DType) -> Double {
        switch dtype {
        case .float32: return Double(Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: UInt32.self))))
        case .float64: return Double(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: UInt64.self)))
        case .float16: return Double(HalfFloat.toFloat(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))))
        case .bfloat16:
            let bits = UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self))
            return Double(Float(bitPattern: UInt32(bits) << 16))
        case .int64: return Double(Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)))
        case .int32: return Double(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)))
        case .int16: return Double(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: i * 2, as: Int16.self)))
        case .int8: return Double(Int8(bitPattern: raw[i]))
        case .uint8: return Double(raw[i])
        case .bool: return raw[i] != 0 ? 1 : 0
        }
    }
}

/// IEEE 754 half precision and bfloat16 conversions by bit manipulation (no platform Float16 needed).
enum HalfFloat {
    /// Half-precision bits to Float (exact).
    static func toFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exponent = Int((h >> 10) & 0x1F)
        let mantissa = UInt32(h & 0x03FF)
        if exponent == 0 {
            // Zero or subnormal: mantissa × 2^-24.
            let magnitude = Float(mantissa) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -magnitude : magnitude
        }
        if exponent == 31 {
            return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
        }
        return Float(bitPattern: sign | UInt32(exponent - 15 + 127) << 23 | (mantissa << 13))
    }

    /// Float to half-precision bits, rounding to nearest even; overflow gives infinity, NaN stays NaN.
    static func fromFloat(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        let sign = UInt16((bits >> 16) & 0x8000)
        if f.isNaN { return sign | 0x7E00 }
        let magnitude = abs(f)
        if magnitude >= 65520 { return sign | 0x7C00 }  // rounds to infinity
        if magnitude < Float(sign: .plus, exponent: -14, significand: 1) {
            // Subnormal half: value / 2^-24 rounded to nearest even.
            let scaled = (magnitude * Float(sign: .plus, exponent: 24, significand: 1)).rounded(.toNearestOrEven)
            return sign | UInt16(scaled)
        }
        let exponent = Int((bits >> 23) & 0xFF) - 127 + 15
        var mantissa = bits & 0x007F_FFFF
        var e = UInt32(exponent)
        // Round 23-bit mantissa to 10 bits, nearest even.
        let rest = mantissa & 0x1FFF
        mantissa >>= 13
        if rest > 0x1000 || (rest == 0x1000 && (mantissa & 1) == 1) {
            mantissa += 1
            if mantissa == 0x400 { mantissa = 0; e += 1 }
        }
        return sign | UInt16(e << 10) | UInt16(mantissa)
    }

    /// Float to bfloat16 bits, rounding to nearest even; NaN stays NaN.
    static func bfloat16FromFloat(_ f: Float) -> UInt16 {
        let bits = f.bitPattern
        if f.isNaN { return UInt16(bits >> 16) | 0x0040 }
        let rounding = UInt32(0x7FFF) + ((bits >> 16) & 1)
        return UInt16((bits &+ rounding) >> 16)
    }
}
