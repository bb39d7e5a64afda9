// A fork-join loop over worker indices for the search and build kernels (Tensor's `Kernels.parallel`), and the box that
// lets a worker share a value the caller keeps race-free.
import Tensor

/// Wraps a value the caller guarantees is used race-free across threads (disjoint writes per worker).
struct UncheckedSendable<T>: @unchecked Sendable {
    let value: T
}

/// Runs `body(0..<count)` on `count` threads and returns when all are done; each worker must touch only
/// its own slice of shared memory. The retrieval kernels' name for Tensor's `Kernels.parallel`.
public func parallelFor(_ count: Int, _ body: (Int) -> Void) {
    if count <= 0 { return }
    Kernels.parallel(workers: count, body)
}
