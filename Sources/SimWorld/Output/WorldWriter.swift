// Writes a generated world to disk in WorldNet layout: .pt embeddings, annotation JSON per split,
// dataset YAMLs and world.json. Output is byte-identical for the same configuration.
import Foundation
import Formats

/// What `WorldGenerator.generate(to:)` produced, for printing and for callers.
public struct GenerationSummary: Sendable {
    /// The output folder.
    public let root: URL
    /// The generated world (in memory).
    public let world: GeneratedWorld
    /// Transitions per split.
    public let splitCounts: [(split: Split, transitions: Int)]
    /// Files written, by kind.
    public let embeddingFiles: Int, mediaFiles: Int
    /// Seconds spent per phase (generate, media, embeddings, annotations).
    public let phaseSeconds: [(phase: String, seconds: Double)]

    /// The summary as printed by the CLI: counts, files, and the oracle table.
    public func text(seconds: Double) -> String {
        var lines: [String] = []
        let c = world.config
        lines.append("SimWorld written to \(root.path)")
        lines.append("  family \(world.family.name): \(c.scenarios) scenarios × \(c.episodes) episodes × \(c.steps) steps = \(world.transitions.count) transitions, seed \(c.seed)")
        lines.append("  splits: " + splitCounts.map { "\($0.split.rawValue) \($0.transitions)" }.joined(separator: ", "))
        lines.append("  files: \(embeddingFiles) embeddings (.pt)" + (mediaFiles > 0 ? ", \(mediaFiles) media" : ""))
        lines.append("  time: " + String(format: "%.1f s", seconds) + " ("
            + phaseSeconds.map { "\($0.phase) " + String(format: "%.1f s", $0.seconds) }.joined(separator: ", ") + ")")
        if let stats = SwitchStatistics(world) {
            lines.append("  switch \(c.switchKind.rawValue) at a step in \(c.switchFirst + 1)…\(c.switchLast + 1) (1-based) of every episode; "
                + String(format: "sequences from step %d: %.0f%% of actions changed; of those, the control was used since the switch "
                         + "within 3 steps %.0f%%, within 16 %.0f%%, earlier in the episode %.0f%%",
                         stats.fromStep, 100 * stats.changed, 100 * stats.seenWithin3, 100 * stats.seenWithin16, 100 * stats.seenEarlier))
        }
        lines.append("")
        lines.append(WorldWriter.oracleTable(world.oracles))
        return lines.joined(separator: "\n")
    }
}

extension WorldGenerator {
    /// Generates the world and writes it under `root` (created if needed).
    ///
    /// Layout: `<modality>/Train_pt/<name>.pt` (one float32 tensor of shape [dimension] each),
    /// `<modality>/Train/<name>` media when `config.media`, `state/action_<split>.json`,
    /// `<split>.yaml` dataset configs, and `world.json`.
    /// - Throws: `SimWorldError` for bad configurations or unwritable output.
    @discardableResult
    public func generate(to root: URL, progress: Progress? = nil) throws -> GenerationSummary {
        var phases: [(String, Double)] = []
        var clock = Date()
        func lap(_ name: String) {
            let now = Date()
            phases.append((name, now.timeIntervalSince(clock)))
            clock = now
        }
        try config.validate()
        try WorldWriter.createFolders(root: root, config: config)
        let (world, mediaFiles) = try build(mediaRoot: config.media ? root : nil, progress: progress)
        lap(config.media ? "media+generate" : "generate")
        let writer = WorldWriter(world: world, root: root)
        let embeddingFiles = try writer.writeEmbeddings(progress: progress)
        lap("embeddings")
        try writer.writeAnnotations()
        try writer.writeDatasetConfigs()
        try writer.writeWorldJSON()
        lap("annotations")
        let counts = Split.allCases.map { split in (split, world.transitions.filter { $0.split == split }.count) }
        return GenerationSummary(root: root, world: world, splitCounts: counts, embeddingFiles: embeddingFiles,
                                 mediaFiles: mediaFiles, phaseSeconds: phases)
    }
}

/// Writes the files of a generated world.
public struct WorldWriter: Sendable {
    /// The world to write.
    public let world: GeneratedWorld
    /// The output folder.
    public let root: URL

    /// A writer of `world` into `root`.
    public init(world: GeneratedWorld, root: URL) {
        self.world = world
        self.root = root
    }

    /// The annotation file of a split, relative to the root: `state/action_<split>.json`.
    public static func annotationPath(_ split: Split) -> String { "state/action_\(split.rawValue).json" }

    /// The dataset YAML of a split, relative to the root: `<split>.yaml`.
    public static func datasetConfigPath(_ split: Split) -> String { "\(split.rawValue).yaml" }

    /// `<root>/<modality>/Train_pt/<stem>.pt`, as `WorldNetLayout` resolves it.
    func embeddingURL(_ modality: Modality, name: String) -> URL {
        WorldNetLayout.embeddingURL(root: root, modality: modality, name: name)
    }

