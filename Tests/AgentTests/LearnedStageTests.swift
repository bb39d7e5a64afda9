// The runtime's learned stage: its tokens depend on the step's batch only — not on what its context cache saw
// before — so a resumed rollout reproduces them; and they equal the reflector's training forward within 1e-5.
import Agent
import ContextReflector
import Formats
import Memory
import Tensor
import TestSupport
import WorldModel
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

    /// A native model reading reflector tokens, a random reflector and knowledge with many repeated candidates: the run
    /// "killed" after three steps and resumed (new runtime, cold context cache) writes the uninterrupted run's trace
    /// bit for bit, and the cached tokens agree with uncached ones within float rounding. 20 episodes in lock-step, so
    /// retrieval, the filter and the learned stage run on two threads.
    func testRolloutWithTheContextCacheResumesBitForBit() throws {
        let stateWidth = 96, actionWidth = 40, steps = 6
        var rng = SeededGenerator(seed: 17)
        func vector(_ n: Int) -> Formats.Embedding { Formats.Embedding((0..<n).map { _ in rng.nextGaussian() }).normalized() }
        let actions = (0..<5).map { Action(text: "action \($0)", embedding: vector(actionWidth)) }
        // Knowledge: 100 transitions of one scenario, so every step retrieves from the same pool.
        let kb = (0..<100).map { i in
            Transition(state0: State([.image: vector(stateWidth), .audio: vector(stateWidth)]), action: actions[i % actions.count],
                       state1: State([.video: vector(stateWidth)]), provenance: Provenance(dataset: "kb", scenario: "s", sampleID: "k\(i)"))
        }
        let plans = (0..<20).map { e in
            EpisodePlan(name: "e\(e)", start: State([.image: vector(stateWidth), .audio: vector(stateWidth)]),
                        actions: (0..<steps).map { actions[($0 + e) % actions.count] },
                        provenances: (0..<steps).map { Provenance(dataset: "seq", scenario: "s", episode: "e\(e)", step: $0, sampleID: "e\(e)-\($0)") })
        }
        let model = try NativeWorldModel(config: NativeModelConfig(
            embeddingDimension: stateWidth, actionDimension: actionWidth, width: 32, depth: 1, heads: 2, reflectorWidth: 24, seed: 5))
        let builder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth, packing: .perTriplet)
        let reflector = try LearnedReflector(config: builder.reflectorConfig(hiddenWidth: 64, layers: 2, outputWidth: 24), seed: 6)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        func run(db: String, steps: Int?, cachesContext: Bool = true) throws -> [TraceLine] {
            let store = try EpisodeStore(url: dir.url.appendingPathComponent(db), dim: stateWidth)
            let runtime = try Runtime(
                model: model, textEncoder: nil, memory: WorkingMemory(store: store, window: 5, batchSize: 64),
                knowledge: try TransitionContextSource(transitions: kb),
                tokenizer: LearnedStage(reflector: reflector, stateWidth: stateWidth, actionWidth: actionWidth, cachesContext: cachesContext),
                options: RuntimeOptions(retrievalK: 12, filter: ReflectorFilterConfig(threshold: -1, budget: 6), targets: [.video], observe: false))
            var lines: [TraceLine] = []
            try RolloutDriver(runtime: runtime, store: store).run(plans, steps: steps) { lines.append($0) }
            return lines
        }
        let full = try run(db: "full.sqlite", steps: nil)
        XCTAssertEqual(full.count, plans.count * steps)
        XCTAssertTrue(full.allSatisfy { $0.kept.count == 6 }, "every step kept context")
        XCTAssertLessThan(Set(full.flatMap { $0.kept.map(\.id) }).count, full.count * 6 / 2, "candidates repeat across steps")
        _ = try run(db: "resumed.sqlite", steps: 3)
        let resumed = try run(db: "resumed.sqlite", steps: nil)
        XCTAssertEqual(resumed.map(\.predictionHead), full.map(\.predictionHead))
        XCTAssertEqual(resumed, full)
        // Without the cache (one BLAS call over each step's rows): the same retrieval, predictions within rounding.
        let uncached = try run(db: "uncached.sqlite", steps: nil, cachesContext: false)
        // (Open loop: retrieval scores follow the predictions, so they too agree only within rounding.)
        XCTAssertEqual(uncached.map { $0.kept.map(\.id) }, full.map { $0.kept.map(\.id) })
        for (a, b) in zip(uncached, full) {
            for (m, head) in a.predictionHead {
                for (x, y) in zip(head, b.predictionHead[m] ?? []) { XCTAssertEqual(x, y, accuracy: 1e-4, "\(a.episode):\(a.step) \(m)") }
            }
        }
    }
}
