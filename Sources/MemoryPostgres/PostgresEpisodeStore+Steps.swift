// Writing and reading steps in PostgreSQL: one transaction per offload batch (multi-row INSERTs, a NOTIFY on
// commit), reads that decode through Memory's own step decoder, and recall over a mirror of the fetched keys.
import Formats
import Foundation
import Logging
import Memory
import NIOCore
import PostgresNIO

extension PostgresEpisodeStore {
    static let stepColumnList = ["episode_id", "step_index", "created_at", "action_text", "action_embedding"] + EpisodeStore.stateColumns + ["provenance"]
    /// Rows per INSERT statement (PostgreSQL takes at most 65,535 parameters in one statement).
    static let rowsPerStatement = 1000

    public func append(_ steps: [StepRecord], recalls: [[RecalledStep]], identities: [StoreIdentity]?) throws -> [Int64] {
        precondition(recalls.count == steps.count, "one recall list per step")
        precondition(identities.map { $0.count == steps.count } ?? true, "one identity per step")
        guard !isReadOnly else { throw StoreError.readOnly(path: path, reason: "the store was opened read-only") }
        guard !steps.isEmpty else { return [] }
        let (batch, newActionDim) = try EpisodeStore.encode(steps, recalls: recalls, identities: identities, dim: dim, actionDim: actionDim, path: path)
        let path = path, logger = logger
        let ids = try withConnection { c, retry in
            try await Self.insert(c, batch, newActionDim: newActionDim, retry: retry, path: path, logger: logger)
        }
        if let newActionDim { actionDim = newActionDim }
        return ids
    }

    /// One offload batch in one transaction. `retry`: an earlier attempt lost its connection, possibly after COMMIT
    /// reached the server; a batch found stored in full is that attempt's (its ids are returned, nothing is written).
    static func insert(_ c: PostgresConnection, _ batch: [EncodedStep], newActionDim: Int?, retry: Bool, path: String, logger: Logger) async throws -> [Int64] {
        do {
            return try await c.withTransaction(logger: logger) { c -> [Int64] in
                if retry, let ids = try await storedIDs(c, batch, logger: logger) { return ids }
                if let newActionDim {
                    try await c.query("INSERT INTO store_info(key, value) VALUES ('action_dim', \(String(newActionDim))) ON CONFLICT (key) DO NOTHING", logger: logger)
                    let stored = try await rows(c, "SELECT value FROM store_info WHERE key = 'action_dim'", logger: logger).first.map { try $0.decode(String.self) }
                    if let stored, stored != String(newActionDim) {
                        throw StoreError.dimensionMismatch(path: path, expected: Int(stored) ?? 0, got: newActionDim, field: "action embedding (another writer fixed the action width)")
                    }
                }
                var episodeIDs = [String: Int64]()
                for step in batch where episodeIDs[step.episode] == nil {
                    episodeIDs[step.episode] = try await episodeID(c, name: step.episode, wanted: step.identity?.episodeID, createdAt: step.createdAt, path: path, logger: logger)
                }
                var ids = [Int64]()
                ids.reserveCapacity(batch.count)
                let withIDs = batch.first?.identity != nil
                let columns = stepColumnList + (withIDs ? ["id"] : [])
                for start in stride(from: 0, to: batch.count, by: rowsPerStatement) {
                    let chunk = batch[start..<min(start + rowsPerStatement, batch.count)]
                    var binds = PostgresBindings(capacity: chunk.count * columns.count)
                    var tuples = [String]()
                    tuples.reserveCapacity(chunk.count)
                    for step in chunk {
                        let base = binds.count
                        tuples.append("(" + (1...columns.count).map { "$\(base + $0)" }.joined(separator: ",") + ")")
                        binds.append(episodeIDs[step.episode]!)
                        binds.append(Int64(step.index))
                        binds.append(step.createdAt)
                        binds.append(step.actionText)
                        try binds.append(step.actionEmbedding)
                        for s in step.states { try binds.append(s) }
                        binds.append(step.provenance)
                        if withIDs { binds.append(step.identity!.stepID) }
                    }
                    let sql = "INSERT INTO steps(\(columns.joined(separator: ", "))) VALUES \(tuples.joined(separator: ", ")) RETURNING id"
                    let returned = try await rows(c, PostgresQuery(unsafeSQL: sql, binds: binds), logger: logger).map { try $0.decode(Int64.self) }
                    guard returned.count == chunk.count else { throw StoreError.io(path: path, reason: "INSERT returned \(returned.count) ids for \(chunk.count) steps") }
                    ids += returned
                }
                if withIDs {
                    // Explicit ids do not move the sequences; keep later store-assigned ids past them.
                    try await c.query("SELECT setval(pg_get_serial_sequence('steps', 'id'), (SELECT max(id) FROM steps))", logger: logger)
                    try await c.query("SELECT setval(pg_get_serial_sequence('episodes', 'id'), (SELECT max(id) FROM episodes))", logger: logger)
                }
                try await insertDetails(c, batch: batch, ids: ids, logger: logger)
                // Delivered to listeners when (and only when) this transaction commits.
                try await c.query("SELECT pg_notify(\(channel), \("\(ids.first!) \(ids.last!) \(ids.count)"))", logger: logger)
                return ids
            }
        } catch {
            if sqlState(error) == "23505" {
                throw StoreError.invalidArgument("\(path): a step of this batch (\(batch.first.map { "\($0.episode):\($0.index)" } ?? "?") …) is already stored")
            }
            if let e = error as? PostgresTransactionError, let inner = e.closureError as? StoreError { throw inner }
            throw error
        }
    }

