// WorldGPT dataset configuration YAML: `dataset_list` (root, annotaion_path (sic), modality, weight) and
// `modality_modes` (inputs, targets, weight), at the top level or inside a `train:`/`validation:` section.
import Foundation
import Yams

/// One `dataset_list` entry: a WorldNet subset.
public struct DatasetEntry: Equatable, Sendable {
    /// The subset root as written (relative paths resolve against the config's base directory).
    public var root: String
    /// The annotation JSON path as written (key `annotaion_path`, spelled as in WorldGPT).
    public var annotationPath: String
    /// The modalities the subset provides.
    public var modalities: [Modality]
    /// The sampling weight (1 when the file gives none).
    public var weight: Double

    /// An entry.
    public init(root: String, annotationPath: String, modalities: [Modality], weight: Double = 1) {
        self.root = root
        self.annotationPath = annotationPath
        self.modalities = modalities
        self.weight = weight
    }
}

/// One `modality_modes` entry: which modalities go in and which are predicted.
public struct ModalityMode: Equatable, Sendable {
    /// Input modalities.
    public var inputs: [Modality]
    /// Target modalities.
    public var targets: [Modality]
    /// The sampling weight (1 when the file gives none).
    public var weight: Double

    /// A mode.
    public init(inputs: [Modality], targets: [Modality], weight: Double = 1) {
        self.inputs = inputs
        self.targets = targets
        self.weight = weight
    }
}

/// A dataset configuration as in WorldGPT's `config/train.yaml`.
public struct DatasetConfig: Equatable, Sendable {
    /// The subsets.
    public var datasetList: [DatasetEntry]
    /// The task modes.
    public var modalityModes: [ModalityMode]
    /// The folder relative `root` and `annotaion_path` values resolve against (the YAML file's folder by default).
    public var baseDirectory: URL
    /// The file the config came from, for error messages.
    public var source: String

    /// A config.
    public init(datasetList: [DatasetEntry], modalityModes: [ModalityMode], baseDirectory: URL, source: String = "<memory>") {
        self.datasetList = datasetList
        self.modalityModes = modalityModes
        self.baseDirectory = baseDirectory
        self.source = source
    }

    /// Equal when the entries, modes and base directory are (the source file name does not matter).
    public static func == (lhs: DatasetConfig, rhs: DatasetConfig) -> Bool {
        lhs.datasetList == rhs.datasetList && lhs.modalityModes == rhs.modalityModes
            && lhs.baseDirectory.standardizedFileURL.path == rhs.baseDirectory.standardizedFileURL.path
    }

    /// The resolved root folder of `entry`.
    public func rootURL(_ entry: DatasetEntry) -> URL { resolve(entry.root) }

    /// The resolved annotation file of `entry`.
    public func annotationURL(_ entry: DatasetEntry) -> URL { resolve(entry.annotationPath) }

