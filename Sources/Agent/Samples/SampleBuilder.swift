// Retrieval-augmented training samples (the paper's "cognitive-augmented tuning" data): for each transition,
// the reflected context triplets from the same scenario's knowledge base and its episode's history steps.
import ContextReflector
import Formats
import Foundation
import Tensor

/// One built sample: the transition, what the reflector kept for it, and its history.
public struct BuiltSample: Sendable {
    /// Position in the input order.
    public var index: Int
    /// The transition itself.
    public var transition: Transition
    /// Kept context candidates in rank order.
    public var context: [ReflectorCandidate]
    /// Earlier transitions of the same episode, most recent first.
    public var history: [Transition]
}

/// Builds retrieval-augmented samples and writes them as WorldNet JSON + `.pt` + safetensors per sample.
///
/// Layout of the output folder (documented in `schema.json` there):
/// - `annotations.json`: WorldNet entries of the samples, with extra keys `context` (kept ids, scores and
///   sample ids), `history` (sample ids, most recent first) and `tensors` (the per-sample file stem);
/// - `tensors/<stem>.pt` (torch.load(weights_only=True)) and `tensors/<stem>.safetensors`: float32
///   `context_state0 [K, D]`, `context_action [K, A]`, `context_state1 [K, D]`, `context_scores [K]`,
///   `history_state0 [H, D]`, `history_action [H, A]`, `history_state1 [H, D]`, `state0 [D]`, `action [A]`,
///   `state1 [D]` — states averaged over their modalities, as the original reflector's inputs are.
public struct SampleBuilder {
    /// Where context comes from (scoped to the sample's scenario).
    public var knowledge: any ContextSource
    /// The filter stage; its leakage guard is forced on.
    public var filter: ReflectorFilter
    /// Candidates retrieved before filtering.
    public var retrievalK: Int
    /// Fewest and most history steps per sample (each sample draws a length in this range, seeded).
    public var history: ClosedRange<Int>
    /// Seed of the history-length draw.
    public var seed: UInt64

    /// A builder.
    /// - Throws: `AgentError.invalidOption` when the history range is outside 0…16.
    public init(knowledge: any ContextSource, filter: ReflectorFilterConfig = RuntimeOptions.defaultFilter, retrievalK: Int = 16,
                history: ClosedRange<Int> = 2...5, seed: UInt64 = 0) throws {
        guard history.lowerBound >= 0, history.upperBound <= 16 else {
            throw AgentError.invalidOption(name: "history", reason: "must lie within 0…16 (got \(history.lowerBound)…\(history.upperBound))")
        }
        var config = filter
        config.leakageGuard = true
        self.filter = try ReflectorFilter(config: config)
        self.knowledge = knowledge
        self.retrievalK = retrievalK
        self.history = history
        self.seed = seed
    }

    /// Builds the samples of `transitions` (actions must carry embeddings).
    ///
    /// - Parameter shard: build only this shard's contiguous range of samples (`Shard.range`); a sample is the same
    ///   whichever shard builds it (its history and draw depend on its index in `transitions` only).
    public func build(_ transitions: [Transition], shard: Shard = .whole, progress: (Int, Int) -> Void = { _, _ in }) throws -> [BuiltSample] {
        try build(transitions, range: shard.range(of: transitions.count), progress: progress)
    }

