// MiniLM embeddings against the recorded sentence-transformers outputs; robustness on any text; hashed fallback.
import Encoders
import Formats
import Foundation
import TestSupport
import XCTest

final class TextEncoderTests: XCTestCase {
    private static let sharedEncoder: Result<MiniLMEncoder, Error>? = {
        let dir = MiniLMEncoder.defaultDirectory
        guard MiniLMEncoder.weightsPresent(in: dir) else { return nil }
        return Result { try MiniLMEncoder(directory: dir) }
    }()

    private func encoder() throws -> MiniLMEncoder {
        _ = try miniLMDirectoryOrSkip()
        guard let r = TextEncoderTests.sharedEncoder else { throw Requirements.missing("MiniLM weights absent: run `make setup`") }
        return try r.get()
    }

    func testFixtureEmbeddingsMatchReference() throws {
        let enc = try encoder()
        let cases = try loadMiniLMCases()
        let reference = try NPY.read(Fixtures.url("minilm/embeddings.npy"))
        XCTAssertEqual(reference.shape, [cases.count, 384])
        let ref = reference.floatValues()
        // Batched (sorted, packed) and one at a time must both match.
        let batched = try enc.embed(cases.map(\.text))
        for (i, c) in cases.enumerated() {
            XCTAssertEqual(enc.tokenIDs(c.text), c.token_ids)
            let single = try enc.embed([c.text])[0]
            for v in [batched[i], single] {
                var dot = 0.0, na = 0.0, nb = 0.0, maxDiff: Float = 0
                for j in 0..<384 {
                    let a = Double(v[j]), b = Double(ref[i * 384 + j])
                    dot += a * b; na += a * a; nb += b * b
                    maxDiff = max(maxDiff, abs(v[j] - ref[i * 384 + j]))
                }
                XCTAssertGreaterThanOrEqual(dot / (na * nb).squareRoot(), 0.99999, "case \(i)")
                XCTAssertLessThanOrEqual(maxDiff, 1e-5, "case \(i)")
            }
        }
    }

    func testAnyTextGivesFiniteUnitVectors() throws {
        let enc = try encoder()
        let texts = [
            "", "   ", "\t\n", "Привет, мир! Как дела?", "日本語のテキストと中文文本", "مرحبا بالعالم", "नमस्ते दुनिया",
            "😀🚀🔥 emoji only 👍🏽", "Ça va? Über café naïve résumé", "İstanbul ΣΊΣΥΦΟΣ", "\u{0}\u{7}\u{FFFD}control",
            String(repeating: "supercalifragilistic ", count: 500), String(repeating: "x", count: 5000),
        ]
        let vectors = try enc.embed(texts)
        XCTAssertEqual(vectors.count, texts.count)
        for (t, v) in zip(texts, vectors) {
            XCTAssertEqual(v.count, 384)
            XCTAssertTrue(v.allSatisfy { $0.isFinite }, "non-finite for \(t.prefix(20))")
            XCTAssertEqual(v.reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-4, "not unit for \(t.prefix(20))")
            XCTAssertLessThanOrEqual(enc.tokenIDs(t).count, 256)
        }
        // Empty and whitespace-only both encode as [CLS][SEP] and so agree.
        XCTAssertEqual(enc.tokenIDs(""), [101, 102])
        for j in 0..<384 { XCTAssertEqual(vectors[0][j], vectors[1][j], accuracy: 1e-5) }
    }

