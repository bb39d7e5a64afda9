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
}
