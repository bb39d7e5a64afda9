// Writers checked by reading their output back (frame counts, sizes, rates, colours, samples).
import Foundation
import Media
import TestSupport
import XCTest

final class WriterRoundTripTests: XCTestCase {
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "media-writer") }
    override func tearDown() { folder.remove() }

    func testMP4RoundTripBothCodecs() throws {
        for codec in [VideoWriter.Codec.auto, .mpeg4] {
            let url = folder.url.appendingPathComponent("clip-\(codec).mp4")
            let writer = try Synthetic.writeIndexedClip(to: url, frames: 25, fps: 10, levelStep: 10, codec: codec)
            XCTAssertEqual(writer.frameCount, 25)
            if codec == .auto { XCTAssertEqual(writer.encoderName, "libx264", "Debian's libavcodec ships libx264") }
            else { XCTAssertEqual(writer.encoderName, "mpeg4") }

            let info = try MediaProbe.probe(url)
            let video = try XCTUnwrap(info.video)
            XCTAssertEqual(video.codec, codec == .auto ? "h264" : "mpeg4")
            XCTAssertEqual(video.width, 64)
            XCTAssertEqual(video.height, 48)
            XCTAssertEqual(video.frameCount, 25)
            XCTAssertEqual(try XCTUnwrap(video.frameRate), 10, accuracy: 1e-6)
            XCTAssertEqual(try XCTUnwrap(video.duration), 2.5, accuracy: 0.05)
            XCTAssertNil(info.audio)

            let reader = try VideoReader(url: url)
            var levels: [Double] = []
            try reader.forEachFrame { frame in
                levels.append(frame.channelMeans.g)
                XCTAssertEqual(frame.channelMeans.r, 128, accuracy: 4)
                XCTAssertEqual(frame.channelMeans.b, 64, accuracy: 4)
                return true
            }
            XCTAssertEqual(levels.count, 25)
            for (i, level) in levels.enumerated() { XCTAssertEqual(level, Double(i * 10), accuracy: 4, "\(codec) frame \(i)") }
        }
    }

    func testUniformSamplingPicksTheRightFramesSequentialAndSeek() throws {
        let url = folder.url.appendingPathComponent("indexed.mp4")
        _ = try Synthetic.writeIndexedClip(to: url, frames: 120, fps: 10, levelStep: 2)
        let expected = VideoReader.uniformIndices(count: 8, total: 120)
        XCTAssertEqual(expected, [0, 17, 34, 51, 68, 85, 102, 119])
        for strategy in [SamplingStrategy.sequential, .seek, .auto] {
            let reader = try VideoReader(url: url)
            let frames = try reader.sampleFrames(count: 8, size: FrameSize(width: 32, height: 24), strategy: strategy)
            XCTAssertEqual(frames.map(\.width), Array(repeating: 32, count: 8))
            for (frame, index) in zip(frames, expected) {
                // Exact to the frame: the timestamp names the frame; the level (2 per frame) only checks the pixels.
                XCTAssertEqual(try XCTUnwrap(frame.time), Double(index) / 10, accuracy: 1e-6, "\(strategy) index \(index)")
                XCTAssertEqual(frame.channelMeans.g, Double(index * 2), accuracy: 1, "\(strategy) index \(index)")
            }
        }
        // More samples than frames repeats frames instead of failing.
        let short = folder.url.appendingPathComponent("short.mp4")
        _ = try Synthetic.writeIndexedClip(to: short, frames: 3, fps: 10, levelStep: 100)
        let frames = try VideoReader(url: short).sampleFrames(count: 5)
        // linspace(0, 2, 5) = 0, 0.5, 1, 1.5, 2 → rounded half up: frames 0, 1, 1, 2, 2 (green 0, 100, 200).
        XCTAssertEqual(VideoReader.uniformIndices(count: 5, total: 3), [0, 1, 1, 2, 2])
        XCTAssertEqual(frames.map { Int(($0.channelMeans.g / 100).rounded()) }, [0, 1, 1, 2, 2])
    }

    func testSeekThenReadOn() throws {
        let url = folder.url.appendingPathComponent("seek.mp4")
        _ = try Synthetic.writeIndexedClip(to: url, frames: 60, fps: 10, levelStep: 4)
        let reader = try VideoReader(url: url)
        try reader.seek(to: 3.0)  // frame 30, green 120
        var levels: [Double] = [], times: [Double] = []
        try reader.forEachFrame { frame in
            levels.append(frame.channelMeans.g)
            times.append(frame.time ?? -1)
            return levels.count < 3
        }
        XCTAssertEqual(levels.count, 3)
        for (got, want) in zip(times, [3.0, 3.1, 3.2]) { XCTAssertEqual(got, want, accuracy: 1e-6, "frames 30, 31, 32 exactly") }
        for (got, want) in zip(levels, [120.0, 124, 128]) { XCTAssertEqual(got, want, accuracy: 1.5) }
        try reader.seek(to: 0.55)  // between frames 5 and 6: the first at or after (within half a frame) is 5 or 6
        let next = try XCTUnwrap(try reader.nextFrame())
        XCTAssertEqual(try XCTUnwrap(next.time), 0.55, accuracy: 0.051)
        try reader.seek(to: 100)  // past the end
        XCTAssertNil(try reader.nextFrame())
    }

    func testVariableFrameRateClip() throws {
        let url = folder.url.appendingPathComponent("vfr.mp4")
        let times = [0.0, 0.1, 0.15, 0.5, 0.52, 1.3, 1.31, 2.0]
        let writer = try VideoWriter(url: url, width: 32, height: 32, fps: 10, codec: .mpeg4, variableFrameRate: true)
        for (i, t) in times.enumerated() {
            try writer.append(rgbFrame: Synthetic.flat(width: 32, height: 32, r: 0, g: UInt8(i * 30), b: 0), time: t)
        }
        try writer.finish()
        let reader = try VideoReader(url: url)
        XCTAssertEqual(try reader.frameCount(), times.count)
        var seen: [Double] = []
        try reader.forEachFrame { frame in seen.append(frame.time ?? -1); return true }
        XCTAssertEqual(seen.count, times.count)
        for (got, want) in zip(seen, times) { XCTAssertEqual(got, want, accuracy: 0.002) }
        let sampled = try VideoReader(url: url).sampleFrames(count: 3)
        // indices 0, 4 (3.5 rounds up), 7 → green levels 0, 120, 210.
        for (frame, level) in zip(sampled, [0.0, 120, 210]) { XCTAssertEqual(frame.channelMeans.g, level, accuracy: 5) }
    }

    func testCentreCropKeepsTheMiddle() throws {
        // A 64×32 image: left quarter red, middle half green, right quarter blue → centre crop to 16×16 is green.
        var rgb = [UInt8](repeating: 0, count: 64 * 32 * 3)
        for y in 0..<32 { for x in 0..<64 { rgb[(y * 64 + x) * 3 + (x < 16 ? 0 : x < 48 ? 1 : 2)] = 255 } }
        let url = folder.url.appendingPathComponent("bands.png")
        try ImageWriter.writePNG(rgb: rgb, width: 64, height: 32, to: url)
        let exact = try ImageReader.read(url)
        XCTAssertEqual(exact.pixels, rgb, "PNG is lossless")
        let cropped = try ImageReader.read(url, size: .square(16))
        XCTAssertEqual(cropped.width, 16)
        let m = cropped.channelMeans
        XCTAssertLessThan(m.r, 2)
        XCTAssertGreaterThan(m.g, 250)
        XCTAssertLessThan(m.b, 2)
        let stretched = try ImageReader.read(url, size: FrameSize(width: 16, height: 16, mode: .stretch))
        XCTAssertEqual(stretched.channelMeans.r, 255.0 / 4, accuracy: 10)
    }

    func testJPEGRoundTrip() throws {
        let rgb = Synthetic.frame(width: 80, height: 60, level: 100, phase: 0.3)
        let url = folder.url.appendingPathComponent("frame.jpg")
        try ImageWriter.writeJPEG(rgb: rgb, width: 80, height: 60, quality: 95, to: url)
        let info = try MediaProbe.probe(url)
        XCTAssertEqual(info.video?.codec, "mjpeg")
        let back = try ImageReader.read(url)
        XCTAssertEqual(back.width, 80)
        XCTAssertEqual(back.height, 60)
        var absError = 0.0
        for (a, b) in zip(back.pixels, rgb) { absError += abs(Double(a) - Double(b)) }
        XCTAssertLessThan(absError / Double(rgb.count), 6, "mean absolute error per channel value")
        XCTAssertThrowsError(try ImageWriter.writeJPEG(rgb: [1, 2, 3], width: 2, height: 2, to: url)) { error in
            guard case .invalidArgument(let path, _) = error as? MediaError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
        }
    }

    func testWAVRoundTripAndResampling() throws {
        let samples = Synthetic.tone(frequency: 440, sampleRate: 22_050, seconds: 1, channels: 2)
        let url = folder.url.appendingPathComponent("tone.wav")
        try AudioWriter.writeWAV(samples: samples, sampleRate: 22_050, channels: 2, to: url)
        let clip = try AudioReader.read(url)
        XCTAssertEqual(clip.sampleRate, 22_050)
        XCTAssertEqual(clip.channelCount, 2)
        XCTAssertEqual(clip.frameCount, 22_050)
        for i in stride(from: 0, to: samples.count, by: 997) { XCTAssertEqual(clip.samples[i], samples[i], accuracy: 1.0 / 32768 + 1e-6) }
        // Mono by averaging: (v + v/2) / 2 = 0.75 v; resampled to 16 kHz, the tone keeps its RMS 0.75·0.5/√2.
        let mono = try AudioReader.read(url, sampleRate: 16_000, mono: true)
        XCTAssertEqual(mono.channelCount, 1)
        XCTAssertEqual(mono.frameCount, 16_000, accuracy: 2)
        let rms = (mono.samples[100..<15_900].reduce(0.0) { $0 + Double($1 * $1) } / 15_800).squareRoot()
        XCTAssertEqual(rms, 0.75 * 0.5 / 2.0.squareRoot(), accuracy: 0.003)
        // FLAC through libsndfile; the FFmpeg back end reads the same samples.
        let flac = folder.url.appendingPathComponent("tone.flac")
        try AudioWriter.write(clip, encoding: .flac16, to: flac)
        let viaSndfile = try AudioReader.read(flac)
        let viaFFmpeg = try AudioReader.read(flac, backend: .ffmpeg)
        XCTAssertEqual(viaSndfile.frameCount, 22_050)
        XCTAssertEqual(viaFFmpeg.frameCount, 22_050)
        XCTAssertEqual(viaSndfile.samples, clip.samples)
        for i in stride(from: 0, to: 44_100, by: 1013) { XCTAssertEqual(viaFFmpeg.samples[i], clip.samples[i], accuracy: 1e-6) }
        XCTAssertThrowsError(try AudioWriter.writeWAV(samples: [Float.nan], sampleRate: 8000, to: url))
    }

    func testWriterRejectsBadArguments() throws {
        let url = folder.url.appendingPathComponent("bad.mp4")
        XCTAssertThrowsError(try VideoWriter(url: url, width: 63, height: 48, fps: 10))
        XCTAssertThrowsError(try VideoWriter(url: url, width: 64, height: 48, fps: 0))
        let writer = try VideoWriter(url: url, width: 64, height: 48, fps: 10)
        XCTAssertThrowsError(try writer.append(rgbFrame: [0, 0, 0]))
        let missingFolder = folder.url.appendingPathComponent("no/such/folder/out.mp4")
        XCTAssertThrowsError(try VideoWriter(url: missingFolder, width: 64, height: 48, fps: 10)) { error in
            XCTAssertEqual((error as? MediaError)?.path, missingFolder.path)
        }
    }
}
