// Owned FFmpeg handles shared by the readers: an opened container, a stream decoder, an RGB scaler.
// Thread-confined: every object here is used by one reader on one thread at a time.
import CFFmpeg
import Foundation

/// FFmpeg error text and one-time library set-up.
enum FFmpeg {
    /// FFmpeg's message for an error code (`av_strerror`).
    static func message(_ code: Int32) -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        if av_strerror(code, &buffer, buffer.count) < 0 { return "unknown FFmpeg error" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `AVERROR(EAGAIN)` and `AVERROR_EOF`, read once.
    static let eagain = cffmpeg_averror_eagain()
    static let eof = cffmpeg_averror_eof()
    static let noPTS = cffmpeg_nopts_value()

    /// Silences FFmpeg's stderr log (corrupt inputs are reported through `MediaError` instead)
    /// unless `WORLDGPT_FFMPEG_LOG=1` asks for warnings.
    static let configured: Bool = {
        let verbose = ProcessInfo.processInfo.environment["WORLDGPT_FFMPEG_LOG"] == "1"
        av_log_set_level(verbose ? AV_LOG_WARNING : AV_LOG_QUIET)
        return true
    }()

    /// Throws a clear error when `url` is missing, a folder or empty; FFmpeg's messages are vaguer.
    static func checkReadable(_ url: URL) throws {
        let path = url.path
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
              FileManager.default.isReadableFile(atPath: path)
        else { throw MediaError.fileNotFound(path: path) }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue ?? -1
        if size == 0 { throw MediaError.emptyFile(path: path) }
    }

    /// A rational as a Double (nil when the denominator or numerator is zero).
    static func double(_ r: AVRational) -> Double? {
        guard r.den != 0, r.num != 0 else { return nil }
        return Double(r.num) / Double(r.den)
    }
}

/// An opened container (`AVFormatContext`), closed in `deinit`.
final class FormatInput {
    let context: UnsafeMutablePointer<AVFormatContext>
    let path: String

    /// Opens `url` with libavformat and reads stream information.
    init(url: URL) throws {
        _ = FFmpeg.configured
        try FFmpeg.checkReadable(url)
        var opened: UnsafeMutablePointer<AVFormatContext>? = nil
        let code = avformat_open_input(&opened, url.path, nil, nil)
        guard code >= 0, let context = opened else {
            throw MediaError.cannotOpen(path: url.path, code: code, message: FFmpeg.message(code))
        }
        let infoCode = avformat_find_stream_info(context, nil)
        if infoCode < 0 {
            // deinit does not run when init throws: close here.
            avformat_close_input(&opened)
            throw MediaError.cannotOpen(path: url.path, code: infoCode, message: FFmpeg.message(infoCode))
        }
        self.context = context
        self.path = url.path
    }

    deinit {
        var c: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&c)
    }

    /// Number of streams in the container.
    var streamCount: Int { Int(context.pointee.nb_streams) }

    /// The stream at `index`.
    func stream(_ index: Int32) -> UnsafeMutablePointer<AVStream>? {
        guard index >= 0, Int(index) < streamCount else { return nil }
        return context.pointee.streams[Int(index)]
    }

    /// The best stream of `type` (FFmpeg's choice), or nil.
    func bestStream(_ type: AVMediaType) -> Int32? {
        let index = av_find_best_stream(context, type, -1, -1, nil, 0)
        return index >= 0 ? index : nil
    }
}

/// A decoder for one stream of a `FormatInput`, with its reusable frame and packet.
final class StreamDecoder {
    let input: FormatInput
    let streamIndex: Int32
    let codec: UnsafeMutablePointer<AVCodecContext>
    let frame: UnsafeMutablePointer<AVFrame>
    let packet: UnsafeMutablePointer<AVPacket>
    /// True once end of input was reached and the decoder was sent the flush packet.
    private var draining = false
    /// Decode errors skipped so far (corrupt packets), and the last one.
    private(set) var skippedErrors = 0
    private(set) var lastError: Int32 = 0

