// Writes RGB pictures as JPEG (FFmpeg's mjpeg encoder) or PNG (FFmpeg's png encoder).
import CFFmpeg
import Formats
import Foundation

/// Encodes one RGB picture to a JPEG or PNG file.
public enum ImageWriter {
    /// Writes `rgb` (`width * height * 3` bytes, packed RGB24) as a baseline 4:2:0 JPEG.
    /// - Parameter quality: 1 (smallest) ... 100 (best); mapped to the MJPEG quantiser 31...2.
    public static func writeJPEG(rgb: [UInt8], width: Int, height: Int, quality: Int = 90, to url: URL) throws {
        guard (1...100).contains(quality) else { throw MediaError.invalidArgument(path: url.path, reason: "JPEG quality \(quality) is not in 1...100") }
        let qscale = 2 + Int((Double(100 - quality) * 29 / 99).rounded())
        try encodeStill(rgb: rgb, width: width, height: height, codec: AV_CODEC_ID_MJPEG, pixelFormat: AV_PIX_FMT_YUVJ420P,
                        qscale: qscale, to: url)
    }

    /// Writes `rgb` (`width * height * 3` bytes, packed RGB24) as a lossless 8-bit RGB PNG.
    public static func writePNG(rgb: [UInt8], width: Int, height: Int, to url: URL) throws {
        try encodeStill(rgb: rgb, width: width, height: height, codec: AV_CODEC_ID_PNG, pixelFormat: AV_PIX_FMT_RGB24, qscale: nil, to: url)
    }

    /// Writes an `RGBImage` as JPEG.
    public static func writeJPEG(_ image: RGBImage, quality: Int = 90, to url: URL) throws {
        try writeJPEG(rgb: image.pixels, width: image.width, height: image.height, quality: quality, to: url)
    }

    private static func encodeStill(rgb: [UInt8], width: Int, height: Int, codec id: AVCodecID, pixelFormat: AVPixelFormat,
                                    qscale: Int?, to url: URL) throws {
        _ = FFmpeg.configured
        let path = url.path
        guard width >= 1, height >= 1, width <= 16384, height <= 16384 else {
            throw MediaError.invalidArgument(path: path, reason: "image size \(width)×\(height) is not in 1...16384")
        }
        guard rgb.count == width * height * 3 else {
            throw MediaError.invalidArgument(path: path, reason: "image has \(rgb.count) bytes, expected \(width * height * 3) for \(width)×\(height) RGB")
        }
        guard let codec = avcodec_find_encoder(id) else { throw MediaError.unsupportedCodec(path: path, codec: String(cString: avcodec_get_name(id))) }
        var context = avcodec_alloc_context3(codec)
        var frame = av_frame_alloc()
        var packet = av_packet_alloc()
        var scaler: OpaquePointer? = nil
        defer {
            sws_freeContext(scaler)
            av_frame_free(&frame)
            av_packet_free(&packet)
            avcodec_free_context(&context)
        }
        guard let context, let frame, let packet else { throw MediaError.writeFailed(path: path, code: cffmpeg_averror_enomem(), message: "out of memory") }
        context.pointee.width = Int32(width)
        context.pointee.height = Int32(height)
        context.pointee.pix_fmt = pixelFormat
        context.pointee.time_base = AVRational(num: 1, den: 25)
        if let qscale {
            context.pointee.color_range = AVCOL_RANGE_JPEG
            context.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
            context.pointee.global_quality = Int32(qscale) * FF_QP2LAMBDA
        }
        var code = avcodec_open2(context, codec, nil)
        guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "opening the encoder: \(FFmpeg.message(code))") }
        frame.pointee.format = pixelFormat.rawValue
        frame.pointee.width = Int32(width)
        frame.pointee.height = Int32(height)
        frame.pointee.pts = 0
        if qscale != nil {
            frame.pointee.quality = Int32(qscale!) * FF_QP2LAMBDA
            frame.pointee.color_range = AVCOL_RANGE_JPEG
        }
        code = av_frame_get_buffer(frame, 0)
        guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: FFmpeg.message(code)) }
        // The scaler writes planar YUV with the JPEG (full) range, or copies RGB unchanged.
        var dummy: Int32 = 0
        let scalerTarget = AVPixelFormat(rawValue: cffmpeg_normalize_pixfmt(pixelFormat.rawValue, &dummy))
        scaler = sws_getContext(Int32(width), Int32(height), AV_PIX_FMT_RGB24, Int32(width), Int32(height), scalerTarget,
                                SWS_BICUBIC, nil, nil, nil)
        guard let scaler else { throw MediaError.writeFailed(path: path, code: cffmpeg_averror_enomem(), message: "cannot create the converter") }
        _ = cffmpeg_sws_set_ranges(scaler, 1, 1)
        var source = PaddedRGB()
        source.load(rgb, width: width, height: height)
        let stride = source.stride
        code = source.storage.withUnsafeBufferPointer { cffmpeg_sws_scale_packed_to_frame(scaler, $0.baseAddress, Int32(stride), Int32(height), frame) }
        guard code == Int32(height) else { throw MediaError.writeFailed(path: path, code: code, message: "RGB conversion failed") }
        code = avcodec_send_frame(context, frame)
        if code >= 0 { code = avcodec_send_frame(context, nil) }
        guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "encoding: \(FFmpeg.message(code))") }
        var bytes = Data()
        while true {
            code = avcodec_receive_packet(context, packet)
            if code == FFmpeg.eof || code == FFmpeg.eagain { break }
            guard code >= 0 else { throw MediaError.writeFailed(path: path, code: code, message: "encoding: \(FFmpeg.message(code))") }
            bytes.append(packet.pointee.data, count: Int(packet.pointee.size))
            av_packet_unref(packet)
        }
        guard !bytes.isEmpty else { throw MediaError.writeFailed(path: path, code: 0, message: "the encoder produced no data") }
        do { try AtomicFile.write(bytes, to: url) } catch {
            throw MediaError.writeFailed(path: path, code: 0, message: error.localizedDescription)
        }
    }
}
