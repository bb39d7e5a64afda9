// End-to-end tests of `worldgpt media probe` and `worldgpt encode`.
import Formats
import Foundation
import TestSupport
import XCTest

final class MediaCLITests: XCTestCase {
    let clip = Fixtures.url("worldgpt-demo/languagebind/skiing/video/state0.mp4").path
    let wav = Fixtures.url("worldgpt-demo/languagebind/aircraft/audio/state0.wav").path

    func testProbePrintsStreamsAsTextAndJSON() throws {
        let text = try runWorldGPT(["media", "probe", clip])
        XCTAssertEqual(text.status, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("stream 0: video h264, 1920×1080 yuv420p, 29.97 fps, 90 frames, 3.003 s"), text.stdout)
        let json = try runWorldGPT(["media", "probe", "--json", wav])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        let stream = try XCTUnwrap((object["streams"] as? [[String: Any]])?.first)
        XCTAssertEqual(stream["sampleRate"] as? Int, 44100)
        XCTAssertEqual(stream["channelCount"] as? Int, 2)
        let bad = try runWorldGPT(["media", "probe", "/nonexistent/file.mp4"])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("/nonexistent/file.mp4: no such file"), bad.stderr)
    }

    func testEncodeWritesUnitRowsToNPY() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.url.appendingPathComponent("e.npy")
        let result = try runWorldGPT(["encode", clip, wav, "--out", out.path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let tensor = try NPY.read(out)
        XCTAssertEqual(tensor.shape, [2, 768])
        let values = tensor.floatValues()
        for row in 0..<2 {
            let norm = values[(row * 768)..<((row + 1) * 768)].reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            XCTAssertEqual(norm, 1, accuracy: 1e-5)
        }
        let json = try runWorldGPT(["encode", "--modality", "audio", "--dim", "16", wav])
        XCTAssertEqual(json.status, 0, json.stderr)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(object["dim"] as? Int, 16)
        XCTAssertEqual(object["modalities"] as? [String], ["audio"])
        let wrong = try runWorldGPT(["encode", "--modality", "text", wav])
        XCTAssertNotEqual(wrong.status, 0)
    }
}
