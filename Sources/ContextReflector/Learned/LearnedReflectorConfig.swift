// The shape of a learned reflector (WorldGPT's Q-Former) and the checkpoint names it implies.
// Names are PyTorch's (`Qformer.bert.encoder.layer.0...`), kept in strings only; sizes are read from a checkpoint.

/// The sizes of a learned reflector. Every size is recorded in a checkpoint's tensor shapes except the
/// head count, which BERT keeps in its config (64-wide heads in every BERT size, so `hidden / 64` by default).
public struct LearnedReflectorConfig: Equatable, Sendable, Codable {
    /// `fc1` input width: the state width plus the action width (1536 in WorldGPT).
    public var inputWidth: Int
    /// `fc2` input width: the width of each context token (768).
    public var contextWidth: Int
    /// `fc2` output width = the cross-attention key/value input width (BERT `encoder_width`, 768).
    public var encoderWidth: Int
    /// Q-Former hidden width = `fc1` output width = query token width (768).
    public var hiddenWidth: Int
    /// `fc3` output width: the world model's token width (4096 for the 7B model; 256 in the fixture).
    public var outputWidth: Int
    /// The number of learned query tokens (4).
    public var queryTokenCount: Int
    /// Whether each Q-Former layer has cross-attention (all true with `cross_attention_freq = 1`).
    public var crossAttention: [Bool]
    /// Attention heads per layer (12 for BERT-base).
    public var heads: Int
    /// Feed-forward inner width (`intermediate_query`, 3072).
    public var intermediateWidth: Int
    /// LayerNorm epsilon (BERT: 1e-12).
    public var layerNormEps: Float

    /// The number of Q-Former layers.
    public var layerCount: Int { crossAttention.count }

    /// A configuration; defaults are WorldGPT's except the layer count (the original hardwires 2) and output width.
    public init(
        inputWidth: Int = 1536, contextWidth: Int = 768, encoderWidth: Int = 768, hiddenWidth: Int = 768, outputWidth: Int = 4096,
        queryTokenCount: Int = 4, layerCount: Int = 2, crossAttentionEvery: Int = 1, heads: Int = 12, intermediateWidth: Int = 3072,
        layerNormEps: Float = 1e-12
    ) {
        self.inputWidth = inputWidth
        self.contextWidth = contextWidth
        self.encoderWidth = encoderWidth
        self.hiddenWidth = hiddenWidth
        self.outputWidth = outputWidth
        self.queryTokenCount = queryTokenCount
        self.crossAttention = (0..<layerCount).map { crossAttentionEvery > 0 && $0 % crossAttentionEvery == 0 }
        self.heads = heads
        self.intermediateWidth = intermediateWidth
        self.layerNormEps = layerNormEps
    }

    /// Throws `ReflectorError.invalidConfig` for impossible sizes.
    public func validate() throws {
        let sizes = [("input width", inputWidth), ("context width", contextWidth), ("encoder width", encoderWidth),
                     ("hidden width", hiddenWidth), ("output width", outputWidth), ("query tokens", queryTokenCount),
                     ("heads", heads), ("intermediate width", intermediateWidth)]
        for (name, value) in sizes where value <= 0 { throw ReflectorError.invalidConfig("\(name) must be positive (got \(value))") }
        guard hiddenWidth % heads == 0 else {
            throw ReflectorError.invalidConfig("hidden width \(hiddenWidth) is not divisible by \(heads) heads")
        }
        guard layerNormEps > 0, layerNormEps.isFinite else { throw ReflectorError.invalidConfig("layer norm eps must be positive") }
    }

    /// The checkpoint prefix of Q-Former layer `i`.
    static func layerPrefix(_ i: Int) -> String { "Qformer.bert.encoder.layer.\(i)" }

    /// Every parameter name with its shape, in the order `Reflector.named_parameters()` yields them.
    public func parameterShapes() -> [(name: String, shape: [Int])] {
        let h = hiddenWidth
        var list: [(String, [Int])] = [
            ("query_tokens", [1, queryTokenCount, h]),
            ("fc1.weight", [h, inputWidth]), ("fc1.bias", [h]),
            ("fc2.weight", [encoderWidth, contextWidth]), ("fc2.bias", [encoderWidth]),
            ("Qformer.bert.embeddings.LayerNorm.weight", [h]), ("Qformer.bert.embeddings.LayerNorm.bias", [h]),
        ]
        func linear(_ name: String, _ inWidth: Int, _ outWidth: Int) {
            list.append(("\(name).weight", [outWidth, inWidth]))
            list.append(("\(name).bias", [outWidth]))
        }
        func norm(_ name: String) {
            list.append(("\(name).weight", [h]))
            list.append(("\(name).bias", [h]))
        }
        for (i, cross) in crossAttention.enumerated() {
            let p = LearnedReflectorConfig.layerPrefix(i)
            for part in ["query", "key", "value"] { linear("\(p).attention.self.\(part)", h, h) }
            linear("\(p).attention.output.dense", h, h)
            norm("\(p).attention.output.LayerNorm")
            if cross {
                linear("\(p).crossattention.self.query", h, h)
                linear("\(p).crossattention.self.key", encoderWidth, h)
                linear("\(p).crossattention.self.value", encoderWidth, h)
                linear("\(p).crossattention.output.dense", h, h)
                norm("\(p).crossattention.output.LayerNorm")
            }
            linear("\(p).intermediate_query.dense", h, intermediateWidth)
            linear("\(p).output_query.dense", intermediateWidth, h)
            norm("\(p).output_query.LayerNorm")
        }
        linear("fc3", h, outputWidth)
        return list
    }

