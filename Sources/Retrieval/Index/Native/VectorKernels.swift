// The one Swift file that calls CKernels (our AVX-512 / AVX2+FMA / portable C kernels, chosen at run time).
import CKernels

/// Which instruction set the vector kernels use.
public enum SIMDLevel: Int, Sendable, CustomStringConvertible {
    /// Plain C loops (any CPU).
    case portable = 0
    /// AVX2 with fused multiply-add.
    case avx2 = 1
    /// AVX-512F.
    case avx512 = 2

    public var description: String { ["portable", "avx2+fma", "avx512f"][rawValue] }
}

/// Thin wrappers over the C kernels; every call site of C in Retrieval goes through here.
enum NativeKernels {
    @inline(__always)  // one C call per graph step in HNSW; keep the wrapper free.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        wgk_dot_f32(a, b, n)
    }

    static func scores(query: UnsafePointer<Float>, rows: UnsafePointer<Float>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        wgk_scores_f32(query, rows, rowCount, dim, out)
    }

    static func scoresInt8(query: UnsafePointer<Float>, codes: UnsafePointer<Int8>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        wgk_scores_i8(query, codes, rowCount, dim, out)
    }

    @inline(__always)  // per visited neighbour in HNSW.
    static func prefetch(_ p: UnsafeRawPointer, bytes: Int) { wgk_prefetch(p, bytes) }

    static var level: SIMDLevel { SIMDLevel(rawValue: Int(wgk_level())) ?? .portable }
    static var supportedLevel: SIMDLevel { SIMDLevel(rawValue: Int(wgk_supported_level())) ?? .portable }
    static func setLevel(_ level: SIMDLevel) -> SIMDLevel { SIMDLevel(rawValue: Int(wgk_set_level(Int32(level.rawValue)))) ?? .portable }
}
