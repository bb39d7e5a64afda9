// Kernels.linearRowwise: each output row is the same bits whichever rows it is computed with (the property the
// reflector's context cache relies on), at every instruction-set level, and equals a Double-accumulated product.
import CKernels
import Tensor
import TestSupport
import XCTest

final class RowwiseLinearTests: XCTestCase {
    func testRowsDoNotDependOnTheirCompanionsAndMatchTheProduct() {
        var rng = SeededGenerator(seed: 41)
        // A context-token width with a tail after the 16- and 8-lane chunks, an output width with a partial 4-block.
        let inDim = 1_923, outDim = 130, rows = 11
        let input = (0..<(rows * inDim)).map { _ in rng.nextGaussian() }
        let weight = (0..<(outDim * inDim)).map { _ in rng.nextGaussian() * 0.05 }
        let bias = (0..<outDim).map { _ in rng.nextGaussian() }
        func project(_ picked: [Int]) -> [[Float]] {
            var packed: [Float] = []
            for r in picked { packed += input[(r * inDim)..<((r + 1) * inDim)] }
            var out = [Float](repeating: .nan, count: picked.count * outDim)
            packed.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    bias.withUnsafeBufferPointer { b in
                        out.withUnsafeMutableBufferPointer { o in
                            Kernels.linearRowwise(out: o.baseAddress!, input: x.baseAddress!, weight: w.baseAddress!, bias: b.baseAddress!,
                                                  rows: picked.count, inDim: inDim, outDim: outDim)
                        }
                    }
                }
            }
            return picked.indices.map { Array(out[($0 * outDim)..<(($0 + 1) * outDim)]) }
        }
        let saved = wgk_level()
        defer { _ = wgk_set_level(saved) }
        for level in 0...wgk_supported_level() {
            XCTAssertEqual(wgk_set_level(level), level)
            let all = project(Array(0..<rows))
            // Against the product accumulated in Double.
            for r in 0..<rows {
                for j in 0..<outDim {
                    var expected = Double(bias[j])
                    for k in 0..<inDim { expected += Double(input[r * inDim + k]) * Double(weight[j * inDim + k]) }
                    XCTAssertEqual(Double(all[r][j]), expected, accuracy: 1e-3, "level \(level) row \(r) column \(j)")
                }
            }
            // Alone, in other groups, at other positions of a block, and in reverse: the same bits.
            for picked in [[5], [7, 5], [0, 1, 2, 5, 9], [10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0], [5, 5, 5]] {
                for (position, r) in picked.enumerated() {
                    XCTAssertEqual(project(picked)[position].map(\.bitPattern), all[r].map(\.bitPattern), "level \(level) row \(r) in \(picked)")
                }
            }
        }
    }

    /// The Gram matrix: exactly symmetric, each entry the same bits as the row-wise product of the pair, and equal to a
    /// Double-accumulated dot product, at every instruction-set level; sizes with partial 4-blocks and a tail.
    func testGramIsSymmetricAndMatchesTheRowwiseProducts() {
        var rng = SeededGenerator(seed: 43)
        let saved = wgk_level()
        defer { _ = wgk_set_level(saved) }
        for (n, dim) in [(1, 5), (7, 37), (16, 768), (18, 384)] {
            let rows = (0..<(n * dim)).map { _ in rng.nextGaussian() }
            for level in 0...wgk_supported_level() {
                _ = wgk_set_level(level)
                var gram = [Float](repeating: .nan, count: n * n), products = [Float](repeating: .nan, count: n * n)
                rows.withUnsafeBufferPointer { r in
                    gram.withUnsafeMutableBufferPointer { Kernels.gram(out: $0.baseAddress!, rows: r.baseAddress!, count: n, dim: dim) }
                    products.withUnsafeMutableBufferPointer {
                        Kernels.linearRowwise(out: $0.baseAddress!, input: r.baseAddress!, weight: r.baseAddress!, bias: nil, rows: n, inDim: dim, outDim: n)
                    }
                }
                XCTAssertEqual(gram.map(\.bitPattern), products.map(\.bitPattern), "n \(n) dim \(dim) level \(level)")
                for i in 0..<n {
                    for j in 0..<n {
                        XCTAssertEqual(gram[i * n + j].bitPattern, gram[j * n + i].bitPattern, "symmetric \(i),\(j)")
                        var expected: Double = 0
                        for k in 0..<dim { expected += Double(rows[i * dim + k]) * Double(rows[j * dim + k]) }
                        XCTAssertEqual(Double(gram[i * n + j]), expected, accuracy: 1e-3, "n \(n) dim \(dim) level \(level) \(i),\(j)")
                    }
                }
            }
        }
    }
}
