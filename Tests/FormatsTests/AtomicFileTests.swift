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
}
