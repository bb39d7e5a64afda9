// `worldgpt predict`, `worldgpt fork` and `worldgpt samples build`.
import Agent
import ArgumentParser
import ContextReflector
import Formats
import Foundation
import Memory
import WorldModel

/// `worldgpt predict`: one retrieval-augmented prediction with its evidence.
struct PredictCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "predict",
        abstract: "Predict the next state once, showing the evidence: recalled steps, retrieved transitions, reflector decisions.",
        discussion: """
            The state comes from --start (MODALITY=FILE.pt|.npy or media files), or from a dataset sample \
            (--data with --start SAMPLE-ID, whose true next state is then scored). With --db and --episode the \
            step continues that stored episode (its recent steps are recalled) and is offloaded.
            """)

    @OptionGroup var setup: RuntimeSetupOptions
    @Option(name: .long, parsing: .upToNextOption, help: "Start files (MODALITY=FILE.pt|.npy, media files) or, with --data, a sample id.")
    var start: [String] = []
    @Option(name: .long, help: "Dataset YAML or SimWorld folder holding the --start sample.")
    var data: String?
    @Option(name: .long, help: "Split of --data: a section of a YAML file, or a folder's <split>.yaml (default test).")
    var split: String?
    @Option(name: .long, help: "The action sentence (default: the sample's own action with --data).")
    var action: String?
    @Option(name: .long, help: "Continue this stored episode (with --db).")
    var episode: String?
    @Option(name: .long, help: "Save the predicted embeddings: .npz (one array per modality), .pt or .safetensors.")
    var out: String?
    @OptionGroup var output: OutputOptions
    @Flag(name: .long, help: ArgumentHelp("Read batches of predictions from stdin, one JSON array per line; answer one array per line (the server's predict worker).", visibility: .hidden))
    var stdinBatches = false

    func run() throws {
        if stdinBatches { return try answerBatches() }
        let (worldModel, encoder) = try setup.loadModel()
        var state: State
        var actionText = action
        var truth: State?
        var provenance: Provenance?
        if let data {
            guard let id = start.first else { throw ValidationError("--data needs --start SAMPLE-ID") }
            let config = try DatasetSources.config(URL(fileURLWithPath: data), split: split, folderSplit: "test")
            let transitions = try TrainingSetup.transitions(config, cache: setup.encoderOptions.cache(for: encoder))
            guard let t = transitions.first(where: { $0.provenance.sampleID == id }) else {
                throw AgentError.badStartState(id, reason: "no sample with this id in \(config.source)")
            }
            state = t.state0
            truth = t.state1
            provenance = t.provenance
            if actionText == nil { actionText = t.action.text }
        } else {
            state = try StartState.load(start)
        }
        guard let actionText, !actionText.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("give --action \"...\" (an action sentence)")
        }
        let (runtime, store) = try setup.makeRuntime(worldModel, encoder: encoder, dim: state.embeddings.values.first?.dim ?? 768)
        let name = episode ?? "predict-\(provenance?.sampleID ?? "1")"
        var index = 0
        if let store, let episode, try store.episodes().contains(where: { $0.name == episode }) {
            let steps = try store.steps(StepReference(episode: episode, index: nil)).map(\.record).sorted { $0.index < $1.index }
            runtime.restore(episode: episode, steps: steps)
            index = (steps.last?.index ?? -1) + 1
        }
        let outcome = try runtime.step([StepRequest(episode: name, index: index, state: state, action: Action(text: actionText),
                                                    observed: truth, provenance: provenance)])[0]
        try runtime.flush()
        if let out { try PredictionFile.write(outcome.record.predicted, to: URL(fileURLWithPath: out)) }
        if output.json {
            print(TraceLine(record: outcome.record).json())
            return
        }
        print("predicted \(outcome.record.predicted.modalities.map(\.rawValue).joined(separator: ", ")) for \"\(actionText)\" (episode \(name), step \(index))")
        for (m, c) in outcome.cosine.sorted(by: { $0.key < $1.key }) { print(String(format: "  cosine ×100 to the truth, %@: %.2f", m.rawValue, 100 * c)) }
        if !outcome.memory.isEmpty {
            print("recalled steps:")
            for item in outcome.memory { print("  \(name):\(index - item.stepsAgo)  (\(item.stepsAgo) step(s) ago, action \"\(item.action.text)\")") }
        }
        if let filter = outcome.filter {
            print("retrieved \(filter.decisions.count) transition(s); reflector:")
            print(filter.explanation().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
        }
        if let out { print("wrote \(out)") }
    }
}

