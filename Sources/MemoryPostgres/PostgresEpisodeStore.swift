// The episode store in a PostgreSQL database (postgres-nio): the SQLite store's schema with bytea embeddings, many
// writer processes at once, LISTEN/NOTIFY on every commit, reconnection after a server restart. Recall runs the
// project's own exact index (Memory's EpisodeStore) over keys fetched from the server. Reference: docs/scale.md.
import Formats
import Foundation
import Logging
import Memory
import NIOCore
import PostgresNIO

/// An episode store in PostgreSQL. Thread-confined (one per thread), like `EpisodeStore`; any number of processes
/// may write one database at once.
public final class PostgresEpisodeStore: EpisodeRepository {
    /// The NOTIFY channel every committed offload batch is announced on (payload `FIRST_ID LAST_ID COUNT`).
    public static let channel = "worldgpt_steps"
    /// The advisory-lock key that serialises schema creation and migrations between processes.
    static let migrationLock: Int64 = 0x5747_5054_0001

    public let path: String
    public internal(set) var dim: Int
    public internal(set) var actionDim: Int?
    public let isReadOnly: Bool
    let settings: PostgresLocation
    let logger: Logger
    var connection: PostgresConnection?
    /// The recall index over the fetched keys: an in-memory episode store mirroring this database's steps.
    var mirror: EpisodeStore?
    var mirrorLastID: Int64 = 0
    var mirrorGeneration: String?
    /// Whether `episode_step_counts` exists (once true, stays true: no migration removes it).
    var stepCountsReady = false

    /// Connects to `url` and creates or checks the schema.
    ///
    /// - Parameters:
    ///   - dim: required for a new (empty) database; checked against an existing store.
    ///   - readOnly: refuse writes (the inspection commands).
    /// - Throws: `StoreError.io` when the server cannot be reached (after `settings.reconnectSeconds`),
    ///   `.foreignDatabase` for a database holding other tables, `.dimensionMismatch`, `.invalidArgument`.
    public init(url: String, dim: Int?, readOnly: Bool) throws {
        settings = try PostgresLocation(url)
        path = settings.redacted
        isReadOnly = readOnly
        var logger = Logger(label: "worldgpt-pg")
        logger.logLevel = .critical
        self.logger = logger
        self.dim = 0
        let (storedDim, storedActionDim) = try Self.prepareSchema(self, dim: dim, readOnly: readOnly)
        self.dim = storedDim
        actionDim = storedActionDim
    }

    deinit {
        if let connection { try? blocking { try await connection.close() } }
    }
}

// MARK: Connection

/// A parsed `postgresql://USER:PASSWORD@HOST:PORT/DATABASE` URL.
struct PostgresLocation {
    var host: String
    var port: Int
    var user: String
    var password: String?
    var database: String
    var redacted: String
    /// How long to keep reconnecting after the server went away before giving up (`?reconnect=SECONDS`, default 60).
    var reconnectSeconds: Double
    /// How long one operation (a batch's transaction, a page of reads) may go without an answer (`?timeout=SECONDS`,
    /// default 120) before its connection is taken for lost.
    var timeoutSeconds: Double

