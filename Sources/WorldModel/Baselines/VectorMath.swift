// Small vector helpers shared by the baselines and the evaluator (not the hot paths of the native model).
import Formats

enum VectorMath {
    /// `values` scaled to unit length (unchanged when zero).
    static func normalized(_ values: [Float]) -> [Float] {
        var sum: Float = 0
        for v in values { sum += v * v }
        guard sum > 0 else { return values }
        let scale = 1 / sum.squareRoot()
        return values.map { $0 * scale }
    }

    /// Throws unless `embedding` has length `dim` and finite values.
    static func check(_ embedding: Embedding, dim: Int, field: @autoclosure () -> String) throws {
        guard embedding.dim == dim else { throw WorldModelError.dimensionMismatch(field: field(), expected: dim, actual: embedding.dim) }
        guard embedding.isFinite else { throw WorldModelError.notFinite(field: field()) }
    }
}
