// End-to-end tests of `worldgpt simworld generate` (they run the built binary).
import Foundation
import TestSupport
import XCTest

final class SimWorldCLITests: XCTestCase {
    func testGenerateWritesACheckableWorldAndPrintsOracles() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-cli")
        defer { dir.remove() }
        let config = dir.url.appendingPathComponent("world.yaml")
        try "scenarios: 2\nsteps: 3\noracle_samples: 2\n".write(to: config, atomically: true, encoding: .utf8)
        let out = dir.url.appendingPathComponent("world")
        let result = try runWorldGPT(["simworld", "generate", "--out", out.path, "--config", config.path, "--episodes", "4",
                                      "--seed", "9", "--quiet"])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertTrue(result.stdout.contains("2 scenarios × 4 episodes × 3 steps = 24 transitions, seed 9"), result.stdout)
        XCTAssertTrue(result.stdout.contains("(a) true"), result.stdout)
        XCTAssertTrue(result.stdout.contains("128 embeddings (.pt)"), result.stdout)
        for split in ["train", "kb", "test", "sequences"] {
            let check = try runWorldGPT(["dataset", "check", "--embeddings-only", "--load", out.appendingPathComponent("\(split).yaml").path])
            XCTAssertEqual(check.status, 0, check.stdout + check.stderr)
            XCTAssertTrue(check.stdout.contains("ok: no problems"), check.stdout)
        }
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: out.appendingPathComponent("world.json"))) as? [String: Any])
        XCTAssertNotNil((json["oracles"] as? [String: Any])?["mean"])
    }

    func testBadConfigFailsNamingTheKey() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-cli-bad")
        defer { dir.remove() }
        let config = dir.url.appendingPathComponent("bad.yaml")
        try "scenarios: 2\nfriction: 0.5\n".write(to: config, atomically: true, encoding: .utf8)
        let result = try runWorldGPT(["simworld", "generate", "--out", dir.url.appendingPathComponent("w").path, "--config", config.path])
        XCTAssertNotEqual(result.status, 0)
        XCTAssertTrue(result.stderr.contains("bad.yaml:2") && result.stderr.contains("friction"), result.stderr)
        let zero = try runWorldGPT(["simworld", "generate", "--out", dir.url.appendingPathComponent("w").path, "--steps", "0"])
        XCTAssertNotEqual(zero.status, 0)
        XCTAssertTrue(zero.stderr.contains("steps"), zero.stderr)
    }
}
