// Runtime tests: memory plumbing, retrieval + leakage guard, offload, and resume giving the same trace.
import Agent
import ContextReflector
import Encoders
import Formats
import Memory
import TestSupport
import WorldModel
import XCTest

/// A test model whose prediction reveals what it was given: with memory, the state0 of the most recent
/// recalled step; with context, the state1 of the best kept item; else a copy of the input.
struct RevealingModel: WorldModel {
    func predict(_ input: PredictionInput) throws -> State {
        if let first = input.context.first { return first.transition.state1 }
        if let recent = input.memory.first { return recent.state0 }
        return input.state
    }
}

/// Fixed one-hot action embeddings by text, so tests need no encoder weights.
struct TableEmbedder: Embedder {
    var dim: Int { 4 }
    func embed(_ texts: [String]) throws -> [[Float]] {
        texts.map { text in (0..<4).map { Float(($0 == text.count % 4) ? 1 : 0) } }
    }
}

/// Forwards to a source without allowing concurrent queries: the runtime then retrieves and filters on one thread.
final class OneThreadSource: ContextSource {
    let inner: any ContextSource
    init(_ inner: any ContextSource) { self.inner = inner }
    func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate] { try inner.candidates(for: query, k: k) }
    var candidateIDsAreStable: Bool { true }
}

/// A source that answers concurrent queries and fails for the episodes it names (by the query's provenance).
final class FailingSource: ContextSource {
    let inner: any ContextSource
    let failing: Set<String>
    init(_ inner: any ContextSource, failing: Set<String>) { (self.inner, self.failing) = (inner, failing) }
    func candidates(for query: ReflectorQuery, k: Int) throws -> [ReflectorCandidate] {
        if let episode = query.provenance?.episode, failing.contains(episode) {
            throw ReflectorError.input(name: "query", problem: "refused for \(episode)")
        }
        return try inner.candidates(for: query, k: k)
    }
    var supportsConcurrentQueries: Bool { true }
}

final class RuntimeTests: XCTestCase {
    func unit(_ values: [Float]) -> State { State([.video: Embedding(values).normalized()]) }

    func plan(_ name: String, steps: Int, seed: UInt64) -> EpisodePlan {
        var rng = SeededGenerator(seed: seed)
        let states = (0...steps).map { _ in unit((0..<4).map { _ in rng.nextGaussian() }) }
        return EpisodePlan(name: name, start: states[0], actions: (0..<steps).map { Action(text: "act \($0)") },
                           truths: Array(states[1...]),
                           provenances: (0..<steps).map { Provenance(dataset: "t", scenario: "s", episode: name, step: $0, sampleID: "\(name)-\($0)") })
    }

    func testMemoryGivesTheModelTheEpisodesRecentStepsMostRecentFirst() throws {
        var options = RuntimeOptions(retrieval: false, reflector: false, history: 2)
        options.observe = true
        let runtime = try Runtime(model: RevealingModel(), textEncoder: TableEmbedder(), memory: nil, knowledge: nil, tokenizer: nil, options: options)
        let p = plan("e", steps: 4, seed: 1)
        let outcomes = try RolloutDriver(runtime: runtime, store: nil).run([p])
        XCTAssertEqual(outcomes.map { $0.memory.count }, [0, 1, 2, 2])
        XCTAssertEqual(outcomes[3].memory.map(\.stepsAgo), [1, 2])
        // Step 3's most recent memory is step 2, whose input state was the observed state after step 1.
        XCTAssertEqual(outcomes[3].record.predicted, p.truths[1]!)
        XCTAssertEqual(outcomes[3].record.annotations.filter { $0.kind == "recalled" }.map(\.item), ["e:2", "e:1"])
    }

