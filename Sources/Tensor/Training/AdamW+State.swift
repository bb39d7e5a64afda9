// AdamW's resumable state (step count and both moment buffers), so a training checkpoint can restore
// the optimiser exactly and a resumed run ends with the same weights as an uninterrupted one.
// Shape legend: moments have the flat layout of `ParameterStore.values`.
import Formats
import Foundation

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

extension AdamWState {
    /// Writes the state for a store of `count` values as safetensors `adamw.m` and `adamw.v` (zeros before the
    /// first step) with the step count as `adamw.step` metadata, beside any other `metadata`.
    public func write(to url: URL, parameterCount count: Int, metadata: [String: String] = [:]) throws {
        let m = firstMoment.isEmpty ? [Float](repeating: 0, count: count) : firstMoment
        let v = secondMoment.isEmpty ? [Float](repeating: 0, count: count) : secondMoment
        try SafeTensors.write(
            [("adamw.m", TensorData(floats: m, shape: [count])), ("adamw.v", TensorData(floats: v, shape: [count]))],
            metadata: metadata.merging(["adamw.step": String(stepCount)]) { _, step in step }, to: url)
    }

    /// Reads what `write` wrote for a store of `count` values; nil when `adamw.m`, `adamw.v` or `adamw.step` is
    /// missing or mis-sized (the caller names the file in its own error).
    /// - Throws: `FormatError` when the file is not readable safetensors.
    public static func read(from url: URL, parameterCount count: Int) throws -> AdamWState? {
        let (tensors, metadata) = try SafeTensors.readWithMetadata(url)
        let byName = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        guard let m = byName["adamw.m"]?.floatValues(), let v = byName["adamw.v"]?.floatValues(), m.count == count, v.count == count,
            let stepText = metadata["adamw.step"], let step = Int(stepText), step >= 0
        else { return nil }
        return AdamWState(stepCount: step, firstMoment: step == 0 ? [] : m, secondMoment: step == 0 ? [] : v)
    }
}
