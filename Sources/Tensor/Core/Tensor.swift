// `Tensor`: a contiguous row-major Float32 buffer with a shape; the value type every layer passes around.
// Shape legend: B batch, T tokens (query side), S tokens (key/context side), C width, D embedding dim.
// A Tensor of shape [B, T, C] stores element (b, t, c) at index (b·T + t)·C + c.
import Foundation

/// A dense row-major Float32 tensor: one flat `[Float]` plus its shape.
///
/// It is a value type (copy-on-write through `[Float]`): storing it in a cache costs no copy.
public struct Tensor: Equatable, Sendable, CustomStringConvertible {
    /// The sizes of the dimensions, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major order; `data.count == shape.reduce(1, *)`.
    public var data: [Float]

    /// A tensor over existing values; `data.count` must equal the product of `shape`.
    public init(shape: [Int], data: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor shape \(shape) has a negative size")
        precondition(Tensor.elementCount(shape) == data.count, "Tensor shape \(shape) needs \(Tensor.elementCount(shape)) values, got \(data.count)")
        self.shape = shape
        self.data = data
    }

    /// A tensor filled with `value` (zeros by default).
    public init(zeros shape: [Int], value: Float = 0) {
        self.init(shape: shape, data: [Float](repeating: value, count: Tensor.elementCount(shape)))
    }

    /// A tensor of independent normal samples with mean 0 and standard deviation `std`.
    public init<G: RandomNumberGenerator>(randomNormal shape: [Int], std: Float = 1, using rng: inout G) {
        let n = Tensor.elementCount(shape)
        var values = [Float](repeating: 0, count: n)
        var i = 0
        while i < n {
            // Box–Muller: two samples per pair of uniforms.
            let u1 = max(Double(rng.next() >> 11) / Double(1 << 53), 1e-300)
            let u2 = Double(rng.next() >> 11) / Double(1 << 53)
            let r = (-2 * log(u1)).squareRoot()
            values[i] = Float(r * cos(2 * .pi * u2)) * std
            if i + 1 < n { values[i + 1] = Float(r * sin(2 * .pi * u2)) * std }
            i += 2
        }
        self.init(shape: shape, data: values)
    }

    /// A tensor of independent uniform samples in `[-bound, bound)`.
    public init<G: RandomNumberGenerator>(randomUniform shape: [Int], bound: Float, using rng: inout G) {
        let n = Tensor.elementCount(shape)
        let values = (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53) * 2 - 1) * bound }
        self.init(shape: shape, data: values)
    }

    /// The product of a shape's sizes (1 for a 0-d shape).
    @inlinable public static func elementCount(_ shape: [Int]) -> Int { shape.reduce(1, *) }

    /// The number of elements.
    public var count: Int { data.count }
    /// The number of dimensions.
    public var rank: Int { shape.count }
    /// The size of the last dimension (the row width C); 1 for a 0-d tensor.
    public var lastDimension: Int { shape.last ?? 1 }
    /// The number of rows when viewed as a [rows, lastDimension] matrix (all leading dimensions flattened).
    public var rowCount: Int { lastDimension == 0 ? 0 : count / lastDimension }

    /// The same values under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        Tensor(shape: newShape, data: data)
    }

    /// Changes the shape in place (same element count).
    public mutating func reshape(_ newShape: [Int]) {
        precondition(Tensor.elementCount(newShape) == data.count, "cannot reshape \(shape) to \(newShape)")
        shape = newShape
    }

    /// The element at a full multi-index (slow; for tests and small lookups).
    public subscript(indices: Int...) -> Float {
        get { data[flatIndex(indices)] }
        set { data[flatIndex(indices)] = newValue }
    }

    private func flatIndex(_ indices: [Int]) -> Int {
        precondition(indices.count == shape.count, "index \(indices) does not match shape \(shape)")
        var flat = 0
        for (i, size) in zip(indices, shape) {
            precondition(i >= 0 && i < size, "index \(indices) out of range for shape \(shape)")
            flat = flat * size + i
        }
        return flat
    }

    /// Row `i` of the [rowCount, lastDimension] view, copied out.
    public func row(_ i: Int) -> [Float] {
        let w = lastDimension
        return Array(data[(i * w)..<((i + 1) * w)])
    }

    /// A short description: the shape and the first few values.
    public var description: String {
        let head = data.prefix(6).map { String(format: "%.4g", Double($0)) }.joined(separator: ", ")
        return "Tensor\(shape)[\(head)\(data.count > 6 ? ", …" : "")]"
    }
}

