// Tests of AtomicFile: the target holds the old bytes or the new ones, nothing is left beside it, nothing under the
// system temporary folder, and a write into a missing folder fails naming the path.
import Foundation
import Formats
import TestSupport
import XCTest

final class AtomicFileTests: XCTestCase {
    private func leftovers(in folder: URL) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasPrefix(".") }
    }

    func testReplacesTheFileAndLeavesNothingBehind() throws {
        let dir = try TemporaryDirectory(prefix: "atomic")
        defer { dir.remove() }
        let file = dir.url.appendingPathComponent("a.json")
        // Foundation's own atomic writes leave a TemporaryDirectory.* folder under /tmp each; this one leaves none.
        let temporary = FileManager.default.temporaryDirectory
        let before = Set(try FileManager.default.contentsOfDirectory(atPath: temporary.path).filter { $0.hasPrefix("TemporaryDirectory.") })
        try AtomicFile.write(Data("first".utf8), to: file)
        XCTAssertEqual(try Data(contentsOf: file), Data("first".utf8))
        try AtomicFile.write(Data("second, longer".utf8), to: file)
        try AtomicFile.write(Data(), to: dir.url.appendingPathComponent("empty"))
        XCTAssertEqual(try Data(contentsOf: file), Data("second, longer".utf8))
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent("empty")), Data())
        XCTAssertEqual(try leftovers(in: dir.url), [])
        let after = Set(try FileManager.default.contentsOfDirectory(atPath: temporary.path).filter { $0.hasPrefix("TemporaryDirectory.") })
        // (Another process's Foundation write in these microseconds would show here too; tests run one at a time.)
        XCTAssertEqual(after.subtracting(before), [], "AtomicFile wrote through a temporary folder")
    }

    func testAWriteIntoAMissingFolderFailsNamingThePathAndLeavesTheOldFile() throws {
        let dir = try TemporaryDirectory(prefix: "atomic")
        defer { dir.remove() }
        let missing = dir.url.appendingPathComponent("no/such/folder/a.json")
        XCTAssertThrowsError(try AtomicFile.write(Data("x".utf8), to: missing)) { error in
            XCTAssertTrue("\(error)".contains(missing.path) || (error as NSError).userInfo[NSFilePathErrorKey] as? String == missing.path, "\(error)")
        }
        // A target that is a folder: rename fails, the temporary file is removed, the folder is untouched.
        let folder = dir.url.appendingPathComponent("taken")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try AtomicFile.write(Data("inside".utf8), to: folder.appendingPathComponent("x"))
        XCTAssertThrowsError(try AtomicFile.write(Data("y".utf8), to: folder))
        XCTAssertEqual(try leftovers(in: dir.url), [])
        XCTAssertEqual(try Data(contentsOf: folder.appendingPathComponent("x")), Data("inside".utf8))
    }

    func testStreamedSafeTensorsEqualTheInMemoryWriterAndAnAbandonedOneLeavesNothing() throws {
        let dir = try TemporaryDirectory(prefix: "atomic")
        defer { dir.remove() }
        var rng = SeededGenerator(seed: 21)
        // One array larger than the writer's 1 MiB buffer, small ones on either side, an empty one, three dtypes.
        let big = (0..<300_000).map { _ in Float(rng.nextGaussian()) }
        let arrays: [(name: String, tensor: TensorData)] = [
            ("index", TensorData(int64s: [7, 8, 9], shape: [3])),
            ("big", TensorData(floats: big, shape: [3000, 100])),
            ("mask", TensorData(dtype: .uint8, shape: [2, 3], bytes: [1, 0, 1, 1, 1, 0])),
            ("empty", TensorData(floats: [], shape: [0, 4])),
            ("zeros", TensorData(floats: [Float](repeating: 0, count: 70_000), shape: [70_000])),
        ]
        let metadata = ["format": "test", "ids": "[\"a\", \"b\"]"]
        try SafeTensors.write(arrays, metadata: metadata, to: dir.url.appendingPathComponent("whole.safetensors"))
        let out = try SafeTensors.StreamWriter(url: dir.url.appendingPathComponent("streamed.safetensors"),
                                               arrays: arrays.map { ($0.name, $0.tensor.dtype, $0.tensor.shape) }, metadata: metadata)
        try out.append(int64s: [7, 8, 9])
        for start in stride(from: 0, to: big.count, by: 12_345) { try out.append(floats: Array(big[start..<min(start + 12_345, big.count)])) }
        try [UInt8]([1, 0, 1, 1, 1, 0]).withUnsafeBytes { try out.append($0) }
        try out.appendZeros(280_000)
        try out.finish()
        XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent("streamed.safetensors")),
                       try Data(contentsOf: dir.url.appendingPathComponent("whole.safetensors")))
        XCTAssertEqual(try SafeTensors.read(dir.url.appendingPathComponent("streamed.safetensors")).first { $0.name == "big" }?.tensor.floatValues(), big)

        // Released before `finish` (an error on the way): no target, no temporary file.
        do {
            let abandoned = try SafeTensors.StreamWriter(url: dir.url.appendingPathComponent("abandoned.safetensors"),
                                                         arrays: [("x", .float32, [4])])
            try abandoned.append(floats: [1, 2])
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("abandoned.safetensors").path))
        XCTAssertEqual(try leftovers(in: dir.url), [])
        XCTAssertThrowsError(try SafeTensors.StreamWriter(url: dir.url.appendingPathComponent("no/such/folder.safetensors"), arrays: [])) { error in
            XCTAssertTrue("\(error)".contains("no/such/folder.safetensors"), "\(error)")
        }
    }
}

