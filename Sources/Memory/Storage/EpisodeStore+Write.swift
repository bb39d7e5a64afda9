// Offloading: validated, batched inserts of steps with their annotations and recalls, one transaction per batch.
import Formats
import Foundation
import GRDB

/// A step turned into SQL values before the transaction starts (validation and encoding happen outside it); every
/// backend writes these (the PostgreSQL one too), so validation and the byte layout are one code.
public struct EncodedStep: Sendable {
    public var episode: String
    public var index: Int
    public var createdAt: Double
    public var actionText: String
    public var actionEmbedding: Data?
    /// roles × modalities, in `EpisodeStore.stateColumns` order.
    public var states: [Data?]
    public var provenance: String?
    public var annotations: [StepAnnotation]
    public var recalls: [RecalledStep]
    /// The row ids to store the step under (nil: the database assigns the next ones).
    public var identity: StoreIdentity?
}

/// The row ids a step is stored under when its writer decides them: the shards of one rollout give every step the
/// id it has in the unsharded run, so their stores merge into that run's store (`EpisodeStore.merge`).
public struct StoreIdentity: Equatable, Sendable, Codable {
    /// `steps.id`.
    public var stepID: Int64
    /// `episodes.id` of the step's episode.
    public var episodeID: Int64

    /// An identity.
    public init(stepID: Int64, episodeID: Int64) {
        precondition(stepID > 0 && episodeID > 0, "store row ids are positive")
        self.stepID = stepID
        self.episodeID = episodeID
    }
}

/// Float32 values as a little-endian BLOB (this code runs on little-endian machines only).
public func blob(_ values: [Float]) -> Data {
    values.withUnsafeBytes { Data($0) }
}

/// A little-endian Float32 BLOB as values; nil when the length is not a multiple of 4.
public func floats(_ data: Data) -> [Float]? {
    guard data.count % 4 == 0 else { return nil }
    return [Float](unsafeUninitializedCapacity: data.count / 4) { buffer, count in
        _ = data.copyBytes(to: buffer)
        count = data.count / 4
    }
}

extension EpisodeStore {
    /// The state columns of `steps`: `input_image` … `observed_text` (roles × modalities).
    public static let stateColumns: [String] = roles.flatMap { role in Modality.allCases.map { "\(role)_\($0.rawValue)" } }

    static let insertStepSQL = """
        INSERT INTO steps(episode_id, step_index, created_at, action_text, action_embedding, \
        \(stateColumns.joined(separator: ", ")), provenance) \
        VALUES (?, ?, ?, ?, ?, \(Array(repeating: "?", count: stateColumns.count).joined(separator: ", ")), ?)
        """
    /// As `insertStepSQL`, with the row id given (the last value).
    static let insertStepWithIDSQL = """
        INSERT INTO steps(episode_id, step_index, created_at, action_text, action_embedding, \
        \(stateColumns.joined(separator: ", ")), provenance, id) \
        VALUES (?, ?, ?, ?, ?, \(Array(repeating: "?", count: stateColumns.count).joined(separator: ", ")), ?, ?)
        """

    /// Checks one embedding against the store's dimension and for NaN/infinity.
    func check(_ embedding: Embedding, expected: Int? = nil, field: @autoclosure () -> String) throws {
        try Self.check(embedding, expected: expected ?? dim, path: path, field: field())
    }

    static func check(_ embedding: Embedding, expected: Int, path: String, field: @autoclosure () -> String) throws {
        guard embedding.dim == expected else {
            throw StoreError.dimensionMismatch(path: path, expected: expected, got: embedding.dim, field: field())
        }
        let finite = embedding.values.withUnsafeBufferPointer { b in !b.contains { !$0.isFinite } }
        guard finite else { throw StoreError.nonFinite(path: path, field: field()) }
    }

