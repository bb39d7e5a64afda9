// The seam between the runtime/CLI and whatever holds the episodes: an SQLite file (`EpisodeStore`) or a PostgreSQL
// database (`RemoteEpisodeStore`, served by the `worldgpt-pg` child process). Not a second store implementation:
// validation, encoding, recall and export are the same code for both (docs/scale.md).
import Formats
import Foundation
import GRDB

/// The operations of an episode store that rollouts, `predict`, `fork` and `memory …` use.
///
/// Implementations are thread-confined, like `EpisodeStore`: one instance per thread.
public protocol EpisodeRepository: AnyObject {
    /// Where the store is, for messages: a file path, or a `postgresql://` URL without its password.
    var path: String { get }
    /// The dimension every state embedding has.
    var dim: Int { get }
    /// The dimension of action embeddings (nil until the first one is stored).
    var actionDim: Int? { get }
    /// True when opened read-only.
    var isReadOnly: Bool { get }

    /// Offloads `steps` in one transaction (all or none), with what was recalled for each and, for a shard of a
    /// rollout, the row ids to store them under; returns their row ids. Durable once this returns.
    func append(_ steps: [StepRecord], recalls: [[RecalledStep]], identities: [StoreIdentity]?) throws -> [Int64]
    /// Every episode with its step count and step range, by id.
    func episodes() throws -> [EpisodeSummary]
    /// The number of stored steps.
    func stepCount() throws -> Int
    /// The steps of `reference` (one step, or the whole episode), by index.
    func steps(_ reference: StepReference) throws -> [StoredStep]
    /// The step with row id `id`.
    func step(id: Int64) throws -> StoredStep
    /// At most `limit` steps with row id greater than `afterID`, by id (pages of `forEachStep`).
    func steps(afterID: Int64, limit: Int) throws -> [StoredStep]
    /// The `k` best past steps for `query` (exact; `EpisodeStore.recall`).
    func recall(_ query: RecallQuery, k: Int, weights: RecallWeights, threads: Int) throws -> [RecalledStep]
    /// Counts and sizes.
    func stats() throws -> StoreStats
    /// Integrity, dimensions, finiteness and orphans.
    func verify() throws -> VerifyReport
    /// Deletes all but the newest `keepLast` steps of each episode; returns how many (would be) deleted.
    func prune(keepLast: Int, dryRun: Bool) throws -> Int
    /// Deletes the steps created before `date`; returns how many (would be) deleted.
    func prune(before date: Date, dryRun: Bool) throws -> Int
    /// The applied migration identifiers.
    func appliedMigrations() throws -> [String]
    /// Episodes with id greater than `after`, by id, at most `limit` (1…10,000), matching `filter`: one page of an
    /// inspector's listing, whose cost does not grow with the store's step count (`episode_step_counts`).
    func episodes(after: Int64?, limit: Int, filter: EpisodeFilter) throws -> Page<EpisodeSummary>
    /// The steps of `episode` with index greater than `afterIndex`, by index, at most `limit` (1…10,000); the cursor
    /// is a step index.
    func steps(episode: String, afterIndex: Int?, limit: Int) throws -> Page<StoredStep>
}

extension EpisodeRepository {
    /// Offloads `steps` with no recalls under the store's next ids.
    @discardableResult
    public func append(_ steps: [StepRecord]) throws -> [Int64] {
        try append(steps, recalls: Array(repeating: [], count: steps.count), identities: nil)
    }

    /// Offloads `steps` (with what was recalled for each) under the store's next ids.
    @discardableResult
    public func append(_ steps: [StepRecord], recalls: [[RecalledStep]]) throws -> [Int64] {
        try append(steps, recalls: recalls, identities: nil)
    }

    /// Recall with the default two scan threads.
    public func recall(_ query: RecallQuery, k: Int, weights: RecallWeights = RecallWeights()) throws -> [RecalledStep] {
        try recall(query, k: k, weights: weights, threads: 2)
    }

    /// Calls `body` with every step in row-id order, a page of 512 at a time (memory stays flat).
    public func forEachStep(_ body: (StoredStep) throws -> Void) throws {
        var lastID: Int64 = 0
        while true {
            let page = try steps(afterID: lastID, limit: 512)
            guard let last = page.last else { return }
            for step in page { try body(step) }
            lastID = last.id
        }
    }

    /// The row id of `episode:index`.
    public func stepID(_ reference: StepReference) throws -> Int64 {
        guard reference.index != nil else { throw StoreError.invalidArgument("`\(reference)`: expected EPISODE:STEP") }
        guard let first = try steps(reference).first else { throw StoreError.notFound(path: path, what: "step \(reference)") }
        return first.id
    }
}

/// Opening a store by its `--db` argument: a file path (SQLite) or a `postgresql://` / `postgres://` URL.
public enum EpisodeStores {
    /// True when `location` names a PostgreSQL database rather than an SQLite file.
    public static func isPostgres(_ location: String) -> Bool {
        location.hasPrefix("postgresql://") || location.hasPrefix("postgres://")
    }

    /// Opens (or creates) the store at `location`.
    ///
    /// - Parameters:
    ///   - dim: the embedding dimension; required to create a store, checked against an existing one.
    ///   - readOnly: open for reading only.
    /// - Throws: `EpisodeStore.init`'s errors for a file; for a PostgreSQL URL, `StoreError.io` when the
    ///   `worldgpt-pg` binary is missing or the server cannot be reached, and the store's own errors.
    public static func open(_ location: String, dim: Int? = nil, readOnly: Bool = false) throws -> any EpisodeRepository {
        if isPostgres(location) { return try RemoteEpisodeStore(url: location, dim: dim, readOnly: readOnly) }
        return try EpisodeStore(url: URL(fileURLWithPath: location), dim: dim, readOnly: readOnly)
    }

    /// `location` with any password replaced by `***` (for messages and reports).
    public static func redacted(_ location: String) -> String {
        guard isPostgres(location), var components = URLComponents(string: location), components.password != nil else { return location }
        components.password = "***"
        return components.string ?? location
    }
}

extension EpisodeStore: EpisodeRepository {
    public func steps(afterID: Int64, limit: Int) throws -> [StoredStep] {
        let path = path, dim = dim, actionDim = actionDim
        return try read { db in
            try Row.fetchAll(db, sql: """
                SELECT s.*, e.name AS episode_name FROM steps s JOIN episodes e ON e.id = s.episode_id WHERE s.id > ? ORDER BY s.id LIMIT ?
                """, arguments: [afterID, limit]).map { try Self.decodeStep($0, db: db, path: path, dim: dim, actionDim: actionDim) }
        }
    }
}
