// The Agent module's one error type: what a user did wrong running the runtime, and how to fix it.
import Foundation

/// Errors of the runtime and its inputs (action files, start states, checkpoints, stores).
public enum AgentError: Error, CustomStringConvertible, Equatable {
    /// An action file has a blank line (every line must be an action sentence).
    case blankAction(file: String, line: Int)
    /// An action file has no actions.
    case noActions(file: String)
    /// A required file (checkpoint, knowledge base, memory database, start state) does not exist.
    case missingFile(kind: String, path: String, hint: String)
    /// The start state cannot be read or resolved.
    case badStartState(String, reason: String)
    /// A modality name is not one of image, video, audio, text.
    case unknownModality(String)
    /// An embedding has the wrong dimension for the model.
    case dimensionMismatch(what: String, expected: Int, actual: Int)
    /// A `EPISODE:STEP` reference is malformed or does not exist.
    case badStepReference(String, reason: String)
    /// A run option is invalid.
    case invalidOption(name: String, reason: String)
    /// Shard outputs being merged are missing, of different runs, or disagree.
    case mergeConflict(path: String, reason: String)

    public var description: String {
        switch self {
        case .blankAction(let file, let line):
            return "\(file):\(line): blank line in the action file (write one action sentence per line, no empty lines)"
        case .noActions(let file): return "\(file): no actions found (write one action sentence per line)"
        case .missingFile(let kind, let path, let hint): return "\(kind) not found: \(path) (\(hint))"
        case .badStartState(let what, let reason): return "start state \(what): \(reason)"
        case .unknownModality(let name): return "unknown modality '\(name)' (expected one of image, video, audio, text)"
        case .dimensionMismatch(let what, let expected, let actual): return "\(what): expected dimension \(expected), got \(actual)"
        case .badStepReference(let reference, let reason): return "step reference '\(reference)': \(reason) (write EPISODE:STEP, e.g. ep-3:2)"
        case .invalidOption(let name, let reason): return "--\(name): \(reason)"
        case .mergeConflict(let path, let reason): return "\(path): cannot merge: \(reason)"
        }
    }
}
