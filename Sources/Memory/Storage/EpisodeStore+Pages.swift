// Paged listings of episodes and of an episode's steps, for inspectors (the HTTP API's cursors). Filters apply
// before the limit, so a page is full whenever enough matching rows exist; a cursor is the last row's key.
import Formats
import Foundation
import GRDB

/// Which episodes a paged listing returns.
public struct EpisodeFilter: Equatable, Sendable {
    /// Only episodes with at least one step of this scenario (the steps' provenance).
    public var scenario: String?
    /// Only episodes whose name starts with this text (a run's episodes share a prefix, a fork ends in `-fork`).
    public var namePrefix: String?
    /// Only episodes created at or after this time (seconds since 1970).
    public var createdAfter: Double?
    /// Only episodes created before this time (seconds since 1970).
    public var createdBefore: Double?

    /// A filter; every field nil matches every episode.
    public init(scenario: String? = nil, namePrefix: String? = nil, createdAfter: Double? = nil, createdBefore: Double? = nil) {
        self.scenario = scenario
        self.namePrefix = namePrefix
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
    }
}

/// One page of a listing and the cursor of the next one (nil on the last page).
public struct Page<Item: Sendable>: Sendable {
    /// The rows of this page, in key order.
    public var items: [Item]
    /// Pass this as `after` to get the next page; nil when this page is the last.
    public var nextCursor: Int64?

    /// A page (each backend fills it its own way).
    public init(items: [Item], nextCursor: Int64?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

extension EpisodeStore {
    /// Episodes with id greater than `after`, by id, at most `limit`, matching `filter`.
    /// - Throws: `StoreError.invalidArgument` when `limit` is not in 1...10,000.
    public func episodes(after: Int64?, limit: Int, filter: EpisodeFilter = EpisodeFilter()) throws -> Page<EpisodeSummary> {
        guard (1...10_000).contains(limit) else { throw StoreError.invalidArgument("limit must be in 1...10000 (got \(limit))") }
        var conditions = ["e.id > ?"]
        var arguments: StatementArguments = [after ?? Int64.min]
        if let scenario = filter.scenario {
            conditions.append("EXISTS (SELECT 1 FROM steps s WHERE s.episode_id = e.id AND json_extract(s.provenance, '$.scenario') = ?)")
            arguments += [scenario]
        }
        if let prefix = filter.namePrefix {
            // substr instead of LIKE: names may hold `%` and `_`.
            conditions.append("substr(e.name, 1, ?) = ?")
            arguments += [prefix.count, prefix]
        }
        if let t = filter.createdAfter { conditions.append("e.created_at >= ?"); arguments += [t] }
        if let t = filter.createdBefore { conditions.append("e.created_at < ?"); arguments += [t] }
        arguments += [limit + 1]
        // Per-episode aggregates as correlated subqueries: first and last are one probe each of the (episode_id,
        // step_index) index, and the count is read from episode_step_counts (kept by triggers), so a page costs a few
        // probes per episode however many steps the store holds. A store opened read-only before its v2 migration ran
        // has no such table: its count scans the episode's index range.
        let conditionSQL = conditions.joined(separator: " AND ")
        let bound = arguments
        let rows = try read { db -> [Row] in
            let count = try db.tableExists("episode_step_counts")
                ? "(SELECT steps FROM episode_step_counts WHERE episode_id = e.id)"
                : "(SELECT count(*) FROM steps WHERE episode_id = e.id)"
            let sql = """
                SELECT e.id, e.name, e.created_at, coalesce(\(count), 0) AS n,
                    (SELECT min(step_index) FROM steps WHERE episode_id = e.id) AS first,
                    (SELECT max(step_index) FROM steps WHERE episode_id = e.id) AS last
                FROM episodes e WHERE \(conditionSQL) ORDER BY e.id LIMIT ?
                """
            return try Row.fetchAll(db, sql: sql, arguments: bound)
        }
        let items = rows.prefix(limit).map { row in
            EpisodeSummary(id: row["id"], name: row["name"], stepCount: row["n"], firstStep: row["first"], lastStep: row["last"], createdAt: row["created_at"])
        }
        return Page(items: Array(items), nextCursor: rows.count > limit ? items.last?.id : nil)
    }

    /// The steps of `episode` with index greater than `afterIndex`, by index, at most `limit`.
    /// The cursor is a step index.
    /// - Throws: `StoreError.notFound` when the episode does not exist, `.invalidArgument` for a bad limit.
    public func steps(episode: String, afterIndex: Int?, limit: Int) throws -> Page<StoredStep> {
        guard (1...10_000).contains(limit) else { throw StoreError.invalidArgument("limit must be in 1...10000 (got \(limit))") }
        let path = path
        let dim = dim, actionDim = actionDim
        let steps = try read { db -> [StoredStep] in
            guard let episodeID = try Int64.fetchOne(db, sql: "SELECT id FROM episodes WHERE name = ?", arguments: [episode]) else {
                throw StoreError.notFound(path: path, what: "episode `\(episode)`")
            }
            let rows = try Row.fetchAll(db, sql: """
                SELECT s.*, e.name AS episode_name FROM steps s JOIN episodes e ON e.id = s.episode_id
                WHERE s.episode_id = ? AND s.step_index > ? ORDER BY s.step_index LIMIT ?
                """, arguments: [episodeID, afterIndex ?? Int.min, limit + 1])
            return try rows.map { try Self.decodeStep($0, db: db, path: path, dim: dim, actionDim: actionDim) }
        }
        let items = Array(steps.prefix(limit))
        return Page(items: items, nextCursor: steps.count > limit ? items.last.map { Int64($0.record.index) } : nil)
    }
}
