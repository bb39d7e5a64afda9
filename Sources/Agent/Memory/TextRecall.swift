// Searching the episode store with a sentence: the one rule both `worldgpt memory search --text` and the HTTP API use.
import Encoders
import Formats
import Memory

/// The recall query of a sentence.
public enum TextRecall {
    /// The sentence's embedding compared with stored actions when the widths match (and with stored states, as a
    /// text-modality state, when those match).
    ///
    /// - Parameters:
    ///   - encoderKind: `minilm` or `hashed`; nil picks MiniLM when installed.
    /// - Returns: the query and which of the state and action keys it can be compared with.
    /// - Throws: `AgentError.invalidOption` when the encoder's width matches neither the states nor the actions.
    public static func query(_ text: String, store: any EpisodeRepository, encoderKind: String?, episode: String?) throws
        -> (query: RecallQuery, matchesState: Bool, matchesAction: Bool)
    {
        let kind = try encoderKind.map { name -> TextEncoderKind in
            guard let kind = TextEncoderKind(rawValue: name) else {
                throw AgentError.invalidOption(name: "text-encoder", reason: "`\(name)` is not one of \(TextEncoderKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
        let encoder = try kind.map { try TextEncoders.make($0) } ?? TextEncoders.default()
        let v = Embedding(try encoder.embed([text])[0])
        let matchesState = v.dim == store.dim, matchesAction = v.dim == store.actionDim
        guard matchesState || matchesAction else {
            throw AgentError.invalidOption(name: "text", reason: "the text encoder gives \(v.dim)-d vectors; the store holds \(store.dim)-d states and \(store.actionDim.map { "\($0)-d" } ?? "no") action embeddings")
        }
        return (RecallQuery(state: matchesState ? State([.text: v]) : State(), action: matchesAction ? v : nil, episode: episode), matchesState, matchesAction)
    }
}
