// Inputs kept in Fuzz/regressions/ (the libFuzzer targets' crashers and the ones found while writing them),
// replayed through the same API without libFuzzer, so `make test` catches a regression.
import Foundation
import TestSupport
import WorldModel
import XCTest

final class WorldModelFuzzRegressionTests: XCTestCase {
    /// Stages of Int.max and 1 steps: each was positive, so the config validated and `totalSteps` overflowed (a trap).
    func testTrainingStagesWhoseTotalOverflowsAreRejected() throws {
        let url = Fixtures.projectRoot.appendingPathComponent("Fuzz/regressions/training-yaml/stages-total-overflow.yaml")
        let file = try TrainingFile.parse(String(contentsOf: url, encoding: .utf8), source: url.path, baseDirectory: url.deletingLastPathComponent())
        XCTAssertThrowsError(try file.training.validate()) { error in
            guard case WorldModelError.invalidConfig(let field, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(field, "training.stages[1].steps")
        }
    }
}
