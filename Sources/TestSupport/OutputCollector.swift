// A child process's output read on a background thread, so a test can poll it while the child runs.
import Foundation

/// Reads a child's stdout on a background thread so the test can poll it while the child runs.
public final class OutputCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private let done = DispatchSemaphore(value: 0)

    public init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                lock.lock(); data.append(chunk); lock.unlock()
            }
            done.signal()
        }
    }

    /// Everything read so far.
    public var text: String {
        lock.lock(); defer { lock.unlock() }
        return String(decoding: data, as: UTF8.self)
    }

    /// Waits for end of file and returns everything.
    public func finish() -> String {
        done.wait()
        return text
    }
}
