// Loading WorldNet subsets into transitions (embeddings from Train_pt/*.pt) and checking them for problems.
import Foundation

/// The WorldNet subsets of a dataset config, loaded as transitions or checked file by file.
public struct WorldNetDataset: Sendable {
    /// The configuration.
    public var config: DatasetConfig

    /// A dataset over `config`.
    public init(config: DatasetConfig) { self.config = config }

    /// Every transition of every subset of `config`, with embeddings read from the `.pt` files.
    public static func load(_ config: DatasetConfig) throws -> [Transition] {
        try WorldNetDataset(config: config).transitions()
    }

    /// Every transition of every subset, in config then annotation order.
    ///
    /// Only the modalities an entry lists in `modality` are loaded (as WorldGPT does); the action embedding is
    /// left empty for a text encoder to fill. Provenance: dataset = the entry's `annotaion_path` as written,
    /// sampleID = the sample index, plus scenario/episode/step when the annotation has them.
    /// - Throws: `FormatError` naming the annotation file and sample index for unsafe paths, missing files or
    ///   embeddings of inconsistent dimension; the `.pt` file for unreadable embeddings.
    public func transitions() throws -> [Transition] {
        var out: [Transition] = []
        var dim: Int?
        for entry in config.datasetList {
            let root = config.rootURL(entry)
            let annotationURL = config.annotationURL(entry)
            let source = annotationURL.path
            for sample in try WorldNetAnnotations.load(annotationURL) {
                func state(_ names: [Modality: String]) throws -> State {
                    var s = State()
                    for m in entry.modalities {
                        guard let name = names[m] else { continue }
                        let url = try WorldNetLayout.checkedEmbeddingURL(root: root, modality: m, name: name, source: source, sample: sample.index)
                        guard FileManager.default.fileExists(atPath: url.path) else {
                            throw FormatError.missingFile(path: source, sample: sample.index, file: url.path)
                        }
                        guard WorldNetLayout.isInside(url, root: root) else {
                            throw FormatError.unsafePath(path: source, sample: sample.index, value: name, reason: "resolves outside the dataset root")
                        }
                        let e = try WorldNetLayout.readEmbedding(url)
                        if let d = dim, d != e.dim {
                            throw FormatError.invalidAnnotation(path: source, sample: sample.index,
                                                                reason: "\(url.path) has dimension \(e.dim), other embeddings have \(d)")
                        }
                        dim = e.dim
                        s[m] = e
                    }
                    return s
                }
                out.append(Transition(
                    state0: try state(sample.state0), action: Action(text: sample.actionText), state1: try state(sample.state1),
                    provenance: Provenance(dataset: entry.annotationPath, scenario: sample.scenario, episode: sample.episode,
                                           step: sample.step, sampleID: String(sample.index))))
            }
        }
        return out
    }

    /// What `check` found in one subset.
    public struct EntryReport: Sendable {
        /// The entry checked.
        public var entry: DatasetEntry
        /// The resolved annotation file.
        public var annotationFile: String
        /// Number of samples read.
        public var samples: Int
        /// Per modality: how many state0/state1 slots name a file.
        public var present: [Modality: Int]
        /// Per modality: how many of those had both the media file and the embedding file.
        public var complete: [Modality: Int]
    }

    /// The result of `check`: per-subset counts and every problem found.
    public struct Report: Sendable {
        /// One report per `dataset_list` entry.
        public var entries: [EntryReport]
        /// Every problem, each naming the annotation file and sample index where there is one.
        public var problems: [FormatError]
        /// True when nothing is wrong.
        public var isOK: Bool { problems.isEmpty }
    }

    /// Checks every subset without stopping at the first problem: annotation files parse, names are safe,
    /// media (`Train/`) and embedding (`Train_pt/`) files exist; with `loadEmbeddings`, each embedding also loads
    /// as a finite vector of one common dimension.
    /// - Parameters:
    ///   - checkMedia: also require the media files (off when only embeddings were shipped).
    ///   - maxProblems: stop listing after this many problems.
    public func check(checkMedia: Bool = true, loadEmbeddings: Bool = false, maxProblems: Int = 1000) -> Report {
        var problems: [FormatError] = []
        var reports: [EntryReport] = []
        var dim: Int?
        func note(_ e: FormatError) { if problems.count < maxProblems { problems.append(e) } }
        for entry in config.datasetList {
            let root = config.rootURL(entry)
            let annotationURL = config.annotationURL(entry)
            let source = annotationURL.path
            var report = EntryReport(entry: entry, annotationFile: source, samples: 0, present: [:], complete: [:])
            var isDirectory: ObjCBool = false
            if !FileManager.default.fileExists(atPath: root.path, isDirectory: &isDirectory) || !isDirectory.boolValue {
                note(.missingFile(path: config.source, sample: nil, file: root.path))
            }
            let samples: [WorldNetSample]
            do { samples = try WorldNetAnnotations.load(annotationURL) } catch let e as FormatError {
                note(e); reports.append(report); continue
            } catch { note(.io(path: source, reason: "\(error)")); reports.append(report); continue }
            report.samples = samples.count
            for sample in samples {
                for names in [sample.state0, sample.state1] {
                    for m in entry.modalities {
                        guard let name = names[m] else { continue }
                        report.present[m, default: 0] += 1
                        do {
                            try WorldNetLayout.validate(name: name, source: source, sample: sample.index)
                        } catch let e as FormatError { note(e); continue } catch { continue }
                        var ok = true
                        var files = [WorldNetLayout.embeddingURL(root: root, modality: m, name: name)]
                        if checkMedia { files.append(WorldNetLayout.mediaURL(root: root, modality: m, name: name)) }
                        for url in files {
                            if !FileManager.default.fileExists(atPath: url.path) {
                                note(.missingFile(path: source, sample: sample.index, file: url.path)); ok = false
                            } else if !WorldNetLayout.isInside(url, root: root) {
                                note(.unsafePath(path: source, sample: sample.index, value: name, reason: "resolves outside the dataset root")); ok = false
                            }
                        }
                        if ok, loadEmbeddings {
                            do {
                                let e = try WorldNetLayout.readEmbedding(files[0])
                                if let d = dim, d != e.dim {
                                    note(.invalidAnnotation(path: source, sample: sample.index, reason: "\(files[0].path) has dimension \(e.dim), others \(d)"))
                                    ok = false
                                }
                                dim = dim ?? e.dim
                            } catch let e as FormatError { note(e); ok = false } catch { ok = false }
                        }
                        if ok { report.complete[m, default: 0] += 1 }
                    }
                }
            }
            reports.append(report)
        }
        return Report(entries: reports, problems: problems)
    }
}
