// EpisodeStore: bit-identical round trips, atomic batches, clear errors, verify, prune, export, concurrent readers.
import Formats
import Foundation
import GRDB
import Memory
import TestSupport
import XCTest

final class EpisodeStoreTests: XCTestCase {
    let dim = 32

    func testStepsRoundTripBitIdenticalWithAnnotationsAndRecalls() throws {
        try withStores(dim: dim) { store, kind in
            var rng = SeededGenerator(seed: 1)
            var steps = (0..<5).map { makeStep(episode: "ep-a", index: $0, dim: dim, rng: &rng) } + [makeStep(episode: "ep:b", index: 0, dim: dim, rng: &rng)]
            // Annotations with absent fields, empty and non-ASCII text (bound through SQLite's C interface), in read order.
            steps[1].annotations = [
                StepAnnotation(kind: "recalled", rank: 0, item: "ep-a:0", score: nil, reason: "1 step(s) ago"),
                StepAnnotation(kind: "reflector.kept", rank: 1, item: "kb:ü✓ 🚀", score: -0.5, reason: nil, details: "{\"x\": 1}"),
                StepAnnotation(kind: "retrieved", rank: 0, item: "", score: 1e-300, reason: "", details: nil),
                StepAnnotation(kind: "retrieved", rank: 1, item: "kb:2", score: .greatestFiniteMagnitude, reason: "line\nbreak, \"quotes\" and 'apostrophes'"),
            ]
            let ids = try store.append(Array(steps.prefix(3)))
            let recalled = RecalledStep(stepID: ids[0], episode: "ep-a", index: 0, score: 0.75, stateSimilarity: 0.5, actionSimilarity: 0.25, recency: 0.5, stepsAgo: 2, weights: RecallWeights(state: 1, action: 1, recency: 0.5, halfLife: 2))
            let more = try store.append(Array(steps.suffix(3)), recalls: [[recalled], [], []])
            XCTAssertEqual(ids + more, (ids + more).sorted(), kind)
            let back = try store.steps(StepReference(episode: "ep-a", index: nil))
            XCTAssertEqual(back.map(\.record), Array(steps.prefix(5)), kind)
            XCTAssertEqual(back[3].recalls, [recalled], kind)
            // The last colon separates the index, so episode names may contain colons.
            XCTAssertEqual(try store.steps(StepReference(parsing: "ep:b:0")).map(\.record), [steps[5]], kind)
            XCTAssertEqual(try store.episodes().map(\.stepCount), [5, 1], kind)
            XCTAssertThrowsError(try store.steps(StepReference(parsing: "ep-a:9"))) { error in
                guard case StoreError.notFound = error else { return XCTFail("\(error)") }
            }
            XCTAssertTrue(try store.verify().isSound, kind)
        }
    }

    func testBadStepsAreRejectedAndNothingCommittedIsLost() throws {
        try withStores(dim: dim) { store, kind in
            var rng = SeededGenerator(seed: 2)
            try store.append([makeStep(episode: "e", index: 0, dim: dim, rng: &rng)])
            var wrongDim = makeStep(episode: "e", index: 2, dim: dim, rng: &rng)
            wrongDim.input[.video] = randomEmbedding(dim + 1, &rng)
            var nan = makeStep(episode: "e", index: 3, dim: dim, rng: &rng)
            nan.predicted[.image]!.values[5] = .nan
            let good = makeStep(episode: "e", index: 1, dim: dim, rng: &rng)
            XCTAssertThrowsError(try store.append([good, wrongDim])) { error in
                guard case let StoreError.dimensionMismatch(_, expected, got, field) = error else { return XCTFail("\(error)") }
                XCTAssertEqual([expected, got], [self.dim, self.dim + 1])
                XCTAssertTrue(field.contains("e:2 input video"), field)
            }
            XCTAssertThrowsError(try store.append([good, nan])) { error in
                guard case let StoreError.nonFinite(_, field) = error else { return XCTFail("\(error)") }
                XCTAssertTrue(field.contains("predicted image"), field)
            }
            XCTAssertThrowsError(try store.append([good, makeStep(episode: "e", index: 0, dim: dim, rng: &rng)])) { error in
                XCTAssertTrue("\(error)".contains("already stored"), "\(error)")
            }
            XCTAssertEqual(try store.stepCount(), 1, "\(kind): a failed batch commits nothing")
            try store.append([good])
            XCTAssertEqual(try store.stepCount(), 2, kind)
        }
    }

