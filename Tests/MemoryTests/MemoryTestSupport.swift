// Helpers for the Memory tests: random steps with fixed seeds, and a per-test store factory (memory and disk).
import Formats
import Foundation
import Memory
import TestSupport
import XCTest

/// A random unit embedding.
func randomEmbedding(_ dim: Int, _ rng: inout SeededGenerator) -> Embedding {
    Embedding((0..<dim).map { _ in rng.nextGaussian() }).normalized()
}

/// A step with image+audio input, a predicted image, an action embedding and one annotation.
func makeStep(episode: String, index: Int, dim: Int, rng: inout SeededGenerator, time: Double = 1_700_000_000, actionDim: Int? = nil) -> StepRecord {
    StepRecord(
        episode: episode, index: index,
        action: Action(text: "action \(index) of \(episode)", embedding: randomEmbedding(actionDim ?? dim, &rng)),
        input: State([.image: randomEmbedding(dim, &rng), .audio: randomEmbedding(dim, &rng)]),
        predicted: State([.image: randomEmbedding(dim, &rng)]),
        provenance: Provenance(dataset: "test", scenario: "kitchen", sampleID: "\(episode)-\(index)"),
        timestamp: Date(timeIntervalSince1970: time + Double(index)),
        annotations: [StepAnnotation(kind: "reflector.dropped", rank: 0, item: "kb:17", score: 0.12, reason: "below threshold 0.30")])
}

/// Runs `body` with an in-memory store and with an on-disk store (GRDB's pattern for storage tests).
func withStores(dim: Int, _ body: (EpisodeStore, String) throws -> Void) throws {
    try body(try EpisodeStore(inMemoryWithDim: dim), "memory")
    let dir = try TemporaryDirectory()
    defer { dir.remove() }
    try body(try EpisodeStore(url: dir.url.appendingPathComponent("store.sqlite"), dim: dim), "disk")
}

/// The `worldgpt` executable next to the test bundle (built by `swift build --build-tests`), or $WORLDGPT_BIN.
func worldgptBinary() throws -> URL {
    if let env = ProcessInfo.processInfo.environment["WORLDGPT_BIN"] { return URL(fileURLWithPath: env) }
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    if dir.lastPathComponent.hasSuffix(".xctest") { dir.deleteLastPathComponent() }
    for candidate in [dir, dir.deletingLastPathComponent(), Fixtures.projectRoot.appendingPathComponent(".build/debug")] {
        let url = candidate.appendingPathComponent("worldgpt")
        if FileManager.default.isExecutableFile(atPath: url.path) { return url }
    }
    throw Requirements.missing("the worldgpt executable is not built next to the tests (run `swift build --build-tests`)")
}


/// Runs `executable` as the unprivileged user `nobody` (uid/gid 65534, no groups) through util-linux's
/// `setpriv`, for checks that root would pass by ignoring file permissions. Returns the exit status and stderr.
func runUnprivileged(_ executable: URL, _ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let setpriv = "/usr/bin/setpriv"
    try Requirements.require(FileManager.default.isExecutableFile(atPath: setpriv), "\(setpriv) (util-linux) is missing")
    // A copy in a world-readable temporary folder: the checkout may sit under a folder `nobody` cannot enter.
    let copyDir = try TemporaryDirectory(prefix: "unprivileged")
    defer { copyDir.remove() }
    let copy = copyDir.url.appendingPathComponent(executable.lastPathComponent)
    try FileManager.default.copyItem(at: executable, to: copy)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copyDir.url.path)
    try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: copy.path)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: setpriv)
    process.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", copy.path] + arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
}
