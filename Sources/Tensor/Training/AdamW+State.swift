// AdamW's resumable state (step count and both moment buffers), so a training checkpoint can restore
// the optimiser exactly and a resumed run ends with the same weights as an uninterrupted one.
// Shape legend: moments have the flat layout of `ParameterStore.values`.

/// A snapshot of `AdamW`'s state.
public struct AdamWState: Equatable, Sendable {
    /// Updates done so far (drives bias correction).
    public var stepCount: Int
    /// First moments, one per parameter value (empty before the first step).
    public var firstMoment: [Float]
    /// Second moments, same layout.
    public var secondMoment: [Float]

    /// A snapshot.
    public init(stepCount: Int, firstMoment: [Float], secondMoment: [Float]) {
        self.stepCount = stepCount
        self.firstMoment = firstMoment
        self.secondMoment = secondMoment
    }
}

extension AdamW {
    /// The current state (copy-on-write: no copy until one side changes).
    public var state: AdamWState {
        AdamWState(stepCount: stepCount, firstMoment: m, secondMoment: v)
    }

    /// Restores a state taken from an optimiser over a store of `state.firstMoment.count` values.
    /// - Precondition: both moment buffers have the same length.
    public func restore(_ state: AdamWState) {
        precondition(state.firstMoment.count == state.secondMoment.count, "AdamW state: moment buffers of different lengths")
        precondition(state.stepCount >= 0, "AdamW state: negative step count")
        stepCount = state.stepCount
        m = state.firstMoment
        v = state.secondMoment
    }
}