    init(_ text: String) throws {
        guard let c = URLComponents(string: text), c.scheme == "postgresql" || c.scheme == "postgres" else {
            throw StoreError.invalidArgument("`\(EpisodeStores.redacted(text))` is not a postgresql://USER@HOST:PORT/DATABASE URL")
        }
        redacted = EpisodeStores.redacted(text)
        host = (c.host?.isEmpty == false ? c.host! : "127.0.0.1")
        port = c.port ?? 5432
        user = c.user ?? ProcessInfo.processInfo.environment["PGUSER"] ?? ProcessInfo.processInfo.environment["USER"] ?? "postgres"
        password = c.password ?? ProcessInfo.processInfo.environment["PGPASSWORD"]
        let name = c.path.hasPrefix("/") ? String(c.path.dropFirst()) : c.path
        database = name.isEmpty ? user : name
        reconnectSeconds = 60
        timeoutSeconds = 120
        for item in c.queryItems ?? [] {
            switch item.name {
            case "reconnect":
                guard let v = item.value.flatMap(Double.init), v >= 0 else {
                    throw StoreError.invalidArgument("\(redacted): reconnect=SECONDS must be a number ≥ 0")
                }
                reconnectSeconds = v
            case "timeout":
                guard let v = item.value.flatMap(Double.init), v > 0 else {
                    throw StoreError.invalidArgument("\(redacted): timeout=SECONDS must be a number > 0")
                }
                timeoutSeconds = v
            case "sslmode":
                guard item.value == "disable" || item.value == "prefer" || item.value == "allow" else {
                    throw StoreError.invalidArgument("\(redacted): sslmode=\(item.value ?? "") is not supported (this build speaks plain TCP; "
                                                     + "use the database on loopback or through a tunnel, with sslmode=disable)")
                }
            default:
                throw StoreError.invalidArgument("\(redacted): unknown URL parameter `\(item.name)` (known: reconnect, timeout, sslmode)")
            }
        }
    }

    var configuration: PostgresConnection.Configuration {
        PostgresConnection.Configuration(host: host, port: port, username: user, password: password, database: database, tls: .disable)
    }
}

/// The result of async work handed to the waiting thread (written once, before the semaphore is signalled).
final class ResultBox<T>: @unchecked Sendable { var result: Result<T, Error>? }

/// Runs async work to completion from synchronous code (the store's protocol is synchronous; the caller's thread
/// is never the event loop's).
func blocking<T>(_ body: @escaping () async throws -> T) throws -> T {
    try blocking(timeout: nil, onTimeout: {}, body)
}

/// As `blocking(_:)`; when `timeout` seconds pass without an answer, calls `onTimeout` (which closes the connection, so
/// the pending work fails) and waits 10 s more for the work to end.
func blocking<T>(timeout: Double?, onTimeout: () -> Void, _ body: @escaping () async throws -> T) throws -> T {
    let box = ResultBox<T>()
    let done = DispatchSemaphore(value: 0)
    Task.detached {
        do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
        done.signal()
    }
    if let timeout, done.wait(timeout: .now() + timeout) == .timedOut {
        onTimeout()
        guard done.wait(timeout: .now() + 10) == .success else { throw OperationTimedOut(seconds: timeout) }
    } else if timeout == nil {
        done.wait()
    }
    return try box.result!.get()
}

/// No answer from the server within the operation timeout (a connection that went silent).
struct OperationTimedOut: Error, CustomStringConvertible {
    var seconds: Double
    var description: String { "no answer from the server within \(Int(seconds)) s (?timeout=SECONDS)" }
}

extension PostgresEpisodeStore {
    /// True when `error` means the connection is gone (server restart, network), so reconnecting may help.
    static func isConnectionLoss(_ error: Error) -> Bool {
        if let e = error as? PostgresTransactionError {
            return [e.beginError, e.closureError, e.commitError, e.rollbackError].contains { $0.map(isConnectionLoss) ?? false }
        }
        if let e = error as? PSQLError {
            if [.serverClosedConnection, .connectionError, .clientClosedConnection, .uncleanShutdown].contains(e.code) { return true }
            // 57P01 admin_shutdown, 57P02 crash_shutdown, 57P03 cannot_connect_now (starting up), 08xxx connection exceptions.
            if e.code == .server, let state = e.serverInfo?[.sqlState] { return state.hasPrefix("57P") || state.hasPrefix("08") }
            return false
        }
        if error is IOError || error is ChannelError || error is OperationTimedOut { return true }
        let text = "\(error)"
        return text.contains("connection refused") || text.contains("Connection refused") || text.contains("connectTimeout")
    }

