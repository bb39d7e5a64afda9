// Merging sample folders built by `samples build --shard i/n` into the folder the unsharded build writes.
import Foundation

extension SampleBuilder {
    /// What `merge` did.
    public struct MergeReport: Equatable, Sendable {
        /// Samples in the merged folder.
        public var samples: Int
        /// Samples found in more than one input (identical files, kept once).
        public var duplicates: Int
    }

    /// Merges sample folders (each with `annotations.json`, `schema.json`, `tensors/`) into `output`: entries in
    /// sample order, tensor files copied. A sample present in several inputs must be identical in all (entry and
    /// files); it is kept once. The result is byte for byte what one unsharded `samples build` writes.
    /// - Throws: `AgentError.mergeConflict` for a missing or malformed input, a different schema, or two inputs that
    ///   disagree on a sample; `AgentError.invalidOption` when `output` is a non-empty folder.
    public static func merge(_ inputs: [URL], into output: URL) throws -> MergeReport {
        guard !inputs.isEmpty else { throw AgentError.invalidOption(name: "merge", reason: "give at least one sample folder") }
        let fm = FileManager.default
        if let existing = try? fm.contentsOfDirectory(atPath: output.path), !existing.isEmpty {
            throw AgentError.invalidOption(name: "out", reason: "\(output.path) is not empty; merge into a new folder")
        }
        var entries: [Int: (entry: [String: Any], source: URL, json: Data)] = [:]
        var duplicates = 0
        for input in inputs {
            let schemaFile = input.appendingPathComponent("schema.json")
            guard let schemaText = try? String(contentsOf: schemaFile, encoding: .utf8) else {
                throw AgentError.mergeConflict(path: input.path, reason: "no schema.json: not a folder written by `worldgpt samples build`")
            }
            guard schemaText == schema else {
                throw AgentError.mergeConflict(path: schemaFile.path, reason: "written by another version of `samples build` (schema differs)")
            }
            let file = input.appendingPathComponent("annotations.json")
            let list: [[String: Any]]
            do {
                guard let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: file)) as? [[String: Any]] else {
                    throw AgentError.mergeConflict(path: file.path, reason: "not a JSON list of sample entries")
                }
                list = parsed
            } catch let error as AgentError { throw error } catch {
                throw AgentError.mergeConflict(path: file.path, reason: "cannot read: \(error.localizedDescription)")
            }
            for entry in list {
                guard let index = entry["index"] as? Int else {
                    throw AgentError.mergeConflict(path: file.path, reason: "an entry has no `index` (written by an older `samples build`?)")
                }
                let stem = entry["tensors"] as? String
                let json = try JSONSerialization.data(withJSONObject: entry, options: [.sortedKeys])
                if let earlier = entries[index] {
                    for suffix in stem == nil ? [] : [".pt", ".safetensors"] {
                        let stem = stem ?? ""
                        let a = try? Data(contentsOf: earlier.source.appendingPathComponent("tensors/\(stem)\(suffix)"))
                        let b = try? Data(contentsOf: input.appendingPathComponent("tensors/\(stem)\(suffix)"))
                        guard a != nil, a == b else {
                            throw AgentError.mergeConflict(path: input.path, reason: "\(stem)\(suffix) differs from (or is missing beside) the one in \(earlier.source.path)")
                        }
                    }
                    guard earlier.json == json else {
                        throw AgentError.mergeConflict(path: file.path, reason: "the entry of sample \(index) differs from the one in \(earlier.source.path)")
                    }
                    duplicates += 1
                    continue
                }
                entries[index] = (entry, input, json)
            }
        }
        let tensors = output.appendingPathComponent("tensors"), packed = output.appendingPathComponent("packed")
        let ordered = entries.keys.sorted()
        var parts: [String: URL] = [:]  // packed part → the input it is copied from
        for index in ordered {
            let (entry, source, _) = entries[index]!  // a key of `entries`
            if let part = (entry["packed"] as? [String: Any])?["part"] as? String {
                if let earlier = parts[part], earlier != source {
                    for suffix in [".safetensors", ".json"] {
                        let a = try? Data(contentsOf: earlier.appendingPathComponent("packed/\(part)\(suffix)"))
                        guard a != nil, a == (try? Data(contentsOf: source.appendingPathComponent("packed/\(part)\(suffix)"))) else {
                            throw AgentError.mergeConflict(path: source.path, reason: "packed/\(part)\(suffix) differs from the one in \(earlier.path) (shards must be cut at part boundaries: give both builds the same --pack)")
                        }
                    }
                } else if parts[part] == nil {
                    parts[part] = source
                }
            }
            guard let stem = entry["tensors"] as? String else { continue }
            try fm.createDirectory(at: tensors, withIntermediateDirectories: true)
            for suffix in [".pt", ".safetensors"] {
                let from = source.appendingPathComponent("tensors/\(stem)\(suffix)"), to = tensors.appendingPathComponent(stem + suffix)
                // A copy, not a hard link: a shard rebuilt in place must not change the merged folder.
                do { try fm.copyItem(at: from, to: to) } catch {
                    throw AgentError.mergeConflict(path: from.path, reason: "cannot copy into \(to.path): \(error.localizedDescription)")
                }
            }
        }
        for (part, source) in parts.sorted(by: { $0.key < $1.key }) {
            try fm.createDirectory(at: packed, withIntermediateDirectories: true)
            for suffix in [".safetensors", ".json"] {
                let from = source.appendingPathComponent("packed/\(part)\(suffix)")
                do { try fm.copyItem(at: from, to: packed.appendingPathComponent(part + suffix)) } catch {
                    throw AgentError.mergeConflict(path: from.path, reason: "cannot copy: \(error.localizedDescription)")
                }
            }
        }
        try writeIndex(ordered.map { entries[$0]!.entry }, to: output)
        return MergeReport(samples: ordered.count, duplicates: duplicates)
    }
}
