// BertTokenizer against the golden MiniLM token ids, and its normalisation rules on hand-checked cases.
import Encoders
import Foundation
import TestSupport
import XCTest

/// The MiniLM model folder for tests, or a skip explaining how to install it.
func miniLMDirectoryOrSkip() throws -> URL {
    let dir = MiniLMEncoder.defaultDirectory
    guard MiniLMEncoder.weightsPresent(in: dir) else {
        throw Requirements.missing("MiniLM weights not found in \(dir.path): run `make setup` (or set WORLDGPT_MINILM_DIR)")
    }
    return dir
}

/// The fixture cases (text + expected token ids).
struct MiniLMCase: Decodable {
    let text: String
    let token_ids: [Int32]
    let tokens: [String]
}

func loadMiniLMCases() throws -> [MiniLMCase] {
    struct File: Decodable { let cases: [MiniLMCase] }
    return try JSONDecoder().decode(File.self, from: Data(contentsOf: Fixtures.url("minilm/cases.json"))).cases
}

final class TextTokenizerTests: XCTestCase {
    /// A tiny vocabulary for rule tests that need no model files.
    private func tinyTokenizer() throws -> BertTokenizer {
        try BertTokenizer(tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "un", "##aff", "##able", "cafe", "!", ",", "hello",
                                   "world", "中", "国", "a", "##b", "$", "naive"])
    }

    func testFixtureTokenIDsMatchExactly() throws {
        let dir = try miniLMDirectoryOrSkip()
        let tokenizer = try BertTokenizer(vocabularyFile: dir.appendingPathComponent("vocab.txt"))
        for c in try loadMiniLMCases() {
            XCTAssertEqual(tokenizer.encode(c.text, maxLength: 256), c.token_ids, "text: \(c.text.prefix(60))")
        }
    }

    func testWordPieceGreedyLongestMatch() throws {
        let t = try tinyTokenizer()
        XCTAssertEqual(t.tokenize("unaffable"), ["un", "##aff", "##able"])
        XCTAssertEqual(t.encode("unaffable"), [2, 4, 5, 6, 3])
        // An unknown piece turns the whole word into [UNK], not just the tail.
        XCTAssertEqual(t.tokenize("unaffablez"), ["[UNK]"])
    }

    func testNormalisationAccentsCaseControlAndCJK() throws {
        let t = try tinyTokenizer()
        XCTAssertEqual(t.tokenize("Café!"), ["cafe", "!"])  // NFD + drop the combining acute, lower-case
        XCTAssertEqual(t.tokenize("CAFE\u{301}"), ["cafe"])  // already decomposed
        XCTAssertEqual(t.tokenize("hello\u{0}\u{200B}world"), ["[UNK]"])  // NUL and U+200B (Cf) removed: one word
        XCTAssertEqual(t.tokenize("hello\u{00A0}world"), ["hello", "world"])  // NBSP is whitespace
        XCTAssertEqual(t.tokenize("中国"), ["中", "国"])  // CJK characters split
        XCTAssertEqual(t.tokenize("a$b"), ["a", "$", "[UNK]"])  // ASCII $ counts as punctuation
        XCTAssertEqual(t.tokenize("naïve"), ["naive"])
        XCTAssertEqual(t.tokenize("hello,world"), ["hello", ",", "world"])
    }

    func testLongWordIsUnknownAndTruncationKeepsSpecialTokens() throws {
        let t = try tinyTokenizer()
        XCTAssertEqual(t.tokenize(String(repeating: "a", count: 101)), ["[UNK]"])
        let ids = t.encode(String(repeating: "hello ", count: 400), maxLength: 256)
        XCTAssertEqual(ids.count, 256)
        XCTAssertEqual(ids.first, 2)
        XCTAssertEqual(ids.last, 3)
        XCTAssertEqual(t.encode(""), [2, 3])
        XCTAssertEqual(t.encode(" \t\n "), [2, 3])
    }

    func testMissingSpecialTokenIsAnError() {
        XCTAssertThrowsError(try BertTokenizer(tokens: ["[PAD]", "[CLS]", "[SEP]"])) { error in
            XCTAssertTrue("\(error)".contains("[UNK]"))
        }
    }
}

final class SentenceFileTests: XCTestCase {
    func testOneSentencePerLineAndEmptyLinesAreEmptySentences() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let url = dir.url.appendingPathComponent("lines.txt")
        try Data("first\n\nthird\r\nlast".utf8).write(to: url)
        XCTAssertEqual(try TextEncoders.sentences(fromFile: url), ["first", "", "third", "last"])
        try Data("a\n\n".utf8).write(to: url)
        XCTAssertEqual(try TextEncoders.sentences(fromFile: url), ["a", ""], "a final newline ends the last line")
        try Data().write(to: url)
        XCTAssertEqual(try TextEncoders.sentences(fromFile: url), [])
        try Data([0xFF, 0xFE, 0x00]).write(to: url)
        XCTAssertThrowsError(try TextEncoders.sentences(fromFile: url)) { XCTAssertTrue("\($0)".contains("lines.txt")) }
        XCTAssertThrowsError(try TextEncoders.sentences(fromFile: dir.url.appendingPathComponent("none.txt")))
    }
}
