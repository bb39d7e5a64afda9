// Plain value types the Media readers return and the writers accept (no C types here).
import Foundation

/// A packed 8-bit RGB picture (RGB24): `width × height × 3` bytes, row-major, no padding.
public struct RGBImage: Equatable, Sendable {
    /// Width in pixels.
    public var width: Int
    /// Height in pixels.
    public var height: Int
    /// `width * height * 3` bytes: R, G, B for each pixel, rows top to bottom.
    public var pixels: [UInt8]
    /// Presentation time in seconds, when the image is a video frame with a timestamp.
    public var time: Double?

    /// Wraps `pixels`.
    /// - Precondition: `pixels.count == width * height * 3`.
    public init(width: Int, height: Int, pixels: [UInt8], time: Double? = nil) {
        precondition(width >= 0 && height >= 0 && pixels.count == width * height * 3,
                     "RGBImage \(width)×\(height) needs \(width * height * 3) bytes, got \(pixels.count)")
        self.width = width
        self.height = height
        self.pixels = pixels
        self.time = time
    }

    /// The mean of each channel over all pixels, in 0...255.
    public var channelMeans: (r: Double, g: Double, b: Double) {
        var sums = (0.0, 0.0, 0.0)
        pixels.withUnsafeBufferPointer { p in
            var r = 0, g = 0, b = 0
            var i = 0
            while i < p.count { r += Int(p[i]); g += Int(p[i + 1]); b += Int(p[i + 2]); i += 3 }
            sums = (Double(r), Double(g), Double(b))
        }
        let n = Double(max(1, width * height))
        return (sums.0 / n, sums.1 / n, sums.2 / n)
    }
}

/// How a picture is brought to a requested output size.
public enum ResizeMode: String, Sendable, CaseIterable {
    /// Scale to exactly the requested width and height (the aspect ratio may change).
    case stretch
    /// Scale so the picture covers the requested size keeping its aspect ratio, then cut the centre
    /// (CLIP/LanguageBind preprocessing: resize the short side, centre crop).
    case centerCrop
}

/// A requested output size with the way to reach it.
public struct FrameSize: Equatable, Sendable {
    /// Output width in pixels.
    public var width: Int
    /// Output height in pixels.
    public var height: Int
    /// How to reach that size.
    public var mode: ResizeMode

    /// A target of `width × height` reached with `mode`.
    public init(width: Int, height: Int, mode: ResizeMode = .stretch) {
        self.width = width
        self.height = height
        self.mode = mode
    }

    /// A square `side × side` target (default: aspect-preserving resize and centre crop).
    public static func square(_ side: Int, mode: ResizeMode = .centerCrop) -> FrameSize {
        FrameSize(width: side, height: side, mode: mode)
    }
}

/// Decoded PCM audio as Float32 in -1...1, interleaved when there is more than one channel.
public struct AudioClip: Equatable, Sendable {
    /// Interleaved samples (`frameCount * channelCount` values).
    public var samples: [Float]
    /// Samples per second per channel.
    public var sampleRate: Int
    /// Number of channels.
    public var channelCount: Int

    /// Wraps interleaved `samples`.
    /// - Precondition: `samples.count` is a multiple of `channelCount`, both rates positive.
    public init(samples: [Float], sampleRate: Int, channelCount: Int) {
        precondition(sampleRate > 0 && channelCount > 0 && samples.count % channelCount == 0,
                     "AudioClip with \(samples.count) samples, \(channelCount) channels, \(sampleRate) Hz")
        self.samples = samples
        self.sampleRate = sampleRate
        self.channelCount = channelCount
    }

    /// Samples per channel.
    public var frameCount: Int { samples.count / channelCount }
    /// Length in seconds.
    public var duration: Double { Double(frameCount) / Double(sampleRate) }

    /// The channels averaged into one (a no-op for mono).
    public func downmixedToMono() -> AudioClip {
        if channelCount == 1 { return self }
        let n = frameCount, c = channelCount
        let scale = 1 / Float(c)
        let mono = [Float](unsafeUninitializedCapacity: n) { out, count in
            samples.withUnsafeBufferPointer { s in
                for i in 0..<n {
                    var sum: Float = 0
                    for ch in 0..<c { sum += s[i * c + ch] }
                    out[i] = sum * scale
                }
            }
            count = n
        }
        return AudioClip(samples: mono, sampleRate: sampleRate, channelCount: 1)
    }
}

/// What a probe learns about one stream of a media file.
public struct StreamInfo: Equatable, Sendable, Codable {
    /// Stream kind as FFmpeg names it: "video", "audio", "subtitle", "data", "attachment", "unknown".
    public var kind: String
    /// Index of the stream in the container.
    public var index: Int
    /// Codec short name (e.g. "h264", "pcm_s16le", "mjpeg").
    public var codec: String
    /// Duration of the stream in seconds, when known.
    public var duration: Double?
    /// Video: width in pixels.
    public var width: Int?
    /// Video: height in pixels.
    public var height: Int?
    /// Video: pixel format name.
    public var pixelFormat: String?
    /// Video: average frame rate (frames per second), when known.
    public var frameRate: Double?
    /// Video: number of frames (container count, or counted by demuxing when asked).
    public var frameCount: Int?
    /// Audio: samples per second.
    public var sampleRate: Int?
    /// Audio: channel count.
    public var channelCount: Int?
    /// Audio: sample format name.
    public var sampleFormat: String?
    /// Bit rate in bits per second, when known.
    public var bitRate: Int?
}

/// What a probe learns about a media file.
public struct MediaInfo: Equatable, Sendable, Codable {
    /// The file's path.
    public var path: String
    /// Container format name(s) as FFmpeg reports them (e.g. "mov,mp4,m4a,3gp,3g2,mj2").
    public var format: String
    /// Container duration in seconds, when known.
    public var duration: Double?
    /// Overall bit rate in bits per second, when known.
    public var bitRate: Int?
    /// Every stream in container order.
    public var streams: [StreamInfo]

    /// The first video stream, if any (still images count as video streams).
    public var video: StreamInfo? { streams.first { $0.kind == "video" } }
    /// The first audio stream, if any.
    public var audio: StreamInfo? { streams.first { $0.kind == "audio" } }
}
