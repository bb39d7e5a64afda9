// Tests of the shared vocabulary types (Modality, Embedding, State).
import Formats
import XCTest

final class VocabularyTests: XCTestCase {
    func testModalityRawValuesAreWorldNetKeys() {
        XCTAssertEqual(Modality.allCases.map(\.rawValue), ["image", "video", "audio", "text"])
        XCTAssertEqual([Modality.text, .image, .audio].sorted(), [.image, .audio, .text])
    }

    func testCosineAndNormalisationByHand() {
        let a = Embedding([3, 4]), b = Embedding([4, 3])
        XCTAssertEqual(a.norm, 5, accuracy: 1e-12)
        XCTAssertEqual(a.cosine(b), 24.0 / 25.0, accuracy: 1e-12)
        XCTAssertEqual(a.normalized().values, [0.6, 0.8])
        XCTAssertEqual(Embedding([0, 0]).cosine(a), 0)
        XCTAssertFalse(Embedding([1, .nan]).isFinite)
    }

    func testStateAverageIsMeanOfPresentModalities() {
        let state = State([.video: Embedding([1, 2]), .audio: Embedding([3, 6])])
        XCTAssertEqual(state.averaged()?.values, [2, 4])
        XCTAssertEqual(state.modalities, [.video, .audio])
        XCTAssertNil(State().averaged())
    }
}
