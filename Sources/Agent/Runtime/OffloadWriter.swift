// Offload off the critical path: a background writer that commits each lock-step batch of steps in one
// transaction, strictly in submission order, while the runtime computes the next step.
import Dispatch
import Foundation
import Memory

/// Writes batches of steps through a `WorkingMemory` on its own serial queue, one transaction per batch.
///
/// Guarantees: batches are committed in the order they were submitted, each in one transaction (all of a
/// batch or none of it), so the store always holds a prefix of the rollout in lock-step order — what the
/// resume logic needs. After a failed batch nothing later is written, and the failure is rethrown by the
/// next `submit` or `drain`. `drain` returns once everything submitted is committed (durable: the store
/// commits with `synchronous = FULL`). At most `depth` batches wait at a time, so a slow disk slows the
/// runtime down instead of growing the queue without bound.
///
/// Thread-safety: between `submit` and `drain` only the writer's queue touches the working memory and its
/// store (it is `@unchecked Sendable` for that reason); the owner may use them again after `drain`.
final class OffloadWriter: @unchecked Sendable {
    /// The working memory the batches go through (owned by the writer's queue while batches are in flight).
    let memory: WorkingMemory
    private let queue = DispatchQueue(label: "worldgpt.agent.offload")
    private let slots: DispatchSemaphore
    private let lock = NSLock()
    private var failure: (any Error)?
    private var busySeconds: Double = 0

    /// A writer over `memory` with at most `depth` batches queued.
    init(memory: WorkingMemory, depth: Int = 2) {
        precondition(depth >= 1, "offload queue depth must be positive")
        self.memory = memory
        slots = DispatchSemaphore(value: depth)
    }

    /// Seconds the writer has spent writing so far (off the critical path).
    var busy: Double { lock.withLock { busySeconds } }

    /// Queues `records` to be added to working memory and committed in one transaction.
    /// - Throws: the error of an earlier batch that failed (then `records` are not queued).
    /// `identities[i]`, when given, are the row ids of `records[i]` (all or none).
    func submit(_ records: [StepRecord], identities: [StoreIdentity?]? = nil) throws {
        try rethrowFailure()
        guard !records.isEmpty else { return }
        slots.wait()
        queue.async { [self] in
            defer { slots.signal() }
            guard lock.withLock({ failure == nil }) else { return }
            let start = DispatchTime.now().uptimeNanoseconds
            do {
                for (i, record) in records.enumerated() { try memory.add(record, identity: identities?[i]) }
                try memory.flush()
            } catch {
                lock.withLock { failure = error }
            }
            let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
            lock.withLock { busySeconds += seconds }
        }
    }

    /// Waits until every submitted batch is committed.
    /// - Throws: the error of the first batch that failed.
    func drain() throws {
        queue.sync {}
        try rethrowFailure()
    }

    private func rethrowFailure() throws {
        if let failure = lock.withLock({ failure }) { throw failure }
    }
}
