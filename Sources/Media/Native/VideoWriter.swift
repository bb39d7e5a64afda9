// Writes RGB frames to an mp4 file: H.264 (libx264) when FFmpeg has it, else MPEG-4 part 2.
import CFFmpeg
import Foundation

/// Encodes packed RGB24 frames into an `.mp4` file. Thread-confined.
///
/// ```swift
/// let writer = try VideoWriter(url: out, width: 320, height: 240, fps: 10)
/// for frame in frames { try writer.append(rgbFrame: frame) }   // width*height*3 bytes each
/// try writer.finish()
/// ```
/// Call `finish()` to write the trailer; a writer dropped without `finish()` closes its file but
/// leaves an unplayable mp4.
public final class VideoWriter {
    /// Which video encoder to use.
    public enum Codec: String, Sendable, CaseIterable {
        /// H.264 (libx264) when available, else MPEG-4 part 2.
        case auto
        /// H.264 through libx264 (throws `unsupportedCodec` when FFmpeg was built without it).
        case h264
        /// FFmpeg's built-in MPEG-4 part 2 encoder.
        case mpeg4
    }

    /// The output file's path.
    public let path: String
    /// Frame width in pixels.
    public let width: Int
    /// Frame height in pixels.
    public let height: Int
    /// Nominal frames per second.
    public let fps: Int
    /// The encoder actually used ("libx264" or "mpeg4").
    public let encoderName: String
    /// Frames appended so far.
    public private(set) var frameCount = 0

    private var output: UnsafeMutablePointer<AVFormatContext>?
    private var encoder: UnsafeMutablePointer<AVCodecContext>?
    private var frame: UnsafeMutablePointer<AVFrame>?
    private var packet: UnsafeMutablePointer<AVPacket>?
    private var scaler: OpaquePointer?
    private let streamIndex: Int32
    private let millisecondClock: Bool
    private var lastPTS: Int64 = -1
    private var finished = false
    private var source = PaddedRGB()

    /// Creates `url` (overwriting it) for `width × height` frames at `fps`.
    /// - Parameters:
    ///   - width, height: even numbers in 2...8192 (4:2:0 chroma needs even sizes).
    ///   - fps: frames per second, 1...240.
    ///   - codec: encoder choice (`.auto`: H.264 if present).
    ///   - variableFrameRate: when true, frames carry explicit times (`append(rgbFrame:time:)`),
    ///     stored with millisecond precision.
    /// - Throws: `MediaError.invalidArgument` for bad sizes, `.unsupportedCodec`, `.writeFailed`.
    public init(url: URL, width: Int, height: Int, fps: Int, codec: Codec = .auto, variableFrameRate: Bool = false) throws {
        _ = FFmpeg.configured
        path = url.path
        guard width >= 2, height >= 2, width <= 8192, height <= 8192, width % 2 == 0, height % 2 == 0 else {
            throw MediaError.invalidArgument(path: url.path, reason: "video size \(width)×\(height) must be even and in 2...8192")
        }
        guard (1...240).contains(fps) else { throw MediaError.invalidArgument(path: url.path, reason: "fps \(fps) is not in 1...240") }
        self.width = width
        self.height = height
        self.fps = fps
        millisecondClock = variableFrameRate
        var chosen: UnsafePointer<AVCodec>?
        switch codec {
        case .auto: chosen = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_MPEG4)
        case .h264: chosen = avcodec_find_encoder_by_name("libx264")
        case .mpeg4: chosen = avcodec_find_encoder(AV_CODEC_ID_MPEG4)
        }
        guard let chosen else { throw MediaError.unsupportedCodec(path: url.path, codec: codec == .h264 ? "libx264" : "mpeg4") }
        encoderName = String(cString: chosen.pointee.name)

