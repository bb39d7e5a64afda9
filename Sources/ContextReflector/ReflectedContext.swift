// What the ContextReflector hands on: the kept context with every filter decision, and the learned tokens.
import Formats

/// The reflector's output for one query: the filter's kept items and reasons, plus the learned stage's
/// tokens when it ran. Codable, so the Memory store can keep it with the step it served.
public struct ReflectedContext: Equatable, Sendable, Codable {
    /// The filter stage's result (kept candidates in rank order, a decision per candidate).
    public var filter: FilterResult
    /// The learned stage's tokens, row-major `tokenCount × tokenWidth`, or nil when it did not run.
    public var tokens: [Float]?
    /// The number of learned tokens (4 in WorldGPT), 0 without the learned stage.
    public var tokenCount: Int
    /// The width of each learned token (the world model's width), 0 without the learned stage.
    public var tokenWidth: Int

    /// A reflected context; `tokens`, when given, must hold `tokenCount × tokenWidth` values.
    public init(filter: FilterResult, tokens: [Float]? = nil, tokenCount: Int = 0, tokenWidth: Int = 0) {
        precondition((tokens?.count ?? tokenCount * tokenWidth) == tokenCount * tokenWidth, "reflector tokens: \(tokens?.count ?? 0) values for \(tokenCount)×\(tokenWidth)")
        self.filter = filter
        self.tokens = tokens
        self.tokenCount = tokens == nil ? 0 : tokenCount
        self.tokenWidth = tokens == nil ? 0 : tokenWidth
    }

    /// The kept transitions, best first.
    public var transitions: [Transition] { filter.kept.map(\.transition) }
    /// The kept candidates' retrieval scores, best first.
    public var scores: [Double] { filter.kept.map(\.score) }
    /// The kept candidates' ids, best first.
    public var keptIDs: [String] { filter.kept.map(\.id) }
}
