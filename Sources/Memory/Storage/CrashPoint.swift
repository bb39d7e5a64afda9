// Named crash points for the crash-safety tests: `WORLDGPT_CRASH_AT=NAME:N` makes the process SIGKILL itself the
// N-th time it passes the point NAME, exactly where no random kill could be aimed reliably (for instance between
// a commit and the recall key-file append that follows it). Unset, a point costs one load of a cached value.
import Foundation

/// The crash points the store passes.
public enum CrashPoint: String, Sendable {
    /// After a batch of steps is committed, before its recall keys are appended to the key files.
    case afterCommit = "store.after-commit"

    private static let armed: (name: String, count: Int)? = {
        guard let spec = ProcessInfo.processInfo.environment["WORLDGPT_CRASH_AT"] else { return nil }
        let parts = spec.split(separator: ":")
        guard parts.count == 2, let n = Int(parts[1]), n >= 1 else { return nil }
        return (String(parts[0]), n)
    }()
    private static let lock = NSLock()
    nonisolated(unsafe) private static var passes = 0

    /// Kills the process (SIGKILL: no clean-up, as a crash) when this point is armed and reached its count.
    func pass() {
        guard let armed = Self.armed, armed.name == rawValue else { return }
        let n = Self.lock.withLock {
            Self.passes += 1
            return Self.passes
        }
        if n == armed.count { kill(getpid(), SIGKILL) }
    }
}
