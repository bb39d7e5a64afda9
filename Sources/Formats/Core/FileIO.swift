// Large output buffers: allocated with a transparent-huge-page hint, as numpy does for big arrays, so filling
// 64 MiB costs a few dozen page faults instead of sixteen thousand. The only libc use of the module lives here.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A new byte array of exactly `count` bytes, filled by `fill` (which must initialise every byte).
/// Buffers of 4 MiB or more are advised to use huge pages before they are first touched.
func makeLargeBuffer(count: Int, _ fill: (UnsafeMutableRawPointer) -> Void) -> [UInt8] {
    [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
        guard let base = buffer.baseAddress, count > 0 else { initialized = 0; return }
        #if os(Linux)
        if count >= 4 << 20 {
            // Advise the 2 MiB-aligned interior; failure (no THP) is harmless.
            let huge = 2 << 20
            let start = (Int(bitPattern: base) + huge - 1) & ~(huge - 1)
            let end = (Int(bitPattern: base) + count) & ~(huge - 1)
            if end > start, let p = UnsafeMutableRawPointer(bitPattern: start) {
                _ = madvise(p, end - start, MADV_HUGEPAGE)
            }
        }
        #endif
        fill(UnsafeMutableRawPointer(base))
        initialized = count
    }
}
