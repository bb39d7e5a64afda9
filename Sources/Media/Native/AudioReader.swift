// Reads audio: libsndfile for wav/flac/ogg/aiff, FFmpeg (libavformat + libswresample) for everything else,
// including the audio track of videos; optional resampling and mono downmix by averaging.
import CFFmpeg
import CSndFile
import Foundation

/// Decodes audio files to Float32 PCM.
///
/// ```swift
/// let clip = try AudioReader.read(url, sampleRate: 16_000, mono: true)   // the LanguageBind input
/// ```
/// Mono downmix is the mean of the channels (as librosa and torchaudio do), not swresample's default
/// (L+R)/√2. Resampling uses swresample's default filter (the one the `ffmpeg` CLI uses).
public enum AudioReader {
    /// Which library decoded a file.
    public enum Backend: String, Sendable {
        /// libsndfile (wav, flac, ogg/vorbis, aiff, au).
        case sndfile
        /// FFmpeg libavformat + libavcodec.
        case ffmpeg
    }

    /// Extensions tried with libsndfile first (falling back to FFmpeg when it refuses the file).
    public static let soundFileExtensions: Set<String> = ["wav", "wave", "flac", "ogg", "oga", "aif", "aiff", "au", "snd"]

    /// Decodes `url`; resamples to `sampleRate` when given and averages channels when `mono`.
    /// - Throws: `MediaError` naming the file (missing, empty, not audio, no audio stream, corrupt).
    /// - Parameter backend: force a library (nil: libsndfile for its extensions, FFmpeg otherwise).
    public static func read(_ url: URL, sampleRate: Int? = nil, mono: Bool = false, backend: Backend? = nil) throws -> AudioClip {
        try readReportingBackend(url, sampleRate: sampleRate, mono: mono, backend: backend).clip
    }

    /// As `read`, also telling which library decoded the file.
    public static func readReportingBackend(_ url: URL, sampleRate: Int? = nil, mono: Bool = false, backend: Backend? = nil) throws -> (clip: AudioClip, backend: Backend) {
        if let rate = sampleRate, !(1...768_000).contains(rate) {
            throw MediaError.invalidArgument(path: url.path, reason: "sample rate \(rate) is not in 1...768000")
        }
        try FFmpeg.checkReadable(url)
        if backend == .sndfile || (backend == nil && soundFileExtensions.contains(url.pathExtension.lowercased())) {
            let clip: AudioClip
            do { clip = try readWithSoundFile(url) } catch {
                if backend == .sndfile { throw error }
                return (try readWithFFmpeg(url, sampleRate: sampleRate, mono: mono), .ffmpeg)
            }
            var result = mono ? clip.downmixedToMono() : clip
            if let rate = sampleRate, rate != result.sampleRate {
                result = try Resampler.resample(result, to: rate, path: url.path)
            }
            return (result, .sndfile)
        }
        return (try readWithFFmpeg(url, sampleRate: sampleRate, mono: mono), .ffmpeg)
    }

    // MARK: - libsndfile

