// Reading whole files with read(2) into one buffer: faster than faulting a private mapping in page by page when
// every byte will be touched anyway (.pt, .npy, .npz). The only libc use of the module lives here.
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads the whole file into a new array.
/// - Throws: `FormatError.io` naming the file when it cannot be opened or read.
func readWholeFile(_ url: URL) throws -> [UInt8] {
    let fd = open(url.path, O_RDONLY)
    guard fd >= 0 else { throw FormatError.io(path: url.path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else { throw FormatError.io(path: url.path, reason: String(cString: strerror(errno))) }
    guard (info.st_mode & S_IFMT) == S_IFREG else { throw FormatError.io(path: url.path, reason: "not a regular file") }
    let size = Int(info.st_size)
    guard size > 0 else { return [] }
    var failure: Int32 = 0
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, initialized in
        var done = 0
        while done < size, let base = buffer.baseAddress {
            let n = read(fd, base + done, size - done)
            if n < 0 {
                if errno == EINTR { continue }
                failure = errno
                break
            }
            if n == 0 { break }  // the file shrank while being read
            done += n
        }
        initialized = done
    }
    if failure != 0 { throw FormatError.io(path: url.path, reason: String(cString: strerror(failure))) }
    return bytes
}

/// Runs `body` over the file's bytes, read with `readWholeFile` and wrapped without copying. `body` must not let
/// the `Data` (or slices of it) escape: copy out what you keep.
func withFileData<T>(_ url: URL, _ body: (Data) throws -> T) throws -> T {
    let bytes = try readWholeFile(url)
    return try bytes.withUnsafeBytes { raw in
        guard let base = raw.baseAddress else { return try body(Data()) }
        return try body(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: base), count: raw.count, deallocator: .none))
    }
}
