// A task mode of WorldNet's `modality_modes`: which modalities go in, which come out, and its kind.
import Formats

/// One `modality_modes` entry: input modalities, target modalities and a sampling weight.
public struct TaskMode: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// The input modalities (in the order the config lists them).
    public var inputs: [Modality]
    /// The target modalities (in the order the config lists them).
    public var targets: [Modality]
    /// The sampling weight during training.
    public var weight: Double

    /// A task mode.
    public init(inputs: [Modality], targets: [Modality], weight: Double = 1) {
        self.inputs = inputs
        self.targets = targets
        self.weight = weight
    }

    /// The original's `serialize_task` name, e.g. `(image, audio) - (video)`.
    public var name: String {
        "(" + inputs.map(\.rawValue).joined(separator: ", ") + ") - (" + targets.map(\.rawValue).joined(separator: ", ") + ")"
    }

    public var description: String { name }

    /// The progressive-training stage this mode belongs to.
    public var kind: Kind {
        let single = inputs.count == 1 && targets.count == 1
        let unimodal = Set(inputs) == Set(targets)
        switch (single, unimodal) {
        case (true, true): return .singleUnimodal
        case (true, false): return .singleCross
        case (false, true): return .multiUnimodal
        case (false, false): return .multiCross
        }
    }

    /// The four kinds of task, in the order progressive training visits them.
    public enum Kind: String, CaseIterable, Sendable, Comparable {
        /// One input modality predicting itself, e.g. `(image) - (image)`.
        case singleUnimodal = "single-unimodal"
        /// One input modality predicting another, e.g. `(image) - (video)`.
        case singleCross = "single-cross"
        /// Several modalities predicting themselves, e.g. `(image, video) - (image, video)`.
        case multiUnimodal = "multi-unimodal"
        /// Several modalities with targets differing from inputs, e.g. `(image, audio) - (video)`.
        case multiCross = "multi-cross"

        public static func < (lhs: Kind, rhs: Kind) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    /// True when `transition` has every input modality in state0 and every target in state1.
    public func applies(to transition: Transition) -> Bool {
        inputs.allSatisfy { transition.state0[$0] != nil } && targets.allSatisfy { transition.state1[$0] != nil }
    }

    /// `state` restricted to this mode's input modalities.
    public func mask(_ state: State) -> State {
        State(state.embeddings.filter { inputs.contains($0.key) })
    }
}
