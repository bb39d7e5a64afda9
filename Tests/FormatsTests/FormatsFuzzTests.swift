// Seeded mutation fuzzing of every Formats reader: byte flips, interesting values, truncation and insertions.
// Each mutated input must give a value or a FormatError — never a crash, a hang or a foreign error type.
// Iterations per reader: WORLDGPT_FUZZ_ITERATIONS (default 1000; `make fuzz` runs 100000).
@testable import Formats
import Foundation
import TestSupport
import XCTest

final class FormatsFuzzTests: XCTestCase {
    static var iterations: Int {
        Int(ProcessInfo.processInfo.environment["WORLDGPT_FUZZ_ITERATIONS"] ?? "") ?? 1000
    }

    /// Applies 1–4 random mutations to `seed`.
    static func mutate(_ seed: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var bytes = seed
        let count = 1 + Int(rng.next() % 4)
        for _ in 0..<count {
            let position = bytes.isEmpty ? 0 : Int(rng.next() % UInt64(bytes.count))
            switch rng.next() % 6 {
            case 0, 1:  // flip bits of one byte
                if !bytes.isEmpty { bytes[position] ^= UInt8(truncatingIfNeeded: 1 + rng.next() % 255) }
            case 2:  // an interesting 1/2/4/8-byte little-endian value (sizes, lengths, offsets)
                let values: [UInt64] = [0, 1, 0x7F, 0x80, 0xFF, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, UInt64.max, 1 << 40, UInt64(Int64.max)]
                let v = values[Int(rng.next() % UInt64(values.count))]
                let width = [1, 2, 4, 8][Int(rng.next() % 4)]
                for i in 0..<width where position + i < bytes.count { bytes[position + i] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(i))) }
            case 3:  // truncate
                bytes = Array(bytes.prefix(position))
            case 4:  // insert 1–16 random bytes
                let n = 1 + Int(rng.next() % 16)
                bytes.insert(contentsOf: (0..<n).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: position)
            default:  // duplicate a chunk elsewhere (repeats structure: opcodes, entries, keys)
                guard !bytes.isEmpty else { continue }
                let length = min(1 + Int(rng.next() % 32), bytes.count - position)
                let chunk = Array(bytes[position..<(position + length)])
                bytes.insert(contentsOf: chunk, at: Int(rng.next() % UInt64(bytes.count + 1)))
            }
        }
        return bytes
    }

    /// Feeds `iterations` mutations of the seeds to `read`; fails on any error that is not a FormatError or on a
    /// single input taking longer than `slowLimit` seconds.
    func fuzz(_ name: String, seeds: [[UInt8]], seed: UInt64, slowLimit: Double = 2, read: ([UInt8]) throws -> Void) {
        var rng = SeededGenerator(seed: seed)
        var values = 0, errors = 0, slowest = 0.0
        var reasons: [String: Int] = [:]
        for seedBytes in seeds {  // the unmutated seeds must read
            XCTAssertNoThrow(try read(seedBytes), "\(name): seed input fails")
        }
        for i in 0..<Self.iterations {
            let input = Self.mutate(seeds[i % seeds.count], &rng)
            let start = Date()
            do {
                try read(input)
                values += 1
            } catch let error as FormatError {
                errors += 1
                if ProcessInfo.processInfo.environment["WORLDGPT_FUZZ_VERBOSE"] != nil {
                    let text = "\(error)".replacingOccurrences(of: #"[0-9]+"#, with: "N", options: .regularExpression)
                    reasons[String(text.prefix(90)), default: 0] += 1
                }
            } catch {
                XCTFail("\(name) iteration \(i): non-FormatError \(type(of: error)): \(error)")
            }
            let elapsed = Date().timeIntervalSince(start)
            slowest = max(slowest, elapsed)
            XCTAssertLessThan(elapsed, slowLimit, "\(name) iteration \(i) took \(elapsed) s")
        }
        XCTAssertEqual(values + errors, Self.iterations)
        for (reason, n) in reasons.sorted(by: { $0.value > $1.value }).prefix(12) { print("   \(n)× \(reason)") }
        print("fuzz \(name): \(Self.iterations) inputs, \(values) values, \(errors) errors, slowest \(String(format: "%.4f", slowest)) s")
    }

    func fixture(_ path: String) throws -> [UInt8] { [UInt8](try Data(contentsOf: Fixtures.url(path))) }

    func testFuzzTorchZip() throws {
        let seeds = try ["torch/nested.pt", "torch/state_dict.pt", "torch/parameters.pt", "torch/transposed.pt"].map(fixture)
        fuzz("pt zip", seeds: seeds, seed: 1) { _ = try TorchFile.load(data: Data($0), path: "fuzz.pt") }
    }

    /// Mutates only data.pkl and re-wraps it with valid CRCs, so the pickle machine itself is exercised.
    func testFuzzTorchPickle() throws {
        var seeds: [[UInt8]] = []
        var storagesByName: [[(String, [UInt8])]] = []
        for name in ["nested", "state_dict", "parameters", "view_offset"] {
            let data = try Data(contentsOf: Fixtures.url("torch/\(name).pt"))
            let zip = try ZipReader(data: data, path: name)
            seeds.append([UInt8](try zip.contents(zip.entry("\(name)/data.pkl")!)))
            storagesByName.append(try zip.entries.filter { $0.name.contains("/data/") }.map {
                (String($0.name.split(separator: "/").last!), [UInt8](try zip.contents($0)))
            })
        }
        var which = 0
        fuzz("pt pickle", seeds: seeds, seed: 2) { pickle in
            var zip = ZipWriter(path: "fuzz", alignment: 64)
            try zip.add("archive/data.pkl", pickle)
            for (key, bytes) in storagesByName[which % storagesByName.count] { try zip.add("archive/data/\(key)", bytes) }
            which += 1
            _ = try TorchFile.load(data: Data(try zip.finish()), path: "fuzz.pt")
        }
    }

    func testFuzzTorchLegacy() throws {
        fuzz("pt legacy", seeds: [try fixture("torch/legacy.pt")], seed: 3) { _ = try TorchFile.load(data: Data($0), path: "fuzz.pt") }
    }

    func testFuzzNPY() throws {
        let seeds = try [fixture("minilm/embeddings.npy")].map { Array($0.prefix(128 + 384 * 4 * 2)) }  // two rows keep it small
            .map { bytes -> [UInt8] in  // rewrite the header's shape to (2, 384)
                var text = String(decoding: bytes[10..<128], as: UTF8.self).replacingOccurrences(of: "(10, 384)", with: "(2, 384)")
                while text.utf8.count < 118 { text.insert(" ", at: text.index(before: text.endIndex)) }
                return Array(bytes[0..<10]) + Array(text.utf8) + Array(bytes[128...])
            }
        let small = try NPY.encode(TensorData(int64s: [1, -2, 3], shape: [3]), path: "x")
        fuzz("npy", seeds: seeds + [small], seed: 4) { _ = try NPY.parse(Data($0), path: "fuzz.npy") }
    }

    func testFuzzNPZ() throws {
        let stored = try NPZ.encodeForFuzz(sampleTensors().filter { $0.tensor.dtype != .bfloat16 })
        let numpyCompressed = [UInt8](Data(base64Encoded: """
            UEsDBC0AAAAIAAAAIQBQtE2E//////////8FABQAeC5ucHkBABAAmAAAAAAAAABVAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CsaaOgq1CmQDLgYgYARiJiBmBmIWIGYFYgBQSwMELQAAAAgAAAAhAGnNP3H//////////wUAFAB5Lm5weQEAEACQAAAAAAAAAE0AAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpdmoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALvsHDGCw/wuEBgBQSwMELQAAAAgAAAAhAL6nJLX//////////wUAFAB6Lm5weQEAEACMAAAAAAAAAEsAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmpK6joJ6WX1RSlJgXn1+UkgoSDykqTQUKF2ckFqQCuRrGOgpGmjoKtQrkAy4GGzB0AEEAUEsBAi0DLQAAAAgAAAAhAFC0TYRVAAAAmAAAAAUAAAAAAAAAAAAAAIABAAAAAHgubnB5UEsBAi0DLQAAAAgAAAAhAGnNP3FNAAAAkAAAAAUAAAAAAAAAAAAAAIABjAAAAHkubnB5UEsBAi0DLQAAAAgAAAAhAL6nJLVLAAAAjAAAAAUAAAAAAAAAAAAAAIABEAEAAHoubnB5UEsFBgAAAAADAAMAmQAAAJIBAAAAAA==
            """, options: .ignoreUnknownCharacters)!)
        fuzz("npz", seeds: [stored, numpyCompressed], seed: 5) { _ = try NPZ.parse(Data($0), path: "fuzz.npz") }
    }

    func testFuzzDeflate() throws {
        let seeds = try InflateTests.corpus(seed: 10).filter { $0.count > 1 }.map { Array($0.prefix(4000)) }.map(InflateTests.deflate)
        fuzz("deflate", seeds: seeds, seed: 9) { stream in
            var inflater = Inflater(stream, limit: 1 << 16)
            do { try inflater.run() } catch let failure as Inflater.Failure {
                throw FormatError.corrupt(path: "fuzz.deflate", reason: "\(failure)")
            }
        }
    }

    func testFuzzSafeTensors() throws {
        let seed = try SafeTensors.encode(sampleTensors(), metadata: ["format": "pt"], path: "x")
        fuzz("safetensors", seeds: [seed], seed: 6) { _ = try SafeTensors.parse(Data($0), path: "fuzz.safetensors") }
    }

    func testFuzzAnnotationJSON() throws {
        let samples = (0..<4).map { i in
            WorldNetSample(index: i, state0: [.video: "v\(i).mp4", .audio: "a\(i).wav"], state1: [.image: "i\(i).jpg"],
                           actionText: "do \"thing\" \(i) ✓", scenario: "s\(i % 2)", episode: "e", step: i,
                           metadata: ["tags": .array([.string("x"), .number(1.5), .null, .bool(true)]), "state0.depth": .string("d.png")])
        }
        var text = "[\n"
        for (i, s) in samples.enumerated() { text += WorldNetAnnotations.json(s).serialized() + (i < 3 ? ",\n" : "\n") }
        text += "]\n"
        fuzz("annotation JSON", seeds: [Array(text.utf8)], seed: 7) { _ = try WorldNetAnnotations.parse(Data($0), path: "fuzz.json") }
    }

    func testFuzzDatasetYAML() throws {
        let yaml = """
            train:
                dataset_list:
                    -
                        root: worldnet/ag                                    # root of subset
                        annotaion_path: worldnet/ag/state/action_train.json  # path to annotations
                        modality: ['image', 'video', 'audio']
                        weight: 0.2
                modality_modes:
                    -
                        inputs: ['image']
                        targets: ['video', "audio"]
                        weight: 0.2
                    - {inputs: [video], targets: [video]}
            """
        let base = URL(fileURLWithPath: "/tmp")
        fuzz("dataset YAML", seeds: [Array(yaml.utf8)], seed: 8) {
            _ = try DatasetConfig.parse(String(decoding: $0, as: UTF8.self), source: "fuzz.yaml", baseDirectory: base)
        }
    }
}

extension NPZ {
    /// The bytes `write` would produce (for fuzz seeds).
    static func encodeForFuzz(_ arrays: [(name: String, tensor: TensorData)]) throws -> [UInt8] {
        var zip = ZipWriter(path: "x", alignment: 64)
        for (name, tensor) in arrays { try zip.add(name + ".npy", NPY.encode(tensor, path: "x")) }
        return try zip.finish()
    }
}
