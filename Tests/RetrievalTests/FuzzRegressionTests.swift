// Inputs kept in Fuzz/regressions/ (the libFuzzer targets' crashers and the ones found while writing them),
// replayed through the same API without libFuzzer, so `make test` catches a regression.
import Foundation
import Retrieval
import TestSupport
import XCTest

final class RetrievalFuzzRegressionTests: XCTestCase {
    /// Loads `Fuzz/regressions/hnsw-index/<name>` and expects a corruptIndexFile error naming it, with `reason` in it.
    func assertHNSWRegressionIsCorrupt(_ name: String, reason expected: String, line: UInt = #line) {
        let url = Fixtures.projectRoot.appendingPathComponent("Fuzz/regressions/hnsw-index/\(name)")
        XCTAssertThrowsError(try HNSWIndex.load(from: url), line: line) { error in
            guard case RetrievalError.corruptIndexFile(let path, let reason) = error else { return XCTFail("\(error)", line: line) }
            XCTAssertEqual(path, url.path, line: line)
            XCTAssertTrue(reason.contains(expected), reason, line: line)
        }
    }

    /// A node whose upper-link offset is Int64.max: the range check overflowed (a trap) instead of refusing the file.
    func testHNSWFileWithHugeUpperLinkOffsetIsCorrupt() {
        assertHNSWRegressionIsCorrupt("upper-offset-int64-max", reason: "upper links out of range")
    }

    /// Found by the hnsw-index libFuzzer target: an upper-level link to a node whose top level is lower passed the
    /// load checks, and the search then read that node's (absent) upper link list in C: a SEGV in wgk_hnsw_search_layer.
    func testHNSWFileLinkingANodeBelowTheLinkLevelIsCorrupt() {
        assertHNSWRegressionIsCorrupt("crash-b9e05c50456503069ab40f81806c67c00fc97fbf", reason: "whose top level is")
    }
}
