// Steps stored under given row ids, and `EpisodeStore.merge`: ids kept, annotations renumbered in step order,
// duplicates collapsed, disagreements refused, nothing written on failure.
import Formats
import Foundation
import Memory
import TestSupport
import XCTest

final class MergeTests: XCTestCase {
    /// Steps of two episodes, interleaved as a lock-step rollout offloads them, with their row ids in that order.
    private func run(_ rng: inout SeededGenerator, dim: Int = 8) -> [(StepRecord, StoreIdentity)] {
        var out: [(StepRecord, StoreIdentity)] = []
        var id: Int64 = 1
        for t in 0..<3 {
            for (e, name) in ["a", "b"].enumerated() {
                var step = makeStep(episode: name, index: t, dim: dim, rng: &rng)
                step.annotations.append(StepAnnotation(kind: "retrieved", rank: 0, item: "kb:\(t)", score: 0.5))
                out.append((step, StoreIdentity(stepID: id, episodeID: Int64(e + 1))))
                id += 1
            }
        }
        return out
    }

    /// Every episode and step of a store, ids included (creation times left out: a retried writer stamps other times).
    private func dump(_ url: URL) throws -> (episodes: [String], steps: [StoredStep]) {
        let store = try EpisodeStore(url: url, readOnly: true)
        var steps: [StoredStep] = []
        try store.forEachStep { s in
            var s = s
            s.record.timestamp = Date(timeIntervalSince1970: 0)
            steps.append(s)
        }
        return (try store.episodes().map { "episode \($0.id) \($0.name) \($0.stepCount)" }, steps)
    }

    func testShardsStoredUnderTheirIdsMergeIntoTheStoreWrittenInOne() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var rng = SeededGenerator(seed: 4)
        let steps = run(&rng)
        let whole = dir.url.appendingPathComponent("whole.sqlite")
        let store = try EpisodeStore(url: whole, dim: 8)
        for pair in stride(from: 0, to: steps.count, by: 2) { try store.append(steps[pair..<pair + 2].map(\.0)) }
        // Episode a's steps in one shard, b's in another, each under the ids the whole run gave them.
        let shards = try ["a", "b"].map { name -> URL in
            let url = dir.url.appendingPathComponent("\(name).sqlite")
            let shard = try EpisodeStore(url: url, dim: 8)
            let mine = steps.filter { $0.0.episode == name }
            for step in mine { try shard.append([step.0], recalls: [[]], identities: [step.1]) }
            return url
        }
        let merged = dir.url.appendingPathComponent("merged.sqlite")
        let report = try EpisodeStore.merge(shards.reversed(), into: merged)
        XCTAssertEqual(report.steps, 6)
        XCTAssertEqual(report.episodes, 2)
        XCTAssertEqual(report.annotations, 12)
        XCTAssertEqual(report.inputs.map(\.duplicates), [0, 0])
        let (got, expected) = (try dump(merged), try dump(whole))
        XCTAssertEqual(got.episodes, expected.episodes)
        XCTAssertEqual(got.steps.map(\.id), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(got.steps, expected.steps)
        XCTAssertTrue(try EpisodeStore(url: merged, readOnly: true).verify().isSound)
        XCTAssertEqual(try EpisodeStore(url: merged, readOnly: true).stats().annotations, 12)
    }

    func testAStepInSeveralInputsIsKeptOnceAndADifferentOneIsRefused() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var rng = SeededGenerator(seed: 9)
        let steps = run(&rng)
        func write(_ name: String, _ part: ArraySlice<(StepRecord, StoreIdentity)>, shift: Double = 0) throws -> URL {
            let url = dir.url.appendingPathComponent(name)
            let store = try EpisodeStore(url: url, dim: 8)
            for var step in part {
                step.0.timestamp += shift
                try store.append([step.0], recalls: [[]], identities: [step.1])
            }
            return url
        }
        let partial = try write("attempt1.sqlite", steps[0..<3])
        let retried = try write("attempt2.sqlite", steps[0..<6], shift: 60)  // the same steps recomputed a minute later
        let merged = dir.url.appendingPathComponent("merged.sqlite")
        let report = try EpisodeStore.merge([partial, retried, partial], into: merged)
        XCTAssertEqual(report.inputs.map(\.duplicates), [0, 3, 3])
        XCTAssertEqual(report.steps, 6)
        XCTAssertEqual(report.annotations, 12, "a duplicate's annotations are not copied twice")

        var changed = steps
        changed[4].0.predicted = State([.image: randomEmbedding(8, &rng)])
        let other = try write("other.sqlite", changed[0..<6])
        let refused = dir.url.appendingPathComponent("refused.sqlite")
        XCTAssertThrowsError(try EpisodeStore.merge([retried, other], into: refused)) { error in
            guard case .mergeConflict(let path, let reason) = error as? StoreError else { return XCTFail("\(error)") }
            XCTAssertEqual(path, other.path)
            XCTAssertTrue(reason.contains("step id 5 differs"), reason)
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: refused.path), "a refused merge leaves no file")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path).filter { $0.contains("merging") }, [])
        XCTAssertThrowsError(try EpisodeStore.merge([partial], into: merged)) { error in
            XCTAssertTrue("\(error)".contains("exists"), "\(error)")
        }
        let wide = dir.url.appendingPathComponent("wide.sqlite")
        _ = try EpisodeStore(url: wide, dim: 16)
        XCTAssertThrowsError(try EpisodeStore.merge([partial, wide], into: dir.url.appendingPathComponent("w.sqlite"))) { error in
            guard case .dimensionMismatch = error as? StoreError else { return XCTFail("\(error)") }
        }
    }

    func testIdentitiesMustBeNewAndIncreasing() throws {
        try withStores(dim: 8) { store, kind in
            var rng = SeededGenerator(seed: 2)
            let steps = run(&rng)
            try store.append([steps[2].0], recalls: [[]], identities: [steps[2].1])
            XCTAssertThrowsError(try store.append([steps[0].0], recalls: [[]], identities: [steps[0].1]), kind) { error in
                XCTAssertTrue("\(error)".contains("not past the stored steps"), "\(kind): \(error)")
            }
            XCTAssertThrowsError(try store.append([steps[5].0, steps[3].0], recalls: [[], []], identities: [steps[5].1, steps[3].1]), kind) { error in
                XCTAssertTrue("\(error)".contains("must increase"), "\(kind): \(error)")
            }
            // Episode a exists as id 1; a writer that wants it as id 2 is refused.
            XCTAssertThrowsError(try store.append([steps[4].0], recalls: [[]], identities: [StoreIdentity(stepID: 9, episodeID: 2)]), kind) { error in
                XCTAssertTrue("\(error)".contains("is stored as id 1"), "\(kind): \(error)")
            }
            try store.append([steps[4].0], recalls: [[]], identities: [steps[4].1])
            XCTAssertEqual(try store.steps(StepReference(episode: "a", index: nil)).map(\.id), [3, 5], kind)
        }
    }
}
