// Shared test helpers: where the golden fixtures are, temporary folders, seeded random numbers.
import Foundation

/// Locations of the golden data in `../shared/fixtures` (beside the project folder).
public enum Fixtures {
    /// The project's root folder (the one holding Package.swift).
    public static let projectRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        while url.path != "/" {
            url.deleteLastPathComponent()
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url }
        }
        return URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    }()

    /// `../shared/fixtures`, or `WORLDGPT_FIXTURES` when set.
    public static let root: URL = {
        if let env = ProcessInfo.processInfo.environment["WORLDGPT_FIXTURES"] { return URL(fileURLWithPath: env) }
        return projectRoot.deletingLastPathComponent().appendingPathComponent("shared/fixtures")
    }()

    /// A file or folder under the fixtures root.
    public static func url(_ relativePath: String) -> URL { root.appendingPathComponent(relativePath) }
}

/// A fresh temporary folder, removed by `remove()`.
public struct TemporaryDirectory {
    /// The folder's URL.
    public let url: URL

    /// Creates a new empty folder under the system temporary directory.
    public init(prefix: String = "worldgpt-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    /// Deletes the folder and everything in it.
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Every regular file under `root` with its bytes, keyed by its path relative to `root` (`/a/b.pt`).
public func fileSnapshot(_ root: URL) throws -> [String: Data] {
    var files: [String: Data] = [:]
    guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return files }
    for case let url as URL in enumerator where (try url.resourceValues(forKeys: [.isRegularFileKey])).isRegularFile == true {
        files[String(url.path.dropFirst(root.path.count))] = try Data(contentsOf: url)
    }
    return files
}

/// A small deterministic generator (SplitMix64) for tests: same seed, same numbers, on every platform.
public struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    /// A generator started from `seed`.
    public init(seed: UInt64) { state = seed }

    /// The next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A standard normal sample (Box–Muller).
    public mutating func nextGaussian() -> Float {
        let u1 = max(Double(next() >> 11) / Double(1 << 53), 1e-300)
        let u2 = Double(next() >> 11) / Double(1 << 53)
        return Float((-2 * log(u1)).squareRoot() * cos(2 * .pi * u2))
    }
}
