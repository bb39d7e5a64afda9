// `worldgpt rollout` end to end: bad inputs give clear messages (the crash-resume test is RolloutCrashTests).
import Foundation
import TestSupport
import XCTest

final class RolloutCLITests: XCTestCase {
    nonisolated(unsafe) static var world: TemporaryDirectory?  // set once, tests of this class run serially

    /// A small SimWorld shared by the tests of this class (2 scenarios × 20 episodes: 4 sequences).
    func smallWorld() throws -> URL {
        if let w = Self.world { return w.url.appendingPathComponent("world") }
        let dir = try TemporaryDirectory(prefix: "rollout-cli")
        let r = try runWorldGPT(["simworld", "generate", "--out", dir.url.appendingPathComponent("world").path,
                                 "--scenarios", "2", "--episodes", "20", "--seed", "3", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        Self.world = dir
        return dir.url.appendingPathComponent("world")
    }

    override class func tearDown() { world?.remove() }

    func testBadInputsGiveClearMessages() throws {
        let world = try smallWorld()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let blank = dir.url.appendingPathComponent("actions.txt")
        try "push the red block left\n\nslide the green ball up\n".write(to: blank, atomically: true, encoding: .utf8)
        let good = dir.url.appendingPathComponent("good.txt")
        try "push the red block left\n".write(to: good, atomically: true, encoding: .utf8)
        let vector = dir.url.appendingPathComponent("v.npy")
        _ = try runWorldGPT(["embed", "--model", "hashed", "hello", "--out", vector.path])
        let cases: [([String], String)] = [
            (["rollout", "--model", "identity", "--start", "video=\(vector.path)", "--actions", blank.path, "--text-encoder", "hashed"], "actions.txt:2: blank line"),
            (["rollout", "--model", "identity", "--start", "smell=\(vector.path)", "--actions", good.path], "unknown modality 'smell'"),
            (["rollout", "--model", dir.url.appendingPathComponent("nope").path, "--data", world.path], "model checkpoint not found"),
            (["rollout", "--model", "identity", "--kb", dir.url.appendingPathComponent("kb.sqlite").path, "--data", world.path,
              "--text-encoder", "hashed", "--action-cache", "none"], "knowledge base not found"),
            (["fork", "--model", "identity", "--db", dir.url.appendingPathComponent("none.sqlite").path, "--from", "e:1", "--actions", blank.path],
             "memory database not found"),
        ]
        for (arguments, message) in cases {
            let r = try runWorldGPT(arguments)
            XCTAssertNotEqual(r.status, 0, arguments.joined(separator: " "))
            XCTAssertTrue((r.stdout + r.stderr).contains(message), "expected '\(message)' in: \(r.stderr)")
        }
    }
}
