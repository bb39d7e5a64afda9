// AdamW state snapshots: a fresh optimiser restored from a snapshot continues exactly like the original.
import Tensor
import XCTest

final class AdamWStateTests: XCTestCase {
    /// Gradient of ½‖w − target‖² plus a coupling term, so moments differ per element.
    private func setGradient(_ store: ParameterStore, step: Int) {
        for i in 0..<store.count {
            store.gradients[i] = store.values[i] - Float(i % 3) + 0.1 * Float(step) * store.values[(i + 1) % store.count]
        }
    }

    func testRestoredOptimiserContinuesIdentically() {
        let a = ParameterStore(seed: 1)
        a.add("w", shape: [3, 4], initializer: .normal(std: 1))
        a.add("b", shape: [4], initializer: .normal(std: 1))
        let optA = AdamW(learningRate: 0.05, weightDecay: 0.1)
        XCTAssertEqual(optA.state, AdamWState(stepCount: 0, firstMoment: [], secondMoment: []))
        for s in 0..<4 { setGradient(a, step: s); optA.step(a) }
        let snapshot = optA.state
        XCTAssertEqual(snapshot.stepCount, 4)
        XCTAssertEqual(snapshot.firstMoment.count, 16)
        // A copy of the store and a fresh optimiser restored from the snapshot.
        let b = ParameterStore(seed: 2)
        b.add("w", shape: [3, 4], initializer: .zeros)
        b.add("b", shape: [4], initializer: .zeros)
        b.values = a.values
        let optB = AdamW(learningRate: 0.05, weightDecay: 0.1)
        optB.restore(snapshot)
        for s in 4..<9 {
            setGradient(a, step: s); optA.step(a)
            setGradient(b, step: s); optB.step(b)
        }
        XCTAssertEqual(a.values, b.values)
        XCTAssertEqual(optB.state.stepCount, 9)
        // Without the restore the trajectory differs (moments and bias correction start over).
        let c = ParameterStore(seed: 3)
        c.add("w", shape: [3, 4], initializer: .zeros)
        c.add("b", shape: [4], initializer: .zeros)
        c.values = b.values
        let fresh = AdamW(learningRate: 0.05, weightDecay: 0.1)
        let restored = AdamW(learningRate: 0.05, weightDecay: 0.1)
        restored.restore(optB.state)
        let d = ParameterStore(seed: 4)
        d.add("w", shape: [3, 4], initializer: .zeros)
        d.add("b", shape: [4], initializer: .zeros)
        d.values = b.values
        setGradient(c, step: 9); fresh.step(c)
        setGradient(d, step: 9); restored.step(d)
        setGradient(b, step: 9); optB.step(b)
        XCTAssertEqual(d.values, b.values)
        XCTAssertNotEqual(c.values, b.values)
    }
}
