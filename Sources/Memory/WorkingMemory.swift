// Working memory: the last `window` steps of each live episode in RAM; every step goes to the store in batches.
import Formats
import Foundation

/// The runtime's short-term memory in front of an `EpisodeStore`.
///
/// `add` keeps a step in its episode's window and queues it for offload; a full queue (`batchSize`) is
/// written in one transaction, and `flush` writes the rest. Steps evicted from a window stay recallable
/// from the store. Thread-confined, like the store.
public final class WorkingMemory {
    /// The store steps are offloaded to.
    public let store: any EpisodeRepository
    /// Steps kept in RAM per episode.
    public let window: Int
    /// Steps per offload transaction.
    public let batchSize: Int
    private var windows: [String: [StepRecord]] = [:]
    private var pending: [StepRecord] = []
    private var pendingRecalls: [[RecalledStep]] = []
    private var pendingIdentities: [StoreIdentity] = []
    /// Row ids of every offloaded step, in offload order (ids of the most recent flush last).
    public private(set) var lastFlushedIDs: [Int64] = []

    /// Working memory over `store`.
    public init(store: any EpisodeRepository, window: Int = 5, batchSize: Int = 256) {
        precondition(window >= 1 && batchSize >= 1, "window and batch size must be positive")
        self.store = store
        self.window = window
        self.batchSize = batchSize
    }

    /// Adds a step (and what was recalled for it); offloads a batch when the queue is full.
    ///
    /// - Parameter identity: the row ids to store it under (a shard of a rollout); either every step added has one
    ///   or none has.
    public func add(_ step: StepRecord, recalls: [RecalledStep] = [], identity: StoreIdentity? = nil) throws {
        precondition(pending.isEmpty || (identity != nil) == !pendingIdentities.isEmpty,
                     "steps with and without store identities in one offload batch")
        var w = windows[step.episode, default: []]
        w.append(step)
        if w.count > window { w.removeFirst(w.count - window) }
        windows[step.episode] = w
        pending.append(step)
        pendingRecalls.append(recalls)
        if let identity { pendingIdentities.append(identity) }
        if pending.count >= batchSize { try flush() }
    }

    /// Steps waiting for the next offload.
    public var pendingCount: Int { pending.count }

    /// Writes every queued step; returns their row ids.
    @discardableResult
    public func flush() throws -> [Int64] {
        guard !pending.isEmpty else { return [] }
        let ids = try store.append(pending, recalls: pendingRecalls, identities: pendingIdentities.isEmpty ? nil : pendingIdentities)
        pending.removeAll(keepingCapacity: true)
        pendingRecalls.removeAll(keepingCapacity: true)
        pendingIdentities.removeAll(keepingCapacity: true)
        lastFlushedIDs = ids
        return ids
    }

    /// The episode's most recent steps (oldest first), at most `window`.
    public func recent(_ episode: String) -> [StepRecord] { windows[episode] ?? [] }

    /// Flushes and forgets the episode's window (its steps stay in the store).
    public func endEpisode(_ episode: String) throws {
        try flush()
        windows[episode] = nil
    }

    /// Recall over everything offloaded (queued steps are flushed first so they are recallable).
    public func recall(_ query: RecallQuery, k: Int, weights: RecallWeights = RecallWeights()) throws -> [RecalledStep] {
        try flush()
        return try store.recall(query, k: k, weights: weights)
    }
}
