// Containers our writers do not produce (mkv without a frame count, mp4 with an AAC track, webm/VP9, mp3),
// made with the `ffmpeg` CLI when it is installed (skipped otherwise).
import Foundation
import Media
import TestSupport
import XCTest

final class ContainerVarietyTests: XCTestCase {
    var folder: TemporaryDirectory!
    let ffmpeg = "/usr/bin/ffmpeg"

    override func setUpWithError() throws {
        try Requirements.require(FileManager.default.isExecutableFile(atPath: ffmpeg), "ffmpeg CLI not installed at \(ffmpeg): run `make setup`")
        folder = try TemporaryDirectory(prefix: "media-containers")
    }
    override func tearDown() { folder?.remove() }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: ffmpeg)
        process.arguments = ["-v", "error", "-y"] + arguments
        process.standardError = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        XCTAssertEqual(process.terminationStatus, 0, arguments.joined(separator: " "))
    }

    func testMKVWithoutFrameCountAndMP4WithAudioTrack() throws {
        let mp4 = folder.url.appendingPathComponent("indexed.mp4")
        _ = try Synthetic.writeIndexedClip(to: mp4, frames: 40, fps: 10, levelStep: 5)
        let wav = folder.url.appendingPathComponent("tone.wav")
        try AudioWriter.writeWAV(samples: Synthetic.tone(frequency: 440, sampleRate: 48_000, seconds: 4, channels: 2), sampleRate: 48_000, channels: 2, to: wav)

        // Matroska states no frame count: the reader counts packets, sampling still picks frames 0, 13, 26, 39.
        let mkv = folder.url.appendingPathComponent("indexed.mkv")
        try run(["-i", mp4.path, "-c", "copy", mkv.path])
        let reader = try VideoReader(url: mkv)
        XCTAssertNil(reader.declaredFrameCount)
        XCTAssertEqual(try reader.frameCount(), 40)
        XCTAssertEqual(try MediaProbe.probe(mkv).video?.frameCount, 40)
        let frames = try VideoReader(url: mkv).sampleFrames(count: 4, size: FrameSize(width: 16, height: 16))
        for (frame, index) in zip(frames, [0, 13, 26, 39]) { XCTAssertEqual(frame.channelMeans.g, Double(index * 5), accuracy: 4) }

        // An mp4 with video and AAC audio: both readers find their stream.
        let both = folder.url.appendingPathComponent("both.mp4")
        try run(["-i", mp4.path, "-i", wav.path, "-c:v", "copy", "-c:a", "aac", "-b:a", "192k", "-shortest", both.path])
        let info = try MediaProbe.probe(both)
        XCTAssertEqual(info.streams.map(\.kind).sorted(), ["audio", "video"])
        XCTAssertEqual(info.audio?.sampleRate, 48_000)
        let audio = try AudioReader.read(both, sampleRate: 16_000, mono: true)
        XCTAssertEqual(audio.duration, 4.0, accuracy: 0.1)  // the audio track is 4 s, the video 4 s
        // The tone's mono mean is 0.75·0.5·sin: RMS 0.265 (AAC is lossy: 2 % tolerance).
        let middle = audio.samples[4000..<(audio.samples.count - 4000)]
        let rms = (middle.reduce(0.0) { $0 + Double($1 * $1) } / Double(middle.count)).squareRoot()
        XCTAssertEqual(rms, 0.75 * 0.5 / 2.0.squareRoot(), accuracy: 0.006)
        XCTAssertEqual(try VideoReader(url: both).sampleFrames(count: 2).count, 2)
    }

    func testWebMAndMP3() throws {
        let mp4 = folder.url.appendingPathComponent("indexed.mp4")
        _ = try Synthetic.writeIndexedClip(to: mp4, width: 64, height: 48, frames: 20, fps: 10, levelStep: 10)
        let webm = folder.url.appendingPathComponent("indexed.webm")
        try run(["-i", mp4.path, "-c:v", "libvpx-vp9", "-deadline", "realtime", "-b:v", "1M", webm.path])
        let frames = try VideoReader(url: webm).sampleFrames(count: 3, size: .square(32))
        XCTAssertEqual(try VideoReader(url: webm).codecName, "vp9")
        for (frame, index) in zip(frames, [0, 10, 19]) { XCTAssertEqual(frame.channelMeans.g, Double(index * 10), accuracy: 6) }

        let wav = folder.url.appendingPathComponent("tone.wav")
        try AudioWriter.writeWAV(samples: Synthetic.tone(frequency: 300, sampleRate: 44_100, seconds: 2), sampleRate: 44_100, to: wav)
        let mp3 = folder.url.appendingPathComponent("tone.mp3")
        try run(["-i", wav.path, "-c:a", "libmp3lame", "-b:a", "128k", mp3.path])
        let (clip, backend) = try AudioReader.readReportingBackend(mp3, sampleRate: 16_000)
        XCTAssertEqual(backend, .ffmpeg)
        XCTAssertEqual(clip.duration, 2.0, accuracy: 0.08)  // mp3 adds encoder padding
        XCTAssertEqual(clip.channelCount, 1)
    }
}
