// Cognitive-augmented tuning support (added by the ContextReflector work): one forward/backward pass of a frozen
// NativeWorldModel that returns the gradient with respect to the reflector tokens of every input.
// Shape legend: B inputs, Q reflector tokens per input, R reflector width.
import Formats
import Tensor

/// The outcome of `NativeWorldModel.reflectorTuningPass`.
public struct ReflectorTuningPass: Sendable {
    /// Mean over inputs of the mean over their targets of `1 − cos(prediction, truth)`.
    public var loss: Float
    /// Mean over inputs of the mean over their targets of `cos(prediction, truth)`.
    public var cosine: Float
    /// Per input, dLoss/dTokens as a row-major Q×R buffer (empty for an input without reflector tokens).
    public var reflectorGradients: [[Float]]
}

extension NativeWorldModel {
    /// Runs the model on `inputs`, scores the predictions against `truth` with the cosine loss (the
    /// trainer's loss, averaged over inputs), and back-propagates.
    ///
    /// Parameter gradients are added into `store.gradients` (zero them before; freeze what must not
    /// move — e.g. everything but `reflector.` — in the optimiser); the returned per-input gradients
    /// with respect to the reflector tokens feed the reflector's own backward pass.
    /// - Throws: `WorldModelError` for inputs the model cannot take or a missing target in `truth`.
    public func reflectorTuningPass(_ inputs: [PredictionInput], truth: [State], backward: Bool = true) throws -> ReflectorTuningPass {
        precondition(inputs.count == truth.count, "reflectorTuningPass: \(inputs.count) inputs, \(truth.count) truths")
        var groups: [BatchLayout: [Int]] = [:]
        var order: [BatchLayout] = []
        for (i, input) in inputs.enumerated() {
            let layout = try BatchLayout(input, config: config, index: i)
            if groups[layout] == nil { order.append(layout) }
            groups[layout, default: []].append(i)
        }
        var gradients = [[Float]](repeating: [], count: inputs.count)
        var loss = 0.0, cosine = 0.0
        let total = Float(inputs.count)
        for layout in order {
            guard let members = groups[layout] else { continue }
            let batch = try makeBatch(members.map { inputs[$0] }, layout: layout, truth: members.map { truth[$0] })
            let predictions = forward(batch)
            var dPredictions: [Modality: Tensor] = [:]
            // Loss.cosine averages over the group's rows; weight it by the group's share of all inputs.
            let share = Float(members.count) / total / Float(layout.targets.count)
            for m in layout.targets {
                guard let prediction = predictions[m], let target = batch.truth[m] else { continue }
                let result = Loss.cosine(prediction: prediction, target: Tensor(shape: prediction.shape, data: target))
                loss += Double(result.value * share)
                cosine += Double((1 - result.value) * share)
                dPredictions[m] = result.gradient * share
            }
            guard backward else { continue }
            if let dTokens = self.backward(dPredictions) {
                let width = layout.reflectorCount * config.reflectorWidth
                for (k, index) in members.enumerated() { gradients[index] = Array(dTokens[(k * width)..<((k + 1) * width)]) }
            }
        }
        return ReflectorTuningPass(loss: Float(loss), cosine: Float(cosine), reflectorGradients: gradients)
    }
}
