// End-to-end tests of `worldgpt reflector …`.
import Formats
import Foundation
import TestSupport
import XCTest

final class ReflectorCLITests: XCTestCase {
    func testExplainPrintsAReasonPerCandidate() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("c.json")
        let json = """
            {"query": {"state": {"image": [1, 0, 0, 0]}, "action": {"text": "push", "embedding": [0, 1, 0, 0]},
                       "provenance": {"dataset": "train", "sample_id": "7"}},
             "candidates": [
               {"id": "kb:1", "score": 0.81, "state0": {"image": [0, 0, 1, 0]}, "action": {"text": "x", "embedding": [0, 0, 0, 1]}, "state1": {"image": [1, 1, 0, 0]}},
               {"id": "kb:2", "score": 0.80, "state0": {"image": [0, 0, 1, 0]}, "action": {"text": "x", "embedding": [0, 0, 0, 1]}, "state1": {"image": [1, 1, 0, 0]}},
               {"id": "kb:3", "score": 0.12, "state0": {"image": [0, 1, 0, 0]}, "action": {"text": "y", "embedding": [1, 0, 0, 0]}, "state1": {"image": [0, 0, 0, 1]}},
               {"id": "train:7", "score": 1.0, "state0": {"image": [1, 0, 0, 0]}, "action": {"text": "push", "embedding": [0, 1, 0, 0]},
                "state1": {"image": [0, 0, 1, 1]}, "provenance": {"dataset": "train", "sample_id": "7"}}]}
            """
        try Data(json.utf8).write(to: url)
        let result = try runWorldGPT(["reflector", "explain", "--candidates", url.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains("kb:1     kept: rank 1, score 0.81"), result.stdout)
        XCTAssertTrue(lines.contains("kb:2     dropped: duplicate of kb:1 (cos 1.000)"), result.stdout)
        XCTAssertTrue(lines.contains("kb:3     dropped: below threshold 0.30 (score 0.12)"), result.stdout)
        XCTAssertTrue(lines.contains("train:7  dropped: leakage (query's own sample)"), result.stdout)

        let json2 = try runWorldGPT(["reflector", "explain", "--candidates", url.path, "--json", "--threshold", "0.1"])
        XCTAssertEqual(json2.status, 0, json2.stderr)
        let object = try JSONSerialization.jsonObject(with: Data(json2.stdout.utf8)) as? [String: Any]
        XCTAssertEqual(object?["kept"] as? [String], ["kb:1", "kb:3"])

        let missing = try runWorldGPT(["reflector", "explain", "--candidates", dir.url.appendingPathComponent("nope.json").path])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("nope.json: cannot read"), missing.stderr)
    }
}

final class ReflectorRunCLITests: XCTestCase {
    func testRunReproducesTheRecordedPyTorchOutput() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.url.appendingPathComponent("out.npy")
        let result = try runWorldGPT([
            "reflector", "run", "--checkpoint", Fixtures.url("reflector/reflector.pt").path,
            "--inputs", Fixtures.url("reflector/reflector_io.npz").path, "--out", out.path, "--expect", "output", "--tolerance", "2e-5",
        ])
        XCTAssertEqual(result.status, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("1 Q-Former layer(s)"), result.stdout)
        XCTAssertTrue(result.stdout.contains("output width 256"), result.stdout)
        XCTAssertTrue(result.stdout.contains("tokens [2, 4, 256]"), result.stdout)
        let written = try NPY.read(out)
        XCTAssertEqual(written.shape, [2, 4, 256])
        let expected = try XCTUnwrap(try NPZ.read(Fixtures.url("reflector/reflector_io.npz")).first { $0.name == "output" }).tensor
        let diff = zip(written.floatValues(), expected.floatValues()).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(diff, 2e-5)
    }

    func testRunNamesAMissingArray() throws {
        let result = try runWorldGPT([
            "reflector", "run", "--checkpoint", Fixtures.url("reflector/reflector.pt").path,
            "--inputs", Fixtures.url("reflector/reflector_io.npz").path, "--out", "/dev/null", "--context-name", "context_k9",
        ])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("no array 'context_k9'"), result.stderr)
    }
}

final class ReflectorExplainKBCLITests: XCTestCase {
    func testExplainOnAKnowledgeBaseDropsTheQuerysOwnSampleAndLaterSteps() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let world = dir.url.appendingPathComponent("world")
        let generated = try runWorldGPT([
            "simworld", "generate", "--config", Fixtures.projectRoot.appendingPathComponent("examples/simworld-tiny.yaml").path, "--out", world.path,
        ])
        XCTAssertEqual(generated.status, 0, generated.stderr)
        // The query is a sample of the kb split itself, so its own transition and its episode's later steps are candidates.
        let result = try runWorldGPT([
            "reflector", "explain", "--kb", world.path, "--data", world.path, "--split", "kb", "--sample", "5",
            "--text-encoder", "hashed", "--action-cache", "none",
        ])
        XCTAssertEqual(result.status, 0, result.stderr)
        let lines = result.stdout.split(separator: "\n").map(String.init)
        XCTAssertTrue(lines.contains { $0.hasPrefix("kb:5 ") && $0.hasSuffix("dropped: leakage (query's own sample)") }, result.stdout)
        XCTAssertTrue(lines.contains { $0.contains("dropped: leakage (later step") }, result.stdout)
        XCTAssertEqual(lines.filter { $0.contains("kept: rank") }.count, 4, result.stdout)
        XCTAssertEqual(lines.count, 2 + 16, result.stdout)  // header, kept line, one line per retrieved candidate

        let missing = try runWorldGPT(["reflector", "explain", "--kb", world.path, "--data", world.path, "--sample", "99999", "--text-encoder", "hashed", "--action-cache", "none"])
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("no sample '99999'"), missing.stderr)
    }
}
