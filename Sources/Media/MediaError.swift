// The one public error type of the Media module: every failure names the file and the underlying cause.
import Foundation

/// A failure reading, decoding, converting or writing a media file.
///
/// Every case names the file it concerns; FFmpeg and libsndfile failures carry the library's own
/// message (`av_strerror` / `sf_strerror`) and, for FFmpeg, the numeric code.
public enum MediaError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The file does not exist or cannot be opened for reading.
    case fileNotFound(path: String)
    /// The file exists but is empty (zero bytes).
    case emptyFile(path: String)
    /// The container could not be opened or parsed (not media, corrupt or truncated header).
    case cannotOpen(path: String, code: Int32, message: String)
    /// The file holds no stream of the requested kind (e.g. no video track).
    case noStream(path: String, kind: String)
    /// No decoder (or encoder) exists for the stream's codec.
    case unsupportedCodec(path: String, codec: String)
    /// Decoding failed (corrupt data) and nothing usable was produced.
    case decodeFailed(path: String, code: Int32, message: String)
    /// The stream decoded to nothing (e.g. a truncated file with no complete frame).
    case noFrames(path: String)
    /// A parameter is invalid for this file (size, frame count, sample rate...).
    case invalidArgument(path: String, reason: String)
    /// Writing or encoding failed.
    case writeFailed(path: String, code: Int32, message: String)
    /// libsndfile refused the file.
    case soundFile(path: String, message: String)

    /// The file the error concerns.
    public var path: String {
        switch self {
        case .fileNotFound(let p), .emptyFile(let p), .noFrames(let p): return p
        case .cannotOpen(let p, _, _), .decodeFailed(let p, _, _), .writeFailed(let p, _, _): return p
        case .noStream(let p, _), .unsupportedCodec(let p, _), .invalidArgument(let p, _), .soundFile(let p, _): return p
        }
    }

    public var description: String {
        switch self {
        case .fileNotFound(let p): return "\(p): no such file or not readable"
        case .emptyFile(let p): return "\(p): empty file (0 bytes), not a media file"
        case .cannotOpen(let p, let code, let m): return "\(p): cannot open as media: \(m) (FFmpeg error \(code))"
        case .noStream(let p, let kind): return "\(p): the file has no \(kind) stream"
        case .unsupportedCodec(let p, let c): return "\(p): no codec available for '\(c)'"
        case .decodeFailed(let p, let code, let m): return "\(p): decoding failed: \(m) (FFmpeg error \(code))"
        case .noFrames(let p): return "\(p): no decodable frame or sample (corrupt or truncated file?)"
        case .invalidArgument(let p, let r): return "\(p): \(r)"
        case .writeFailed(let p, let code, let m): return "\(p): writing failed: \(m) (error \(code))"
        case .soundFile(let p, let m): return "\(p): libsndfile: \(m)"
        }
    }
}
