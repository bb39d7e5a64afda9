// The one place the Tensor module talks to OpenBLAS: raw-pointer GEMM/GEMV/SYRK, a Cholesky solve and thread control.
// Shapes: M×K times K×N → M×N, row-major; transposes are flags, never copies.
import COpenBLAS
import Foundation
#if canImport(Glibc)
    import Glibc
#endif

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

    /// OpenBLAS's build configuration and the kernel core it chose for this CPU (e.g. "OpenBLAS 0.3.21 … core Haswell"):
    /// the kernel path that decides the last bits of every product.
    public static var configuration: String {
        let config = openblas_get_config().map { String(cString: $0) } ?? "OpenBLAS"
        let core = openblas_get_corename().map { String(cString: $0) } ?? "unknown"
        return "\(config.trimmingCharacters(in: .whitespaces)), core \(core)"
    }

    /// `C = alpha · Aᵀ·A + beta · C` on the upper triangle of the N×N row-major `C`, for a row-major K×N `A` (a Gram
    /// matrix of K rows; the lower triangle of `C` is left untouched).
    @inline(__always)  // as sgemm.
    public static func ssyrkTransposed(
        n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int? = nil,
        beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int? = nil
    ) {
        precondition(n >= 0 && k >= 0, "ssyrk with negative size \(n)×\(k)")
        precondition(n <= Int(Int32.max) && k <= Int(Int32.max), "ssyrk size exceeds 32-bit blasint")
        if n == 0 { return }
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, blasint(n), blasint(k), alpha, a, blasint(lda ?? n), beta, c, blasint(ldc ?? n))
    }

    /// Solves `A·X = B` for a symmetric positive definite N×N `A` (Double, row-major, only its upper triangle is read)
    /// and N×R right-hand sides `B` (row-major), in place: `B` becomes `X` and `A` its Cholesky factor.
    /// - Returns: false when `A` is not positive definite (LAPACK's `info` > 0); `B` is then unchanged.
    public static func choleskySolve(n: Int, rightHandSides r: Int, a: UnsafeMutablePointer<Double>, b: UnsafeMutablePointer<Double>) -> Bool {
        precondition(n >= 0 && r >= 0, "choleskySolve with negative size \(n)×\(r)")
        precondition(n <= Int(Int32.max) && r <= Int(Int32.max), "choleskySolve size exceeds 32-bit blasint")
        if n == 0 || r == 0 { return true }
        // Row-major upper = column-major lower: LAPACK factors it as L·Lᵀ with L stored where our upper triangle is.
        var uplo = CChar(UInt8(ascii: "L")), size = blasint(n), info = blasint(0)
        dpotrf_(&uplo, &size, a, &size, &info)
        precondition(info >= 0, "dpotrf: argument \(-info) is invalid")
        guard info == 0 else { return false }
        // In row-major terms the factor is U (upper) with A = Uᵀ·U: solve Uᵀ·Y = B, then U·X = Y.
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasTrans, CblasNonUnit, blasint(n), blasint(r), 1, a, blasint(n), b, blasint(r))
        cblas_dtrsm(CblasRowMajor, CblasLeft, CblasUpper, CblasNoTrans, CblasNonUnit, blasint(n), blasint(r), 1, a, blasint(n), b, blasint(r))
        return true
    }

    /// Factors a symmetric positive definite N×N `A` (Double, row-major, only its upper triangle is read) in place as
    /// `A = Uᵀ·U` with `U` upper triangular (row-major; the strictly lower triangle is set to 0).
    /// - Returns: false when `A` is not positive definite (LAPACK's `info` > 0); `A` is then unspecified.
    public static func choleskyFactor(n: Int, a: UnsafeMutablePointer<Double>) -> Bool {
        precondition(n >= 0 && n <= Int(Int32.max), "choleskyFactor of size \(n)")
        if n == 0 { return true }
        // Row-major upper = column-major lower: LAPACK's L (column-major) is our U (row-major), with A = Uᵀ·U.
        var uplo = CChar(UInt8(ascii: "L")), size = blasint(n), info = blasint(0)
        dpotrf_(&uplo, &size, a, &size, &info)
        precondition(info >= 0, "dpotrf: argument \(-info) is invalid")
        guard info == 0 else { return false }
        for i in 0..<n { for j in 0..<i { a[i * n + j] = 0 } }
        return true
    }

    /// The number of threads OpenBLAS uses (follows `OPENBLAS_NUM_THREADS` until set here).
    public static var threadCount: Int {
        get { Int(openblas_get_num_threads()) }
        set { openblas_set_num_threads(Int32(max(1, newValue))) }
    }

    /// The thread budget for our own parallel loops: OpenBLAS's thread count (what `--threads` / `OPENBLAS_NUM_THREADS`
    /// set), at most the number of cores.
    public static var workerBudget: Int { max(1, min(threadCount, ProcessInfo.processInfo.activeProcessorCount)) }

    /// Runs `body` with OpenBLAS limited to `count` threads, then restores the previous count. For phases of small
    /// products, where splitting each one across threads costs more than it saves.
    public static func withThreadCount<T>(_ count: Int, _ body: () throws -> T) rethrows -> T {
        let saved = threadCount
        guard saved != count else { return try body() }
        threadCount = count
        defer { threadCount = saved }
        return try body()
    }

    /// The spin window `limitIdleSpin` sets unless `OPENBLAS_THREAD_TIMEOUT` says otherwise: 2^20 cycles (≈ 0.4 ms),
    /// long enough to bridge the gaps between the GEMMs of one forward pass, short enough that a worker goes to
    /// sleep while the caller does non-BLAS work (docs/agent.md has the measurements).
    public static let idleSpinExponent = 20

    /// Makes idle OpenBLAS worker threads sleep after spinning 2^`exponent` CPU cycles instead of OpenBLAS's
    /// default 2^28 (≈ 0.1 s), and returns the exponent now in force (nil when this OpenBLAS offers no way to
    /// change it, or when `OPENBLAS_THREAD_TIMEOUT` is set: the user's choice stands).
    ///
    /// Why: after every multi-threaded BLAS call the workers busy-wait (yielding) for the next one. Between the
    /// world model's GEMMs that saves a wake-up, but while the caller filters, retrieves or commits to SQLite the
    /// spinning worker takes the other core of a 2-core machine away from that work and from background threads
    /// (the runtime's offload writer): a rollout spent 32% of its time outside the model with the default and
    /// 24% with 2^20. OpenBLAS reads the window from the environment when its thread pool starts, so this sets
    /// the variable, makes OpenBLAS read it again and restarts the pool (`openblas_read_env`, `blas_thread_shutdown_`,
    /// `blas_thread_init`, looked up at run time: an OpenBLAS without them is left as it is).
    /// Call it at start-up, before any other thread uses BLAS (it is not safe while a BLAS call runs).
    @discardableResult
    public static func limitIdleSpin(exponent: Int = idleSpinExponent) -> Int? {
        if getenv("OPENBLAS_THREAD_TIMEOUT") != nil { return nil }
        typealias Procedure = @convention(c) () -> Void
        typealias Status = @convention(c) () -> Int32
        typealias Timeout = @convention(c) () -> UInt32
        // A nil handle is RTLD_DEFAULT: every library the process has loaded.
        guard let readEnvironment = dlsym(nil, "openblas_read_env"), let shutdown = dlsym(nil, "blas_thread_shutdown_"),
            let start = dlsym(nil, "blas_thread_init"), let timeout = dlsym(nil, "openblas_thread_timeout")
        else { return nil }
        // OpenBLAS clamps the exponent to 4…30.
        let clamped = min(30, max(4, exponent))
        setenv("OPENBLAS_THREAD_TIMEOUT", String(clamped), 1)
        unsafeBitCast(readEnvironment, to: Procedure.self)()
        _ = unsafeBitCast(shutdown, to: Status.self)()
        _ = unsafeBitCast(start, to: Status.self)()
        return Int(unsafeBitCast(timeout, to: Timeout.self)())
    }
}
