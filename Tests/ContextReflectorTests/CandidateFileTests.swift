// Tests of the candidate-file layout used by `worldgpt reflector explain`.
import ContextReflector
import Foundation
import Formats
import TestSupport
import XCTest

final class CandidateFileTests: XCTestCase {
    func testHandWrittenFileLoadsComputesMissingScoresAndFilters() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("c.json")
        // Query state (1,0,0), action (0,1,0). kb:a matches the state exactly with an orthogonal action:
        // score = (1 + 0) / 2 = 0.5. kb:b is the query's own sample (given score 0.99).
        let json = """
            {"query": {"state": {"image": [1, 0, 0]}, "action": {"text": "push", "embedding": [0, 1, 0]},
                       "provenance": {"dataset": "train", "sample_id": "7"}},
             "candidates": [
               {"id": "kb:a", "state0": {"image": [2, 0, 0]}, "action": {"text": "x", "embedding": [0, 0, 1]}, "state1": {"image": [0, 0, 1]}},
               {"id": "kb:b", "score": 0.99, "state0": {"image": [1, 0, 0]}, "action": {"text": "push", "embedding": [0, 1, 0]},
                "state1": {"image": [0, 1, 1]}, "provenance": {"dataset": "train", "sample_id": "7"}}],
             "filter": {"threshold": 0.4}}
            """
        try Data(json.utf8).write(to: url)
        let file = try CandidateFile.load(url)
        XCTAssertEqual(file.candidates.map(\.id), ["kb:a", "kb:b"])
        XCTAssertEqual(file.candidates[0].score, 0.5, accuracy: 1e-12)
        XCTAssertEqual(file.filter?.threshold, 0.4)
        XCTAssertEqual(file.filter?.budget, 4)
        let result = try ReflectorFilter(config: file.filter!).apply(query: file.query, candidates: file.candidates)
        XCTAssertEqual(result.decisions.map(\.reason), ["kept: rank 1, score 0.50", "dropped: leakage (query's own sample)"])

        // Round trip through write/load keeps everything.
        let copy = dir.url.appendingPathComponent("copy.json")
        try file.write(to: copy)
        let back = try CandidateFile.load(copy)
        XCTAssertEqual(back.query, file.query)
        XCTAssertEqual(back.candidates, file.candidates)
    }

    func testBadFilesNameTheProblem() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        func problem(_ json: String) -> String {
            let url = dir.url.appendingPathComponent("bad.json")
            try? Data(json.utf8).write(to: url)
            do {
                _ = try CandidateFile.load(url)
                return "no error"
            } catch { return "\(error)" }
        }
        let query = #""query": {"state": {"image": [1, 0]}, "action": {"text": "a"}}"#
        XCTAssertTrue(problem("{\(query), \"candidates\": [{\"id\": \"x\", \"state0\": {\"smell\": [1, 0]}, \"action\": {\"text\": \"a\"}, \"state1\": {}}]}")
            .contains("candidates[0].state0: unknown modality 'smell'"))
        XCTAssertTrue(problem("{\(query), \"candidates\": [{\"id\": \"x\", \"state0\": {\"image\": [1, 0], \"audio\": [1]}, \"action\": {\"text\": \"a\"}, \"state1\": {}}]}")
            .contains("different widths"))
        XCTAssertTrue(problem("{\(query)}").contains("missing key 'candidates'"))
        let twice = "{\"id\": \"x\", \"state0\": {}, \"action\": {\"text\": \"a\"}, \"state1\": {}}"
        XCTAssertTrue(problem("{\(query), \"candidates\": [\(twice), \(twice)]}").contains("duplicate id x"))
        XCTAssertTrue(problem("not json").contains("bad.json: not a candidate file"))
        XCTAssertTrue(try XCTUnwrap(Optional(problem("{\(query), \"candidates\": []}"))) == "no error")
    }
}