    /// Creates the root and every `<modality>/Train_pt` (and `Train`) folder and `state/`.
    static func createFolders(root: URL, config: WorldConfig) throws {
        var folders = [root, root.appendingPathComponent("state")]
        for m in config.modalities {
            folders.append(root.appendingPathComponent(m.rawValue).appendingPathComponent(WorldNetLayout.embeddingFolder))
            if config.media { folders.append(root.appendingPathComponent(m.rawValue).appendingPathComponent(WorldNetLayout.mediaFolder)) }
        }
        for folder in folders {
            do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw SimWorldError.writeFailed(path: folder.path, reason: error.localizedDescription)
            }
        }
    }

    /// Writes one `.pt` per recorded observation and modality, on all cores; returns the number of files.
    ///
    /// Files are byte-identical to `TorchFile.save` (a tensor of shape [dimension], archive prefix = file
    /// stem). Patched templates do the work; each template is first checked against `TorchFile.save`.
    func writeEmbeddings(progress: WorldGenerator.Progress?) throws -> Int {
        let rows = world.observationCount
        let modalities = world.config.modalities
        let total = rows * modalities.count
        let templates = try verifiedTemplates()
        let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
        let failure = FirstError()
        let done = Counter()
        let written = Counter()
        let world = self.world
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            var own = templates
            var item = worker
            while item < total, !failure.isSet {
                let modality = modalities[item % modalities.count]
                let row = item / modalities.count
                let name = world.mediaName(modality, row: row)
                let url = embeddingURL(modality, name: name)
                // An episode that does not record a modality has no file for it.
                if let values = world.embedding(modality, row: row)?.values {
                    do {
                        let prefix = TensorFileTemplate.prefix(forFileName: name)
                        if var template = own?[prefix.utf8.count] {
                            let bytes = template.archive(values: values, prefix: prefix)
                            own?[prefix.utf8.count] = template
                            try writeFileUnsynced(bytes, to: url.path)
                        } else {
                            let tensor = TensorData(floats: values, shape: [values.count])
                            try TorchFile.save(.tensor(tensor, isParameter: false, requiresGrad: false), to: url)
                        }
                        _ = written.increment()
                    } catch {
                        failure.set(SimWorldError.writeFailed(path: url.path, reason: "\(error)"))
                    }
                }
                let n = done.increment()
                if n % 4096 == 0 { progress?("embeddings", Double(n) / Double(total)) }
                item += workers
            }
        }
        if let error = failure.error { throw error }
        progress?("embeddings", 1)
        return written.value
    }

    /// One template per archive-prefix length used by the world, each checked against `TorchFile.save`
    /// on a real observation; nil (use `TorchFile.save` for every file) if any check fails.
    func verifiedTemplates() throws -> [Int: TensorFileTemplate]? {
        var templates: [Int: TensorFileTemplate] = [:]
        let scratchFolder = root.appendingPathComponent("state")
        for modality in world.config.modalities {
            for row in 0..<world.observationCount {
                let name = world.mediaName(modality, row: row)
                let prefix = TensorFileTemplate.prefix(forFileName: name)
                guard templates[prefix.utf8.count] == nil, let embedding = world.embedding(modality, row: row) else { continue }
                let scratch = scratchFolder.appendingPathComponent(".template-\(prefix.utf8.count).pt")
                guard var template = try TensorFileTemplate(count: world.config.dimension, prefixLength: prefix.utf8.count,
                                                            scratch: scratch) else { return nil }
                let values = embedding.values
                let patched = template.archive(values: values, prefix: prefix)
                let check = scratchFolder.appendingPathComponent(".check.pt")
                try TorchFile.save(.tensor(TensorData(floats: values, shape: [values.count]), isParameter: false,
                                           requiresGrad: false), to: check, prefix: prefix)
                let reference = [UInt8](try Data(contentsOf: check))
                try? FileManager.default.removeItem(at: check)
                guard reference == patched else { return nil }
                templates[prefix.utf8.count] = template
            }
        }
        return templates
    }

    /// Writes `state/action_<split>.json` for every split with `WorldNetAnnotations.write` (WorldNet entries:
    /// all four modalities per state, `""` when absent, plus `scenario`, `episode`, `step`).
    func writeAnnotations() throws {
        for split in Split.allCases {
            let samples = world.transitions.filter { $0.split == split }.enumerated().map { index, t in
                WorldNetSample(index: index, state0: names(row: t.observation0), state1: names(row: t.observation1),
                               actionText: t.sentence, scenario: world.scenarioName(t.scenario),
                               episode: world.episodes[t.episode].id, step: t.step)
            }
            let url = root.appendingPathComponent(WorldWriter.annotationPath(split))
            do { try WorldNetAnnotations.write(samples, to: url) } catch {
                throw SimWorldError.writeFailed(path: url.path, reason: "\(error)")
            }
        }
    }

    /// The media names of the observation at `row`, per recorded modality.
    func names(row: Int) -> [Modality: String] {
        var names: [Modality: String] = [:]
        for m in world.config.modalities where world.isPresent(m, row: row) { names[m] = world.mediaName(m, row: row) }
        return names
    }

    /// Writes `<split>.yaml` for every split with `DatasetConfig.write`: `dataset_list` (this root, the
    /// split's annotations, the modalities) and `modality_modes` (every unimodal, cross-modal pair and
    /// all-to-all mode).
    func writeDatasetConfigs() throws {
        let modes = WorldWriter.modalityModes(world.config.modalities)
        for split in Split.allCases {
            let config = DatasetConfig(
                datasetList: [DatasetEntry(root: ".", annotationPath: WorldWriter.annotationPath(split),
                                           modalities: world.config.modalities, weight: 1)],
                modalityModes: modes, baseDirectory: root)
            let url = root.appendingPathComponent(WorldWriter.datasetConfigPath(split))
            do { try config.write(to: url) } catch {
                throw SimWorldError.writeFailed(path: url.path, reason: "\(error)")
            }
        }
    }

    /// The task modes of a world: single-unimodal, single-cross, then all-to-all (WorldGPT's progressive stages).
    public static func modalityModes(_ modalities: [Modality]) -> [ModalityMode] {
        var modes: [ModalityMode] = []
        for m in modalities { modes.append(ModalityMode(inputs: [m], targets: [m], weight: 1)) }
        for a in modalities { for b in modalities where a != b { modes.append(ModalityMode(inputs: [a], targets: [b], weight: 0.25)) } }
        if modalities.count > 1 { modes.append(ModalityMode(inputs: modalities, targets: modalities, weight: 1)) }
        return modes
    }

    /// Writes `world.json`: configuration, scenarios, actions, splits, and oracles.
    func writeWorldJSON() throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let document = WorldDocument(world: world)
        let data: Data
        do { data = try encoder.encode(document) } catch {
            throw SimWorldError.writeFailed(path: root.appendingPathComponent("world.json").path, reason: "\(error)")
        }
        try write(String(decoding: data, as: UTF8.self) + "\n", to: root.appendingPathComponent("world.json"))
    }

    /// The oracle table as printed by the CLI.
    public static func oracleTable(_ report: OracleReport) -> String {
        func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
        func lpad(_ s: String, _ n: Int) -> String { s.count >= n ? s : String(repeating: " ", count: n - s.count) + s }
        func f(_ x: Double) -> String { lpad(String(format: "%.2f", x), 8) }
        var lines = ["Oracles: cosine ×100 on test (\(report.testTransitions) transitions)"]
        lines.append(pad("modality", 9) + lpad("(a) true", 9) + lpad("(b) -scen", 10) + lpad("(c) -hist", 10)
            + lpad("(e) s+a", 9) + lpad("(d) ident", 10))
        let rows = report.perModality.map { ($0.modality.rawValue, $0.figures) } + [("mean", report.mean)]
        for (name, o) in rows {
            lines.append(pad(name, 9) + " " + f(o.trueDynamics) + "  " + f(o.noScenario) + "  " + f(o.noHistory)
                + " " + f(o.stateActionOnly) + "  " + f(o.identity))
        }
        let m = report.mean
        lines.append(String(format: "gaps (mean): a−b %.2f, a−c %.2f, a−d %.2f, e−d %.2f",
                            m.trueDynamics - m.noScenario, m.trueDynamics - m.noHistory,
                            m.trueDynamics - m.identity, m.stateActionOnly - m.identity))
        if let f = m.unswitched {
            lines.append(String(format: "switch: (f) everything known but the switch %.2f (a−f %.2f)", f, m.trueDynamics - f))
        }
        if let late = report.late {
            lines.append(String(format: "  from step %d on (%d test transitions, every episode switched): (a) %.2f, (f) %.2f, a−f %.2f",
                                late.fromStep, late.transitions, late.trueDynamics, late.unswitched, late.trueDynamics - late.unswitched))
        }
        return lines.joined(separator: "\n")
    }

    /// Writes UTF-8 text to `url`, converting failures to `SimWorldError.writeFailed`.
    func write(_ text: String, to url: URL) throws {
        do { try AtomicFile.write(Data(text.utf8), to: url) } catch {
            throw SimWorldError.writeFailed(path: url.path, reason: error.localizedDescription)
        }
    }
}

/// The first error raised by any worker.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Error?
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return stored != nil }
    var error: Error? { lock.lock(); defer { lock.unlock() }; return stored }
    func set(_ error: Error) { lock.lock(); if stored == nil { stored = error }; lock.unlock() }
}

/// A shared counter.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var count = 0
    func increment() -> Int { lock.lock(); defer { lock.unlock() }; count += 1; return count }
    var value: Int { lock.lock(); defer { lock.unlock() }; return count }
}