    static func readWithSoundFile(_ url: URL) throws -> AudioClip {
        var info = SF_INFO()
        guard let file = sf_open(url.path, Int32(SFM_READ), &info) else {
            throw MediaError.soundFile(path: url.path, message: String(cString: sf_strerror(nil)))
        }
        defer { sf_close(file) }
        let channels = Int(info.channels)
        guard channels > 0, channels <= 64, info.samplerate > 0 else {
            throw MediaError.soundFile(path: url.path, message: "invalid header: \(info.channels) channels at \(info.samplerate) Hz")
        }
        // Read in chunks: a corrupt header may state more frames than the file holds.
        let chunkFrames = 65_536
        var samples: [Float] = []
        if info.frames > 0 { samples.reserveCapacity(min(min(Int(info.frames), 1 << 24) * channels, 1 << 24)) }  // a hint, capped
        var chunk = [Float](repeating: 0, count: chunkFrames * channels)
        while true {
            let read = chunk.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(chunkFrames)) }
            if read <= 0 { break }
            samples.append(contentsOf: chunk[0..<(Int(read) * channels)])
        }
        let code = sf_error(file)
        if code != 0 && samples.isEmpty {
            throw MediaError.soundFile(path: url.path, message: String(cString: sf_error_number(code)))
        }
        guard !samples.isEmpty else { throw MediaError.noFrames(path: url.path) }
        return AudioClip(samples: samples, sampleRate: Int(info.samplerate), channelCount: channels)
    }

    // MARK: - FFmpeg

    static func readWithFFmpeg(_ url: URL, sampleRate: Int?, mono: Bool) throws -> AudioClip {
        let input = try FormatInput(url: url)
        guard let index = input.bestStream(AVMEDIA_TYPE_AUDIO) else { throw MediaError.noStream(path: url.path, kind: "audio") }
        let decoder = try StreamDecoder(input: input, streamIndex: index, threadCount: 1)
        var resampler: Resampler?
        var samples: [Float] = []
        var outChannels = 0, outRate = 0
        try decoder.decode { frame in
            if resampler == nil {
                let inRate = Int(frame.pointee.sample_rate), inChannels = Int(frame.pointee.ch_layout.nb_channels)
                guard inRate > 0, inChannels > 0, inChannels <= 64 else {
                    throw MediaError.decodeFailed(path: url.path, code: cffmpeg_averror_invaliddata(), message: "audio frame with \(inChannels) channels at \(inRate) Hz")
                }
                outChannels = mono ? 1 : inChannels
                outRate = sampleRate ?? inRate
                resampler = try Resampler(
                    inLayout: frame.pointee.ch_layout, inFormat: AVSampleFormat(rawValue: frame.pointee.format), inRate: inRate,
                    outChannels: outChannels, outRate: outRate, averageToMono: mono, path: url.path)
            }
            try resampler!.convert(frame: frame, appendingTo: &samples)
            return true
        }
        guard let resampler else {
            if decoder.skippedErrors > 0 {
                throw MediaError.decodeFailed(path: url.path, code: decoder.lastError, message: FFmpeg.message(decoder.lastError))
            }
            throw MediaError.noFrames(path: url.path)
        }
        try resampler.flush(appendingTo: &samples)
        guard !samples.isEmpty else { throw MediaError.noFrames(path: url.path) }
        return AudioClip(samples: samples, sampleRate: outRate, channelCount: outChannels)
    }
}

/// A libswresample context producing interleaved Float32 (owned; freed in `deinit`).
final class Resampler {
    private var context: OpaquePointer?
    let outChannels: Int
    let path: String
    /// The input the context was set up for; a frame in another format is refused (libswresample would read planes
    /// that are not there).
    private let inFormat: AVSampleFormat, inChannels: Int32, inRate: Int

    /// Converts from the given input layout/format/rate to `outChannels` interleaved floats at `outRate`;
    /// when `averageToMono`, the mix matrix is the plain mean of the input channels.
    init(inLayout: AVChannelLayout, inFormat: AVSampleFormat, inRate: Int, outChannels: Int, outRate: Int,
         averageToMono: Bool, path: String) throws {
        self.outChannels = outChannels
        self.path = path
        self.inFormat = inFormat
        self.inChannels = inLayout.nb_channels
        self.inRate = inRate
        var input = AVChannelLayout()
        let inChannels = inLayout.nb_channels
        if inLayout.order == AV_CHANNEL_ORDER_UNSPEC || av_channel_layout_check([inLayout]) == 0 {
            av_channel_layout_default(&input, inChannels)
        } else {
            var source = inLayout
            if av_channel_layout_copy(&input, &source) < 0 { av_channel_layout_default(&input, inChannels) }
        }
        defer { av_channel_layout_uninit(&input) }
        var output = AVChannelLayout()
        if outChannels == Int(inChannels) {
            _ = av_channel_layout_copy(&output, &input)
        } else {
            av_channel_layout_default(&output, Int32(outChannels))
        }
        defer { av_channel_layout_uninit(&output) }
        var ctx: OpaquePointer? = nil
        var code = swr_alloc_set_opts2(&ctx, &output, AV_SAMPLE_FMT_FLT, Int32(outRate), &input, inFormat, Int32(inRate), 0, nil)
        if code >= 0, let ctx, averageToMono, outChannels == 1, inChannels > 1 {
            let weights = [Double](repeating: 1 / Double(inChannels), count: Int(inChannels))
            code = swr_set_matrix(ctx, weights, Int32(inChannels))
        }
        if code >= 0 { code = swr_init(ctx) }
        guard code >= 0, ctx != nil else {
            swr_free(&ctx)
            throw MediaError.decodeFailed(path: path, code: code, message: "cannot set up resampling: \(FFmpeg.message(code))")
        }
        context = ctx
    }

    deinit { swr_free(&context) }