    /// Builds the samples with indices in `range` (see `shardRange`). A range of 64 or more samples is split in two
    /// halves built on two threads when the source answers concurrent queries and the thread budget allows
    /// (`BLAS.workerBudget`); each sample depends only on its index, so the result is the same either way.
    public func build(_ transitions: [Transition], range: Range<Int>, progress: (Int, Int) -> Void = { _, _ in }) throws -> [BuiltSample] {
        precondition(range.lowerBound >= 0 && range.upperBound <= transitions.count, "sample range outside the transitions")
        var byEpisode: [String: [Int: Transition]] = [:]
        for t in transitions {
            if let e = t.provenance.episode, let s = t.provenance.step { byEpisode[e, default: [:]][s] = t }
        }
        let workers = knowledge.supportsConcurrentQueries && range.count >= 64 && BLAS.workerBudget >= 2 ? 2 : 1
        var parts = [[BuiltSample]](repeating: [], count: workers)
        var failures = [(any Error)?](repeating: nil, count: workers)
        parts.withUnsafeMutableBufferPointer { partBuffer in
            failures.withUnsafeMutableBufferPointer { failureBuffer in
                guard let out = partBuffer.baseAddress, let failure = failureBuffer.baseAddress else { return }
                // Each worker writes only its own slot of `out` and `failure`; worker 0 reports progress for both.
                Kernels.parallel(workers: workers) { w in
                    let slice = Kernels.slice(range.count, worker: w, of: workers)
                    do {
                        for (n, index) in ((range.lowerBound + slice.lowerBound)..<(range.lowerBound + slice.upperBound)).enumerated() {
                            out[w].append(try sample(index, transitions: transitions, byEpisode: byEpisode))
                            if w == 0 { progress(min(range.count, (n + 1) * workers), range.count) }
                        }
                    } catch {
                        failure[w] = error
                    }
                }
            }
        }
        if let failure = failures.lazy.compactMap({ $0 }).first { throw failure }  // the lower half's first
        progress(range.count, range.count)
        return parts.flatMap { $0 }
    }

    /// Sample `index`: its reflected context and its drawn history.
    private func sample(_ index: Int, transitions: [Transition], byEpisode: [String: [Int: Transition]]) throws -> BuiltSample {
        let t = transitions[index]
        let query = ReflectorQuery(state: t.state0, action: t.action, provenance: t.provenance)
        let candidates = try knowledge.candidates(for: query, k: retrievalK)
        let kept = filter.apply(query: query, candidates: candidates).kept
        var past: [Transition] = []
        if let e = t.provenance.episode, let s = t.provenance.step, let steps = byEpisode[e] {
            let span = UInt64(history.upperBound - history.lowerBound + 1)
            var draw = SeededRandom(seed: seed ^ UInt64(index))
            let wanted = history.lowerBound + Int(draw.next() % span)
            var k = s - 1
            while past.count < wanted, let previous = steps[k] {
                past.append(previous)
                k -= 1
            }
        }
        return BuiltSample(index: index, transition: t, context: kept, history: past)
    }

    /// Writes built samples under `directory` (see the type's documentation for the layout).
    ///
    /// - Parameters:
    ///   - sampleFiles: write `tensors/<stem>.pt` and `.safetensors` per sample.
    ///   - packSize: also write packed shards `packed/part-NNNNN.safetensors` + `.json`, part k holding the samples with
    ///     indices k·packSize ..< (k+1)·packSize (`samples` must cover whole parts, as `shardRange` gives them).
    public static func write(_ samples: [BuiltSample], to directory: URL, sampleFiles: Bool = true, packSize: Int? = nil) throws {
        precondition(sampleFiles || packSize != nil, "write per-sample files, packed shards or both")
        let tensors = directory.appendingPathComponent("tensors")
        if sampleFiles { try FileManager.default.createDirectory(at: tensors, withIntermediateDirectories: true) }
        var entries: [[String: Any]] = []
        for sample in samples {
            let stem = String(format: "sample-%06d", sample.index)
            var entry = annotationEntry(sample.transition)
            entry["index"] = sample.index
            if sampleFiles {
                let arrays = try arrays(of: sample)
                try TorchFile.save(.dict(arrays.map { (TorchValue.string($0.name), TorchValue.tensor($0.tensor, isParameter: false, requiresGrad: false)) }
                                        + [(TorchValue.string("context_ids"), TorchValue.list(sample.context.map { .string($0.id) }))]),
                                   to: tensors.appendingPathComponent(stem + ".pt"))
                let ids = String(decoding: try JSONSerialization.data(withJSONObject: sample.context.map(\.id)), as: UTF8.self)
                try SafeTensors.write(arrays, metadata: ["context_ids": ids, "sample_id": sample.transition.provenance.sampleID],
                                      to: tensors.appendingPathComponent(stem + ".safetensors"))
                entry["tensors"] = stem
            }
            if let packSize {
                entry["packed"] = ["part": packName(sample.index / packSize), "row": sample.index % packSize] as [String: Any]
            }
            entry["context"] = sample.context.map { ["id": $0.id, "score": $0.score, "sample_id": $0.transition.provenance.sampleID,
                                                     "scenario": $0.transition.provenance.scenario ?? ""] as [String: Any] }
            entry["history"] = sample.history.map(\.provenance.sampleID)
            entries.append(entry)
        }
        if let packSize { try writePacks(samples, packSize: packSize, to: directory) }
        try writeIndex(entries, to: directory)
    }