    func testRetrievalKeepsSameScenarioContextAndNeverTheQuerysOwnSample() throws {
        let p = plan("q", steps: 1, seed: 2)
        // The knowledge holds the query's own transition (must be dropped) and one from another scenario.
        let actionEmbedding = Embedding(try TableEmbedder().embed(["act 0"])[0])
        let own = Transition(state0: p.start, action: Action(text: "act 0", embedding: actionEmbedding), state1: p.truths[0]!, provenance: p.provenances[0]!)
        var other = own
        other.provenance = Provenance(dataset: "t", scenario: "elsewhere", sampleID: "x")
        var near = own
        near.state1 = unit([1, 0, 0, 0])
        // A similar (not identical) situation: identical state and action would count as the query's own copy.
        near.state0 = unit(p.start[.video]!.values.enumerated().map { $0.offset == 0 ? $0.element + 0.3 : $0.element })
        near.provenance = Provenance(dataset: "t", scenario: "s", sampleID: "near")
        let knowledge = try TransitionContextSource(transitions: [own, other, near])
        let runtime = try Runtime(model: RevealingModel(), textEncoder: TableEmbedder(), memory: nil, knowledge: knowledge, tokenizer: nil,
                                  options: RuntimeOptions(memory: false))
        let outcome = try runtime.step([StepRequest(episode: "q", index: 0, state: p.start, action: Action(text: "act 0"),
                                                    observed: p.truths[0], provenance: p.provenances[0])])[0]
        let filter = try XCTUnwrap(outcome.filter)
        XCTAssertEqual(filter.kept.map(\.id), ["kb:2"])
        XCTAssertEqual(filter.decisions.first { $0.candidateID == "kb:0" }?.verdict, .leakage)
        XCTAssertFalse(filter.decisions.contains { $0.candidateID == "kb:1" }, "other scenario is never retrieved")
        XCTAssertEqual(outcome.record.predicted, near.state1)
    }