extension PredictCommand {
    /// The server's predict worker: the model is loaded once, and each stdin line (a JSON array of
    /// `BatchedPrediction`) runs as one lock-step batch of the runtime; one `BatchedAnswer` line per request on stdout,
    /// in order, the trace in the API's JSON. A prediction that cannot be made answers its error and leaves the others.
    func answerBatches() throws {
        let (worldModel, encoder) = try setup.loadModel()
        let cache = setup.encoderOptions.cache(for: encoder)
        var samples: [String: [String: Transition]] = [:]
        var runtime: Runtime?
        var counter = 0
        let newline = Data("\n".utf8)
        while let line = readLine() {
            guard let requests = try? JSONDecoder().decode([BatchedPrediction].self, from: Data(line.utf8)) else {
                // The server sends arrays only; answer one line so that a reader counting lines is not stalled.
                FileHandle.standardOutput.write(BatchedAnswer.error("not a JSON array of {data, sample, split?, action?}").line() + newline)
                continue
            }
            var answers = requests.map { _ in BatchedAnswer.error("not predicted") }
            var batch: [StepRequest] = [], owners: [Int] = []
            for (i, r) in requests.enumerated() {
                do {
                    let key = r.data + "\u{0}" + (r.split ?? "")
                    if samples[key] == nil {
                        let config = try DatasetSources.config(URL(fileURLWithPath: r.data), split: r.split, folderSplit: "test")
                        let transitions = try TrainingSetup.transitions(config, cache: cache)
                        samples[key] = Dictionary(transitions.map { ($0.provenance.sampleID, $0) }, uniquingKeysWith: { first, _ in first })
                    }
                    guard let t = samples[key]?[r.sample] else { throw AgentError.badStartState(r.sample, reason: "no sample with this id in \(r.data)") }
                    let actionText = r.action ?? t.action.text
                    guard !actionText.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("the action is empty") }
                    counter += 1
                    // A name of its own per prediction: no prediction sees another's steps as memory.
                    batch.append(StepRequest(episode: "predict-\(t.provenance.sampleID)#\(counter)", index: 0, state: t.state0,
                                             action: Action(text: actionText), observed: t.state1, provenance: t.provenance))
                    owners.append(i)
                } catch {
                    answers[i] = .error("\(error)")
                }
            }
            if !batch.isEmpty {
                do {
                    if runtime == nil {
                        runtime = try setup.makeRuntime(worldModel, encoder: encoder, dim: batch[0].state.embeddings.values.first?.dim ?? 768).runtime
                    }
                    for (i, outcome) in zip(owners, try runtime!.step(batch)) {
                        var trace = TraceLine(record: outcome.record)
                        trace.episode = "predict-\(requests[i].sample)"
                        answers[i] = .trace(trace.apiJSON())
                    }
                } catch {
                    for i in owners { answers[i] = .error("\(error)") }
                }
            }
            // One write(2) per batch: the server waits for these lines.
            var out = Data()
            for answer in answers { out += answer.line() + newline }
            FileHandle.standardOutput.write(out)
        }
    }
}

/// Saving predicted states in the formats the readers know.
enum PredictionFile {
    static func write(_ state: State, to url: URL) throws {
        let arrays = state.modalities.map { (name: $0.rawValue, tensor: TensorData(floats: state[$0]!.values, shape: [state[$0]!.dim])) }
        switch url.pathExtension.lowercased() {
        case "npz": try NPZ.write(arrays, to: url)
        case "safetensors": try SafeTensors.write(arrays, to: url)
        case "pt": try TorchFile.save(.dict(arrays.map { (.string($0.name), .tensor($0.tensor, isParameter: false, requiresGrad: false)) }), to: url)
        default: throw ValidationError("--out must end in .npz, .pt or .safetensors (got \(url.lastPathComponent))")
        }
    }
}

