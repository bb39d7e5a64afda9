// Decoding the WorldGPT demo media: values checked against `ffprobe`/`ffmpeg` 5.1 output, written in here.
import Foundation
import Media
import TestSupport
import XCTest

final class FixtureDecodeTests: XCTestCase {
    static let demo = Fixtures.url("worldgpt-demo/languagebind")
    var skiing0: URL { Self.demo.appendingPathComponent("skiing/video/state0.mp4") }
    var aircraft0: URL { Self.demo.appendingPathComponent("aircraft/video/state0.mp4") }
    var skiingWav: URL { Self.demo.appendingPathComponent("skiing/audio/state0.wav") }

    // ffprobe -count_frames: h264 1920×1080 yuv420p, 2997/100 fps, nb_frames = nb_read_frames = 90,
    // stream duration 3.003003 s, container duration 3.004 s, one stream (no audio).
    func testSkiingVideoMatchesFFprobe() throws {
        let info = try MediaProbe.probe(skiing0)
        XCTAssertEqual(info.streams.count, 1)
        XCTAssertNil(info.audio)
        let video = try XCTUnwrap(info.video)
        XCTAssertEqual(video.codec, "h264")
        XCTAssertEqual(video.width, 1920)
        XCTAssertEqual(video.height, 1080)
        XCTAssertEqual(video.pixelFormat, "yuv420p")
        XCTAssertEqual(video.frameCount, 90)
        XCTAssertEqual(try XCTUnwrap(video.frameRate), 29.97, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(video.duration), 3.003003, accuracy: 1e-6)
        XCTAssertEqual(try XCTUnwrap(info.duration), 3.004, accuracy: 1e-6)
        XCTAssertTrue(info.format.contains("mp4"))

        let reader = try VideoReader(url: skiing0)
        XCTAssertEqual(reader.width, 1920)
        XCTAssertEqual(reader.height, 1080)
        XCTAssertEqual(try reader.frameCount(), 90)
        XCTAssertEqual(try reader.decodeAllFrames(), 90, "frames actually decoded (ffprobe nb_read_frames)")
    }

    // ffprobe: h264 640×480, 10/1 fps, 30 frames, 3.000000 s. ffmpeg -frames:v 1 -pix_fmt rgb24:
    // channel means (162.807, 176.646, 213.376), pixel (0,0) = (250,250,250), pixel (row 240, col 320) = (138,158,200).
    func testAircraftFirstFrameMatchesFFmpegPixels() throws {
        let reader = try VideoReader(url: aircraft0)
        XCTAssertEqual(try reader.frameCount(), 30)
        XCTAssertEqual(try XCTUnwrap(reader.frameRate), 10, accuracy: 1e-9)
        XCTAssertEqual(try XCTUnwrap(reader.duration), 3.0, accuracy: 1e-6)
        let frame = try XCTUnwrap(try reader.nextFrame())
        XCTAssertEqual(frame.width, 640)
        XCTAssertEqual(frame.height, 480)
        XCTAssertEqual(try XCTUnwrap(frame.time), 0, accuracy: 1e-9)
        let means = frame.channelMeans
        XCTAssertEqual(means.r, 162.807, accuracy: 1.0)
        XCTAssertEqual(means.g, 176.646, accuracy: 1.0)
        XCTAssertEqual(means.b, 213.376, accuracy: 1.0)
        XCTAssertEqual(Array(frame.pixels[0..<3]).map(Int.init), [250, 250, 250])
        let centre = (240 * 640 + 320) * 3
        for (got, want) in zip(frame.pixels[centre..<centre + 3], [138, 158, 200]) { XCTAssertEqual(Double(got), Double(want), accuracy: 3) }
    }

    // ffmpeg -vf select=eq(n\,45) on skiing state0: channel means (147.202, 160.598, 180.725).
    func testSeekLandsOnRequestedFrame() throws {
        let reader = try VideoReader(url: skiing0)
        try reader.seek(to: 45 / 29.97)
        let frame = try XCTUnwrap(try reader.nextFrame())
        XCTAssertEqual(try XCTUnwrap(frame.time), 45 / 29.97, accuracy: 0.5 / 29.97)
        let means = frame.channelMeans
        XCTAssertEqual(means.r, 147.202, accuracy: 1.0)
        XCTAssertEqual(means.g, 160.598, accuracy: 1.0)
        XCTAssertEqual(means.b, 180.725, accuracy: 1.0)
    }

    // ffprobe: pcm_s16le, 44100 Hz, 2 channels, 132300 samples, 3.000000 s. Python's `wave` module: the first
    // frames are (-0.02734375, 0.013458252), (-0.026916504, 0.014984131), per-channel RMS (0.0213813, 0.0219350).
    func testWavMatchesFFprobeAndWaveModule() throws {
        let info = try MediaProbe.probe(skiingWav)
        let audio = try XCTUnwrap(info.audio)
        XCTAssertEqual(audio.codec, "pcm_s16le")
        XCTAssertEqual(audio.sampleRate, 44100)
        XCTAssertEqual(audio.channelCount, 2)
        XCTAssertEqual(try XCTUnwrap(info.duration), 3.0, accuracy: 1e-6)

        let (clip, backend) = try AudioReader.readReportingBackend(skiingWav)
        XCTAssertEqual(backend, .sndfile)
        XCTAssertEqual(clip.sampleRate, 44100)
        XCTAssertEqual(clip.channelCount, 2)
        XCTAssertEqual(clip.frameCount, 132_300)
        XCTAssertEqual(clip.duration, 3.0, accuracy: 1e-9)
        XCTAssertEqual(clip.samples[0], -0.02734375, accuracy: 1e-7)
        XCTAssertEqual(clip.samples[1], 0.013458251953125, accuracy: 1e-7)
        XCTAssertEqual(clip.samples[2], -0.02691650390625, accuracy: 1e-7)
        XCTAssertEqual(clip.samples[3], 0.014984130859375, accuracy: 1e-7)
        XCTAssertEqual(rms(clip.samples, channel: 0, of: 2), 0.0213813, accuracy: 1e-6)
        XCTAssertEqual(rms(clip.samples, channel: 1, of: 2), 0.0219350, accuracy: 1e-6)
    }

