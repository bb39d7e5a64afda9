// The learned reflector's inference path against its training forward (≤ 1e-5), against the recorded PyTorch
// output, and the direct packer against `ReflectorInputBuilder` (same tokens once padding is dropped).
@testable import ContextReflector
import Foundation
import Formats
import Tensor
import TestSupport
import XCTest

final class ReflectorInferenceTests: XCTestCase {
    func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
        XCTAssertEqual(a.count, b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func testInferenceEqualsTheTrainingForwardWithPaddingAndWithoutCrossAttentionLayers() throws {
        var rng = SeededGenerator(seed: 17)
        for (every, layers) in [(1, 2), (2, 3)] {  // [cross, cross] and [cross, self-only, cross]
            let config = LearnedReflectorConfig(
                inputWidth: 12, contextWidth: 6, encoderWidth: 10, hiddenWidth: 8, outputWidth: 5, queryTokenCount: 3,
                layerCount: layers, crossAttentionEvery: every, heads: 2, intermediateWidth: 16)
            let reflector = try LearnedReflector(config: config, seed: 3)
            randomize(reflector, seed: 9)
            let b = 5, l = 9
            // Rows: all real, none real, a prefix, holes in the middle, all real.
            let mask: [Float] = [
                [1, 1, 1, 1, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0, 0, 0, 0],
                [1, 0, 1, 1, 0, 0, 1, 0, 1], [1, 1, 1, 1, 1, 1, 1, 1, 1],
            ].flatMap { $0 }
            let input = ReflectorInput(
                state0: random([b, 7], &rng), action: random([b, 5], &rng), context: random([b, l, 6], &rng),
                contextMask: Tensor(shape: [b, l], data: mask))
            let trained = try reflector.forward(input)
            let inferred = try reflector.infer(input)
            XCTAssertEqual(inferred.shape, trained.shape)
            XCTAssertLessThanOrEqual(maxDifference(inferred.data, trained.data), 1e-5, "cross every \(every)")
            // The tokens differ between rows (the check is not comparing constants).
            XCTAssertGreaterThan(maxDifference(Array(inferred.data[0..<15]), Array(inferred.data[15..<30])), 1e-2)
            // Without a mask every token is real.
            let unmasked = ReflectorInput(state0: input.state0, action: input.action, context: input.context)
            XCTAssertLessThanOrEqual(maxDifference(try reflector.infer(unmasked).data, try reflector.forward(unmasked).data), 1e-5)
        }
    }

    func testInferenceMatchesTheRecordedPyTorchOutput() throws {
        let reflector = try LearnedReflector.load(contentsOf: Fixtures.url("reflector/reflector.pt"))
        let arrays = Dictionary(uniqueKeysWithValues: try NPZ.read(Fixtures.url("reflector/reflector_io.npz")).map { ($0.name, $0.tensor) })
        func tensor(_ name: String) throws -> Tensor {
            let t = try XCTUnwrap(arrays[name], name)
            return Tensor(shape: t.shape, data: t.floatValues())
        }
        for (context, output) in [("context", "output"), ("context_k2", "output_k2")] {
            let input = ReflectorInput(state0: try tensor("state0"), action: try tensor("action"), context: try tensor(context))
            let inferred = try reflector.infer(input)
            XCTAssertLessThanOrEqual(maxDifference(inferred.data, try tensor(output).data), 2e-5, output)
            XCTAssertLessThanOrEqual(maxDifference(inferred.data, try reflector.forward(input).data), 1e-5, output)
        }
    }

    func testDirectPackingGivesTheBuildersTokens() throws {
        var rng = SeededGenerator(seed: 4)
        let stateWidth = 6, actionWidth = 4
        func state(_ modalities: Int) -> State {
            var s = State()
            for m in Modality.allCases.prefix(modalities) { s[m] = Embedding((0..<stateWidth).map { _ in rng.nextGaussian() }) }
            return s
        }
        func transition() -> Transition {
            Transition(state0: state(1 + Int(rng.next() % 4)), action: Action(text: "t", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() })),
                       state1: state(1 + Int(rng.next() % 4)), provenance: Provenance(dataset: "kb", sampleID: "x"))
        }
        let queries = (0..<4).map { _ in
            ReflectorQuery(state: state(1 + Int(rng.next() % 4)), action: Action(text: "q", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() })))
        }
        let context = [[transition(), transition()], [], [transition()], [transition(), transition(), transition()]]
        // Per triplet, too: the direct packer, the builder, the forward and the cached inference agree.
        let tripletBuilder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth, packing: .perTriplet)
        let tripletReflector = try LearnedReflector(config: tripletBuilder.reflectorConfig(hiddenWidth: 8, layers: 2, heads: 2, outputWidth: 5), seed: 1)
        randomize(tripletReflector, seed: 3)
        let tripletPacked = try ReflectorInferenceBatch(
            queries: queries, context: context, stateWidth: stateWidth, actionWidth: actionWidth, packing: .perTriplet)
        XCTAssertEqual(tripletPacked.contextStart, [0, 2, 2, 3, 6])
        let tripletBuilt = try tripletBuilder.batch(queries: queries, context: context)
        XCTAssertEqual(tripletPacked.context, ReflectorInferenceBatch(tripletBuilt).context)
        let tripletForward = try tripletReflector.forward(tripletBuilt).data
        XCTAssertLessThanOrEqual(maxDifference(try tripletReflector.infer(tripletPacked), tripletForward), 1e-5)
        let kept = context.enumerated().map { r, list in list.enumerated().map { ReflectorCandidate(id: "kb:\(r)-\($0.offset)", transition: $0.element, score: 1) } }
        let cache = ReflectorContextCache()
        for _ in 0..<2 {  // the second call reads every candidate from the cache
            let cached = try tripletReflector.infer(queries: queries, kept: kept, stateWidth: stateWidth, actionWidth: actionWidth, cache: cache)
            XCTAssertLessThanOrEqual(maxDifference(cached, tripletForward), 1e-5)
        }
        let builder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth)
        let reflector = try LearnedReflector(config: builder.reflectorConfig(hiddenWidth: 8, layers: 2, heads: 2, outputWidth: 5), seed: 1)
        randomize(reflector, seed: 2)
        let packed = try ReflectorInferenceBatch(queries: queries, context: context, stateWidth: stateWidth, actionWidth: actionWidth)
        XCTAssertEqual(packed.contextStart, [0, 6, 6, 9, 18])
        let built = try builder.batch(queries: queries, context: context)
        let fromBuilder = ReflectorInferenceBatch(built)
        XCTAssertEqual(packed.joined, fromBuilder.joined)
        XCTAssertEqual(packed.context, fromBuilder.context)
        XCTAssertEqual(packed.contextStart, fromBuilder.contextStart)
        XCTAssertLessThanOrEqual(maxDifference(try reflector.infer(packed), try reflector.forward(built).data), 1e-5)
        // The builder's errors, by field.
        var bad = queries
        bad[1].action.embedding = nil
        XCTAssertThrowsError(try ReflectorInferenceBatch(queries: bad, context: context, stateWidth: stateWidth, actionWidth: actionWidth)) {
            XCTAssertEqual("\($0)", "\(ReflectorError.input(name: "query action", problem: "missing"))")
        }
        var wide = context
        wide[2][0].state1 = State([.image: Embedding([1, 2, 3])])
        XCTAssertThrowsError(try ReflectorInferenceBatch(queries: queries, context: wide, stateWidth: stateWidth, actionWidth: actionWidth)) {
            XCTAssertEqual("\($0)", "\(ReflectorError.input(name: "context state1", problem: "width 3, expected 6"))")
        }
        // A non-finite value is refused by name.
        var nan = packed
        nan.context[7] = .nan
        XCTAssertThrowsError(try reflector.infer(nan)) { XCTAssertTrue("\($0)".contains("context"), "\($0)") }
    }

    func testContextCacheGivesTheUncachedTokensAcrossStepsReusedIdsAndWeightChanges() throws {
        var rng = SeededGenerator(seed: 23)
        let stateWidth = 6, actionWidth = 4
        func state() -> State {
            var s = State()
            for m in Modality.allCases.prefix(1 + Int(rng.next() % 4)) { s[m] = Embedding((0..<stateWidth).map { _ in rng.nextGaussian() }) }
            return s
        }
        func candidate(_ id: Int) -> ReflectorCandidate {
            ReflectorCandidate(
                id: "kb:\(id)",
                transition: Transition(state0: state(), action: Action(text: "t\(id)", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() })),
                                       state1: state(), provenance: Provenance(dataset: "kb", sampleID: "s\(id)")),
                score: 0.5)
        }
        let pool = (0..<10).map(candidate)
        let builder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth)
        let reflector = try LearnedReflector(config: builder.reflectorConfig(hiddenWidth: 8, layers: 2, heads: 2, outputWidth: 5), seed: 1)
        randomize(reflector, seed: 2)
        let cache = ReflectorContextCache(capacity: 8)
        func check(_ kept: [[ReflectorCandidate]], _ label: String) throws {
            let queries = kept.map { _ in ReflectorQuery(state: state(), action: Action(text: "q", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() }))) }
            let cached = try reflector.infer(queries: queries, kept: kept, stateWidth: stateWidth, actionWidth: actionWidth, cache: cache)
            let built = try builder.batch(queries: queries, context: kept.map { $0.map(\.transition) })
            XCTAssertLessThanOrEqual(maxDifference(cached, try reflector.forward(built).data), 1e-5, label)
        }
        // Steps that keep overlapping candidates (hits), one row with nothing kept, and more than the capacity.
        for step in 0..<6 {
            let kept = (0..<4).map { row in (0..<(row == 2 ? 0 : 1 + Int(rng.next() % 3))).map { _ in pool[Int(rng.next() % UInt64(3 + step))] } }
            try check(kept, "step \(step)")
        }
        XCTAssertGreaterThan(cache.count, 0)
        // An id that now names another transition is projected again; one id for two transitions in one batch
        // (two sources mixed up) is computed without the cache.
        var moved = candidate(99)
        moved.id = pool[0].id
        try check([[moved, pool[1]], [pool[3]]], "reused id")
        try check([[moved, pool[1]], [pool[0]]], "one id, two transitions")
        try check([[pool[0]], [pool[1]]], "the old transition again")
        try check([[], []], "nothing kept anywhere")
        // New weights (a training step, a load) invalidate every remembered projection.
        randomize(reflector, seed: 3)
        try check([[pool[0], pool[1]], [pool[2]]], "new weights")
    }

    /// Attached to one source with stable ids, the cache trusts ids; a second source ends the trust, and an id that
    /// then names another transition is projected again.
    func testContextCacheTrustsStableIDsOfOneSourceOnly() throws {
        var rng = SeededGenerator(seed: 29)
        let stateWidth = 6, actionWidth = 4
        func state() -> State { State([.image: Embedding((0..<stateWidth).map { _ in rng.nextGaussian() })]) }
        func transition(_ i: Int) -> Transition {
            Transition(state0: state(), action: Action(text: "t\(i)", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() })),
                       state1: state(), provenance: Provenance(dataset: "kb", scenario: "s", sampleID: "s\(i)"))
        }
        let first = try TransitionContextSource(transitions: (0..<4).map(transition))
        let second = try TransitionContextSource(transitions: (0..<4).map(transition))  // the same ids, other transitions
        XCTAssertTrue(first.candidateIDsAreStable)
        let builder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth)
        let reflector = try LearnedReflector(config: builder.reflectorConfig(hiddenWidth: 8, layers: 2, heads: 2, outputWidth: 5), seed: 1)
        randomize(reflector, seed: 2)
        let query = ReflectorQuery(state: state(), action: Action(text: "q", embedding: Embedding((0..<actionWidth).map { _ in rng.nextGaussian() })))
        func candidates(_ source: TransitionContextSource) -> [ReflectorCandidate] {
            source.transitions.indices.map { ReflectorCandidate(id: "kb:\($0)", transition: source.transitions[$0], score: 1) }
        }
        func tokens(_ cache: ReflectorContextCache, _ kept: [ReflectorCandidate]) throws -> [Float] {
            try reflector.infer(queries: [query], kept: [kept], stateWidth: stateWidth, actionWidth: actionWidth, cache: cache)
        }
        func uncached(_ kept: [ReflectorCandidate]) throws -> [Float] {
            try reflector.infer(ReflectorInferenceBatch(queries: [query], context: [kept.map(\.transition)], stateWidth: stateWidth,
                                                        actionWidth: actionWidth))
        }
        let cache = ReflectorContextCache()
        cache.attach(to: first)
        XCTAssertLessThanOrEqual(maxDifference(try tokens(cache, candidates(first)), try uncached(candidates(first))), 1e-5)
        // Trusted: the remembered projection answers for the id (this is why only one source may be trusted).
        XCTAssertEqual(try tokens(cache, candidates(second)), try tokens(cache, candidates(first)))
        // A second source: ids are checked again, so the second source's transitions get their own projections.
        cache.attach(to: second)
        XCTAssertLessThanOrEqual(maxDifference(try tokens(cache, candidates(second)), try uncached(candidates(second))), 1e-5)
        XCTAssertGreaterThan(maxDifference(try uncached(candidates(second)), try uncached(candidates(first))), 1e-3)
        cache.attach(to: first)
        XCTAssertLessThanOrEqual(maxDifference(try tokens(cache, candidates(first)), try uncached(candidates(first))), 1e-5)
    }

    /// On two threads (the halves of a batch of ≥ 16 queries, and the projection of ≥ 64 new context rows): the
    /// projected rows are the one-thread rows bit for bit (each row is computed alone), the tokens agree with one
    /// thread within float rounding and with the training forward within 1e-5, and a second run repeats them exactly.
    func testTwoThreadInferenceProjectsTheSameRowsAndRepeatsItself() throws {
        var rng = SeededGenerator(seed: 41)
        let stateWidth = 12, actionWidth = 6
        func vector(_ n: Int) -> Formats.Embedding { Formats.Embedding((0..<n).map { _ in rng.nextGaussian() }) }
        var pool: [ReflectorCandidate] = []
        for i in 0..<90 {
            let state0 = State([.image: vector(stateWidth), .audio: vector(stateWidth)]), action = Action(text: "t\(i)", embedding: vector(actionWidth))
            let transition = Transition(state0: state0, action: action, state1: State([.video: vector(stateWidth)]),
                                        provenance: Provenance(dataset: "kb", sampleID: "s\(i)"))
            pool.append(ReflectorCandidate(id: "kb:\(i)", transition: transition, score: 0.5))
        }
        let queries = (0..<21).map { _ in ReflectorQuery(state: State([.image: vector(stateWidth)]), action: Action(text: "q", embedding: vector(actionWidth))) }
        // 21 rows (an odd split), 0–7 kept each (overlapping windows of the pool), 72 distinct candidates: both the
        // projection and the core split.
        let kept = (0..<21).map { r in (0..<(r == 5 ? 0 : 2 + r % 6)).map { pool[(r * 4 + $0) % pool.count] } }
        let builder = ReflectorInputBuilder(stateWidth: stateWidth, actionWidth: actionWidth, packing: .perTriplet)
        let reflector = try LearnedReflector(config: builder.reflectorConfig(hiddenWidth: 16, layers: 2, heads: 2, outputWidth: 5), seed: 3)
        randomize(reflector, seed: 4)
        let distinct = Set(kept.joined().map(\.id)).count
        XCTAssertGreaterThanOrEqual(distinct, 64, "enough new rows for the projection to split")
        func run(threads: Int) throws -> (tokens: [Float], rows: [Float]) {
            let cache = ReflectorContextCache()
            let tokens = try BLAS.withThreadCount(1) {
                try reflector.infer(queries: queries, kept: kept, stateWidth: stateWidth, actionWidth: actionWidth, cache: cache, threads: threads)
            }
            return (tokens, cache.projected)
        }
        let one = try run(threads: 1), two = try run(threads: 2), again = try run(threads: 2)
        XCTAssertEqual(two.rows.count, distinct * reflector.projectedContextWidth)
        XCTAssertEqual(two.rows.map(\.bitPattern), one.rows.map(\.bitPattern))
        XCTAssertEqual(again.tokens.map(\.bitPattern), two.tokens.map(\.bitPattern))
        XCTAssertLessThanOrEqual(maxDifference(two.tokens, one.tokens), 1e-5)
        let forward = try reflector.forward(try builder.batch(queries: queries, context: kept.map { $0.map(\.transition) })).data
        XCTAssertLessThanOrEqual(maxDifference(two.tokens, forward), 1e-5)
        // Each half's rows are its own queries': reversing the batch reverses the rows.
        let reversed = try BLAS.withThreadCount(1) {
            try reflector.infer(queries: queries.reversed(), kept: kept.reversed(), stateWidth: stateWidth, actionWidth: actionWidth,
                                cache: ReflectorContextCache(), threads: 2)
        }
        let width = reflector.config.queryTokenCount * reflector.config.outputWidth
        let back = (0..<21).reversed().flatMap { Array(reversed[($0 * width)..<(($0 + 1) * width)]) }
        XCTAssertLessThanOrEqual(maxDifference(back, one.tokens), 1e-5)
    }
}
