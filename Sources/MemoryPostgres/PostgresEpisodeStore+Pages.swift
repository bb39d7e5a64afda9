// Paged listings of a PostgreSQL store (the inspector's cursors, `worldgpt serve --db postgresql://…`): the same pages,
// filters and cursors as the SQLite store's (EpisodeStore+Pages.swift), from SQL.
import Formats
import Foundation
import Logging
import Memory
import NIOCore
import PostgresNIO

extension PostgresEpisodeStore {
    /// Episodes with id greater than `after`, by id, at most `limit`, matching `filter`. Counts come from
    /// `episode_step_counts` (migration `v2-step-counts`); a store opened read-only before that migration ran counts
    /// each listed episode's steps instead (same numbers, slower on long episodes).
    /// - Throws: `StoreError.invalidArgument` when `limit` is not in 1...10,000.
    public func episodes(after: Int64?, limit: Int, filter: EpisodeFilter) throws -> Page<EpisodeSummary> {
        guard (1...10_000).contains(limit) else { throw StoreError.invalidArgument("limit must be in 1...10000 (got \(limit))") }
        var binds = PostgresBindings()
        binds.append(after ?? Int64.min)
        var conditions = ["e.id > $1"]
        if let scenario = filter.scenario {
            binds.append(scenario)
            // provenance is the JSON text the SQLite store holds too (NULL for steps without one).
            conditions.append("EXISTS (SELECT 1 FROM steps s WHERE s.episode_id = e.id AND (s.provenance::jsonb ->> 'scenario') = $\(binds.count))")
        }
        if let prefix = filter.namePrefix {
            // starts_with, not LIKE: names may hold `%` and `_`.
            binds.append(prefix)
            conditions.append("starts_with(e.name, $\(binds.count))")
        }
        if let t = filter.createdAfter { binds.append(t); conditions.append("e.created_at >= $\(binds.count)") }
        if let t = filter.createdBefore { binds.append(t); conditions.append("e.created_at < $\(binds.count)") }
        binds.append(Int64(limit + 1))
        let limitBind = binds.count
        let count = try hasStepCounts()
            ? "(SELECT steps FROM episode_step_counts WHERE episode_id = e.id)"
            : "(SELECT count(*) FROM steps WHERE episode_id = e.id)"
        // First and last are one probe each of the UNIQUE(episode_id, step_index) index.
        let query = PostgresQuery(unsafeSQL: """
            SELECT e.id, e.name, e.created_at, coalesce(\(count), 0)::bigint,
                (SELECT min(step_index) FROM steps WHERE episode_id = e.id), (SELECT max(step_index) FROM steps WHERE episode_id = e.id)
            FROM episodes e WHERE \(conditions.joined(separator: " AND ")) ORDER BY e.id LIMIT $\(limitBind)
            """, binds: binds)
        let logger = logger
        let rows = try withConnection { c, _ in
            try await Self.rows(c, query, logger: logger).map { row in
                let (id, name, createdAt, n, first, last) = try row.decode((Int64, String, Double, Int64, Int64?, Int64?).self)
                return EpisodeSummary(id: id, name: name, stepCount: Int(n), firstStep: first.map(Int.init), lastStep: last.map(Int.init), createdAt: createdAt)
            }
        }
        let items = Array(rows.prefix(limit))
        return Page(items: items, nextCursor: rows.count > limit ? items.last?.id : nil)
    }

    /// The steps of `episode` with index greater than `afterIndex`, by index, at most `limit`; the cursor is a step index.
    /// - Throws: `StoreError.notFound` when the episode does not exist, `.invalidArgument` for a bad limit.
    public func steps(episode: String, afterIndex: Int?, limit: Int) throws -> Page<StoredStep> {
        guard (1...10_000).contains(limit) else { throw StoreError.invalidArgument("limit must be in 1...10000 (got \(limit))") }
        let logger = logger
        let episodeID = try withConnection { c, _ in
            try await Self.rows(c, "SELECT id FROM episodes WHERE name = \(episode)", logger: logger).first.map { try $0.decode(Int64.self) }
        }
        guard let episodeID else { throw StoreError.notFound(path: path, what: "episode `\(episode)`") }
        var query = PostgresQuery(unsafeSQL: Self.stepSelect + " WHERE s.episode_id = $1 AND s.step_index > $2 ORDER BY s.step_index LIMIT $3")
        query.binds.append(episodeID)
        query.binds.append(Int64(afterIndex ?? Int.min))
        query.binds.append(Int64(limit + 1))
        let steps = try fetch(query).map(\.step)
        let items = Array(steps.prefix(limit))
        return Page(items: items, nextCursor: steps.count > limit ? items.last.map { Int64($0.record.index) } : nil)
    }

    /// True once the store has `episode_step_counts`; asked of the server until it holds (another process may migrate
    /// a store this read-only one opened before).
    func hasStepCounts() throws -> Bool {
        if stepCountsReady { return true }
        let logger = logger
        stepCountsReady = try withConnection { c, _ in
            try await Self.rows(c, "SELECT to_regclass('episode_step_counts') IS NOT NULL", logger: logger).first!.decode(Bool.self)
        }
        return stepCountsReady
    }
}
