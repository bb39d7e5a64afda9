// Tests of the model's action key (its action projection outside the forward pass) and of reading training configs
// written before `contextProbability` existed.
import Foundation
import Tensor
import TestSupport
@testable import WorldModel
import XCTest

final class ActionKeyTests: XCTestCase {
    func testActionKeyIsTheActionProjectionAndRefusesBadInput() throws {
        let model = try NativeWorldModel(config: NativeModelConfig(
            embeddingDimension: 6, actionDimension: 5, width: 8, depth: 1, heads: 2, mlpRatio: 2, maxMemorySteps: 2, reflectorWidth: 4, seed: 7))
        let action: [Float] = [0.3, -1, 0.5, 2, 0.25]
        // Independent reference: W·a + b summed by hand from the stored weights.
        let w = model.store.value(model.actionProjection.weight).data, b = model.store.value(model.actionProjection.bias!).data
        let expected = (0..<8).map { o in (0..<5).reduce(b[o]) { $0 + w[o * 5 + $1] * action[$1] } }
        let key = try XCTUnwrap(model.actionKey(action))
        XCTAssertEqual(key.count, 8)
        for (k, e) in zip(key, expected) { XCTAssertEqual(k, e, accuracy: 1e-5) }
        for (k, f) in zip(key, model.actionProjection.forward(Tensor(shape: [1, 5], data: action)).data) { XCTAssertEqual(k, f, accuracy: 1e-5) }
        XCTAssertNil(model.actionKey([1, 2, 3]))
        XCTAssertNil(model.actionKey([0, 0, .nan, 0, 0]))
    }

    /// The key does not depend on OpenBLAS's thread count, and calls from two threads at once give the same bits
    /// (retrieval computes keys on two threads).
    func testActionKeyIsTheSameOnAnyThreadAndThreadCount() throws {
        let model = try NativeWorldModel(config: NativeModelConfig(
            embeddingDimension: 16, actionDimension: 384, width: 256, depth: 1, heads: 2, mlpRatio: 2, maxMemorySteps: 2, reflectorWidth: 4, seed: 9))
        var rng = SeededGenerator(seed: 3)
        let actions = (0..<8).map { _ in (0..<384).map { _ in rng.nextGaussian() } }
        let one = try BLAS.withThreadCount(1) { try actions.map { try XCTUnwrap(model.actionKey($0)) } }
        let two = try BLAS.withThreadCount(2) { try actions.map { try XCTUnwrap(model.actionKey($0)) } }
        XCTAssertEqual(one.map { $0.map(\.bitPattern) }, two.map { $0.map(\.bitPattern) })
        var concurrent = [[Float]](repeating: [], count: actions.count)
        concurrent.withUnsafeMutableBufferPointer { buffer in
            let out = buffer.baseAddress!
            Kernels.parallel(workers: actions.count) { out[$0] = model.actionKey(actions[$0]) ?? [] }
        }
        XCTAssertEqual(concurrent.map { $0.map(\.bitPattern) }, one.map { $0.map(\.bitPattern) })
    }

    func testTrainingConfigWithoutContextProbabilityReadsAsZero() throws {
        var config = TrainingConfig(stages: [TrainingStage(kind: .singleUnimodal, steps: 3)])
        config.contextProbability = 0.25
        let data = try JSONEncoder().encode(config)
        XCTAssertEqual(try JSONDecoder().decode(TrainingConfig.self, from: data), config)
        var object = try XCTUnwrap(JSONSerialization.jsonObject(with: data) as? [String: Any])
        XCTAssertNotNil(object.removeValue(forKey: "contextProbability"))
        let old = try JSONDecoder().decode(TrainingConfig.self, from: JSONSerialization.data(withJSONObject: object))
        XCTAssertEqual(old.contextProbability, 0)
        var bad = config
        bad.contextProbability = 1.5
        XCTAssertThrowsError(try bad.validate()) { XCTAssertTrue("\($0)".contains("training.context_probability"), "\($0)") }
    }
}
