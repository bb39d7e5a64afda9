// safetensors, .npy and .npz: files written by the reference tools read correctly, hand-built edge cases,
// and bit-identical round trips of what our writers write.
@testable import Formats
import Foundation
import Encoders
import TestSupport
import XCTest
import ZIPFoundation  // zlib-backed deflate and CRC-32, the oracles for our decoder and checksum

/// One small tensor of every dtype, with deterministic contents.
func sampleTensors(seed: UInt64 = 7) -> [(name: String, tensor: TensorData)] {
    var rng = SeededGenerator(seed: seed)
    func randomBytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) } }
    var out: [(name: String, tensor: TensorData)] = []
    for (i, dtype) in DType.allCases.enumerated() {
        let shape = [[2, 3], [5], [], [0, 4], [1, 2, 3]][i % 5]
        var bytes = randomBytes(TensorData.elementCount(shape) * dtype.size)
        if dtype == .bool { bytes = bytes.map { $0 & 1 } }
        out.append(("t\(i).\(dtype.rawValue)", TensorData(dtype: dtype, shape: shape, bytes: bytes)))
    }
    out.append(("gaussian", TensorData(floats: (0..<24).map { _ in rng.nextGaussian() }, shape: [2, 3, 4])))
    return out
}

final class TensorFileTests: XCTestCase {
    var tmp: TemporaryDirectory!
    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp.remove() }

    func testHalfAndBFloat16ConversionsByHand() {
        XCTAssertEqual(HalfFloat.toFloat(0x3C00), 1)
        XCTAssertEqual(HalfFloat.toFloat(0xC000), -2)
        XCTAssertEqual(HalfFloat.toFloat(0x7BFF), 65504)
        XCTAssertEqual(HalfFloat.toFloat(0x0001), Float(sign: .plus, exponent: -24, significand: 1))
        XCTAssertEqual(HalfFloat.toFloat(0x7C00), .infinity)
        XCTAssertTrue(HalfFloat.toFloat(0x7E00).isNaN)
        XCTAssertEqual(HalfFloat.fromFloat(1), 0x3C00)
        XCTAssertEqual(HalfFloat.fromFloat(-0.5), 0xB800)
        XCTAssertEqual(HalfFloat.fromFloat(1e6), 0x7C00)
        // 1 + 2^-11 is halfway between 1 and the next half; ties go to even (1.0).
        XCTAssertEqual(HalfFloat.fromFloat(1 + Float(sign: .plus, exponent: -11, significand: 1)), 0x3C00)
        // Every half value survives Float and back.
        for bits in UInt16(0)...UInt16.max where (bits & 0x7C00) != 0x7C00 {
            XCTAssertEqual(HalfFloat.fromFloat(HalfFloat.toFloat(bits)), bits)
        }
        XCTAssertEqual(HalfFloat.bfloat16FromFloat(1), 0x3F80)
        XCTAssertEqual(HalfFloat.bfloat16FromFloat(Float(bitPattern: 0x3F80_8000)), 0x3F80)  // tie → even
        XCTAssertEqual(HalfFloat.bfloat16FromFloat(Float(bitPattern: 0x3F81_8000)), 0x3F82)
        let t = TensorData(converting: [1.5, -2, 3.7, 300], to: .int8, shape: [4])
        XCTAssertEqual(t.int64Values(), [1, -2, 3, 127])
        XCTAssertEqual(TensorData(converting: [0.1, -3], to: .bfloat16, shape: [2]).floatValues(), [0.10009765625, -3])
    }

    func testSafeTensorsWrittenByHuggingFaceReads() throws {
        // MiniLM's model.safetensors (written by the reference implementation), when set-up installed it.
        let url = MiniLMEncoder.defaultDirectory.appendingPathComponent("model.safetensors")
        try Requirements.require(FileManager.default.fileExists(atPath: url.path), "MiniLM weights not installed in \(url.path): run `make setup`")
        let (tensors, metadata) = try SafeTensors.readWithMetadata(url)
        XCTAssertEqual(tensors.count, 104)
        XCTAssertEqual(metadata, ["format": "pt"])
        let norm = try XCTUnwrap(tensors.first { $0.name == "embeddings.LayerNorm.weight" }?.tensor)
        XCTAssertEqual(norm.shape, [384])
        XCTAssertEqual(norm.sum(), 236.85435231029987, accuracy: 1e-9)  // numpy float64 sum
        XCTAssertEqual(norm.floatValues()[0], 0.59892833, accuracy: 1e-7)
    }

    func testSafeTensorsHandBuiltFile() throws {
        // Header written by hand: two tensors, metadata, data in reverse name order.
        let header = #"{"b":{"dtype":"I16","shape":[2],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[],"data_offsets":[4,8]},"__metadata__":{"k":"v"}}"#
        var bytes = [UInt8]()
        bytes.appendLE(UInt64(header.utf8.count))
        bytes += Array(header.utf8)
        bytes += [0x01, 0x00, 0xFF, 0xFF]  // int16 1, -1
        bytes.appendLE(Float(2.5).bitPattern)
        let url = tmp.url.appendingPathComponent("hand.safetensors")
        try Data(bytes).write(to: url)
        let (tensors, metadata) = try SafeTensors.readWithMetadata(url)
        XCTAssertEqual(tensors.map(\.name), ["b", "a"])
        XCTAssertEqual(tensors[0].tensor.int64Values(), [1, -1])
        XCTAssertEqual(tensors[1].tensor.shape, [])
        XCTAssertEqual(tensors[1].tensor.floatValues(), [2.5])
        XCTAssertEqual(metadata, ["k": "v"])
    }

    func testSafeTensorsRejectsInconsistentHeaders() throws {
        func file(_ header: String, data: Int = 4, lengthOverride: UInt64? = nil) throws -> URL {
            var bytes = [UInt8]()
            bytes.appendLE(lengthOverride ?? UInt64(header.utf8.count))
            bytes += Array(header.utf8) + [UInt8](repeating: 0, count: data)
            let url = tmp.url.appendingPathComponent("bad\(UUID().uuidString).safetensors")
            try Data(bytes).write(to: url)
            return url
        }
        let cases: [(URL, String)] = [
            (try file(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#), "does not match"),
            (try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}"#), "outside"),
            (try file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, lengthOverride: 1 << 40), "header length"),
            (try file(#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,4]}}"#), "C64"),
            (try file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#), "dimension"),
            (try file(#"{"a":{"dtype":"F32","shape":[1099511627776,1099511627776],"data_offsets":[0,4]}}"#), "overflow"),
            (try file(#"[1,2]"#), "not a JSON object"),
        ]
        for (url, fragment) in cases {
            XCTAssertThrowsError(try SafeTensors.read(url)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
                XCTAssertTrue("\(error)".contains(url.lastPathComponent), "\(error)")
            }
        }
    }

    func testSafeTensorsRoundTripIsBitIdentical() throws {
        let tensors = sampleTensors()
        let url = tmp.url.appendingPathComponent("rt.safetensors")
        try SafeTensors.write(tensors, metadata: ["format": "pt", "note": "x\"y"], to: url)
        let (back, metadata) = try SafeTensors.readWithMetadata(url)
        XCTAssertEqual(back.map(\.name), tensors.map(\.name))
        XCTAssertEqual(back.map(\.tensor), tensors.map(\.tensor))
        XCTAssertEqual(metadata, ["format": "pt", "note": "x\"y"])
        // The header is padded so the data starts 8-byte aligned.
        let raw = try Data(contentsOf: url)
        let headerLength = raw.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertThrowsError(try SafeTensors.write([("a", tensors[0].tensor), ("a", tensors[1].tensor)], to: url))
    }

    func testNPYWrittenByNumpyReads() throws {
        // minilm/embeddings.npy was written by numpy; its rows' cosines are recorded in cases.json.
        let t = try NPY.read(Fixtures.url("minilm/embeddings.npy"))
        XCTAssertEqual(t.shape, [10, 384])
        XCTAssertEqual(t.dtype, .float32)
        let info = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: Fixtures.url("minilm/cases.json"))) as? [String: Any])
        let matrix = try XCTUnwrap(info["cosine_matrix"] as? [[Double]])
        let v = t.floatValues()
        let rows = (0..<10).map { Embedding(Array(v[($0 * 384)..<(($0 + 1) * 384)])) }
        for i in 0..<10 { for j in 0..<10 { XCTAssertEqual(rows[i].cosine(rows[j]), matrix[i][j], accuracy: 1e-6) } }
    }

    func testNPYFortranOrderBigEndianAndVersion2Headers() throws {
        func npy(_ header: String, version: UInt8 = 1, payload: [UInt8]) throws -> URL {
            var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
            let h = Array((header + "\n").utf8)
            if version == 1 { bytes.appendLE(UInt16(h.count)) } else { bytes.appendLE(UInt32(h.count)) }
            bytes += h + payload
            let url = tmp.url.appendingPathComponent("\(UUID().uuidString).npy")
            try Data(bytes).write(to: url)
            return url
        }
        // [[1,2,3],[4,5,6]] stored column-major: 1 4 2 5 3 6, as big-endian int16.
        let be: [UInt8] = [1, 4, 2, 5, 3, 6].flatMap { [UInt8(0), UInt8($0)] }
        let t = try NPY.read(npy("{'descr': '>i2', 'fortran_order': True, 'shape': (2, 3), }", payload: be))
        XCTAssertEqual(t.dtype, .int16)
        XCTAssertEqual(t.int64Values(), [1, 2, 3, 4, 5, 6])
        let v2 = try NPY.read(npy("{\"descr\": \"<f8\", \"fortran_order\": False, \"shape\": (1L,)}", version: 2,
                                  payload: Array(withUnsafeBytes(of: Double(0.25).bitPattern.littleEndian) { Array($0) })))
        XCTAssertEqual(v2.doubleValues(), [0.25])
        XCTAssertThrowsError(try NPY.read(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", payload: [UInt8](repeating: 0, count: 8))))
        XCTAssertThrowsError(try NPY.read(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }", payload: [0, 0, 0, 0]))) {
            XCTAssertTrue("\($0)".contains("more data than the file holds"), "\($0)")
        }
    }

    func testNPYAndNPZRoundTripsAreBitIdentical() throws {
        let tensors = sampleTensors().filter { $0.tensor.dtype != .bfloat16 }
        for (i, (_, t)) in tensors.enumerated() {
            let url = tmp.url.appendingPathComponent("a\(i).npy")
            try NPY.write(t, to: url)
            XCTAssertEqual(try NPY.read(url), t)
            // numpy requires the data to start 64-byte aligned.
            let raw = try Data(contentsOf: url)
            XCTAssertEqual((10 + Int(raw[8]) + Int(raw[9]) * 256) % 64, 0)
        }
        let url = tmp.url.appendingPathComponent("all.npz")
        try NPZ.write(tensors, to: url)
        let back = try NPZ.read(url)
        XCTAssertEqual(back.map(\.name), tensors.map(\.name))
        XCTAssertEqual(back.map(\.tensor), tensors.map(\.tensor))
        XCTAssertThrowsError(try NPY.write(TensorData(dtype: .bfloat16, shape: [1], bytes: [0, 0]), to: url))
    }

    func testNPZWrittenByNumpySavezCompressedReads() throws {
        // numpy.savez_compressed(f, x=np.arange(6, dtype='<i4').reshape(2, 3), y=np.array([0.5, -1.25], dtype='>f8'),
        //                        z=np.ones((3, 2), dtype='<f2', order='F') * np.array([1, 2], dtype='<f2'))
        // — deflated members with zip64 local headers, a big-endian array and a Fortran-ordered one.
        let base64 = """
            UEsDBC0AAAAIAAAAIQBQtE2E//////////8FABQAeC5ucHkBABAAmAAAAAAAAABVAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CsaaOgq1CmQDLgYgYARiJiBmBmIWIGYFYgBQSwMELQAAAAgAAAAhAGnNP3H//////////wUAFAB5Lm5weQEAEACQAAAAAAAAAE0AAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpdmoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALvsHDGCw/wuEBgBQSwMELQAAAAgAAAAhAL6nJLX//////////wUAFAB6Lm5weQEAEACMAAAAAAAAAEsAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmpK6joJ6WX1RSlJgXn1+UkgoSDykqTQUKF2ckFqQCuRrGOgpGmjoKtQrkAy4GGzB0AEEAUEsBAi0DLQAAAAgAAAAhAFC0TYRVAAAAmAAAAAUAAAAAAAAAAAAAAIABAAAAAHgubnB5UEsBAi0DLQAAAAgAAAAhAGnNP3FNAAAAkAAAAAUAAAAAAAAAAAAAAIABjAAAAHkubnB5UEsBAi0DLQAAAAgAAAAhAL6nJLVLAAAAjAAAAAUAAAAAAAAAAAAAAIABEAEAAHoubnB5UEsFBgAAAAADAAMAmQAAAJIBAAAAAA==
            """
        let url = tmp.url.appendingPathComponent("c.npz")
        try XCTUnwrap(Data(base64Encoded: base64)).write(to: url)
        let back = try NPZ.read(url)
        XCTAssertEqual(back.map(\.name), ["x", "y", "z"])
        XCTAssertEqual(back[0].tensor.dtype, .int32)
        XCTAssertEqual(back[0].tensor.shape, [2, 3])
        XCTAssertEqual(back[0].tensor.int64Values(), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(back[1].tensor.doubleValues(), [0.5, -1.25])
        XCTAssertEqual(back[2].tensor.dtype, .float16)
        XCTAssertEqual(back[2].tensor.shape, [3, 2])
        XCTAssertEqual(back[2].tensor.floatValues(), [1, 2, 1, 2, 1, 2])
    }
}

/// The DEFLATE decoder against zlib's encoder (through ZIPFoundation): stored, fixed and dynamic blocks.
final class InflateTests: XCTestCase {
    static func deflate(_ bytes: [UInt8]) throws -> [UInt8] {
        var out = [UInt8]()
        let data = Data(bytes)
        _ = try Data.compress(size: Int64(data.count), bufferSize: 1 << 14, provider: { position, size in
            data.subdata(in: Int(position)..<min(data.count, Int(position) + size))
        }, consumer: { out += $0 })
        return out
    }

    static func corpus(seed: UInt64) -> [[UInt8]] {
        var rng = SeededGenerator(seed: seed)
        let random = (0..<70_000).map { _ in UInt8(truncatingIfNeeded: rng.next()) }  // incompressible → stored blocks
        let text = Array(String(repeating: "the plane takes off over the snowy slope; ", count: 2000).utf8)  // long matches
        let mixed = (0..<100_000).map { i in UInt8(truncatingIfNeeded: (i % 251) ^ Int(rng.next() % 4)) }  // dynamic trees
        return [[], [42], Array("a".utf8), random, text, mixed]
    }

    func testCRC32KnownValueAndZlib() throws {
        XCTAssertEqual(CRC32.checksum(Array("123456789".utf8)), 0xCBF4_3926)  // the standard check value
        XCTAssertEqual(CRC32.checksum([]), 0)
        for original in Self.corpus(seed: 4) {
            for cut in [0, 1, 7, 13] where cut <= original.count {
                let part = Array(original.dropFirst(cut))
                XCTAssertEqual(CRC32.checksum(part), Data(part).crc32(checksum: 0))  // ZIPFoundation's (zlib's) CRC
            }
        }
    }

    func testInflateMatchesZlib() throws {
        for (i, original) in Self.corpus(seed: 9).enumerated() {
            let compressed = try Self.deflate(original)
            var inflater = Inflater(compressed, limit: original.count)
            try inflater.run()
            XCTAssertEqual(inflater.output, original, "case \(i)")
            if !original.isEmpty {
                var short = Inflater(compressed, limit: original.count - 1)
                XCTAssertThrowsError(try short.run(), "case \(i): limit not enforced")
            }
            if compressed.count > 2 {
                var truncated = Inflater(Array(compressed.prefix(compressed.count / 2)), limit: original.count)
                XCTAssertThrowsError(try truncated.run(), "case \(i): truncation not detected")
            }
        }
    }
}