    private func resolve(_ path: String) -> URL {
        if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL }
        if path.hasPrefix("~/") { return URL(fileURLWithPath: NSString(string: path).expandingTildeInPath).standardizedFileURL }
        return baseDirectory.appendingPathComponent(path).standardizedFileURL
    }

    /// Loads a config. `dataset_list` is taken from the top level, or from `section` (for example `train` or
    /// `validation`), or, when no section is named and the top level has none, from `train` or the first
    /// section that has one.
    /// - Parameters:
    ///   - baseDirectory: where relative paths resolve; the YAML file's folder by default.
    /// - Throws: `FormatError.invalidConfig` naming the file and the offending field.
    public static func load(_ url: URL, section: String? = nil, baseDirectory: URL? = nil) throws -> DatasetConfig {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw FormatError.io(path: url.path, reason: describeIOError(error))
        }
        return try parse(text, source: url.path, section: section,
                         baseDirectory: baseDirectory ?? url.deletingLastPathComponent())
    }

    /// Parses YAML text.
    public static func parse(_ text: String, source: String, section: String? = nil, baseDirectory: URL) throws -> DatasetConfig {
        func bad(_ reason: String) -> FormatError { .invalidConfig(path: source, reason: reason) }
        try checkNesting(text, bad)
        let node: Node?
        do { node = try Yams.compose(yaml: text) } catch { throw bad("YAML syntax: \(String(describing: error).prefix(300))") }
        guard let root = node?.mapping else { throw bad("top level is not a mapping") }
        var body = root
        if let section {
            guard let s = root[section]?.mapping else { throw bad("no section '\(section)'") }
            body = s
        } else if root["dataset_list"] == nil {
            if let s = root["train"]?.mapping, s["dataset_list"] != nil {
                body = s
            } else if let s = root.first(where: { $0.value.mapping?["dataset_list"] != nil })?.value.mapping {
                body = s
            } else {
                throw bad("no dataset_list")
            }
        }
        guard let list = body["dataset_list"]?.sequence else { throw bad("dataset_list is not a list") }
        var entries: [DatasetEntry] = []
        for (i, item) in list.enumerated() {
            guard let m = item.mapping else { throw bad("dataset_list[\(i)] is not a mapping") }
            guard let rootPath = m["root"]?.string, !rootPath.isEmpty else { throw bad("dataset_list[\(i)].root is missing") }
            guard let annotation = (m["annotaion_path"] ?? m["annotation_path"])?.string, !annotation.isEmpty else {
                throw bad("dataset_list[\(i)].annotaion_path is missing")
            }
            let modalities = try modalityList(m["modality"], "dataset_list[\(i)].modality", bad)
            let weight = try number(m["weight"], "dataset_list[\(i)].weight", bad)
            entries.append(DatasetEntry(root: rootPath, annotationPath: annotation, modalities: modalities, weight: weight))
        }
        var modes: [ModalityMode] = []
        if let seq = body["modality_modes"] {
            guard let list = seq.sequence else { throw bad("modality_modes is not a list") }
            for (i, item) in list.enumerated() {
                guard let m = item.mapping else { throw bad("modality_modes[\(i)] is not a mapping") }
                let inputs = try modalityList(m["inputs"], "modality_modes[\(i)].inputs", bad)
                let targets = try modalityList(m["targets"], "modality_modes[\(i)].targets", bad)
                guard !inputs.isEmpty, !targets.isEmpty else { throw bad("modality_modes[\(i)] has no inputs or no targets") }
                modes.append(ModalityMode(inputs: inputs, targets: targets, weight: try number(m["weight"], "modality_modes[\(i)].weight", bad)))
            }
        }
        return DatasetConfig(datasetList: entries, modalityModes: modes, baseDirectory: baseDirectory, source: source)
    }

    /// Refuses pathological nesting before the YAML parser (which recurses) sees it: flow collections deeper
    /// than 64 levels or lines indented by more than 512 columns.
    private static func checkNesting(_ text: String, _ bad: (String) -> FormatError) throws {
        var depth = 0, indent = 0, atLineStart = true
        var quote: UInt8?
        for b in text.utf8 {
            if b == 0x0A { atLineStart = true; indent = 0; quote = nil; continue }
            if atLineStart {
                if b == 0x20 { indent += 1; if indent > 512 { throw bad("indentation deeper than 512 columns") }; continue }
                atLineStart = false
            }
            if let q = quote { if b == q { quote = nil }; continue }
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "'"): quote = b
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                if depth > 64 { throw bad("collections nested deeper than 64 levels") }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth = max(0, depth - 1)
            default: break
            }
        }
    }

    private static func modalityList(_ node: Node?, _ field: String, _ bad: (String) -> FormatError) throws -> [Modality] {
        guard let node else { throw bad("\(field) is missing") }
        let items: [Node]
        if let seq = node.sequence { items = Array(seq) } else if node.scalar != nil { items = [node] } else { throw bad("\(field) is not a list") }
        return try items.map { item in
            guard let s = item.string, let m = Modality(rawValue: s) else { throw bad("\(field): unknown modality '\(item.string ?? "?")'") }
            return m
        }
    }

    private static func number(_ node: Node?, _ field: String, _ bad: (String) -> FormatError) throws -> Double {
        guard let node else { return 1 }
        guard let s = node.scalar?.string, let v = Double(s), v.isFinite, v >= 0 else { throw bad("\(field) is not a non-negative number") }
        return v
    }

    /// The YAML text of this config (top-level `dataset_list` and `modality_modes`).
    public func yaml() -> String {
        func q(_ s: String) -> String {
            // Double-quoted YAML scalar.
            "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
        func list(_ ms: [Modality]) -> String { "[" + ms.map { q($0.rawValue) }.joined(separator: ", ") + "]" }
        var out = "dataset_list:\n"
        if datasetList.isEmpty { out = "dataset_list: []\n" }
        for e in datasetList {
            out += "  - root: \(q(e.root))\n"
            out += "    annotaion_path: \(q(e.annotationPath))\n"
            out += "    modality: \(list(e.modalities))\n"
            out += "    weight: \(e.weight)\n"
        }
        out += modalityModes.isEmpty ? "modality_modes: []\n" : "modality_modes:\n"
        for m in modalityModes {
            out += "  - inputs: \(list(m.inputs))\n"
            out += "    targets: \(list(m.targets))\n"
            out += "    weight: \(m.weight)\n"
        }
        return out
    }

    /// Writes the YAML text of this config atomically.
    public func write(to url: URL) throws {
        try writeFile(Array(yaml().utf8), to: url)
    }
}
