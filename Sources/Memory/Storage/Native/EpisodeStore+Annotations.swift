// Step annotations bound through SQLite's C interface: the one place Memory talks to SQLite below GRDB.
import GRDB
import GRDBSQLite

extension EpisodeStore {
    /// The one statement `insertAnnotations` binds by hand.
    static let insertAnnotationSQL = "INSERT INTO step_annotations(step_id, kind, rank, item, score, reason, details) VALUES (?, ?, ?, ?, ?, ?, ?)"

    /// Inserts a step's annotations, binding the values through SQLite's C interface: a runtime step carries about
    /// 35 of them (each retrieved candidate and the reflector's decision on it), and binding seven values a row
    /// through `StatementArguments` spent most of the background writer's time boxing and reference-counting them.
    /// The statement is GRDB's cached one for this SQL, used only here.
    static func insertAnnotations(_ db: Database, stepID: Int64, _ annotations: [StepAnnotation]) throws {
        let statement = try db.cachedStatement(sql: insertAnnotationSQL)
        let raw = statement.sqliteStatement
        // SQLITE_TRANSIENT: SQLite copies the text before the bind returns.
        let transient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)
        func text(_ value: String?, _ index: Int32) -> Int32 {
            guard let value else { return sqlite3_bind_null(raw, index) }
            // The byte count, not -1: text may hold NUL characters.
            return value.withCString { sqlite3_bind_text(raw, index, $0, Int32(value.utf8.count), transient) }
        }
        defer { sqlite3_reset(raw); sqlite3_clear_bindings(raw) }
        for a in annotations {
            sqlite3_reset(raw)
            var code = sqlite3_bind_int64(raw, 1, stepID)
            if code == SQLITE_OK { code = text(a.kind, 2) }
            if code == SQLITE_OK { code = sqlite3_bind_int64(raw, 3, Int64(a.rank)) }
            if code == SQLITE_OK { code = text(a.item, 4) }
            if code == SQLITE_OK { code = a.score.map { sqlite3_bind_double(raw, 5, $0) } ?? sqlite3_bind_null(raw, 5) }
            if code == SQLITE_OK { code = text(a.reason, 6) }
            if code == SQLITE_OK { code = text(a.details, 7) }
            if code == SQLITE_OK { code = sqlite3_step(raw) }
            guard code == SQLITE_DONE else {
                throw DatabaseError(resultCode: ResultCode(rawValue: code), message: String(cString: sqlite3_errmsg(db.sqliteConnection)),
                                    sql: insertAnnotationSQL)
            }
        }
    }
}
