// Closed-form ridge regression: normal equations accumulated from Float32 rows with BLAS (SYRK for XᵀX, GEMM for XᵀY)
// into Double, solved in Double by Cholesky; λ chosen on held-out rows. Not a world model itself: `RidgeModel` is.
// Shape legend: N rows, F features (columns of X), D outputs (columns of Y); all buffers row-major.
import Tensor

/// The normal equations `XᵀX`, `XᵀY` of a least-squares problem, accumulated block by block.
///
/// Rows arrive as Float32 (what the features are); each block's products are computed by BLAS in Float32 and added
/// into Double sums, so rounding does not grow with the number of rows.
public struct RidgeNormalEquations: Sendable {
    /// Columns of X.
    public let featureCount: Int
    /// Columns of Y.
    public let outputCount: Int
    /// Rows added so far.
    public private(set) var rowCount = 0
    /// `XᵀX`, F×F, row-major; only the upper triangle (j ≥ i) is kept up to date.
    public private(set) var gram: [Double]
    /// `XᵀY`, F×D, row-major.
    public private(set) var crossProducts: [Double]

    /// Empty equations for `featureCount` columns of X and `outputCount` of Y.
    public init(featureCount: Int, outputCount: Int) {
        precondition(featureCount > 0 && outputCount > 0, "ridge with \(featureCount) features and \(outputCount) outputs")
        self.featureCount = featureCount
        self.outputCount = outputCount
        gram = [Double](repeating: 0, count: featureCount * featureCount)
        crossProducts = [Double](repeating: 0, count: featureCount * outputCount)
    }

    /// Adds `rows` rows: `x` is N×F, `y` N×D.
    /// - Precondition: the buffers hold exactly `rows` rows.
    public mutating func add(x: [Float], y: [Float], rows: Int) {
        let f = featureCount, d = outputCount
        precondition(x.count == rows * f && y.count == rows * d, "ridge block: \(x.count) and \(y.count) values for \(rows) rows of \(f) and \(d)")
        guard rows > 0 else { return }
        var blockGram = [Float](repeating: 0, count: f * f)
        var blockCross = [Float](repeating: 0, count: f * d)
        x.withUnsafeBufferPointer { px in
            y.withUnsafeBufferPointer { py in
                blockGram.withUnsafeMutableBufferPointer { pg in
                    BLAS.ssyrkTransposed(n: f, k: rows, a: px.baseAddress!, c: pg.baseAddress!)
                }
                blockCross.withUnsafeMutableBufferPointer { pc in
                    BLAS.sgemm(transposeA: true, m: f, n: d, k: rows, a: px.baseAddress!, b: py.baseAddress!, c: pc.baseAddress!)
                }
            }
        }
        for i in 0..<f {
            for j in i..<f { gram[i * f + j] += Double(blockGram[i * f + j]) }
        }
        for i in 0..<(f * d) { crossProducts[i] += Double(blockCross[i]) }
        rowCount += rows
    }

    /// The equations of the regression on `columns` of X only (increasing indices): the sub-matrices of `XᵀX` and
    /// `XᵀY`, equal to accumulating the rows restricted to those columns.
    public func restricted(to columns: [Int]) -> RidgeNormalEquations {
        precondition(zip(columns, columns.dropFirst()).allSatisfy { $0 < $1 } && (columns.last ?? 0) < featureCount, "columns must increase within \(featureCount)")
        let f = featureCount, d = outputCount, n = columns.count
        var out = RidgeNormalEquations(featureCount: n, outputCount: d)
        for (p, i) in columns.enumerated() {
            for q in p..<n { out.gram[p * n + q] = gram[i * f + columns[q]] }
            for j in 0..<d { out.crossProducts[p * d + j] = crossProducts[i * d + j] }
        }
        out.rowCount = rowCount
        return out
    }

    /// Adds another set of equations over the same columns (e.g. the held-out rows, for the final fit).
    public mutating func add(_ other: RidgeNormalEquations) {
        precondition(other.featureCount == featureCount && other.outputCount == outputCount, "adding ridge equations of other sizes")
        for i in 0..<gram.count { gram[i] += other.gram[i] }
        for i in 0..<crossProducts.count { crossProducts[i] += other.crossProducts[i] }
        rowCount += other.rowCount
    }

