// WorldNet annotation JSON: a list of `{state0, state1, action}` entries, with optional scenario/episode/step
// and any other keys kept as metadata.
import Foundation

/// One WorldNet annotation entry: the file names of each state's modalities and the action sentence.
public struct WorldNetSample: Equatable, Sendable {
    /// The entry's position in its annotation file, counting from 0.
    public var index: Int
    /// File names (relative to `<root>/<modality>/Train`) of the state before the action; absent modalities
    /// (`""` in the file) have no key. For `.text` the value is the file name of a text state too.
    public var state0: [Modality: String]
    /// File names of the state after the action.
    public var state1: [Modality: String]
    /// The action sentence (`action.text`).
    public var actionText: String
    /// The scenario that scopes knowledge retrieval, when the entry has one.
    public var scenario: String?
    /// The episode linking consecutive transitions, when the entry has one.
    public var episode: String?
    /// The step within the episode, when the entry has one.
    public var step: Int?
    /// Every other key of the entry, kept as is. Unknown keys inside `state0`, `state1` and `action` are kept
    /// here as `"state0.<key>"`, `"state1.<key>"`, `"action.<key>"`.
    public var metadata: [String: JSONValue]

    /// A sample.
    public init(index: Int = 0, state0: [Modality: String], state1: [Modality: String], actionText: String,
                scenario: String? = nil, episode: String? = nil, step: Int? = nil, metadata: [String: JSONValue] = [:]) {
        self.index = index
        self.state0 = state0
        self.state1 = state1
        self.actionText = actionText
        self.scenario = scenario
        self.episode = episode
        self.step = step
        self.metadata = metadata
    }
}

/// Reads and writes WorldNet annotation files.
public enum WorldNetAnnotations {
    /// Reads an annotation file: a JSON array of entries (or an object whose `datas` member is that array).
    /// - Throws: `FormatError.invalidAnnotation` naming the file and the sample index for a malformed entry,
    ///   `FormatError.corrupt` for invalid JSON.
    public static func load(_ url: URL) throws -> [WorldNetSample] {
        let data: Data
        do { data = try Data(contentsOf: url) } catch { throw FormatError.io(path: url.path, reason: describeIOError(error)) }
        return try parse(data, path: url.path)
    }

    /// Parses annotation JSON; `path` names it in errors.
    public static func parse(_ data: Data, path: String) throws -> [WorldNetSample] {
        let root = try JSONValue.parse(data, path: path, maxDepth: 64)
        let list: [JSONValue]
        switch root {
        case let .array(a): list = a
        case let .object(o) where o["datas"]?.arrayValue != nil: list = o["datas"]!.arrayValue!
        default: throw FormatError.invalidAnnotation(path: path, sample: nil, reason: "expected a JSON array of entries")
        }
        return try list.enumerated().map { try sample($0.element, index: $0.offset, path: path) }
    }

    static func sample(_ value: JSONValue, index: Int, path: String) throws -> WorldNetSample {
        func bad(_ reason: String) -> FormatError { .invalidAnnotation(path: path, sample: index, reason: reason) }
        guard var object = value.objectValue else { throw bad("entry is not an object") }
        var metadata: [String: JSONValue] = [:]
        func state(_ key: String) throws -> [Modality: String] {
            guard let members = object.removeValue(forKey: key)?.objectValue else { throw bad("missing '\(key)' object") }
            var out: [Modality: String] = [:]
            for (name, v) in members {
                guard let modality = Modality(rawValue: name) else { metadata["\(key).\(name)"] = v; continue }
                switch v {
                case let .string(s): if !s.isEmpty { out[modality] = s }
                case .null: break
                default: throw bad("\(key).\(name) is not a string")
                }
            }
            return out
        }
        let state0 = try state("state0")
        let state1 = try state("state1")
        guard let action = object.removeValue(forKey: "action")?.objectValue else { throw bad("missing 'action' object") }
        guard let text = action["text"]?.stringValue else { throw bad("action.text is missing or not a string") }
        for (k, v) in action where k != "text" { metadata["action.\(k)"] = v }
        var scenario: String?, episode: String?, step: Int?
        if let v = object.removeValue(forKey: "scenario"), v != .null {
            guard let s = v.stringValue else { throw bad("scenario is not a string") }
            scenario = s
        }
        if let v = object.removeValue(forKey: "episode"), v != .null {
            switch v {
            case let .string(s): episode = s
            case let .number(n) where n.rounded() == n && abs(n) < 9e15: episode = String(Int(n))
            default: throw bad("episode is not a string")
            }
        }
        if let v = object.removeValue(forKey: "step"), v != .null {
            guard let n = v.intValue else { throw bad("step is not an integer") }
            step = n
        }
        for (k, v) in object { metadata[k] = v }
        return WorldNetSample(index: index, state0: state0, state1: state1, actionText: text, scenario: scenario,
                              episode: episode, step: step, metadata: metadata)
    }

    /// The JSON object of one sample: all four modalities in each state (`""` when absent), as WorldNet writes them.
    static func json(_ sample: WorldNetSample) -> JSONValue {
        var object: [String: JSONValue] = [:]
        var extras: [String: [String: JSONValue]] = ["state0": [:], "state1": [:], "action": [:]]
        for (k, v) in sample.metadata {
            if let dot = k.firstIndex(of: "."), extras[String(k[..<dot])] != nil {
                extras[String(k[..<dot]), default: [:]][String(k[k.index(after: dot)...])] = v
            } else {
                object[k] = v
            }
        }
        func state(_ s: [Modality: String], _ key: String) -> JSONValue {
            var members = extras[key] ?? [:]
            for m in Modality.allCases { members[m.rawValue] = .string(s[m] ?? "") }
            return .object(members)
        }
        object["state0"] = state(sample.state0, "state0")
        object["state1"] = state(sample.state1, "state1")
        var action = extras["action"] ?? [:]
        action["text"] = .string(sample.actionText)
        object["action"] = .object(action)
        if let s = sample.scenario { object["scenario"] = .string(s) }
        if let e = sample.episode { object["episode"] = .string(e) }
        if let s = sample.step { object["step"] = .number(Double(s)) }
        return .object(object)
    }

    /// Writes samples as a JSON array, one entry per line (keys sorted), atomically.
    public static func write(_ samples: [WorldNetSample], to url: URL) throws {
        var text = "[\n"
        for (i, s) in samples.enumerated() {
            text += json(s).serialized()
            text += i + 1 < samples.count ? ",\n" : "\n"
        }
        text += "]\n"
        try writeFile(Array(text.utf8), to: url)
    }
}
