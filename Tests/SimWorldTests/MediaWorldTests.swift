// Tests of --media worlds: real jpg/mp4/wav/txt files, embedded by reading them back with the runtime's encoders.
import Encoders
import Formats
import Media
import TestSupport
import XCTest

@testable import SimWorld

final class MediaWorldTests: XCTestCase {
    func tinyMediaConfig() -> WorldConfig {
        var config = WorldConfig()
        config.scenarios = 2
        config.episodes = 4
        config.steps = 2
        config.oracleSamples = 2
        config.media = true
        return config
    }

    func testMediaWorldWritesReadableFilesWhoseEncodingsAreTheStoredEmbeddings() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-media")
        defer { dir.remove() }
        let config = tinyMediaConfig()
        let summary = try WorldGenerator(config).generate(to: dir.url)
        let world = summary.world
        XCTAssertEqual(summary.mediaFiles, world.observationCount * 4)
        XCTAssertEqual(summary.embeddingFiles, world.observationCount * 4)
        // Every split passes the dataset check with media required and embeddings loaded.
        for split in Split.allCases {
            let cfg = try DatasetConfig.load(dir.url.appendingPathComponent("\(split.rawValue).yaml"))
            let report = WorldNetDataset(config: cfg).check(checkMedia: true, loadEmbeddings: true)
            XCTAssertTrue(report.isOK, "\(split): \(report.problems)")
        }
        // The stored embedding of a file is what the media encoder makes of that file.
        let encoder = MediaFeatureEncoder(dimension: config.dimension, frameCount: config.videoFrames)
        for (modality, row) in [(Modality.image, 1), (.video, 2), (.audio, 3)] {
            let name = world.mediaName(modality, row: row)
            let media = WorldNetLayout.mediaURL(root: dir.url, modality: modality, name: name)
            let stored = try WorldNetLayout.readEmbedding(WorldNetLayout.embeddingURL(root: dir.url, modality: modality, name: name))
            let fresh = try encoder.embed(media, as: modality)
            XCTAssertEqual(stored.dim, 768)
            XCTAssertGreaterThan(stored.cosine(fresh), 0.99999, name)
        }
        let image = try ImageReader.read(WorldNetLayout.mediaURL(root: dir.url, modality: .image, name: world.mediaName(.image, row: 0)))
        XCTAssertEqual(image.width, config.frameSize)
        let clip = try AudioReader.read(WorldNetLayout.mediaURL(root: dir.url, modality: .audio, name: world.mediaName(.audio, row: 0)))
        XCTAssertEqual(clip.frameCount, Int(config.audioSeconds * Double(config.sampleRate)))
        let caption = try String(contentsOf: WorldNetLayout.mediaURL(root: dir.url, modality: .text, name: world.mediaName(.text, row: 0)),
                                 encoding: .utf8)
        for object in WorldObject.all { XCTAssertTrue(caption.contains("\(object.colour) \(object.noun)"), caption) }
        XCTAssertEqual(world.oracles.testTransitions, world.transitions(in: .test).count)
        XCTAssertGreaterThan(world.oracles.mean.trueDynamics, world.oracles.mean.stateActionOnly)
    }

    func testRenderingFollowsTheLatentState() {
        var config = WorldConfig()
        config.frameSize = 32
        let renderer = MediaRenderer(config: config)
        var none: SimRandom? = nil
        let attributes = [Double](repeating: 0, count: 16)
        // The red block at the far left, others off-frame: the left half is redder than the right half.
        let left = renderer.image(positions: [-0.9, 0, 9, 9, 9, 9], attributes: attributes, noise: &none)
        func redness(_ x0: Int, _ x1: Int) -> Int {
            var sum = 0
            for y in 0..<32 { for x in x0..<x1 { let i = 3 * (y * 32 + x); sum += Int(left.pixels[i]) - Int(left.pixels[i + 1]) } }
            return sum
        }
        XCTAssertGreaterThan(redness(0, 16), redness(16, 32) + 1000)
        XCTAssertEqual(renderer.caption(positions: [-0.9, 0.9, 0, 0, 0.9, -0.9], variant: 0),
                       "the red block is at the top left, the green ball is in the middle, the blue cube is at the bottom right.")
        // Higher objects sound higher: more zero crossings.
        func crossings(_ y: Double) -> Int {
            let s = renderer.audio(positions: [0, y, 0, -5, 0, -5], attributes: attributes, noise: &none).samples
            return zip(s, s.dropFirst()).filter { $0.0 < 0 && $0.1 >= 0 }.count
        }
        XCTAssertGreaterThan(crossings(1), crossings(-1))
    }
}