    // ffmpeg -af "pan=mono|c0=0.5*c0+0.5*c1" -ar 16000 -f f32le: 48000 samples, RMS 0.012451959,
    // samples[1000...1003] = -0.01183059, -0.01531004, -0.01526016, -0.01251702. Both back ends must agree.
    func testResampleTo16kMonoMatchesFFmpegAverageDownmix() throws {
        for backend in [AudioReader.Backend.sndfile, .ffmpeg] {
            let clip = try AudioReader.read(skiingWav, sampleRate: 16_000, mono: true, backend: backend)
            XCTAssertEqual(clip.sampleRate, 16_000)
            XCTAssertEqual(clip.channelCount, 1)
            XCTAssertEqual(clip.frameCount, 48_000, "\(backend)")
            XCTAssertEqual(rms(clip.samples, channel: 0, of: 1), 0.012451959, accuracy: 2e-5, "\(backend)")
            let expected: [Float] = [-0.01183059, -0.01531004, -0.01526016, -0.01251702]
            for (i, want) in expected.enumerated() { XCTAssertEqual(clip.samples[1000 + i], want, accuracy: 2e-4, "\(backend)") }
        }
    }

    // ffmpeg -pix_fmt rgb24 channel means: plane.jpg (640×428, yuvj444p) (112.843, 120.103, 116.071);
    // tornado.jpg (640×480, yuvj420p) (99.564, 101.241, 100.050); fireworks.jpg (197×199, yuvj420p) (41.789, 35.228, 32.189).
    func testJPEGFixturesMatchFFmpeg() throws {
        let cases: [(String, Int, Int, (Double, Double, Double))] = [
            ("plane", 640, 428, (112.843, 120.103, 116.071)),
            ("tornado", 640, 480, (99.564, 101.241, 100.050)),
            ("fireworks", 197, 199, (41.789, 35.228, 32.189)),
        ]
        for (name, width, height, want) in cases {
            let url = Fixtures.url("worldgpt-demo/decode/\(name).jpg")
            let size = try ImageReader.size(of: url)
            XCTAssertEqual(size.width, width)
            XCTAssertEqual(size.height, height)
            let image = try ImageReader.read(url)
            XCTAssertEqual(image.width, width)
            XCTAssertEqual(image.height, height)
            let m = image.channelMeans
            XCTAssertEqual(m.r, want.0, accuracy: 1.0, name)
            XCTAssertEqual(m.g, want.1, accuracy: 1.0, name)
            XCTAssertEqual(m.b, want.2, accuracy: 1.0, name)
        }
    }

    func testEightFrameSamplingAt224() throws {
        // linspace(0, 89, 8) = 0, 12.71, 25.43, 38.14, 50.86, 63.57, 76.29, 89 → rounded.
        let expected = [0, 13, 25, 38, 51, 64, 76, 89]
        XCTAssertEqual(VideoReader.uniformIndices(count: 8, total: 90), expected)
        for strategy in [SamplingStrategy.auto] {
            let reader = try VideoReader(url: skiing0)
            let frames = try reader.sampleFrames(count: 8, size: .square(224), strategy: strategy)
            XCTAssertEqual(frames.count, 8)
            for (frame, index) in zip(frames, expected) {
                XCTAssertEqual(frame.width, 224)
                XCTAssertEqual(frame.height, 224)
                XCTAssertEqual(try XCTUnwrap(frame.time), Double(index) / 29.97, accuracy: 0.5 / 29.97, "\(strategy)")
            }
        }
    }

    /// Skipping unneeded non-reference frames and seeking must give exactly the frames a full decode gives.
    func testFastSamplingPathsEqualFullDecode() throws {
        // Seeking the 1080p clip (one key frame) would decode ~360 frames: it is checked on the small clip.
        for (clip, strategies) in [(skiing0, [SamplingStrategy.sequential]), (aircraft0, [.sequential, .seek])] {
            let reference = try VideoReader(url: clip).sampleFrames(count: 8, size: .square(64), strategy: .decodeAll)
            for strategy in strategies {
                let frames = try VideoReader(url: clip).sampleFrames(count: 8, size: .square(64), strategy: strategy)
                XCTAssertEqual(frames.map(\.time), reference.map(\.time), "\(strategy)")
                XCTAssertTrue(frames.map(\.pixels) == reference.map(\.pixels), "\(clip.lastPathComponent) \(strategy): pixels differ")
            }
        }
    }

    func testVideoWithoutAudioTrackHasNoAudio() {
        XCTAssertThrowsError(try AudioReader.read(skiing0)) { error in
            XCTAssertEqual(error as? MediaError, .noStream(path: skiing0.path, kind: "audio"))
        }
    }

    private func rms(_ samples: [Float], channel: Int, of channels: Int) -> Double {
        var sum = 0.0
        var i = channel
        while i < samples.count { sum += Double(samples[i]) * Double(samples[i]); i += channels }
        return (sum / Double(samples.count / channels)).squareRoot()
    }
}
