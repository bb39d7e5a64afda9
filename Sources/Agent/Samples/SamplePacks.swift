// Packed sample shards: many samples in one safetensors file plus a JSON index, for training at scale (one file
// per sample costs two file creations and a ZIP per sample). Layout: docs/scale.md; reader: python/worldgpt_ray/dataset.py.
import Formats
import Foundation

extension SampleBuilder {
    /// The format marker of packed parts (in the safetensors metadata and the index).
    static let packFormat = "worldgpt-packed-samples-1"

    /// Writes `packed/part-NNNNN.safetensors` and `packed/part-NNNNN.json` for every part `samples` touch.
    ///
    /// Per part of N samples (M = 4 modalities in the order image, video, audio, text; D state width, A action width):
    /// `index [N]` int64 (global sample index), `state0 [N, M, D]`, `state0_mask [N, M]` uint8, `state1`, `state1_mask`,
    /// `action [N, A]`; the kept context of all N samples row after row, `context_offsets [N + 1]` int64 marking each
    /// sample's rows: `context_state0 [ΣK, M, D]`, `context_state0_mask [ΣK, M]`, `context_state1`, `context_state1_mask`,
    /// `context_action [ΣK, A]`, `context_scores [ΣK]`; the history likewise with `history_offsets [N + 1]`.
    static func writePacks(_ samples: [BuiltSample], packSize: Int, to directory: URL) throws {
        precondition(packSize >= 1, "packs hold at least one sample")
        let folder = directory.appendingPathComponent("packed")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var start = 0
        while start < samples.count {
            let part = samples[start].index / packSize
            var end = start
            while end < samples.count, samples[end].index / packSize == part { end += 1 }
            try writePack(Array(samples[start..<end]), part: part, to: folder, streaming: true)
            start = end
        }
    }

    /// Writes one part: `streaming` writes each array straight from the samples' embeddings into the file
    /// (`writePackArrays`); otherwise the part is assembled in memory first (`packArrays`, the simple twin the tests
    /// compare the streamed bytes with).
    static func writePack(_ samples: [BuiltSample], part: Int, to folder: URL, streaming: Bool) throws {
        guard let first = samples.first else { return }
        guard let d = first.transition.state0.embeddings.values.first?.dim, let a = first.transition.action.embedding?.dim else {
            throw AgentError.badStartState(first.transition.provenance.sampleID, reason: "state0 has no modality or the action no embedding")
        }
        let name = packName(part)
        let ids = samples.map(\.transition.provenance.sampleID)
        let idsJSON = String(decoding: try JSONSerialization.data(withJSONObject: ids), as: UTF8.self)
        let metadata = ["format": packFormat, "sample_ids": idsJSON, "modalities": Modality.allCases.map(\.rawValue).joined(separator: ",")]
        let file = folder.appendingPathComponent(name + ".safetensors")
        if streaming {
            try writePackArrays(samples, dim: d, actionDim: a, metadata: metadata, to: file)
        } else {
            try SafeTensors.write(try packArrays(samples, dim: d, actionDim: a), metadata: metadata, to: file)
        }
        let index: [String: Any] = [
            "format": packFormat, "part": part, "file": name + ".safetensors", "count": samples.count, "dim": d, "action_dim": a,
            "modalities": Modality.allCases.map(\.rawValue),
            "samples": samples.map { ["index": $0.index, "sample_id": $0.transition.provenance.sampleID,
                                      "context": $0.context.count, "history": $0.history.count] as [String: Any] },
        ]
        try AtomicFile.write(
            JSONSerialization.data(withJSONObject: index, options: [.prettyPrinted, .sortedKeys]), to: folder.appendingPathComponent(name + ".json"))
    }