    /// The ids of a batch that is stored in full (every step's episode and index present), else nil.
    static func storedIDs(_ c: PostgresConnection, _ batch: [EncodedStep], logger: Logger) async throws -> [Int64]? {
        var ids = [Int64]()
        for step in batch {
            let found = try await rows(c, """
                SELECT s.id FROM steps s JOIN episodes e ON e.id = s.episode_id WHERE e.name = \(step.episode) AND s.step_index = \(Int64(step.index))
                """, logger: logger).first.map { try $0.decode(Int64.self) }
            guard let found else { return nil }
            ids.append(found)
        }
        return ids
    }

    /// The id of episode `name`, created (at `createdAt`) when missing; concurrent writers agree through the
    /// UNIQUE(name) constraint. With `wanted` (a shard's episode id) the stored id must be that one.
    static func episodeID(_ c: PostgresConnection, name: String, wanted: Int64?, createdAt: Double, path: String, logger: Logger) async throws -> Int64 {
        if let wanted {
            try await c.query("INSERT INTO episodes(id, name, created_at) VALUES (\(wanted), \(name), \(createdAt)) ON CONFLICT DO NOTHING", logger: logger)
        } else {
            try await c.query("INSERT INTO episodes(name, created_at) VALUES (\(name), \(createdAt)) ON CONFLICT (name) DO NOTHING", logger: logger)
        }
        guard let id = try await rows(c, "SELECT id FROM episodes WHERE name = \(name)", logger: logger).first.map({ try $0.decode(Int64.self) }) else {
            throw StoreError.invalidArgument("\(path): episode id \(wanted ?? 0) (for `\(name)`) is taken by another episode "
                                             + "(shards writing one database must come from one rollout)")
        }
        if let wanted, wanted != id {
            throw StoreError.invalidArgument("\(path): episode `\(name)` is stored as id \(id), this writer expects id \(wanted) "
                                             + "(shards writing one database must come from one rollout)")
        }
        return id
    }

