// `memory stats | verify | prune` on a PostgreSQL store: the same reports as the SQLite store's, from SQL.
import Formats
import Foundation
import Logging
import Memory
import NIOCore
import PostgresNIO

extension PostgresEpisodeStore {
    static var embeddingColumns: [String] { ["action_embedding"] + EpisodeStore.stateColumns }

    public func stats() throws -> StoreStats {
        let logger = logger, columns = Self.embeddingColumns
        let (e, s, a, r, counts, oldest, newest, bytes) = try withConnection { c, _ in
            let row = try await Self.rows(c, PostgresQuery(unsafeSQL: "SELECT count(*), min(created_at), max(created_at), "
                + columns.map { "count(\($0))" }.joined(separator: ", ") + " FROM steps"), logger: logger).first!.makeRandomAccess()
            var counts = [String: Int]()
            for (i, column) in columns.enumerated() { counts[column] = Int(try row[3 + i].decode(Int64.self)) }
            func count(_ sql: String) async throws -> Int { Int(try await Self.rows(c, PostgresQuery(unsafeSQL: sql), logger: logger).first!.decode(Int64.self)) }
            return (try await count("SELECT count(*) FROM episodes"), Int(try row[0].decode(Int64.self)),
                    try await count("SELECT count(*) FROM step_annotations"), try await count("SELECT count(*) FROM recalls"), counts,
                    try row[1].decode(Double?.self), try row[2].decode(Double?.self), try await count("SELECT pg_database_size(current_database())"))
        }
        return StoreStats(
            path: path, dim: dim, migrations: try appliedMigrations(), episodes: e, steps: s, annotations: a, recalls: r,
            embeddings: counts.filter { $0.value > 0 }, fileBytes: Int64(bytes), walBytes: 0, oldestStep: oldest, newestStep: newest)
    }

    /// Metadata, orphans, and every embedding's length and finiteness, a page of 512 steps at a time.
    public func verify() throws -> VerifyReport {
        let logger = logger, dim = dim, columns = Self.embeddingColumns
        var problems = [String]()
        let (format, storedActionDim, orphans) = try withConnection { c, _ in
            (try await Self.rows(c, "SELECT value FROM store_info WHERE key = 'format'", logger: logger).first.map { try $0.decode(String.self) },
             try await Self.rows(c, "SELECT value FROM store_info WHERE key = 'action_dim'", logger: logger).first.map { try $0.decode(String.self) }.flatMap { Int($0) },
             Int(try await Self.rows(c, "SELECT count(*) FROM steps WHERE episode_id NOT IN (SELECT id FROM episodes)", logger: logger).first!.decode(Int64.self)))
        }
        if format != EpisodeStore.formatName { problems.append("store_info.format is \(format ?? "missing")") }
        if orphans > 0 { problems.append("\(orphans) step(s) reference a missing episode") }
        var checked = 0
        var lastID: Int64 = 0
        while true {
            var query = PostgresQuery(unsafeSQL: "SELECT s.id, s.step_index, e.name, " + columns.map { "s.\($0)" }.joined(separator: ", ")
                + " FROM steps s LEFT JOIN episodes e ON e.id = s.episode_id WHERE s.id > $1 ORDER BY s.id LIMIT 512")
            query.binds.append(lastID)
            let page = try withConnection { c, _ in try await Self.rows(c, query, logger: logger) }
            guard !page.isEmpty else { break }
            for row in page {
                let r = row.makeRandomAccess()
                let id = try r[0].decode(Int64.self), index = try r[1].decode(Int64.self), name = try r[2].decode(String?.self) ?? "?"
                lastID = id
                checked += 1
                var hasInput = false
                for (i, column) in columns.enumerated() {
                    guard let buffer = try r[3 + i].decode(ByteBuffer?.self) else { continue }
                    if column.hasPrefix("input_") { hasInput = true }
                    let width = column == "action_embedding" ? (storedActionDim ?? buffer.readableBytes / 4) : dim
                    var problem: String?
                    if buffer.readableBytes != width * 4 {
                        problem = "\(buffer.readableBytes) bytes (expected \(width * 4))"
                    } else if let values = floats(Data(buffer.readableBytesView)), !values.allSatisfy({ $0.isFinite }) {
                        problem = "NaN or infinite components"
                    }
                    if let problem, problems.count < 1000 { problems.append("step id \(id) (\(name):\(index)) \(column): \(problem)") }
                }
                if !hasInput && problems.count < 1000 { problems.append("step id \(id) (\(name):\(index)) has no input state") }
            }
        }
        return VerifyReport(checkedSteps: checked, problems: problems)
    }

    public func prune(keepLast: Int, dryRun: Bool) throws -> Int {
        guard keepLast >= 0 else { throw StoreError.invalidArgument("--keep-last must be ≥ 0") }
        return try prune(where: """
            id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY episode_id ORDER BY step_index DESC) AS r FROM steps) AS ranked \
            WHERE r > \(keepLast))
            """, dryRun: dryRun)
    }

    public func prune(before date: Date, dryRun: Bool) throws -> Int {
        try prune(where: "created_at < \(date.timeIntervalSince1970)", dryRun: dryRun)
    }

    private func prune(where condition: String, dryRun: Bool) throws -> Int {
        let logger = logger
        if dryRun {
            return try withConnection { c, _ in
                Int(try await Self.rows(c, PostgresQuery(unsafeSQL: "SELECT count(*) FROM steps WHERE \(condition)"), logger: logger).first!.decode(Int64.self))
            }
        }
        guard !isReadOnly else { throw StoreError.readOnly(path: path, reason: "the store was opened read-only") }
        let deleted = try withConnection { c, _ in
            try await c.withTransaction(logger: logger) { c -> Int in
                let n = try await Self.rows(c, PostgresQuery(unsafeSQL: "WITH d AS (DELETE FROM steps WHERE \(condition) RETURNING 1) SELECT count(*) FROM d"),
                                            logger: logger).first!.decode(Int64.self)
                try await c.query("DELETE FROM episodes WHERE id NOT IN (SELECT DISTINCT episode_id FROM steps)", logger: logger)
                if n > 0 {
                    try await c.query("UPDATE store_info SET value = (value::bigint + 1)::text WHERE key = 'prune_generation'", logger: logger)
                }
                return Int(n)
            }
        }
        mirror = nil
        return deleted
    }
}
