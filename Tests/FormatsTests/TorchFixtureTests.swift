// Every case of ../shared/fixtures/torch/cases.json (written by PyTorch), the WorldGPT demo embeddings and the
// reflector checkpoint, loaded by the safe reader and compared with the values PyTorch recorded.
import Formats
import Foundation
import TestSupport
import XCTest

final class TorchFixtureTests: XCTestCase {
    /// cases.json parsed with Foundation (independent of the library's JSON reader).
    func loadCases() throws -> [String: [String: Any]] {
        let data = try Data(contentsOf: Fixtures.url("torch/cases.json"))
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        return try XCTUnwrap(root["cases"] as? [String: [String: Any]])
    }

    func assertClose(_ actual: Double, _ expected: Double, _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        let tolerance = max(1e-6 * abs(expected), 1e-9)
        XCTAssertEqual(actual, expected, accuracy: tolerance, what, file: file, line: line)
    }

    /// Compares a loaded value with the recursive `structure` record of cases.json.
    func check(_ value: TorchValue, against expected: [String: Any], at path: String) throws {
        let type = try XCTUnwrap(expected["type"] as? String, path)
        switch type {
        case "dict", "OrderedDict":
            guard case let .dict(items) = value else { return XCTFail("\(path): expected \(type), got \(value)") }
            let keys = try XCTUnwrap(expected["keys"] as? [String])
            XCTAssertEqual(items.map { $0.key.stringValue ?? "?" }, keys, path)
            let children = try XCTUnwrap(expected["items"] as? [String: [String: Any]])
            for item in items {
                let key = try XCTUnwrap(item.key.stringValue)
                try check(item.value, against: try XCTUnwrap(children[key]), at: "\(path).\(key)")
            }
        case "list", "tuple":
            let items: [TorchValue]
            switch (type, value) {
            case let ("list", .list(v)), let ("tuple", .tuple(v)): items = v
            default: return XCTFail("\(path): expected \(type), got \(value)")
            }
            XCTAssertEqual(items.count, expected["len"] as? Int, path)
            let children = try XCTUnwrap(expected["items"] as? [[String: Any]])
            for (i, (v, e)) in zip(items, children).enumerated() { try check(v, against: e, at: "\(path)[\(i)]") }
        case "Tensor", "Parameter":
            guard case let .tensor(t, isParameter, requiresGrad) = value else { return XCTFail("\(path): expected a tensor, got \(value)") }
            XCTAssertEqual(isParameter, type == "Parameter", path)
            if let grad = expected["requires_grad"] as? Bool { XCTAssertEqual(requiresGrad, grad, path) }
            XCTAssertEqual(t.dtype.rawValue, expected["dtype"] as? String, path)
            XCTAssertEqual(t.shape, expected["shape"] as? [Int], path)
            let head = try XCTUnwrap(expected["first_values"] as? [Double])
            let values = t.doubleValues()
            XCTAssertEqual(Array(values.prefix(8)).count, head.count, path)
            for (i, (a, e)) in zip(values, head).enumerated() { assertClose(a, e, "\(path) element \(i)") }
            assertClose(t.sum(), try XCTUnwrap(expected["sum_float64"] as? Double), "\(path) sum")
        case "str": XCTAssertEqual(value, .string(try XCTUnwrap(expected["value"] as? String)), path)
        case "int": XCTAssertEqual(value, .int(try XCTUnwrap(expected["value"] as? Int)), path)
        case "float": XCTAssertEqual(value, .float(try XCTUnwrap(expected["value"] as? Double)), path)
        case "bool": XCTAssertEqual(value, .bool(try XCTUnwrap(expected["value"] as? Bool)), path)
        case "None": XCTAssertEqual(value, TorchValue.none, path)
        default: XCTFail("\(path): unknown expected type \(type)")
        }
    }

