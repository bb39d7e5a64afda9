// The episode store: one SQLite file (GRDB, WAL, versioned migrations) holding every offloaded step.
// Schema and file layouts: docs/memory.md. Not thread-safe: use one EpisodeStore per thread; other
// processes (and other EpisodeStore instances) may read while this one writes.
import Formats
import Foundation
import GRDB

/// An SQLite store of episodes, steps (embeddings as little-endian Float32 BLOBs), annotations and recalls.
public final class EpisodeStore {
    /// The value of `store_info.format` that marks an episode store.
    public static let formatName = "worldgpt-episode-store"
    /// SQLite page size of new stores: 64 KiB holds ten steps with two 768-d embeddings (8 KiB held one, wasting a
    /// quarter of each page), and halves the B-tree and WAL work per step: offload measured 1.8-2.3x faster.
    static let pageSize = 65536
    /// The roles a state plays in a step, as column prefixes.
    static let roles = ["input", "predicted", "observed"]

    /// The database file (nil for an in-memory store).
    public let url: URL?
    /// The path used in error messages (`:memory:` for an in-memory store).
    public let path: String
    /// The dimension every embedding in this store has.
    public let dim: Int
    /// The dimension of action embeddings (sentence encoders are often narrower than states); fixed by the
    /// first stored action embedding, nil until then.
    public internal(set) var actionDim: Int?
    /// True when opened read-only.
    public let isReadOnly: Bool
    let database: any DatabaseWriter
    var keyCache: KeyCache?

    /// Opens (or creates) the store at `url`.
    ///
    /// - Parameters:
    ///   - dim: the embedding dimension; required to create a store, checked against an existing one.
    ///   - readOnly: open without write access (the inspection CLI); works while another process writes.
    /// - Throws: `StoreError.notADatabase` (corrupt/non-SQLite file), `.foreignDatabase` (another schema),
    ///   `.readOnly` (cannot write), `.dimensionMismatch`, `.invalidArgument` (new store without `dim`).
    public init(url: URL, dim: Int? = nil, readOnly: Bool = false) throws {
        self.url = url
        path = url.path
        isReadOnly = readOnly
        let exists = FileManager.default.fileExists(atPath: url.path)
        if readOnly && !exists { throw StoreError.notFound(path: url.path, what: "database file") }
        // Refuse before creating anything: a failed create must not leave an empty file behind.
        if !exists && dim == nil { throw StoreError.invalidArgument("\(url.path) is a new store: give the embedding dimension") }
        if !readOnly && exists && !FileManager.default.isWritableFile(atPath: url.path) {
            throw StoreError.readOnly(path: url.path, reason: "the file is not writable; open it read-only to inspect it")
        }
        if !readOnly && !exists {
            guard let dim, dim > 0 else { throw StoreError.invalidArgument("\(url.path) is a new store: give the embedding dimension") }
            try Self.createEmpty(at: url, dim: dim)
        }
        var config = Configuration()
        config.readonly = readOnly
        config.busyMode = .timeout(10)
        config.label = "EpisodeStore"
        let path = url.path
        if !readOnly {
            config.prepareDatabase { db in
                // Must precede the first table and WAL mode (an existing store keeps its page size).
                try db.execute(sql: "PRAGMA page_size = \(EpisodeStore.pageSize)")
            }
        }
        let database: any DatabaseWriter
        do {
            if readOnly {
                database = try DatabaseQueue(path: path, configuration: config)
            } else {
                let pool = try DatabasePool(path: path, configuration: config)
                // GRDB sets synchronous=NORMAL for WAL; FULL makes every commit durable (fsync of the WAL).
                try pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA synchronous = FULL") }
                database = pool
            }
        } catch {
            throw Self.openError(error, path: path, readOnly: readOnly)
        }
        self.database = database
        self.dim = try Self.prepareSchema(database, path: path, dim: dim, readOnly: readOnly)
        actionDim = try Self.storedActionDim(database, path: path)
    }

