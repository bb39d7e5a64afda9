// ParameterStore save/load through safetensors: round trip, strictness, shape and value checks.
import Formats
import Tensor
import TestSupport
import XCTest

final class CheckpointTests: XCTestCase {
    private func model(seed: UInt64) -> ParameterStore {
        let store = ParameterStore(seed: seed)
        _ = Linear(store, "fc", inFeatures: 3, outFeatures: 2)
        _ = LayerNorm(store, "ln", dim: 2)
        return store
    }

    func testRoundTripRestoresEveryValue() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("m.safetensors")
        let a = model(seed: 1)
        try a.save(to: url, metadata: ["step": "7"])
        let b = model(seed: 2)
        XCTAssertNotEqual(a.values, b.values)
        XCTAssertEqual(try b.load(from: url).sorted(), ["fc.bias", "fc.weight", "ln.bias", "ln.weight"])
        XCTAssertEqual(a.values, b.values)
        // The file is plain safetensors: names and shapes readable by Formats (and by Python's safetensors).
        let entries = try SafeTensors.read(url)
        XCTAssertEqual(entries.first { $0.name == "fc.weight" }?.tensor.shape, [2, 3])
    }

    func testStrictLoadNamesMissingAndMismatchedTensors() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("bad.safetensors")
        try SafeTensors.write([("fc.weight", TensorData(floats: [Float](repeating: 0, count: 6), shape: [3, 2]))], to: url)
        let store = model(seed: 3)
        let before = store.values
        XCTAssertThrowsError(try store.load(from: url)) { error in
            XCTAssertTrue("\(error)".contains("fc.weight") && "\(error)".contains("bad.safetensors"), "\(error)")
        }
        XCTAssertEqual(store.values, before, "a failed load changes nothing")
        try SafeTensors.write([("fc.bias", TensorData(floats: [1, .nan], shape: [2]))], to: url)
        XCTAssertThrowsError(try store.load(from: url, strict: false)) { error in XCTAssertTrue("\(error)".contains("NaN")) }
        try SafeTensors.write([("fc.bias", TensorData(floats: [1, 2], shape: [2])), ("extra", TensorData(floats: [1], shape: [1]))], to: url)
        XCTAssertThrowsError(try store.load(from: url, strict: true))
        XCTAssertEqual(try store.load(from: url, strict: false), ["fc.bias"])
        XCTAssertEqual(store.value(store["fc.bias"]!).data, [1, 2])
        try Data([0, 1, 2]).write(to: url)
        XCTAssertThrowsError(try store.load(from: url)) { error in XCTAssertTrue("\(error)".contains("bad.safetensors")) }
    }
}
