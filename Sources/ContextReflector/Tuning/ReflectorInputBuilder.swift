// Packs queries and their kept context into the learned reflector's batch tensors. state0 = avg over present
// modalities; context either as the original train.py does (state0, action, state1 as three tokens per kept triplet)
// or as one token per triplet `[state0, state1, action]` (the layout of the world model's memory tokens).
// Shape legend: B batch, K most kept triplets in the batch, L context tokens (3·K or K), Cw context width.
import Formats
import Tensor
import WorldModel

/// How kept triplets become context tokens.
public enum ContextPacking: String, Sendable, Codable, CaseIterable {
    /// The original: `state0`, `action`, `state1` as three tokens, each zero-padded to `max(D, A)`. The
    /// reflector sees a bag of tokens and cannot tell which state0 belongs to which state1.
    case perPart = "part"
    /// One token per triplet, `[state0, state1, action]` (width `2D + A`): the pairing stays visible, so
    /// what the action did to the state can be read off each token.
    case perTriplet = "triplet"

    /// Context tokens per kept triplet.
    public var tokensPerTriplet: Int { self == .perPart ? 3 : 1 }

    /// The packing whose tokens are `contextWidth` wide for these state and action widths (nil: neither).
    public init?(contextWidth: Int, stateWidth: Int, actionWidth: Int) {
        guard let packing = Self.allCases.first(where: { $0.tokenWidth(stateWidth: stateWidth, actionWidth: actionWidth) == contextWidth }) else {
            return nil
        }
        self = packing
    }

    /// The width of a context token for these state and action widths.
    public func tokenWidth(stateWidth: Int, actionWidth: Int) -> Int {
        self == .perPart ? max(stateWidth, actionWidth) : 2 * stateWidth + actionWidth
    }
}

/// Builds `ReflectorInput` batches from queries and kept context.
///
/// With `.perPart` packing and an action width different from the state width (e.g. MiniLM 384 vs
/// LanguageBind 768), every context token is zero-padded to the wider of the two (the reflector's
/// `contextWidth`). Rows with fewer kept triplets are padded and masked out; a row with none gets one
/// masked zero token.
public struct ReflectorInputBuilder: Sendable {
    /// The state embedding width.
    public var stateWidth: Int
    /// The action embedding width.
    public var actionWidth: Int
    /// How triplets become tokens.
    public var packing: ContextPacking

    /// A builder for these widths.
    public init(stateWidth: Int, actionWidth: Int, packing: ContextPacking = .perPart) {
        self.stateWidth = stateWidth
        self.actionWidth = actionWidth
        self.packing = packing
    }

    /// The builder that feeds a reflector of `config`: the packing follows from its context width
    /// (`max(D, A)`: per part, `2D + A`: per triplet).
    /// - Throws: `ReflectorError.invalidConfig` when the reflector's input or context width fits neither.
    public init(for config: LearnedReflectorConfig, stateWidth: Int, actionWidth: Int) throws {
        guard config.inputWidth == stateWidth + actionWidth else {
            throw ReflectorError.invalidConfig(
                "the reflector takes [state0, action] of width \(config.inputWidth), but states are \(stateWidth)-d and actions \(actionWidth)-d")
        }
        guard let packing = ContextPacking(contextWidth: config.contextWidth, stateWidth: stateWidth, actionWidth: actionWidth) else {
            throw ReflectorError.invalidConfig(
                "the reflector's context width \(config.contextWidth) fits neither packing for \(stateWidth)-d states and \(actionWidth)-d actions "
                    + "(\(max(stateWidth, actionWidth)) per part, \(2 * stateWidth + actionWidth) per triplet)")
        }
        self.init(stateWidth: stateWidth, actionWidth: actionWidth, packing: packing)
    }

    /// The builder for a reflector whose tokens feed `model`.
    /// - Throws: `ReflectorError.invalidConfig` when the reflector's input, context or output width does not fit.
    public static func fitting(_ config: LearnedReflectorConfig, model: NativeModelConfig) throws -> ReflectorInputBuilder {
        guard config.outputWidth == model.reflectorWidth else {
            throw ReflectorError.invalidConfig(
                "the reflector's output width \(config.outputWidth) does not fit the world model's reflector width \(model.reflectorWidth)")
        }
        return try ReflectorInputBuilder(for: config, stateWidth: model.embeddingDimension, actionWidth: model.actionDimension)
    }

    /// The context token width: `max(stateWidth, actionWidth)` per part, `2·stateWidth + actionWidth` per triplet.
    public var contextWidth: Int { packing.tokenWidth(stateWidth: stateWidth, actionWidth: actionWidth) }

    /// Context tokens per kept triplet.
    var tokensPerTriplet: Int { packing.tokensPerTriplet }

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
        let perTriplet = tokensPerTriplet
        let l = perTriplet * k
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
            // The row's real tokens as the inference path packs them, then padding.
            let real = perTriplet * context[r].count
            let row = try ReflectorInferenceBatch.contextTokens(context[r], stateWidth: stateWidth, actionWidth: actionWidth, packing: packing)
            tokens.replaceSubrange((r * l * w)..<((r * l + real) * w), with: row)
            for token in (r * l)..<(r * l + real) { mask[token] = 1 }
        }
        let allReal = mask.allSatisfy { $0 == 1 }
        return ReflectorInput(
            state0: Tensor(shape: [b, stateWidth], data: state0), action: Tensor(shape: [b, actionWidth], data: action),
            context: Tensor(shape: [b, l, w], data: tokens), contextMask: allReal ? nil : Tensor(shape: [b, l], data: mask))
    }
}
