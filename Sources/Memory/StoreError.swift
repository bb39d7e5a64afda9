// The one public error type of the Memory module: what went wrong with an episode store, and where.
import Foundation

/// Errors of `EpisodeStore`, `WorkingMemory` and recall; each names the database file where one is involved.
public enum StoreError: Error, CustomStringConvertible, Equatable, Codable {
    /// The file is not an SQLite database (or is corrupt): SQLite's code and message.
    case notADatabase(path: String, reason: String)
    /// The file is an SQLite database, but not an episode store (or a newer schema than this build knows).
    case foreignDatabase(path: String, reason: String)
    /// The database (or its folder) cannot be written.
    case readOnly(path: String, reason: String)
    /// An embedding does not have the store's dimension.
    case dimensionMismatch(path: String, expected: Int, got: Int, field: String)
    /// An embedding has NaN or infinite components.
    case nonFinite(path: String, field: String)
    /// A referenced episode or step does not exist.
    case notFound(path: String, what: String)
    /// An argument is invalid (bad step reference, k < 1, bad date ...).
    case invalidArgument(String)
    /// Any other SQLite failure: code, message and the statement.
    case sqlite(path: String, code: Int32, message: String, sql: String?)
    /// A file next to the store (key cache, export) could not be read or written.
    case io(path: String, reason: String)
    /// Stores being merged disagree (the same id holds different steps or episodes).
    case mergeConflict(path: String, reason: String)

    public var description: String {
        switch self {
        case let .notADatabase(path, reason): return "\(path): not an SQLite database or corrupt (\(reason))"
        case let .foreignDatabase(path, reason): return "\(path): not a WorldGPT episode store (\(reason))"
        case let .readOnly(path, reason): return "\(path): database is read-only (\(reason))"
        case let .dimensionMismatch(path, expected, got, field):
            return "\(path): \(field) has dimension \(got), the store holds \(expected)-dimensional embeddings"
        case let .nonFinite(path, field): return "\(path): \(field) has NaN or infinite components"
        case let .notFound(path, what): return "\(path): \(what) not found"
        case let .invalidArgument(message): return "invalid argument: \(message)"
        case let .sqlite(path, code, message, sql):
            return "\(path): SQLite error \(code): \(message)" + (sql.map { " — while executing `\($0)`" } ?? "")
        case let .io(path, reason): return "\(path): \(reason)"
        case let .mergeConflict(path, reason): return "\(path): cannot merge: \(reason)"
        }
    }
}
