// The one place the Tensor module talks to OpenBLAS: raw-pointer GEMM/GEMV and thread control.
// Shapes: M×K times K×N → M×N, row-major; transposes are flags, never copies.
import COpenBLAS

/// Thin, checked entry points to OpenBLAS for row-major Float32 buffers.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C` for row-major buffers.
    ///
    /// - Parameters:
    ///   - transposeA: use Aᵀ; A is then stored K×M.
    ///   - transposeB: use Bᵀ; B is then stored N×K.
    ///   - m, n, k: the logical sizes of op(A) (M×K), op(B) (K×N) and C (M×N).
    ///   - lda, ldb, ldc: row strides; default to the dense row length.
    @inline(__always)  // a thin forwarder in hot loops; inlining removes the call.
    public static func sgemm(
        transposeA: Bool = false, transposeB: Bool = false,
        m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        b: UnsafePointer<Float>, ldb: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        precondition(m >= 0 && n >= 0 && k >= 0, "sgemm with negative size \(m)×\(n)×\(k)")
        precondition(m <= Int(Int32.max) && n <= Int(Int32.max) && k <= Int(Int32.max), "sgemm size exceeds 32-bit blasint")
        if m == 0 || n == 0 { return }
        let lda = lda ?? (transposeA ? m : k)
        let ldb = ldb ?? (transposeB ? k : n)
        let ldc = ldc ?? n
        cblas_sgemm(
            CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
            blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb), beta, c, blasint(ldc))
    }

    /// `y = alpha · op(A) · x + beta · y` for a row-major M×N matrix A.
    @inline(__always)  // as sgemm.
    public static func sgemv(
        transpose: Bool = false, m: Int, n: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
    ) {
        precondition(m >= 0 && n >= 0, "sgemv with negative size \(m)×\(n)")
        if m == 0 || n == 0 { return }
        cblas_sgemv(
            CblasRowMajor, transpose ? CblasTrans : CblasNoTrans, blasint(m), blasint(n), alpha, a,
            blasint(lda ?? n), x, 1, beta, y, 1)
    }

    /// Dot product of two length-`count` vectors.
    @inline(__always)  // as sgemm.
    public static func sdot(count: Int, _ x: UnsafePointer<Float>, _ y: UnsafePointer<Float>) -> Float {
        cblas_sdot(blasint(count), x, 1, y, 1)
    }

    /// `y += alpha · x` over `count` elements.
    @inline(__always)  // as sgemm.
    public static func saxpy(count: Int, alpha: Float, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>) {
        cblas_saxpy(blasint(count), alpha, x, 1, y, 1)
    }

    /// The number of threads OpenBLAS uses (follows `OPENBLAS_NUM_THREADS` until set here).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }
}
