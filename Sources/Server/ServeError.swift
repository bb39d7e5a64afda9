// The one public error type of the Server module, and its HTTP form: problem+json (RFC 9457).
import Foundation
import Memory

/// What went wrong with a request; each case carries what the caller needs to fix it.
public enum ServeError: Error, CustomStringConvertible, Equatable {
    /// A query parameter, path segment or body field is invalid.
    case badRequest(String)
    /// No or a wrong bearer token (the server was started with `--token`).
    case unauthorized
    /// A path the request names resolves outside `--root` (`..`, an absolute path elsewhere, a symlink).
    case outsideRoot(requested: String, root: String)
    /// The resource does not exist.
    case notFound(String)
    /// Another writer holds the store, or a run with this idempotency key is in another state.
    case conflict(String)
    /// The request body (or an array in it) is larger than the server accepts.
    case tooLarge(what: String, limit: Int)
    /// The server runs with `--read-only` and the request would write.
    case readOnlyMode(String)
    /// The request needs something the server was not started with (a model for predict, the CLI binary for runs).
    case notConfigured(String)
    /// A child process (the `worldgpt` CLI) failed: its exit status and the end of its standard error.
    case childFailed(command: String, status: Int32, stderr: String)
    /// The store could not be read (corrupt, foreign or unreadable file): the store's own message.
    case storeFailure(String)
    /// The server's configuration is invalid (start-up only).
    case configuration(String)

    /// The HTTP status this error answers with.
    public var status: Int {
        switch self {
        case .badRequest: return 400
        case .unauthorized: return 401
        case .outsideRoot, .readOnlyMode: return 403
        case .notFound: return 404
        case .conflict: return 409
        case .tooLarge: return 413
        case .notConfigured: return 409
        case .childFailed: return 422
        case .storeFailure, .configuration: return 500
        }
    }

    /// A short title of the problem type.
    public var title: String {
        switch self {
        case .badRequest: return "Bad request"
        case .unauthorized: return "Unauthorized"
        case .outsideRoot: return "Path outside the server's root"
        case .readOnlyMode: return "Server is read-only"
        case .notFound: return "Not found"
        case .conflict: return "Conflict"
        case .tooLarge: return "Content too large"
        case .notConfigured: return "Not configured"
        case .childFailed: return "Command failed"
        case .storeFailure: return "Store failure"
        case .configuration: return "Invalid configuration"
        }
    }

    public var description: String {
        switch self {
        case let .badRequest(message): return message
        case .unauthorized: return "this server requires `Authorization: Bearer TOKEN` (the --token it was started with)"
        case let .outsideRoot(requested, root): return "`\(requested)` resolves outside the server's root \(root); name a path inside it"
        case let .notFound(what): return "\(what) not found"
        case let .conflict(message): return message
        case let .tooLarge(what, limit): return "\(what) is larger than the server's limit of \(limit) bytes"
        case let .readOnlyMode(what): return "\(what) would write, and the server runs with --read-only"
        case let .notConfigured(message): return message
        case let .childFailed(command, status, stderr): return "`\(command)` exited \(status): \(stderr)"
        case let .storeFailure(message): return message
        case let .configuration(message): return message
        }
    }

    /// The error a store failure answers with: missing rows are 404, bad arguments 400, a locked store 409.
    static func from(_ error: StoreError) -> ServeError {
        switch error {
        case let .notFound(_, what): return .notFound(what)
        case let .invalidArgument(message): return .badRequest(message)
        case .dimensionMismatch, .nonFinite: return .badRequest(error.description)
        case let .sqlite(_, code, _, _) where code == 5 || code == 6:  // SQLITE_BUSY, SQLITE_LOCKED
            return .conflict("another writer holds the store: \(error.description)")
        case .readOnly: return .conflict(error.description)
        default: return .storeFailure(error.description)
        }
    }
}

/// The problem+json body of an error response.
struct Problem: Codable, Sendable {
    var type: String
    var title: String
    var status: Int
    var detail: String
}
