// The world-model protocol and the plain data a prediction takes (DESIGN.md "The world model").
// ContextReflector and Agent map their own types into `PredictionInput`; this module imports neither.
import Formats

/// A predictor of the next world state from the current state and an action.
///
/// Implementations: `IdentityModel`, `KNNModel`, `NativeWorldModel`, `RidgeModel`, and `RemoteWorldModel` (served elsewhere).
public protocol WorldModel {
    /// Predicts the embeddings of `input.targets` after `input.action` is taken in `input.state`.
    ///
    /// - Returns: a state holding exactly the target modalities, each a unit vector.
    /// - Throws: `WorldModelError` when the input cannot be used (missing action embedding, wrong dim).
    func predict(_ input: PredictionInput) throws -> State

    /// Predicts many inputs at once; the default calls `predict` for each.
    func predictBatch(_ inputs: [PredictionInput]) throws -> [State]
}

extension WorldModel {
    /// Predicts each input in turn.
    public func predictBatch(_ inputs: [PredictionInput]) throws -> [State] {
        try inputs.map { try predict($0) }
    }
}

/// One retrieved knowledge-base transition the reflector's filter stage kept, with its retrieval score.
public struct ContextItem: Equatable, Sendable {
    /// The kept transition.
    public var transition: Transition
    /// Its retrieval (similarity) score.
    public var score: Double

    /// A kept context item.
    public init(transition: Transition, score: Double) {
        self.transition = transition
        self.score = score
    }
}

/// The learned reflector's output: `tokenCount` tokens of `width` values, row-major (T×width).
public struct ReflectorTokens: Equatable, Sendable {
    /// Number of tokens (the paper uses 4).
    public var tokenCount: Int
    /// Width of each token.
    public var width: Int
    /// The token values, `tokenCount × width`, row-major.
    public var values: [Float]

    /// Wraps a T×width row-major buffer.
    /// - Precondition: `values.count == tokenCount * width`.
    public init(tokenCount: Int, width: Int, values: [Float]) {
        precondition(values.count == tokenCount * width, "reflector tokens: \(values.count) values for \(tokenCount)×\(width)")
        self.tokenCount = tokenCount
        self.width = width
        self.values = values
    }
}

/// One recalled past step of the same episode (memory), as the world model sees it.
public struct MemoryItem: Equatable, Sendable {
    /// The state before that step.
    public var state0: State
    /// The action taken then (its embedding is used when present).
    public var action: Action
    /// The state after that step: observed when known, else the earlier prediction.
    public var state1: State
    /// How many steps before the current one it happened (1 = the previous step).
    public var stepsAgo: Int

    /// A recalled step.
    public init(state0: State, action: Action, state1: State, stepsAgo: Int) {
        self.state0 = state0
        self.action = action
        self.state1 = state1
        self.stepsAgo = stepsAgo
    }
}

/// Everything a world model may use for one prediction.
public struct PredictionInput: Equatable, Sendable {
    /// The current state (only the input modalities of the task).
    public var state: State
    /// The action; models that embed actions need `action.embedding`.
    public var action: Action
    /// The modalities to predict.
    public var targets: [Modality]
    /// Kept knowledge-base transitions with their scores (may be empty).
    public var context: [ContextItem]
    /// The learned reflector's tokens, if that stage ran.
    public var reflectorTokens: ReflectorTokens?
    /// Recalled memory steps, most recent first (may be empty).
    public var memory: [MemoryItem]
    /// The scenario the query belongs to, when known (scopes retrieval baselines).
    public var scenario: String?

    /// A prediction input; only state, action and targets are required.
    public init(
        state: State, action: Action, targets: [Modality], context: [ContextItem] = [],
        reflectorTokens: ReflectorTokens? = nil, memory: [MemoryItem] = [], scenario: String? = nil
    ) {
        self.state = state
        self.action = action
        self.targets = targets
        self.context = context
        self.reflectorTokens = reflectorTokens
        self.memory = memory
        self.scenario = scenario
    }
}

/// Errors of the WorldModel module: bad inputs, configs, checkpoints and datasets.
public enum WorldModelError: Error, CustomStringConvertible, Equatable {
    /// The input has no embedding for the action and the model needs one.
    case missingActionEmbedding(action: String)
    /// The input state has none of the modalities the model needs.
    case emptyState(targets: [Modality])
    /// An embedding has the wrong length.
    case dimensionMismatch(field: String, expected: Int, actual: Int)
    /// A value is NaN or infinite.
    case notFinite(field: String)
    /// A configuration field is invalid (names the field and why).
    case invalidConfig(field: String, reason: String)
    /// A dataset or split yields no usable samples.
    case emptyDataset(field: String, reason: String)
    /// A checkpoint file is missing, unreadable or does not match its config.
    case badCheckpoint(path: String, reason: String)
    /// The knowledge base of a retrieval model is empty or inconsistent.
    case badKnowledgeBase(reason: String)
    /// A world model served elsewhere (`RemoteWorldModel`) did not answer, or answered something unusable.
    case remote(url: String, reason: String)

    public var description: String {
        switch self {
        case .missingActionEmbedding(let action): return "action \"\(action)\" has no embedding (embed action texts before predicting)"
        case .emptyState(let targets): return "input state is empty (targets \(targets.map(\.rawValue).joined(separator: ", ")))"
        case .dimensionMismatch(let field, let expected, let actual): return "\(field): expected dimension \(expected), got \(actual)"
        case .notFinite(let field): return "\(field): contains NaN or infinity"
        case .invalidConfig(let field, let reason): return "config field `\(field)`: \(reason)"
        case .emptyDataset(let field, let reason): return "dataset `\(field)`: \(reason)"
        case .badCheckpoint(let path, let reason): return "checkpoint \(path): \(reason)"
        case .badKnowledgeBase(let reason): return "knowledge base: \(reason)"
        case .remote(let url, let reason): return "remote world model \(url): \(reason)"
        }
    }
}
