// Inspection and maintenance: stats, verify (integrity, dimensions, NaN, orphans), prune, export (JSONL + .npy).
import Formats
import Foundation
import GRDB

/// Counts and sizes shown by `memory stats`.
public struct StoreStats: Equatable, Sendable, Codable {
    public var path: String
    public var dim: Int
    public var migrations: [String]
    public var episodes: Int
    public var steps: Int
    public var annotations: Int
    public var recalls: Int
    /// Non-null embedding columns (`input_image`, `action_embedding`, ...) and how many steps have them.
    public var embeddings: [String: Int]
    /// Bytes of the database file and its WAL.
    public var fileBytes: Int64, walBytes: Int64
    public var oldestStep: Double?, newestStep: Double?

    /// Stats (each backend fills them its own way).
    public init(path: String, dim: Int, migrations: [String], episodes: Int, steps: Int, annotations: Int, recalls: Int,
                embeddings: [String: Int], fileBytes: Int64, walBytes: Int64, oldestStep: Double?, newestStep: Double?) {
        self.path = path
        self.dim = dim
        self.migrations = migrations
        self.episodes = episodes
        self.steps = steps
        self.annotations = annotations
        self.recalls = recalls
        self.embeddings = embeddings
        self.fileBytes = fileBytes
        self.walBytes = walBytes
        self.oldestStep = oldestStep
        self.newestStep = newestStep
    }
}

/// The outcome of `verify`: every problem found (empty when the store is sound).
public struct VerifyReport: Equatable, Sendable, Codable {
    public var checkedSteps: Int
    public var problems: [String]
    /// True when no problem was found.
    public var isSound: Bool { problems.isEmpty }

    /// A report.
    public init(checkedSteps: Int, problems: [String]) {
        self.checkedSteps = checkedSteps
        self.problems = problems
    }
}

extension EpisodeStore {
    static var embeddingColumns: [String] { ["action_embedding"] + stateColumns }

    /// Counts and sizes of the store.
    public func stats() throws -> StoreStats {
        let columns = Self.embeddingColumns
        let (e, s, a, r, counts, oldest, newest) = try read { db in
            let row = try Row.fetchOne(db, sql: "SELECT count(*), min(created_at), max(created_at), \(columns.map { "count(\($0))" }.joined(separator: ", ")) FROM steps")!
            var counts = [String: Int]()
            for (i, c) in columns.enumerated() { counts[c] = row[3 + i] }
            return (try Int.fetchOne(db, sql: "SELECT count(*) FROM episodes") ?? 0, row[0] as Int,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM step_annotations") ?? 0,
                    try Int.fetchOne(db, sql: "SELECT count(*) FROM recalls") ?? 0, counts, row[1] as Double?, row[2] as Double?)
        }
        func size(_ p: String) -> Int64 { ((try? FileManager.default.attributesOfItem(atPath: p))?[.size] as? NSNumber)?.int64Value ?? 0 }
        return StoreStats(
            path: path, dim: dim, migrations: try appliedMigrations(), episodes: e, steps: s, annotations: a, recalls: r,
            embeddings: counts.filter { $0.value > 0 }, fileBytes: url == nil ? 0 : size(path), walBytes: url == nil ? 0 : size(path + "-wal"),
            oldestStep: oldest, newestStep: newest)
    }

