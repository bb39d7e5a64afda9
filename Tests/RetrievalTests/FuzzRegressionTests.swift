// Inputs kept in Fuzz/regressions/ (the libFuzzer targets' crashers and the ones found while writing them),
// replayed through the same API without libFuzzer, so `make test` catches a regression.
import Foundation
import Retrieval
import TestSupport
import XCTest

final class RetrievalFuzzRegressionTests: XCTestCase {
    /// A node whose upper-link offset is Int64.max: the range check overflowed (a trap) instead of refusing the file.
    func testHNSWFileWithHugeUpperLinkOffsetIsCorrupt() throws {
        let url = Fixtures.projectRoot.appendingPathComponent("Fuzz/regressions/hnsw-index/upper-offset-int64-max")
        XCTAssertThrowsError(try HNSWIndex.load(from: url)) { error in
            guard case RetrievalError.corruptIndexFile(let path, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("upper links out of range"), reason)
        }
    }

    /// Found by the hnsw-index libFuzzer target: an upper-level link to a node whose top level is lower passed the
    /// load checks, and the search then read that node's (absent) upper link list in C: a SEGV in wgk_hnsw_search_layer.
    func testHNSWFileLinkingANodeBelowTheLinkLevelIsCorrupt() throws {
        let url = Fixtures.projectRoot.appendingPathComponent("Fuzz/regressions/hnsw-index/crash-b9e05c50456503069ab40f81806c67c00fc97fbf")
        XCTAssertThrowsError(try HNSWIndex.load(from: url)) { error in
            guard case RetrievalError.corruptIndexFile(let path, let reason) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(path, url.path)
            XCTAssertTrue(reason.contains("whose top level is"), reason)
        }
    }
}