    /// Opens a decoder for stream `streamIndex`; `threadCount` 0 lets FFmpeg choose.
    init(input: FormatInput, streamIndex: Int32, threadCount: Int = 0) throws {
        guard let stream = input.stream(streamIndex), let parameters = stream.pointee.codecpar else {
            throw MediaError.noStream(path: input.path, kind: "decodable")
        }
        guard let decoder = avcodec_find_decoder(parameters.pointee.codec_id) else {
            throw MediaError.unsupportedCodec(path: input.path, codec: String(cString: avcodec_get_name(parameters.pointee.codec_id)))
        }
        guard let context = avcodec_alloc_context3(decoder) else {
            throw MediaError.decodeFailed(path: input.path, code: cffmpeg_averror_enomem(), message: "out of memory")
        }
        var code = avcodec_parameters_to_context(context, parameters)
        if code >= 0 {
            context.pointee.thread_count = Int32(max(0, threadCount))
            context.pointee.thread_type = FF_THREAD_FRAME | FF_THREAD_SLICE
            context.pointee.pkt_timebase = stream.pointee.time_base
            code = avcodec_open2(context, decoder, nil)
        }
        let frame = av_frame_alloc()
        let packet = av_packet_alloc()
        guard code >= 0, let frame, let packet else {
            var f = frame, p = packet, c: UnsafeMutablePointer<AVCodecContext>? = context
            av_frame_free(&f)
            av_packet_free(&p)
            avcodec_free_context(&c)
            if code >= 0 { code = cffmpeg_averror_enomem() }
            throw MediaError.decodeFailed(path: input.path, code: code, message: FFmpeg.message(code))
        }
        self.input = input
        self.streamIndex = streamIndex
        self.codec = context
        self.frame = frame
        self.packet = packet
    }

    deinit {
        var f: UnsafeMutablePointer<AVFrame>? = frame
        var p: UnsafeMutablePointer<AVPacket>? = packet
        var c: UnsafeMutablePointer<AVCodecContext>? = codec
        av_frame_free(&f)
        av_packet_free(&p)
        avcodec_free_context(&c)
    }

    /// The stream being decoded.
    var stream: UnsafeMutablePointer<AVStream> { input.context.pointee.streams[Int(streamIndex)]! }

    /// Seconds of the frame currently in `frame`, when it has a timestamp.
    func frameTime() -> Double? {
        let ts = frame.pointee.best_effort_timestamp != FFmpeg.noPTS ? frame.pointee.best_effort_timestamp : frame.pointee.pts
        guard ts != FFmpeg.noPTS, let base = FFmpeg.double(stream.pointee.time_base) else { return nil }
        return Double(ts) * base
    }

    /// Seeks the container to the last key frame at or before `timestamp` (in stream time base) and
    /// resets the decoder. Returns false when the container cannot seek.
    func seek(toTimestamp timestamp: Int64) -> Bool {
        let code = av_seek_frame(input.context, streamIndex, timestamp, AVSEEK_FLAG_BACKWARD)
        avcodec_flush_buffers(codec)
        draining = false
        return code >= 0
    }

    /// Decodes frames in presentation order, calling `body` with `frame` filled; `body` returns false
    /// to stop. Corrupt packets are skipped (counted in `skippedErrors`). Returns the number of frames
    /// delivered.
    /// `beforeSend` sees each packet of the stream just before the decoder does (e.g. to set `skip_frame`).
    @discardableResult
    func decode(beforeSend: ((UnsafeMutablePointer<AVPacket>) -> Void)? = nil,
                _ body: (UnsafeMutablePointer<AVFrame>) throws -> Bool) throws -> Int {
        var delivered = 0
        while true {
            if !draining {
                let readCode = av_read_frame(input.context, packet)
                if readCode < 0 {
                    if readCode != FFmpeg.eof { skippedErrors += 1; lastError = readCode }
                    draining = true
                    _ = avcodec_send_packet(codec, nil)
                } else {
                    let isOurs = packet.pointee.stream_index == streamIndex
                    if isOurs { beforeSend?(packet) }
                    let sendCode = isOurs ? avcodec_send_packet(codec, packet) : 0
                    av_packet_unref(packet)
                    if !isOurs { continue }
                    if sendCode < 0 && sendCode != FFmpeg.eagain {
                        skippedErrors += 1
                        lastError = sendCode
                        continue
                    }
                }
            }
            while true {
                let code = avcodec_receive_frame(codec, frame)
                if code == FFmpeg.eagain {
                    if draining { return delivered }  // nothing more will come
                    break
                }
                if code == FFmpeg.eof { return delivered }
                if code < 0 {
                    skippedErrors += 1
                    lastError = code
                    if draining { return delivered }
                    break
                }
                delivered += 1
                let keepGoing: Bool
                do { keepGoing = try body(frame) } catch {
                    av_frame_unref(frame)
                    throw error
                }
                av_frame_unref(frame)
                if !keepGoing { return delivered }
            }
        }
    }
}

/// Converts decoded frames to packed RGB24 at a requested size, caching the swscale context.
final class RGBConverter {
    private var context: OpaquePointer? = nil
    private var scratch: [UInt8] = []
    let flags: Int32

    /// A converter using swscale `flags` (bilinear by default: fast and close to PIL's resize).
    init(flags: Int32 = SWS_BILINEAR) { self.flags = flags }

