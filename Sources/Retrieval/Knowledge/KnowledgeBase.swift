// The knowledge base: transitions persisted in SQLite, keyed by avg(state0), the action, or both, searched
// exactly through a FlatIndex rebuilt from the stored keys when the KB opens; metadata filters run inside it.
import Formats
import Foundation
import GRDB

/// What a knowledge-base entry is keyed by.
public enum KnowledgeKey: String, Sendable, Codable, CaseIterable {
    /// The normalised average of the state0 modality embeddings (the paper's `avg(state0)`).
    case state
    /// The normalised action embedding.
    case action
    /// Both, concatenated and scaled by 1/√2 (width dim + actionDim): the score is the mean of the two cosines.
    case both
}

/// Metadata restrictions of a knowledge-base search (all applied inside the vector search).
public struct KnowledgeFilter: Sendable, Equatable {
    /// Only transitions of this scenario.
    public var scenario: String?
    /// Only transitions of this episode.
    public var episode: String?
    /// Only transitions whose state0 has all these modalities.
    public var modalities: Set<Modality>
    /// Never return these entry ids (e.g. the query's own sample: no leakage).
    public var excludedIDs: Set<Int64>
    /// Never return entries with these sample ids.
    public var excludedSampleIDs: Set<String>

    /// A filter; the default admits everything.
    public init(scenario: String? = nil, episode: String? = nil, modalities: Set<Modality> = [], excludedIDs: Set<Int64> = [], excludedSampleIDs: Set<String> = []) {
        self.scenario = scenario
        self.episode = episode
        self.modalities = modalities
        self.excludedIDs = excludedIDs
        self.excludedSampleIDs = excludedSampleIDs
    }
}

/// One hit: the stored transition, its entry id and the similarity.
public struct KnowledgeHit: Sendable, Equatable {
    /// The entry id (`transitions.id`).
    public var id: Int64
    /// Inner product of the keys.
    public var score: Float
    /// The transition.
    public var transition: Transition
}

/// Transitions searchable by embedding similarity; one SQLite file (layout in docs/memory.md).
public final class KnowledgeBase {
    /// `kb_info.format` of a knowledge base.
    public static let formatName = "worldgpt-knowledge-base"
    /// The file.
    public let url: URL
    /// Embedding dimension of the states.
    public let dim: Int
    /// Dimension of the action embeddings (0 when the transitions have none).
    public let actionDim: Int
    /// What entries are keyed by.
    public let keyMode: KnowledgeKey
    /// The exact index over the keys (width `dim`, `actionDim`, or their sum for `.both`).
    public let index: FlatIndex
    let database: DatabaseQueue
    private(set) var metadata: [Int64: (scenario: String?, episode: String?, sampleID: String, modalities: Set<Modality>)] = [:]

    /// The number of entries.
    public var count: Int { index.count }

    /// The key of a query state/action (nil when the key mode needs a part the query lacks).
    public static func key(state: State, action: Embedding?, mode: KnowledgeKey, dim: Int, actionDim: Int) -> [Float]? {
        func unit(_ v: [Float]) -> [Float]? {
            var s: Double = 0
            for x in v { s += Double(x) * Double(x) }
            guard s > 0 else { return nil }
            let scale = Float(1 / s.squareRoot())
            return v.map { $0 * scale }
        }
        let stateKey = state.averaged().flatMap { $0.dim == dim ? unit($0.values) : nil }
        let actionKey = action.flatMap { $0.dim == actionDim ? unit($0.values) : nil }
        switch mode {
        case .state: return stateKey
        case .action: return actionKey
        case .both:
            guard let s = stateKey, let a = actionKey else { return nil }
            let r = Float(0.5.squareRoot())
            return s.map { $0 * r } + a.map { $0 * r }
        }
    }

