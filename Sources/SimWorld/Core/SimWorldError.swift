// The one public error type of the SimWorld module: bad configurations and failed output.
import Foundation

/// Everything that can go wrong when configuring, generating or writing a SimWorld.
public enum SimWorldError: Error, CustomStringConvertible, Equatable {
    /// A configuration field has a value outside its allowed range.
    case invalidConfig(field: String, reason: String)
    /// A configuration file could not be read or parsed.
    case unreadableConfig(file: String, line: Int?, reason: String)
    /// An output file or folder could not be written.
    case writeFailed(path: String, reason: String)
    /// A media file could not be rendered or encoded.
    case mediaFailed(path: String, reason: String)

    /// A message naming the field or file and the problem.
    public var description: String {
        switch self {
        case .invalidConfig(let field, let reason):
            return "invalid SimWorld config: \(field): \(reason)"
        case .unreadableConfig(let file, let line, let reason):
            let place = line.map { "\(file):\($0)" } ?? file
            return "cannot read SimWorld config \(place): \(reason)"
        case .writeFailed(let path, let reason):
            return "cannot write \(path): \(reason)"
        case .mediaFailed(let path, let reason):
            return "cannot render media \(path): \(reason)"
        }
    }
}
