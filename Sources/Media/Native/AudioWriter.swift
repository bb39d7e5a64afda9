// Writes PCM audio with libsndfile: 16-bit or float WAV, or FLAC.
import CSndFile
import Foundation

/// Writes Float32 PCM (-1...1, interleaved) to WAV or FLAC through libsndfile.
public enum AudioWriter {
    /// The file encoding.
    public enum Encoding: String, Sendable, CaseIterable {
        /// WAV, signed 16-bit PCM (values outside -1...1 are clipped).
        case wav16
        /// WAV, 32-bit float PCM.
        case wavFloat
        /// FLAC, 16-bit (clipped like `wav16`).
        case flac16
    }

    /// Writes `samples` (interleaved, `channels` per frame) at `sampleRate` to `url` as 16-bit WAV.
    public static func writeWAV(samples: [Float], sampleRate: Int, channels: Int = 1, to url: URL) throws {
        try write(samples: samples, sampleRate: sampleRate, channels: channels, encoding: .wav16, to: url)
    }

    /// Writes an `AudioClip` with `encoding`.
    public static func write(_ clip: AudioClip, encoding: Encoding = .wav16, to url: URL) throws {
        try write(samples: clip.samples, sampleRate: clip.sampleRate, channels: clip.channelCount, encoding: encoding, to: url)
    }

    /// Writes `samples` (interleaved) with `encoding`.
    /// - Throws: `MediaError.invalidArgument` for bad rates/channel counts/non-finite samples, `.soundFile`.
    public static func write(samples: [Float], sampleRate: Int, channels: Int, encoding: Encoding, to url: URL) throws {
        let path = url.path
        guard (1...768_000).contains(sampleRate) else { throw MediaError.invalidArgument(path: path, reason: "sample rate \(sampleRate) is not in 1...768000") }
        guard (1...64).contains(channels), samples.count % channels == 0 else {
            throw MediaError.invalidArgument(path: path, reason: "\(samples.count) samples do not divide into \(channels) channels")
        }
        guard samples.allSatisfy({ $0.isFinite }) else { throw MediaError.invalidArgument(path: path, reason: "samples contain NaN or infinity") }
        var info = SF_INFO()
        info.samplerate = Int32(sampleRate)
        info.channels = Int32(channels)
        switch encoding {
        case .wav16: info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_PCM_16)
        case .wavFloat: info.format = Int32(SF_FORMAT_WAV | SF_FORMAT_FLOAT)
        case .flac16: info.format = Int32(SF_FORMAT_FLAC | SF_FORMAT_PCM_16)
        }
        guard let file = sf_open(path, Int32(SFM_WRITE), &info) else {
            throw MediaError.soundFile(path: path, message: String(cString: sf_strerror(nil)))
        }
        _ = sf_command(file, Int32(SFC_SET_CLIPPING), nil, Int32(SF_TRUE))
        let frames = samples.count / channels
        let written = samples.withUnsafeBufferPointer { sf_writef_float(file, $0.baseAddress, sf_count_t(frames)) }
        let message = String(cString: sf_strerror(file))
        let closeCode = sf_close(file)
        guard written == frames, closeCode == 0 else { throw MediaError.soundFile(path: path, message: "wrote \(written) of \(frames) frames: \(message)") }
    }
}
