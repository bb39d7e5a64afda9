// Crash safety: the real `worldgpt` binary offloads in a loop and is SIGKILLed at 20 random moments; after each
// kill, `worldgpt memory verify` passes and every step the child reported committed is there, bit-identical.
import Formats
import Foundation
import GRDB
@testable import Memory
import TestSupport
import XCTest

final class CrashSafetyTests: XCTestCase {
    func bits(_ s: StepRecord) -> [[UInt32]] {
        var out = [s.action.embedding?.values.map(\.bitPattern) ?? []]
        for state in [s.input, s.predicted, s.observed] { for m in Modality.allCases { out.append(state[m]?.values.map(\.bitPattern) ?? []) } }
        return out
    }

    func testCommittedStepsSurviveSIGKILL() throws {
        let binary = try worldgptBinary()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = dir.url.appendingPathComponent("crash.sqlite")
        var rng = SeededGenerator(seed: 2026)
        var reported = -1
        let dim = 32
        for round in 0..<20 {
            let child = Process()
            child.executableURL = binary
            child.arguments = ["memory", "offload-loop", "--db", db.path, "--dim", "\(dim)", "--batch", "8"]
            let pipe = Pipe()
            child.standardOutput = pipe
            let collector = OutputCollector(pipe.fileHandleForReading)
            try child.run()
            // A quarter of the kills land anywhere from process start (creation, first commit); the rest land
            // 0–120 ms into the steady offload loop (after the first commit, however slow the machine is).
            if rng.next() % 4 == 0 {
                Thread.sleep(forTimeInterval: Double(rng.next() % 300) / 1000)
            } else {
                let deadline = Date().addingTimeInterval(30)
                while !collector.text.contains("committed"), Date() < deadline { Thread.sleep(forTimeInterval: 0.005) }
                Thread.sleep(forTimeInterval: Double(rng.next() % 120) / 1000)
            }
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, "round \(round): the child was killed, not finished")
            let output = collector.finish()
            for line in output.split(separator: "\n") {
                let parts = line.split(separator: " ")
                if parts.count == 3, parts[0] == "committed", let last = Int(parts[2]) {
                    XCTAssertGreaterThan(last, reported, "round \(round): commits only move forward")
                    reported = last
                }
            }
            guard FileManager.default.fileExists(atPath: db.path) else { continue }  // killed before creating the store

            let verify = Process()
            verify.executableURL = binary
            verify.arguments = ["memory", "verify", "--db", db.path]
            verify.standardOutput = Pipe()
            try verify.run()
            verify.waitUntilExit()
            XCTAssertEqual(verify.terminationStatus, 0, "round \(round): `worldgpt memory verify` failed after SIGKILL")

            let store = try EpisodeStore(url: db, readOnly: true)
            let steps = (try? store.steps(StepReference(episode: "crash", index: nil))) ?? []
            XCTAssertGreaterThanOrEqual(steps.count, reported + 1, "round \(round): a reported commit is missing")
            XCTAssertEqual(steps.map(\.record.index), Array(0..<steps.count), "round \(round): steps are contiguous")
            for s in steps {  // reported ones and any committed just before the kill: all exact
                let expected = SyntheticSteps.step(episode: "crash", index: s.record.index, dim: dim)
                XCTAssertEqual(bits(s.record), bits(expected), "round \(round): step \(s.record.index) differs")
                XCTAssertEqual(s.record.action.text, expected.action.text)
            }
        }
        print("crash safety: \(reported + 1) steps reported committed across 20 SIGKILLs")
        XCTAssertGreaterThan(reported, 8, "the child made progress between kills")
    }
}

extension CrashSafetyTests {
    /// Durable commits need the writer connection in WAL mode with `synchronous = FULL` (2); GRDB's default for
    /// WAL is NORMAL (1), which can lose the last commits on power loss.
    func testWriterConnectionCommitsWithSynchronousFull() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for reopen in [false, true] {
            let store = try EpisodeStore(url: dir.url.appendingPathComponent("s.sqlite"), dim: 4)
            let (mode, journal) = try store.database.writeWithoutTransaction { db in
                (try Int.fetchOne(db, sql: "PRAGMA synchronous"), try String.fetchOne(db, sql: "PRAGMA journal_mode"))
            }
            XCTAssertEqual(mode, 2, "synchronous must be FULL (reopened: \(reopen))")
            XCTAssertEqual(journal?.lowercased(), "wal")
        }
    }

    /// Kills the writer between a commit and the recall key-file append that follows it (the crash point
    /// `store.after-commit`), at a different commit each round, with the recall keys loaded so every commit is
    /// followed by an append. After each kill the store's recall must equal recall over keys rebuilt from SQLite
    /// alone, and must find the last committed step (whose keys never reached the files).
    func testKillBetweenCommitAndKeyFileAppendLosesNoRecallKey() throws {
        let binary = try worldgptBinary()
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let db = dir.url.appendingPathComponent("keys.sqlite")
        let dim = 32, batch = 4
        var committedBatches = 0
        for (round, killAt) in [1, 2, 3, 1, 5].enumerated() {
            let child = Process()
            child.executableURL = binary
            child.arguments = ["memory", "offload-loop", "--db", db.path, "--dim", "\(dim)", "--batch", "\(batch)",
                               "--max-steps", "\(batch * 8)", "--recall-keys"]
            child.environment = ProcessInfo.processInfo.environment.merging(["WORLDGPT_CRASH_AT": "store.after-commit:\(killAt)"]) { $1 }
            child.standardOutput = FileHandle.nullDevice
            try child.run()
            child.waitUntilExit()
            XCTAssertEqual(child.terminationReason, .uncaughtSignal, "round \(round): the crash point did not fire")
            committedBatches += killAt

            // A copy of the database without its key files, taken before anything opens it: its recall keys can
            // only come from SQLite.
            let rebuiltDir = try TemporaryDirectory()
            defer { rebuiltDir.remove() }
            let copy = rebuiltDir.url.appendingPathComponent("copy.sqlite")
            for suffix in ["", "-wal", "-shm"] where FileManager.default.fileExists(atPath: db.path + suffix) {
                try FileManager.default.copyItem(atPath: db.path + suffix, toPath: copy.path + suffix)
            }
            XCTAssertTrue(FileManager.default.fileExists(atPath: db.path + "-recall.meta") || round == 0 && killAt == 1,
                          "round \(round): the key files exist (written after earlier commits)")

            let store = try EpisodeStore(url: db)
            let steps = try store.steps(StepReference(episode: "crash", index: nil)).map(\.record)
            XCTAssertEqual(steps.count, committedBatches * batch, "round \(round): every commit before the kill is there")
            let last = try XCTUnwrap(steps.last)
            let query = RecallQuery(state: last.input, action: last.action.embedding)
            let hits = try store.recall(query, k: 10)
            XCTAssertEqual(hits.first.map { "\($0.episode):\($0.index)" }, "crash:\(last.index)", "round \(round): the unkeyed last step is found")
            let rebuilt = try EpisodeStore(url: copy).recall(query, k: 10)
            XCTAssertEqual(hits.map { "\($0.episode):\($0.index)" }, rebuilt.map { "\($0.episode):\($0.index)" }, "round \(round)")
            XCTAssertEqual(hits.map(\.score), rebuilt.map(\.score), "round \(round)")
        }
    }
}
