// Maps a ReflectedContext into the plain data a world model's PredictionInput carries.
import WorldModel

extension ReflectedContext {
    /// The kept transitions with their scores, best first, as `PredictionInput.context`.
    public var contextItems: [ContextItem] { filter.kept.map { ContextItem(transition: $0.transition, score: $0.score) } }

    /// The learned tokens as `PredictionInput.reflectorTokens`, or nil when the learned stage did not run.
    public var reflectorTokens: ReflectorTokens? {
        tokens.map { ReflectorTokens(tokenCount: tokenCount, width: tokenWidth, values: $0) }
    }
}
