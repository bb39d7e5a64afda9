// Gathering the elements of a strided view (shape, strides, offset in elements) into row-major order.
import Foundation

/// Copies strided views of raw element buffers into contiguous row-major bytes.
enum StridedCopy {
    /// The highest element index a view touches, or nil when the view is empty; `-1` on arithmetic overflow,
    /// so callers can bound-check against the storage before copying.
    static func lastIndex(shape: [Int], strides: [Int], offset: Int) -> Int? {
        var last = offset
        for (n, s) in zip(shape, strides) {
            if n == 0 { return nil }
            let (m, o1) = (n - 1).multipliedReportingOverflow(by: s)
            let (sum, o2) = last.addingReportingOverflow(m)
            if o1 || o2 { return -1 }
            last = sum
        }
        return last
    }

    /// The bytes of the view `shape`/`strides`/`offset` (all in elements) of `storage`, in row-major order.
    /// - Precondition: every index the view touches lies inside `storage` (check with `lastIndex` first).
    static func gather(_ storage: Data, elementSize: Int, shape: [Int], strides: [Int], offset: Int) -> [UInt8] {
        storage.withUnsafeBytes { gather($0, elementSize: elementSize, shape: shape, strides: strides, offset: offset) }
    }

    /// `gather` over an array.
    static func gather(_ storage: [UInt8], elementSize: Int, shape: [Int], strides: [Int], offset: Int) -> [UInt8] {
        storage.withUnsafeBytes { gather($0, elementSize: elementSize, shape: shape, strides: strides, offset: offset) }
    }

    /// `gather` over raw memory: copies runs of the innermost dimension when they are contiguous.
    static func gather(_ src: UnsafeRawBufferPointer, elementSize: Int, shape: [Int], strides: [Int], offset: Int) -> [UInt8] {
        let count = TensorData.elementCount(shape)
        guard count > 0, let base = src.baseAddress else { return [] }
        // Drop unit dimensions (their strides are irrelevant), then merge dimensions that are contiguous together.
        var dims: [(n: Int, s: Int)] = zip(shape, strides).filter { $0.0 != 1 }.map { ($0.0, $0.1) }
        var merged: [(n: Int, s: Int)] = []
        for d in dims {
            if let last = merged.last, last.s == d.s * d.n {
                merged[merged.count - 1] = (last.n * d.n, d.s)
            } else {
                merged.append(d)
            }
        }
        dims = merged
        // Elements per contiguous run (innermost dimension with stride 1).
        var run = 1
        if let inner = dims.last, inner.s == 1 {
            run = inner.n
            dims.removeLast()
        }
        let runBytes = run * elementSize
        let runs = count / run
        return makeLargeBuffer(count: count * elementSize) { dst in
            let rank = dims.count
            var index = [Int](repeating: 0, count: rank)
            var position = offset
            var written = 0
            for _ in 0..<runs {
                (dst + written).copyMemory(from: base + position * elementSize, byteCount: runBytes)
                written += runBytes
                // Odometer over the outer dimensions, last first. Wrapping arithmetic: the position is restored exactly.
                var d = rank - 1
                while d >= 0 {
                    index[d] += 1
                    position = position &+ dims[d].s
                    if index[d] < dims[d].n { break }
                    position = position &- dims[d].s &* dims[d].n
                    index[d] = 0
                    d -= 1
                }
            }
        }
    }
}