        var code = avformat_alloc_output_context2(&output, nil, "mp4", url.path)
        var stage = "allocating the mp4 muxer"
        var index: Int32 = -1
        do {
            guard code >= 0, let output else { throw MediaError.writeFailed(path: path, code: code, message: "\(stage): \(FFmpeg.message(code))") }
            guard let stream = avformat_new_stream(output, nil), let encoder = avcodec_alloc_context3(chosen) else {
                throw MediaError.writeFailed(path: path, code: cffmpeg_averror_enomem(), message: "out of memory")
            }
            self.encoder = encoder
            index = stream.pointee.index
            encoder.pointee.width = Int32(width)
            encoder.pointee.height = Int32(height)
            encoder.pointee.pix_fmt = AV_PIX_FMT_YUV420P
            encoder.pointee.time_base = variableFrameRate ? AVRational(num: 1, den: 1000) : AVRational(num: 1, den: Int32(fps))
            encoder.pointee.framerate = AVRational(num: Int32(fps), den: 1)
            encoder.pointee.gop_size = Int32(max(1, fps))
            encoder.pointee.thread_count = 0
            if encoderName == "libx264" {
                _ = av_opt_set(encoder.pointee.priv_data, "preset", "veryfast", 0)
                _ = av_opt_set(encoder.pointee.priv_data, "crf", "20", 0)
            } else {
                encoder.pointee.bit_rate = Int64(max(400_000, width * height * fps / 4))
                encoder.pointee.max_b_frames = 0
            }
            if output.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER != 0 {
                encoder.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
            }
            stage = "opening the \(encoderName) encoder"
            code = avcodec_open2(encoder, chosen, nil)
            if code >= 0 { stage = "copying codec parameters"; code = avcodec_parameters_from_context(stream.pointee.codecpar, encoder) }
            stream.pointee.time_base = encoder.pointee.time_base
            if code >= 0 { stage = "creating the file"; code = avio_open(&output.pointee.pb, url.path, AVIO_FLAG_WRITE) }
            if code >= 0 { stage = "writing the mp4 header"; code = avformat_write_header(output, nil) }
            guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "\(stage): \(FFmpeg.message(code))") }
            frame = av_frame_alloc()
            packet = av_packet_alloc()
            guard let frame, packet != nil else { throw MediaError.writeFailed(path: path, code: cffmpeg_averror_enomem(), message: "out of memory") }
            frame.pointee.format = AV_PIX_FMT_YUV420P.rawValue
            frame.pointee.width = Int32(width)
            frame.pointee.height = Int32(height)
            code = av_frame_get_buffer(frame, 0)
            guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "frame buffer: \(FFmpeg.message(code))") }
            scaler = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height), AV_PIX_FMT_YUV420P,
                                    SWS_BILINEAR, nil, nil, nil)
            guard scaler != nil else { throw MediaError.writeFailed(path: path, code: cffmpeg_averror_enomem(), message: "cannot create the RGB→YUV converter") }
        } catch {
            // deinit does not run when init throws: release what was created.
            VideoWriter.release(output: &output, encoder: &encoder, frame: &frame, packet: &packet, scaler: &scaler)
            throw error
        }
        streamIndex = index
    }

    deinit { VideoWriter.release(output: &output, encoder: &encoder, frame: &frame, packet: &packet, scaler: &scaler) }

    /// Appends the next frame at the nominal rate (`frameCount / fps` seconds).
    /// - Parameter rgbFrame: `width * height * 3` bytes, packed RGB24, rows top to bottom.
    public func append(rgbFrame: [UInt8]) throws {
        let pts = millisecondClock ? Int64((Double(frameCount) * 1000 / Double(fps)).rounded()) : Int64(frameCount)
        try encode(rgbFrame, pts: pts)
    }

    /// Appends a frame shown at `time` seconds (needs `variableFrameRate: true`); times must increase
    /// by at least a millisecond.
    public func append(rgbFrame: [UInt8], time: Double) throws {
        guard millisecondClock else { throw MediaError.invalidArgument(path: path, reason: "explicit frame times need variableFrameRate: true") }
        guard time.isFinite, time >= 0 else { throw MediaError.invalidArgument(path: path, reason: "frame time \(time) is not a non-negative number") }
        try encode(rgbFrame, pts: Int64((time * 1000).rounded()))
    }

    /// Appends an `RGBImage` of the writer's size.
    public func append(_ image: RGBImage) throws {
        guard image.width == width, image.height == height else {
            throw MediaError.invalidArgument(path: path, reason: "frame is \(image.width)×\(image.height), the video is \(width)×\(height)")
        }
        try append(rgbFrame: image.pixels)
    }

    /// Flushes the encoder and writes the mp4 trailer. Further appends throw.
    public func finish() throws {
        guard !finished else { return }
        finished = true
        try drain(sending: nil)
        let code = av_write_trailer(output)
        let closeCode = avio_closep(&output!.pointee.pb)
        guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "writing the trailer: \(FFmpeg.message(code))") }
        guard closeCode >= 0 else { throw MediaError.writeFailed(path: path, code: closeCode, message: "closing: \(FFmpeg.message(closeCode))") }
    }

    private func encode(_ rgb: [UInt8], pts: Int64) throws {
        guard !finished else { throw MediaError.invalidArgument(path: path, reason: "append after finish()") }
        guard rgb.count == width * height * 3 else {
            throw MediaError.invalidArgument(path: path, reason: "frame has \(rgb.count) bytes, expected \(width * height * 3) for \(width)×\(height) RGB")
        }
        guard pts > lastPTS else { throw MediaError.invalidArgument(path: path, reason: "frame times must increase (got \(pts) ms after \(lastPTS) ms)") }
        guard let frame else { return }
        var code = av_frame_make_writable(frame)
        guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: FFmpeg.message(code)) }
        source.load(rgb, width: width, height: height)
        let stride = source.stride
        code = source.storage.withUnsafeBufferPointer { cffmpeg_sws_scale_packed_to_frame(scaler, $0.baseAddress, Int32(stride), Int32(height), frame) }
        guard code == Int32(height) else { throw MediaError.writeFailed(path: path, code: code, message: "RGB→YUV conversion failed") }
        frame.pointee.pts = pts
        lastPTS = pts
        try drain(sending: frame)
        frameCount += 1
    }

    /// Sends `frame` (nil: end of stream) and writes every packet the encoder returns.
    private func drain(sending frame: UnsafeMutablePointer<AVFrame>?) throws {
        guard let encoder, let packet, let output else { return }
        var code = avcodec_send_frame(encoder, frame)
        guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "encoding: \(FFmpeg.message(code))") }
        while true {
            code = avcodec_receive_packet(encoder, packet)
            if code == FFmpeg.eagain || code == FFmpeg.eof { return }
            guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "encoding: \(FFmpeg.message(code))") }
            let stream = output.pointee.streams[Int(streamIndex)]!
            // Without a duration the mp4 muxer gives the last sample zero length and readers drop it.
            if packet.pointee.duration <= 0 { packet.pointee.duration = millisecondClock ? Int64((1000 / Double(fps)).rounded()) : 1 }
            av_packet_rescale_ts(packet, encoder.pointee.time_base, stream.pointee.time_base)
            packet.pointee.stream_index = streamIndex
            code = av_interleaved_write_frame(output, packet)  // takes ownership of the packet's data
            guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "writing a packet: \(FFmpeg.message(code))") }
        }
    }

    private static func release(output: inout UnsafeMutablePointer<AVFormatContext>?, encoder: inout UnsafeMutablePointer<AVCodecContext>?,
                                frame: inout UnsafeMutablePointer<AVFrame>?, packet: inout UnsafeMutablePointer<AVPacket>?,
                                scaler: inout OpaquePointer?) {
        sws_freeContext(scaler)
        scaler = nil
        av_frame_free(&frame)
        av_packet_free(&packet)
        avcodec_free_context(&encoder)
        if let context = output {
            if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
            avformat_free_context(context)
            output = nil
        }
    }
}