    static func insertDetails(_ c: PostgresConnection, batch: [EncodedStep], ids: [Int64], logger: Logger) async throws {
        var annotationRows = [(Int64, StepAnnotation)]()
        var recallRows = [(Int64, Int, RecalledStep)]()
        for (step, id) in zip(batch, ids) {
            for a in step.annotations { annotationRows.append((id, a)) }
            for (rank, r) in step.recalls.enumerated() { recallRows.append((id, rank, r)) }
        }
        for start in stride(from: 0, to: annotationRows.count, by: rowsPerStatement) {
            var binds = PostgresBindings()
            var tuples = [String]()
            for (id, a) in annotationRows[start..<min(start + rowsPerStatement, annotationRows.count)] {
                let base = binds.count
                tuples.append("(" + (1...7).map { "$\(base + $0)" }.joined(separator: ",") + ")")
                binds.append(id); binds.append(a.kind); binds.append(Int64(a.rank)); binds.append(a.item)
                binds.append(a.score); binds.append(a.reason); binds.append(a.details)
            }
            try await c.query(PostgresQuery(unsafeSQL: "INSERT INTO step_annotations(step_id, kind, rank, item, score, reason, details) VALUES "
                                            + tuples.joined(separator: ", "), binds: binds), logger: logger)
        }
        for start in stride(from: 0, to: recallRows.count, by: rowsPerStatement) {
            var binds = PostgresBindings()
            var tuples = [String]()
            for (id, rank, r) in recallRows[start..<min(start + rowsPerStatement, recallRows.count)] {
                let base = binds.count
                tuples.append("(" + (1...12).map { "$\(base + $0)" }.joined(separator: ",") + ")")
                binds.append(id); binds.append(Int64(rank)); binds.append(r.stepID); binds.append(Double(r.score))
                binds.append(Double(r.stateSimilarity)); binds.append(Double(r.actionSimilarity)); binds.append(Double(r.recency))
                binds.append(r.stepsAgo); binds.append(Double(r.weights.state)); binds.append(Double(r.weights.action))
                binds.append(Double(r.weights.recency)); binds.append(Double(r.weights.halfLife))
            }
            try await c.query(PostgresQuery(unsafeSQL: """
                INSERT INTO recalls(step_id, rank, recalled_step_id, score, state_similarity, action_similarity, recency, steps_ago, \
                weight_state, weight_action, weight_recency, half_life) VALUES
                """ + " " + tuples.joined(separator: ", "), binds: binds), logger: logger)
        }
    }

    // MARK: Reading

    /// `SELECT` of a step's columns, in the order `decodeRows` reads them.
    static var stepSelect: String {
        "SELECT s.id, s.episode_id, e.name, s.step_index, s.created_at, s.action_text, s.action_embedding, "
            + EpisodeStore.stateColumns.map { "s.\($0)" }.joined(separator: ", ")
            + ", s.provenance FROM steps s JOIN episodes e ON e.id = s.episode_id"
    }

    static func data(_ buffer: ByteBuffer?) -> Data? {
        buffer.map { Data($0.readableBytesView) }
    }

