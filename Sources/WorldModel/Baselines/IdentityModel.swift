// The identity baseline: the next state is the current one (DESIGN.md: a strong baseline on real pairs).
import Formats

/// Predicts "nothing changes": each target modality is copied from the input state when present;
/// a cross-modal target (absent from the input) gets the normalised average of the present input embeddings.
public struct IdentityModel: WorldModel, Sendable {
    /// The identity baseline (no parameters).
    public init() {}

    /// Copies (or, for cross-modal targets, averages) the input embeddings.
    /// - Throws: `WorldModelError.emptyState` when the input state has no modality.
    public func predict(_ input: PredictionInput) throws -> State {
        guard let average = input.state.averaged() else { throw WorldModelError.emptyState(targets: input.targets) }
        var out = State()
        for target in input.targets {
            out[target] = (input.state[target] ?? average).normalized()
        }
        return out
    }
}