    /// The arrays of a part, assembled in memory (the oracle of `writePackArrays`).
    static func packArrays(_ samples: [BuiltSample], dim d: Int, actionDim a: Int) throws -> [(name: String, tensor: TensorData)] {
        let m = Modality.allCases.count
        var columns: [String: (values: [Float], mask: [UInt8])] = [:]
        func add(_ arrays: [(name: String, tensor: TensorData)]) {
            for (name, tensor) in arrays {
                // `<role>_modal` values and `<role>_mask` bytes go to the same column.
                let key = String(name.hasSuffix("_mask") ? name.dropLast("_mask".count) : name.dropLast("_modal".count))
                if tensor.dtype == .uint8 {
                    columns[key, default: ([], [])].mask += tensor.bytes
                } else {
                    columns[key, default: ([], [])].values += tensor.floatValues()
                }
            }
        }
        var action: [Float] = [], contextAction: [Float] = [], historyAction: [Float] = [], scores: [Float] = []
        var contextOffsets: [Int64] = [0], historyOffsets: [Int64] = [0]
        for sample in samples {
            let id = sample.transition.provenance.sampleID
            let ctx = sample.context.map(\.transition)
            add(try modalArrays(state0: [sample.transition.state0], state1: [sample.transition.state1], prefix: "", sampleID: id, dim: d, single: true))
            add(try modalArrays(state0: ctx.map(\.state0), state1: ctx.map(\.state1), prefix: "context_", sampleID: id, dim: d))
            add(try modalArrays(state0: sample.history.map(\.state0), state1: sample.history.map(\.state1), prefix: "history_", sampleID: id, dim: d))
            func actionVector(_ t: Transition) throws -> [Float] {
                guard let e = t.action.embedding, e.dim == a else {
                    throw AgentError.dimensionMismatch(what: "sample \(id): action \"\(t.action.text)\" embedding", expected: a, actual: t.action.embedding?.dim ?? 0)
                }
                return e.values
            }
            action += try actionVector(sample.transition)
            for t in ctx { contextAction += try actionVector(t) }
            for t in sample.history { historyAction += try actionVector(t) }
            scores += sample.context.map { Float($0.score) }
            contextOffsets.append(contextOffsets.last! + Int64(ctx.count))  // starts non-empty
            historyOffsets.append(historyOffsets.last! + Int64(sample.history.count))
        }
        let n = samples.count, k = Int(contextOffsets.last!), h = Int(historyOffsets.last!)
        func states(_ key: String, rows: Int) -> [(name: String, tensor: TensorData)] {
            let c = columns[key] ?? ([], [])
            return [(key, TensorData(floats: c.values, shape: [rows, m, d])), (key + "_mask", TensorData(dtype: .uint8, shape: [rows, m], bytes: c.mask))]
        }
        return [("index", TensorData(int64s: samples.map { Int64($0.index) }, shape: [n]))]
            + states("state0", rows: n) + states("state1", rows: n)
            + [("action", TensorData(floats: action, shape: [n, a])), ("context_offsets", TensorData(int64s: contextOffsets, shape: [n + 1]))]
            + states("context_state0", rows: k) + states("context_state1", rows: k)
            + [("context_action", TensorData(floats: contextAction, shape: [k, a])), ("context_scores", TensorData(floats: scores, shape: [k])),
               ("history_offsets", TensorData(int64s: historyOffsets, shape: [n + 1]))]
            + states("history_state0", rows: h) + states("history_state1", rows: h)
            + [("history_action", TensorData(floats: historyAction, shape: [h, a]))]
    }