    /// Provenance as JSON with sorted keys (one encoder: making one per step cost more than encoding).
    static let provenanceEncoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return encoder
    }()

    func encode(_ step: StepRecord, actionDim: Int?) throws -> EncodedStep {
        try Self.encode(step, dim: dim, actionDim: actionDim, path: path)
    }

    /// Validates and encodes a batch for a store of dimension `dim` (any backend): the batch's recalls and
    /// identities attached, and the action dimension the batch fixes when the store has none yet.
    /// - Throws: `StoreError.dimensionMismatch`, `.nonFinite`, `.invalidArgument` (empty episode name, ids not increasing).
    public static func encode(_ steps: [StepRecord], recalls: [[RecalledStep]], identities: [StoreIdentity]?, dim: Int, actionDim: Int?,
                              path: String) throws -> (steps: [EncodedStep], newActionDim: Int?) {
        let batchActionDim = actionDim ?? steps.lazy.compactMap { $0.action.embedding?.dim }.first
        var encoded = try steps.map { try encode($0, dim: dim, actionDim: batchActionDim, path: path) }
        for i in encoded.indices {
            encoded[i].recalls = recalls[i]
            encoded[i].identity = identities?[i]
        }
        if let identities {
            for (a, b) in zip(identities, identities.dropFirst()) where b.stepID <= a.stepID {
                throw StoreError.invalidArgument("\(path): step ids must increase within a batch (\(a.stepID) then \(b.stepID))")
            }
        }
        return (encoded, actionDim == nil ? batchActionDim : nil)
    }

    static func encode(_ step: StepRecord, dim: Int, actionDim: Int?, path: String) throws -> EncodedStep {
        func check(_ e: Embedding, expected: Int? = nil, field: @autoclosure () -> String) throws {
            try Self.check(e, expected: expected ?? dim, path: path, field: field())
        }
        let name = "step \(step.episode):\(step.index)"
        guard !step.episode.isEmpty else { throw StoreError.invalidArgument("\(name): empty episode name") }
        var states = [Data?]()
        states.reserveCapacity(Self.stateColumns.count)
        for (role, state) in zip(Self.roles, [step.input, step.predicted, step.observed]) {
            for modality in Modality.allCases {
                if let e = state[modality] {
                    try check(e, field: "\(name) \(role) \(modality)")
                    states.append(blob(e.values))
                } else {
                    states.append(nil)
                }
            }
        }
        var actionBlob: Data?
        if let e = step.action.embedding {
            try check(e, expected: actionDim ?? e.dim, field: "\(name) action embedding")
            actionBlob = blob(e.values)
        }
        var provenance: String?
        if let p = step.provenance { provenance = String(decoding: try Self.provenanceEncoder.encode(p), as: UTF8.self) }
        return EncodedStep(
            episode: step.episode, index: step.index, createdAt: step.timestamp.timeIntervalSince1970,
            actionText: step.action.text, actionEmbedding: actionBlob, states: states, provenance: provenance,
            annotations: step.annotations, recalls: [])
    }

    /// Offloads `steps` in one transaction; returns their row ids. Either all are committed or none.
    ///
    /// Commits are durable (WAL, `synchronous = FULL`): once this returns, the steps survive a crash.
    /// - Throws: `StoreError` on a wrong dimension, NaN, duplicate (episode, index), read-only store.
    @discardableResult
    public func append(_ steps: [StepRecord]) throws -> [Int64] {
        try append(steps, recalls: Array(repeating: [], count: steps.count))
    }

    /// As `append(_:)`, also recording for each step what was recalled for it (`recalls[i]` for `steps[i]`).
    @discardableResult
    public func append(_ steps: [StepRecord], recalls: [[RecalledStep]]) throws -> [Int64] {
        try append(steps, recalls: recalls, identities: nil)
    }

    /// As `append(_:recalls:)`, storing `steps[i]` under the row ids `identities[i]` (a shard of a rollout writes
    /// the ids of the unsharded run). Ids must be new and increase within the batch and past every stored step.
    /// - Throws: `StoreError.invalidArgument` when an id is taken, out of order, or an episode exists under another id.
    @discardableResult
    public func append(_ steps: [StepRecord], recalls: [[RecalledStep]], identities: [StoreIdentity]?) throws -> [Int64] {
        precondition(recalls.count == steps.count, "one recall list per step")
        precondition(identities.map { $0.count == steps.count } ?? true, "one identity per step")
        guard !steps.isEmpty else { return [] }
        let (encoded, newActionDim) = try Self.encode(steps, recalls: recalls, identities: identities, dim: dim, actionDim: actionDim, path: path)
        let batch = encoded
        let path = path
        let ids: [Int64] = try write { db in
            if let newActionDim {
                try db.execute(sql: "INSERT OR REPLACE INTO store_info(key, value) VALUES ('action_dim', ?)", arguments: [String(newActionDim)])
            }
            var episodeIDs = [String: Int64]()
            var order = [Int]()  // first appearance, so episode ids follow offload order
            var seen = Set<String>()
            for (i, step) in batch.enumerated() where seen.insert(step.episode).inserted { order.append(i) }
            for first in order {
                let name = batch[first].episode, wanted = batch[first].identity?.episodeID
                if let id = try Int64.fetchOne(db, sql: "SELECT id FROM episodes WHERE name = ?", arguments: [name]) {
                    if let wanted, wanted != id {
                        throw StoreError.invalidArgument("\(path): episode `\(name)` is stored as id \(id), this writer expects id \(wanted) "
                                                         + "(a shard's store must hold only that shard's episodes)")
                    }
                    episodeIDs[name] = id
                } else {
                    // An episode is created with its first step, at that step's time.
                    if let wanted {
                        if let other = try String.fetchOne(db, sql: "SELECT name FROM episodes WHERE id = ?", arguments: [wanted]) {
                            throw StoreError.invalidArgument("\(path): episode id \(wanted) (for `\(name)`) is taken by `\(other)` "
                                                             + "(a shard's store must hold only that shard's episodes)")
                        }
                        try db.execute(sql: "INSERT INTO episodes(id, name, created_at) VALUES (?, ?, ?)", arguments: [wanted, name, batch[first].createdAt])
                    } else {
                        try db.execute(sql: "INSERT INTO episodes(name, created_at) VALUES (?, ?)", arguments: [name, batch[first].createdAt])
                    }
                    episodeIDs[name] = db.lastInsertedRowID
                }
            }
            if let firstID = batch.first?.identity?.stepID,
               let last = try Int64.fetchOne(db, sql: "SELECT max(id) FROM steps"), last >= firstID {
                throw StoreError.invalidArgument("\(path): step id \(firstID) is not past the stored steps (last id \(last)); "
                                                 + "a shard's store must hold only that shard's steps")
            }
            let insert = try db.cachedStatement(sql: batch.first?.identity == nil ? Self.insertStepSQL : Self.insertStepWithIDSQL)
            var ids = [Int64]()
            ids.reserveCapacity(batch.count)
            var values = [(any DatabaseValueConvertible)?]()
            values.reserveCapacity(6 + Self.stateColumns.count)
            for step in batch {
                values.removeAll(keepingCapacity: true)
                values.append(episodeIDs[step.episode])
                values.append(step.index)
                values.append(step.createdAt)
                values.append(step.actionText)
                values.append(step.actionEmbedding)
                for s in step.states { values.append(s) }
                values.append(step.provenance)
                if let identity = step.identity { values.append(identity.stepID) }
                insert.setUncheckedArguments(StatementArguments(values))
                do { try insert.execute() } catch let error as DatabaseError where error.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE {
                    throw StoreError.invalidArgument("\(path): step \(step.episode):\(step.index) is already stored")
                }
                let stepID = db.lastInsertedRowID
                ids.append(stepID)
                if !step.annotations.isEmpty { try Self.insertAnnotations(db, stepID: stepID, step.annotations) }
                if !step.recalls.isEmpty { try Self.insertRecalls(db, stepID: stepID, step.recalls) }
            }
            return ids
        }
        if let newActionDim { actionDim = newActionDim }
        CrashPoint.afterCommit.pass()
        if let cache = keyCache { try cache.append(steps: steps, ids: ids, store: self) }
        return ids
    }

    static func insertRecalls(_ db: Database, stepID: Int64, _ recalls: [RecalledStep]) throws {
        let statement = try db.cachedStatement(sql: """
            INSERT INTO recalls(step_id, rank, recalled_step_id, score, state_similarity, action_similarity, recency, \
            steps_ago, weight_state, weight_action, weight_recency, half_life) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for (rank, r) in recalls.enumerated() {
            try statement.execute(arguments: [
                stepID, rank, r.stepID, Double(r.score), Double(r.stateSimilarity), Double(r.actionSimilarity),
                Double(r.recency), r.stepsAgo, Double(r.weights.state), Double(r.weights.action),
                Double(r.weights.recency), Double(r.weights.halfLife),
            ])
        }
    }

    /// Records what was recalled for an already stored step.
    public func recordRecalls(forStepID stepID: Int64, _ recalls: [RecalledStep]) throws {
        let path = path
        try write { db in
            guard try Bool.fetchOne(db, sql: "SELECT 1 FROM steps WHERE id = ?", arguments: [stepID]) == true else {
                throw StoreError.notFound(path: path, what: "step id \(stepID)")
            }
            try Self.insertRecalls(db, stepID: stepID, recalls)
        }
    }
}
