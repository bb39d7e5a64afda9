// A JSON file holding one query and its retrieved candidates, for `worldgpt reflector explain` and for tests.
// Layout (docs/reflector.md): states are {modality: [floats]}, so a person can write one by hand.
import Foundation
import Formats

/// The JSON layout of a query with candidates: `{"query": {...}, "candidates": [{...}], "filter": {...}?}`.
///
/// States are objects from modality name to an array of numbers; actions are `{"text", "embedding"?}`;
/// provenance is `{"dataset", "sample_id", "scenario"?, "episode"?, "step"?}`. A candidate's `score`
/// may be left out: it is then computed with `ReflectorSimilarity.score`.
public struct CandidateFile: Sendable {
    /// The query.
    public var query: ReflectorQuery
    /// The candidates, in file order.
    public var candidates: [ReflectorCandidate]
    /// Filter settings given in the file, if any.
    public var filter: ReflectorFilterConfig?

    /// A candidate file's content.
    public init(query: ReflectorQuery, candidates: [ReflectorCandidate], filter: ReflectorFilterConfig? = nil) {
        self.query = query
        self.candidates = candidates
        self.filter = filter
    }

    /// Reads and checks a candidate file.
    /// - Throws: `ReflectorError.input` naming the file and the problem (unreadable, bad JSON, unknown
    ///   modality, mixed widths, non-finite numbers, duplicate ids).
    public static func load(_ url: URL) throws -> CandidateFile {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw ReflectorError.file(path: url.path, problem: "cannot read: \(error.localizedDescription)")
        }
        let raw: RawFile
        do { raw = try JSONDecoder().decode(RawFile.self, from: data) } catch {
            throw ReflectorError.file(path: url.path, problem: "not a candidate file: \(describe(error))")
        }
        let query = ReflectorQuery(
            state: try raw.query.state.state(url, "query.state"), action: try raw.query.action.action(url, "query.action"),
            provenance: raw.query.provenance?.provenance)
        var seen = Set<String>()
        var candidates: [ReflectorCandidate] = []
        for (i, c) in raw.candidates.enumerated() {
            let field = "candidates[\(i)]"
            guard seen.insert(c.id).inserted else { throw ReflectorError.file(path: url.path, problem: "\(field): duplicate id \(c.id)") }
            let t = Transition(
                state0: try c.state0.state(url, "\(field).state0"), action: try c.action.action(url, "\(field).action"),
                state1: try c.state1.state(url, "\(field).state1"),
                provenance: c.provenance?.provenance ?? Provenance(dataset: "file", sampleID: c.id))
            let score = c.score ?? ReflectorSimilarity.score(query: query, transition: t)
            candidates.append(ReflectorCandidate(id: c.id, transition: t, score: score))
        }
        return CandidateFile(query: query, candidates: candidates, filter: raw.filter)
    }

    /// Writes the file in the same layout (scores included).
    public func write(to url: URL) throws {
        let raw = RawFile(
            query: RawQuery(state: RawState(query.state), action: RawAction(query.action), provenance: query.provenance.map(RawProvenance.init)),
            candidates: candidates.map {
                RawCandidate(
                    id: $0.id, score: $0.score, state0: RawState($0.transition.state0), action: RawAction($0.transition.action),
                    state1: RawState($0.transition.state1), provenance: RawProvenance($0.transition.provenance))
            },
            filter: filter)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(raw).write(to: url)
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            return "missing key '\(key.stringValue)' at \(path(context.codingPath))"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "\(context.debugDescription) at \(path(context.codingPath))"
        case DecodingError.dataCorrupted(let context):
            return "\(context.debugDescription) \(path(context.codingPath))"
        default: return "\(error)"
        }
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
    }
}

private struct RawFile: Codable {
    var query: RawQuery
    var candidates: [RawCandidate]
    var filter: ReflectorFilterConfig?
}

private struct RawQuery: Codable {
    var state: RawState
    var action: RawAction
    var provenance: RawProvenance?
}

private struct RawCandidate: Codable {
    var id: String
    var score: Double?
    var state0: RawState
    var action: RawAction
    var state1: RawState
    var provenance: RawProvenance?
}

private struct RawState: Codable {
    var values: [String: [Float]]

    init(_ s: State) { values = Dictionary(uniqueKeysWithValues: s.embeddings.map { ($0.key.rawValue, $0.value.values) }) }
    init(from decoder: any Decoder) throws { values = try decoder.singleValueContainer().decode([String: [Float]].self) }
    func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(values)
    }

    func state(_ url: URL, _ field: String) throws -> State {
        var state = State()
        var width: Int?
        for (key, v) in values.sorted(by: { $0.key < $1.key }) {
            guard let m = Modality(rawValue: key) else {
                throw ReflectorError.input(
                    name: url.path, problem: "\(field): unknown modality '\(key)' (expected one of \(Modality.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            guard !v.isEmpty, v.allSatisfy(\.isFinite) else { throw ReflectorError.file(path: url.path, problem: "\(field).\(key): empty or not finite") }
            if let width, width != v.count {
                throw ReflectorError.file(path: url.path, problem: "\(field): modalities have different widths (\(width) and \(v.count))")
            }
            width = v.count
            state[m] = Embedding(v)
        }
        return state
    }
}

private struct RawAction: Codable {
    var text: String
    var embedding: [Float]?

    init(_ a: Action) {
        text = a.text
        embedding = a.embedding?.values
    }

    func action(_ url: URL, _ field: String) throws -> Action {
        if let embedding, embedding.isEmpty || !embedding.allSatisfy(\.isFinite) {
            throw ReflectorError.file(path: url.path, problem: "\(field).embedding: empty or not finite")
        }
        return Action(text: text, embedding: embedding.map(Embedding.init))
    }
}

private struct RawProvenance: Codable {
    var dataset: String
    var sampleID: String
    var scenario: String?
    var episode: String?
    var step: Int?

    enum CodingKeys: String, CodingKey { case dataset, sampleID = "sample_id", scenario, episode, step }

    init(_ p: Provenance) {
        dataset = p.dataset
        sampleID = p.sampleID
        scenario = p.scenario
        episode = p.episode
        step = p.step
    }

    var provenance: Provenance { Provenance(dataset: dataset, scenario: scenario, episode: episode, step: step, sampleID: sampleID) }
}
