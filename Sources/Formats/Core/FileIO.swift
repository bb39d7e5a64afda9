// Large output buffers: allocated with a transparent-huge-page hint, as numpy does for big arrays, so filling
// 64 MiB costs a few dozen page faults instead of sixteen thousand; and atomic file replacement. The only libc use of
// the module lives here.
import Foundation
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

/// Replaces files atomically: the bytes go to a hidden temporary file beside the target, are flushed to disk, and the
/// temporary file is renamed over the target — a reader sees the old file or the new one, never a part, and a crash
/// leaves at most the temporary file. (Foundation's `.atomic` writes through a `TemporaryDirectory.*` folder under
/// /tmp that it never removes: one empty folder leaked per write on Linux.)
public enum AtomicFile {
    /// Writes `data` to `url` atomically.
    /// - Throws: a `CocoaError` naming the path, with the POSIX error underneath, when a step fails (the temporary
    ///   file is removed).
    public static func write(_ data: Data, to url: URL) throws {
        let target = url.path
        let folder = url.deletingLastPathComponent().path
        let temporary = folder + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func failure(_ code: Int32) -> CocoaError {
            CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: target, NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(code)),
            ])
        }
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(errno) }
        var code: Int32 = 0
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + offset, raw.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    code = errno
                    return
                }
                offset += n
            }
        }
        if code == 0, fsync(fd) != 0 { code = errno }
        if close(fd) != 0, code == 0 { code = errno }
        if code == 0, rename(temporary, target) != 0 { code = errno }
        if code != 0 {
            unlink(temporary)
            throw failure(code)
        }
    }
}

extension AtomicFile {
    /// A file written in pieces and replaced atomically: the pieces go to a hidden temporary file beside the target
    /// through one reused 1 MiB buffer; `commit` flushes, syncs and renames it over the target. A writer released
    /// without `commit` (an error on the way) removes its temporary file. Thread-confined.
    public final class Writer {
        private let target: String
        private let temporary: String
        private var fd: Int32
        private var buffer: UnsafeMutableRawPointer
        private var used = 0
        private static let capacity = 1 << 20

        /// Creates the temporary file.
        /// - Throws: a `CocoaError` naming the path, with the POSIX error underneath.
        public init(url: URL) throws {
            target = url.path
            temporary = url.deletingLastPathComponent().path + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
            fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            // Thrown before `buffer` is set, so deinit does not run.
            guard fd >= 0 else { throw Self.failure(errno, target) }
            buffer = UnsafeMutableRawPointer.allocate(byteCount: Self.capacity, alignment: 64)
        }

        deinit {
            if fd >= 0 {
                close(fd)
                unlink(temporary)
            }
            buffer.deallocate()
        }

        static func failure(_ code: Int32, _ target: String) -> CocoaError {
            CocoaError(.fileWriteUnknown, userInfo: [
                NSFilePathErrorKey: target, NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(code)),
            ])
        }

        /// Appends `bytes` (copied into the buffer; written out whenever it fills).
        public func append(_ bytes: UnsafeRawBufferPointer) throws {
            precondition(fd >= 0, "append after commit")
            guard let base = bytes.baseAddress, bytes.count > 0 else { return }
            var offset = 0
            while offset < bytes.count {
                let n = min(bytes.count - offset, Self.capacity - used)
                (buffer + used).copyMemory(from: base + offset, byteCount: n)
                used += n
                offset += n
                if used == Self.capacity { try flush() }
            }
        }

        private func flush() throws {
            var offset = 0
            while offset < used {
                let n = Glibc.write(fd, buffer + offset, used - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw Self.failure(errno, target)
                }
                offset += n
            }
            used = 0
        }

        /// Writes what is buffered, syncs, and renames the file over the target.
        public func commit() throws {
            precondition(fd >= 0, "commit twice")
            try flush()
            var code: Int32 = 0
            if fsync(fd) != 0 { code = errno }
            if close(fd) != 0, code == 0 { code = errno }
            fd = -1
            if code == 0, rename(temporary, target) != 0 { code = errno }
            if code != 0 {
                unlink(temporary)
                throw Self.failure(code, target)
            }
        }
    }
}
