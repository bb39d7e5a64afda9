// Tensor value semantics, shapes, and batched matmul against a naive loop.
import Tensor
import TestSupport
import XCTest

final class TensorCoreTests: XCTestCase {
    func testBatchedMatmulMatchesNaive() {
        var rng = SeededGenerator(seed: 51)
        let a = Tensor(randomNormal: [3, 2, 4], using: &rng)
        let b = Tensor(randomNormal: [3, 5, 4], using: &rng)  // used transposed
        let c = Tensor.batchedMatmul(a, b, transposeB: true)
        XCTAssertEqual(c.shape, [3, 2, 5])
        for g in 0..<3 { for i in 0..<2 { for j in 0..<5 {
            var e: Float = 0
            for p in 0..<4 { e += a[g, i, p] * b[g, j, p] }
            XCTAssertEqual(c[g, i, j], e, accuracy: 1e-5)
        } } }
    }

    func testMatmulTransposeAMatchesNaive() {
        let a = Tensor(shape: [2, 3], data: [1, 2, 3, 4, 5, 6])  // used as 3×2
        let b = Tensor(shape: [2, 1], data: [1, -1])
        XCTAssertEqual(Tensor.matmul(a, b, transposeA: true).data, [-3, -3, -3])
    }

    func testArithmeticAndReshape() {
        let a = Tensor(shape: [2, 2], data: [1, 2, 3, 4])
        XCTAssertEqual((a + a).data, [2, 4, 6, 8])
        XCTAssertEqual((a - a).data, [0, 0, 0, 0])
        XCTAssertEqual((a * 0.5).data, [0.5, 1, 1.5, 2])
        XCTAssertEqual(a.reshaped([4]).shape, [4])
        XCTAssertEqual(a.rowCount, 2)
        XCTAssertEqual(a.sum(), 10)
        XCTAssertEqual(Tensor.concatenateRows([a, a.reshaped([1, 4]).reshaped([2, 2])]).shape, [4, 2])
    }
}

final class ElementaryFunctionTests: XCTestCase {
    func testFastErfAndExpMatchLibmInDouble() {
        var worstErf = 0.0, worstExp = 0.0, worstTanh = 0.0
        for i in 0...40_000 {
            let x = Float(i) / 4000 - 5  // [-5, 5]
            worstErf = max(worstErf, abs(Double(Kernels.erf(x)) - Foundation.erf(Double(x))))
            worstTanh = max(worstTanh, abs(Double(Kernels.tanh(x)) - Foundation.tanh(Double(x))))
            let y = -Float(i) / 400  // [-100, 0]
            if y > -87 { worstExp = max(worstExp, abs(Double(Kernels.expNonPositive(y)) / Foundation.exp(Double(y)) - 1)) }
        }
        XCTAssertLessThanOrEqual(worstErf, 6e-7)
        XCTAssertLessThanOrEqual(worstExp, 3e-7)
        XCTAssertLessThanOrEqual(worstTanh, 3e-7)
        XCTAssertEqual(Kernels.tanh(-20), -1)
        XCTAssertEqual(Kernels.erf(0), 0)
        XCTAssertEqual(Kernels.erf(-10), -1, accuracy: 1e-7)
        XCTAssertEqual(Kernels.expNonPositive(0), 1, accuracy: 1e-7)
        XCTAssertEqual(Kernels.expNonPositive(-1000), 0, accuracy: 1e-37)
        XCTAssertTrue(Kernels.expNonPositive(.nan).isNaN)
    }
}