    /// The SQLSTATE of a server error, if `error` is one.
    static func sqlState(_ error: Error) -> String? {
        if let e = error as? PostgresTransactionError { return (e.closureError ?? e.commitError ?? e.beginError).flatMap(sqlState) }
        return (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    /// A readable StoreError for a server or connection error.
    func storeError(_ error: Error) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? PostgresTransactionError, let inner = e.closureError ?? e.commitError ?? e.beginError { return storeError(inner) }
        if let e = error as? PSQLError {
            if let info = e.serverInfo {
                var message = [info[.message], info[.detail].map { "detail: \($0)" }, info[.hint].map { "hint: \($0)" }].compactMap { $0 }.joined(separator: "; ")
                if info[.sqlState] == "3D000" { message += " (create it first: `createdb \(settings.database)` or CREATE DATABASE; the first writer makes the store in it)" }
                return .io(path: path, reason: "PostgreSQL error \(info[.sqlState] ?? "?"): \(message)")
            }
            return .io(path: path, reason: "PostgreSQL connection: \(Self.describe(error))")
        }
        return .io(path: path, reason: "\(error)")
    }

    /// A connection error in words: postgres-nio's code and the underlying system error (its own description hides both).
    static func describe(_ error: Error) -> String {
        guard let e = error as? PSQLError else { return "\(error)" }
        return "\(e.code)" + (e.underlying.map { ": \($0)" } ?? "")
    }

    /// The open connection, connecting (and reconnecting after a loss) as needed.
    func connected() throws -> PostgresConnection {
        if let connection {
            if !connection.isClosed { return connection }
            FileHandle.standardError.write(Data("worldgpt-pg: \(path): connection lost, reconnecting\n".utf8))
            self.connection = nil
        }
        let deadline = Date().addingTimeInterval(settings.reconnectSeconds)
        var delay = 0.1
        while true {
            do {
                let configuration = settings.configuration, logger = logger
                let c = try blocking { try await PostgresConnection.connect(configuration: configuration, id: 1, logger: logger) }
                connection = c
                return c
            } catch {
                let loss = Self.isConnectionLoss(error)
                if !loss { throw storeError(error) }
                if Date() >= deadline {
                    throw StoreError.io(path: path, reason: "cannot reach the server at \(settings.host):\(settings.port) (gave up after "
                                        + "\(Int(settings.reconnectSeconds)) s; ?reconnect=SECONDS sets how long to wait): \(Self.describe(error))")
                }
                FileHandle.standardError.write(Data("worldgpt-pg: \(path): server unreachable, retrying in \(delay) s\n".utf8))
                Thread.sleep(forTimeInterval: delay)
                delay = min(delay * 2, 2)
            }
        }
    }

    /// Runs `body` on the connection; after a connection loss reconnects and runs it again (for reads, and for
    /// writes whose `body` checks first whether an earlier attempt already committed).
    func withConnection<T>(_ body: @escaping (PostgresConnection, _ retry: Bool) async throws -> T) throws -> T {
        var retry = false
        var losses = 0
        while true {
            // After a loss, `connected()` waits up to `reconnect` seconds for the server and says so when it gives up.
            let c = try connected()
            do {
                let again = retry
                // A connection that goes silent (seen once when the server stopped mid-query) is closed after the
                // operation timeout, which fails the pending work and counts as a lost connection.
                return try blocking(timeout: settings.timeoutSeconds, onTimeout: { c.close().whenComplete { _ in } }) { try await body(c, again) }
            } catch {
                losses += 1
                guard Self.isConnectionLoss(error), losses <= 5 else { throw storeError(error) }
                FileHandle.standardError.write(Data("worldgpt-pg: \(path): connection lost (\(Self.sqlState(error) ?? "closed")), reconnecting\n".utf8))
                try? blocking { try await c.close() }
                connection = nil
                retry = true
            }
        }
    }

    /// All rows of `query`.
    static func rows(_ c: PostgresConnection, _ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        var out = [PostgresRow]()
        for try await row in try await c.query(query, logger: logger) { out.append(row) }
        return out
    }
}

// MARK: Schema

extension PostgresEpisodeStore {
    /// Embeddings are stored out of line without compression: float32 bytes do not compress, and trying cost time on
    /// every 768-d value (3 KB, past the 2 KB TOAST threshold).
    static let embeddingStorage = (["action_embedding"] + EpisodeStore.stateColumns).map { "ALTER COLUMN \($0) SET STORAGE EXTERNAL" }.joined(separator: ", ")

