// Reads still images (jpg, png, bmp, webp... whatever FFmpeg's image decoders know) into RGB.
import CFFmpeg
import Foundation

/// Decodes a still image with FFmpeg's image demuxers and decoders.
///
/// JPEG decodes to the deprecated full-range `yuvj4xxp` formats; they are mapped to `yuv4xxp` with
/// full colour range before conversion, so colours match what image libraries produce.
public enum ImageReader {
    /// The image's size without converting pixels.
    public static func size(of url: URL) throws -> (width: Int, height: Int) {
        let input = try FormatInput(url: url)
        guard let index = input.bestStream(AVMEDIA_TYPE_VIDEO), let stream = input.stream(index) else {
            throw MediaError.noStream(path: url.path, kind: "image")
        }
        let parameters = stream.pointee.codecpar!
        guard parameters.pointee.width > 0, parameters.pointee.height > 0 else { throw MediaError.noFrames(path: url.path) }
        return (Int(parameters.pointee.width), Int(parameters.pointee.height))
    }

    /// Decodes `url` to RGB, at `size` when given (else at its own size).
    /// - Throws: `MediaError` naming the file when it is missing, empty, not an image or corrupt.
    public static func read(_ url: URL, size: FrameSize? = nil) throws -> RGBImage {
        let input = try FormatInput(url: url)
        guard let index = input.bestStream(AVMEDIA_TYPE_VIDEO) else { throw MediaError.noStream(path: url.path, kind: "image") }
        let decoder = try StreamDecoder(input: input, streamIndex: index, threadCount: 1)
        let converter = RGBConverter(flags: SWS_BICUBIC)
        var image: RGBImage?
        try decoder.decode { frame in
            image = try converter.convert(frame, size: size, path: url.path, time: nil)
            return false
        }
        guard let image else {
            if decoder.skippedErrors > 0 {
                throw MediaError.decodeFailed(path: url.path, code: decoder.lastError, message: FFmpeg.message(decoder.lastError))
            }
            throw MediaError.noFrames(path: url.path)
        }
        return image
    }
}