// Elementwise arithmetic (the residual add and its friends).
extension Tensor {
    /// Elementwise sum of two tensors of the same shape (a residual connection; its backward sends dOut to both).
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "cannot add shapes \(lhs.shape) and \(rhs.shape)")
        var out = lhs
        out.add(rhs)
        return out
    }

    /// Elementwise difference of two tensors of the same shape.
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor {
        precondition(lhs.shape == rhs.shape, "cannot subtract shapes \(lhs.shape) and \(rhs.shape)")
        var out = lhs
        out.add(rhs, scale: -1)
        return out
    }

    /// Every element multiplied by a scalar.
    public static func * (lhs: Tensor, rhs: Float) -> Tensor {
        var out = lhs
        out.data.withUnsafeMutableBufferPointer { p in for i in p.indices { p[i] *= rhs } }
        return out
    }

    /// In place `self += scale · other` (same shape).
    public mutating func add(_ other: Tensor, scale: Float = 1) {
        precondition(shape == other.shape, "cannot add shapes \(shape) and \(other.shape)")
        let n = count
        data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { o in
                if scale == 1 { for i in 0..<n { d[i] += o[i] } } else { for i in 0..<n { d[i] += scale * o[i] } }
            }
        }
    }

    /// Elementwise product of two tensors of the same shape.
    public func multiplied(by other: Tensor) -> Tensor {
        precondition(shape == other.shape, "cannot multiply shapes \(shape) and \(other.shape)")
        var out = self
        out.data.withUnsafeMutableBufferPointer { d in
            other.data.withUnsafeBufferPointer { o in for i in d.indices { d[i] *= o[i] } }
        }
        return out
    }

    /// The sum of all elements, accumulated in Double.
    public func sum() -> Double {
        data.withUnsafeBufferPointer { p in p.reduce(0.0) { $0 + Double($1) } }
    }

    /// The rows of a [N, C] view concatenated along the first dimension with another tensor's rows.
    public static func concatenateRows(_ tensors: [Tensor]) -> Tensor {
        precondition(!tensors.isEmpty, "concatenateRows needs at least one tensor")
        let width = tensors[0].lastDimension
        var data: [Float] = []
        data.reserveCapacity(tensors.reduce(0) { $0 + $1.count })
        var rows = 0
        for t in tensors {
            precondition(t.lastDimension == width, "concatenateRows: widths \(width) and \(t.lastDimension) differ")
            data.append(contentsOf: t.data)
            rows += t.rowCount
        }
        return Tensor(shape: [rows, width], data: data)
    }
}

// Matrix products through OpenBLAS.
extension Tensor {
    /// The matrix product `op(A)·op(B)` of two rank-2 tensors.
    ///
    /// - Parameters:
    ///   - transposeA: use Aᵀ (A stored K×M).
    ///   - transposeB: use Bᵀ (B stored N×K).
    public static func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 2 && b.rank == 2, "matmul needs rank-2 tensors, got \(a.shape) and \(b.shape)")
        let m = transposeA ? a.shape[1] : a.shape[0]
        let k = transposeA ? a.shape[0] : a.shape[1]
        let kb = transposeB ? b.shape[1] : b.shape[0]
        let n = transposeB ? b.shape[0] : b.shape[1]
        precondition(k == kb, "matmul inner sizes differ: \(a.shape)\(transposeA ? "ᵀ" : "") · \(b.shape)\(transposeB ? "ᵀ" : "")")
        var out = [Float](repeating: 0, count: m * n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    guard let ba = pa.baseAddress, let bb = pb.baseAddress, let bc = pc.baseAddress else { return }
                    BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: ba, b: bb, c: bc)
                }
            }
        }
        return Tensor(shape: [m, n], data: out)
    }

    /// Batched matrix products: `a` [G, M, K] (or [G, K, M] transposed) times `b` [G, K, N] (or [G, N, K]) → [G, M, N].
    public static func batchedMatmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false) -> Tensor {
        precondition(a.rank == 3 && b.rank == 3 && a.shape[0] == b.shape[0], "batchedMatmul needs [G,·,·] tensors with equal G, got \(a.shape) and \(b.shape)")
        let g = a.shape[0]
        let m = transposeA ? a.shape[2] : a.shape[1]
        let k = transposeA ? a.shape[1] : a.shape[2]
        let kb = transposeB ? b.shape[2] : b.shape[1]
        let n = transposeB ? b.shape[1] : b.shape[2]
        precondition(k == kb, "batchedMatmul inner sizes differ: \(a.shape) · \(b.shape)")
        var out = [Float](repeating: 0, count: g * m * n)
        a.data.withUnsafeBufferPointer { pa in
            b.data.withUnsafeBufferPointer { pb in
                out.withUnsafeMutableBufferPointer { pc in
                    guard let ba = pa.baseAddress, let bb = pb.baseAddress, let bc = pc.baseAddress else { return }
                    for i in 0..<g {
                        BLAS.sgemm(transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k,
                                   a: ba + i * m * k, b: bb + i * k * n, c: bc + i * m * n)
                    }
                }
            }
        }
        return Tensor(shape: [g, m, n], data: out)
    }
}
