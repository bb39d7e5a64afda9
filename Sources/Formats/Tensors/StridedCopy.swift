// Gathering the elements of a strided view (shape, strides, offset in elements) into row-major order.

/// Copies strided views of raw element buffers into contiguous row-major bytes.
enum StridedCopy {
    /// The highest element index a view touches, or nil when the view is empty; `nil` also on overflow
    /// (reported as `-1`), so callers can bound-check against the storage before copying.
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
    static func gather<S: Collection>(_ storage: S, elementSize: Int, shape: [Int], strides: [Int], offset: Int) -> [UInt8]
    where S.Element == UInt8, S.Index == Int {
        let count = TensorData.elementCount(shape)
        guard count > 0 else { return [] }
        let base = storage.startIndex
        // Contiguous row-major views are one slice.
        var contiguous = true
        var expected = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) where shape[d] != 1 {
            if strides[d] != expected { contiguous = false; break }
            expected *= shape[d]
        }
        if contiguous {
            let start = base + offset * elementSize
            return [UInt8](storage[start..<(start + count * elementSize)])
        }
        var out = [UInt8](repeating: 0, count: count * elementSize)
        let rank = shape.count
        var index = [Int](repeating: 0, count: rank)
        var position = offset
        out.withUnsafeMutableBufferPointer { dst in
            var written = 0
            for _ in 0..<count {
                let src = base + position * elementSize
                for b in 0..<elementSize { dst[written + b] = storage[src + b] }
                written += elementSize
                // Odometer increment over the last dimension first.
                var d = rank - 1
                while d >= 0 {
                    index[d] += 1
                    position += strides[d]
                    if index[d] < shape[d] { break }
                    position -= strides[d] * shape[d]
                    index[d] = 0
                    d -= 1
                }
            }
        }
        return out
    }
}