    /// Converts one decoded frame and appends the result.
    func convert(frame: UnsafeMutablePointer<AVFrame>, appendingTo samples: inout [Float]) throws {
        // A damaged or unusual stream can change its sample format, channel count or rate mid-stream (found by the
        // 10,000-file media fuzz: libswresample then copied from a plane that did not exist).
        let f = frame.pointee
        guard Int(f.format) == Int(inFormat.rawValue), f.ch_layout.nb_channels == inChannels, Int(f.sample_rate) == inRate else {
            throw MediaError.decodeFailed(
                path: path, code: -1,
                message: "the audio changes format mid-stream (\(f.ch_layout.nb_channels) channels at \(f.sample_rate) Hz, format \(f.format); the stream began with \(inChannels) at \(inRate) Hz, format \(inFormat.rawValue))")
        }
        let planes = av_sample_fmt_is_planar(inFormat) != 0 ? Int(inChannels) : 1
        guard f.nb_samples >= 0, let data = f.extended_data, (0..<planes).allSatisfy({ data[$0] != nil }) else {
            throw MediaError.decodeFailed(path: path, code: -1, message: "a decoded audio frame lacks the sample planes its format needs")
        }
        let capacity = Int(swr_get_out_samples(context, frame.pointee.nb_samples))
        guard capacity >= 0 else { throw MediaError.decodeFailed(path: path, code: Int32(capacity), message: FFmpeg.message(Int32(capacity))) }
        try append(capacity: capacity, to: &samples) { out, room in cffmpeg_swr_convert_frame(context, out, room, frame) }
    }

    /// Converts interleaved Float32 input and appends the result.
    func convert(packed: UnsafeBufferPointer<Float>, inChannels: Int, appendingTo samples: inout [Float]) throws {
        let count = Int32(packed.count / inChannels)
        let capacity = Int(swr_get_out_samples(context, count))
        try append(capacity: max(0, capacity), to: &samples) { out, room in
            packed.baseAddress!.withMemoryRebound(to: UInt8.self, capacity: packed.count * 4) {
                cffmpeg_swr_convert_packed(context, out, room, $0, count)
            }
        }
    }

    /// Drains the resampler's delay line.
    func flush(appendingTo samples: inout [Float]) throws {
        let capacity = Int(swr_get_out_samples(context, 0)) + 64
        try append(capacity: capacity, to: &samples) { out, room in cffmpeg_swr_convert_frame(context, out, room, nil) }
    }

    private func append(capacity: Int, to samples: inout [Float], _ run: (UnsafeMutablePointer<UInt8>, Int32) -> Int32) throws {
        guard capacity > 0 else { return }
        let start = samples.count
        samples.append(contentsOf: repeatElement(0, count: capacity * outChannels))
        let written = samples.withUnsafeMutableBufferPointer { buffer in
            (buffer.baseAddress! + start).withMemoryRebound(to: UInt8.self, capacity: capacity * outChannels * 4) { run($0, Int32(capacity)) }
        }
        guard written >= 0 else {
            samples.removeLast(capacity * outChannels)
            throw MediaError.decodeFailed(path: path, code: written, message: FFmpeg.message(written))
        }
        samples.removeLast((capacity - Int(written)) * outChannels)
    }

    /// Resamples a whole clip (channels kept) to `rate`.
    static func resample(_ clip: AudioClip, to rate: Int, path: String) throws -> AudioClip {
        var layout = AVChannelLayout()
        av_channel_layout_default(&layout, Int32(clip.channelCount))
        defer { av_channel_layout_uninit(&layout) }
        let resampler = try Resampler(inLayout: layout, inFormat: AV_SAMPLE_FMT_FLT, inRate: clip.sampleRate,
                                      outChannels: clip.channelCount, outRate: rate, averageToMono: false, path: path)
        var out: [Float] = []
        out.reserveCapacity(Int(Double(clip.frameCount) * Double(rate) / Double(clip.sampleRate)) * clip.channelCount + 1024)
        try clip.samples.withUnsafeBufferPointer { try resampler.convert(packed: $0, inChannels: clip.channelCount, appendingTo: &out) }
        try resampler.flush(appendingTo: &out)
        return AudioClip(samples: out, sampleRate: rate, channelCount: clip.channelCount)
    }
}

extension AudioClip {
    /// This clip resampled to `rate` with libswresample (channels kept); `self` when already at `rate`.
    /// - Throws: `MediaError.invalidArgument` for a rate outside 1...768000 (errors name `label`).
    public func resampled(to rate: Int, label: String = "<audio in memory>") throws -> AudioClip {
        guard (1...768_000).contains(rate) else { throw MediaError.invalidArgument(path: label, reason: "sample rate \(rate) is not in 1...768000") }
        if rate == sampleRate { return self }
        return try Resampler.resample(self, to: rate, path: label)
    }
}
