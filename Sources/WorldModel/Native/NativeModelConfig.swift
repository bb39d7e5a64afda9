// The architecture of a `NativeWorldModel`, stored as JSON beside its safetensors weights.
import Foundation
import Formats

/// Sizes of the native world model. Saved as `config.json` in every checkpoint folder.
public struct NativeModelConfig: Codable, Equatable, Sendable {
    /// D: the state embedding dimension (768 for LanguageBind).
    public var embeddingDimension: Int
    /// A: the action (text) embedding dimension (384 for MiniLM).
    public var actionDimension: Int
    /// C: the transformer width.
    public var width: Int
    /// Number of transformer blocks.
    public var depth: Int
    /// Attention heads per block (must divide `width`).
    public var heads: Int
    /// Hidden width of each block's MLP as a multiple of `width`.
    public var mlpRatio: Int
    /// The largest `stepsAgo` with its own embedding; older memory steps share the last one.
    public var maxMemorySteps: Int
    /// Width of the reflector tokens the model accepts (the learned reflector's output width).
    public var reflectorWidth: Int
    /// Seed of the parameter initialisation.
    public var seed: UInt64
    /// The factor applied to each head's output Δ (default 1). A small factor (e.g. 0.1) keeps the early, noisy
    /// Δ that Adam produces from swamping the unit-norm residual base, but it also slows cross-modal learning:
    /// on the default SimWorld 0.1 scored 1–5 points lower than 1 at the same step budget (docs/worldmodel.md).
    public var residualScale: Float
    /// The text encoder that embedded the training actions (e.g. `all-MiniLM-L6-v2`, `hashed-384`);
    /// predictions must embed actions with the same one.
    public var actionEncoder: String?
    /// The memory change path: the most recent memory step's change in the target modality (`state1 − state0`, as the
    /// ridge baseline reads it) goes through a full-width linear map (`memory_change`, D×D, zero at start) straight
    /// into the prediction, beside the transformer's residual. A width-C token cannot carry a D-wide change
    /// linearly; this path can (docs/worldmodel.md, "The memory change path").
    public var memoryChange: Bool = false
    /// The context change path: the mean change of the kept context items in the target modality (what the ridge
    /// baseline's knowledge features read) through a full-width linear map (`context_change`, zero at start); trained
    /// with the reflector in `train-reflector` (docs/worldmodel.md, "Change paths").
    public var contextChange: Bool = false
    /// The linear base: each prediction is a closed-form ridge regression's (fitted by `train` for state, action and
    /// memory, by `train-reflector` for kept context; saved in `linear/`) plus the transformer's residual, instead of
    /// state0 plus the residual (docs/worldmodel.md, "Linear base").
    public var linearBase: Bool = false

    /// Whether `path` is on.
    public func has(_ path: ChangePath) -> Bool {
        switch path {
        case .memory: memoryChange
        case .context: contextChange
        }
    }

    /// A configuration; the defaults train in minutes on two cores.
    public init(
        embeddingDimension: Int = 768, actionDimension: Int = 384, width: Int = 256, depth: Int = 3, heads: Int = 4,
        mlpRatio: Int = 4, maxMemorySteps: Int = 8, reflectorWidth: Int = 256, seed: UInt64 = 0, actionEncoder: String? = nil,
        residualScale: Float = 1, memoryChange: Bool = false, contextChange: Bool = false, linearBase: Bool = false
    ) {
        self.embeddingDimension = embeddingDimension
        self.actionDimension = actionDimension
        self.width = width
        self.depth = depth
        self.heads = heads
        self.mlpRatio = mlpRatio
        self.maxMemorySteps = maxMemorySteps
        self.reflectorWidth = reflectorWidth
        self.seed = seed
        self.actionEncoder = actionEncoder
        self.residualScale = residualScale
        self.memoryChange = memoryChange
        self.contextChange = contextChange
        self.linearBase = linearBase
    }

    /// Decodes a config; `action_encoder`, `residual_scale`, `memory_change`, `context_change` and `linear_base` may be absent (nil, 1, false, false, false).
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        embeddingDimension = try c.decode(Int.self, forKey: .embeddingDimension)
        actionDimension = try c.decode(Int.self, forKey: .actionDimension)
        width = try c.decode(Int.self, forKey: .width)
        depth = try c.decode(Int.self, forKey: .depth)
        heads = try c.decode(Int.self, forKey: .heads)
        mlpRatio = try c.decode(Int.self, forKey: .mlpRatio)
        maxMemorySteps = try c.decode(Int.self, forKey: .maxMemorySteps)
        reflectorWidth = try c.decode(Int.self, forKey: .reflectorWidth)
        seed = try c.decode(UInt64.self, forKey: .seed)
        actionEncoder = try c.decodeIfPresent(String.self, forKey: .actionEncoder)
        residualScale = try c.decodeIfPresent(Float.self, forKey: .residualScale) ?? 1
        memoryChange = try c.decodeIfPresent(Bool.self, forKey: .memoryChange) ?? false
        contextChange = try c.decodeIfPresent(Bool.self, forKey: .contextChange) ?? false
        linearBase = try c.decodeIfPresent(Bool.self, forKey: .linearBase) ?? false
    }

    /// Throws `WorldModelError.invalidConfig` naming the first bad field.
    public func validate() throws {
        func positive(_ value: Int, _ field: String) throws {
            guard value > 0 else { throw WorldModelError.invalidConfig(field: field, reason: "must be positive, got \(value)") }
        }
        try positive(embeddingDimension, "model.embedding_dim")
        try positive(actionDimension, "model.action_dim")
        try positive(width, "model.width")
        try positive(depth, "model.depth")
        try positive(heads, "model.heads")
        try positive(mlpRatio, "model.mlp_ratio")
        try positive(maxMemorySteps, "model.max_memory_steps")
        try positive(reflectorWidth, "model.reflector_width")
        guard residualScale > 0, residualScale.isFinite else {
            throw WorldModelError.invalidConfig(field: "model.residual_scale", reason: "must be a positive number, got \(residualScale)")
        }
        guard width % heads == 0 else {
            throw WorldModelError.invalidConfig(field: "model.heads", reason: "width \(width) is not divisible by \(heads) heads")
        }
    }

    enum CodingKeys: String, CodingKey {
        case embeddingDimension = "embedding_dim", actionDimension = "action_dim", width, depth, heads
        case mlpRatio = "mlp_ratio", maxMemorySteps = "max_memory_steps", reflectorWidth = "reflector_width", seed
        case actionEncoder = "action_encoder", residualScale = "residual_scale", memoryChange = "memory_change", contextChange = "context_change"
        case linearBase = "linear_base"
    }
}
