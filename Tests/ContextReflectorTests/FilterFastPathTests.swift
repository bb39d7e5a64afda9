// The filter's fast path (raw buffers, fused norms) against its naive twin (the original code on Formats' helpers):
// the same decisions, reasons, cosines and kept order on random candidate sets with every rule in play.
@testable import ContextReflector
import Foundation
import Formats
import TestSupport
import XCTest

final class FilterFastPathTests: XCTestCase {
    /// A random state with 1–4 modalities of width `dim`; `base` (when given) is copied with noise `noise`.
    private func state(_ rng: inout SeededGenerator, dim: Int, base: State? = nil, noise: Float = 1) -> State {
        if let base {
            var s = base
            for (m, e) in base.embeddings { s[m] = Embedding(e.values.map { $0 + noise * rng.nextGaussian() }) }
            return s
        }
        var s = State()
        let count = 1 + Int(rng.next() % 4)
        for m in Modality.allCases.prefix(count) { s[m] = Embedding((0..<dim).map { _ in rng.nextGaussian() }) }
        return s
    }

    /// A candidate set that exercises every rule: copies and near-copies of the query and of each other, leaks by
    /// provenance, non-finite values, zero vectors, missing or mis-sized action embeddings, tied and NaN scores.
    private func candidates(for query: ReflectorQuery, _ rng: inout SeededGenerator, count: Int) -> [ReflectorCandidate] {
        var out: [ReflectorCandidate] = []
        for i in 0..<count {
            let kind = rng.next() % 10
            var s0 = state(&rng, dim: 12), s1 = state(&rng, dim: 12)
            var action = Action(text: "a\(i)", embedding: Embedding((0..<6).map { _ in rng.nextGaussian() }))
            var provenance = Provenance(dataset: "kb", scenario: "s", episode: "e\(i % 3)", step: i % 5, sampleID: "k\(i)")
            switch kind {
            case 0:  // the query's own situation under another id (identical-copy leak), or a near copy of it
                s0 = rng.next() % 2 == 0 ? query.state : state(&rng, dim: 12, base: query.state, noise: 1e-3)
                action = query.action
            case 1:  // a near duplicate of an earlier candidate
                if let earlier = out.last {
                    s0 = state(&rng, dim: 12, base: earlier.transition.state0, noise: 0.01)
                    s1 = earlier.transition.state1
                    action = earlier.transition.action
                }
            case 2:  // provenance leak (own sample or a later step of the own episode)
                let later = Provenance(dataset: "train", episode: "ep", step: 4, sampleID: "x\(i)")
                provenance = rng.next() % 2 == 0 ? query.provenance ?? later : later
            case 3:  // non-finite value somewhere
                var e = s1.embeddings.first!.value
                e.values[Int(rng.next() % 12)] = rng.next() % 2 == 0 ? .nan : -.infinity
                s1[s1.embeddings.first!.key] = e
            case 4:  // a zero part, or no action embedding, or an action of another width
                switch rng.next() % 3 {
                case 0: s1 = State([.text: Embedding([Float](repeating: 0, count: 12))])
                case 1: action.embedding = nil
                default: action.embedding = Embedding([1, 2, 3])
                }
            default: break
            }
            let score: Double = kind == 5 && rng.next() % 3 == 0 ? .nan : Double(rng.next() % 8) / 8  // ties on purpose
            out.append(ReflectorCandidate(id: "kb:\(i)", transition: Transition(state0: s0, action: action, state1: s1, provenance: provenance), score: score))
        }
        return out
    }

    /// Everything a result says, as text with exact bit patterns (NaN scores compare equal to themselves here).
    private func summary(_ r: FilterResult) -> [String] {
        ["kept " + r.kept.map { "\($0.id)@\($0.score.bitPattern)" }.joined(separator: ",")]
            + r.decisions.map { d in
                "\(d.candidateID) \(d.score.bitPattern) \(d.verdict) \(d.rank ?? -1) \(d.relatedID ?? "-") \(d.cosine?.bitPattern ?? 0) \(d.reason)"
            }
    }

