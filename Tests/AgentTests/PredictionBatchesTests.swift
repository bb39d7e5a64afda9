// The predict worker's answer lines (`worldgpt predict --stdin-batches`, docs/serve.md): the hand-written API JSON of
// a trace line against JSONEncoder with the API's settings, its oracle.
import Agent
import Foundation
import XCTest

final class PredictionBatchesTests: XCTestCase {
    private func trace(_ json: String) throws -> TraceLine { try JSONDecoder().decode(TraceLine.self, from: Data(json.utf8)) }

    func testAPIJSONEqualsJSONEncoderWithTheAPISettings() throws {
        let lines = [
            try trace("""
                {"episode": "predict-3", "step": 0, "action": "push the \\"red\\" block / left\\n\\tnow\\u0001 — naïve",
                 "recalled": ["e:2", "e:1"], "retrieved": [{"id": "kb:1", "score": 0.917244}, {"id": "kb:10", "score": 1.0}],
                 "kept": [{"id": "kb:1", "score": -0.5}], "cosine": {"image": 61.382299, "audio": 100.0, "video": 1e-7},
                 "predictionHead": {"image": [-0.17106445, 0.20354275, 1e-05, 3.0], "audio": [0.5, -0.25, 0, 1.5e20]}}
                """),
            try trace("""
                {"episode": "", "step": -7, "action": "", "recalled": [], "retrieved": [], "kept": [], "cosine": {}, "predictionHead": {}}
                """),
        ]
        for line in lines {
            let oracle = try BatchedAnswer.apiEncoder().encode(line)
            XCTAssertEqual(String(decoding: line.apiJSON(), as: UTF8.self), String(decoding: oracle, as: UTF8.self))
        }
        var nonFinite = lines[1]
        nonFinite.cosine = ["image": .infinity, "audio": -.infinity, "text": .nan]
        XCTAssertEqual(String(decoding: nonFinite.apiJSON(), as: UTF8.self),
                       String(decoding: try BatchedAnswer.apiEncoder().encode(nonFinite), as: UTF8.self))
    }

    func testAnswerLinesRoundTripAndRefuseOtherLines() {
        let trace = BatchedAnswer.trace(Data("{\"step\":1}".utf8))
        XCTAssertEqual(BatchedAnswer(line: Array(trace.line())), trace)
        let error = BatchedAnswer.error("no sample \"9\" in\nworld")
        XCTAssertEqual(BatchedAnswer(line: Array(error.line())), error)
        XCTAssertFalse(error.line().contains(0x0A), "one line per answer")
        XCTAssertNil(BatchedAnswer(line: Array("X {}".utf8)))
        XCTAssertNil(BatchedAnswer(line: Array("E not json".utf8)))
        XCTAssertNil(BatchedAnswer(line: [UInt8]()))
    }
}