/// `worldgpt fork`: a "what if" branch from a stored step with other actions.
struct ForkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fork",
        abstract: "Branch a stored episode at a step and roll it forward with other actions (\"what if\").",
        discussion: """
            The new episode (default name EPISODE~STEP-fork) starts from the input state of step STEP of the \
            stored episode, remembers the steps before it, and runs --actions through the runtime; it is \
            offloaded to the same --db.
            """)

    @OptionGroup var setup: RuntimeSetupOptions
    @Option(name: .long, help: "The branch point, EPISODE:STEP.")
    var from: String
    @Option(name: .long, help: "Action file: one action sentence per line.")
    var actions: String
    @Option(name: .long, help: "Name of the new episode.")
    var name: String?
    @Option(name: .long, help: "Write one JSON line per step here.")
    var trace: String?

    func run() throws {
        guard let db = setup.db else { throw ValidationError("fork needs --db (the memory database holding the episode)") }
        guard EpisodeStores.isPostgres(db) || FileManager.default.fileExists(atPath: db) else {
            throw AgentError.missingFile(kind: "memory database", path: db, hint: "run `worldgpt rollout --db \(db) ...` first")
        }
        let reference = try StepReference(parsing: from)
        guard let index = reference.index else { throw AgentError.badStepReference(from, reason: "no step given") }
        let script = try ActionScript.load(URL(fileURLWithPath: actions))
        let (worldModel, encoder) = try setup.loadModel()
        let (runtime, store) = try setup.makeRuntime(worldModel, encoder: encoder, dim: try EpisodeStores.open(db, readOnly: true).dim)
        guard let store else { throw ValidationError("fork needs --db") }
        let steps = try store.steps(StepReference(episode: reference.episode, index: nil)).map(\.record).sorted { $0.index < $1.index }
        guard let branch = steps.first(where: { $0.index == index }) else {
            throw AgentError.badStepReference(from, reason: "episode \(reference.episode) has no step \(index)")
        }
        let forkName = name ?? "\(reference.episode)~\(index)-fork"
        let history = steps.filter { $0.index < index }.map { record -> StepRecord in
            var r = record
            r.episode = forkName
            return r
        }
        runtime.restore(episode: forkName, steps: history)
        let provenance = branch.provenance.map { Provenance(dataset: $0.dataset, scenario: $0.scenario, sampleID: forkName) }
        var lines: [String] = []
        var state = branch.input
        // Steps of the fork keep the numbering of the episode they branch from.
        for (k, action) in script.actions.enumerated() {
            let request = StepRequest(episode: forkName, index: index + k, state: state, action: Action(text: action), provenance: provenance)
            let outcome = try runtime.step([request])[0]
            state = outcome.record.predicted
            lines.append(TraceLine(record: outcome.record).json())
        }
        try runtime.flush()
        if let trace { try AtomicFile.write(Data((lines.joined(separator: "\n") + "\n").utf8), to: URL(fileURLWithPath: trace)) } else { lines.forEach { print($0) } }
        print("forked \(forkName) from \(from): \(script.actions.count) step(s) offloaded to \(db) (worldgpt memory show \(forkName) --db \(db))")
    }
}