    /// The samples `shard` builds out of `count`: a contiguous range of samples, or of whole packed parts when
    /// packing (so every part is written by one shard, and merged shards equal the unsharded build).
    public static func shardRange(count: Int, shard: Shard, packSize: Int?) -> Range<Int> {
        guard let packSize else { return shard.range(of: count) }
        let parts = shard.range(of: (count + packSize - 1) / packSize)
        return min(count, parts.lowerBound * packSize)..<min(count, parts.upperBound * packSize)
    }

    /// `part-NNNNN`: the file stem of packed part `k`.
    static func packName(_ k: Int) -> String { String(format: "part-%05d", k) }

    /// Writes `annotations.json` (entries in the given order) and `schema.json`: the one writer of both files.
    static func writeIndex(_ entries: [[String: Any]], to directory: URL) throws {
        let json = try JSONSerialization.data(withJSONObject: entries, options: [.prettyPrinted, .sortedKeys])
        try AtomicFile.write(json, to: directory.appendingPathComponent("annotations.json"))
        try AtomicFile.write(Data(schema.utf8), to: directory.appendingPathComponent("schema.json"))
    }

    /// The float32 arrays of one sample, in a fixed order.
    static func arrays(of sample: BuiltSample) throws -> [(name: String, tensor: TensorData)] {
        func average(_ s: State, _ what: String) throws -> [Float] {
            guard let a = s.averaged() else { throw AgentError.badStartState(sample.transition.provenance.sampleID, reason: "\(what) has no modality") }
            return a.values
        }
        func actionVector(_ t: Transition) throws -> [Float] {
            guard let e = t.action.embedding else { throw AgentError.invalidOption(name: "text-encoder", reason: "action \"\(t.action.text)\" has no embedding") }
            return e.values
        }
        func matrix(_ rows: [[Float]], width: Int) -> TensorData { TensorData(floats: rows.flatMap { $0 }, shape: [rows.count, width]) }
        let t = sample.transition
        let d = try average(t.state0, "state0").count, a = try actionVector(t).count
        let ctx = sample.context.map(\.transition)
        let averaged: [(name: String, tensor: TensorData)] = [
            ("state0", TensorData(floats: try average(t.state0, "state0"), shape: [d])),
            ("action", TensorData(floats: try actionVector(t), shape: [a])),
            ("state1", TensorData(floats: try average(t.state1, "state1"), shape: [d])),
            ("context_state0", matrix(try ctx.map { try average($0.state0, "context state0") }, width: d)),
            ("context_action", matrix(try ctx.map(actionVector), width: a)),
            ("context_state1", matrix(try ctx.map { try average($0.state1, "context state1") }, width: d)),
            ("context_scores", TensorData(floats: sample.context.map { Float($0.score) }, shape: [ctx.count])),
            ("history_state0", matrix(try sample.history.map { try average($0.state0, "history state0") }, width: d)),
            ("history_action", matrix(try sample.history.map(actionVector), width: a)),
            ("history_state1", matrix(try sample.history.map { try average($0.state1, "history state1") }, width: d)),
        ]
        let id = t.provenance.sampleID
        return averaged
            + (try modalArrays(state0: [t.state0], state1: [t.state1], prefix: "", sampleID: id, dim: d, single: true))
            + (try modalArrays(state0: ctx.map(\.state0), state1: ctx.map(\.state1), prefix: "context_", sampleID: id, dim: d))
            + (try modalArrays(state0: sample.history.map(\.state0), state1: sample.history.map(\.state1), prefix: "history_", sampleID: id, dim: d))
    }

