// The `VectorIndex` protocol (DESIGN.md "Retrieval"): add / search / remove / save / load, inner product.
import Foundation

/// One search hit: the stored id and its inner product with the query (higher is closer).
public struct SearchResult: Equatable, Hashable, Sendable, Codable {
    /// The id given to `add`.
    public var id: Int64
    /// Inner product with the query (cosine when both are unit vectors).
    public var score: Float

    /// A hit.
    public init(id: Int64, score: Float) {
        self.id = id
        self.score = score
    }
}

/// Restricts a search to some ids; applied inside the search (candidates outside never enter the top-k),
/// so a filtered search returns the exact filtered top-k, never "top-k then drop".
public struct SearchFilter: Sendable, Equatable {
    /// When set, only these ids can be returned.
    public var allowedIDs: [Int64]?
    /// These ids are never returned.
    public var excludedIDs: Set<Int64>

    /// A filter; `nil` allowed ids means "every id".
    public init(allowedIDs: [Int64]? = nil, excludedIDs: Set<Int64> = []) {
        self.allowedIDs = allowedIDs
        self.excludedIDs = excludedIDs
    }

    /// Only `ids` may be returned.
    public static func only(_ ids: [Int64]) -> SearchFilter { SearchFilter(allowedIDs: ids) }

    /// Any id but `ids`.
    public static func excluding(_ ids: Set<Int64>) -> SearchFilter { SearchFilter(excludedIDs: ids) }

    /// True when `id` passes the filter (the reference semantics every index implements).
    public func admits(_ id: Int64) -> Bool {
        if excludedIDs.contains(id) { return false }
        if let allowed = allowedIDs { return allowed.contains(id) }
        return true
    }
}

/// A store of `dim`-dimensional vectors keyed by `Int64` ids, searched by inner product.
///
/// Vectors are expected to be L2-normalised (then the score is the cosine). Query and vector batches are
/// flat row-major `[Float]` buffers (`count × dim`).
public protocol VectorIndex: AnyObject {
    /// The vector dimension.
    var dim: Int { get }
    /// The number of stored vectors.
    var count: Int { get }
    /// Adds `ids.count` vectors (`vectors.count == ids.count * dim`).
    /// - Throws: `RetrievalError` on a wrong dimension, NaN/infinite component or duplicate id.
    func add(ids: [Int64], vectors: [Float]) throws
    /// The `k` best hits of each query (`queries.count / dim` of them), best first.
    func search(_ queries: [Float], k: Int, filter: SearchFilter?) throws -> [[SearchResult]]
    /// Removes the given ids; returns how many were present.
    @discardableResult func remove(ids: [Int64]) -> Int
    /// Writes the index to `url` (layout in docs/memory.md).
    func save(to url: URL) throws
}

extension VectorIndex {
    /// Search without a filter.
    public func search(_ queries: [Float], k: Int) throws -> [[SearchResult]] {
        try search(queries, k: k, filter: nil)
    }
}

/// Checks a flat batch: length a multiple of `dim` (matching `expectedRows` when given), all finite.
func validateBatch(_ values: [Float], dim: Int, expectedRows: Int?, context: String) throws -> Int {
    guard dim > 0, values.count % dim == 0 else {
        throw RetrievalError.dimensionMismatch(expected: dim, got: dim > 0 ? values.count % dim : values.count, context: context + " (length \(values.count) is not a multiple of the dimension)")
    }
    let rows = values.count / dim
    if let expectedRows, rows != expectedRows {
        throw RetrievalError.dimensionMismatch(expected: expectedRows * dim, got: values.count, context: context + " (\(expectedRows) rows expected)")
    }
    let finite = values.withUnsafeBufferPointer { buffer -> Int? in
        for i in 0..<buffer.count where !buffer[i].isFinite { return i }
        return nil
    }
    if let bad = finite {
        throw RetrievalError.nonFiniteVector(context: "\(context), row \(bad / dim) component \(bad % dim)")
    }
    return rows
}
