// `worldgpt rollout` end to end: a run killed with SIGKILL and started again with the same command ends with
// the same trace as an uninterrupted run; bad inputs give clear messages.
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

    func rolloutArguments(world: URL, db: URL, trace: URL) -> [String] {
        ["rollout", "--model", "identity", "--kb", world.path, "--data", world.path, "--db", db.path, "--episodes", "4",
         "--trace", trace.path, "--text-encoder", "hashed", "--action-cache", "none"]
    }

    func testKilledRolloutResumesToTheSameTrace() throws {
        let world = try smallWorld()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let fullTrace = dir.url.appendingPathComponent("full.jsonl")
        let full = try runWorldGPT(rolloutArguments(world: world, db: dir.url.appendingPathComponent("full.sqlite"), trace: fullTrace))
        XCTAssertEqual(full.status, 0, full.stderr)
        let expected = try String(contentsOf: fullTrace, encoding: .utf8)
        XCTAssertEqual(expected.split(separator: "\n").count, 4 * 7)

        var rng = SeededGenerator(seed: 11)
        for attempt in 0..<4 {
            let db = dir.url.appendingPathComponent("killed-\(attempt).sqlite")
            let trace = dir.url.appendingPathComponent("killed-\(attempt).jsonl")
            let process = Process()
            process.executableURL = worldgptBinary()
            process.arguments = rolloutArguments(world: world, db: db, trace: trace)
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(100_000 + rng.next() % 900_000))  // 0.1–1 s: before, during or after the offloads
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            let again = try runWorldGPT(rolloutArguments(world: world, db: db, trace: trace))
            XCTAssertEqual(again.status, 0, again.stderr)
            XCTAssertEqual(try String(contentsOf: trace, encoding: .utf8), expected, "attempt \(attempt)")
            let verify = try runWorldGPT(["memory", "verify", "--db", db.path])
            XCTAssertEqual(verify.status, 0, verify.stdout + verify.stderr)
        }
    }

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

/// The built `worldgpt` binary.
func worldgptBinary() -> URL {
    let binary = Fixtures.projectRoot.appendingPathComponent(".build/debug/worldgpt")
    if FileManager.default.fileExists(atPath: binary.path) { return binary }
    return Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent().appendingPathComponent("worldgpt")
}
