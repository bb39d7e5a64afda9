// The hook through which `Trainer` trains the world model together with a context stage (the learned reflector over
// retrieved knowledge), so the model learns to read reflector tokens while it learns the world.
import Foundation
import Formats

/// Produces reflector tokens for training batches and learns from their gradients.
///
/// `Trainer` asks for tokens for the transitions of a batch (indices into `TrainingData.transitions`, queried under
/// the batch's task mode), runs the world model with them, hands back dLoss/dTokens, and then calls `step` with the
/// step's learning rate. Implementations live above WorldModel (ContextReflector's `ReflectorTrainingStage`).
public protocol TrainingContextStage: AnyObject {
    /// Reflector tokens for `transitions[indices[i]]` with its state0 masked to `mode`'s inputs; caches what
    /// `backward` needs.
    func tokens(for indices: [Int], mode: TaskMode) throws -> [ReflectorTokens]
    /// Accumulates the gradients of the last `tokens` call from dLoss/dTokens (row-major, B×Q×R).
    func backward(_ gradient: [Float]) throws
    /// One optimiser step at `learningRate`; clears the accumulated gradients.
    func step(learningRate: Float)
    /// Saves the stage's weights and optimiser state into a training checkpoint folder.
    func saveState(to folder: URL) throws
    /// Restores what `saveState` wrote.
    func restoreState(from folder: URL) throws
}
