// MediaFeatureEncoder: unit 768-d vectors, determinism, robustness to resolution and sample rate,
// separation of unrelated content, and the BLAS kernels against naive twins.
import Encoders
import Formats
import Foundation
import Media
import TestSupport
import XCTest

final class MediaFeatureEncoderTests: XCTestCase {
    static let encoder = MediaFeatureEncoder()
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "media-encoder") }
    override func tearDown() { folder.remove() }

    private func url(_ name: String) -> URL { folder.url.appendingPathComponent(name) }

    func testVideoSameClipAtHalfResolutionIsCloseUnrelatedIsFar() throws {
        try MediaScenes.writeClip(MediaScenes.sunset, width: 160, height: 120, frames: 20, to: url("sunset.mp4"))
        try MediaScenes.writeClip(MediaScenes.sunset, width: 80, height: 60, frames: 20, to: url("sunset-half.mp4"), codec: .mpeg4)
        try MediaScenes.writeClip(MediaScenes.forest, width: 160, height: 120, frames: 20, to: url("forest.mp4"))
        let e = Self.encoder
        let full = try e.embed(url("sunset.mp4")), half = try e.embed(url("sunset-half.mp4")), other = try e.embed(url("forest.mp4"))
        for v in [full, half, other] {
            XCTAssertEqual(v.dim, 768)
            XCTAssertEqual(v.norm, 1, accuracy: 1e-5)
        }
        let same = full.cosine(half), unrelated = full.cosine(other)
        print("video: cos(same, half res, other codec) = \(same), cos(unrelated) = \(unrelated)")
        XCTAssertGreaterThanOrEqual(same, 0.9)
        XCTAssertLessThanOrEqual(unrelated, 0.8)
    }

    func testImageSameContentAtHalfResolutionIsCloseUnrelatedIsFar() throws {
        let a = MediaScenes.sunset(width: 200, height: 150, t: 0.3)
        let aHalf = MediaScenes.sunset(width: 100, height: 75, t: 0.3)
        try ImageWriter.writeJPEG(rgb: a, width: 200, height: 150, to: url("a.jpg"))
        try ImageWriter.writePNG(rgb: aHalf, width: 100, height: 75, to: url("a-half.png"))
        try ImageWriter.writeJPEG(rgb: MediaScenes.forest(width: 200, height: 150, t: 0.3), width: 200, height: 150, to: url("b.jpg"))
        let e = Self.encoder
        let full = try e.embed(url("a.jpg")), half = try e.embed(url("a-half.png")), other = try e.embed(url("b.jpg"))
        print("image: cos(same, half res, png) = \(full.cosine(half)), cos(unrelated) = \(full.cosine(other))")
        XCTAssertGreaterThanOrEqual(full.cosine(half), 0.9)
        XCTAssertLessThanOrEqual(full.cosine(other), 0.8)
        // The in-memory path gives the file path's vector for lossless input.
        let fromMemory = e.embed(image: RGBImage(width: 100, height: 75, pixels: aHalf))
        XCTAssertEqual(fromMemory.cosine(half), 1, accuracy: 1e-6)
    }

    func testAudioSameSoundAtAnotherSampleRateIsCloseUnrelatedIsFar() throws {
        try AudioWriter.writeWAV(samples: MediaScenes.siren(sampleRate: 44_100, seconds: 2, channels: 2), sampleRate: 44_100, channels: 2, to: url("siren44.wav"))
        try AudioWriter.write(samples: MediaScenes.siren(sampleRate: 22_050, seconds: 2, channels: 1), sampleRate: 22_050, channels: 1,
                              encoding: .flac16, to: url("siren22.flac"))
        try AudioWriter.writeWAV(samples: MediaScenes.rumble(sampleRate: 44_100, seconds: 2, channels: 2), sampleRate: 44_100, channels: 2, to: url("rumble.wav"))
        try AudioWriter.writeWAV(samples: MediaScenes.clicks(sampleRate: 32_000, seconds: 2, channels: 1), sampleRate: 32_000, channels: 1, to: url("clicks.wav"))
        let e = Self.encoder
        let siren = try e.embed(url("siren44.wav")), siren22 = try e.embed(url("siren22.flac"))
        let rumble = try e.embed(url("rumble.wav")), clicks = try e.embed(url("clicks.wav"))
        print("audio: cos(same, 22.05 vs 44.1 kHz) = \(siren.cosine(siren22)), unrelated: \(siren.cosine(rumble)), \(siren.cosine(clicks)), \(rumble.cosine(clicks))")
        XCTAssertGreaterThanOrEqual(siren.cosine(siren22), 0.9)
        XCTAssertLessThanOrEqual(siren.cosine(rumble), 0.8)
        XCTAssertLessThanOrEqual(siren.cosine(clicks), 0.8)
        XCTAssertLessThanOrEqual(rumble.cosine(clicks), 0.8)
        // The in-memory path resamples and downmixes like the file path.
        let clip = AudioClip(samples: MediaScenes.siren(sampleRate: 44_100, seconds: 2, channels: 2), sampleRate: 44_100, channelCount: 2)
        XCTAssertGreaterThan(try e.embed(audio: clip).cosine(siren), 0.999)
    }

    func testDeterministicAndSeeded() throws {
        let clip = Fixtures.url("worldgpt-demo/languagebind/aircraft/video/state0.mp4")
        let a = try MediaFeatureEncoder().embed(clip), b = try MediaFeatureEncoder().embed(clip)
        XCTAssertEqual(a.values, b.values, "same file, same seed: identical bits")
        let c = try MediaFeatureEncoder(seed: 42).embed(clip)
        XCTAssertLessThan(abs(a.cosine(c)), 0.3, "another seed is another random projection")
        XCTAssertEqual(MediaFeatureEncoder(dimension: 32).embed(image: RGBImage(width: 2, height: 2, pixels: [UInt8](repeating: 9, count: 12))).dim, 32)
    }

    func testFixtureClipsAreSeparated() throws {
        let demo = Fixtures.url("worldgpt-demo/languagebind")
        let e = Self.encoder
        let skiingVideo = try e.embed(demo.appendingPathComponent("skiing/video/state0.mp4"))
        let aircraftVideo = try e.embed(demo.appendingPathComponent("aircraft/video/state0.mp4"))
        let skiingAudio = try e.embed(demo.appendingPathComponent("skiing/audio/state0.wav"))
        let aircraftAudio = try e.embed(demo.appendingPathComponent("aircraft/audio/state0.wav"))
        let skiing1 = try e.embed(demo.appendingPathComponent("skiing/video/state1.mp4"))
        print("fixtures: video skiing/aircraft \(skiingVideo.cosine(aircraftVideo)), skiing state0/state1 \(skiingVideo.cosine(skiing1)), audio skiing/aircraft \(skiingAudio.cosine(aircraftAudio))")
        XCTAssertLessThanOrEqual(skiingVideo.cosine(aircraftVideo), 0.8)
        XCTAssertLessThanOrEqual(skiingAudio.cosine(aircraftAudio), 0.8)
    }

    func testModalityDetection() throws {
        XCTAssertEqual(try MediaFeatureEncoder.detectModality(URL(fileURLWithPath: "/x/a.JPG")), .image)
        XCTAssertEqual(try MediaFeatureEncoder.detectModality(URL(fileURLWithPath: "/x/a.webm")), .video)
        XCTAssertEqual(try MediaFeatureEncoder.detectModality(URL(fileURLWithPath: "/x/a.flac")), .audio)
        // No known extension: probed.
        try MediaScenes.writeClip(MediaScenes.forest, width: 32, height: 32, frames: 3, to: url("clip.mp4"))
        try FileManager.default.moveItem(at: url("clip.mp4"), to: url("clip.bin"))
        XCTAssertEqual(try MediaFeatureEncoder.detectModality(url("clip.bin")), .video)
        try AudioWriter.writeWAV(samples: [0, 0.1, 0.2, 0.1], sampleRate: 8000, to: url("sound.dat"))
        XCTAssertEqual(try MediaFeatureEncoder.detectModality(url("sound.dat")), .audio)
        try Data("hello".utf8).write(to: url("text.dat"))
        XCTAssertThrowsError(try MediaFeatureEncoder.detectModality(url("text.dat"))) { XCTAssertTrue($0 is MediaError) }
        XCTAssertThrowsError(try Self.encoder.embed(url("missing.mp4"))) { XCTAssertEqual($0 as? MediaError, .fileNotFound(path: self.url("missing.mp4").path)) }
    }

    /// The BLAS log-mel spectrogram against a naive per-frame DFT in Double (the oracle).
    func testLogMelMatchesNaiveDFT() {
        var random = SeededGenerator(seed: 11)
        let samples = (0..<1200).map { _ in random.nextGaussian() * 0.1 }
        let (frames, values) = AudioFeatures.logMel(samples)
        XCTAssertEqual(frames, 1 + (1200 - 400) / 160)
        let k = AudioFeatures.bins, m = AudioFeatures.melBands
        var naive = [Double](repeating: 0, count: frames * m)
        for t in 0..<frames {
            var power = [Double](repeating: 0, count: k)
            for f in 0..<k {
                var re = 0.0, im = 0.0
                for n in 0..<400 {
                    let w = 0.5 - 0.5 * cos(2 * Double.pi * Double(n) / 400)
                    let x = Double(samples[t * 160 + n]) * w
                    re += x * cos(2 * Double.pi * Double(f * n) / 512)
                    im -= x * sin(2 * Double.pi * Double(f * n) / 512)
                }
                power[f] = re * re + im * im
            }
            for b in 0..<m {
                var e = 0.0
                for f in 0..<k { e += power[f] * Double(AudioFeatures.melFilterWeight(bin: f, band: b)) }
                naive[t * m + b] = 10 * log10(max(e, 1e-10))
            }
        }
        let top = naive.max()!
        for i in naive.indices {
            XCTAssertEqual(Double(values[i]), max(naive[i], top - 80), accuracy: 0.02, "frame \(i / m) band \(i % m)")
        }
    }

    /// The projection (BLAS sgemv) against a naive Double matrix-vector product of the same seeded matrix.
    func testProjectionMatchesNaive() {
        let encoder = MediaFeatureEncoder(dimension: 16, seed: 3)
        var random = SeededGenerator(seed: 5)
        let features = (0..<AudioFeatures.dimension).map { _ in random.nextGaussian() }
        let got = encoder.project(features, modality: .audio)
        let matrix = encoder.projectionMatrix(.audio)
        var want = [Double](repeating: 0, count: 16)
        for r in 0..<16 { for c in 0..<features.count { want[r] += Double(matrix[r * features.count + c]) * Double(features[c]) } }
        let norm = want.reduce(0) { $0 + $1 * $1 }.squareRoot()
        for r in 0..<16 { XCTAssertEqual(Double(got.values[r]), want[r] / norm, accuracy: 1e-5) }
    }
}
