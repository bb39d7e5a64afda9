// The one public error type of the ContextReflector module.

/// Errors of the ContextReflector: bad configs, checkpoints and inputs, each naming what is wrong.
public enum ReflectorError: Error, CustomStringConvertible, Equatable {
    /// A filter or training setting is out of range.
    case invalidConfig(String)
    /// A checkpoint is not a reflector checkpoint: missing/unexpected tensors, wrong shapes (all named).
    case checkpoint(file: String, problems: [String])
    /// An input file is unreadable or malformed.
    case file(path: String, problem: String)
    /// An input array is missing or has the wrong shape, or holds non-finite values.
    case input(name: String, problem: String)

    public var description: String {
        switch self {
        case .invalidConfig(let message): return "invalid reflector config: \(message)"
        case .checkpoint(let file, let problems):
            return "reflector checkpoint \(file): " + (problems.count == 1 ? problems[0] : "\n  " + problems.joined(separator: "\n  "))
        case .file(let path, let problem): return "\(path): \(problem)"
        case .input(let name, let problem): return "reflector input '\(name)': \(problem)"
        }
    }
}