    /// Creates a complete empty store under a temporary name and renames it into place, so a crash during
    /// creation leaves either no file or a valid empty store (never a half-made schema).
    static func createEmpty(at url: URL, dim: Int) throws {
        let tmp = url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).creating-\(getpid())")
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp.path + suffix) }
        do {
            var config = Configuration()
            config.prepareDatabase { db in try db.execute(sql: "PRAGMA page_size = \(EpisodeStore.pageSize)") }
            let queue = try DatabaseQueue(path: tmp.path, configuration: config)
            try queue.writeWithoutTransaction { db in _ = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL") }
            _ = try prepareSchema(queue, path: url.path, dim: dim, readOnly: false)
            try queue.close()
            try FileManager.default.moveItem(at: tmp, to: url)
        } catch {
            for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: tmp.path + suffix) }
            if let e = error as? StoreError { throw e }
            throw openError(error, path: url.path, readOnly: false)
        }
    }

    /// An in-memory store (tests, scratch rollouts).
    public init(inMemoryWithDim dim: Int) throws {
        precondition(dim > 0, "store dimension must be positive")
        url = nil
        path = ":memory:"
        isReadOnly = false
        do {
            database = try DatabaseQueue(configuration: Configuration())
        } catch {
            throw Self.openError(error, path: ":memory:", readOnly: false)
        }
        self.dim = try Self.prepareSchema(database, path: ":memory:", dim: dim, readOnly: false)
        actionDim = nil
    }

    static func storedActionDim(_ database: any DatabaseWriter, path: String) throws -> Int? {
        do {
            return try database.read { db in try String.fetchOne(db, sql: "SELECT value FROM store_info WHERE key = 'action_dim'").flatMap(Int.init) }
        } catch { throw openError(error, path: path, readOnly: true) }
    }

    static func openError(_ error: Error, path: String, readOnly: Bool) -> StoreError {
        if let e = error as? DatabaseError {
            switch e.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT:
                return .notADatabase(path: path, reason: "SQLite error \(e.resultCode.rawValue): \(e.message ?? "")")
            case .SQLITE_READONLY, .SQLITE_PERM:
                return .readOnly(path: path, reason: "SQLite error \(e.resultCode.rawValue): \(e.message ?? "")")
            case .SQLITE_CANTOPEN:
                return readOnly
                    ? .io(path: path, reason: "cannot open: \(e.message ?? "")")
                    : .readOnly(path: path, reason: "cannot open for writing (folder not writable?): \(e.message ?? "")")
            default:
                return .sqlite(path: path, code: e.resultCode.rawValue, message: e.message ?? "", sql: e.sql)
            }
        }
        if let e = error as? StoreError { return e }
        return .io(path: path, reason: "\(error)")
    }

    /// Maps any error thrown while using the open store.
    func storeError(_ error: Error) -> StoreError {
        if let e = error as? StoreError { return e }
        if let e = error as? DatabaseError {
            switch e.resultCode {
            case .SQLITE_NOTADB, .SQLITE_CORRUPT: return .notADatabase(path: path, reason: e.message ?? "")
            case .SQLITE_READONLY: return .readOnly(path: path, reason: e.message ?? "")
            default: return .sqlite(path: path, code: e.resultCode.rawValue, message: e.message ?? "", sql: e.sql)
            }
        }
        return .io(path: path, reason: "\(error)")
    }

    /// Runs a read, mapping errors.
    func read<T>(_ body: @Sendable (Database) throws -> T) throws -> T {
        do { return try database.read(body) } catch { throw storeError(error) }
    }

    /// Runs a write transaction, mapping errors.
    func write<T>(_ body: @Sendable (Database) throws -> T) throws -> T {
        guard !isReadOnly else { throw StoreError.readOnly(path: path, reason: "the store was opened read-only") }
        do { return try database.write(body) } catch { throw storeError(error) }
    }

    // MARK: Schema

    /// The versioned migrations (GRDB `DatabaseMigrator`); add new ones at the end, never edit old ones.
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE store_info(key TEXT PRIMARY KEY NOT NULL, value TEXT NOT NULL);
                CREATE TABLE episodes(
                    id INTEGER PRIMARY KEY,
                    name TEXT NOT NULL UNIQUE,
                    created_at REAL NOT NULL,
                    metadata TEXT);
                CREATE TABLE steps(
                    id INTEGER PRIMARY KEY,
                    episode_id INTEGER NOT NULL REFERENCES episodes(id) ON DELETE CASCADE,
                    step_index INTEGER NOT NULL,
                    created_at REAL NOT NULL,
                    action_text TEXT NOT NULL,
                    action_embedding BLOB,
                    input_image BLOB, input_video BLOB, input_audio BLOB, input_text BLOB,
                    predicted_image BLOB, predicted_video BLOB, predicted_audio BLOB, predicted_text BLOB,
                    observed_image BLOB, observed_video BLOB, observed_audio BLOB, observed_text BLOB,
                    provenance TEXT,
                    UNIQUE(episode_id, step_index));
                CREATE TABLE step_annotations(
                    id INTEGER PRIMARY KEY,
                    step_id INTEGER NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
                    kind TEXT NOT NULL,
                    rank INTEGER NOT NULL,
                    item TEXT NOT NULL,
                    score REAL,
                    reason TEXT,
                    details TEXT);
                CREATE INDEX step_annotations_step ON step_annotations(step_id);
                CREATE TABLE recalls(
                    id INTEGER PRIMARY KEY,
                    step_id INTEGER NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
                    rank INTEGER NOT NULL,
                    recalled_step_id INTEGER NOT NULL REFERENCES steps(id) ON DELETE CASCADE,
                    score REAL NOT NULL,
                    state_similarity REAL NOT NULL,
                    action_similarity REAL NOT NULL,
                    recency REAL NOT NULL,
                    steps_ago INTEGER NOT NULL,
                    weight_state REAL NOT NULL,
                    weight_action REAL NOT NULL,
                    weight_recency REAL NOT NULL,
                    half_life REAL NOT NULL);
                CREATE INDEX recalls_step ON recalls(step_id);
                CREATE INDEX recalls_recalled ON recalls(recalled_step_id);
                """)
        }
        // Each episode's step count, kept by triggers on every insert and delete of a step (cascades included), so
        // that a page of episodes reads its counts instead of counting each episode's index range (docs/memory.md).
        migrator.registerMigration("v2-step-counts") { db in
            try db.execute(sql: """
                CREATE TABLE episode_step_counts(
                    episode_id INTEGER PRIMARY KEY REFERENCES episodes(id) ON DELETE CASCADE,
                    steps INTEGER NOT NULL);
                INSERT INTO episode_step_counts(episode_id, steps) SELECT episode_id, count(*) FROM steps GROUP BY episode_id;
                CREATE TRIGGER steps_counted_insert AFTER INSERT ON steps BEGIN
                    INSERT INTO episode_step_counts(episode_id, steps) VALUES (NEW.episode_id, 1)
                        ON CONFLICT(episode_id) DO UPDATE SET steps = steps + 1;
                END;
                CREATE TRIGGER steps_counted_delete AFTER DELETE ON steps BEGIN
                    UPDATE episode_step_counts SET steps = steps - 1 WHERE episode_id = OLD.episode_id;
                END;
                CREATE TRIGGER steps_counted_move AFTER UPDATE OF episode_id ON steps BEGIN
                    UPDATE episode_step_counts SET steps = steps - 1 WHERE episode_id = OLD.episode_id;
                    INSERT INTO episode_step_counts(episode_id, steps) VALUES (NEW.episode_id, 1)
                        ON CONFLICT(episode_id) DO UPDATE SET steps = steps + 1;
                END;
                """)
        }
        return migrator
    }

    /// Creates or checks the schema; returns the store's dimension.
    static func prepareSchema(_ database: any DatabaseWriter, path: String, dim: Int?, readOnly: Bool) throws -> Int {
        do {
            let (hasInfo, tableCount) = try database.read { db -> (Bool, Int) in
                (try db.tableExists("store_info"),
                 try Int.fetchOne(db, sql: "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'") ?? 0)
            }
            if !hasInfo {
                if tableCount > 0 { throw StoreError.foreignDatabase(path: path, reason: "it has \(tableCount) table(s) but no store_info table") }
                if readOnly { throw StoreError.foreignDatabase(path: path, reason: "empty database") }
                guard let dim, dim > 0 else {
                    throw StoreError.invalidArgument("\(path) is a new store: give the embedding dimension")
                }
                try migrator.migrate(database)
                try database.write { db in
                    try db.execute(sql: "INSERT INTO store_info(key, value) VALUES ('format', ?), ('dim', ?), ('prune_generation', '0')", arguments: [formatName, String(dim)])
                }
                return dim
            }
            let (info, superseded, complete) = try database.read { db -> ([String: String], Bool, Bool) in
                let rows = try Row.fetchAll(db, sql: "SELECT key, value FROM store_info")
                var info = [String: String]()
                for row in rows { info[row["key"] as String? ?? ""] = row["value"] as String? }
                return (info, try migrator.hasBeenSuperseded(db), try migrator.hasCompletedMigrations(db))
            }
            guard info["format"] == formatName else {
                throw StoreError.foreignDatabase(path: path, reason: "store_info.format is \(info["format"].map { "`\($0)`" } ?? "missing")")
            }
            if superseded { throw StoreError.foreignDatabase(path: path, reason: "its schema is newer than this build knows") }
            guard let stored = info["dim"].flatMap(Int.init), stored > 0 else {
                throw StoreError.foreignDatabase(path: path, reason: "store_info.dim is missing or invalid")
            }
            if let dim, dim != stored {
                throw StoreError.dimensionMismatch(path: path, expected: stored, got: dim, field: "requested store dimension")
            }
            if !complete && !readOnly { try migrator.migrate(database) }
            return stored
        } catch {
            throw openError(error, path: path, readOnly: readOnly)
        }
    }

    /// The applied migration identifiers (for `memory stats`).
    public func appliedMigrations() throws -> [String] {
        try read { db in try Array(Self.migrator.appliedIdentifiers(db)).sorted() }
    }
}