    /// Writes the arrays of a part straight from the samples' embeddings into the safetensors file, through one
    /// reused buffer: a part of 1,000 samples is ≈ 180 MB, which `packArrays` holds three times over (per-sample
    /// arrays, the part's columns, the file's bytes) before the write copies it once more into the page cache.
    /// The same bytes as `SafeTensors.write(packArrays(…))` (tested). Every width is checked before the file is created.
    static func writePackArrays(_ samples: [BuiltSample], dim d: Int, actionDim a: Int, metadata: [String: String], to file: URL) throws {
        let modalities = Modality.allCases, m = modalities.count
        // The checks of `packArrays`, in its order, so the same input fails with the same error.
        for sample in samples {
            let id = sample.transition.provenance.sampleID
            let ctx = sample.context.map(\.transition)
            for (prefix, rows) in [("", [sample.transition]), ("context_", ctx), ("history_", sample.history)] {
                for role in ["state0", "state1"] {
                    for t in rows {
                        for modality in modalities {
                            if let e = (role == "state0" ? t.state0 : t.state1)[modality], e.dim != d {
                                throw AgentError.dimensionMismatch(what: "sample \(id): \(prefix)\(role) \(modality.rawValue)", expected: d, actual: e.dim)
                            }
                        }
                    }
                }
            }
            for t in [sample.transition] + ctx + sample.history where t.action.embedding?.dim != a {
                throw AgentError.dimensionMismatch(what: "sample \(id): action \"\(t.action.text)\" embedding", expected: a, actual: t.action.embedding?.dim ?? 0)
            }
        }
        let n = samples.count
        let own = samples.map { [$0.transition] }, context = samples.map { $0.context.map(\.transition) }, history = samples.map(\.history)
        let k = context.reduce(0) { $0 + $1.count }, h = history.reduce(0) { $0 + $1.count }
        func offsets(_ groups: [[Transition]]) -> [Int64] {
            var out: [Int64] = [0]
            for g in groups { out.append(out[out.count - 1] + Int64(g.count)) }
            return out
        }
        func states(_ key: String, rows: Int) -> [(name: String, dtype: DType, shape: [Int])] {
            [(key, .float32, [rows, m, d]), (key + "_mask", .uint8, [rows, m])]
        }
        let layout: [(name: String, dtype: DType, shape: [Int])] =
            [("index", .int64, [n])] + states("state0", rows: n) + states("state1", rows: n)
            + [("action", .float32, [n, a]), ("context_offsets", .int64, [n + 1])]
            + states("context_state0", rows: k) + states("context_state1", rows: k)
            + [("context_action", .float32, [k, a]), ("context_scores", .float32, [k]), ("history_offsets", .int64, [n + 1])]
            + states("history_state0", rows: h) + states("history_state1", rows: h)
            + [("history_action", .float32, [h, a])]
        let out = try SafeTensors.StreamWriter(url: file, arrays: layout, metadata: metadata)
        func writeStates(_ groups: [[Transition]], _ role: KeyPath<Transition, State>) throws {
            for group in groups {
                for t in group {
                    let state = t[keyPath: role]
                    for modality in modalities {
                        if let e = state[modality] { try out.append(floats: e.values) } else { try out.appendZeros(d * 4) }
                    }
                }
            }
            var mask = [UInt8]()
            mask.reserveCapacity(groups.reduce(0) { $0 + $1.count } * m)
            for group in groups {
                for t in group {
                    let state = t[keyPath: role]
                    for modality in modalities { mask.append(state[modality] == nil ? 0 : 1) }
                }
            }
            try mask.withUnsafeBytes { try out.append($0) }
        }
        func writeActions(_ groups: [[Transition]]) throws {
            for group in groups {
                for t in group {
                    guard let e = t.action.embedding else { preconditionFailure("action widths were checked above") }
                    try out.append(floats: e.values)
                }
            }
        }
        try out.append(int64s: samples.map { Int64($0.index) })
        try writeStates(own, \.state0)
        try writeStates(own, \.state1)
        try writeActions(own)
        try out.append(int64s: offsets(context))
        try writeStates(context, \.state0)
        try writeStates(context, \.state1)
        try writeActions(context)
        try out.append(floats: samples.flatMap { $0.context.map { Float($0.score) } })
        try out.append(int64s: offsets(history))
        try writeStates(history, \.state0)
        try writeStates(history, \.state1)
        try writeActions(history)
        try out.finish()
    }
}
