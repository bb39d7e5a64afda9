// A fork-join loop over worker indices for the search and build kernels (Dispatch's concurrentPerform).
import Dispatch

/// Wraps a value the caller guarantees is used race-free across threads (disjoint writes per worker).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
}

/// Runs `body(0..<count)` on `count` threads and returns when all are done; each worker must touch only
/// its own slice of shared memory (that is the contract that makes the unchecked box sound).
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 1 {
        if count == 1 { body(0) }
        return
    }
    withoutActuallyEscaping(body) { escapable in
        let box = UncheckedSendable(value: escapable)
        DispatchQueue.concurrentPerform(iterations: count) { box.value($0) }
    }
}