    /// Writes a new knowledge base of `transitions` at `url` (replacing any file there) and opens it.
    /// - Throws: `RetrievalError.dataset` naming the transition when a dimension differs, a value is NaN,
    ///   or the key mode needs an embedding the transition lacks.
    public static func build(_ transitions: [Transition], keyMode: KnowledgeKey, at url: URL, threads: Int = 2) throws -> KnowledgeBase {
        guard let first = transitions.first else { throw RetrievalError.dataset("no transitions to build a knowledge base from") }
        guard let dim = first.state0.averaged()?.dim ?? transitions.lazy.compactMap({ $0.state0.averaged()?.dim }).first else {
            throw RetrievalError.dataset("transition \(first.provenance.sampleID) has no state0 embedding")
        }
        let actionDim = transitions.lazy.compactMap { $0.action.embedding?.dim }.first ?? 0
        for (i, t) in transitions.enumerated() {
            let name = "transition \(i) (\(t.provenance.dataset) sample \(t.provenance.sampleID))"
            for (part, state) in [("state0", t.state0), ("state1", t.state1)] {
                for m in state.modalities {
                    let e = state[m]!
                    guard e.dim == dim else { throw RetrievalError.dataset("\(name): \(part) \(m) has dimension \(e.dim), expected \(dim)") }
                    guard e.isFinite else { throw RetrievalError.dataset("\(name): \(part) \(m) has NaN or infinite components") }
                }
            }
            if let a = t.action.embedding {
                guard a.dim == actionDim else { throw RetrievalError.dataset("\(name): action embedding has dimension \(a.dim), expected \(actionDim)") }
                guard a.isFinite else { throw RetrievalError.dataset("\(name): action embedding has NaN or infinite components") }
            }
            guard key(state: t.state0, action: t.action.embedding, mode: keyMode, dim: dim, actionDim: actionDim) != nil else {
                throw RetrievalError.dataset("\(name): key `\(keyMode.rawValue)` needs \(keyMode == .action ? "an action embedding" : keyMode == .state ? "a state0 embedding" : "state0 and action embeddings") (non-zero)")
            }
        }
        try? FileManager.default.removeItem(at: url)
        let queue: DatabaseQueue
        do { queue = try DatabaseQueue(path: url.path) } catch {
            throw RetrievalError.database(path: url.path, reason: "cannot create: \(error)")
        }
        let rows = transitions
        do {
            try queue.write { db in
                try db.execute(sql: createSQL)
                try db.execute(sql: "INSERT INTO kb_info(key, value) VALUES ('format', ?), ('dim', ?), ('action_dim', ?), ('key', ?)", arguments: [formatName, String(dim), String(actionDim), keyMode.rawValue])
                let insert = try db.makeStatement(sql: insertSQL)
                for t in rows {
                    var values: [(any DatabaseValueConvertible)?] = [
                        t.provenance.dataset, t.provenance.scenario, t.provenance.episode, t.provenance.step, t.provenance.sampleID,
                        t.action.text, t.action.embedding.map { $0.values.withUnsafeBytes { Data($0) } },
                        t.state0.modalities.map(\.rawValue).joined(separator: ","),
                    ]
                    for state in [t.state0, t.state1] {
                        for m in Modality.allCases { values.append(state[m].map { $0.values.withUnsafeBytes { Data($0) } }) }
                    }
                    try insert.execute(arguments: StatementArguments(values))
                }
            }
            try queue.close()
        } catch {
            throw RetrievalError.database(path: url.path, reason: "cannot write: \(error)")
        }
        return try KnowledgeBase(url: url, threads: threads)
    }

    static let stateColumns = ["state0", "state1"].flatMap { p in Modality.allCases.map { "\(p)_\($0.rawValue)" } }
    static let createSQL = """
        CREATE TABLE kb_info(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
        CREATE TABLE transitions(
            id INTEGER PRIMARY KEY,
            dataset TEXT NOT NULL, scenario TEXT, episode TEXT, step INTEGER, sample_id TEXT NOT NULL,
            action_text TEXT NOT NULL, action_embedding BLOB, modalities TEXT NOT NULL,
            \(stateColumns.map { "\($0) BLOB" }.joined(separator: ", ")));
        CREATE INDEX transitions_scenario ON transitions(scenario);
        """
    static let insertSQL = """
        INSERT INTO transitions(dataset, scenario, episode, step, sample_id, action_text, action_embedding, modalities, \
        \(stateColumns.joined(separator: ", "))) VALUES (\(Array(repeating: "?", count: 8 + stateColumns.count).joined(separator: ", ")))
        """

