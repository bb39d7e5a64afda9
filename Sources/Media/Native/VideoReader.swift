// Reads video files with libavformat/libavcodec: metadata, sequential frames, seeking, uniform sampling to RGB.
import CFFmpeg
import Foundation

/// How `VideoReader.sampleFrames` reaches the frames it needs.
public enum SamplingStrategy: String, Sendable, CaseIterable {
    /// Read the clip once from the start, decoding only the chosen frames and the frames they
    /// depend on (non-reference frames that are not chosen are skipped), best for short clips.
    case sequential
    /// Seek to the key frame before each chosen frame and decode forward to it (best for long clips).
    case seek
    /// `sequential` up to `VideoReader.seekThreshold` frames, `seek` beyond.
    case auto
    /// Decode every frame from the start, skipping nothing (the reference the faster paths are tested against).
    case decodeAll
}

/// A video file opened for decoding. Thread-confined: use one reader per thread.
///
/// ```swift
/// let reader = try VideoReader(url: clip)
/// let frames = try reader.sampleFrames(count: 8, size: .square(224))   // LanguageBind-style input
/// ```
/// Files with no audio track and variable frame rate are fine: frames are counted and timed from the
/// video stream itself.
public final class VideoReader {
    /// The file's path.
    public let path: String
    /// Frame width in pixels.
    public let width: Int
    /// Frame height in pixels.
    public let height: Int
    /// Codec short name (e.g. "h264").
    public let codecName: String
    /// Average frame rate in frames per second, when the container states one.
    public let frameRate: Double?
    /// Duration in seconds (stream duration, else container duration), when known.
    public let duration: Double?
    /// Frame count stated by the container (`nb_frames`), when it states one.
    public let declaredFrameCount: Int?
    /// Clips with more frames than this are sampled by seeking under `.auto`.
    public static let seekThreshold = 300

    private let url: URL
    private let threadCount: Int
    private var decoder: StreamDecoder
    private let converter = RGBConverter()
    private var countedFrames: Int?

    /// Opens the best video stream of `url`.
    /// - Parameters:
    ///   - threadCount: decoder threads; 0 lets FFmpeg pick (one per core).
    /// - Throws: `MediaError` naming the file: missing, empty, not media, no video stream, no decoder.
    public init(url: URL, threadCount: Int = 0) throws {
        let input = try FormatInput(url: url)
        guard let index = input.bestStream(AVMEDIA_TYPE_VIDEO) else { throw MediaError.noStream(path: url.path, kind: "video") }
        decoder = try StreamDecoder(input: input, streamIndex: index, threadCount: threadCount)
        let stream = decoder.stream
        let parameters = stream.pointee.codecpar!
        self.url = url
        self.threadCount = threadCount
        path = url.path
        width = Int(parameters.pointee.width)
        height = Int(parameters.pointee.height)
        codecName = String(cString: avcodec_get_name(parameters.pointee.codec_id))
        frameRate = FFmpeg.double(stream.pointee.avg_frame_rate) ?? FFmpeg.double(stream.pointee.r_frame_rate)
        if stream.pointee.duration != FFmpeg.noPTS, stream.pointee.duration > 0, let base = FFmpeg.double(stream.pointee.time_base) {
            duration = Double(stream.pointee.duration) * base
        } else if input.context.pointee.duration != FFmpeg.noPTS, input.context.pointee.duration > 0 {
            duration = Double(input.context.pointee.duration) / Double(AV_TIME_BASE)
        } else {
            duration = nil
        }
        declaredFrameCount = stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil
        guard width > 0, height > 0 else {
            throw MediaError.decodeFailed(path: url.path, code: cffmpeg_averror_invaliddata(), message: "video stream has no frame size")
        }
    }

