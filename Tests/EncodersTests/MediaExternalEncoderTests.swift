// ExternalEncoder: request/response encoding, and a round trip through a local HTTP server on 127.0.0.1.
import Encoders
import Formats
import Foundation
import TestSupport
import XCTest

final class MediaExternalEncoderTests: XCTestCase {
    var folder: TemporaryDirectory!

    override func setUpWithError() throws { folder = try TemporaryDirectory(prefix: "media-external") }
    override func tearDown() { folder.remove() }

    private func file(_ name: String, _ bytes: [UInt8]) throws -> URL {
        let url = folder.url.appendingPathComponent(name)
        try Data(bytes).write(to: url)
        return url
    }

    func testRequestBodyCarriesNamesPathsAndBase64() throws {
        let a = try file("a.mp4", [0, 1, 2, 250]), b = try file("b.mp4", Array("hi".utf8))
        let encoder = ExternalEncoder(endpoint: URL(string: "http://127.0.0.1:9/embed")!)
        let body = try encoder.requestBody(files: [a, b], modality: .video)
        let object = try XCTUnwrap(JSONSerialization.jsonObject(with: body) as? [String: Any])
        XCTAssertEqual(object["modality"] as? String, "video")
        let inputs = try XCTUnwrap(object["inputs"] as? [[String: String]])
        XCTAssertEqual(inputs.count, 2)
        XCTAssertEqual(inputs[0]["name"], "a.mp4")
        XCTAssertEqual(inputs[0]["path"], a.path)
        XCTAssertEqual(inputs[0]["data"], "AAEC+g==")  // base64 of 00 01 02 FA
        XCTAssertEqual(inputs[1]["data"], "aGk=")
        let pathsOnly = ExternalEncoder(endpoint: encoder.endpoint, sendContents: false)
        let light = try XCTUnwrap(JSONSerialization.jsonObject(with: try pathsOnly.requestBody(files: [a], modality: .audio)) as? [String: Any])
        XCTAssertNil((light["inputs"] as? [[String: String]])?.first?["data"])
        XCTAssertThrowsError(try encoder.requestBody(files: [folder.url.appendingPathComponent("missing.wav")], modality: .audio)) {
            guard case .unreadableFile = $0 as? ExternalEncoderError else { return XCTFail("\($0)") }
        }
    }

    func testResponseDecoding() throws {
        let encoder = ExternalEncoder(endpoint: URL(string: "http://127.0.0.1:9/embed")!, expectedDimension: 3)
        XCTAssertEqual(try encoder.decodeResponse(Data(#"{"embeddings": [[1, 2.5, -3], [0, 0, 1e-3]]}"#.utf8), expectedCount: 2),
                       [[1, 2.5, -3], [0, 0, 0.001]])
        XCTAssertEqual(try encoder.decodeResponse(Data(#"{"data": [{"embedding": [4, 5, 6]}]}"#.utf8), expectedCount: 1), [[4, 5, 6]])
        let bad = [
            #"not json"#, #"[1, 2]"#, #"{"vectors": []}"#, #"{"embeddings": [[1, 2, 3]]}"#,  // wrong count for 2
            #"{"embeddings": [[1, 2, 3], [1, 2]]}"#, #"{"embeddings": [[1, 2, 3], [1, "x", 3]]}"#,
            #"{"embeddings": [[1, 2, 3], [true, 2, 3]]}"#, #"{"embeddings": [[1, 2, 3, 4], [1, 2, 3, 4]]}"#,
        ]
        for text in bad {
            XCTAssertThrowsError(try encoder.decodeResponse(Data(text.utf8), expectedCount: 2), text) {
                guard case .badResponse = $0 as? ExternalEncoderError else { return XCTFail("\(text): \($0)") }
            }
        }
    }

    func testRoundTripThroughLocalServer() throws {
        // The server answers each input with [byte count, first byte, modality length] after checking the base64.
        let server = try LocalHTTPServer { body in
            guard let object = try? JSONSerialization.jsonObject(with: body) as? [String: Any],
                  let modality = object["modality"] as? String, let inputs = object["inputs"] as? [[String: String]]
            else { return (400, Data(#"{"error": "bad request"}"#.utf8)) }
            if modality == "audio" { return (503, Data("model not loaded".utf8)) }
            let vectors = inputs.map { input -> [Double] in
                let bytes = Data(base64Encoded: input["data"] ?? "") ?? Data()
                return [Double(bytes.count), Double(bytes.first ?? 0), Double(modality.count)]
            }
            return (200, try! JSONSerialization.data(withJSONObject: ["embeddings": vectors]))
        }
        defer { server.stop() }
        let files = try (0..<5).map { try file("clip\($0).mp4", [UInt8](repeating: UInt8(10 + $0), count: 100 + $0)) }
        let encoder = ExternalEncoder(endpoint: server.url, timeout: 10, batchSize: 2)
        var reported: [Int] = []
        let vectors = try encoder.embed(files, modality: .video) { done, _ in reported.append(done) }
        XCTAssertEqual(vectors.map(\.values), (0..<5).map { [Float(100 + $0), Float(10 + $0), 5] })
        XCTAssertEqual(reported, [2, 4, 5])
        XCTAssertEqual(server.requestCount, 3, "5 files in batches of 2")
        XCTAssertThrowsError(try encoder.embed([files[0]], modality: .audio)) { error in
            XCTAssertEqual(error as? ExternalEncoderError, .httpStatus(endpoint: server.url.absoluteString, status: 503, body: "model not loaded"))
        }
    }

    func testConnectionRefusedIsATransportError() throws {
        // Bind a server, stop it: its port is now closed.
        let server = try LocalHTTPServer { _ in (200, Data()) }
        let url = server.url
        server.stop()
        let encoder = ExternalEncoder(endpoint: url, timeout: 5)
        XCTAssertThrowsError(try encoder.embed([try file("a.jpg", [1])], modality: .image)) { error in
            guard case .transport(let endpoint, _) = error as? ExternalEncoderError else { return XCTFail("\(error)") }
            XCTAssertEqual(endpoint, url.absoluteString)
        }
    }
}
