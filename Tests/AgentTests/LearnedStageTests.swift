// The runtime's learned stage: its tokens depend on the step's batch only (so a resumed rollout reproduces them),
// and they equal the reflector's training forward within 1e-5.
import Agent
import ContextReflector
import Formats
import Tensor
import TestSupport
import XCTest

final class LearnedStageTests: XCTestCase {
    func testTokensDependOnTheBatchOnlyAndMatchTheTrainingForward() throws {
        var rng = SeededGenerator(seed: 12)
        let stateWidth = 6, actionWidth = 4
        func state() -> State { State([.image: Embedding((0..<stateWidth).map { _ in rng.nextGaussian() })]) }
        func action() -> Action { Action(text: "a", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() })) }
        let pool = (0..<8).map { i in
            ReflectorCandidate(id: "kb:\(i)", transition: Transition(state0: state(), action: action(), state1: state(),
                                                                     provenance: Provenance(dataset: "kb", sampleID: "\(i)")), score: 0.5)
        }
        let builder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth)
        let reflector = try LearnedReflector(config: builder.reflectorConfig(hiddenWidth: 8, layers: 2, heads: 2, outputWidth: 5), seed: 4)
        func batch(_ picks: [[Int]]) -> ([ReflectorQuery], [[ReflectorCandidate]]) {
            (picks.map { _ in ReflectorQuery(state: state(), action: action()) }, picks.map { $0.map { pool[$0] } })
        }
        let first = batch([[0, 1], [2]]), second = batch([[1, 3], [], [0, 2, 4]])
        let warm = LearnedStage(reflector: reflector, stateWidth: stateWidth, actionWidth: actionWidth)
        _ = try warm.tokens(for: first.0, kept: first.1)
        let afterFirst = try warm.tokens(for: second.0, kept: second.1)
        let fresh = try LearnedStage(reflector: reflector, stateWidth: stateWidth, actionWidth: actionWidth).tokens(for: second.0, kept: second.1)
        XCTAssertEqual(afterFirst.map { $0.values.map(\.bitPattern) }, fresh.map { $0.values.map(\.bitPattern) })
        let forward = try reflector.forward(try builder.batch(queries: second.0, context: second.1.map { $0.map(\.transition) })).data
        let ours = fresh.flatMap(\.values)
        XCTAssertEqual(ours.count, forward.count)
        XCTAssertLessThanOrEqual(zip(ours, forward).map { abs($0 - $1) }.max() ?? 1, 1e-5)
    }
}
