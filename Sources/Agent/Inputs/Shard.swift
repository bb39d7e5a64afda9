// `--shard i/n`: which contiguous part of a run's work units (lock-step groups of episodes, samples) one process does.
// The partition depends only on the unit count, so the union of the n shards is the unsharded run's work.

/// Shard `index` of `count` (1-based, as written on the command line: `1/3`, `2/3`, `3/3`).
public struct Shard: Equatable, Sendable, CustomStringConvertible {
    /// 1-based position, 1…count.
    public let index: Int
    /// Number of shards.
    public let count: Int

    /// A shard.
    /// - Throws: `AgentError.invalidOption` unless 1 ≤ index ≤ count.
    public init(index: Int, count: Int) throws {
        guard count >= 1, index >= 1, index <= count else {
            throw AgentError.invalidOption(name: "shard", reason: "shard \(index) of \(count): write I/N with 1 ≤ I ≤ N (e.g. 2/3)")
        }
        self.init(valid: index, of: count)
    }

    private init(valid index: Int, of count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses `I/N`.
    /// - Throws: `AgentError.invalidOption` for anything else.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
            throw AgentError.invalidOption(name: "shard", reason: "`\(text)` is not I/N (e.g. 2/3: the second of three shards)")
        }
        try self.init(index: i, count: n)
    }

    /// The whole run as one shard.
    public static let whole = Shard(valid: 1, of: 1)

    /// The units of `total` this shard does: the `index`-th of `count` contiguous ranges whose sizes differ by at
    /// most one (`total·(i−1)/n ..< total·i/n`).
    public func range(of total: Int) -> Range<Int> {
        precondition(total >= 0, "unit count must not be negative")
        return (total * (index - 1) / count)..<(total * index / count)
    }

    public var description: String { "\(index)/\(count)" }
}