/// `worldgpt samples build`.
struct SamplesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "samples", abstract: "Build retrieval-augmented training samples.", subcommands: [Build.self, Merge.self])

    /// `samples merge OUT IN...`.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Merge sample folders built with `samples build --shard I/N` into one (what the unsharded build writes).")
        @Argument(help: "The merged folder (new or empty).")
        var output: String
        @Argument(help: "The shard folders.")
        var inputs: [String]

        func validate() throws {
            guard !inputs.isEmpty else { throw ValidationError("give the output folder and at least one shard folder") }
        }

        func run() throws {
            let report = try SampleBuilder.merge(inputs.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: output))
            print("merged \(report.samples) samples into \(output)" + (report.duplicates > 0 ? " (\(report.duplicates) found twice, kept once)" : ""))
        }
    }

    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "For each transition: the reflected context from its scenario's knowledge base and its episode's history.",
            discussion: """
                Writes annotations.json (WorldNet entries plus context, history and tensors keys), \
                tensors/<sample>.pt (torch.load(weights_only=True)) and tensors/<sample>.safetensors, and \
                schema.json describing every array. The leakage guard is always on: a sample never sees itself \
                nor later steps of its own episode. Deterministic for a seed.
                """)

        @Option(name: .long, help: "Dataset YAML or SimWorld folder whose transitions become samples.")
        var data: String
        @Option(name: .long, help: "Split of --data: a section of a YAML file, or a folder's <split>.yaml (default train).")
        var split: String?
        @Option(name: .long, help: "Knowledge base: dataset YAML or SimWorld folder (its kb split).")
        var kb: String
        @Option(name: .long, help: "Output folder.")
        var out: String
        @Option(name: .long, help: "History steps per sample, N or LO..HI (the paper: 2..5).")
        var history = "2..5"
        @Option(name: .long, help: "Most context items per sample.")
        var budget = 4
        @Option(name: .long, help: "Only the first N transitions.")
        var limit: Int?
        @Option(name: .long, help: "Seed of the history-length draw.")
        var seed: UInt64 = 0
        @Option(name: .long, help: "Build only shard I of N (1-based, e.g. 2/3): a contiguous range of the samples (of whole packed parts with --pack); `samples merge` joins the shards.")
        var shard: String?
        @Option(name: .long, help: "Also write packed shards of this many samples (packed/part-NNNNN.safetensors + .json; docs/scale.md).")
        var pack: Int?
        @Flag(name: .long, help: "With --pack: skip the per-sample .pt and .safetensors files.")
        var noSampleFiles = false
        @OptionGroup var encoderOptions: ActionEncoderOptions

        func run() throws {
            let shard = try self.shard.map(Shard.init(parsing:)) ?? .whole
            if let pack, pack < 1 { throw ValidationError("--pack must be at least 1") }
            if noSampleFiles, pack == nil { throw ValidationError("--no-sample-files needs --pack N (otherwise nothing would be written)") }
            let parts = history.components(separatedBy: "..")
            guard let lo = Int(parts[0]), let hi = Int(parts.count > 1 ? parts[1] : parts[0]), lo <= hi else {
                throw ValidationError("--history must be N or LO..HI, e.g. 2..5 (got \(history))")
            }
            let started = Date()
            let encoder = try encoderOptions.encoder()
            let cache = encoderOptions.cache(for: encoder)
            let knowledge = try AgentSetup.knowledge(kb, cache: cache)
            let config = try DatasetSources.config(URL(fileURLWithPath: data), split: split, folderSplit: "train")
            var transitions = try TrainingSetup.transitions(config, cache: cache)
            let loadedCount = transitions.count
            try cache.save()
            if let limit { transitions = Array(transitions.prefix(limit)) }
            var filter = RuntimeOptions.defaultFilter
            filter.budget = budget
            let builder = try SampleBuilder(knowledge: knowledge, filter: filter, history: lo...hi, seed: seed)
            let range = SampleBuilder.shardRange(count: transitions.count, shard: shard, packSize: pack)
            let loaded = Date()
            let samples = try builder.build(transitions, range: range) { done, total in
                if done % 100 == 0 || done == total { ProgressLine.update("samples: \(done)/\(total)") }
            }
            ProgressLine.finish()
            let built = Date()
            try SampleBuilder.write(samples, to: URL(fileURLWithPath: out), sampleFiles: !noSampleFiles, packSize: pack)
            let written = Date()
            let kept = samples.map(\.context.count).reduce(0, +)
            print("wrote \(samples.count) samples to \(out) (\(kept) context items, schema in \(out)/schema.json)")
            // Where the time went (scripts/bench-scale.sh reads this line).
            let buildAndWrite = written.timeIntervalSince(loaded)
            FileHandle.standardError.write(Data(String(
                format: "samples build: load %.2f s (knowledge base and %d transitions), build %.2f s, write %.2f s: %.0f samples/s built and written\n",
                loaded.timeIntervalSince(started), loadedCount, built.timeIntervalSince(loaded), written.timeIntervalSince(built),
                Double(samples.count) / max(buildAndWrite, 1e-9)).utf8))
        }
    }
}