    /// Checks SQLite integrity, foreign keys (orphan rows), every embedding's length and finiteness, and the
    /// store metadata. Reads everything; safe while a writer is active (it sees the last commit).
    public func verify() throws -> VerifyReport {
        let dim = dim
        let columns = Self.embeddingColumns
        return try read { db in
            var problems = [String]()
            let integrity = try String.fetchAll(db, sql: "PRAGMA integrity_check")
            if integrity != ["ok"] { problems += integrity.prefix(20).map { "integrity: \($0)" } }
            for row in try Row.fetchAll(db, sql: "PRAGMA foreign_key_check") {
                problems.append("orphan row: table \(row[0] as String? ?? "?") rowid \(row[1] as Int64? ?? -1) references missing \(row[2] as String? ?? "?")")
                if problems.count > 100 { break }
            }
            let orphanEpisodes = try Int.fetchOne(db, sql: "SELECT count(*) FROM steps WHERE episode_id NOT IN (SELECT id FROM episodes)") ?? 0
            if orphanEpisodes > 0 { problems.append("\(orphanEpisodes) step(s) reference a missing episode") }
            if try db.tableExists("episode_step_counts") {
                let miscounted = try Int.fetchOne(db, sql: """
                    SELECT count(*) FROM episodes e LEFT JOIN episode_step_counts k ON k.episode_id = e.id
                    WHERE coalesce(k.steps, 0) != (SELECT count(*) FROM steps WHERE episode_id = e.id)
                    """) ?? 0
                if miscounted > 0 { problems.append("\(miscounted) episode(s) whose episode_step_counts row differs from its steps") }
            }
            let format = try String.fetchOne(db, sql: "SELECT value FROM store_info WHERE key = 'format'")
            if format != Self.formatName { problems.append("store_info.format is \(format ?? "missing")") }
            let actionDim = try String.fetchOne(db, sql: "SELECT value FROM store_info WHERE key = 'action_dim'").flatMap(Int.init)
            var checked = 0
            let cursor = try Row.fetchCursor(db, sql: "SELECT s.id, s.step_index, e.name, \(columns.map { "s.\($0)" }.joined(separator: ", ")) FROM steps s LEFT JOIN episodes e ON e.id = s.episode_id ORDER BY s.id")
            while let row = try cursor.next() {
                checked += 1
                var hasInput = false
                for (c, column) in columns.enumerated() {
                    let problem: String? = try row.withUnsafeData(atIndex: 3 + c) { data in
                        guard let data else { return nil }
                        if column.hasPrefix("input_") { hasInput = true }
                        let width = column == "action_embedding" ? (actionDim ?? data.count / 4) : dim
                        guard data.count == width * 4 else { return "\(data.count) bytes (expected \(width * 4))" }
                        let finite = data.withUnsafeBytes { raw in
                            (0..<width).allSatisfy { raw.loadUnaligned(fromByteOffset: $0 * 4, as: Float.self).isFinite }
                        }
                        return finite ? nil : "NaN or infinite components"
                    }
                    if let problem, problems.count < 1000 {
                        problems.append("step id \(row[0] as Int64) (\(row[2] as String? ?? "?"):\(row[1] as Int)) \(column): \(problem)")
                    }
                }
                if !hasInput && problems.count < 1000 {
                    problems.append("step id \(row[0] as Int64) (\(row[2] as String? ?? "?"):\(row[1] as Int)) has no input state")
                }
            }
            return VerifyReport(checkedSteps: checked, problems: problems)
        }
    }

    /// Deletes all but the newest `keepLast` steps of each episode; returns how many steps were deleted.
    /// - Parameter dryRun: count the steps that would be deleted, and delete nothing.
    @discardableResult
    public func prune(keepLast: Int, dryRun: Bool = false) throws -> Int {
        guard keepLast >= 0 else { throw StoreError.invalidArgument("--keep-last must be ≥ 0") }
        return try prune(where: """
            id IN (SELECT id FROM (SELECT id, row_number() OVER (PARTITION BY episode_id ORDER BY step_index DESC) AS r FROM steps) WHERE r > \(keepLast))
            """, dryRun: dryRun)
    }

    /// Deletes the steps created before `date`; returns how many were deleted.
    /// - Parameter dryRun: count the steps that would be deleted, and delete nothing.
    @discardableResult
    public func prune(before date: Date, dryRun: Bool = false) throws -> Int {
        try prune(where: "created_at < \(date.timeIntervalSince1970)", dryRun: dryRun)
    }

    private func prune(where condition: String, dryRun: Bool) throws -> Int {
        if dryRun {
            return try read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM steps WHERE \(condition)") ?? 0 }
        }
        let deleted = try write { db -> Int in
            try db.execute(sql: "DELETE FROM steps WHERE \(condition)")
            let n = db.changesCount
            try db.execute(sql: "DELETE FROM episodes WHERE id NOT IN (SELECT DISTINCT episode_id FROM steps)")
            if n > 0 {
                try db.execute(sql: "UPDATE store_info SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'prune_generation'")
            }
            return n
        }
        keyCache = nil
        return deleted
    }
}

/// Where an exported embedding lives.
struct ExportedEmbedding: Codable {
    var file: String
    var row: Int
}

/// One line of `steps.jsonl`.
struct ExportedStep: Codable {
    var id: Int64
    var episode: String
    var index: Int
    var createdAt: Double
    var action: String
    var provenance: Provenance?
    var embeddings: [String: ExportedEmbedding]
    var annotations: [StepAnnotation]
    var recalls: [RecalledStep]
}

/// Streams a 2-D little-endian float32 `.npy` (format 1.0) whose row count is known up front.
final class NPYMatrixWriter {
    let url: URL
    let handle: FileHandle
    let rows: Int
    let dim: Int
    private var written = 0

