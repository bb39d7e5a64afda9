// Confines every path a request names to the server's root: `..` and symlinks that lead outside are refused.
import Foundation

/// Resolves request paths inside one root folder.
public struct PathGuard: Sendable {
    /// The root with every symlink resolved.
    public let root: URL

    /// A guard for `root` (resolved once, so a root reached through a symlink still works).
    public init(root: URL) throws {
        guard let real = Self.realPath(root.path) else { throw ServeError.configuration("--root \(root.path) does not exist") }
        self.root = URL(fileURLWithPath: real)
    }

    /// The absolute path of `requested` (relative paths are relative to the root) after checking that it, and
    /// every symlink on the way to it, stays inside the root. The file itself need not exist (an export's output).
    /// - Throws: `ServeError.outsideRoot` otherwise, `.badRequest` for an empty path or a NUL byte.
    public func resolve(_ requested: String) throws -> URL {
        guard !requested.isEmpty, !requested.contains("\0") else { throw ServeError.badRequest("a path must be non-empty text") }
        let joined = requested.hasPrefix("/") ? requested : root.path + "/" + requested
        let lexical = Self.normalized(joined)
        guard Self.isInside(lexical, root.path) else { throw ServeError.outsideRoot(requested: requested, root: root.path) }
        // Resolve symlinks of the longest existing prefix; the rest does not exist yet, so cannot be a link.
        var existing = lexical
        var rest: [String] = []
        var real = Self.realPath(existing)  // one realpath(3) per prefix tried (each is an lstat per component)
        while real == nil && existing != "/" {
            let url = URL(fileURLWithPath: existing)
            rest.insert(url.lastPathComponent, at: 0)
            existing = url.deletingLastPathComponent().path
            real = Self.realPath(existing)
        }
        guard let real else { throw ServeError.outsideRoot(requested: requested, root: root.path) }
        let resolved = ([real] + rest).joined(separator: "/")
        guard Self.isInside(resolved, root.path) else { throw ServeError.outsideRoot(requested: requested, root: root.path) }
        return URL(fileURLWithPath: resolved)
    }

    /// `path` (absolute) with empty and `.` components dropped and each `..` removing the component before it, as
    /// `URL.standardizedFileURL` does, without Foundation's URL (this runs on every request that names a path).
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for component in path.split(separator: "/", omittingEmptySubsequences: true) {
            if component == "." { continue }
            if component == ".." {
                if !parts.isEmpty { parts.removeLast() }
                continue
            }
            parts.append(component)
        }
        return "/" + parts.joined(separator: "/")
    }

    static func isInside(_ path: String, _ root: String) -> Bool {
        path == root || path.hasPrefix(root.hasSuffix("/") ? root : root + "/")
    }

    static func realPath(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
