// The runtime's learned stage over kept candidates: each candidate's projected context (fc2, then every
// cross-attention layer's keys and values — none of which depends on the query) is computed once and remembered
// by candidate id, so a knowledge-base transition kept at many steps is projected once. Rows are projected one by
// one (`Kernels.linearRowwise`), so what is remembered does not depend on the cache's history.
import Formats
import Tensor

/// Remembers the projected context tokens of kept candidates, by candidate id, for one reflector's current weights.
///
/// Use one cache per knowledge source (ids are unique only within a source). An id that comes back with another
/// transition (provenance, action text or sampled values differ) is projected again; when the reflector's `fc2`
/// or cross-attention key/value weights change (training, loading), the cache starts over. When full, it starts
/// over too. Not thread-safe: one cache per thread (the runtime's learned stage owns one).
public final class ReflectorContextCache {
    /// The most candidates remembered before the cache starts over.
    public let capacity: Int
    /// Projected rows, P floats each, one per context token of a candidate (three per candidate packed per part).
    private var arena: [Float] = []
    /// Per id: the first projected row, and the transition's signature (nil when it was stored while ids were trusted).
    private var rows: [String: (row: Int, signature: PreparedCandidate.Signature?)] = [:]
    private var fingerprint: UInt64?
    private var width = 0
    /// The one knowledge source whose stable ids are trusted (nil: check every id's transition, as when more than one
    /// source has been attached or none promises stable ids).
    private var trustedSource: ObjectIdentifier?
    private var attachedSources = Set<ObjectIdentifier>()

    /// A cache of at most `capacity` candidates (8,192 ≈ 50 MB for a 128-wide, two-layer reflector).
    public init(capacity: Int = 8192) {
        precondition(capacity >= 1, "reflector context cache capacity must be positive")
        self.capacity = capacity
    }

    /// The number of remembered candidates.
    public var count: Int { rows.count }

    /// Tells the cache where its candidates come from. While every candidate comes from one source with stable ids,
    /// a remembered id is not checked again; a second source ends that for good (its ids may name other transitions).
    public func attach(to source: any ContextSource) {
        attachedSources.insert(ObjectIdentifier(source))
        trustedSource = attachedSources.count == 1 && source.candidateIDsAreStable ? ObjectIdentifier(source) : nil
    }

    /// Forgets everything.
    public func removeAll() {
        arena.removeAll()
        rows.removeAll()
        fingerprint = nil
    }

    /// The first projected row of each candidate, list after list (its other rows follow), projecting the ones not
    /// remembered yet; nil when one id comes with two different transitions (candidates of more than one source).
    func rows(
        for lists: [[ReflectorCandidate]], reflector: LearnedReflector, stateWidth: Int, actionWidth: Int, packing: ContextPacking, threads: Int = 1
    ) throws -> [Int]? {
        let print = reflector.contextFingerprint()
        if print != fingerprint || reflector.projectedContextWidth != width {
            removeAll()
            fingerprint = print
            width = reflector.projectedContextWidth
        }
        var missing: [ReflectorCandidate] = []
        if trustedSource != nil {
            // One source, stable ids: an id names one transition.
            var seen = Set<String>()
            for list in lists { for c in list where rows[c.id] == nil && seen.insert(c.id).inserted { missing.append(c) } }
        } else {
            var seen: [String: PreparedCandidate.Signature] = [:]
            for list in lists {
                for c in list {
                    let signature = PreparedCandidate.Signature(c.transition)
                    if let earlier = seen[c.id] {
                        // One id for two transitions in one batch: not one knowledge source; the caller computes without the cache.
                        if earlier != signature { return nil }
                        continue
                    }
                    seen[c.id] = signature
                    if let entry = rows[c.id], entry.signature == signature { continue }
                    missing.append(c)
                }
            }
        }
        if rows.count + missing.count > capacity {
            // Start over with this call's candidates only.
            let keep = (fingerprint, width)
            removeAll()
            (fingerprint, width) = keep
            var again = Set<String>()
            missing = []
            for list in lists { for c in list where again.insert(c.id).inserted { missing.append(c) } }
        }
        try project(missing, reflector: reflector, stateWidth: stateWidth, actionWidth: actionWidth, packing: packing, threads: threads)
        var first: [Int] = []
        first.reserveCapacity(lists.reduce(0) { $0 + $1.count })
        for list in lists { for c in list { first.append(rows[c.id]!.row) } }
        return first
    }

