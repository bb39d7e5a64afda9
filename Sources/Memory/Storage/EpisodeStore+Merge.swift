// Merging episode stores: the shards of one sharded rollout (or a store and its retried copies) into one new store.
// Rows keep their ids; a step found in several inputs is kept once; disagreeing inputs are refused. Not a general
// "append store B to store A": stores written independently reuse the same ids and are reported as conflicts.
import Foundation
import GRDB

/// What `EpisodeStore.merge` did.
public struct MergeReport: Equatable, Sendable, Codable {
    /// One input store.
    public struct Input: Equatable, Sendable, Codable {
        /// Its path.
        public var path: String
        /// Steps it holds.
        public var steps: Int
        /// Of those, steps an earlier input already held (identical apart from their creation time), left out.
        public var duplicates: Int
    }

    /// The inputs, in argument order.
    public var inputs: [Input]
    /// The merged store.
    public var output: String
    /// Episodes and steps in the merged store.
    public var episodes: Int, steps: Int
    /// Annotation and recall rows in the merged store.
    public var annotations: Int, recalls: Int
}

extension EpisodeStore {
    /// The columns of `steps` whose values must agree when two inputs hold the same step id (all but `created_at`:
    /// a retried shard recomputes the same step later).
    static let payloadColumns = ["episode_id", "step_index", "action_text", "action_embedding"] + stateColumns + ["provenance"]

