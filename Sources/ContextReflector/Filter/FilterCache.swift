// What the filter derives from a candidate transition regardless of the query — finiteness and the unit vectors
// of its parts — and a cache of it keyed by candidate id, so a knowledge-base transition retrieved at many steps
// is read and normalised once instead of at every step.
import Formats

/// The query-independent view of one candidate: finiteness, and per part (avg state0, action, avg state1) the
/// width and unit vector, computed with the arithmetic of `Embedding.norm` / `normalized()` (bit-identical).
struct PreparedCandidate {
    /// `ReflectorSimilarity.isFinite(transition)`.
    var isFinite: Bool
    /// Per part: the vector's width, nil when the part is absent.
    var widths: [Int?]
    /// Per part: the unit vector, nil when the part is absent or has norm 0.
    var units: [[Float]?]
    /// `|avg state1 − avg state0|`, nil when either is absent or their widths differ.
    var changeNorm: Double?
    /// What the entry was computed from (checked on every cache hit); nil when nobody will check it.
    var signature: Signature?

    /// A hash of the provenance, the action text, and the first and last value and the width of every embedding:
    /// enough to notice an id that now names another transition without reading the whole transition again.
    struct Signature: Equatable {
        var hash: Int

        init(_ t: Transition) {
            var h = Hasher()
            h.combine(t.provenance)
            h.combine(t.action.text)
            func add(_ e: Embedding?) {
                guard let e, let first = e.values.first, let last = e.values.last else { h.combine(-1); return }
                h.combine(first.bitPattern)
                h.combine(last.bitPattern)
                h.combine(e.dim)
            }
            for m in Modality.allCases { add(t.state0[m]) }
            add(t.action.embedding)
            for m in Modality.allCases { add(t.state1[m]) }
            hash = h.finalize()
        }
    }

    /// The candidate's view, or nil when a state mixes modality widths (the filter then takes the path that
    /// reports it exactly where the original code did). `signed`: also compute the signature.
    init?(_ t: Transition, signed: Bool = false) {
        func consistent(_ s: State) -> Bool {
            guard let width = s.embeddings.first?.value.dim else { return true }
            return s.embeddings.values.allSatisfy { $0.dim == width }
        }
        guard consistent(t.state0), consistent(t.state1) else { return nil }
        let parts = [FilterVectors.average(t.state0), t.action.embedding?.values, FilterVectors.average(t.state1)]
        // A non-finite value makes its average non-finite, so finite parts prove a finite transition in one pass;
        // otherwise (a non-finite value, or a finite sum that overflowed) check every value.
        isFinite = parts.allSatisfy { $0.map(FilterVectors.isFinite) ?? true } || FilterVectors.isFinite(t)
        widths = parts.map { $0?.count }
        units = FilterVectors.units(parts)
        changeNorm = FilterVectors.changeNorm(parts[0], parts[2])
        signature = signed ? Signature(t) : nil
    }
}

/// Remembers, per candidate id, what the filter derives from the candidate's transition independently of the
/// query, so repeated candidates (the same knowledge-base row retrieved at many steps) cost a lookup.
///
/// Use one cache per knowledge source: ids are only unique within a source. An id that comes back with a
/// different transition (another provenance, action text or sampled values) is recomputed. When full, the
/// cache starts over. Not thread-safe: one cache per thread (the runtime owns one).
public final class FilterCache {
    /// The most entries kept before the cache starts over.
    public let capacity: Int
    /// Whether a remembered id's transition is checked (by its signature) each time the id comes back; the runtime
    /// turns this off for sources whose ids are stable (`ContextSource.candidateIDsAreStable`).
    public var checksTransitions = true
    private var entries: [String: PreparedCandidate] = [:]

    /// A cache of at most `capacity` candidates (4,096 ≈ 30 MB for 768-d states and 384-d actions).
    public init(capacity: Int = 4096) {
        precondition(capacity >= 1, "filter cache capacity must be positive")
        self.capacity = capacity
    }

    /// The number of remembered candidates.
    public var count: Int { entries.count }

    /// Forgets every candidate.
    public func removeAll() { entries.removeAll() }

    /// The prepared view of `candidate`, from the cache when its entry still describes the same transition.
    func prepared(_ candidate: ReflectorCandidate) -> PreparedCandidate? {
        if let entry = entries[candidate.id], !checksTransitions || entry.signature == PreparedCandidate.Signature(candidate.transition) {
            return entry
        }
        guard let entry = PreparedCandidate(candidate.transition, signed: checksTransitions) else { return nil }
        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
        entries[candidate.id] = entry
        return entry
    }
}