    /// The weights W (F×D, row-major, Float32) minimising `‖Y − X·W‖² + λ·Σ_{j penalised} ‖W_j‖²`.
    /// - Parameter unpenalized: columns without the penalty (the constant column).
    /// - Throws: `WorldModelError.invalidConfig` naming `lambda` when the system is not positive definite.
    public func solve(lambda: Double, unpenalized: Set<Int> = []) throws -> [Float] {
        let f = featureCount, d = outputCount
        var a = gram
        for j in 0..<f where !unpenalized.contains(j) { a[j * f + j] += lambda }
        var b = crossProducts
        let solved = a.withUnsafeMutableBufferPointer { pa in
            b.withUnsafeMutableBufferPointer { pb in
                BLAS.choleskySolve(n: f, rightHandSides: d, a: pa.baseAddress!, b: pb.baseAddress!)
            }
        }
        guard solved else {
            throw WorldModelError.invalidConfig(
                field: "lambda", reason: "the ridge normal equations (\(rowCount) rows, \(f) features) are not positive definite at λ = \(lambda)")
        }
        return b.map { Float($0) }
    }
}

/// Rows kept as they are: held-out rows that score candidate weights, or rows waiting to be added as a block.
public struct RidgeRows: Sendable {
    /// N×F features.
    public var x: [Float] = []
    /// N×D targets.
    public var y: [Float] = []
    /// Rows held.
    public var rowCount = 0

    /// No rows yet.
    public init() {}

    /// Appends one row: `features` (F values) and `target` (D values).
    public mutating func append(features: [Float], target: [Float]) {
        x += features
        y += target
        rowCount += 1
    }

    /// The same rows restricted to `columns` of X.
    public func restricted(to columns: [Int], featureCount f: Int) -> RidgeRows {
        var out = RidgeRows()
        out.x.reserveCapacity(rowCount * columns.count)
        for r in 0..<rowCount {
            for c in columns { out.x.append(x[r * f + c]) }
        }
        out.y = y
        out.rowCount = rowCount
        return out
    }

    /// The sum over rows and outputs of `(x·W − y)²` for F×D weights `weights` (Double accumulation).
    public func squaredError(weights: [Float], featureCount f: Int, outputCount d: Int) -> Double {
        precondition(weights.count == f * d && x.count == rowCount * f && y.count == rowCount * d, "held-out error: sizes do not match")
        guard rowCount > 0 else { return 0 }
        var predicted = [Float](repeating: 0, count: rowCount * d)
        x.withUnsafeBufferPointer { px in
            weights.withUnsafeBufferPointer { pw in
                predicted.withUnsafeMutableBufferPointer { pp in
                    BLAS.sgemm(m: rowCount, n: d, k: f, a: px.baseAddress!, b: pw.baseAddress!, c: pp.baseAddress!)
                }
            }
        }
        var sum = 0.0
        for i in 0..<predicted.count {
            let e = Double(predicted[i]) - Double(y[i])
            sum += e * e
        }
        return sum
    }
}

/// λ selection: fit on some rows for each λ of a grid, keep the λ whose held-out squared error is least.
public enum RidgeSelection {
    /// The default grid: 10⁻³ … 10³, one value per decade.
    public static let defaultGrid: [Double] = [1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3]

    /// The λ of `grid` with the least held-out squared error (the first on ties), and every λ's error.
    /// Without held-out rows, the grid's middle value and no errors.
    /// - Throws: the solver's errors.
    public static func choose(
        fit: RidgeNormalEquations, heldOut: RidgeRows, grid: [Double] = defaultGrid, unpenalized: Set<Int> = []
    ) throws -> (lambda: Double, errors: [Double]) {
        precondition(!grid.isEmpty, "an empty λ grid")
        guard heldOut.rowCount > 0, fit.rowCount > 0 else { return (grid[grid.count / 2], []) }
        var errors: [Double] = []
        for lambda in grid {
            let w = try fit.solve(lambda: lambda, unpenalized: unpenalized)
            errors.append(heldOut.squaredError(weights: w, featureCount: fit.featureCount, outputCount: fit.outputCount))
        }
        var best = 0
        for i in errors.indices where errors[i] < errors[best] { best = i }
        return (grid[best], errors)
    }
}