    deinit { sws_freeContext(context) }

    /// The scaled size that covers `target` keeping the `width × height` aspect ratio.
    static func coverSize(width: Int, height: Int, target: FrameSize) -> (width: Int, height: Int) {
        let scale = max(Double(target.width) / Double(width), Double(target.height) / Double(height))
        return (max(target.width, Int((Double(width) * scale).rounded())),
                max(target.height, Int((Double(height) * scale).rounded())))
    }

    /// Converts `frame` to RGB at `size` (nil: the frame's own size).
    func convert(_ frame: UnsafeMutablePointer<AVFrame>, size: FrameSize?, path: String, time: Double?) throws -> RGBImage {
        let width = Int(frame.pointee.width), height = Int(frame.pointee.height)
        guard width > 0, height > 0 else { throw MediaError.decodeFailed(path: path, code: cffmpeg_averror_invaliddata(), message: "frame with no size") }
        let target = size ?? FrameSize(width: width, height: height)
        guard target.width > 0, target.height > 0, target.width <= 16384, target.height <= 16384 else {
            throw MediaError.invalidArgument(path: path, reason: "output size \(target.width)×\(target.height) is not in 1...16384")
        }
        let scaled = target.mode == .centerCrop ? RGBConverter.coverSize(width: width, height: height, target: target)
                                                : (width: target.width, height: target.height)
        guard scaled.width <= 16384, scaled.height <= 16384 else {
            throw MediaError.decodeFailed(path: path, code: cffmpeg_averror_invaliddata(),
                                          message: "a \(width)×\(height) frame cannot be centre-cropped to \(target.width)×\(target.height) (aspect ratio too extreme)")
        }
        var fullRange: Int32 = frame.pointee.color_range == AVCOL_RANGE_JPEG ? 1 : 0
        let source = cffmpeg_normalize_pixfmt(frame.pointee.format, &fullRange)
        guard source >= 0, let ctx = sws_getCachedContext(
            context, Int32(width), Int32(height), AVPixelFormat(rawValue: source),
            Int32(scaled.width), Int32(scaled.height), AV_PIX_FMT_RGB24, flags, nil, nil, nil)
        else {
            throw MediaError.decodeFailed(path: path, code: cffmpeg_averror_invaliddata(), message: "unsupported pixel format \(frame.pointee.format)")
        }
        context = ctx
        _ = cffmpeg_sws_set_ranges(ctx, fullRange, 1)
        // swscale writes whole SIMD blocks: give it a 64-byte aligned stride and tail padding, then copy
        // the wanted rectangle (the centre, for a crop) out into a dense image.
        let stride = (scaled.width * 3 + 63) & ~63
        let needed = stride * scaled.height + 64
        if scratch.count < needed { scratch = [UInt8](repeating: 0, count: needed) }
        let lines = scratch.withUnsafeMutableBufferPointer { cffmpeg_sws_scale_frame_to_packed(ctx, frame, $0.baseAddress, Int32(stride)) }
        guard lines == Int32(scaled.height) else {
            throw MediaError.decodeFailed(path: path, code: lines, message: "swscale produced \(lines) of \(scaled.height) rows")
        }
        let x0 = (scaled.width - target.width) / 2, y0 = (scaled.height - target.height) / 2
        let outRow = target.width * 3
        let pixels = [UInt8](unsafeUninitializedCapacity: outRow * target.height) { buffer, count in
            scratch.withUnsafeBufferPointer { src in
                for y in 0..<target.height {
                    let from = src.baseAddress! + (y0 + y) * stride + x0 * 3
                    (buffer.baseAddress! + y * outRow).update(from: from, count: outRow)
                }
            }
            count = outRow * target.height
        }
        return RGBImage(width: target.width, height: target.height, pixels: pixels, time: time)
    }
}

/// Packed RGB rows copied into a buffer with a 64-byte aligned stride and tail padding, because
/// swscale reads its source in whole SIMD blocks.
struct PaddedRGB {
    private(set) var storage: [UInt8] = []
    private(set) var stride = 0

    /// Copies `rgb` (`width * height * 3` bytes) into the padded buffer.
    mutating func load(_ rgb: [UInt8], width: Int, height: Int) {
        stride = (width * 3 + 63) & ~63
        let needed = stride * height + 64
        if storage.count < needed { storage = [UInt8](repeating: 0, count: needed) }
        let row = width * 3, stride = stride
        storage.withUnsafeMutableBufferPointer { dst in
            rgb.withUnsafeBufferPointer { src in
                for y in 0..<height { (dst.baseAddress! + y * stride).update(from: src.baseAddress! + y * row, count: row) }
            }
        }
    }
}

