// Where WorldNet keeps media and precomputed embeddings under a dataset root, and the path-safety rules.
import Foundation

/// The WorldNet folder layout: `<root>/<modality>/Train/<name>` holds the media file and
/// `<root>/<modality>/Train_pt/<stem>.pt` its precomputed embedding (one float tensor of shape `[D]`).
public enum WorldNetLayout {
    /// The media folder name inside each modality folder.
    public static let mediaFolder = "Train"
    /// The embedding folder name inside each modality folder.
    public static let embeddingFolder = "Train_pt"

    /// The media suffix WorldGPT's tools replace with `.pt` (`.jpg`, `.mp4`, `.wav`; `.txt` for text states).
    public static func mediaSuffix(_ modality: Modality) -> String {
        switch modality {
        case .image: return ".jpg"
        case .video: return ".mp4"
        case .audio: return ".wav"
        case .text: return ".txt"
        }
    }

    /// The embedding file name for a media name, as WorldGPT derives it: every occurrence of the modality's
    /// suffix becomes `.pt` (Python's `str.replace`); a name without that suffix drops its last extension instead.
    public static func embeddingName(modality: Modality, name: String) -> String {
        let suffix = mediaSuffix(modality)
        if name.contains(suffix) { return name.replacingOccurrences(of: suffix, with: ".pt") }
        let url = URL(fileURLWithPath: name)
        let stem = url.pathExtension.isEmpty ? name : String(name.dropLast(url.pathExtension.count + 1))
        return stem + ".pt"
    }

    /// `<root>/<modality>/Train/<name>` (no safety check; see `checkedMediaURL`).
    public static func mediaURL(root: URL, modality: Modality, name: String) -> URL {
        root.appendingPathComponent(modality.rawValue).appendingPathComponent(mediaFolder).appendingPathComponent(name)
    }

    /// `<root>/<modality>/Train_pt/<stem>.pt` (no safety check; see `checkedEmbeddingURL`).
    public static func embeddingURL(root: URL, modality: Modality, name: String) -> URL {
        root.appendingPathComponent(modality.rawValue).appendingPathComponent(embeddingFolder)
            .appendingPathComponent(embeddingName(modality: modality, name: name))
    }

    /// Checks that a name from an annotation stays inside its folder: relative, no `..` component, no NUL,
    /// no backslash, not empty.
    /// - Parameters:
    ///   - source: the annotation file, for the error; `sample`: the sample index.
    /// - Throws: `FormatError.unsafePath`.
    public static func validate(name: String, source: String, sample: Int?) throws {
        func bad(_ reason: String) -> FormatError { .unsafePath(path: source, sample: sample, value: name, reason: reason) }
        if name.isEmpty { throw bad("empty name") }
        if name.hasPrefix("/") || name.hasPrefix("~") { throw bad("absolute paths are not allowed") }
        if name.contains("\0") { throw bad("NUL character") }
        if name.contains("\\") { throw bad("backslash in path") }
        if name.split(separator: "/", omittingEmptySubsequences: false).contains("..") { throw bad("'..' escapes the dataset root") }
    }

    /// `mediaURL` after `validate`.
    public static func checkedMediaURL(root: URL, modality: Modality, name: String, source: String, sample: Int?) throws -> URL {
        try validate(name: name, source: source, sample: sample)
        return mediaURL(root: root, modality: modality, name: name)
    }

    /// `embeddingURL` after `validate`.
    public static func checkedEmbeddingURL(root: URL, modality: Modality, name: String, source: String, sample: Int?) throws -> URL {
        try validate(name: name, source: source, sample: sample)
        return embeddingURL(root: root, modality: modality, name: name)
    }

    /// True when `url`, with symbolic links resolved, lies inside `root` (also resolved).
    public static func isInside(_ url: URL, root: URL) -> Bool {
        let r = root.standardizedFileURL.resolvingSymlinksInPath().path
        let p = url.standardizedFileURL.resolvingSymlinksInPath().path
        return p == r || p.hasPrefix(r.hasSuffix("/") ? r : r + "/")
    }

    /// Writes an embedding as WorldGPT's preprocess does: `torch.save` of one float32 tensor of shape `[D]`,
    /// at `embeddingURL(root:modality:name:)`, creating folders as needed.
    public static func writeEmbedding(_ embedding: Embedding, root: URL, modality: Modality, name: String) throws {
        try validate(name: name, source: root.path, sample: nil)
        let url = embeddingURL(root: root, modality: modality, name: name)
        do {
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        } catch {
            throw FormatError.io(path: url.deletingLastPathComponent().path, reason: describeIOError(error))
        }
        try TorchFile.save(.tensor(TensorData(floats: embedding.values, shape: [embedding.dim])), to: url)
    }

    /// Reads an embedding file: one tensor (any float or integer dtype) of shape `[D]` or `[1, D]`, finite.
    /// - Throws: `FormatError` naming the file when it holds something else or non-finite values.
    public static func readEmbedding(_ url: URL) throws -> Embedding {
        let value = try TorchFile.load(url)
        guard let tensor = value.tensorData else {
            throw FormatError.unsupported(path: url.path, reason: "expected one tensor, found \(kind(of: value))")
        }
        guard tensor.count > 0, tensor.shape.count == 1 || (tensor.shape.count == 2 && tensor.shape[0] == 1) else {
            throw FormatError.unsupported(path: url.path, reason: "embedding tensor of shape \(tensor.shape); expected [D] or [1, D]")
        }
        let e = Embedding(tensor.floatValues())
        guard e.isFinite else { throw FormatError.corrupt(path: url.path, reason: "embedding contains NaN or infinity") }
        return e
    }

    static func kind(of value: TorchValue) -> String {
        switch value {
        case .dict: return "a dict"
        case .list: return "a list"
        case .tuple: return "a tuple"
        case .tensor: return "a tensor"
        default: return "a scalar"
        }
    }
}
