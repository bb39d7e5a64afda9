// The built-in media encoder: documented features → seeded Gaussian random projection (BLAS) → unit vector.
import Foundation
import Formats
import Media
import Tensor

/// Embeds images, videos and audio into `dimension`-wide unit vectors without a neural network.
///
/// Features (docs/media.md): images and the `frameCount` frames sampled uniformly from a video are
/// area-resampled to 64×64 and described by colour layout, a soft colour histogram, gradient texture
/// and (video) motion; audio is resampled to 16 kHz mono and described by log-mel statistics. A
/// Gaussian matrix drawn from `seed` projects the features to `dimension` values (Johnson–Lindenstrauss:
/// cosines are kept within a few hundredths), then the vector is L2-normalised. Deterministic: the same
/// file and seed give the same bits. Not LanguageBind: vectors from this encoder and from LanguageBind
/// live in different spaces and must not be mixed in one index.
public struct MediaFeatureEncoder: Sendable {
    /// Output width (768, like LanguageBind).
    public let dimension: Int
    /// Seed of the projection matrices.
    public let seed: UInt64
    /// Frames sampled per video.
    public let frameCount: Int
    private let projections: [Modality: [Float]]

    /// The default seed ("WorldGPT" in ASCII).
    public static let defaultSeed: UInt64 = 0x576F_726C_6447_5054

    /// An encoder producing `dimension`-wide vectors from projections drawn with `seed`.
    /// - Precondition: `dimension` in 1...65536, `frameCount` in 1...256.
    public init(dimension: Int = 768, seed: UInt64 = MediaFeatureEncoder.defaultSeed, frameCount: Int = 8) {
        precondition((1...65_536).contains(dimension), "embedding dimension \(dimension) is not in 1...65536")
        precondition((1...256).contains(frameCount), "frame count \(frameCount) is not in 1...256")
        self.dimension = dimension
        self.seed = seed
        self.frameCount = frameCount
        var projections: [Modality: [Float]] = [:]
        for (modality, width) in [(Modality.image, VisualFeatures.imageDimension), (.video, VisualFeatures.videoDimension),
                                  (.audio, AudioFeatures.dimension)] {
            var generator = GaussianStream(seed: seed ^ UInt64(truncatingIfNeeded: modality.rawValue.hashValueStable))
            projections[modality] = (0..<(dimension * width)).map { _ in generator.next() }
        }
        self.projections = projections
    }

    /// Embeds the file at `url` as `modality` (nil: detected from the extension, else by probing).
    /// - Throws: `MediaError` naming the file when it cannot be read; `.invalidArgument` for text.
    public func embed(_ url: URL, as modality: Modality? = nil) throws -> Formats.Embedding {
        let kind = try modality ?? MediaFeatureEncoder.detectModality(url)
        switch kind {
        case .image:
            return embed(features: VisualFeatures.image(try ImageReader.read(url)), modality: .image)
        case .video:
            let frames = try VideoReader(url: url).sampleFrames(count: frameCount, size: FrameSize(width: VisualFeatures.side, height: VisualFeatures.side))
            return embed(features: VisualFeatures.video(frames), modality: .video)
        case .audio:
            let clip = try AudioReader.read(url, sampleRate: AudioFeatures.sampleRate, mono: true)
            return embed(features: AudioFeatures.features(clip.samples), modality: .audio)
        case .text:
            throw MediaError.invalidArgument(path: url.path, reason: "text is embedded by the text encoders, not MediaFeatureEncoder")
        }
    }

    /// Embeds an in-memory picture.
    public func embed(image: RGBImage) -> Formats.Embedding { embed(features: VisualFeatures.image(image), modality: .image) }

    /// Embeds frames already sampled from a clip (any size; `frameCount` of them is the convention).
    /// - Precondition: at least one frame.
    public func embed(videoFrames: [RGBImage]) -> Formats.Embedding { embed(features: VisualFeatures.video(videoFrames), modality: .video) }

    /// Embeds audio (any rate and channel count: resampled to 16 kHz mono first).
    public func embed(audio clip: AudioClip) throws -> Formats.Embedding {
        let mono = try clip.downmixedToMono().resampled(to: AudioFeatures.sampleRate)
        return embed(features: AudioFeatures.features(mono.samples), modality: .audio)
    }

    /// Projects a feature vector of `modality` (from `VisualFeatures`/`AudioFeatures`) and normalises it.
    public func project(_ features: [Float], modality: Modality) -> Formats.Embedding { embed(features: features, modality: modality) }

    /// The `dimension × featureWidth` row-major projection matrix of `modality` (empty for text).
    public func projectionMatrix(_ modality: Modality) -> [Float] { projections[modality] ?? [] }

    /// Projects a feature vector of `modality` and normalises it.
    func embed(features: [Float], modality: Modality) -> Formats.Embedding {
        guard let matrix = projections[modality] else { preconditionFailure("no projection for \(modality)") }
        precondition(matrix.count == dimension * features.count, "feature width \(features.count) does not match the \(modality) projection")
        var out = [Float](repeating: 0, count: dimension)
        matrix.withUnsafeBufferPointer { a in
            features.withUnsafeBufferPointer { x in
                out.withUnsafeMutableBufferPointer { y in
                    BLAS.sgemv(m: dimension, n: features.count, a: a.baseAddress!, x: x.baseAddress!, y: y.baseAddress!)
                }
            }
        }
        return Formats.Embedding(out).normalized()
    }

    /// File extensions mapped to modalities (lower case).
    public static let imageExtensions: Set<String> = ["jpg", "jpeg", "png", "bmp", "webp", "tif", "tiff", "ppm", "pgm"]
    /// Video container extensions.
    public static let videoExtensions: Set<String> = ["mp4", "m4v", "mov", "mkv", "webm", "avi", "mpg", "mpeg", "flv", "ogv", "gif", "ts"]
    /// Audio file extensions.
    public static let audioExtensions: Set<String> = ["wav", "wave", "flac", "ogg", "oga", "opus", "mp3", "m4a", "aac", "aif", "aiff", "au", "wma"]

    /// The modality of a file: from its extension, else from its streams (a video stream of one frame
    /// is an image, of more a video; audio only is audio).
    public static func detectModality(_ url: URL) throws -> Modality {
        let ext = url.pathExtension.lowercased()
        if imageExtensions.contains(ext) { return .image }
        if videoExtensions.contains(ext) { return .video }
        if audioExtensions.contains(ext) { return .audio }
        let info = try MediaProbe.probe(url)
        if let video = info.video { return (video.frameCount ?? 2) <= 1 ? .image : .video }
        if info.audio != nil { return .audio }
        throw MediaError.noStream(path: url.path, kind: "audio or video")
    }
}

/// SplitMix64 → Box–Muller standard normals: the projection's random source (platform-independent).
struct GaussianStream {
    private var state: UInt64
    private var spare: Float?

    init(seed: UInt64) { state = seed }

    private mutating func nextBits() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func next() -> Float {
        if let s = spare { spare = nil; return s }
        let u1 = max(Double(nextBits() >> 11) / Double(1 << 53), 1e-300)
        let u2 = Double(nextBits() >> 11) / Double(1 << 53)
        let radius = (-2 * log(u1)).squareRoot()
        spare = Float(radius * sin(2 * .pi * u2))
        return Float(radius * cos(2 * .pi * u2))
    }
}

extension String {
    /// FNV-1a of the UTF-8 bytes: a hash that, unlike `hashValue`, is the same in every process.
    var hashValueStable: UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
        return h
    }
}