    /// The migrations, by identifier, in order, each a list of statements: the same identifiers, tables and meaning as
    /// the SQLite store's GRDB migrator (docs/memory.md). Add new ones at the end, never edit old ones.
    static let migrations: [(String, [String])] = [
        ("v1", statements("""
            CREATE TABLE store_info(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
            CREATE TABLE episodes(
                id BIGSERIAL PRIMARY KEY,
                name TEXT NOT NULL UNIQUE,
                created_at DOUBLE PRECISION NOT NULL,
                metadata TEXT);
            CREATE TABLE steps(
                id BIGSERIAL PRIMARY KEY,
                episode_id BIGINT NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
                step_index BIGINT NOT NULL,
                created_at DOUBLE PRECISION NOT NULL,
                action_text TEXT NOT NULL,
                action_embedding BYTEA,
                input_image BYTEA, input_video BYTEA, input_audio BYTEA, input_text BYTEA,
                predicted_image BYTEA, predicted_video BYTEA, predicted_audio BYTEA, predicted_text BYTEA,
                observed_image BYTEA, observed_video BYTEA, observed_audio BYTEA, observed_text BYTEA,
                provenance TEXT,
                UNIQUE(episode_id, step_index));
            CREATE TABLE step_annotations(
                id BIGSERIAL PRIMARY KEY,
                step_id BIGINT NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
                kind TEXT NOT NULL,
                rank BIGINT NOT NULL,
                item TEXT NOT NULL,
                score DOUBLE PRECISION,
                reason TEXT,
                details TEXT);
            CREATE INDEX step_annotations_step ON step_annotations(step_id);
            CREATE TABLE recalls(
                id BIGSERIAL PRIMARY KEY,
                step_id BIGINT NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
                rank BIGINT NOT NULL,
                recalled_step_id BIGINT NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
                score DOUBLE PRECISION NOT NULL,
                state_similarity DOUBLE PRECISION NOT NULL,
                action_similarity DOUBLE PRECISION NOT NULL,
                recency DOUBLE PRECISION NOT NULL,
                steps_ago BIGINT NOT NULL,
                weight_state DOUBLE PRECISION NOT NULL,
                weight_action DOUBLE PRECISION NOT NULL,
                weight_recency DOUBLE PRECISION NOT NULL,
                half_life DOUBLE PRECISION NOT NULL);
            CREATE INDEX recalls_step ON recalls(step_id);
            CREATE INDEX recalls_recalled ON recalls(recalled_step_id);
            ALTER TABLE steps \(embeddingStorage)
            """)),
        ("v2-step-counts", stepCounts),
    ]

    /// The statements of `sql` (statements separated by `;`, none holding one).
    static func statements(_ sql: String) -> [String] {
        sql.split(separator: ";").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }.filter { !$0.isEmpty }
    }

