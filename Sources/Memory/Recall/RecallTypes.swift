// Recall queries, user-set weights and recalled steps with the parts of their score.
import Formats
import Foundation

/// How much each part counts in a recall score: `state·simState + action·simAction + recency·rec`.
///
/// `simState` is the cosine between the query state's averaged, normalised embedding and a stored step's
/// input state key; `simAction` the cosine of the action embeddings; `rec = 0.5^(stepsAgo / halfLife)`
/// where `stepsAgo` counts the steps offloaded (store-wide) after the recalled one, up to the newest.
public struct RecallWeights: Equatable, Sendable, Codable {
    /// Weight of the state similarity.
    public var state: Float
    /// Weight of the action similarity.
    public var action: Float
    /// Weight of the recency term.
    public var recency: Float
    /// Steps after which the recency term halves.
    public var halfLife: Float

    /// Weights; the default ranks by state similarity only.
    public init(state: Float = 1, action: Float = 0, recency: Float = 0, halfLife: Float = 50) {
        self.state = state
        self.action = action
        self.recency = recency
        self.halfLife = halfLife
    }
}

/// Which past steps a recall may return.
public struct RecallQuery: Sendable, Codable {
    /// The current state (its present modalities are averaged into the query key).
    public var state: State
    /// The current action's embedding, if the action weight is used.
    public var action: Embedding?
    /// When set, only steps of this episode.
    public var episode: String?
    /// Step row ids never returned (the query step itself, for example).
    public var excludedStepIDs: Set<Int64>
    /// When set, only steps stored before this row id (no peeking at the future of a replay).
    public var beforeStepID: Int64?

    /// A recall query.
    public init(state: State, action: Embedding? = nil, episode: String? = nil, excludedStepIDs: Set<Int64> = [], beforeStepID: Int64? = nil) {
        self.state = state
        self.action = action
        self.episode = episode
        self.excludedStepIDs = excludedStepIDs
        self.beforeStepID = beforeStepID
    }
}

/// One recalled step with its score and the parts that made it.
public struct RecalledStep: Equatable, Sendable, Codable {
    /// The recalled step's row id.
    public var stepID: Int64
    /// Its episode's name.
    public var episode: String
    /// Its index in the episode.
    public var index: Int
    /// The combined score.
    public var score: Float
    /// Cosine of state keys.
    public var stateSimilarity: Float
    /// Cosine of action embeddings (0 when either is absent).
    public var actionSimilarity: Float
    /// The recency term in (0, 1].
    public var recency: Float
    /// Steps offloaded after this one.
    public var stepsAgo: Int64
    /// The weights that produced the score.
    public var weights: RecallWeights

    /// A recalled step.
    public init(stepID: Int64, episode: String, index: Int, score: Float, stateSimilarity: Float, actionSimilarity: Float, recency: Float, stepsAgo: Int64, weights: RecallWeights) {
        self.stepID = stepID
        self.episode = episode
        self.index = index
        self.score = score
        self.stateSimilarity = stateSimilarity
        self.actionSimilarity = actionSimilarity
        self.recency = recency
        self.stepsAgo = stepsAgo
        self.weights = weights
    }
}

/// The recall key of a state: the average of its present modality embeddings, L2-normalised (zeros if empty).
public func recallKey(of state: State, dim: Int) -> [Float] {
    guard let avg = state.averaged(), avg.dim == dim else { return [Float](repeating: 0, count: dim) }
    return normalizedOrZero(avg.values)
}

/// `v / |v|`, or zeros for the zero vector.
func normalizedOrZero(_ v: [Float]) -> [Float] {
    var sum: Double = 0
    for x in v { sum += Double(x) * Double(x) }
    guard sum > 0 else { return [Float](repeating: 0, count: v.count) }
    let s = Float(1 / sum.squareRoot())
    return v.map { $0 * s }
}
