// The one public error type of the Retrieval module: bad vectors, bad index files, bad knowledge bases.
import Foundation

/// Everything that can go wrong in `Retrieval` because of its input (vectors, files, databases).
public enum RetrievalError: Error, CustomStringConvertible, Equatable {
    /// A vector (or a batch of vectors) does not have the index's dimension.
    case dimensionMismatch(expected: Int, got: Int, context: String)
    /// A vector has a NaN or infinite component.
    case nonFiniteVector(context: String)
    /// An id was added twice.
    case duplicateID(Int64)
    /// An argument is out of range (k < 1, empty id list, M < 2 ...).
    case invalidArgument(String)
    /// An index file is truncated, foreign or inconsistent.
    case corruptIndexFile(path: String, reason: String)
    /// A file could not be read or written.
    case io(path: String, reason: String)
    /// A knowledge-base database is foreign, corrupt or could not be opened/written.
    case database(path: String, reason: String)
    /// A dataset could not be turned into a knowledge base.
    case dataset(String)

    public var description: String {
        switch self {
        case let .dimensionMismatch(expected, got, context):
            return "dimension mismatch in \(context): expected \(expected), got \(got)"
        case let .nonFiniteVector(context):
            return "vector with NaN or infinite components in \(context)"
        case let .duplicateID(id):
            return "id \(id) is already in the index"
        case let .invalidArgument(message):
            return "invalid argument: \(message)"
        case let .corruptIndexFile(path, reason):
            return "\(path): not a valid index file (\(reason))"
        case let .io(path, reason):
            return "\(path): \(reason)"
        case let .database(path, reason):
            return "\(path): \(reason)"
        case let .dataset(message):
            return "dataset: \(message)"
        }
    }
}