    init(url: URL, rows: Int, dim: Int) throws {
        self.url = url
        self.rows = rows
        self.dim = dim
        guard FileManager.default.createFile(atPath: url.path, contents: nil), let h = try? FileHandle(forWritingTo: url) else {
            throw StoreError.io(path: url.path, reason: "cannot create")
        }
        handle = h
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(rows), \(dim)), }"
        let total = 10 + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let len = UInt16(header.utf8.count)
        bytes += [UInt8(len & 0xFF), UInt8(len >> 8)] + Array(header.utf8)
        try write(Data(bytes))
    }

    private func write(_ data: Data) throws {
        do { try handle.write(contentsOf: data) } catch { throw StoreError.io(path: url.path, reason: "write failed: \(error)") }
    }

    func append(_ values: [Float]) throws {
        guard values.count == dim else {
            throw StoreError.io(path: url.path, reason: "a row of width \(values.count) does not fit the file's width \(dim)")
        }
        guard written < rows else {
            throw StoreError.io(path: url.path, reason: "more than the \(rows) rows counted at the start (the store changed during the export); export again")
        }
        try write(values.withUnsafeBytes { Data($0) })
        written += 1
    }

    func finish() throws {
        guard written == rows else { throw StoreError.io(path: url.path, reason: "wrote \(written) of \(rows) rows (the store changed during the export)") }
        try? handle.close()
    }
}

extension EpisodeRepository {
    /// Writes `episodes.jsonl`, `steps.jsonl` and one `<column>.npy` (rows × dim, float32) per embedding column
    /// into `directory`; each step's JSON names the `.npy` file and row of each of its embeddings.
    /// - Returns: the number of steps exported.
    @discardableResult
    public func export(to directory: URL, progress: ((Int, Int) -> Void)? = nil) throws -> Int {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch { throw StoreError.io(path: directory.path, reason: "cannot create the export folder: \(error.localizedDescription)") }
        let stats = try stats()
        let columns = EpisodeStore.embeddingColumns.filter { (stats.embeddings[$0] ?? 0) > 0 }
        var writers = [String: NPYMatrixWriter]()
        for c in columns {
            // Action embeddings have their own width (a sentence encoder is often narrower than the states).
            let width = c == "action_embedding" ? (actionDim ?? dim) : dim
            writers[c] = try NPYMatrixWriter(url: directory.appendingPathComponent("\(c).npy"), rows: stats.embeddings[c]!, dim: width)
        }
        let episodes = try episodes()
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        var episodeLines = Data()
        for e in episodes { episodeLines.append(try encoder.encode(e)); episodeLines.append(0x0A) }
        try writeExportFile(episodeLines, to: directory.appendingPathComponent("episodes.jsonl"))

        let stepsURL = directory.appendingPathComponent("steps.jsonl")
        guard FileManager.default.createFile(atPath: stepsURL.path, contents: nil), let out = try? FileHandle(forWritingTo: stepsURL) else {
            throw StoreError.io(path: stepsURL.path, reason: "cannot create")
        }
        defer { try? out.close() }
        var rowOf = [String: Int]()
        var exported = 0
        var lines = Data()
        try forEachStep { step in
            var embeddings = [String: ExportedEmbedding]()
            func put(_ column: String, _ e: Embedding?) throws {
                guard let e, let w = writers[column] else { return }
                try w.append(e.values)
                embeddings[column] = ExportedEmbedding(file: "\(column).npy", row: rowOf[column, default: 0])
                rowOf[column, default: 0] += 1
            }
            try put("action_embedding", step.record.action.embedding)
            for (role, state) in zip(EpisodeStore.roles, [step.record.input, step.record.predicted, step.record.observed]) {
                for m in Modality.allCases { try put("\(role)_\(m.rawValue)", state[m]) }
            }
            let line = ExportedStep(
                id: step.id, episode: step.record.episode, index: step.record.index, createdAt: step.record.timestamp.timeIntervalSince1970,
                action: step.record.action.text, provenance: step.record.provenance, embeddings: embeddings,
                annotations: step.record.annotations, recalls: step.recalls)
            lines.append(try encoder.encode(line)); lines.append(0x0A)
            exported += 1
            if exported % 512 == 0 || exported == stats.steps {
                do { try out.write(contentsOf: lines) } catch { throw StoreError.io(path: stepsURL.path, reason: "write failed: \(error)") }
                lines.removeAll(keepingCapacity: true)
                progress?(exported, stats.steps)
            }
        }
        if !lines.isEmpty {
            do { try out.write(contentsOf: lines) } catch { throw StoreError.io(path: stepsURL.path, reason: "write failed: \(error)") }
        }
        for w in writers.values { try w.finish() }
        return exported
    }

    private func writeExportFile(_ data: Data, to url: URL) throws {
        do { try data.write(to: url) } catch { throw StoreError.io(path: url.path, reason: "cannot write: \(error.localizedDescription)") }
    }
}