    /// `v2-step-counts`: each episode's step count, kept by triggers on every insert, delete (cascades included) and
    /// move of a step, so that a page of episodes reads its counts instead of counting each episode's steps. SQLite
    /// keeps them with row triggers; here one statement-level trigger per statement adds up its transition table (an
    /// offload batch's INSERT of 1,000 rows updates each episode's count once). The table is filled under a lock that
    /// holds off writers until the migration commits, so no step is counted twice or missed.
    static let stepCounts: [String] = [
        "LOCK TABLE steps IN SHARE ROW EXCLUSIVE MODE",
        """
        CREATE TABLE episode_step_counts(
            episode_id BIGINT PRIMARY KEY REFERENCES episodes(id) ON DELETE CASCADE,
            steps BIGINT NOT NULL)
        """,
        "INSERT INTO episode_step_counts(episode_id, steps) SELECT episode_id, count(*) FROM steps GROUP BY episode_id",
        """
        CREATE FUNCTION worldgpt_steps_counted_insert() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO episode_step_counts(episode_id, steps)
                SELECT episode_id, count(*) FROM new_steps GROUP BY episode_id ORDER BY episode_id
                ON CONFLICT (episode_id) DO UPDATE SET steps = episode_step_counts.steps + EXCLUDED.steps;
            RETURN NULL;
        END $$
        """,
        """
        CREATE FUNCTION worldgpt_steps_counted_delete() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE episode_step_counts c SET steps = c.steps - d.n
                FROM (SELECT episode_id, count(*) AS n FROM old_steps GROUP BY episode_id) d WHERE c.episode_id = d.episode_id;
            RETURN NULL;
        END $$
        """,
        """
        CREATE FUNCTION worldgpt_steps_counted_move() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            UPDATE episode_step_counts c SET steps = c.steps - d.n
                FROM (SELECT episode_id, count(*) AS n FROM old_steps GROUP BY episode_id) d WHERE c.episode_id = d.episode_id;
            INSERT INTO episode_step_counts(episode_id, steps)
                SELECT episode_id, count(*) FROM new_steps GROUP BY episode_id ORDER BY episode_id
                ON CONFLICT (episode_id) DO UPDATE SET steps = episode_step_counts.steps + EXCLUDED.steps;
            RETURN NULL;
        END $$
        """,
        """
        CREATE TRIGGER steps_counted_insert AFTER INSERT ON steps REFERENCING NEW TABLE AS new_steps
            FOR EACH STATEMENT EXECUTE FUNCTION worldgpt_steps_counted_insert()
        """,
        """
        CREATE TRIGGER steps_counted_delete AFTER DELETE ON steps REFERENCING OLD TABLE AS old_steps
            FOR EACH STATEMENT EXECUTE FUNCTION worldgpt_steps_counted_delete()
        """,
        """
        CREATE TRIGGER steps_counted_move AFTER UPDATE ON steps REFERENCING OLD TABLE AS old_steps NEW TABLE AS new_steps
            FOR EACH STATEMENT EXECUTE FUNCTION worldgpt_steps_counted_move()
        """,
    ]

    /// Creates or checks the schema under an advisory lock (many processes may open a new database at once).
    static func prepareSchema(_ store: PostgresEpisodeStore, dim: Int?, readOnly: Bool) throws -> (Int, Int?) {
        let path = store.path, logger = store.logger
        return try store.withConnection { c, _ in
            try await c.query("SELECT pg_advisory_lock(\(migrationLock))", logger: logger)
            do {
                let result = try await prepareLocked(c, path: path, dim: dim, readOnly: readOnly, logger: logger)
                try await c.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
                return result
            } catch {
                _ = try? await c.query("SELECT pg_advisory_unlock(\(migrationLock))", logger: logger)
                throw error
            }
        }
    }

