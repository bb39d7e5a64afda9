// BLAS wrapper against a naive triple loop (the oracle), with and without transposes.
import Tensor
import TestSupport
import XCTest

final class BLASTests: XCTestCase {
    func testSgemmMatchesNaiveForAllTransposes() {
        var rng = SeededGenerator(seed: 7)
        let m = 5, n = 7, k = 3
        let a = (0..<(m * k)).map { _ in rng.nextGaussian() }
        let b = (0..<(k * n)).map { _ in rng.nextGaussian() }
        // Naive C = A·B with A M×K, B K×N.
        var expected = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for p in 0..<k { expected[i * n + j] += a[i * k + p] * b[p * n + j] } } }
        let aT = (0..<(k * m)).map { idx in a[(idx % m) * k + idx / m] }  // K×M
        let bT = (0..<(n * k)).map { idx in b[(idx % k) * n + idx / k] }  // N×K
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            var c = [Float](repeating: 0, count: m * n)
            (ta ? aT : a).withUnsafeBufferPointer { pa in
                (tb ? bT : b).withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        BLAS.sgemm(transposeA: ta, transposeB: tb, m: m, n: n, k: k,
                                   a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                    }
                }
            }
            for i in 0..<(m * n) { XCTAssertEqual(c[i], expected[i], accuracy: 1e-5, "transposeA \(ta) transposeB \(tb)") }
        }
    }

    func testSyrkAndCholeskySolveMatchNaiveTwins() {
        var rng = SeededGenerator(seed: 9)
        let k = 7, n = 4, r = 2
        let a = (0..<(k * n)).map { _ in rng.nextGaussian() }
        // Naive upper triangle of AᵀA (A is K×N).
        var gram = [Float](repeating: 0, count: n * n)
        a.withUnsafeBufferPointer { pa in gram.withUnsafeMutableBufferPointer { BLAS.ssyrkTransposed(n: n, k: k, a: pa.baseAddress!, c: $0.baseAddress!) } }
        var naive = [Double](repeating: 0, count: n * n)
        for i in 0..<n { for j in 0..<n { for p in 0..<k { naive[i * n + j] += Double(a[p * n + i]) * Double(a[p * n + j]) } } }
        for i in 0..<n { for j in i..<n { XCTAssertEqual(Double(gram[i * n + j]), naive[i * n + j], accuracy: 1e-4) } }
        // Solve (AᵀA + I)·X = B and check the residual with the full matrix (the solve reads only the upper triangle).
        var system = naive
        for i in 0..<n { system[i * n + i] += 1 }
        for i in 0..<n { for j in 0..<i { system[i * n + j] = .nan } }  // the lower triangle must not be read
        let b = (0..<(n * r)).map { _ in Double(rng.nextGaussian()) }
        var x = b
        let ok = system.withUnsafeMutableBufferPointer { ps in x.withUnsafeMutableBufferPointer { BLAS.choleskySolve(n: n, rightHandSides: r, a: ps.baseAddress!, b: $0.baseAddress!) } }
        XCTAssertTrue(ok)
        for i in 0..<n {
            for c in 0..<r {
                let lhs = (0..<n).reduce(0.0) { $0 + (naive[min(i, $1) * n + max(i, $1)] + (i == $1 ? 1 : 0)) * x[$1 * r + c] }
                XCTAssertEqual(lhs, b[i * r + c], accuracy: 1e-9)
            }
        }
        // Not positive definite: false, B unchanged.
        var indefinite: [Double] = [1, 2, 2, 1]
        var rhs: [Double] = [1, 1]
        XCTAssertFalse(indefinite.withUnsafeMutableBufferPointer { pa in rhs.withUnsafeMutableBufferPointer { BLAS.choleskySolve(n: 2, rightHandSides: 1, a: pa.baseAddress!, b: $0.baseAddress!) } })
        XCTAssertEqual(rhs, [1, 1])
    }

    func testLimitIdleSpinRestartsThePoolWithTheNewWindowAndGemmStaysCorrect() throws {
        if getenv("OPENBLAS_THREAD_TIMEOUT") != nil { throw Requirements.missing("OPENBLAS_THREAD_TIMEOUT is set: limitIdleSpin leaves it (unset it for this test)") }
        defer {
            unsetenv("OPENBLAS_THREAD_TIMEOUT")
            BLAS.limitIdleSpin()
        }
        // OpenBLAS clamps to 4…30; the value read back is OpenBLAS's own.
        XCTAssertEqual(BLAS.limitIdleSpin(exponent: 2), 4)
        unsetenv("OPENBLAS_THREAD_TIMEOUT")
        XCTAssertEqual(BLAS.limitIdleSpin(exponent: 18), 18)
        // A user's setting stands.
        XCTAssertNil(BLAS.limitIdleSpin(exponent: 12))
        XCTAssertEqual(String(cString: getenv("OPENBLAS_THREAD_TIMEOUT")), "18")
        // The restarted pool computes a product large enough to be split across threads.
        let saved = BLAS.threadCount
        BLAS.threadCount = 2
        defer { BLAS.threadCount = saved }
        let m = 96, n = 80, k = 112
        let a = (0..<(m * k)).map { Float(($0 * 7919) % 23) / 23 - 0.5 }
        let b = (0..<(k * n)).map { Float(($0 * 104_729) % 31) / 31 - 0.5 }
        var c = [Float](repeating: 0, count: m * n)
        a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                c.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)
                }
            }
        }
        for i in 0..<m {
            for j in 0..<n {
                var expected: Double = 0
                for p in 0..<k { expected += Double(a[i * k + p]) * Double(b[p * n + j]) }
                XCTAssertEqual(Double(c[i * n + j]), expected, accuracy: 1e-4, "row \(i) column \(j)")
            }
        }
    }
}
