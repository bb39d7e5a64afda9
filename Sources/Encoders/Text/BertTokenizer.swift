// BERT uncased tokenisation: normaliser (clean, CJK spacing, strip accents, lower-case), pre-tokeniser
// (whitespace + punctuation), WordPiece (greedy longest match, "##" continuations, [UNK]), [CLS]/[SEP], truncation.
// Follows Hugging Face `tokenizers`' BertNormalizer/BertPreTokenizer/WordPiece for all-MiniLM-L6-v2.
import Foundation

/// A BERT WordPiece tokenizer over a `vocab.txt` (one token per line, id = line number).
public struct BertTokenizer: Sendable {
    /// Token → id.
    public let vocabulary: [String: Int32]
    /// Id of `[UNK]`.
    public let unknownID: Int32
    /// Id of `[CLS]`.
    public let classID: Int32
    /// Id of `[SEP]`.
    public let separatorID: Int32
    /// Id of `[PAD]`.
    public let padID: Int32
    /// Words longer than this many characters become `[UNK]` (BERT: 100).
    public let maxCharactersPerWord: Int
    /// Whether to lower-case and strip accents (uncased models).
    public let lowercase: Bool

    /// A tokenizer from a vocabulary list (index = id).
    ///
    /// - Throws: `EncoderError.invalidArgument` when a special token is missing.
    public init(tokens: [String], lowercase: Bool = true, maxCharactersPerWord: Int = 100) throws {
        var vocab: [String: Int32] = [:]
        vocab.reserveCapacity(tokens.count)
        for (i, t) in tokens.enumerated() where vocab[t] == nil { vocab[t] = Int32(i) }
        func special(_ s: String) throws -> Int32 {
            guard let id = vocab[s] else { throw EncoderError.invalidArgument("vocabulary has no \(s) token") }
            return id
        }
        vocabulary = vocab
        unknownID = try special("[UNK]")
        classID = try special("[CLS]")
        separatorID = try special("[SEP]")
        padID = try special("[PAD]")
        self.lowercase = lowercase
        self.maxCharactersPerWord = maxCharactersPerWord
    }

    /// Reads `vocab.txt` (UTF-8, one token per line).
    ///
    /// - Throws: `EncoderError.missingFile` / `.corruptFile` naming the file.
    public init(vocabularyFile url: URL, lowercase: Bool = true) throws {
        let fix = "Run `make setup` (or scripts/setup.sh) to install the MiniLM files."
        guard FileManager.default.fileExists(atPath: url.path) else { throw EncoderError.missingFile(url, fix: fix) }
        guard let data = try? Data(contentsOf: url), let text = String(data: data, encoding: .utf8) else {
            throw EncoderError.corruptFile(url, problem: "not readable as UTF-8 text", fix: fix)
        }
        var lines = splitLines(text)
        if lines.last == "" { lines.removeLast() }
        do {
            try self.init(tokens: lines, lowercase: lowercase)
        } catch {
            throw EncoderError.corruptFile(url, problem: "\(error)", fix: fix)
        }
    }

    /// Token ids `[CLS] pieces… [SEP]`, keeping at most `maxLength` ids in total (pieces truncated at the end).
    public func encode(_ text: String, maxLength: Int = 256) -> [Int32] {
        var ids: [Int32] = [classID]
        let budget = max(0, maxLength - 2)
        for word in preTokenize(normalize(text)) {
            if ids.count - 1 >= budget { break }
            wordPiece(word, into: &ids)
        }
        if ids.count - 1 > budget { ids.removeLast(ids.count - 1 - budget) }
        ids.append(separatorID)
        return ids
    }

    /// The WordPiece strings for a text (without [CLS]/[SEP]); for inspection and tests.
    public func tokenize(_ text: String) -> [String] {
        var names: [Int32: String] = [:]
        for (k, v) in vocabulary { names[v] = k }
        var ids: [Int32] = []
        for word in preTokenize(normalize(text)) { wordPiece(word, into: &ids) }
        return ids.map { names[$0] ?? "[UNK]" }
    }

    // MARK: Normaliser

    /// BertNormalizer: drop NUL/U+FFFD/control characters, whitespace → " ", space around CJK ideographs,
    /// then (uncased) NFD + drop non-spacing marks, then lower-case.
    func normalize(_ text: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(text.unicodeScalars.count)
        for s in text.unicodeScalars {
            if s.value == 0 || s.value == 0xFFFD || BertTokenizer.isControl(s) { continue }
            if BertTokenizer.isWhitespace(s) { out.append(" "); continue }
            if BertTokenizer.isCJK(s) { out.append(" "); out.append(s); out.append(" "); continue }
            out.append(s)
        }
        guard lowercase else { return out }
        // Strip accents: canonical decomposition, then remove Mn (non-spacing marks).
        var view = String.UnicodeScalarView()
        view.append(contentsOf: out)
        let decomposed = String(view).decomposedStringWithCanonicalMapping.unicodeScalars
        var result: [Unicode.Scalar] = []
        result.reserveCapacity(out.count)
        for s in decomposed where s.properties.generalCategory != .nonspacingMark {
            if s.isASCII {
                result.append(s.value >= 65 && s.value <= 90 ? Unicode.Scalar(s.value + 32)! : s)
            } else if s.properties.changesWhenLowercased {
                result.append(contentsOf: s.properties.lowercaseMapping.unicodeScalars)
            } else {
                result.append(s)
            }
        }
        return result
    }

    static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
        s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
    }

    static func isControl(_ s: Unicode.Scalar) -> Bool {
        if s == "\t" || s == "\n" || s == "\r" { return false }
        switch s.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned: return true
        default: return false
        }
    }

    static func isCJK(_ s: Unicode.Scalar) -> Bool {
        switch s.value {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B820...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F: return true
        default: return false
        }
    }

    static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
        let v = s.value
        if (33...47).contains(v) || (58...64).contains(v) || (91...96).contains(v) || (123...126).contains(v) { return true }
        switch s.properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation: return true
        default: return false
        }
    }

    // MARK: Pre-tokeniser

    /// BertPreTokenizer: split on whitespace (dropped) and around every punctuation character (kept alone).
    func preTokenize(_ scalars: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var words: [[Unicode.Scalar]] = []
        var current: [Unicode.Scalar] = []
        for s in scalars {
            if BertTokenizer.isWhitespace(s) {
                if !current.isEmpty { words.append(current); current = [] }
            } else if BertTokenizer.isPunctuation(s) {
                if !current.isEmpty { words.append(current); current = [] }
                words.append([s])
            } else {
                current.append(s)
            }
        }
        if !current.isEmpty { words.append(current) }
        return words
    }

    // MARK: WordPiece

    /// Greedy longest-match-first WordPiece of one word; the whole word is `[UNK]` if any piece is unknown
    /// or it is longer than `maxCharactersPerWord`.
    func wordPiece(_ word: [Unicode.Scalar], into ids: inout [Int32]) {
        if word.count > maxCharactersPerWord { ids.append(unknownID); return }
        let start0 = ids.count
        var start = 0
        while start < word.count {
            var end = word.count
            var found: Int32?
            while start < end {
                var piece = start > 0 ? "##" : ""
                piece.unicodeScalars.append(contentsOf: word[start..<end])
                if let id = vocabulary[piece] { found = id; break }
                end -= 1
            }
            guard let id = found else {
                ids.removeLast(ids.count - start0)
                ids.append(unknownID)
                return
            }
            ids.append(id)
            start = end
        }
    }
}
