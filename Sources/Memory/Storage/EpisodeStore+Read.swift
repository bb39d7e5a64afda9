// Reading the store back: episodes, steps by reference or row id, their annotations and recalls.
import Formats
import Foundation
import GRDB

extension EpisodeStore {
    /// Every episode with its step count and step range, by id.
    public func episodes() throws -> [EpisodeSummary] {
        try read { db in
            try Row.fetchAll(db, sql: """
                SELECT e.id, e.name, e.created_at, count(s.id) AS n, min(s.step_index) AS first, max(s.step_index) AS last
                FROM episodes e LEFT JOIN steps s ON s.episode_id = e.id GROUP BY e.id ORDER BY e.id
                """).map { row in
                EpisodeSummary(id: row["id"], name: row["name"], stepCount: row["n"], firstStep: row["first"], lastStep: row["last"], createdAt: row["created_at"])
            }
        }
    }

    /// The number of stored steps.
    public func stepCount() throws -> Int {
        try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM steps") ?? 0 }
    }

    /// The steps of `reference` (one step, or the whole episode when it has no index), by index.
    /// - Throws: `StoreError.notFound` when the episode or step does not exist.
    public func steps(_ reference: StepReference) throws -> [StoredStep] {
        let path = path
        let dim = dim, actionDim = actionDim
        return try read { db in
            guard let episodeID = try Int64.fetchOne(db, sql: "SELECT id FROM episodes WHERE name = ?", arguments: [reference.episode]) else {
                throw StoreError.notFound(path: path, what: "episode `\(reference.episode)`")
            }
            var sql = "SELECT s.*, e.name AS episode_name FROM steps s JOIN episodes e ON e.id = s.episode_id WHERE s.episode_id = ?"
            var arguments: StatementArguments = [episodeID]
            if let index = reference.index {
                sql += " AND s.step_index = ?"
                arguments += [index]
            }
            let rows = try Row.fetchAll(db, sql: sql + " ORDER BY s.step_index", arguments: arguments)
            if rows.isEmpty, reference.index != nil { throw StoreError.notFound(path: path, what: "step \(reference)") }
            return try rows.map { try Self.decodeStep($0, db: db, path: path, dim: dim, actionDim: actionDim) }
        }
    }

    /// The step with row id `id`.
    public func step(id: Int64) throws -> StoredStep {
        let path = path
        let dim = dim, actionDim = actionDim
        return try read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT s.*, e.name AS episode_name FROM steps s JOIN episodes e ON e.id = s.episode_id WHERE s.id = ?", arguments: [id]) else {
                throw StoreError.notFound(path: path, what: "step id \(id)")
            }
            return try Self.decodeStep(row, db: db, path: path, dim: dim, actionDim: actionDim)
        }
    }

    /// Calls `body` with every step in row-id order (offload order), reading pages of 512 steps so memory stays flat.
    public func forEachStep(_ body: (StoredStep) throws -> Void) throws {
        var lastID: Int64 = 0
        while true {
            let after = lastID
            let ids = try read { db in try Int64.fetchAll(db, sql: "SELECT id FROM steps WHERE id > ? ORDER BY id LIMIT 512", arguments: [after]) }
            guard let last = ids.last else { return }
            lastID = last
            for id in ids { try body(try step(id: id)) }
        }
    }

    /// The row id of `episode:index`.
    public func stepID(_ reference: StepReference) throws -> Int64 {
        guard reference.index != nil else { throw StoreError.invalidArgument("`\(reference)`: expected EPISODE:STEP") }
        guard let first = try steps(reference).first else { throw StoreError.notFound(path: path, what: "step \(reference)") }
        return first.id
    }

    static func decodeEmbedding(_ data: Data?, dim: Int, path: String, field: @autoclosure () -> String) throws -> Embedding? {
        guard let data else { return nil }
        guard data.count == dim * 4, let values = floats(data) else {
            throw StoreError.dimensionMismatch(path: path, expected: dim, got: data.count / 4, field: field() + " (\(data.count) bytes)")
        }
        return Embedding(values)
    }

    static func decodeStep(_ row: Row, db: Database, path: String, dim: Int, actionDim: Int?) throws -> StoredStep {
        let id: Int64 = row["id"]
        let episode: String = row["episode_name"]
        let index: Int = row["step_index"]
        let annotations = try Row.fetchAll(db, sql: "SELECT * FROM step_annotations WHERE step_id = ? ORDER BY kind, rank, id", arguments: [id]).map { a in
            StepAnnotation(kind: a["kind"], rank: a["rank"], item: a["item"], score: a["score"], reason: a["reason"], details: a["details"])
        }
        let recalls = try Row.fetchAll(db, sql: """
            SELECT r.*, s.step_index AS recalled_index, e.name AS recalled_episode FROM recalls r
            JOIN steps s ON s.id = r.recalled_step_id JOIN episodes e ON e.id = s.episode_id
            WHERE r.step_id = ? ORDER BY r.rank, r.id
            """, arguments: [id]).map { r in
            RecalledStep(
                stepID: r["recalled_step_id"], episode: r["recalled_episode"], index: r["recalled_index"],
                score: Float(r["score"] as Double), stateSimilarity: Float(r["state_similarity"] as Double),
                actionSimilarity: Float(r["action_similarity"] as Double), recency: Float(r["recency"] as Double),
                stepsAgo: r["steps_ago"],
                weights: RecallWeights(state: Float(r["weight_state"] as Double), action: Float(r["weight_action"] as Double),
                                       recency: Float(r["weight_recency"] as Double), halfLife: Float(r["half_life"] as Double)))
        }
        return try decodeStep(
            id: id, episode: episode, index: index, createdAt: row["created_at"], actionText: row["action_text"],
            actionEmbedding: row["action_embedding"], states: stateColumns.map { row[$0] as Data? }, provenance: row["provenance"],
            annotations: annotations, recalls: recalls, dim: dim, actionDim: actionDim, path: path)
    }

    /// A stored step from its column values (any backend): embeddings checked against the store's dimensions.
    /// - Parameter states: the `stateColumns` values, in that order.
    /// - Throws: `StoreError.dimensionMismatch` for a BLOB of the wrong length.
    public static func decodeStep(
        id: Int64, episode: String, index: Int, createdAt: Double, actionText: String, actionEmbedding: Data?, states columns: [Data?],
        provenance provenanceText: String?, annotations: [StepAnnotation], recalls: [RecalledStep], dim: Int, actionDim: Int?, path: String
    ) throws -> StoredStep {
        precondition(columns.count == stateColumns.count, "one value per state column")
        let name = "step \(episode):\(index)"
        var states = [State(), State(), State()]
        var c = 0
        for (r, role) in roles.enumerated() {
            for modality in Modality.allCases {
                states[r][modality] = try decodeEmbedding(columns[c], dim: dim, path: path, field: "\(name) \(role) \(modality)")
                c += 1
            }
        }
        let action = Action(text: actionText, embedding: try decodeEmbedding(actionEmbedding, dim: actionDim ?? dim, path: path, field: "\(name) action embedding"))
        var provenance: Provenance?
        if let text = provenanceText {
            provenance = try? JSONDecoder().decode(Provenance.self, from: Data(text.utf8))
        }
        let record = StepRecord(
            episode: episode, index: index, action: action, input: states[0], predicted: states[1], observed: states[2],
            provenance: provenance, timestamp: Date(timeIntervalSince1970: createdAt), annotations: annotations)
        return StoredStep(id: id, record: record, recalls: recalls)
    }
}