    /// Opens a knowledge base and rebuilds its index from the stored embeddings.
    /// - Throws: `RetrievalError.database` naming the file when it is not SQLite, not a knowledge base, or inconsistent.
    public init(url: URL, threads: Int = 2) throws {
        self.url = url
        guard FileManager.default.fileExists(atPath: url.path) else { throw RetrievalError.database(path: url.path, reason: "no such file") }
        var config = Configuration()
        config.readonly = true
        do { database = try DatabaseQueue(path: url.path, configuration: config) } catch {
            throw RetrievalError.database(path: url.path, reason: "not an SQLite database or unreadable (\(error))")
        }
        let path = url.path
        do {
            let info = try database.read { db -> [String: String] in
                guard try db.tableExists("kb_info") else { return [:] }
                var info = [String: String]()
                for row in try Row.fetchAll(db, sql: "SELECT key, value FROM kb_info") { info[row[0]] = row[1] }
                return info
            }
            guard info["format"] == Self.formatName else { throw RetrievalError.database(path: path, reason: "not a WorldGPT knowledge base (no kb_info.format)") }
            guard let dim = info["dim"].flatMap(Int.init), dim > 0, let mode = info["key"].flatMap(KnowledgeKey.init(rawValue:)) else {
                throw RetrievalError.database(path: path, reason: "kb_info has no valid dim/key")
            }
            self.dim = dim
            actionDim = info["action_dim"].flatMap(Int.init) ?? 0
            keyMode = mode
        } catch let error as RetrievalError { throw error } catch {
            throw RetrievalError.database(path: path, reason: "not an SQLite database or corrupt (\(error))")
        }
        let width = keyMode == .state ? dim : keyMode == .action ? actionDim : dim + actionDim
        guard width > 0 else { throw RetrievalError.database(path: path, reason: "key `\(keyMode.rawValue)` but no action embeddings") }
        index = FlatIndex(dim: width, threads: threads)
        try loadIndex()
    }

