// `worldgpt media probe` and `worldgpt encode`: inspect media files and turn them into embeddings.
import ArgumentParser
import Encoders
import Formats
import Foundation
import Media
import Tensor

/// `worldgpt media …`: media file tools.
struct MediaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "media",
        abstract: "Inspect media files (video, audio, images) with FFmpeg/libsndfile.",
        subcommands: [Probe.self])
}

extension MediaCommand {
    /// `worldgpt media probe FILE`: streams, codecs, sizes, rates, durations, frame counts.
    struct Probe: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a media file's container and streams (like ffprobe).",
            discussion: """
                Prints the container format and duration, then one line per stream: kind, codec, size and pixel \
                format, frame rate and frame count (video); sample rate, channels and sample format (audio). \
                Frame counts come from the container, or from demuxing every packet when it states none.
                """)

        @OptionGroup var output: OutputOptions

        @Flag(help: "Do not demux the file to count frames when the container does not state the count.")
        var noCount = false

        @Argument(help: "The media file to inspect.")
        var file: String

        func run() throws {
            let info = try MediaProbe.probe(URL(fileURLWithPath: file), countFrames: !noCount)
            if output.json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
                print(String(decoding: try encoder.encode(info), as: UTF8.self))
                return
            }
            print("file: \(info.path)")
            var line = "format: \(info.format)"
            if let d = info.duration { line += ", duration \(format(d)) s" }
            if let b = info.bitRate { line += ", \(b / 1000) kb/s" }
            print(line)
            for s in info.streams {
                var parts = ["stream \(s.index): \(s.kind) \(s.codec)"]
                if let w = s.width, let h = s.height { parts.append("\(w)×\(h)" + (s.pixelFormat.map { " \($0)" } ?? "")) }
                if let r = s.frameRate { parts.append("\(format(r)) fps") }
                if let n = s.frameCount { parts.append("\(n) frames") }
                if let r = s.sampleRate { parts.append("\(r) Hz") }
                if let c = s.channelCount { parts.append("\(c) ch" + (s.sampleFormat.map { " \($0)" } ?? "")) }
                if let d = s.duration { parts.append("\(format(d)) s") }
                print(parts.joined(separator: ", "))
            }
        }
    }
}

/// `worldgpt encode FILE…`: media embeddings with the built-in feature encoder or an HTTP service.
struct EncodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encode",
        abstract: "Turn images, videos and audio files into embeddings (768-d unit vectors by default).",
        discussion: """
            The built-in encoder (MediaFeatureEncoder) samples 8 frames per video and reads audio as 16 kHz mono, \
            computes documented colour/texture/motion or log-mel features and projects them with a seeded random \
            matrix (see docs/media.md). It is deterministic but it is not LanguageBind: do not mix its vectors \
            with LanguageBind ones. With --external URL the files are POSTed to an HTTP service instead (JSON in, \
            vectors out; see docs/media.md). Without --out the result is printed as JSON \
            {"encoder", "dim", "files", "modalities", "embeddings"}; with --out it is written as a float32 .npy \
            array of shape [files, dim], rows in argument order. Progress goes to stderr on a terminal.
            """)

    @Option(help: "Modality of the files: auto (from the extension, else by probing), image, video or audio.")
    var modality: String = "auto"

    @Option(help: "Write the embeddings to this .npy file instead of printing JSON.")
    var out: String?

    @Option(help: "Send the files to this HTTP endpoint instead of using the built-in encoder.")
    var external: String?

    @Flag(help: "With --external: send only paths, not file contents (the service shares the file system).")
    var pathsOnly = false

    @Option(help: "Output width of the built-in encoder.")
    var dim = 768

    @Option(help: "Seed of the built-in encoder's random projection.")
    var seed: UInt64 = MediaFeatureEncoder.defaultSeed

    @Option(help: "Frames sampled per video by the built-in encoder.")
    var frames = 8

    @OptionGroup var threadOptions: ThreadOptions

    @Argument(help: "Media files to encode.")
    var files: [String]

    func validate() throws {
        if modality != "auto", Modality(rawValue: modality) == nil || modality == "text" {
            throw ValidationError("--modality must be auto, image, video or audio, got \(modality)")
        }
        if files.isEmpty { throw ValidationError("give at least one file") }
        if !(1...65_536).contains(dim) { throw ValidationError("--dim must be in 1...65536") }
        if !(1...256).contains(frames) { throw ValidationError("--frames must be in 1...256") }
        if let external, URL(string: external)?.scheme?.hasPrefix("http") != true {
            throw ValidationError("--external must be an http(s) URL, got \(external)")
        }
    }

    func run() throws {
        threadOptions.apply()
        let urls = files.map { URL(fileURLWithPath: $0) }
        let forced = Modality(rawValue: modality)
        let modalities = try urls.map { try forced ?? MediaFeatureEncoder.detectModality($0) }
        let showProgress = isatty(2) != 0
        func report(_ done: Int, _ name: String) {
            if showProgress { FileHandle.standardError.write(Data("\rencoding \(done)/\(urls.count) \(name)\u{1B}[K".utf8)) }
        }
        var vectors = [[Float]](repeating: [], count: urls.count)
        let encoderName: String
        if let external, let endpoint = URL(string: external) {
            encoderName = "external:\(external)"
            let client = ExternalEncoder(endpoint: endpoint, sendContents: !pathsOnly)
            var done = 0
            for kind in [Modality.image, .video, .audio] {
                let indices = urls.indices.filter { modalities[$0] == kind }
                if indices.isEmpty { continue }
                let result = try client.embed(indices.map { urls[$0] }, modality: kind) { n, _ in report(done + n, kind.rawValue) }
                for (i, e) in zip(indices, result) { vectors[i] = e.values }
                done += indices.count
            }
            if let width = vectors.first?.count, vectors.contains(where: { $0.count != width }) {
                throw ValidationError("the external encoder returned vectors of different widths for different modalities")
            }
        } else {
            encoderName = "media-features"
            let encoder = MediaFeatureEncoder(dimension: dim, seed: seed, frameCount: frames)
            for (i, url) in urls.enumerated() {
                report(i, url.lastPathComponent)
                vectors[i] = try encoder.embed(url, as: modalities[i]).values
            }
            report(urls.count, "")
        }
        if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        let width = vectors.first?.count ?? 0
        if let out {
            try NPY.write(TensorData(floats: vectors.flatMap { $0 }, shape: [vectors.count, width]), to: URL(fileURLWithPath: out))
            print("wrote \(vectors.count) × \(width) embeddings (\(encoderName)) to \(out)")
        } else {
            let object: [String: Any] = [
                "encoder": encoderName, "dim": width, "files": files, "modalities": modalities.map(\.rawValue),
                "embeddings": vectors.map { $0.map(Double.init) },
            ]
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        }
    }
}

/// Six significant digits, without trailing zeros.
private func format(_ value: Double) -> String {
    var text = String(format: "%.6g", value)
    if text.contains(".") && !text.contains("e") {
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
    }
    return text
}