    private static func prepareLocked(_ c: PostgresConnection, path: String, dim: Int?, readOnly: Bool, logger: Logger) async throws -> (Int, Int?) {
        let tables = try await rows(c, "SELECT table_name::text FROM information_schema.tables WHERE table_schema = current_schema()", logger: logger)
            .map { try $0.decode(String.self) }
        if !tables.contains("store_info") {
            if !tables.isEmpty {
                throw StoreError.foreignDatabase(path: path, reason: "it has \(tables.count) table(s) but no store_info table")
            }
            if readOnly { throw StoreError.foreignDatabase(path: path, reason: "empty database (no episode store yet)") }
            guard let dim, dim > 0 else { throw StoreError.invalidArgument("\(path) is a new store: give the embedding dimension") }
            try await c.withTransaction(logger: logger) { c in
                try await c.query("CREATE TABLE worldgpt_migrations(identifier TEXT PRIMARY KEY NOT NULL)", logger: logger)
                for (identifier, statements) in migrations {
                    for statement in statements {
                        try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await c.query("INSERT INTO worldgpt_migrations(identifier) VALUES (\(identifier))", logger: logger)
                }
                try await c.query("""
                    INSERT INTO store_info(key, value) VALUES ('format', \(EpisodeStore.formatName)), ('dim', \(String(dim))), \
                    ('prune_generation', '0')
                    """, logger: logger)
            }
            return (dim, nil)
        }
        var info = [String: String]()
        for row in try await rows(c, "SELECT key, value FROM store_info", logger: logger) {
            let (k, v) = try row.decode((String, String).self)
            info[k] = v
        }
        guard info["format"] == EpisodeStore.formatName else {
            throw StoreError.foreignDatabase(path: path, reason: "store_info.format is \(info["format"].map { "`\($0)`" } ?? "missing")")
        }
        let applied = Set(try await rows(c, "SELECT identifier FROM worldgpt_migrations", logger: logger).map { try $0.decode(String.self) })
        if !applied.isSubset(of: Set(migrations.map(\.0))) {
            throw StoreError.foreignDatabase(path: path, reason: "its schema is newer than this build knows")
        }
        guard let stored = info["dim"].flatMap(Int.init), stored > 0 else {
            throw StoreError.foreignDatabase(path: path, reason: "store_info.dim is missing or invalid")
        }
        if let dim, dim != stored { throw StoreError.dimensionMismatch(path: path, expected: stored, got: dim, field: "requested store dimension") }
        if !readOnly {
            for (identifier, statements) in migrations where !applied.contains(identifier) {
                try await c.withTransaction(logger: logger) { c in
                    for statement in statements {
                        try await c.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                    }
                    try await c.query("INSERT INTO worldgpt_migrations(identifier) VALUES (\(identifier))", logger: logger)
                }
            }
        }
        return (stored, info["action_dim"].flatMap(Int.init))
    }

    public func appliedMigrations() throws -> [String] {
        let logger = logger
        return try withConnection { c, _ in
            try await Self.rows(c, "SELECT identifier FROM worldgpt_migrations ORDER BY identifier", logger: logger).map { try $0.decode(String.self) }
        }
    }
}

// MARK: LISTEN/NOTIFY

extension PostgresEpisodeStore {
    /// Listens on `channel` and calls `body` with each payload (`FIRST_ID LAST_ID COUNT` of a committed batch) until
    /// `count` notifications arrived (0: no limit) or `timeout` seconds passed (0: none); returns how many arrived.
    /// Writes `listening` to stderr once the LISTEN is in place, so a caller can start writers after it.
    public static func listen(url: String, count: Int, timeout: Double, _ body: @escaping (String) -> Void) throws -> Int {
        let settings = try PostgresLocation(url)
        var logger = Logger(label: "worldgpt-pg")
        logger.logLevel = .critical
        final class Counter: @unchecked Sendable { var n = 0 }
        let counter = Counter()
        do {
            try blocking {
                let c = try await PostgresConnection.connect(configuration: settings.configuration, id: 2, logger: logger)
                do {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask {
                            try await c.listen(on: channel) { notifications in
                                FileHandle.standardError.write(Data("listening\n".utf8))
                                for try await note in notifications {
                                    body(note.payload)
                                    counter.n += 1
                                    if count > 0 && counter.n >= count { return }
                                }
                            }
                        }
                        if timeout > 0 {
                            group.addTask { try await Task.sleep(nanoseconds: UInt64(timeout * 1e9)) }
                        }
                        _ = try await group.next()
                        group.cancelAll()
                    }
                } catch is CancellationError {}
                try? await c.close()
            }
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError.io(path: settings.redacted, reason: "LISTEN \(channel) failed: \(error)")
        }
        return counter.n
    }
}
