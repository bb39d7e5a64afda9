// Tests of the evaluator: cosine ×100 per mode and modality against a naive computation, and the CSV layout.
import Foundation
import Formats
import TestSupport
import XCTest

@testable import WorldModel

final class EvaluatorTests: XCTestCase {
    private func randomUnit(_ rng: inout SeededGenerator, _ d: Int) -> Embedding {
        Embedding((0..<d).map { _ in rng.nextGaussian() }).normalized()
    }

    func testEvaluatorMatchesNaiveCosineAndWritesOriginalCSVLayout() throws {
        var rng = SeededGenerator(seed: 3)
        var transitions: [Transition] = []
        for i in 0..<10 {
            var s0 = State([.image: randomUnit(&rng, 8), .video: randomUnit(&rng, 8)])
            if i % 2 == 0 { s0[.audio] = randomUnit(&rng, 8) }
            let s1 = State([.image: randomUnit(&rng, 8), .video: randomUnit(&rng, 8), .audio: randomUnit(&rng, 8)])
            transitions.append(Transition(state0: s0, action: Action(text: "a"), state1: s1, provenance: Provenance(dataset: "t", sampleID: "\(i)")))
        }
        let modes = [
            TaskMode(inputs: [.image], targets: [.image]),
            TaskMode(inputs: [.audio], targets: [.audio]),
            TaskMode(inputs: [.image, .video], targets: [.audio]),
        ]
        let report = try Evaluator(modes: modes, batchSize: 3).evaluate(IdentityModel(), on: transitions)
        XCTAssertEqual(report.modalities, [.image, .audio])
        // Naive: identity image→image is cos(s0.image, s1.image); audio→audio only on the 5 samples with audio;
        // (image, video)→audio compares normalize(avg(image, video)) with s1.audio.
        let imageImage = transitions.map { $0.state0[.image]!.cosine($0.state1[.image]!) }.reduce(0, +) / 10 * 100
        let withAudio = transitions.filter { $0.state0[.audio] != nil }
        let audioAudio = withAudio.map { $0.state0[.audio]!.cosine($0.state1[.audio]!) }.reduce(0, +) / 5 * 100
        let cross = transitions.map { t -> Double in
            let avg = Embedding(zip(t.state0[.image]!.values, t.state0[.video]!.values).map { ($0 + $1) / 2 })
            return avg.cosine(t.state1[.audio]!)
        }.reduce(0, +) / 10 * 100
        XCTAssertEqual(report.scores[0][0]!, imageImage, accuracy: 1e-4)
        XCTAssertNil(report.scores[0][1])
        XCTAssertEqual(report.scores[1][1]!, audioAudio, accuracy: 1e-4)
        XCTAssertEqual(report.counts[1][1], 5)
        XCTAssertEqual(report.scores[2][1]!, cross, accuracy: 1e-4)
        XCTAssertEqual(report.modalityMeans[.audio]!, (audioAudio + cross) / 2, accuracy: 1e-4)

        let lines = report.csv().split(separator: "\n").map(String.init)
        XCTAssertEqual(lines[0], ",image,audio")
        XCTAssertEqual(lines[1], "\"(image) - (image)\"," + String(format: "%.4f", report.scores[0][0]!) + ",")
        XCTAssertTrue(lines[3].hasPrefix("\"(image, video) - (audio)\",,"))
        XCTAssertTrue(report.table().contains("mean over modes"))
    }

    func testEvaluatorFailsWhenNoSampleFitsAnyMode() {
        let t = Transition(
            state0: State([.image: Embedding([1, 0])]), action: Action(text: "a"), state1: State([.image: Embedding([0, 1])]),
            provenance: Provenance(dataset: "t", sampleID: "0"))
        XCTAssertThrowsError(try Evaluator(modes: [TaskMode(inputs: [.video], targets: [.video])]).evaluate(IdentityModel(), on: [t])) { error in
            XCTAssertTrue("\(error)".contains("modality_modes"))
        }
    }

    func testTaskModeKindsFollowProgressiveStages() {
        XCTAssertEqual(TaskMode(inputs: [.image], targets: [.image]).kind, .singleUnimodal)
        XCTAssertEqual(TaskMode(inputs: [.image], targets: [.video]).kind, .singleCross)
        XCTAssertEqual(TaskMode(inputs: [.image, .video], targets: [.image, .video]).kind, .multiUnimodal)
        XCTAssertEqual(TaskMode(inputs: [.image, .audio], targets: [.video]).kind, .multiCross)
        XCTAssertEqual(TaskMode(inputs: [.image, .audio], targets: [.video]).name, "(image, audio) - (video)")
    }
}
