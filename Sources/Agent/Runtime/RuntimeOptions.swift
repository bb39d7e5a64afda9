// Switches and sizes of the runtime: each cognitive function can be turned off for ablations.
import ContextReflector
import Formats

/// What the runtime does at each step.
public struct RuntimeOptions: Equatable, Sendable {
    /// Feed the episode's recent steps to the model as memory.
    public var memory: Bool
    /// Retrieve knowledge-base transitions for each step.
    public var retrieval: Bool
    /// Run the ContextReflector's filter stage on what was retrieved (off: the top `filter.budget`
    /// candidates pass unfiltered, except that the leakage guard always applies).
    public var reflector: Bool
    /// Most recent steps of the episode given to the model (the paper uses 2–5).
    public var history: Int
    /// Candidates retrieved per step before filtering.
    public var retrievalK: Int
    /// Filter-stage settings.
    public var filter: ReflectorFilterConfig
    /// Modalities to predict; empty = the modalities present in the input state.
    public var targets: [Modality]
    /// When the true next state is known, continue from it (the agent observes the world) instead of
    /// from the prediction (open loop).
    public var observe: Bool
    /// Remember, by candidate id, what the filter derives from each retrieved transition (finiteness, unit
    /// vectors) across steps. Same decisions either way; turn off only if the knowledge source can hand out
    /// the same id for a different transition while the runtime lives (a changed id is detected in any case
    /// by provenance, action text and sampled values).
    public var cacheCandidates: Bool

    /// Options with everything on.
    public init(
        memory: Bool = true, retrieval: Bool = true, reflector: Bool = true, history: Int = 3, retrievalK: Int = RuntimeOptions.defaultRetrievalK,
        filter: ReflectorFilterConfig = RuntimeOptions.defaultFilter, targets: [Modality] = [],
        observe: Bool = true, cacheCandidates: Bool = true
    ) {
        self.memory = memory
        self.retrieval = retrieval
        self.reflector = reflector
        self.history = history
        self.retrievalK = retrievalK
        self.filter = filter
        self.targets = targets
        self.observe = observe
        self.cacheCandidates = cacheCandidates
    }

    /// The filter rollouts, predictions, the ablation and the linear base's knowledge models use unless told otherwise:
    /// similarity threshold 0.3, near-duplicates collapsed, no MMR diversity (λ = 1), at most 64 items. Knowledge
    /// here is a lookup of what the same action did, and a single transition's observed change is mostly observation
    /// noise: the model reads the kept items' changes weighted by how close each one's action is to the query's
    /// (`RidgeFeatureLayout.contextTemperature`), so a dense knowledge base is averaged over its tens of transitions of
    /// the action and a sparse one over its few (docs/perf-log.md: on the seed-11 worlds, 4 items left the dense
    /// ecosystem's kept change at cosine 0.38 to the told one, 64 weighted items at 0.65; diversity swaps the action's
    /// transitions for other actions'). A kept item whose observed change is more than twice the median of the kept
    /// is dropped as an outlier (a corrupted or misfiled transition; on the seed-11 ecosystem it removed 610 corrupted
    /// and 13 misfiled items against 155 clean ones, and moved the kept change from cosine 0.627 to 0.647 to the clean one).
    public static let defaultFilter = ReflectorFilterConfig(threshold: 0.3, mmrLambda: 1, budget: 64, outlierRatio: 2)

    /// Candidates retrieved per step before filtering, unless told otherwise: as many as the default filter may keep.
    public static let defaultRetrievalK = 64

    /// The settings the runtime's filter runs with: `filter`, or with the reflector off, a pass-through that keeps the
    /// top `filter.budget` candidates (the leakage guard stays: it is about correctness).
    public var filterInForce: ReflectorFilterConfig {
        reflector ? filter : ReflectorFilterConfig(threshold: -1e30, duplicateCosine: 2, mmrLambda: 1, budget: filter.budget, leakageGuard: true)
    }

    /// Throws `AgentError.invalidOption` for out-of-range values.
    public func validate() throws {
        guard history >= 0 && history <= 16 else { throw AgentError.invalidOption(name: "history", reason: "must be 0…16 (got \(history))") }
        guard retrievalK >= 1 else { throw AgentError.invalidOption(name: "retrieval-k", reason: "must be at least 1 (got \(retrievalK))") }
        do { try filter.validate() } catch { throw AgentError.invalidOption(name: "filter", reason: "\(error)") }
    }
}