    /// Steps of `query` (built on `stepSelect`) with their episode ids; annotations and recalls too unless `bare`.
    static func fetchSteps(_ c: PostgresConnection, _ query: PostgresQuery, bare: Bool, dim: Int, actionDim: Int?, path: String,
                           logger: Logger) async throws -> [(episodeID: Int64, step: StoredStep)] {
        struct Raw {
            var id: Int64, episodeID: Int64, name: String, index: Int64, createdAt: Double, actionText: String
            var action: Data?, states: [Data?], provenance: String?
        }
        var raws = [Raw]()
        for row in try await rows(c, query, logger: logger) {
            let r = row.makeRandomAccess()
            var states = [Data?]()
            states.reserveCapacity(EpisodeStore.stateColumns.count)
            for i in 0..<EpisodeStore.stateColumns.count { states.append(data(try r[7 + i].decode(ByteBuffer?.self))) }
            raws.append(Raw(
                id: try r[0].decode(Int64.self), episodeID: try r[1].decode(Int64.self), name: try r[2].decode(String.self),
                index: try r[3].decode(Int64.self), createdAt: try r[4].decode(Double.self), actionText: try r[5].decode(String.self),
                action: data(try r[6].decode(ByteBuffer?.self)), states: states, provenance: try r[7 + states.count].decode(String?.self)))
        }
        var annotations = [Int64: [StepAnnotation]]()
        var recalls = [Int64: [RecalledStep]]()
        if !bare && !raws.isEmpty {
            let ids = raws.map(\.id)
            for row in try await rows(c, """
                SELECT step_id, kind, rank, item, score, reason, details FROM step_annotations WHERE step_id = ANY(\(ids)) ORDER BY step_id, kind, rank, id
                """, logger: logger) {
                let (stepID, kind, rank, item, score, reason, details) = try row.decode((Int64, String, Int64, String, Double?, String?, String?).self)
                annotations[stepID, default: []].append(StepAnnotation(kind: kind, rank: Int(rank), item: item, score: score, reason: reason, details: details))
            }
            for row in try await rows(c, """
                SELECT r.step_id, r.recalled_step_id, e.name, s.step_index, r.score, r.state_similarity, r.action_similarity, r.recency, r.steps_ago,
                r.weight_state, r.weight_action, r.weight_recency, r.half_life FROM recalls r JOIN steps s ON s.id = r.recalled_step_id
                JOIN episodes e ON e.id = s.episode_id WHERE r.step_id = ANY(\(ids)) ORDER BY r.step_id, r.rank, r.id
                """, logger: logger) {
                let r = row.makeRandomAccess()
                let f = { (i: Int) throws -> Float in Float(try r[i].decode(Double.self)) }
                recalls[try r[0].decode(Int64.self), default: []].append(RecalledStep(
                    stepID: try r[1].decode(Int64.self), episode: try r[2].decode(String.self), index: Int(try r[3].decode(Int64.self)),
                    score: try f(4), stateSimilarity: try f(5), actionSimilarity: try f(6), recency: try f(7), stepsAgo: try r[8].decode(Int64.self),
                    weights: RecallWeights(state: try f(9), action: try f(10), recency: try f(11), halfLife: try f(12))))
            }
        }
        return try raws.map { raw in
            (raw.episodeID, try EpisodeStore.decodeStep(
                id: raw.id, episode: raw.name, index: Int(raw.index), createdAt: raw.createdAt, actionText: raw.actionText,
                actionEmbedding: raw.action, states: raw.states, provenance: raw.provenance, annotations: annotations[raw.id] ?? [],
                recalls: recalls[raw.id] ?? [], dim: dim, actionDim: actionDim, path: path))
        }
    }

    func fetch(_ query: PostgresQuery, bare: Bool = false) throws -> [(episodeID: Int64, step: StoredStep)] {
        let dim = dim, actionDim = actionDim, path = path, logger = logger
        return try withConnection { c, _ in try await Self.fetchSteps(c, query, bare: bare, dim: dim, actionDim: actionDim, path: path, logger: logger) }
    }

    public func episodes() throws -> [EpisodeSummary] {
        let logger = logger
        return try withConnection { c, _ in
            try await Self.rows(c, """
                SELECT e.id, e.name, e.created_at, count(s.id), min(s.step_index), max(s.step_index)
                FROM episodes e LEFT JOIN steps s ON s.episode_id = e.id GROUP BY e.id ORDER BY e.id
                """, logger: logger).map { row in
                let (id, name, createdAt, n, first, last) = try row.decode((Int64, String, Double, Int64, Int64?, Int64?).self)
                return EpisodeSummary(id: id, name: name, stepCount: Int(n), firstStep: first.map(Int.init), lastStep: last.map(Int.init), createdAt: createdAt)
            }
        }
    }