    /// The number of frames: the container's count when stated, else counted by demuxing packets
    /// (no decoding). The result is cached.
    public func frameCount() throws -> Int {
        if let n = declaredFrameCount ?? countedFrames { return n }
        let input = try FormatInput(url: url)
        guard let packet = av_packet_alloc() else { throw MediaError.decodeFailed(path: path, code: cffmpeg_averror_enomem(), message: "out of memory") }
        var p: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&p) }
        var n = 0
        while av_read_frame(input.context, packet) >= 0 {
            if packet.pointee.stream_index == decoder.streamIndex { n += 1 }
            av_packet_unref(packet)
        }
        countedFrames = n
        return n
    }

    /// Decodes every frame from the current position (after `seek(to:)`: from the seek time), calling
    /// `body` with each frame converted to RGB at `size` (nil: native size). `body` returns false to stop.
    /// - Returns: the number of frames delivered.
    @discardableResult
    public func forEachFrame(size: FrameSize? = nil, _ body: (RGBImage) throws -> Bool) throws -> Int {
        let skip = pendingSkipUntil
        pendingSkipUntil = nil
        var delivered = 0
        try decoder.decode { frame in
            if let skip, let ts = bestTimestamp(frame), ts < skip - halfFrameTicks { return true }
            delivered += 1
            return try body(try converter.convert(frame, size: size, path: path, time: decoder.frameTime()))
        }
        return delivered
    }

    /// Decodes all remaining frames and returns how many there were (no conversion).
    public func decodeAllFrames() throws -> Int {
        let n = try decoder.decode { _ in true }
        if n == 0 { throw decodeFailure() }
        return n
    }

    /// Moves to `seconds` from the start: the next frame delivered is the first one at or after it.
    /// - Throws: `MediaError.invalidArgument` when the time is negative or not finite, `.decodeFailed`
    ///   when the container cannot seek.
    public func seek(to seconds: Double) throws {
        guard seconds.isFinite, seconds >= 0 else { throw MediaError.invalidArgument(path: path, reason: "seek time \(seconds) is not a non-negative number") }
        let target = timestamp(forSeconds: seconds)
        if !decoder.seek(toTimestamp: target) {
            throw MediaError.decodeFailed(path: path, code: cffmpeg_averror_invaliddata(), message: "container cannot seek")
        }
        pendingSkipUntil = target
    }

    /// Frames before this timestamp are decoded but not delivered (set by `seek`).
    private var pendingSkipUntil: Int64?

    /// The next frame (after a `seek`, the first at or after the seek time), or nil at the end.
    public func nextFrame(size: FrameSize? = nil) throws -> RGBImage? {
        var result: RGBImage?
        let skip = pendingSkipUntil
        pendingSkipUntil = nil
        try decoder.decode { frame in
            if let skip, let ts = bestTimestamp(frame), ts < skip - halfFrameTicks { return true }
            result = try converter.convert(frame, size: size, path: path, time: decoder.frameTime())
            return false
        }
        return result
    }

    /// `count` frames spread uniformly over the clip (indices `round(i·(N−1)/(count−1))`, like
    /// LanguageBind's `linspace(0, N−1, count)`), converted to RGB at `size`.
    ///
    /// Always returns `count` images: a clip shorter than `count` frames repeats frames. The reader is
    /// left at an unspecified position; call `seek(to:)` before reading on.
    /// - Throws: `MediaError.noFrames` when nothing decodes, `.invalidArgument` for `count < 1`.
    public func sampleFrames(count: Int, size: FrameSize? = nil, strategy: SamplingStrategy = .auto) throws -> [RGBImage] {
        guard count >= 1, count <= 100_000 else { throw MediaError.invalidArgument(path: path, reason: "frame count \(count) is not in 1...100000") }
        let total = try frameCount()
        guard total > 0 else { throw MediaError.noFrames(path: path) }
        let indices = VideoReader.uniformIndices(count: count, total: total)
        let useSeek = strategy == .seek || (strategy == .auto && total > VideoReader.seekThreshold)
        if useSeek, frameRate != nil, let frames = try? sampleBySeeking(indices: indices, size: size), frames.count == count {
            return frames
        }
        rewind()
        if strategy != .decodeAll, let frames = try sampleSkippingUnneededFrames(count: count, size: size), frames.count == count {
            return frames
        }
        rewind()
        var frames = try sampleSequentially(indices: indices, size: size)
        if frames.count < count {
            // The stated count was too high (corrupt or VFR container): sample again over what decoded.
            let decodedTotal = sequentialDecodedCount
            guard decodedTotal > 0 else { throw decodeFailure() }
            rewind()
            frames = try sampleSequentially(indices: VideoReader.uniformIndices(count: count, total: decodedTotal), size: size)
            guard frames.count == count else { throw decodeFailure() }
        }
        return frames
    }

    /// `linspace(0, total−1, count)` rounded to the nearest index.
    public static func uniformIndices(count: Int, total: Int) -> [Int] {
        guard count > 1 else { return [max(0, (total - 1) / 2)] }
        return (0..<count).map { i in Int((Double(i) * Double(total - 1) / Double(count - 1)).rounded()) }
    }

    // MARK: - Internals

    private var sequentialDecodedCount = 0

    private func sampleSequentially(indices: [Int], size: FrameSize?) throws -> [RGBImage] {
        var frames: [RGBImage] = []
        frames.reserveCapacity(indices.count)
        var next = 0, index = 0
        sequentialDecodedCount = try decoder.decode { frame in
            defer { index += 1 }
            if indices[next] != index { return true }
            let image = try converter.convert(frame, size: size, path: path, time: decoder.frameTime())
            while next < indices.count && indices[next] == index {
                frames.append(image)
                next += 1
            }
            return next < indices.count
        }
        return frames
    }

    /// Sequential sampling that does not decode what it does not need: a demux-only pass lists the
    /// presentation timestamps, the wanted frames are picked by timestamp, and packets of frames that are
    /// neither wanted nor referenced by others (`AVDISCARD_NONREF`: most B-frames) are skipped by the
    /// decoder. Returns nil (caller falls back to plain decoding) when timestamps are missing or repeated.
    private func sampleSkippingUnneededFrames(count: Int, size: FrameSize?) throws -> [RGBImage]? {
        guard let packet = av_packet_alloc() else { return nil }
        var owned: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&owned) }
        var timestamps: [Int64] = []
        while av_read_frame(decoder.input.context, packet) >= 0 {
            let pts = packet.pointee.pts
            let ours = packet.pointee.stream_index == decoder.streamIndex
            av_packet_unref(packet)
            if ours {
                guard pts != FFmpeg.noPTS else { rewind(); return nil }
                timestamps.append(pts)
            }
        }
        rewind()
        let sorted = timestamps.sorted()
        guard !sorted.isEmpty, Set(sorted).count == sorted.count else { return nil }
        countedFrames = countedFrames ?? sorted.count
        let wantedTimes = VideoReader.uniformIndices(count: count, total: sorted.count).map { sorted[$0] }
        let wanted = Set(wantedTimes)
        var found: [Int64: RGBImage] = [:]
        let codec = decoder.codec
        defer { codec.pointee.skip_frame = AVDISCARD_DEFAULT }
        try decoder.decode(beforeSend: { packet in
            codec.pointee.skip_frame = wanted.contains(packet.pointee.pts) ? AVDISCARD_DEFAULT : AVDISCARD_NONREF
        }) { frame in
            if let ts = bestTimestamp(frame), wanted.contains(ts), found[ts] == nil {
                found[ts] = try converter.convert(frame, size: size, path: path, time: decoder.frameTime())
            }
            return found.count < wanted.count
        }
        guard found.count == wanted.count else { return nil }
        return wantedTimes.compactMap { found[$0] }
    }

    private func sampleBySeeking(indices: [Int], size: FrameSize?) throws -> [RGBImage] {
        guard let fps = frameRate else { return [] }
        var frames: [RGBImage] = []
        let start = decoder.stream.pointee.start_time != FFmpeg.noPTS ? decoder.stream.pointee.start_time : 0
        for index in indices {
            let target = start + timestamp(forSeconds: Double(index) / fps)
            guard decoder.seek(toTimestamp: target) else { return [] }
            var image: RGBImage?
            try decoder.decode { frame in
                if let ts = bestTimestamp(frame), ts < target - halfFrameTicks { return true }
                image = try converter.convert(frame, size: size, path: path, time: decoder.frameTime())
                return false
            }
            guard let image else { return [] }
            frames.append(image)
        }
        return frames
    }

    private func rewind() {
        let start = decoder.stream.pointee.start_time != FFmpeg.noPTS ? decoder.stream.pointee.start_time : 0
        if !decoder.seek(toTimestamp: start), let fresh = try? FormatInput(url: url),
           let again = try? StreamDecoder(input: fresh, streamIndex: decoder.streamIndex, threadCount: threadCount) {
            decoder = again
        }
    }

    private func timestamp(forSeconds seconds: Double) -> Int64 {
        guard let base = FFmpeg.double(decoder.stream.pointee.time_base) else { return 0 }
        return Int64((seconds / base).rounded())
    }

    /// Half a frame in stream ticks: the tolerance when looking for "the frame at time t".
    private var halfFrameTicks: Int64 {
        guard let fps = frameRate, let base = FFmpeg.double(decoder.stream.pointee.time_base) else { return 0 }
        return Int64((0.5 / fps / base).rounded(.down))
    }

    private func bestTimestamp(_ frame: UnsafeMutablePointer<AVFrame>) -> Int64? {
        let ts = frame.pointee.best_effort_timestamp != FFmpeg.noPTS ? frame.pointee.best_effort_timestamp : frame.pointee.pts
        return ts == FFmpeg.noPTS ? nil : ts
    }

    private func decodeFailure() -> MediaError {
        decoder.skippedErrors > 0
            ? .decodeFailed(path: path, code: decoder.lastError, message: FFmpeg.message(decoder.lastError))
            : .noFrames(path: path)
    }
}