    func testRobustnessCasesMatchReferenceTokenizerAndEmbeddings() throws {
        // Expected ids from Hugging Face BertTokenizerFast and embeddings from sentence-transformers (PyTorch CPU)
        // on the same model files: Tests/Resources/minilm-robustness.json, made by Benchmarks/peers/minilm_reference.py.
        let enc = try encoder()
        struct Case: Decodable { let text: String; let token_ids: [Int32]; let embedding: [Float] }
        let url = Fixtures.projectRoot.appendingPathComponent("Tests/Resources/minilm-robustness.json")
        let cases = try JSONDecoder().decode([Case].self, from: Data(contentsOf: url))
        XCTAssertGreaterThanOrEqual(cases.count, 15)
        let vectors = try enc.embed(cases.map(\.text))
        for (c, v) in zip(cases, vectors) {
            XCTAssertEqual(enc.tokenIDs(c.text), c.token_ids, "text: \(c.text.prefix(40))")
            var dot = 0.0, na = 0.0, nb = 0.0, maxDiff: Float = 0
            for j in 0..<384 {
                dot += Double(v[j]) * Double(c.embedding[j]); na += Double(v[j] * v[j]); nb += Double(c.embedding[j] * c.embedding[j])
                maxDiff = max(maxDiff, abs(v[j] - c.embedding[j]))
            }
            XCTAssertGreaterThanOrEqual(dot / (na * nb).squareRoot(), 0.99999, "text: \(c.text.prefix(40))")
            XCTAssertLessThanOrEqual(maxDiff, 1e-5, "text: \(c.text.prefix(40))")
        }
    }

    func testMissingAndCorruptWeightsNameTheFileAndFix() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        XCTAssertThrowsError(try MiniLMEncoder(directory: dir.url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("config.json") && text.contains("make setup"), text)
        }
        // A config and vocabulary, but a truncated weight file.
        try Data(#"{"hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16, "layer_norm_eps": 1e-12, "max_position_embeddings": 16, "vocab_size": 5, "hidden_act": "gelu"}"#.utf8)
            .write(to: dir.url.appendingPathComponent("config.json"))
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n".utf8).write(to: dir.url.appendingPathComponent("vocab.txt"))
        try Data([1, 2, 3]).write(to: dir.url.appendingPathComponent("model.safetensors"))
        // A vocabulary larger than the embedding table would index past it: refused, naming vocab.txt.
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\nworld\n".utf8).write(to: dir.url.appendingPathComponent("vocab.txt"))
        XCTAssertThrowsError(try MiniLMEncoder(directory: dir.url)) { error in
            XCTAssertTrue("\(error)".contains("vocab.txt") && "\(error)".contains("vocab_size 5"), "\(error)")
        }
        try Data("[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n".utf8).write(to: dir.url.appendingPathComponent("vocab.txt"))
        XCTAssertThrowsError(try MiniLMEncoder(directory: dir.url)) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("model.safetensors") && text.contains("make setup"), text)
        }
        // A well-formed safetensors file missing the tensors.
        try SafeTensors.write([("other", TensorData(floats: [1], shape: [1]))], to: dir.url.appendingPathComponent("model.safetensors"))
        XCTAssertThrowsError(try MiniLMEncoder(directory: dir.url)) { error in
            XCTAssertTrue("\(error)".contains("is missing"), "\(error)")
        }
    }

    func testDefaultFallsBackToHashedWhenWeightsAbsent() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let e = try TextEncoders.default(modelDirectory: dir.url, warn: false)
        XCTAssertTrue(e is HashedNGramEncoder)
        XCTAssertEqual(e.dim, 384)
    }

    func testHashedEncoderIsDeterministicUnitAndSimilarityAware() throws {
        let e = HashedNGramEncoder(dim: 64)
        let v = try e.embed(["the cat sat on the mat", "the cat sat on a mat", "stock markets fell sharply", "", "😀"])
        XCTAssertEqual(v, try HashedNGramEncoder(dim: 64).embed(["the cat sat on the mat", "the cat sat on a mat", "stock markets fell sharply", "", "😀"]))
        for i in 0..<3 { XCTAssertEqual(v[i].reduce(0) { $0 + $1 * $1 }, 1, accuracy: 1e-5) }
        XCTAssertEqual(v[3], [Float](repeating: 0, count: 64))
        func cos(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        XCTAssertGreaterThan(cos(v[0], v[1]), cos(v[0], v[2]) + 0.3)
        // Pinned by hand (FNV-1a of "w:a" → bucket 7, +1; "c:<a>" → bucket 3, −0.5; then L2): must not drift.
        let pinned = try HashedNGramEncoder(dim: 8).embed(["a"])[0]
        let expected: [Float] = [0, 0, 0, -0.4472136, 0, 0, 0, 0.8944272]
        for j in 0..<8 { XCTAssertEqual(pinned[j], expected[j], accuracy: 1e-6) }
    }
}
