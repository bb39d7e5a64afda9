// Inputs kept in Fuzz/regressions/ (the libFuzzer targets' crashers and the ones found while writing them),
// replayed through the same API without libFuzzer, so `make test` catches a regression.
import Formats
import Foundation
import Memory
import TestSupport
import XCTest

final class MemoryFuzzRegressionTests: XCTestCase {
    /// The recall-keys target's store: dim 8, action dim 4, two episodes of six steps (Fuzz/Sources/.../Targets.swift).
    func makeStore(at url: URL) throws {
        let store = try EpisodeStore(url: url, dim: 8)
        var records: [StepRecord] = []
        for episode in 0..<2 {
            for step in 0..<6 {
                let x = Float(episode * 6 + step)
                records.append(StepRecord(
                    episode: "e\(episode)", index: step,
                    action: Action(text: "a\(step)", embedding: Embedding((0..<4).map { cos(x * 0.5 + Float($0)) })),
                    input: State([.image: Embedding((0..<8).map { sin(x + Float($0)) })]),
                    timestamp: Date(timeIntervalSince1970: 1_700_000_000 + Double(episode * 6 + step))))
            }
        }
        _ = try store.append(records)
        try store.prepareRecall()
    }

    /// Key files whose header claims 2^64 - 1 records: the count trapped in `Int(_:)`. A cache that does not fit is
    /// ignored: recall reads the keys from SQLite and answers as without the files.
    func testRecallKeyFileWithHugeCountIsIgnored() throws {
        let folder = try TemporaryDirectory(prefix: "fuzz-regression")
        defer { folder.remove() }
        let url = folder.url.appendingPathComponent("store.sqlite")
        try makeStore(at: url)
        let query = RecallQuery(state: State([.image: Embedding((0..<8).map { cos(Float($0)) })]), action: Embedding((0..<4).map { sin(Float($0)) }))
        let weights = RecallWeights(state: 1, action: 0.5, recency: 0.25, halfLife: 4)
        let expected = try EpisodeStore(url: url, readOnly: true).recall(query, k: 4, weights: weights, threads: 1)

        let input = try Data(contentsOf: Fixtures.projectRoot.appendingPathComponent("Fuzz/regressions/recall-keys/meta-count-max"))
        let separator = Data("\n@@WGFUZZ-NEXT-FILE@@\n".utf8)
        var parts: [Data] = [], rest = input[...]
        while let range = rest.range(of: separator) {
            parts.append(Data(rest[rest.startIndex..<range.lowerBound]))
            rest = rest[range.upperBound...]
        }
        parts.append(Data(rest))
        let suffixes = ["-recall.meta", "-recall.state", "-recall.action", "-recall.state8", "-recall.action8", "-recall.bounds"]
        for (i, suffix) in suffixes.enumerated() {
            let file = URL(fileURLWithPath: url.path + suffix)
            try? FileManager.default.removeItem(at: file)
            if i < parts.count { try parts[i].write(to: file) }
        }
        let store = try EpisodeStore(url: url, readOnly: true)
        // Keys rebuilt from SQLite may differ from the persisted ones in the last bit: same steps, scores to 1e-5.
        let got = try store.recall(query, k: 4, weights: weights, threads: 1)
        XCTAssertEqual(got.map(\.stepID), expected.map(\.stepID))
        for (a, b) in zip(got, expected) { XCTAssertEqual(a.score, b.score, accuracy: 1e-5) }
        XCTAssertEqual(store.recallKeysFromFiles, 0)
    }
}