    func testCorruptForeignAndReadOnlyDatabasesGiveClearErrors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let corrupt = dir.url.appendingPathComponent("corrupt.sqlite")
        try Data((0..<8192).map { UInt8(truncatingIfNeeded: $0 &* 31) }).write(to: corrupt)
        XCTAssertThrowsError(try EpisodeStore(url: corrupt, dim: 4)) { error in
            guard case let StoreError.notADatabase(path, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, corrupt.path)
        }
        let foreign = dir.url.appendingPathComponent("foreign.sqlite")
        let queue = try DatabaseQueue(path: foreign.path)
        try queue.write { try $0.execute(sql: "CREATE TABLE customers(id INTEGER PRIMARY KEY, name TEXT)") }
        try queue.close()
        XCTAssertThrowsError(try EpisodeStore(url: foreign, dim: 4)) { error in
            guard case StoreError.foreignDatabase = error else { return XCTFail("\(error)") }
        }
        let good = dir.url.appendingPathComponent("good.sqlite")
        var rng = SeededGenerator(seed: 3)
        let step = makeStep(episode: "e", index: 0, dim: 4, rng: &rng)
        try EpisodeStore(url: good, dim: 4).append([step])
        XCTAssertThrowsError(try EpisodeStore(url: good, dim: 8)) { error in
            guard case StoreError.dimensionMismatch = error else { return XCTFail("\(error)") }
        }
        XCTAssertThrowsError(try EpisodeStore(url: dir.url.appendingPathComponent("new.sqlite"))) { error in
            guard case StoreError.invalidArgument = error else { return XCTFail("\(error)") }
        }
        let reader = try EpisodeStore(url: good, readOnly: true)
        XCTAssertEqual(reader.dim, 4)
        XCTAssertThrowsError(try reader.append([makeStep(episode: "e", index: 1, dim: 4, rng: &rng)])) { error in
            guard case StoreError.readOnly = error else { return XCTFail("\(error)") }
        }
        try FileManager.default.setAttributes([.posixPermissions: 0o444], ofItemAtPath: good.path)
        if getuid() != 0 {
            XCTAssertThrowsError(try EpisodeStore(url: good)) { error in
                guard case StoreError.readOnly = error else { return XCTFail("\(error)") }
            }
        } else {
            // Root ignores file permissions, so the check runs in a child without privileges (CI runs as root).
            let result = try runUnprivileged(try worldgptBinary(), ["memory", "prune", "--keep-last", "1", "--db", good.path])
            XCTAssertNotEqual(result.status, 0, result.stderr)
            XCTAssertTrue(result.stderr.contains("not writable"), result.stderr)
        }
        XCTAssertEqual(try reader.steps(StepReference(episode: "e", index: 0)).map(\.record), [step])
    }

    func testVerifyFindsBadBlobsAndOrphans() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("s.sqlite")
        var rng = SeededGenerator(seed: 4)
        let store = try EpisodeStore(url: url, dim: dim)
        try store.append((0..<3).map { makeStep(episode: "e", index: $0, dim: dim, rng: &rng) })
        XCTAssertEqual(try store.verify(), VerifyReport(checkedSteps: 3, problems: []))
        let raw = try DatabaseQueue(path: url.path)
        var nanBlob = [Float](repeating: 0.5, count: dim)
        nanBlob[3] = .nan
        try raw.writeWithoutTransaction { db in
            try db.execute(sql: "UPDATE steps SET input_audio = x'0000803f' WHERE step_index = 1")
            try db.execute(sql: "UPDATE steps SET predicted_image = ? WHERE step_index = 2", arguments: [nanBlob.withUnsafeBytes { Data($0) }])
            try db.execute(sql: "PRAGMA foreign_keys = OFF")
            try db.execute(sql: "INSERT INTO step_annotations(step_id, kind, rank, item) VALUES (999, 'retrieved', 0, 'x')")
        }
        try raw.close()
        let problems = try store.verify().problems
        XCTAssertEqual(problems.count, 3, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("e:1) input_audio: 4 bytes") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("e:2) predicted_image: NaN") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("orphan row: table step_annotations") }, "\(problems)")
    }

    func testPruneKeepLastAndBefore() throws {
        try withStores(dim: dim) { store, kind in
            var rng = SeededGenerator(seed: 5)
            try store.append((0..<6).map { makeStep(episode: "a", index: $0, dim: dim, rng: &rng, time: 1000) }
                + (0..<2).map { makeStep(episode: "b", index: $0, dim: dim, rng: &rng, time: 5000) })
            XCTAssertEqual(try store.prune(keepLast: 3), 3, kind)
            XCTAssertEqual(try store.steps(StepReference(episode: "a", index: nil)).map(\.record.index), [3, 4, 5], kind)
            XCTAssertEqual(try store.prune(before: Date(timeIntervalSince1970: 1004.5)), 2, kind)  // a:3, a:4
            XCTAssertEqual(try store.episodes().map(\.name), ["a", "b"], kind)
            XCTAssertEqual(try store.prune(before: Date(timeIntervalSince1970: 4000)), 1, kind)
            XCTAssertEqual(try store.episodes().map(\.name), ["b"], "\(kind): empty episodes go")
            XCTAssertTrue(try store.verify().isSound, kind)
        }
    }

    func testExportWritesJSONLinesAndNPYMatrices() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try EpisodeStore(inMemoryWithDim: dim)
        var rng = SeededGenerator(seed: 6)
        let steps = (0..<4).map { makeStep(episode: "x", index: $0, dim: dim, rng: &rng) }
        try store.append(steps)
        XCTAssertEqual(try store.export(to: dir.url), 4)
        let lines = try String(contentsOf: dir.url.appendingPathComponent("steps.jsonl"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 4)
        let first = try JSONSerialization.jsonObject(with: Data(lines[2].utf8)) as! [String: Any]
        XCTAssertEqual(first["action"] as? String, "action 2 of x")
        let emb = (first["embeddings"] as! [String: Any])["input_audio"] as! [String: Any]
        XCTAssertEqual(emb["file"] as? String, "input_audio.npy")
        XCTAssertEqual(emb["row"] as? Int, 2)
        // .npy: 128-byte header for this shape, then row-major float32.
        let npy = try Data(contentsOf: dir.url.appendingPathComponent("input_audio.npy"))
        XCTAssertEqual(Array(npy.prefix(6)), [0x93] + Array("NUMPY".utf8))
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        let header = String(decoding: npy[10..<(10 + headerLength)], as: UTF8.self)
        XCTAssertTrue(header.contains("'shape': (4, \(dim))"), header)
        XCTAssertEqual((10 + headerLength) % 64, 0)
        let body = npy[(10 + headerLength)...]
        XCTAssertEqual(body.count, 4 * dim * 4)
        let row2 = body.withUnsafeBytes { raw in (0..<dim).map { raw.loadUnaligned(fromByteOffset: (2 * dim + $0) * 4, as: Float.self) } }
        XCTAssertEqual(row2, steps[2].input[.audio]!.values)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("input_video.npy").path))
    }

    func testExportWritesNarrowerActionEmbeddingsAtTheirOwnWidth() throws {
        // A rollout's action embeddings (a sentence encoder) are narrower than its states; export once crashed here.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let store = try EpisodeStore(inMemoryWithDim: dim)
        var rng = SeededGenerator(seed: 9)
        let steps = (0..<3).map { makeStep(episode: "x", index: $0, dim: dim, rng: &rng, actionDim: 5) }
        try store.append(steps)
        XCTAssertEqual(try store.export(to: dir.url), 3)
        let npy = try Data(contentsOf: dir.url.appendingPathComponent("action_embedding.npy"))
        let headerLength = Int(npy[8]) | Int(npy[9]) << 8
        XCTAssertTrue(String(decoding: npy[10..<(10 + headerLength)], as: UTF8.self).contains("'shape': (3, 5)"))
        let body = npy[(10 + headerLength)...]
        XCTAssertEqual(body.count, 3 * 5 * 4)
        let row1 = body.withUnsafeBytes { raw in (0..<5).map { raw.loadUnaligned(fromByteOffset: (5 + $0) * 4, as: Float.self) } }
        XCTAssertEqual(row1, steps[1].action.embedding!.values)
    }

    func testReadersWorkWhileAWriterWrites() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("s.sqlite")
        _ = try EpisodeStore(url: url, dim: dim)
        let batches = 30
        let writerDone = expectation(description: "writer")
        let d = dim
        Thread.detachNewThread {
            do {
                let writer = try EpisodeStore(url: url)
                var rng = SeededGenerator(seed: 7)
                for b in 0..<batches {
                    try writer.append((0..<20).map { makeStep(episode: "w", index: b * 20 + $0, dim: d, rng: &rng) })
                }
            } catch { XCTFail("writer: \(error)") }
            writerDone.fulfill()
        }
        let reader = try EpisodeStore(url: url, readOnly: true)
        var seen = [Int]()
        for _ in 0..<30 {
            let n = try reader.stepCount()
            XCTAssertEqual(n % 20, 0, "a reader never sees half a batch")
            seen.append(n)
            XCTAssertTrue(try reader.verify().isSound)
        }
        wait(for: [writerDone], timeout: 60)
        XCTAssertEqual(seen, seen.sorted())
        XCTAssertEqual(try reader.stepCount(), batches * 20)
    }

    func testWorkingMemoryWindowAndBatchedOffload() throws {
        let store = try EpisodeStore(inMemoryWithDim: dim)
        let memory = WorkingMemory(store: store, window: 3, batchSize: 4)
        var rng = SeededGenerator(seed: 8)
        for i in 0..<6 { try memory.add(makeStep(episode: "m", index: i, dim: dim, rng: &rng)) }
        XCTAssertEqual(memory.recent("m").map(\.index), [3, 4, 5])
        XCTAssertEqual(try store.stepCount(), 4, "one batch of 4 offloaded")
        XCTAssertEqual(memory.pendingCount, 2)
        try memory.endEpisode("m")
        XCTAssertEqual(try store.stepCount(), 6)
        XCTAssertEqual(memory.recent("m").count, 0)
        // An evicted step (index 0) is still recallable from the store.
        let first = try store.steps(StepReference(episode: "m", index: 0))[0]
        let hits = try memory.recall(RecallQuery(state: first.record.input), k: 1)
        XCTAssertEqual(hits.first?.index, 0)
        XCTAssertEqual(Double(hits.first?.stateSimilarity ?? 0), 1, accuracy: 1e-5)
    }

    func testEpisodePagesReadStepCountsKeptThroughAppendPruneAndMigration() throws {
        func naiveCounts(_ store: EpisodeStore) throws -> [String: Int] {
            Dictionary(uniqueKeysWithValues: try store.episodes().map { e in
                (e.name, try store.steps(StepReference(episode: e.name, index: nil)).count)
            })
        }
        func pageCounts(_ store: EpisodeStore) throws -> [String: Int] {
            Dictionary(uniqueKeysWithValues: try store.episodes(after: nil, limit: 100).items.map { ($0.name, $0.stepCount) })
        }
        try withStores(dim: dim) { store, kind in
            var rng = SeededGenerator(seed: 9)
            // Lock-step batches interleave episodes; later batches continue them.
            for batch in 0..<3 {
                try store.append(["a", "b", "c"].flatMap { e in (0..<4).map { makeStep(episode: e, index: batch * 4 + $0, dim: dim, rng: &rng, time: 1000 * Double(batch + 1)) } })
            }
            XCTAssertEqual(try pageCounts(store), ["a": 12, "b": 12, "c": 12], kind)
            XCTAssertEqual(try store.prune(keepLast: 5), 7 * 3, kind)
            XCTAssertEqual(try pageCounts(store), try naiveCounts(store), kind)
            XCTAssertEqual(try store.prune(before: Date(timeIntervalSince1970: 3000)), 3 * 1, kind)
            XCTAssertEqual(try pageCounts(store), ["a": 4, "b": 4, "c": 4], kind)
            XCTAssertTrue(try store.verify().isSound, kind)
        }
        // A store made before the migration: its steps were never counted; opened read-only it counts the index
        // ranges, and the first read-write open fills the table from the steps.
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("old.sqlite")
        var rng = SeededGenerator(seed: 10)
        try EpisodeStore(url: url, dim: dim).append((0..<5).map { makeStep(episode: "old", index: $0, dim: dim, rng: &rng) })
        let queue = try DatabaseQueue(path: url.path)
        try queue.write { db in
            try db.execute(sql: """
                DROP TRIGGER steps_counted_insert; DROP TRIGGER steps_counted_delete; DROP TRIGGER steps_counted_move;
                DROP TABLE episode_step_counts; DELETE FROM grdb_migrations WHERE identifier = 'v2-step-counts';
                """)
        }
        try queue.close()
        let reader = try EpisodeStore(url: url, readOnly: true)
        XCTAssertEqual(try pageCounts(reader), ["old": 5])
        XCTAssertEqual(try reader.appliedMigrations(), ["v1"])
        let writer = try EpisodeStore(url: url)
        XCTAssertEqual(try writer.appliedMigrations(), ["v1", "v2-step-counts"])
        try writer.append([makeStep(episode: "old", index: 5, dim: dim, rng: &rng)])
        XCTAssertEqual(try pageCounts(writer), ["old": 6])
        XCTAssertTrue(try writer.verify().isSound)
        // verify notices a count that drifted from the steps.
        let other = try DatabaseQueue(path: url.path)
        try other.write { db in try db.execute(sql: "UPDATE episode_step_counts SET steps = 2") }
        try other.close()
        XCTAssertFalse(try writer.verify().isSound)
    }
}
