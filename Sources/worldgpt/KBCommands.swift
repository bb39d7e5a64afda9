// `worldgpt kb build|search`: a knowledge base of transitions from a WorldNet dataset, searched by similarity.
import ArgumentParser
import Encoders
import Formats
import Foundation
import Retrieval

/// `worldgpt kb`.
struct KBCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kb",
        abstract: "Build and search a knowledge base of transitions (state0, action, state1) keyed by embedding similarity.",
        discussion: "Layout: docs/memory.md. Keys: state = avg(state0) normalised, action = action embedding, both = the two concatenated.",
        subcommands: [Build.self, Search.self])

    /// `kb build`.
    struct Build: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "build", abstract: "Build a knowledge base from the WorldNet dataset(s) of a YAML config.")
        @Option(name: .long, help: "Dataset YAML (dataset_list with root, annotaion_path, modality).")
        var data: String
        @Option(name: .long, help: "Section of the YAML to read (e.g. kb, train); default: top level, else train.")
        var section: String?
        @Option(name: .long, help: "The knowledge base file to write (replaced if present).")
        var out: String
        @Option(name: .long, help: "Key: state (avg of state0), action (action text embedding) or both.")
        var key: String = "state"
        @Option(name: .long, help: "Text encoder for actions: minilm or hashed (default: MiniLM if installed, else hashed).")
        var textEncoder: String?

        func validate() throws {
            guard KnowledgeKey(rawValue: key) != nil else { throw ValidationError("--key must be state, action or both") }
            if let textEncoder, TextEncoderKind(rawValue: textEncoder) == nil { throw ValidationError("--text-encoder must be minilm or hashed") }
        }

        func run() throws {
            let config = try DatasetConfig.load(URL(fileURLWithPath: data), section: section)
            var transitions = try WorldNetDataset.load(config)
            let encoder = try textEncoder.flatMap(TextEncoderKind.init(rawValue:)).map { try TextEncoders.make($0) } ?? TextEncoders.default()
            let texts = transitions.map(\.action.text)
            var done = 0
            while done < texts.count {  // batches of 256 keep memory flat; progress on a terminal
                let end = min(done + 256, texts.count)
                let vectors = try encoder.embed(Array(texts[done..<end]))
                for i in done..<end { transitions[i].action.embedding = Embedding(vectors[i - done]) }
                done = end
                if stderrIsTerminal { FileHandle.standardError.write(Data("\rembedding actions \(done)/\(texts.count)".utf8)) }
            }
            if stderrIsTerminal { printError("") }
            let kb = try KnowledgeBase.build(transitions, keyMode: KnowledgeKey(rawValue: key)!, at: URL(fileURLWithPath: out))
            print("wrote \(kb.count) transitions to \(out) (state dim \(kb.dim), action dim \(kb.actionDim), key \(kb.keyMode.rawValue))")
        }
    }

    /// `kb search`.
    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search", abstract: "The transitions most similar to a stored one (--like ID) or to an action sentence (--text, action key).")
        @Option(name: .long, help: "The knowledge base file.")
        var kb: String
        @Option(name: .long, help: "Query with entry ID's state0 and action; the entry itself is excluded (no leakage).")
        var like: Int64?
        @Option(name: .long, help: "Query with a sentence embedded as an action (knowledge bases keyed by action).")
        var text: String?
        @Option(name: .shortAndLong, help: "Number of transitions to return.")
        var k = 5
        @Option(name: .long, help: "Only transitions of this scenario.")
        var scenario: String?
        @Option(name: .long, help: "Only transitions of this episode.")
        var episode: String?
        @Option(name: .long, parsing: .upToNextOption, help: "Only transitions whose state0 has these modalities (image video audio text).")
        var modality: [String] = []
        @Option(name: .long, help: "Text encoder for --text: minilm or hashed (must be the one the KB was built with).")
        var textEncoder: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (like == nil) != (text == nil) else { throw ValidationError("give exactly one of --like ID or --text \"...\"") }
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
            for m in modality where Modality(rawValue: m) == nil { throw ValidationError("unknown modality \(m)") }
        }

        func run() throws {
            let base = try KnowledgeBase(url: URL(fileURLWithPath: kb))
            var filter = KnowledgeFilter(scenario: scenario, episode: episode, modalities: Set(modality.compactMap(Modality.init(rawValue:))))
            let hits: [KnowledgeHit]
            if let like {
                let t = try base.transition(id: like)
                filter.excludedIDs = [like]
                hits = try base.search(state: t.state0, action: t.action.embedding, k: k, filter: filter)
            } else {
                let encoder = try textEncoder.flatMap(TextEncoderKind.init(rawValue:)).map { try TextEncoders.make($0) } ?? TextEncoders.default()
                let v = try encoder.embed([text ?? ""])[0]
                hits = try base.search(state: State(), action: Embedding(v), k: k, filter: filter)
            }
            if output.json {
                return try printJSON(hits.map { KBHitJSON(id: $0.id, score: $0.score, dataset: $0.transition.provenance.dataset, scenario: $0.transition.provenance.scenario, sample: $0.transition.provenance.sampleID, action: $0.transition.action.text, modalities: $0.transition.state0.modalities.map(\.rawValue)) })
            }
            print("rank  id      score   scenario        sample      action")
            for (rank, h) in hits.enumerated() {
                let p = h.transition.provenance
                print(String(format: "%4d  %-6lld  %.4f  ", rank, h.id, h.score) + (p.scenario ?? "-").padding(toLength: 14, withPad: " ", startingAt: 0)
                      + "  " + p.sampleID.padding(toLength: 10, withPad: " ", startingAt: 0) + "  " + h.transition.action.text)
            }
        }
    }
}

/// One `kb search --json` hit.
struct KBHitJSON: Codable {
    var id: Int64
    var score: Float
    var dataset: String
    var scenario: String?
    var sample: String
    var action: String
    var modalities: [String]
}
