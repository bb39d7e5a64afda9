// The one public error type of the Formats module: every failure names the file and the problem.

/// An error reading or writing a file format (tensor files, pickles, WorldNet annotations, dataset configs).
public enum FormatError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file could not be opened, read or written at all.
    case io(path: String, reason: String)
    /// The file is damaged or is not what its extension claims (bad magic, truncated, inconsistent header).
    case corrupt(path: String, reason: String)
    /// The file is well formed but uses a feature this reader does not support.
    case unsupported(path: String, reason: String)
    /// A pickle asked for a global outside the allowlist; nothing was called.
    case forbiddenGlobal(name: String, path: String)
    /// A value handed to a writer cannot be stored in that format.
    case invalidValue(path: String, reason: String)
    /// A WorldNet annotation entry is malformed (sample index counts from 0).
    case invalidAnnotation(path: String, sample: Int?, reason: String)
    /// A dataset or training configuration is malformed.
    case invalidConfig(path: String, reason: String)
    /// A path in an annotation or config escapes the dataset root or is absolute.
    case unsafePath(path: String, sample: Int?, value: String, reason: String)
    /// A file that an annotation entry refers to does not exist.
    case missingFile(path: String, sample: Int?, file: String)

    /// A one-line explanation that names the file, and the sample when there is one.
    public var description: String {
        func at(_ sample: Int?) -> String { sample.map { " (sample \($0))" } ?? "" }
        switch self {
        case let .io(path, reason): return "cannot access \(path): \(reason)"
        case let .corrupt(path, reason): return "corrupt file \(path): \(reason)"
        case let .unsupported(path, reason): return "unsupported content in \(path): \(reason)"
        case let .forbiddenGlobal(name, path): return "forbidden global '\(name)' in \(path)"
        case let .invalidValue(path, reason): return "cannot write \(path): \(reason)"
        case let .invalidAnnotation(path, sample, reason): return "invalid annotation in \(path)\(at(sample)): \(reason)"
        case let .invalidConfig(path, reason): return "invalid config \(path): \(reason)"
        case let .unsafePath(path, sample, value, reason):
            return "unsafe path '\(value)' in \(path)\(at(sample)): \(reason)"
        case let .missingFile(path, sample, file): return "missing file \(file) referenced by \(path)\(at(sample))"
        }
    }
}