    public func stepCount() throws -> Int {
        let logger = logger
        return try withConnection { c, _ in Int(try await Self.rows(c, "SELECT count(*) FROM steps", logger: logger).first!.decode(Int64.self)) }
    }

    public func steps(_ reference: StepReference) throws -> [StoredStep] {
        let logger = logger, episode = reference.episode
        let exists = try withConnection { c, _ in try await !Self.rows(c, "SELECT 1 FROM episodes WHERE name = \(episode)", logger: logger).isEmpty }
        guard exists else { throw StoreError.notFound(path: path, what: "episode `\(reference.episode)`") }
        var query = PostgresQuery(unsafeSQL: Self.stepSelect + " WHERE e.name = $1 ORDER BY s.step_index")
        query.binds.append(reference.episode)
        if let index = reference.index {
            query = PostgresQuery(unsafeSQL: Self.stepSelect + " WHERE e.name = $1 AND s.step_index = $2")
            query.binds.append(reference.episode)
            query.binds.append(Int64(index))
        }
        let steps = try fetch(query).map(\.step)
        if steps.isEmpty, reference.index != nil { throw StoreError.notFound(path: path, what: "step \(reference)") }
        return steps
    }

    public func step(id: Int64) throws -> StoredStep {
        var query = PostgresQuery(unsafeSQL: Self.stepSelect + " WHERE s.id = $1")
        query.binds.append(id)
        guard let step = try fetch(query).first?.step else { throw StoreError.notFound(path: path, what: "step id \(id)") }
        return step
    }

    public func steps(afterID: Int64, limit: Int) throws -> [StoredStep] {
        var query = PostgresQuery(unsafeSQL: Self.stepSelect + " WHERE s.id > $1 ORDER BY s.id LIMIT $2")
        query.binds.append(afterID)
        query.binds.append(Int64(limit))
        return try fetch(query).map(\.step)
    }

    // MARK: Recall

    /// Recall with the project's own exact index (the same code as the SQLite store's) over this database's keys:
    /// the steps are mirrored, in id order, into an in-memory episode store, fetching only what is new since the
    /// last call. A step committed late with a smaller id than one already mirrored (concurrent writers), or a
    /// prune, rebuilds the mirror.
    public func recall(_ query: RecallQuery, k: Int, weights: RecallWeights, threads: Int) throws -> [RecalledStep] {
        try refreshMirror()
        guard let mirror else { return [] }
        return try mirror.recall(query, k: k, weights: weights, threads: threads)
    }

    func refreshMirror() throws {
        let logger = logger
        let (generation, countBelow) = try withConnection { [mirrorLastID] c, _ -> (String, Int) in
            let g = try await Self.rows(c, "SELECT value FROM store_info WHERE key = 'prune_generation'", logger: logger).first.map { try $0.decode(String.self) } ?? "0"
            let n = try await Self.rows(c, "SELECT count(*) FROM steps WHERE id <= \(mirrorLastID)", logger: logger).first!.decode(Int64.self)
            return (g, Int(n))
        }
        let mirrored = try mirror?.stepCount() ?? 0
        if mirror == nil || generation != mirrorGeneration || countBelow != mirrored {
            mirror = try EpisodeStore(inMemoryWithDim: dim)
            mirrorLastID = 0
            mirrorGeneration = generation
        }
        while true {
            var query = PostgresQuery(unsafeSQL: Self.stepSelect + " WHERE s.id > $1 ORDER BY s.id LIMIT 4096")
            query.binds.append(mirrorLastID)
            let page = try fetch(query, bare: true)
            guard let last = page.last else { return }
            try mirror!.append(page.map(\.step.record), recalls: Array(repeating: [], count: page.count),
                               identities: page.map { StoreIdentity(stepID: $0.step.id, episodeID: $0.episodeID) })
            mirrorLastID = last.step.id
            if actionDim == nil { actionDim = mirror!.actionDim }
        }
    }
}
