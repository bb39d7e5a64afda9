// Packs queries and their kept context into the learned reflector's batch tensors, as the original train.py does:
// state0 = avg over present modalities, context = [state0, action, state1] per kept triplet along the sequence axis.
// Shape legend: B batch, K most kept triplets in the batch, L = 3·K context tokens, Cw context width.
import Formats
import Tensor

/// Builds `ReflectorInput` batches from queries and kept context.
///
/// When the action width differs from the state width (e.g. MiniLM 384 vs LanguageBind 768), every
/// context token is zero-padded to the wider of the two (the reflector's `contextWidth`). Rows with fewer
/// kept triplets are padded and masked out; a row with none gets one masked zero token.
public struct ReflectorInputBuilder: Sendable {
    /// The state embedding width.
    public var stateWidth: Int
    /// The action embedding width.
    public var actionWidth: Int

    /// A builder for these widths.
    public init(stateWidth: Int, actionWidth: Int) {
        self.stateWidth = stateWidth
        self.actionWidth = actionWidth
    }

    /// The context token width: `max(stateWidth, actionWidth)`.
    public var contextWidth: Int { max(stateWidth, actionWidth) }

    /// The reflector configuration this builder feeds, with the given Q-Former sizes.
    public func reflectorConfig(
        hiddenWidth: Int = 128, layers: Int = 2, heads: Int? = nil, queryTokens: Int = 4, outputWidth: Int
    ) -> LearnedReflectorConfig {
        LearnedReflectorConfig(
            inputWidth: stateWidth + actionWidth, contextWidth: contextWidth, encoderWidth: hiddenWidth, hiddenWidth: hiddenWidth,
            outputWidth: outputWidth, queryTokenCount: queryTokens, layerCount: layers, crossAttentionEvery: 1,
            heads: heads ?? max(1, hiddenWidth / 64), intermediateWidth: 4 * hiddenWidth)
    }

    /// One batch: `queries[i]` with its kept transitions `context[i]`.
    /// - Throws: `ReflectorError.input` when a state, action or context embedding is missing or mis-sized.
    public func batch(queries: [ReflectorQuery], context: [[Transition]]) throws -> ReflectorInput {
        precondition(queries.count == context.count, "reflector batch: \(queries.count) queries, \(context.count) context lists")
        let b = queries.count, w = contextWidth
        let k = max(1, context.map(\.count).max() ?? 0)
        let l = 3 * k
        var state0 = [Float](), action = [Float]()
        state0.reserveCapacity(b * stateWidth)
        action.reserveCapacity(b * actionWidth)
        var tokens = [Float](repeating: 0, count: b * l * w)
        var mask = [Float](repeating: 0, count: b * l)
        func vector(_ e: Formats.Embedding?, _ width: Int, _ field: String) throws -> [Float] {
            guard let e, e.dim == width else {
                throw ReflectorError.input(name: field, problem: e.map { "width \($0.dim), expected \(width)" } ?? "missing")
            }
            return e.values
        }
        for (r, q) in queries.enumerated() {
            state0 += try vector(q.state.averaged(), stateWidth, "query state")
            action += try vector(q.action.embedding, actionWidth, "query action")
            for (j, t) in context[r].enumerated() {
                let parts = [
                    try vector(t.state0.averaged(), stateWidth, "context state0"), try vector(t.action.embedding, actionWidth, "context action"),
                    try vector(t.state1.averaged(), stateWidth, "context state1"),
                ]
                for (p, values) in parts.enumerated() {
                    let token = r * l + 3 * j + p
                    tokens.replaceSubrange((token * w)..<(token * w + values.count), with: values)
                    mask[token] = 1
                }
            }
        }
        let allReal = mask.allSatisfy { $0 == 1 }
        return ReflectorInput(
            state0: Tensor(shape: [b, stateWidth], data: state0), action: Tensor(shape: [b, actionWidth], data: action),
            context: Tensor(shape: [b, l, w], data: tokens), contextMask: allReal ? nil : Tensor(shape: [b, l], data: mask))
    }
}