    func testResumedRolloutWritesTheSameTraceAsAnUninterruptedOne() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let plans = [plan("a", steps: 6, seed: 3), plan("b", steps: 6, seed: 4)]
        func run(db: String, steps: Int?) throws -> [String] {
            let store = try EpisodeStore(url: dir.url.appendingPathComponent(db), dim: 4)
            let runtime = try Runtime(model: RevealingModel(), textEncoder: TableEmbedder(), memory: WorkingMemory(store: store, window: 5, batchSize: 3),
                                      knowledge: nil, tokenizer: nil, options: RuntimeOptions(retrieval: false, history: 3))
            var lines: [String] = []
            try RolloutDriver(runtime: runtime, store: store).run(plans, steps: steps) { lines.append($0.json()) }
            return lines
        }
        let full = try run(db: "full.sqlite", steps: nil)
        let partial = try run(db: "resumed.sqlite", steps: 3)  // "killed" after three steps
        let resumed = try run(db: "resumed.sqlite", steps: nil)
        XCTAssertEqual(full.count, 12)
        XCTAssertEqual(partial, Array(full.prefix(6)))
        XCTAssertEqual(resumed, full)
        let store = try EpisodeStore(url: dir.url.appendingPathComponent("resumed.sqlite"), dim: 4)
        XCTAssertEqual(try store.stepCount(), 12, "resumed steps are not stored twice")
    }

    func testBackgroundOffloadCommitsEachStepInOrderAndReportsAFailedCommitAtTheNextCall() throws {
        let store = try EpisodeStore(inMemoryWithDim: 4)
        let runtime = try Runtime(model: RevealingModel(), textEncoder: TableEmbedder(), memory: WorkingMemory(store: store, window: 5, batchSize: 256),
                                  knowledge: nil, tokenizer: nil, options: RuntimeOptions(retrieval: false, history: 2))
        let plans = [plan("a", steps: 3, seed: 5), plan("b", steps: 3, seed: 6)]
        let outcomes = try RolloutDriver(runtime: runtime, store: store).run(plans)
        // Everything is committed when run returns, in lock-step order (one transaction per step).
        let stored = try ["a", "b"].flatMap { try store.steps(StepReference(episode: $0, index: nil)) }.sorted { $0.id < $1.id }
            .map { "\($0.record.episode):\($0.record.index)" }
        XCTAssertEqual(stored, ["a:0", "b:0", "a:1", "b:1", "a:2", "b:2"])
        XCTAssertEqual(outcomes.count, 6)
        XCTAssertGreaterThan(runtime.timings.offloadBackground, 0)
        // A step the store refuses (already stored) fails its commit in the background: the error comes back from
        // the next flush, and every later step is refused rather than written after a gap.
        let request = StepRequest(episode: "a", index: 1, state: plans[0].start, action: Action(text: "act 1"))
        XCTAssertNoThrow(try runtime.step([request]))
        XCTAssertThrowsError(try runtime.flush()) { XCTAssertTrue("\($0)".contains("a:1 is already stored"), "\($0)") }
        XCTAssertThrowsError(try runtime.step([StepRequest(episode: "c", index: 0, state: plans[0].start, action: Action(text: "act 0"))]))
        XCTAssertEqual(try store.stepCount(), 6)
    }

    func testCandidateCacheLeavesTheTraceUnchanged() throws {
        let plans = [plan("a", steps: 4, seed: 7), plan("b", steps: 4, seed: 8)]
        let kb = try knowledge(for: plans, seed: 9)
        func trace(cache: Bool) throws -> [String] {
            let runtime = try Runtime(model: RevealingModel(), textEncoder: TableEmbedder(), memory: nil, knowledge: try TransitionContextSource(transitions: kb),
                                      tokenizer: nil, options: RuntimeOptions(history: 2, filter: ReflectorFilterConfig(threshold: -1, budget: 2), cacheCandidates: cache))
            var lines: [String] = []
            try RolloutDriver(runtime: runtime, store: nil).run(plans) { lines.append($0.json()) }
            return lines
        }
        let cached = try trace(cache: true)
        XCTAssertEqual(cached, try trace(cache: false))
        XCTAssertEqual(cached.count, 8)
        XCTAssertTrue(cached.contains { $0.contains("\"kept\":[{") }, "some context was kept")
    }

    /// Knowledge for `plans`: each plan's own transitions (the leakage guard drops a query's own and later steps) and
    /// noisy copies of them.
    func knowledge(for plans: [EpisodePlan], seed: UInt64) throws -> [Transition] {
        var rng = SeededGenerator(seed: seed)
        var kb: [Transition] = []
        for p in plans {
            let actions = try TableEmbedder().embed(p.actions.map(\.text)).map { Embedding($0) }
            var s0 = p.start
            for t in 0..<p.count {
                let action = Action(text: p.actions[t].text, embedding: actions[t])
                kb.append(Transition(state0: s0, action: action, state1: p.truths[t]!, provenance: p.provenances[t]!))
                let noisy = unit(s0[.video]!.values.map { $0 + 0.3 * rng.nextGaussian() })
                kb.append(Transition(state0: noisy, action: action, state1: unit((0..<4).map { _ in rng.nextGaussian() }),
                                     provenance: Provenance(dataset: "kb", scenario: "s", sampleID: "n\(kb.count)")))
                s0 = p.truths[t]!
            }
        }
        return kb
    }

    /// 20 episodes in lock-step: retrieval and the filter run on two threads (a source that allows concurrent queries)
    /// and give the one-thread trace exactly; a failure is reported for the first failing query in episode order.
    func testTwoThreadRetrievalGivesTheOneThreadTrace() throws {
        let plans = (0..<20).map { plan("p\($0)", steps: 3, seed: 100 + UInt64($0)) }
        let source = try TransitionContextSource(transitions: try knowledge(for: plans, seed: 5))
        XCTAssertTrue(source.supportsConcurrentQueries)
        XCTAssertFalse(OneThreadSource(source).supportsConcurrentQueries)
        func trace(_ knowledge: any ContextSource) throws -> [String] {
            let runtime = try Runtime(model: RevealingModel(), textEncoder: TableEmbedder(), memory: nil, knowledge: knowledge, tokenizer: nil,
                                      options: RuntimeOptions(history: 2, filter: ReflectorFilterConfig(threshold: -1, budget: 2)))
            var lines: [String] = []
            try RolloutDriver(runtime: runtime, store: nil).run(plans) { lines.append($0.json()) }
            return lines
        }
        let two = try trace(source)
        XCTAssertEqual(two.count, 60)
        XCTAssertEqual(two, try trace(OneThreadSource(source)))
        XCTAssertGreaterThan(two.filter { $0.contains("\"kept\":[{") }.count, 40, "context was kept at most steps")
        // Failures in both halves: the lower half's (episode order) is the one reported.
        XCTAssertThrowsError(try trace(FailingSource(source, failing: ["p3", "p15"]))) {
            XCTAssertTrue("\($0)".contains("refused for p3"), "\($0)")
        }
        XCTAssertThrowsError(try trace(FailingSource(source, failing: ["p15"]))) {
            XCTAssertTrue("\($0)".contains("refused for p15"), "\($0)")
        }
    }
}