    /// Projects `missing` and remembers their rows.
    private func project(
        _ missing: [ReflectorCandidate], reflector: LearnedReflector, stateWidth: Int, actionWidth: Int, packing: ContextPacking, threads: Int
    ) throws {
        guard !missing.isEmpty else { return }
        let per = packing.tokensPerTriplet
        let tokens = try ReflectorInferenceBatch.contextTokens(
            missing.map(\.transition), stateWidth: stateWidth, actionWidth: actionWidth, packing: packing)
        // An average is finite exactly when what it averages is (remembered entries were checked when projected).
        guard FilterVectors.isFinite(tokens) else {
            throw ReflectorError.input(name: "context", problem: "a kept candidate holds NaN or infinite values")
        }
        // Row by row: a candidate's projection must not depend on which candidates happened to miss with it, or a
        // rollout resumed with a cold cache would differ in the last bits from the uninterrupted one.
        let rowCount = per * missing.count, tokenWidth = tokens.count / max(rowCount, 1)
        let first = arena.count / max(width, 1)
        arena += inHalves(count: rowCount, threads: threads >= 2 && rowCount >= 64 ? 2 : 1) { range in
            // Each row is computed alone, so a split changes no bit.
            reflector.projectContext(tokens[(range.lowerBound * tokenWidth)..<(range.upperBound * tokenWidth)], count: range.count, rowwise: true)
        }
        let signed = trustedSource == nil
        for (k, c) in missing.enumerated() { rows[c.id] = (first + per * k, signed ? PreparedCandidate.Signature(c.transition) : nil) }
    }

    /// The projected rows themselves (valid until the next `rows(for:…)`).
    var projected: [Float] { arena }
}

extension ReflectorInferenceBatch {
    /// The context tokens of transitions as `packing` lays them out — per part: three per transition
    /// (`avg state0`, `action`, `avg state1`), each zero-padded to `max(stateWidth, actionWidth)`; per triplet: one
    /// `[avg state0, avg state1, action]` — what `init(queries:context:…)` packs, without the queries.
    static func contextTokens(_ transitions: [Transition], stateWidth: Int, actionWidth: Int, packing: ContextPacking = .perPart) throws -> [Float] {
        let width = packing.tokenWidth(stateWidth: stateWidth, actionWidth: actionWidth), per = packing.tokensPerTriplet
        var tokens = [Float](repeating: 0, count: per * transitions.count * width)
        for (j, t) in transitions.enumerated() {
            let state0 = try Self.values(FilterVectors.average(t.state0), stateWidth, "context state0")
            let action = try Self.values(t.action.embedding?.values, actionWidth, "context action")
            let state1 = try Self.values(FilterVectors.average(t.state1), stateWidth, "context state1")
            switch packing {
            case .perPart:
                for (p, part) in [state0, action, state1].enumerated() {
                    let token = 3 * j + p
                    tokens.replaceSubrange((token * width)..<(token * width + part.count), with: part)
                }
            case .perTriplet:
                var offset = j * width
                for part in [state0, state1, action] {
                    tokens.replaceSubrange(offset..<(offset + part.count), with: part)
                    offset += part.count
                }
            }
        }
        return tokens
    }

    /// Writes row `r` of the joined rows: the query's averaged state, then its action embedding.
    /// - Throws: the builder's error for a missing or mis-sized query state or action.
    static func join(_ q: ReflectorQuery, into joined: inout [Float], row r: Int, stateWidth: Int, actionWidth: Int) throws {
        let inWidth = stateWidth + actionWidth
        let s = try values(FilterVectors.average(q.state), stateWidth, "query state")
        let a = try values(q.action.embedding?.values, actionWidth, "query action")
        joined.replaceSubrange((r * inWidth)..<(r * inWidth + stateWidth), with: s)
        joined.replaceSubrange((r * inWidth + stateWidth)..<((r + 1) * inWidth), with: a)
    }

    /// `e` when it has `expected` values, else the builder's error for `field`.
    static func values(_ e: [Float]?, _ expected: Int, _ field: String) throws -> [Float] {
        guard let e, e.count == expected else {
            throw ReflectorError.input(name: field, problem: e.map { "width \($0.count), expected \(expected)" } ?? "missing")
        }
        return e
    }
}