    func testFastFilterDecidesExactlyAsTheNaiveTwin() throws {
        var rng = SeededGenerator(seed: 91)
        let configs = [
            ReflectorFilterConfig(),
            ReflectorFilterConfig(threshold: 0.2, duplicateCosine: 0.9, mmrLambda: 0.5, budget: 6, identicalCosine: 0.999),
            ReflectorFilterConfig(threshold: -1, duplicateCosine: 0.5, mmrLambda: 0.3, budget: 3, identicalCosine: 0.2),
            ReflectorFilterConfig(threshold: 0, mmrLambda: 1, budget: 20, leakageGuard: false, outlierRatio: 1.2),
        ]
        var kept = 0, decided = Set<FilterDecision.Verdict>()
        // One cache across every round: ids come back with other transitions, which it must notice.
        let cache = FilterCache(capacity: 50)
        for round in 0..<60 {
            let query = ReflectorQuery(
                state: state(&rng, dim: 12), action: Action(text: "q", embedding: Embedding((0..<6).map { _ in rng.nextGaussian() })),
                provenance: round % 7 == 0 ? nil : Provenance(dataset: "train", scenario: "s", episode: "ep", step: 2, sampleID: "q\(round)"))
            let set = candidates(for: query, &rng, count: Int(rng.next() % 24))
            for config in configs {
                let filter = try ReflectorFilter(config: config)
                let fast = filter.apply(query: query, candidates: set)
                let naive = filter.applyReference(query: query, candidates: set)
                XCTAssertEqual(summary(fast), summary(naive), "round \(round), config \(config)")
                let cached = filter.apply(query: query, candidates: set, cache: cache)
                XCTAssertEqual(summary(cached), summary(naive), "round \(round), config \(config), cached")
                kept += fast.kept.count
                decided.formUnion(fast.decisions.map(\.verdict))
            }
        }
        // The data really exercised the rules (otherwise equality would prove little).
        XCTAssertGreaterThan(kept, 200)
        XCTAssertEqual(decided, [.kept, .invalid, .leakage, .threshold, .duplicate, .outlier, .diversity, .budget])
    }

    func testFiniteCheckAndAverageMatchTheFormatsHelpers() {
        var rng = SeededGenerator(seed: 5)
        for n in [0, 1, 15, 16, 17, 33, 768] {
            var values = (0..<n).map { _ in rng.nextGaussian() }
            XCTAssertTrue(FilterVectors.isFinite(values))
            for bad in [Float.nan, .infinity, -.infinity] where n > 0 {
                let at = Int(rng.next() % UInt64(n))
                let saved = values[at]
                values[at] = bad
                XCTAssertFalse(FilterVectors.isFinite(values), "\(bad) at \(at) of \(n)")
                values[at] = saved
            }
            XCTAssertTrue(FilterVectors.isFinite(values.map { $0 * 1e38 }.map { $0.isFinite ? $0 : 0 }))
        }
        for count in 1...4 {
            let s = state(&rng, dim: 37, base: nil)
            var t = State()
            for m in Modality.allCases.prefix(count) { t[m] = s.embeddings.values.first }
            XCTAssertEqual(FilterVectors.average(s), s.averaged()?.values)
            XCTAssertEqual(FilterVectors.average(t), t.averaged()?.values)
        }
        XCTAssertNil(FilterVectors.average(State()))
        let a = Embedding((0..<9).map { _ in rng.nextGaussian() }), b = Embedding((0..<9).map { _ in rng.nextGaussian() })
        let vectors = [a, b, a, b, a].map(\.values)
        let flat = vectors.flatMap { $0 }
        let norms = flat.withUnsafeBufferPointer { p in FilterVectors.norms((0..<5).map { p.baseAddress! + 9 * $0 }, width: 9) }
        XCTAssertEqual(norms, vectors.map { Embedding($0).norm })
        for count in 1...5 {  // a group of four and shorter tails
            let some = Array(vectors.prefix(count))
            let got = some.flatMap { $0 }.withUnsafeBufferPointer { p in FilterVectors.norms((0..<count).map { p.baseAddress! + 9 * $0 }, width: 9) }
            XCTAssertEqual(got, some.map { Embedding($0).norm })
        }
        let mixed: [[Float]?] = [a.values, nil, [1, 2, 3], b.values, [0, 0, 0], []]
        XCTAssertEqual(FilterVectors.units(mixed), mixed.map { v in v.flatMap { $0.isEmpty || Embedding($0).norm == 0 ? nil : Embedding($0).normalized().values } })
        XCTAssertEqual(FilterVectors.cosineReaches(a.values, a.values, 1 - 1e-9), a.cosine(a) >= 1 - 1e-9)
        XCTAssertEqual(FilterVectors.cosineReaches(a.values, b.values, a.cosine(b)), true)
        XCTAssertEqual(FilterVectors.cosineReaches(a.values, b.values, a.cosine(b).nextUp), false)
    }

    func testReasonNumbersPrintExactlyAsFoundationFormats() {
        var rng = SeededGenerator(seed: 8)
        var values: [Double] = [0, -0.0, 0.125, 0.375, 0.005, 0.015, 0.0005, 2.5, -2.5, 0.9945, 0.99999, 1e-12, -1e-12, 123_456.785, 1e20, -7.5e-3,
                                .nan, .infinity, -.infinity]
        for _ in 0..<20_000 {
            let magnitude = Double(rng.next() % 12) - 6
            values.append(Double(rng.nextGaussian()) * pow(10, magnitude))
            values.append(Double(rng.next() % 100_000) / 8_000)  // many exact binary fractions, ties among them
        }
        for v in values {
            for digits in 0...3 {
                XCTAssertEqual(fmt(v, digits), String(format: "%.\(digits)f", v), "\(v) with \(digits) digits")
            }
        }
    }
}

