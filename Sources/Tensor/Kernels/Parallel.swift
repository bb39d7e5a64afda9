// A fork-join helper for the non-BLAS parts of hot loops (GELU, LayerNorm, per-sequence attention) on a few cores.
// Shape legend: none — it splits index ranges.
import Dispatch

/// Wraps a value the caller guarantees is used race-free across workers (each writes only its own slice).
struct UncheckedSendableBox<T>: @unchecked Sendable {
    let value: T
}

extension Kernels {
    /// Runs `body(w)` for w in 0..<workers on separate threads and returns when all finish (inline when workers ≤ 1).
    ///
    /// Each worker must write only memory no other worker touches.
    public static func parallel(workers: Int, _ body: (Int) -> Void) {
        if workers <= 1 {
            body(0)
            return
        }
        withoutActuallyEscaping(body) { escapable in
            let box = UncheckedSendableBox(value: escapable)
            DispatchQueue.concurrentPerform(iterations: workers) { box.value($0) }
        }
    }

    /// The `w`-th of `workers` near-equal contiguous slices of 0..<count.
    public static func slice(_ count: Int, worker w: Int, of workers: Int) -> Range<Int> {
        let base = count / workers, extra = count % workers
        let start = w * base + min(w, extra)
        return start..<(start + base + (w < extra ? 1 : 0))
    }
}