    func testEveryCaseOfCasesJSON() throws {
        let cases = try loadCases()
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        var checked = 0
        for (name, info) in cases.sorted(by: { $0.key < $1.key }) {
            let url = Fixtures.url("torch/\(name)")
            switch info["expected"] as? String {
            case "ok":
                let value = try TorchFile.load(url)
                try check(value, against: try XCTUnwrap(info["structure"] as? [String: Any]), at: name)
            case "refuse":
                let marker = info["marker_file"] as? String ?? "/tmp/WORLDGPT_FIXTURE_PWNED"
                XCTAssertThrowsError(try TorchFile.load(url)) { error in
                    guard case let FormatError.forbiddenGlobal(global, path) = error else { return XCTFail("\(name): \(error)") }
                    XCTAssertEqual(global, "posix.system")
                    XCTAssertTrue(path.hasSuffix(name))
                    XCTAssertEqual("\(error)", "forbidden global 'posix.system' in \(url.path)")
                }
                XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "the malicious pickle ran")
            case "error":
                XCTAssertThrowsError(try TorchFile.load(url)) { error in
                    XCTAssertTrue(error is FormatError, "\(name): \(error)")
                    XCTAssertTrue("\(error)".contains(name), "\(error)")
                }
            default: XCTFail("\(name): unknown expectation")
            }
            checked += 1
        }
        XCTAssertEqual(checked, cases.count)
    }

    func testViewsSharingOneStorage() throws {
        // nested.pt: inner.shared = [t, t[1:4]] with one storage saved once; the view starts at element 1.
        let value = try TorchFile.load(Fixtures.url("torch/nested.pt"))
        let shared = try XCTUnwrap(value["inner"]?["shared"])
        let whole = try XCTUnwrap(shared[0]?.tensorData).floatValues()
        let view = try XCTUnwrap(shared[1]?.tensorData).floatValues()
        XCTAssertEqual(Array(whole[1..<4]), view)
    }

    static let demoCosines: [(sample: String, modality: String, cosine: Double)] = [
        ("skiing", "video", 0.853285279), ("skiing", "audio", 0.754890251),
        ("aircraft", "video", 0.806940012), ("aircraft", "audio", 0.829254093),
    ]

    func testWorldGPTDemoEmbeddingsMatchTheREADME() throws {
        var vectors: [String: Embedding] = [:]
        for sample in ["skiing", "aircraft"] {
            for modality in ["video", "audio"] {
                for state in ["state0", "state1"] {
                    let t = try XCTUnwrap(try TorchFile.load(Fixtures.url("worldgpt-demo/languagebind/\(sample)/\(modality)/\(state).pt")).tensorData)
                    XCTAssertEqual(t.shape, [768])
                    XCTAssertEqual(t.dtype, .float32)
                    let e = Embedding(t.floatValues())
                    XCTAssertEqual(e.norm, 1, accuracy: 1e-6)
                    vectors["\(sample)/\(modality)/\(state)"] = e
                }
            }
        }
        // README prints 7 significant digits.
        for (a, e) in zip(vectors["skiing/video/state0"]!.values.prefix(4), [-0.01439492, 0.02512919, -0.05725854, -0.00297365]) {
            XCTAssertEqual(Double(a), e, accuracy: 5e-9)
        }
        for (sample, modality, cosine) in Self.demoCosines {
            let a = vectors["\(sample)/\(modality)/state0"]!, b = vectors["\(sample)/\(modality)/state1"]!
            XCTAssertEqual(a.cosine(b), cosine, accuracy: 1e-8, "\(sample) \(modality)")
        }
        XCTAssertEqual(vectors["skiing/video/state0"]!.cosine(vectors["skiing/audio/state0"]!), 0.178744108, accuracy: 1e-8)
        XCTAssertEqual(vectors["aircraft/video/state1"]!.cosine(vectors["aircraft/audio/state1"]!), 0.114454973, accuracy: 1e-8)
    }

    func testReflectorCheckpointLoadsAsFloat16Parameters() throws {
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("reflector/reflector.json"))) as? [String: Any])
        let checkpoint = try XCTUnwrap(info["checkpoint"] as? [String: Any])
        let parameters = try XCTUnwrap(checkpoint["parameters"] as? [[String: Any]])
        let value = try TorchFile.load(Fixtures.url("reflector/reflector.pt"))
        guard case let .dict(items) = value else { return XCTFail("not a dict") }
        XCTAssertEqual(items.count, checkpoint["num_tensors"] as? Int)
        XCTAssertEqual(value.stringKeys, parameters.map { $0["name"] as? String ?? "" })
        var elements = 0
        for (item, expected) in zip(items, parameters) {
            guard case let .tensor(t, isParameter, requiresGrad) = item.value else { return XCTFail("\(item.key) is not a tensor") }
            XCTAssertTrue(isParameter)
            XCTAssertTrue(requiresGrad)
            XCTAssertEqual(t.dtype, .float16)
            XCTAssertEqual(t.shape, expected["shape"] as? [Int])
            XCTAssertTrue(t.floatValues().allSatisfy { $0.isFinite })
            elements += t.count
        }
        XCTAssertEqual(elements, checkpoint["num_elements"] as? Int)
    }

    func testReflectorIOTorchAndNumpyCopiesAgree() throws {
        // The same tensors saved by torch.save (.pt) and numpy.savez (.npz): two independent readers must agree.
        let pt = try TorchFile.load(Fixtures.url("reflector/reflector_io.pt"))
        let npz = try NPZ.read(Fixtures.url("reflector/reflector_io.npz"))
        XCTAssertGreaterThan(npz.count, 5)
        XCTAssertEqual(Set(pt.stringKeys ?? []), Set(npz.map(\.name)))
        for (name, array) in npz {
            let tensor = try XCTUnwrap(pt[name]?.tensorData, name)
            XCTAssertEqual(tensor, array, name)
        }
    }
}