    /// Per-modality arrays of states: `<prefix>state0_modal [N, M, D]` (M = image, video, audio, text; zero rows where a
    /// modality is absent) and `<prefix>state0_mask [N, M]` (uint8, 1 = present), the same for state1; `single` drops the
    /// N axis (the sample's own states).
    /// - Throws: `AgentError.dimensionMismatch` when a modality's width is not the sample's `dim`.
    static func modalArrays(state0: [State], state1: [State], prefix: String, sampleID: String, dim: Int, single: Bool = false) throws -> [(name: String, tensor: TensorData)] {
        let m = Modality.allCases.count
        func pack(_ states: [State], _ role: String) throws -> [(name: String, tensor: TensorData)] {
            var values = [Float](repeating: 0, count: states.count * m * dim)
            var mask = [UInt8](repeating: 0, count: states.count * m)
            for (i, state) in states.enumerated() {
                for (j, modality) in Modality.allCases.enumerated() {
                    guard let e = state[modality] else { continue }
                    guard e.dim == dim else {
                        throw AgentError.dimensionMismatch(what: "sample \(sampleID): \(prefix)\(role) \(modality.rawValue)", expected: dim, actual: e.dim)
                    }
                    values.replaceSubrange(((i * m + j) * dim)..<((i * m + j + 1) * dim), with: e.values)
                    mask[i * m + j] = 1
                }
            }
            let shape = single ? [m] : [states.count, m]
            return [("\(prefix)\(role)_modal", TensorData(floats: values, shape: shape + [dim])),
                    ("\(prefix)\(role)_mask", TensorData(dtype: .uint8, shape: shape, bytes: mask))]
        }
        return try pack(state0, "state0") + pack(state1, "state1")
    }

    /// A WorldNet annotation entry (state0/state1 file names are not known here: the sample id stands in).
    static func annotationEntry(_ t: Transition) -> [String: Any] {
        var entry: [String: Any] = [
            "action": ["text": t.action.text], "sample_id": t.provenance.sampleID, "dataset": t.provenance.dataset,
        ]
        func modalities(_ s: State) -> [String: String] {
            var m: [String: String] = [:]
            for modality in Modality.allCases { m[modality.rawValue] = s[modality] == nil ? "" : t.provenance.sampleID }
            return m
        }
        entry["state0"] = modalities(t.state0)
        entry["state1"] = modalities(t.state1)
        if let s = t.provenance.scenario { entry["scenario"] = s }
        if let e = t.provenance.episode { entry["episode"] = e }
        if let s = t.provenance.step { entry["step"] = s }
        return entry
    }

    /// The schema file written beside the samples.
    static let schema = """
        {
          "format": "worldgpt-runtime retrieval-augmented samples, version 1",
          "annotations.json": "WorldNet entries (state0/state1/action) plus scenario, episode, step, sample_id, index (position in the build), context [{id, score, sample_id, scenario}] in rank order, history [sample ids, most recent first], tensors (file stem under tensors/, when per-sample files are written), packed {part, row} (when packed)",
          "packed/part-NNNNN.safetensors": "samples NNNNN*P ..< (NNNNN+1)*P packed (P = --pack): index [N] int64, state0/state1 [N, M, D] + _mask [N, M] uint8, action [N, A], context_offsets/history_offsets [N+1] int64 into context_* / history_* rows [ΣK, M, D] + _mask, context_action/history_action [Σ, A], context_scores [ΣK]; M = image, video, audio, text (docs/scale.md)",
          "packed/part-NNNNN.json": "the part's index: format, part, file, count, dim, action_dim, modalities, samples [{index, sample_id, context, history}]",
          "tensors/<stem>.pt": "torch.load(path, weights_only=True) -> dict of float32 tensors below plus context_ids (list of str)",
          "tensors/<stem>.safetensors": "the same float32 tensors; metadata context_ids (JSON list) and sample_id",
          "arrays": {
            "state0": "[D] average over present modalities of the sample's state0",
            "action": "[A] action sentence embedding",
            "state1": "[D] average over present modalities of the sample's state1",
            "context_state0": "[K, D] kept knowledge-base transitions' averaged state0, rank order",
            "context_action": "[K, A] their action embeddings",
            "context_state1": "[K, D] their averaged state1",
            "context_scores": "[K] retrieval scores",
            "history_state0": "[H, D] earlier steps of the sample's episode, most recent first",
            "history_action": "[H, A]",
            "history_state1": "[H, D]",
            "state0_modal": "[M, D] per modality (image, video, audio, text), zero rows where absent; state0_mask [M] uint8, 1 = present",
            "state1_modal": "[M, D]; state1_mask [M]",
            "context_state0_modal": "[K, M, D]; context_state0_mask [K, M]; context_state1_modal, context_state1_mask likewise",
            "history_state0_modal": "[H, M, D]; history_state0_mask [H, M]; history_state1_modal, history_state1_mask likewise"
          }
        }

        """
}