    private func loadIndex() throws {
        let dim = dim, actionDim = actionDim, mode = keyMode, path = url.path
        let stateCols = Modality.allCases.map { "state0_\($0.rawValue)" }
        let (ids, keys, meta) = try wrap {
            try database.read { db -> ([Int64], [Float], [(Int64, String?, String?, String, Set<Modality>)]) in
                var ids = [Int64](), keys = [Float](), meta = [(Int64, String?, String?, String, Set<Modality>)]()
                let cursor = try Row.fetchCursor(db, sql: "SELECT id, scenario, episode, sample_id, action_embedding, \(stateCols.joined(separator: ", ")) FROM transitions ORDER BY id")
                while let row = try cursor.next() {
                    let id: Int64 = row[0]
                    var state = State()
                    for (c, m) in Modality.allCases.enumerated() {
                        if let d: Data = row[5 + c] {
                            guard d.count == dim * 4 else { throw RetrievalError.database(path: path, reason: "entry \(id) state0 \(m): \(d.count) bytes, expected \(dim * 4)") }
                            state[m] = Embedding(d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
                        }
                    }
                    var action: Embedding?
                    if let d: Data = row[4] {
                        guard d.count == actionDim * 4 else { throw RetrievalError.database(path: path, reason: "entry \(id) action: \(d.count) bytes, expected \(actionDim * 4)") }
                        action = Embedding(d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
                    }
                    guard let key = Self.key(state: state, action: action, mode: mode, dim: dim, actionDim: actionDim) else {
                        throw RetrievalError.database(path: path, reason: "entry \(id) lacks what key `\(mode.rawValue)` needs")
                    }
                    ids.append(id)
                    keys.append(contentsOf: key)
                    meta.append((id, row[1], row[2], row[3], Set(state.modalities)))
                }
                return (ids, keys, meta)
            }
        }
        do { try index.add(ids: ids, vectors: keys) } catch {
            throw RetrievalError.database(path: path, reason: "stored embeddings are invalid: \(error)")
        }
        for m in meta { metadata[m.0] = (m.1, m.2, m.3, m.4) }
    }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as RetrievalError { throw e } catch {
            throw RetrievalError.database(path: url.path, reason: "\(error)")
        }
    }

    /// The ids admitted by `filter` (nil when it admits everything).
    func searchFilter(_ filter: KnowledgeFilter) -> SearchFilter? {
        let scoped = filter.scenario != nil || filter.episode != nil || !filter.modalities.isEmpty || !filter.excludedSampleIDs.isEmpty
        guard scoped else { return filter.excludedIDs.isEmpty ? nil : .excluding(filter.excludedIDs) }
        var allowed = [Int64]()
        for id in index.ids {
            guard let m = metadata[id] else { continue }
            if let s = filter.scenario, m.scenario != s { continue }
            if let e = filter.episode, m.episode != e { continue }
            if !filter.modalities.isSubset(of: m.modalities) { continue }
            if filter.excludedSampleIDs.contains(m.sampleID) { continue }
            allowed.append(id)
        }
        return SearchFilter(allowedIDs: allowed, excludedIDs: filter.excludedIDs)
    }

    /// The `k` most similar transitions to (state, action) under the KB's key, admitted by `filter`, best first.
    /// - Throws: `RetrievalError` when the query lacks what the key needs or has a wrong dimension / NaN.
    public func search(state: State, action: Embedding?, k: Int, filter: KnowledgeFilter = KnowledgeFilter()) throws -> [KnowledgeHit] {
        for m in state.modalities {
            let e = state[m]!
            guard e.dim == dim else { throw RetrievalError.dimensionMismatch(expected: dim, got: e.dim, context: "knowledge query \(m)") }
        }
        if let a = action, keyMode != .state, a.dim != actionDim { throw RetrievalError.dimensionMismatch(expected: actionDim, got: a.dim, context: "knowledge query action") }
        guard let key = Self.key(state: state, action: action, mode: keyMode, dim: dim, actionDim: actionDim) else {
            throw RetrievalError.invalidArgument("the knowledge base is keyed by `\(keyMode.rawValue)`; the query lacks that embedding")
        }
        let hits = try index.search(key, k: k, filter: searchFilter(filter))[0]
        return try hits.map { KnowledgeHit(id: $0.id, score: $0.score, transition: try transition(id: $0.id)) }
    }

    /// The stored transition `id`.
    public func transition(id: Int64) throws -> Transition {
        let dim = dim, actionDim = actionDim, path = url.path
        return try wrap {
            try database.read { db in
                guard let row = try Row.fetchOne(db, sql: "SELECT * FROM transitions WHERE id = ?", arguments: [id]) else {
                    throw RetrievalError.database(path: path, reason: "entry \(id) not found")
                }
                func emb(_ column: String) -> Embedding? {
                    let width = column == "action_embedding" ? actionDim : dim
                    guard let d: Data = row[column], d.count == width * 4 else { return nil }
                    return Embedding(d.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) })
                }
                var s0 = State(), s1 = State()
                for m in Modality.allCases {
                    s0[m] = emb("state0_\(m.rawValue)")
                    s1[m] = emb("state1_\(m.rawValue)")
                }
                return Transition(
                    state0: s0, action: Action(text: row["action_text"], embedding: emb("action_embedding")), state1: s1,
                    provenance: Provenance(dataset: row["dataset"], scenario: row["scenario"], episode: row["episode"], step: row["step"], sampleID: row["sample_id"]))
            }
        }
    }

    /// Entry ids with their sample ids, in id order (for `kb search --like`).
    public func entryID(sampleID: String) -> Int64? {
        index.ids.first { metadata[$0]?.sampleID == sampleID }
    }
}
