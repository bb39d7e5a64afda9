// The `worldgpt memory` commands against a store written through the library: JSON outputs, exit codes.
import Formats
import Foundation
import GRDB
import Memory
import TestSupport
import XCTest

final class MemoryCLITests: XCTestCase {
    func run(_ binary: URL, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = binary
        p.arguments = arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = out
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    func testMemoryCommandsReadWhatTheLibraryWrote() throws {
        let binary = try worldgptBinary()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = dir.url.appendingPathComponent("m.sqlite")
        let store = try EpisodeStore(url: db, dim: 8)
        var steps = (0..<4).map { SyntheticSteps.step(episode: "walk", index: $0, dim: 8) }
        steps[2].annotations = [StepAnnotation(kind: "reflector.dropped", rank: 0, item: "kb:9", score: 0.1, reason: "below threshold 0.30")]
        try store.append(steps)

        let ls = try run(binary, ["memory", "ls", "--db", db.path, "--json"])
        XCTAssertEqual(ls.status, 0, ls.output)
        let episodes = try JSONDecoder().decode([EpisodeSummary].self, from: Data(ls.output.utf8))
        XCTAssertEqual(episodes.map(\.name), ["walk"])
        XCTAssertEqual(episodes.first?.stepCount, 4)

        let show = try run(binary, ["memory", "show", "walk:2", "--db", db.path])
        XCTAssertEqual(show.status, 0, show.output)
        XCTAssertTrue(show.output.contains("reflector.dropped #0 kb:9 score 0.1000 — below threshold 0.30"), show.output)
        let showJSON = try run(binary, ["memory", "show", "walk:2", "--db", db.path, "--json"])
        let stored = try JSONDecoder().decode([StoredStep].self, from: Data(showJSON.output.utf8))
        XCTAssertEqual(stored.first?.record, steps[2], "JSON round trip of the step, bit for bit")

        let search = try run(binary, ["memory", "search", "--like", "walk:1", "-k", "2", "--db", db.path, "--json"])
        XCTAssertEqual(search.status, 0, search.output)
        let hits = try JSONDecoder().decode([RecalledStep].self, from: Data(search.output.utf8))
        let expected = try store.recall(RecallQuery(state: steps[1].input, action: steps[1].action.embedding, excludedStepIDs: [2]), k: 2)
        XCTAssertEqual(hits.map(\.index), expected.map(\.index))
        XCTAssertFalse(hits.contains { $0.index == 1 }, "the query step is excluded")

        XCTAssertEqual(try run(binary, ["memory", "verify", "--db", db.path]).status, 0)
        let export = try run(binary, ["memory", "export", "--out", dir.url.appendingPathComponent("x").path, "--db", db.path])
        XCTAssertEqual(export.status, 0, export.output)
        XCTAssertEqual(try String(contentsOf: dir.url.appendingPathComponent("x/steps.jsonl"), encoding: .utf8).split(separator: "\n").count, 4)
        XCTAssertEqual(try run(binary, ["memory", "prune", "--keep-last", "1", "--db", db.path]).output, "deleted 3 steps\n")
        XCTAssertEqual(try store.stepCount(), 1)

        // A problem makes verify exit 1; a non-database a clear error.
        let queue = try DatabaseQueue(path: db.path)
        try queue.write { try $0.execute(sql: "UPDATE steps SET input_image = x'00000000'") }
        try queue.close()
        let broken = try run(binary, ["memory", "verify", "--db", db.path])
        XCTAssertEqual(broken.status, 1, broken.output)
        XCTAssertTrue(broken.output.contains("problem: step id 4 (walk:3) input_image: 4 bytes (expected 32)"), broken.output)
        let bad = dir.url.appendingPathComponent("bad.sqlite")
        try Data(repeating: 1, count: 4096).write(to: bad)
        let badVerify = try run(binary, ["memory", "verify", "--db", bad.path])
        XCTAssertNotEqual(badVerify.status, 0)
        XCTAssertTrue(badVerify.output.contains("not an SQLite database"), badVerify.output)
        XCTAssertNotEqual(try run(binary, ["memory", "search", "--db", db.path]).status, 0, "search needs --like or --text")
    }
}
