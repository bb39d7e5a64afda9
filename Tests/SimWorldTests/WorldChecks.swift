// Checks shared by the SimWorld test classes: the naive (a)/(d) oracle twin and a written split read back.
import Formats
import TestSupport
import XCTest

@testable import SimWorld

enum WorldChecks {
    /// (a) true dynamics and (d) identity for `image` on `test`, cosine ×100, recomputed naively from the latent
    /// states through the image map, over the targets the episodes record.
    static func naiveTrueAndIdentity(_ world: GeneratedWorld) -> (trueDynamics: Double, identity: Double) {
        let map = world.maps[0]
        precondition(map.modality == .image, "the first map observes image")
        let observed = world.observations[.image]!
        let d = world.config.dimension
        var sumA = 0.0, sumD = 0.0, n = 0
        for t in world.transitions(in: .test) where world.episodes[t.episode].absentModality != .image {
            let episode = world.episodes[t.episode]
            var features = [Float](repeating: 0, count: map.inputSize)
            map.features(positions: episode.states[t.step + 1].positions, staticAttributes: episode.staticAttributes,
                         into: &features, offset: 0)
            let clean = Embedding(map.cleanEmbeddings(features: features, count: 1))
            let target = Embedding(Array(observed[(t.observation1 * d)..<((t.observation1 + 1) * d)]))
            let source = Embedding(Array(observed[(t.observation0 * d)..<((t.observation0 + 1) * d)]))
            sumA += clean.cosine(target)
            sumD += source.cosine(target)
            n += 1
        }
        return (100 * sumA / Double(max(n, 1)), 100 * sumD / Double(max(n, 1)))
    }

    /// Loads `split` of the world written under `root` through the dataset readers (after `check`) and asserts
    /// it equals the in-memory world's transitions. Returns the loaded dataset config.
    @discardableResult
    static func assertSplitReadsBack(_ world: GeneratedWorld, root: URL, split: Split,
                                     file: StaticString = #filePath, line: UInt = #line) throws -> DatasetConfig {
        let config = try DatasetConfig.load(root.appendingPathComponent("\(split.rawValue).yaml"))
        let report = WorldNetDataset(config: config).check(checkMedia: false, loadEmbeddings: true)
        XCTAssertTrue(report.isOK, "\(split): \(report.problems)", file: file, line: line)
        let loaded = try WorldNetDataset.load(config)
        let expected = world.vocabularyTransitions(in: split)
        XCTAssertEqual(loaded.count, expected.count, file: file, line: line)
        for (a, b) in zip(loaded, expected) {
            XCTAssertEqual(a.state0, b.state0, file: file, line: line)
            XCTAssertEqual(a.state1, b.state1, file: file, line: line)
            XCTAssertEqual(a.action.text, b.action.text, file: file, line: line)
            XCTAssertEqual(a.provenance.scenario, b.provenance.scenario, file: file, line: line)
            XCTAssertEqual(a.provenance.episode, b.provenance.episode, file: file, line: line)
            XCTAssertEqual(a.provenance.step, b.provenance.step, file: file, line: line)
        }
        return config
    }
}
