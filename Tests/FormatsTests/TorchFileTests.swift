// TorchFile: bit-identical round trips of the writer, an independent Python check of the written layout, and
// hand-assembled pickles for views, strides, offsets, protocol-4 opcodes, legacy streams and refusals.
@testable import Formats
import Foundation
import TestSupport
import XCTest

/// Emits pickle opcodes by hand (independent of `PickleWriter`).
struct PickleBytes {
    var bytes: [UInt8] = []
    mutating func op(_ b: UInt8...) { bytes += b }
    mutating func proto(_ v: UInt8) { op(0x80, v) }
    mutating func global(_ module: String, _ name: String) { op(0x63); bytes += Array("\(module)\n\(name)\n".utf8) }
    mutating func str(_ s: String) { op(0x58); bytes.appendLE(UInt32(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func shortStr(_ s: String) { op(0x8C, UInt8(s.utf8.count)); bytes += Array(s.utf8) }
    mutating func int(_ v: Int) { op(0x4A); bytes.appendLE(Int32(v)) }
    mutating func ints(_ v: [Int]) { op(0x28); for x in v { int(x) }; op(0x74) }
    mutating func mark() { op(0x28) }
    /// `_rebuild_tensor_v2(storage(key, type, numel), offset, size, stride, False, OrderedDict())`.
    mutating func tensor(storage: String, key: String, numel: Int, offset: Int, size: [Int], stride: [Int]) {
        global("torch._utils", "_rebuild_tensor_v2")
        mark()
        mark(); str("storage"); global("torch", storage); str(key); str("cpu"); int(numel); op(0x74); op(0x51)
        int(offset); ints(size); ints(stride); op(0x89)
        global("collections", "OrderedDict"); op(0x29, 0x52)
        op(0x74, 0x52)
    }
}

final class TorchFileTests: XCTestCase {
    var tmp: TemporaryDirectory!
    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp.remove() }

    /// A zip .pt with the given pickle and storage records under `prefix/`.
    func ptFile(_ pickle: PickleBytes, storages: [String: [UInt8]], prefix: String = "weird_Prefix-1", byteorder: String? = "little") throws -> URL {
        var zip = ZipWriter(path: "test", alignment: 64)
        try zip.add("\(prefix)/data.pkl", pickle.bytes + [0x2E])
        if let byteorder { try zip.add("\(prefix)/byteorder", Array(byteorder.utf8)) }
        for (key, bytes) in storages.sorted(by: { $0.key < $1.key }) { try zip.add("\(prefix)/data/\(key)", bytes) }
        try zip.add("\(prefix)/version", Array("3\n".utf8))
        let url = tmp.url.appendingPathComponent("\(UUID().uuidString).pt")
        try Data(zip.finish()).write(to: url)
        return url
    }

    func floatBytes(_ values: [Float]) -> [UInt8] { values.flatMap { v -> [UInt8] in var b = [UInt8](); b.appendLE(v.bitPattern); return b } }

    /// A value exercising every writer feature.
    func richValue() -> TorchValue {
        let tensors = sampleTensors(seed: 11)
        var rng = SeededGenerator(seed: 3)
        let big = TensorData(floats: (0..<300).map { _ in rng.nextGaussian() }, shape: [3, 100])
        return .stringDict([
            ("tensors", .list(tensors.map { .tensor($0.tensor) })),
            ("param", .tensor(big, isParameter: true, requiresGrad: true)),
            ("frozen", .tensor(tensors[0].tensor, isParameter: true, requiresGrad: false)),
            ("grad", .tensor(tensors[1].tensor, isParameter: false, requiresGrad: true)),
            ("scalars", .tuple([.none, .bool(true), .bool(false), .int(0), .int(-1), .int(255), .int(65536), .int(-2_147_483_649),
                                .int(Int.max), .int(Int.min), .float(-0.125), .float(1e300), .string("héllo ✓"), .string("")])),
            ("bytes", .bytes([0, 1, 127, 128, 255])),
            ("nested", .dict([(key: .int(3), value: .list([])), (key: .string("d"), value: .dict([])), (key: .bool(true), value: .tuple([]))])),
        ])
    }

    func testSaveThenLoadIsBitIdentical() throws {
        let value = richValue()
        let url = tmp.url.appendingPathComponent("my model.v2.pt")
        try TorchFile.save(value, to: url)
        XCTAssertEqual(try TorchFile.load(url), value)
        // torch's layout: one top folder named after the file (sanitised), data.pkl, byteorder, version, data/N.
        let zip = try ZipReader(data: Data(contentsOf: url), path: url.path)
        let names = zip.entries.map(\.name)
        XCTAssertEqual(names.first, "mymodelv2/data.pkl")
        XCTAssertTrue(names.contains("mymodelv2/byteorder"))
        XCTAssertTrue(names.contains("mymodelv2/version"))
        XCTAssertEqual(names.filter { $0.hasPrefix("mymodelv2/data/") }.count, 14)
        XCTAssertEqual(String(decoding: try zip.contents(zip.entry("mymodelv2/byteorder")!), as: UTF8.self), "little")
    }

    func testWrittenFileLoadsInPythonWithTorchLoadRestrictions() throws {
        // Cross-check with Python's own unpickler under weights_only-style restrictions (scripts/pt_reference_reader.py).
        let script = Fixtures.projectRoot.appendingPathComponent("scripts/pt_reference_reader.py")
        var rng = SeededGenerator(seed: 5)
        let floats = (0..<6).map { _ in rng.nextGaussian() }
        let tensors = DType.allCases.map { TensorData(converting: floats.map { $0 * 10 }, to: $0, shape: [2, 3]) }
        let value = TorchValue.stringDict([
            ("t", .list(tensors.map { .tensor($0) })),
            ("p", .tensor(TensorData(floats: [1.5], shape: []), isParameter: true, requiresGrad: true)),
            ("e", .tensor(TensorData(floats: [], shape: [0, 3]))),
            ("misc", .tuple([.int(-5), .int(1 << 40), .float(0.5), .string("x"), .none, .bool(true), .bytes([0, 200])])),
        ])
        let url = tmp.url.appendingPathComponent("cross.pt")
        try TorchFile.save(value, to: url)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, url.path]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        do { try process.run() } catch { throw Requirements.missing("python3 not available: run `make setup`") }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errText = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if errText.contains("No module named 'numpy'") || process.terminationStatus == 127 { throw Requirements.missing("python3 with numpy not available: run `make setup`") }
        XCTAssertEqual(process.terminationStatus, 0, errText)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let items = try XCTUnwrap(json["dict"] as? [[Any]])
        XCTAssertEqual(items.count, 4)
        let list = try XCTUnwrap((items[0][1] as? [String: Any])?["list"] as? [[String: Any]])
        for (t, described) in zip(tensors, list) {
            XCTAssertEqual(described["shape"] as? [Int], t.shape)
            // (Foundation's JSON number parsing can be off in the last bit: compare within 1e-15 relative.)
            let values = try XCTUnwrap(described["values"] as? [Double])
            XCTAssertEqual(values.count, t.count)
            for (a, b) in zip(values, t.doubleValues()) { XCTAssertEqual(a, b, accuracy: abs(b) * 1e-15, "\(t.dtype)") }
            XCTAssertEqual(described["parameter"] as? Bool, false)
        }
        let p = try XCTUnwrap(items[1][1] as? [String: Any])
        XCTAssertEqual(p["parameter"] as? Bool, true)
        XCTAssertEqual(p["requires_grad"] as? Bool, true)
        XCTAssertEqual(p["shape"] as? [Int], [])
        XCTAssertEqual(p["values"] as? [Double], [1.5])
        XCTAssertEqual((items[2][1] as? [String: Any])?["shape"] as? [Int], [0, 3])
        let misc = try XCTUnwrap((items[3][1] as? [String: Any])?["tuple"] as? [[String: Any]])
        XCTAssertEqual(misc[0]["int"] as? Int, -5)
        XCTAssertEqual(misc[1]["int"] as? Int, 1 << 40)
        XCTAssertEqual(misc[2]["float"] as? Double, 0.5)
        XCTAssertEqual(misc[3]["str"] as? String, "x")
        XCTAssertTrue(misc[4]["NoneType"] is NSNull)
        XCTAssertEqual(misc[5]["bool"] as? Bool, true)
        XCTAssertEqual(misc[6]["bytes"] as? [Int], [0, 200])
    }

    func testStridedViewsWithOffsetsMatchNaiveIndexing() throws {
        let storage = (0..<40).map { Float($0) * 0.5 - 3 }
        let cases: [(offset: Int, size: [Int], stride: [Int])] = [
            (5, [2, 3, 4], [12, 1, 3]),  // permuted 3-d view with an offset
            (1, [3, 2], [0, 1]),  // expand: stride 0
            (7, [4], [8]),  // column of a matrix
            (39, [], []),  // 0-d view at the last element
            (0, [0, 5], [5, 1]),  // empty
            (2, [1, 1, 3], [99, 7, 1]),  // unit dimensions with arbitrary strides
        ]
        var p = PickleBytes()
        p.proto(2)
        p.op(0x5D); p.mark()
        for c in cases { p.tensor(storage: "FloatStorage", key: "0", numel: 40, offset: c.offset, size: c.size, stride: c.stride) }
        p.op(0x65)
        let value = try TorchFile.load(ptFile(p, storages: ["0": floatBytes(storage)]))
        for (i, c) in cases.enumerated() {
            let t = try XCTUnwrap(value[i]?.tensorData)
            XCTAssertEqual(t.shape, c.size)
            // Naive oracle: walk every multi-index in row-major order.
            var expected: [Float] = []
            let count = c.size.reduce(1, *)
            for linear in 0..<count {
                var rest = linear, position = c.offset
                for d in stride(from: c.size.count - 1, through: 0, by: -1) {
                    position += (rest % c.size[d]) * c.stride[d]
                    rest /= c.size[d]
                }
                expected.append(storage[position])
            }
            XCTAssertEqual(t.floatValues(), expected, "case \(i)")
        }
    }

    func testViewsOutsideTheirStorageAreRefused() throws {
        for (offset, size, stride) in [(35, [10], [1]), (0, [2, 30], [30, 1]), (0, [2], [Int(Int32.max)]), (-1, [1], [1])] {
            var p = PickleBytes()
            p.proto(2)
            p.tensor(storage: "FloatStorage", key: "0", numel: 40, offset: offset, size: size, stride: stride)
            XCTAssertThrowsError(try TorchFile.load(ptFile(p, storages: ["0": floatBytes([Float](repeating: 1, count: 40))]))) { error in
                XCTAssertTrue("\(error)".contains("outside its storage") || "\(error)".contains("negative"), "\(error)")
            }
        }
        // Declared numel disagreeing with the record's size.
        var p = PickleBytes()
        p.proto(2)
        p.tensor(storage: "FloatStorage", key: "0", numel: 41, offset: 0, size: [41], stride: [1])
        XCTAssertThrowsError(try TorchFile.load(ptFile(p, storages: ["0": floatBytes([Float](repeating: 1, count: 40))])))
        // Missing record.
        XCTAssertThrowsError(try TorchFile.load(ptFile(p, storages: [:]))) { XCTAssertTrue("\($0)".contains("missing storage record"), "\($0)") }
    }

    func testProtocol4OpcodesAndBigEndianStorage() throws {
        var p = PickleBytes()
        p.proto(4)
        p.op(0x95); p.bytes.appendLE(UInt64(0))  // FRAME
        p.op(0x7D, 0x94)  // EMPTY_DICT, MEMOIZE
        p.shortStr("w"); p.op(0x94)
        p.shortStr("torch._utils"); p.shortStr("_rebuild_tensor_v2"); p.op(0x93, 0x94)  // STACK_GLOBAL
        p.mark(); p.mark(); p.shortStr("storage"); p.shortStr("torch"); p.shortStr("DoubleStorage"); p.op(0x93)
        p.shortStr("k"); p.shortStr("cpu"); p.op(0x4B, 2); p.op(0x74, 0x51)
        p.op(0x4B, 0); p.op(0x4B, 2, 0x85); p.op(0x4B, 1, 0x85); p.op(0x88)
        p.shortStr("collections"); p.shortStr("OrderedDict"); p.op(0x93, 0x29, 0x52)
        p.op(0x74, 0x52)
        p.op(0x73)  // SETITEM
        var big = [UInt8]()
        for v in [1.5, -2.25] { big += withUnsafeBytes(of: v.bitPattern.bigEndian) { Array($0) } }
        let value = try TorchFile.load(ptFile(p, storages: ["k": big], byteorder: "big"))
        guard case let .tensor(t, _, requiresGrad)? = value["w"] else { return XCTFail("\(value)") }
        XCTAssertTrue(requiresGrad)
        XCTAssertEqual(t.dtype, .float64)
        XCTAssertEqual(t.doubleValues(), [1.5, -2.25])
    }

    func testForbiddenGlobalsAreRefusedBeforeAnythingRuns() throws {
        for (module, name) in [("builtins", "eval"), ("os", "system"), ("torch", "load"), ("collections", "deque"), ("torch._utils", "_rebuild_qtensor")] {
            var p = PickleBytes()
            p.proto(4)
            p.shortStr(module); p.shortStr(name); p.op(0x93)
            p.shortStr("print(1)"); p.op(0x85, 0x52)
            let url = try ptFile(p, storages: [:])
            XCTAssertThrowsError(try TorchFile.load(url)) { error in
                XCTAssertEqual(error as? FormatError, .forbiddenGlobal(name: "\(module).\(name)", path: url.path))
            }
        }
    }

    func testHostilePicklesFailCleanly() throws {
        // A list that contains itself.
        var cyclic = PickleBytes()
        cyclic.proto(2); cyclic.op(0x5D, 0x71, 0, 0x68, 0, 0x61)
        XCTAssertThrowsError(try TorchFile.load(ptFile(cyclic, storages: [:]))) { XCTAssertTrue("\($0)".contains("deeper"), "\($0)") }
        // "Billion laughs": each level is a pair of the previous one; 2^40 values if expanded.
        var laughs = PickleBytes()
        laughs.proto(2); laughs.op(0x5D)
        for i in 0..<40 { laughs.op(0x71, UInt8(i), 0x68, UInt8(i), 0x86) }
        let start = Date()
        XCTAssertThrowsError(try TorchFile.load(ptFile(laughs, storages: [:]))) { XCTAssertTrue("\($0)".contains("values"), "\($0)") }
        XCTAssertLessThan(Date().timeIntervalSince(start), 20)
        // A stride-0 view claiming 2^40 elements of a one-element storage.
        var huge = PickleBytes()
        huge.proto(2)
        huge.tensor(storage: "FloatStorage", key: "0", numel: 1, offset: 0, size: [1 << 20, 1 << 20], stride: [0, 0])
        XCTAssertThrowsError(try TorchFile.load(ptFile(huge, storages: ["0": floatBytes([1])]))) { XCTAssertTrue("\($0)".contains("larger than"), "\($0)") }
        // One storage key used with two dtypes.
        var mixed = PickleBytes()
        mixed.proto(2); mixed.op(0x5D); mixed.mark()
        mixed.tensor(storage: "FloatStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1])
        mixed.tensor(storage: "IntStorage", key: "0", numel: 2, offset: 0, size: [2], stride: [1])
        mixed.op(0x65)
        XCTAssertThrowsError(try TorchFile.load(ptFile(mixed, storages: ["0": floatBytes([1, 2])])))
        // Storage keys cannot walk out of the data folder.
        var escape = PickleBytes()
        escape.proto(2)
        escape.tensor(storage: "FloatStorage", key: "../x", numel: 1, offset: 0, size: [1], stride: [1])
        XCTAssertThrowsError(try TorchFile.load(ptFile(escape, storages: [:]))) { XCTAssertTrue("\($0)".contains("invalid storage key"), "\($0)") }
    }

    /// A legacy (non-zip) stream: magic, protocol, sys_info, object pickle, key list, raw storages.
    func testHandBuiltLegacyStreamWithStorageView() throws {
        var s = PickleBytes()
        s.proto(2); s.op(0x8A, 10); s.bytes += TorchFile.legacyMagic; s.op(0x2E)
        s.proto(2); s.op(0x4D); s.bytes.appendLE(UInt16(1001)); s.op(0x2E)
        s.proto(2); s.op(0x7D); s.mark(); s.str("little_endian"); s.op(0x88); s.op(0x75, 0x2E)
        // {"v": view of root storage "r" (6 floats) starting at element 2 with 3 elements, as 1-d tensor [3]}
        s.proto(2); s.op(0x7D); s.mark(); s.str("v")
        s.global("torch._utils", "_rebuild_tensor_v2")
        s.mark()
        s.mark(); s.str("storage"); s.global("torch", "FloatStorage"); s.str("r"); s.str("cpu"); s.int(6)
        s.mark(); s.str("view1"); s.int(2); s.int(3); s.op(0x74)
        s.op(0x74, 0x51)
        s.int(1); s.ints([2]); s.ints([1]); s.op(0x89)
        s.global("collections", "OrderedDict"); s.op(0x29, 0x52)
        s.op(0x74, 0x52)
        s.op(0x75, 0x2E)
        s.proto(2); s.op(0x5D); s.mark(); s.str("r"); s.op(0x65, 0x2E)
        s.bytes.appendLE(Int64(6))
        s.bytes += floatBytes([10, 11, 12, 13, 14, 15])
        let url = tmp.url.appendingPathComponent("legacy.pt")
        try Data(s.bytes).write(to: url)
        let value = try TorchFile.load(url)
        // view starts at root element 2; the tensor starts 1 further: elements 13, 14.
        XCTAssertEqual(value["v"]?.tensorData?.floatValues(), [13, 14])
        // The same stream cut short fails cleanly.
        try Data(s.bytes.dropLast(5)).write(to: url)
        XCTAssertThrowsError(try TorchFile.load(url)) { XCTAssertTrue("\($0)".contains("beyond the end"), "\($0)") }
    }
}
