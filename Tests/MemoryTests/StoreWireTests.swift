// The pipe protocol of the PostgreSQL backend (StoreWire.swift) against an SQLite store: every Float bit survives the
// frames, errors come back typed, and a store served over pipes answers as the store itself does.
import Formats
import Foundation
import Memory
import TestSupport
import XCTest

final class StoreWireTests: XCTestCase {
    /// Serves `store` on one pipe pair in a thread; returns the client's ends and the thread's completion.
    private func serve(_ store: EpisodeStore) -> (toServer: Int32, fromServer: Int32, done: DispatchSemaphore) {
        var requests: [Int32] = [0, 0], replies: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&requests), 0)
        XCTAssertEqual(pipe(&replies), 0)
        let done = DispatchSemaphore(value: 0)
        let (input, output) = (requests[0], replies[1])
        nonisolated(unsafe) let served = store
        Thread.detachNewThread {
            try? StoreServer.serve(input: input, output: output) { _, _, _ in served }
            close(input); close(output)
            done.signal()
        }
        return (requests[1], replies[0], done)
    }

    private func call(_ request: StoreRequest, _ ends: (toServer: Int32, fromServer: Int32, done: DispatchSemaphore)) throws -> StoreReply {
        try StoreFrames.write(request, to: ends.toServer, peer: "test")
        return try XCTUnwrap(try StoreFrames.read(StoreReply.self, from: ends.fromServer, peer: "test"))
    }

    func testFramesKeepEveryFloatBit() throws {
        // Extremes, subnormals, negative zero and random values: JSON text must read back to the same bits.
        var rng = SeededGenerator(seed: 7)
        var values: [Float] = [0, -0.0, .leastNonzeroMagnitude, -.leastNonzeroMagnitude, .leastNormalMagnitude, .greatestFiniteMagnitude,
                               -.greatestFiniteMagnitude, 1, -1, .ulpOfOne, 1 + .ulpOfOne, 0.1, 1e-40, 3.4028233e38]
        while values.count < 4096 {
            let v = Float(bitPattern: UInt32.random(in: 0...UInt32.max, using: &rng))
            if v.isFinite { values.append(v) }
        }
        let step = StepRecord(episode: "wire", index: 0, action: Action(text: "a", embedding: Embedding(values)), input: State([.image: Embedding(values)]))
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        defer { close(fds[0]); close(fds[1]) }
        nonisolated(unsafe) let writeEnd = fds[1]
        Thread.detachNewThread { try? StoreFrames.write(StoreRequest.append(steps: [WireStep(step)], recalls: [[]], identities: nil), to: writeEnd, peer: "test") }
        guard case let .append(wire, _, _)? = try StoreFrames.read(StoreRequest.self, from: fds[0], peer: "test") else { return XCTFail("no append frame") }
        let back = try wire.map { try $0.record() }
        XCTAssertEqual(back, [step])
        XCTAssertEqual(back[0].input[.image]!.values.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertEqual(back[0].action.embedding!.values.map(\.bitPattern), values.map(\.bitPattern))
        XCTAssertEqual(back[0].timestamp, step.timestamp)
    }

    func testServedStoreAnswersAsTheStoreItself() throws {
        let dim = 16
        let store = try EpisodeStore(inMemoryWithDim: dim)
        let ends = serve(store)
        guard case let .opened(_, openedDim, _) = try call(.open(location: "x", dim: dim, readOnly: false), ends) else { return XCTFail("not opened") }
        XCTAssertEqual(openedDim, dim)
        var rng = SeededGenerator(seed: 3)
        let steps = (0..<6).map { makeStep(episode: $0 < 3 ? "a" : "b", index: $0 % 3, dim: dim, rng: &rng) }
        guard case let .appended(ids, actionDim) = try call(.append(steps: steps.map(WireStep.init), recalls: steps.map { _ in [] }, identities: nil), ends) else {
            return XCTFail("not appended")
        }
        XCTAssertEqual(ids, [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(actionDim, dim)
        guard case let .steps(back) = try call(.stepsAfter(id: 0, limit: 100), ends) else { return XCTFail("no steps") }
        XCTAssertEqual(try back.map { try $0.stored().record }, steps)
        let query = RecallQuery(state: steps[0].input, excludedStepIDs: [1])
        guard case let .recalled(hits) = try call(.recall(query: query, k: 3, weights: RecallWeights(), threads: 1), ends) else { return XCTFail("no recall") }
        XCTAssertEqual(hits, try store.recall(query, k: 3, weights: RecallWeights(), threads: 1))
        // A failed call answers a typed error, and the server goes on.
        guard case let .failed(error) = try call(.append(steps: [WireStep(steps[0])], recalls: [[]], identities: nil), ends) else { return XCTFail("duplicate accepted") }
        XCTAssertTrue("\(error)".contains("already stored"), "\(error)")
        guard case .count(6) = try call(.stepCount, ends) else { return XCTFail("count") }
        // The inspector's pages: episodes a page of one at a time, then the steps of `b` after index 0.
        guard case let .episodePage(first, cursor) = try call(.episodePage(after: nil, limit: 1, scenario: nil, namePrefix: nil, createdAfter: nil, createdBefore: nil), ends),
              case let .episodePage(second, end) = try call(.episodePage(after: cursor, limit: 1, scenario: nil, namePrefix: nil, createdAfter: nil, createdBefore: nil), ends)
        else { return XCTFail("no episode pages") }
        XCTAssertEqual((first + second).map(\.name), ["a", "b"])
        XCTAssertEqual((first + second).map(\.stepCount), [3, 3])
        XCTAssertEqual(cursor, first.first?.id)
        XCTAssertNil(end)
        guard case let .episodePage(prefixed, _) = try call(.episodePage(after: nil, limit: 10, scenario: nil, namePrefix: "b", createdAfter: nil, createdBefore: nil), ends)
        else { return XCTFail("no filtered page") }
        XCTAssertEqual(prefixed.map(\.name), ["b"])
        guard case let .stepPage(page, next) = try call(.stepPage(episode: "b", afterIndex: 0, limit: 5), ends) else { return XCTFail("no step page") }
        XCTAssertEqual(try page.map { try $0.stored().record }, Array(steps[4...5]))
        XCTAssertNil(next)
        guard case let .failed(missing) = try call(.stepPage(episode: "nobody", afterIndex: nil, limit: 5), ends) else { return XCTFail("a missing episode paged") }
        XCTAssertTrue("\(missing)".contains("nobody"), "\(missing)")
        close(ends.toServer)
        XCTAssertEqual(ends.done.wait(timeout: .now() + 10), .success, "the server did not end at end of input")
        close(ends.fromServer)
    }

    func testPostgresLocationsAreRecognisedAndRedacted() {
        XCTAssertTrue(EpisodeStores.isPostgres("postgresql://u@h/db"))
        XCTAssertTrue(EpisodeStores.isPostgres("postgres://u@h/db"))
        XCTAssertFalse(EpisodeStores.isPostgres("memory.sqlite"))
        XCTAssertEqual(EpisodeStores.redacted("postgresql://u:secret@h:5432/db"), "postgresql://u:***@h:5432/db")
        XCTAssertEqual(EpisodeStores.redacted("postgresql://u@h/db"), "postgresql://u@h/db")
    }

    func testMissingHelperBinaryIsAnActionableError() {
        setenv("WORLDGPT_PG_BIN", "/nonexistent/worldgpt-pg", 1)
        defer { unsetenv("WORLDGPT_PG_BIN") }
        XCTAssertThrowsError(try EpisodeStores.open("postgresql://u@127.0.0.1:1/db", dim: 4)) { error in
            XCTAssertTrue("\(error)".contains("swift build --product worldgpt-pg"), "\(error)")
        }
    }
}
