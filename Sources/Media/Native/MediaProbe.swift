// `ffprobe`-like inspection: container, streams, codecs, sizes, rates, durations, frame counts.
import CFFmpeg
import Foundation

/// Inspects media files without decoding them.
public enum MediaProbe {
    /// Reads the container and stream headers of `url`.
    /// - Parameter countFrames: demux every packet to count video frames when the container does
    ///   not state the count (no decoding; fast).
    /// - Throws: `MediaError` naming the file (missing, empty, not media).
    public static func probe(_ url: URL, countFrames: Bool = true) throws -> MediaInfo {
        let input = try FormatInput(url: url)
        let context = input.context
        var streams: [StreamInfo] = []
        for i in 0..<input.streamCount {
            guard let stream = input.stream(Int32(i)), let par = stream.pointee.codecpar else { continue }
            let type = par.pointee.codec_type
            let kind = av_get_media_type_string(type).map { String(cString: $0) } ?? "unknown"
            var info = StreamInfo(kind: kind, index: i, codec: String(cString: avcodec_get_name(par.pointee.codec_id)))
            if stream.pointee.duration != FFmpeg.noPTS, stream.pointee.duration > 0, let base = FFmpeg.double(stream.pointee.time_base) {
                info.duration = Double(stream.pointee.duration) * base
            }
            if par.pointee.bit_rate > 0 { info.bitRate = Int(par.pointee.bit_rate) }
            if type == AVMEDIA_TYPE_VIDEO {
                info.width = Int(par.pointee.width)
                info.height = Int(par.pointee.height)
                info.pixelFormat = av_get_pix_fmt_name(AVPixelFormat(rawValue: par.pointee.format)).map { String(cString: $0) }
                info.frameRate = FFmpeg.double(stream.pointee.avg_frame_rate) ?? FFmpeg.double(stream.pointee.r_frame_rate)
                if stream.pointee.nb_frames > 0 { info.frameCount = Int(stream.pointee.nb_frames) }
            } else if type == AVMEDIA_TYPE_AUDIO {
                info.sampleRate = Int(par.pointee.sample_rate)
                info.channelCount = Int(par.pointee.ch_layout.nb_channels)
                info.sampleFormat = av_get_sample_fmt_name(AVSampleFormat(rawValue: par.pointee.format)).map { String(cString: $0) }
            }
            streams.append(info)
        }
        if countFrames, streams.contains(where: { $0.kind == "video" && $0.frameCount == nil }) {
            let counts = try packetCounts(url)
            for i in streams.indices where streams[i].kind == "video" && streams[i].frameCount == nil {
                streams[i].frameCount = counts[streams[i].index] ?? 0
            }
        }
        // A file whose headers parse but hold no usable audio or video (text, a JPEG name on junk...) is not media.
        let usable = streams.contains { ($0.kind == "video" && ($0.width ?? 0) > 0 && ($0.height ?? 0) > 0)
            || ($0.kind == "audio" && ($0.sampleRate ?? 0) > 0 && ($0.channelCount ?? 0) > 0) }
        guard usable else { throw MediaError.noStream(path: url.path, kind: "decodable audio or video") }
        let format = context.pointee.iformat.map { String(cString: $0.pointee.name) } ?? "unknown"
        let duration = context.pointee.duration != FFmpeg.noPTS && context.pointee.duration > 0
            ? Double(context.pointee.duration) / Double(AV_TIME_BASE) : nil
        return MediaInfo(path: url.path, format: format, duration: duration,
                         bitRate: context.pointee.bit_rate > 0 ? Int(context.pointee.bit_rate) : nil, streams: streams)
    }

    /// Packets per stream index, by demuxing the whole file.
    static func packetCounts(_ url: URL) throws -> [Int: Int] {
        let input = try FormatInput(url: url)
        guard let packet = av_packet_alloc() else { return [:] }
        var p: UnsafeMutablePointer<AVPacket>? = packet
        defer { av_packet_free(&p) }
        var counts: [Int: Int] = [:]
        while av_read_frame(input.context, packet) >= 0 {
            counts[Int(packet.pointee.stream_index), default: 0] += 1
            av_packet_unref(packet)
        }
        return counts
    }
}