    /// Merges episode stores into a new store at `output`.
    ///
    /// Every row keeps its id, so the shards of a sharded rollout (whose steps carry the ids of the unsharded run)
    /// merge into exactly the unsharded run's store; annotation and recall rows are renumbered in step-id order, as
    /// the unsharded run numbered them. A step id held by several inputs must hold the same step (episode, index,
    /// action, every embedding bit, provenance): it is kept once, from the first input (a retried shard's store
    /// beside its earlier attempt's). The merged store is written under a temporary name and renamed into place,
    /// so a failed merge leaves no `output`; the inputs are only read.
    ///
    /// - Throws: `StoreError.invalidArgument` when `output` exists or no input is given; `.dimensionMismatch` when
    ///   the inputs' dimensions differ; `.mergeConflict` when two inputs disagree on an id; open errors of the inputs.
    public static func merge(_ inputs: [URL], into output: URL, progress: (Int, Int) -> Void = { _, _ in }) throws -> MergeReport {
        guard !inputs.isEmpty else { throw StoreError.invalidArgument("merge: give at least one input store") }
        guard !FileManager.default.fileExists(atPath: output.path) else {
            throw StoreError.invalidArgument("merge: \(output.path) exists; the merged store is always a new file (remove it or pick another name)")
        }
        var dim: Int?, actionDim: Int?
        var counts: [Int] = []
        for url in inputs {
            let store = try EpisodeStore(url: url, readOnly: true)
            if let dim, dim != store.dim {
                throw StoreError.dimensionMismatch(path: url.path, expected: dim, got: store.dim, field: "the store's dimension (first input: \(inputs[0].path))")
            }
            if let a = store.actionDim {
                if let actionDim, actionDim != a {
                    throw StoreError.dimensionMismatch(path: url.path, expected: actionDim, got: a, field: "the store's action dimension")
                }
                actionDim = a
            }
            dim = store.dim
            counts.append(try store.stepCount())
        }
        guard let dim else { throw StoreError.invalidArgument("merge: no input") }
        let tmp = output.deletingLastPathComponent().appendingPathComponent(".\(output.lastPathComponent).merging-\(getpid())")
        func removeTemporary() { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp.path + suffix) } }
        removeTemporary()
        try createEmpty(at: tmp, dim: dim)
        do {
            var config = Configuration()
            config.foreignKeysEnabled = true
            let queue: DatabaseQueue
            do { queue = try DatabaseQueue(path: tmp.path, configuration: config) } catch { throw openError(error, path: tmp.path, readOnly: false) }
            var report = MergeReport(inputs: [], output: output.path, episodes: 0, steps: 0, annotations: 0, recalls: 0)
            let columns = (["id", "created_at"] + payloadColumns).joined(separator: ", ")
            let same = payloadColumns.map { "m.\($0) IS s.\($0)" }.joined(separator: " AND ")
            do {
                try queue.writeWithoutTransaction { db in
                    try db.execute(sql: """
                        CREATE TEMP TABLE staged_annotations(step_id INTEGER, source_id INTEGER, kind TEXT, rank INTEGER, item TEXT,
                            score REAL, reason TEXT, details TEXT);
                        CREATE TEMP TABLE staged_recalls(step_id INTEGER, source_id INTEGER, rank INTEGER, recalled_step_id INTEGER,
                            score REAL, state_similarity REAL, action_similarity REAL, recency REAL, steps_ago INTEGER,
                            weight_state REAL, weight_action REAL, weight_recency REAL, half_life REAL);
                        CREATE TEMP TABLE new_steps(id INTEGER PRIMARY KEY);
                        """)
                }
                for (position, url) in inputs.enumerated() {
                    let duplicates = try queue.writeWithoutTransaction { db -> Int in
                        try db.execute(sql: "ATTACH DATABASE ? AS src", arguments: [url.path])
                        defer { try? db.execute(sql: "DETACH DATABASE src") }
                        var duplicates = 0
                        try db.inTransaction {
                            if let row = try Row.fetchOne(db, sql: """
                                SELECT s.id AS sid, s.name AS sname, m.id AS mid, m.name AS mname FROM src.episodes s JOIN main.episodes m
                                ON (m.id = s.id) <> (m.name = s.name) LIMIT 1
                                """) {
                                throw StoreError.mergeConflict(
                                    path: url.path,
                                    reason: "its episode `\(row["sname"] as String)` (id \(row["sid"] as Int64)) meets episode `\(row["mname"] as String)` "
                                        + "(id \(row["mid"] as Int64)) of an earlier input; only shards of one rollout (or copies of one store) merge")
                            }
                            if let row = try Row.fetchOne(db, sql: "SELECT s.id AS id, s.step_index AS idx FROM src.steps s JOIN main.steps m ON m.id = s.id WHERE NOT (\(same)) LIMIT 1") {
                                throw StoreError.mergeConflict(
                                    path: url.path,
                                    reason: "step id \(row["id"] as Int64) differs from the step with that id in an earlier input; "
                                        + "only shards of one rollout (or copies of one store) merge")
                            }
                            if let row = try Row.fetchOne(db, sql: """
                                SELECT s.id AS sid, m.id AS mid FROM src.steps s JOIN main.steps m
                                ON m.episode_id = s.episode_id AND m.step_index = s.step_index AND m.id <> s.id LIMIT 1
                                """) {
                                throw StoreError.mergeConflict(
                                    path: url.path, reason: "step id \(row["sid"] as Int64) is stored as id \(row["mid"] as Int64) in an earlier input")
                            }
                            try db.execute(sql: """
                                INSERT INTO main.episodes(id, name, created_at, metadata)
                                SELECT id, name, created_at, metadata FROM src.episodes WHERE id NOT IN (SELECT id FROM main.episodes)
                                """)
                            try db.execute(sql: "DELETE FROM temp.new_steps")
                            try db.execute(sql: "INSERT INTO temp.new_steps SELECT id FROM src.steps WHERE id NOT IN (SELECT id FROM main.steps)")
                            duplicates = try Int.fetchOne(db, sql: "SELECT count(*) FROM src.steps WHERE id NOT IN (SELECT id FROM temp.new_steps)") ?? 0
                            try db.execute(sql: "INSERT INTO main.steps(\(columns)) SELECT \(columns) FROM src.steps WHERE id IN (SELECT id FROM temp.new_steps)")
                            try db.execute(sql: """
                                INSERT INTO temp.staged_annotations SELECT step_id, id, kind, rank, item, score, reason, details
                                FROM src.step_annotations WHERE step_id IN (SELECT id FROM temp.new_steps)
                                """)
                            try db.execute(sql: """
                                INSERT INTO temp.staged_recalls SELECT step_id, id, rank, recalled_step_id, score, state_similarity, action_similarity,
                                recency, steps_ago, weight_state, weight_action, weight_recency, half_life
                                FROM src.recalls WHERE step_id IN (SELECT id FROM temp.new_steps)
                                """)
                            return .commit
                        }
                        return duplicates
                    }
                    report.inputs.append(.init(path: url.path, steps: counts[position], duplicates: duplicates))
                    progress(position + 1, inputs.count)
                }
                try queue.writeWithoutTransaction { db in
                    try db.inTransaction {
                        // Numbered in step-id order, then in each input's own order: as the unsharded run numbered them.
                        try db.execute(sql: """
                            INSERT INTO main.step_annotations(step_id, kind, rank, item, score, reason, details)
                            SELECT step_id, kind, rank, item, score, reason, details FROM temp.staged_annotations ORDER BY step_id, source_id
                            """)
                        try db.execute(sql: """
                            INSERT INTO main.recalls(step_id, rank, recalled_step_id, score, state_similarity, action_similarity, recency,
                                steps_ago, weight_state, weight_action, weight_recency, half_life)
                            SELECT step_id, rank, recalled_step_id, score, state_similarity, action_similarity, recency, steps_ago,
                                weight_state, weight_action, weight_recency, half_life FROM temp.staged_recalls ORDER BY step_id, source_id
                            """)
                        if let actionDim {
                            try db.execute(sql: "INSERT OR REPLACE INTO store_info(key, value) VALUES ('action_dim', ?)", arguments: [String(actionDim)])
                        }
                        return .commit
                    }
                    report.episodes = try Int.fetchOne(db, sql: "SELECT count(*) FROM episodes") ?? 0
                    report.steps = try Int.fetchOne(db, sql: "SELECT count(*) FROM steps") ?? 0
                    report.annotations = try Int.fetchOne(db, sql: "SELECT count(*) FROM step_annotations") ?? 0
                    report.recalls = try Int.fetchOne(db, sql: "SELECT count(*) FROM recalls") ?? 0
                    _ = try db.checkpoint(.truncate)
                }
                try queue.close()
            } catch let error as StoreError {
                try? queue.close()
                throw error
            } catch {
                try? queue.close()
                throw openError(error, path: tmp.path, readOnly: false)
            }
            guard !FileManager.default.fileExists(atPath: output.path) else {
                throw StoreError.invalidArgument("merge: \(output.path) appeared while merging; the merged store is left at \(tmp.path)")
            }
            do { try FileManager.default.moveItem(at: tmp, to: output) } catch {
                throw StoreError.io(path: output.path, reason: "cannot rename the merged store into place: \(error.localizedDescription)")
            }
            for suffix in ["-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp.path + suffix) }
            return report
        } catch {
            removeTemporary()
            throw error
        }
    }
}
