// The text-embedding contract shared by every sentence encoder, the module's error type, and the default choice.
// Shape legend: N sentences in, N vectors of width D (= dim) out.
import Foundation

/// Something that turns sentences into fixed-width vectors, in batches.
public protocol Embedder {
    /// D, the width of every returned vector.
    var dim: Int { get }
    /// One D-wide vector per input text, in order (an empty text gets a vector too).
    func embed(_ texts: [String]) throws -> [[Float]]
}

/// Errors of the Encoders module: missing or corrupt model files, bad configuration.
public enum EncoderError: Error, CustomStringConvertible, Equatable {
    /// A required model file does not exist.
    case missingFile(URL, fix: String)
    /// A model file exists but cannot be used (what is wrong is in `problem`).
    case corruptFile(URL, problem: String, fix: String)
    /// An invalid argument (dimension, batch size...).
    case invalidArgument(String)

    /// A one-paragraph explanation naming the file and the fix.
    public var description: String {
        switch self {
        case .missingFile(let url, let fix): return "missing model file \(url.path). \(fix)"
        case .corruptFile(let url, let problem, let fix): return "corrupt model file \(url.path): \(problem). \(fix)"
        case .invalidArgument(let message): return "invalid argument: \(message)"
        }
    }
}

/// Chooses the text encoder: MiniLM when its weights are installed, otherwise the hashed fallback.
public enum TextEncoders {
    /// The sentence encoder to use by default.
    ///
    /// Returns `MiniLMEncoder` when `config.json`, `vocab.txt` and `model.safetensors` exist in
    /// `modelDirectory` (default: `MiniLMEncoder.defaultDirectory`), else a 384-d `HashedNGramEncoder`
    /// and writes a one-line warning to stderr. Corrupt weights are an error, not a silent fallback.
    public static func `default`(modelDirectory: URL? = nil, warn: Bool = true) throws -> any Embedder {
        let dir = modelDirectory ?? MiniLMEncoder.defaultDirectory
        if MiniLMEncoder.weightsPresent(in: dir) {
            return try MiniLMEncoder(directory: dir)
        }
        if warn {
            FileHandle.standardError.write(Data(
                "warning: MiniLM weights not found in \(dir.path); using the hashed n-gram text encoder (run `make setup` to install them)\n".utf8))
        }
        return HashedNGramEncoder(dim: 384)
    }
}

/// The text encoders the CLI can name.
public enum TextEncoderKind: String, CaseIterable, Sendable {
    /// all-MiniLM-L6-v2 (needs the weights).
    case minilm
    /// The hashed n-gram fallback.
    case hashed
}

extension TextEncoders {
    /// A specific encoder: MiniLM from `modelDirectory` (throws if its files are missing) or hashed with `dim` buckets.
    public static func make(_ kind: TextEncoderKind, modelDirectory: URL? = nil, hashedDimension: Int = 384) throws -> any Embedder {
        switch kind {
        case .minilm: return try MiniLMEncoder(directory: modelDirectory ?? MiniLMEncoder.defaultDirectory)
        case .hashed:
            guard hashedDimension > 0 else { throw EncoderError.invalidArgument("hashed dimension must be positive, got \(hashedDimension)") }
            return HashedNGramEncoder(dim: hashedDimension)
        }
    }

    /// The sentences of a text file, one per line (`\n` or `\r\n`); an empty line is an empty sentence,
    /// a final line break does not start another sentence.
    ///
    /// - Throws: `EncoderError.invalidArgument` naming the file when it is missing or not UTF-8.
    public static func sentences(fromFile url: URL) throws -> [String] {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw EncoderError.invalidArgument("cannot read \(url.path)")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw EncoderError.invalidArgument("\(url.path) is not UTF-8 text")
        }
        if text.isEmpty { return [] }
        var lines = splitLines(text)
        if text.hasSuffix("\n") { lines.removeLast() }
        return lines
    }
}

/// Splits on "\n" scalars (so "\r\n", a single Character in Swift, splits too) and drops a trailing "\r" per line.
func splitLines(_ text: String) -> [String] {
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false).map { sub in
        var line = String(String.UnicodeScalarView(sub))
        if line.unicodeScalars.last == "\r" { line.unicodeScalars.removeLast() }
        return line
    }
}
