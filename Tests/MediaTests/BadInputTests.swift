// Missing, empty, non-media, truncated and corrupt files: each reader throws a MediaError naming the file.
import Foundation
import Media
import TestSupport
import XCTest

final class BadInputTests: XCTestCase {
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "media-bad") }
    override func tearDown() { folder.remove() }

    private func write(_ bytes: [UInt8], _ name: String) throws -> URL {
        let url = folder.url.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    /// Runs every reader on `url` and checks each throws a MediaError for that file.
    private func assertAllReadersFail(_ url: URL, file: StaticString = #filePath, line: UInt = #line,
                                      check: (MediaError) -> Void = { _ in }) {
        let attempts: [(String, () throws -> Any)] = [
            ("probe", { try MediaProbe.probe(url) }),
            ("video", { try VideoReader(url: url).sampleFrames(count: 2) }),
            ("audio", { try AudioReader.read(url, sampleRate: 16_000, mono: true) }),
            ("image", { try ImageReader.read(url) }),
        ]
        for (name, attempt) in attempts {
            XCTAssertThrowsError(try attempt(), name, file: file, line: line) { error in
                guard let media = error as? MediaError else { return XCTFail("\(name): not a MediaError: \(error)", file: file, line: line) }
                XCTAssertEqual(media.path, url.path, name, file: file, line: line)
                XCTAssertTrue(media.description.hasPrefix(url.path), "\(name): \(media)", file: file, line: line)
                check(media)
            }
        }
    }

    func testMissingFile() {
        let url = folder.url.appendingPathComponent("nothing-here.mp4")
        assertAllReadersFail(url) { XCTAssertEqual($0, .fileNotFound(path: url.path)) }
        assertAllReadersFail(folder.url) { XCTAssertEqual($0, .fileNotFound(path: self.folder.url.path)) }
    }

    func testZeroByteFiles() throws {
        for name in ["empty.mp4", "empty.wav", "empty.jpg", "empty.bin"] {
            let url = try write([], name)
            assertAllReadersFail(url) { XCTAssertEqual($0, .emptyFile(path: url.path)) }
        }
    }

    func testNonMediaFiles() throws {
        let text = Array("This is a plain text file, not a video. It has no streams at all.\n".utf8)
        for name in ["notes.mp4", "notes.wav", "notes.jpg", "notes.txt"] {
            let url = try write(text, name)
            assertAllReadersFail(url) { error in
                // FFmpeg's own message travels with the error.
                if case .cannotOpen(_, let code, let message) = error {
                    XCTAssertLessThan(code, 0)
                    XCTAssertFalse(message.isEmpty)
                }
            }
        }
    }

    func testTruncatedFiles() throws {
        let mp4 = try Data(contentsOf: Fixtures.url("worldgpt-demo/languagebind/aircraft/video/state1.mp4"))
        for cut in [16, 1000, mp4.count / 2] {
            let url = try write(Array(mp4.prefix(cut)), "cut\(cut).mp4")
            XCTAssertThrowsError(try VideoReader(url: url).sampleFrames(count: 8)) { error in
                XCTAssertEqual((error as? MediaError)?.path, url.path, "\(error)")
            }
        }
        // A WAV header with no samples, and a JPEG cut after its header.
        let wavURL = folder.url.appendingPathComponent("tone.wav")
        try AudioWriter.writeWAV(samples: [0.1, 0.2, 0.3, 0.4], sampleRate: 8000, to: wavURL)
        let headerOnly = try write(Array(try Data(contentsOf: wavURL).prefix(44)), "header-only.wav")
        XCTAssertThrowsError(try AudioReader.read(headerOnly)) { XCTAssertEqual(($0 as? MediaError)?.path, headerOnly.path) }
        let jpeg = try Data(contentsOf: Fixtures.url("worldgpt-demo/decode/tornado.jpg"))
        let cutJPEG = try write(Array(jpeg.prefix(300)), "cut.jpg")
        XCTAssertThrowsError(try ImageReader.read(cutJPEG)) { XCTAssertEqual(($0 as? MediaError)?.path, cutJPEG.path) }
    }

    func testBadArguments() throws {
        let clip = Fixtures.url("worldgpt-demo/languagebind/aircraft/video/state1.mp4")
        let reader = try VideoReader(url: clip)
        XCTAssertThrowsError(try reader.sampleFrames(count: 0))
        XCTAssertThrowsError(try reader.sampleFrames(count: 2, size: FrameSize(width: 0, height: 10)))
        XCTAssertThrowsError(try reader.seek(to: -1))
        XCTAssertThrowsError(try reader.seek(to: .nan))
        XCTAssertThrowsError(try AudioReader.read(Fixtures.url("worldgpt-demo/languagebind/skiing/audio/state0.wav"), sampleRate: 0))
    }
}