    /// Reads the sizes from a checkpoint's tensor names and shapes, then checks every name and shape.
    ///
    /// - Parameters:
    ///   - shapes: the checkpoint's tensors (name → shape), already stripped of any prefix.
    ///   - heads: the head count, or nil for `hidden / 64` (BERT's head width).
    ///   - file: the checkpoint's path, for error messages.
    /// - Throws: `ReflectorError.checkpoint` listing every missing, unexpected or mis-shaped tensor by name.
    public static func inferred(from shapes: [(name: String, shape: [Int])], heads: Int? = nil, file: String) throws -> LearnedReflectorConfig {
        var byName: [String: [Int]] = [:]
        for (name, shape) in shapes { byName[name] = shape }
        var problems: [String] = []
        func shape(_ name: String, rank: Int) -> [Int]? {
            guard let s = byName[name] else {
                problems.append("missing tensor \(name)")
                return nil
            }
            guard s.count == rank else {
                problems.append("\(name) has shape \(s), expected rank \(rank)")
                return nil
            }
            return s
        }
        let queries = shape("query_tokens", rank: 3)
        let fc1 = shape("fc1.weight", rank: 2)
        let fc2 = shape("fc2.weight", rank: 2)
        let fc3 = shape("fc3.weight", rank: 2)
        // Layers: the distinct indices after `Qformer.bert.encoder.layer.`, which must be 0..<n.
        let layerMarker = "Qformer.bert.encoder.layer."
        var indices = Set<Int>()
        for (name, _) in shapes where name.hasPrefix(layerMarker) {
            let rest = name.dropFirst(layerMarker.count)
            if let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]), i >= 0 { indices.insert(i) } else {
                problems.append("unexpected tensor \(name) (no layer index)")
            }
        }
        let layerCount = indices.count
        if layerCount == 0 { problems.append("no Q-Former layers (no tensor named \(layerMarker)<i>.*)") }
        if let top = indices.max(), top != layerCount - 1 {
            problems.append("Q-Former layer indices are not contiguous from 0: \(indices.sorted())")
        }
        let inter = layerCount > 0 ? shape("\(layerPrefix(0)).intermediate_query.dense.weight", rank: 2) : nil
        guard let queries, let fc1, let fc2, let fc3, let inter, problems.isEmpty else {
            throw ReflectorError.checkpoint(file: file, problems: problems)
        }
        let hidden = queries[2]
        let headCount = heads ?? (hidden % 64 == 0 ? hidden / 64 : 0)
        guard headCount > 0 else {
            throw ReflectorError.checkpoint(
                file: file, problems: ["hidden width \(hidden) is not a multiple of BERT's 64-wide heads: give the head count explicitly"])
        }
        var config = LearnedReflectorConfig(
            inputWidth: fc1[1], contextWidth: fc2[1], encoderWidth: fc2[0], hiddenWidth: hidden, outputWidth: fc3[0],
            queryTokenCount: queries[1], layerCount: layerCount, heads: headCount, intermediateWidth: inter[0])
        config.crossAttention = (0..<layerCount).map { byName["\(layerPrefix($0)).crossattention.self.query.weight"] != nil }
        do { try config.validate() } catch let error as ReflectorError {
            throw ReflectorError.checkpoint(file: file, problems: ["\(error)"])
        }

        // Every expected name with the right shape, nothing else.
        let expected = config.parameterShapes()
        let expectedNames = Set(expected.map(\.name))
        for (name, want) in expected {
            if let got = byName[name] {
                if got != want { problems.append("\(name) has shape \(got), expected \(want)") }
            } else {
                problems.append("missing tensor \(name) (expected shape \(want))")
            }
        }
        for (name, got) in shapes where !expectedNames.contains(name) { problems.append("unexpected tensor \(name) \(got)") }
        guard problems.isEmpty else { throw ReflectorError.checkpoint(file: file, problems: problems) }
        return config
    }
}