extension LearnedReflector {
    /// The reflector tokens, flat [B, Q, O], for queries and their kept candidates — what
    /// `infer(ReflectorInferenceBatch(queries:context:…))` gives — taking each candidate's projected context from
    /// `cache` when it is there (the cache must only see one knowledge source's candidates).
    /// - Parameter threads: with 2 and at least 16 queries, the two halves of the batch run on two threads (each
    ///   query's tokens then come from a batch of half the size: equal within float rounding, and the same for the
    ///   same batch every time). Call it with OpenBLAS on one thread, or the halves' products split again.
    /// - Throws: `ReflectorError.input` when an embedding is missing or mis-sized, or a value is not finite.
    public func infer(
        queries: [ReflectorQuery], kept: [[ReflectorCandidate]], stateWidth: Int, actionWidth: Int, cache: ReflectorContextCache,
        threads: Int = 1
    ) throws -> [Float] {
        precondition(queries.count == kept.count, "reflector batch: \(queries.count) queries, \(kept.count) kept lists")
        // The packing follows from the context width (as for `ReflectorInputBuilder(for:…)`).
        guard stateWidth + actionWidth == config.inputWidth,
            let packing = ContextPacking(contextWidth: config.contextWidth, stateWidth: stateWidth, actionWidth: actionWidth)
        else {
            throw ReflectorError.input(
                name: "widths", problem: "state \(stateWidth) + action \(actionWidth) do not fit the reflector's \(config.inputWidth)/\(config.contextWidth)")
        }
        let per = packing.tokensPerTriplet
        let inWidth = stateWidth + actionWidth
        var joined = [Float](repeating: 0, count: queries.count * inWidth)
        for (r, q) in queries.enumerated() { try ReflectorInferenceBatch.join(q, into: &joined, row: r, stateWidth: stateWidth, actionWidth: actionWidth) }
        guard FilterVectors.isFinite(joined) else { throw ReflectorError.input(name: "state0+action", problem: "holds NaN or infinite values") }
        guard let firstRows = try cache.rows(
            for: kept, reflector: self, stateWidth: stateWidth, actionWidth: actionWidth, packing: packing, threads: threads)
        else {
            return try infer(ReflectorInferenceBatch(
                queries: queries, context: kept.map { $0.map(\.transition) }, stateWidth: stateWidth, actionWidth: actionWidth, packing: packing))
        }
        var index: [Int] = []
        index.reserveCapacity(per * firstRows.count)
        for row in firstRows { index += (row..<(row + per)) }
        var starts = [0]
        for list in kept { starts.append(starts[starts.count - 1] + per * list.count) }
        // With two threads, each half of the batch with its own rows of `joined`, `index` and `starts` (rebased).
        let projected = cache.projected
        return inHalves(count: queries.count, threads: threads >= 2 && queries.count >= 16 ? 2 : 1) { rows in
            let first = starts[rows.lowerBound], last = starts[rows.upperBound]
            return core(joined: joined[(rows.lowerBound * inWidth)..<(rows.upperBound * inWidth)], count: rows.count,
                        projected: projected, index: index[first..<last],
                        contextStart: starts[rows.lowerBound...rows.upperBound].map { $0 - first })
        }
    }

    /// A hash of the weights the projected context depends on (`fc2` and the cross-attention keys and values).
    func contextFingerprint() -> UInt64 {
        var ranges: [Range<Int>] = []
        func add(_ layer: Linear) {
            ranges.append(layer.weight.offset..<(layer.weight.offset + layer.weight.count))
            if let b = layer.bias { ranges.append(b.offset..<(b.offset + b.count)) }
        }
        add(fc2)
        for layer in layers { if let ca = layer.crossAttention { add(ca.key); add(ca.value) } }
        return store.values.withUnsafeBufferPointer { v in
            // FNV-1a over the bit patterns in 16 interleaved 32-bit lanes (a change anywhere changes its lane), the
            // lanes then folded into 64 bits; called at every step, so it must cost little next to the step.
            typealias Lanes = SIMD16<UInt32>
            var lanes = Lanes(repeating: 0x811c_9dc5)
            let prime = Lanes(repeating: 0x0100_0193)
            var tail: UInt64 = 0xcbf2_9ce4_8422_2325
            guard let base = v.baseAddress else { return tail }
            let raw = UnsafeRawPointer(base)
            for range in ranges {
                var i = range.lowerBound
                while i + 16 <= range.upperBound {
                    lanes = (lanes ^ raw.loadUnaligned(fromByteOffset: i * 4, as: Lanes.self)) &* prime
                    i += 16
                }
                while i < range.upperBound { tail = (tail ^ UInt64(v[i].bitPattern)) &* 0x100_0000_01b3; i += 1 }
                // The range's length, so moving values between ranges changes the hash.
                tail = (tail ^ UInt64(range.count)) &* 0x100_0000_01b3
            }
            for k in 0..<16 { tail = (tail ^ UInt64(lanes[k])) &* 0x100_0000_01b3 }
            return tail
        }
    }
}

/// `body(0..<count)`, or with two threads `body` of each half (`0..<count/2`, `count/2..<count`) concatenated in order.
private func inHalves(count: Int, threads: Int, _ body: (Range<Int>) -> [Float]) -> [Float] {
    guard threads >= 2 else { return body(0..<count) }
    let halves = [0..<(count / 2), (count / 2)..<count]
    var outputs = [[Float]](repeating: [], count: 2)
    outputs.withUnsafeMutableBufferPointer { buffer in
        guard let out = buffer.baseAddress else { return }
        // Each thread writes only its own slot.
        Kernels.parallel(workers: 2) { out[$0] = body(halves[$0]) }
    }
    return outputs[0] + outputs[1]
}
