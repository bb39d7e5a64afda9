// `worldgpt embed`: sentence embeddings from the command line (MiniLM or the hashed fallback), printed as JSON or saved as .npy.
import ArgumentParser
import Encoders
import Formats
import Foundation
import Tensor

/// Embeds sentences given as arguments or as the lines of a file.
struct EmbedCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Turn sentences into sentence embeddings (all-MiniLM-L6-v2, 384-d, unit length).",
        discussion: """
            Sentences come from the arguments or from --file (one sentence per line; an empty line is an empty \
            sentence). Without --out the embeddings are printed as JSON {"model", "dim", "embeddings"}; with --out \
            they are written as a float32 .npy array of shape [sentences, dim]. MiniLM's files (config.json, \
            vocab.txt, model.safetensors) are looked for in --model-dir, else $WORLDGPT_MINILM_DIR, else \
            ~/.cache/worldgpt/minilm (`make setup` installs them). Without --model the hashed encoder is used, \
            with a warning, only when those files are absent.
            """)

    @Option(help: "Encoder: minilm or hashed (default: minilm when its weights are installed, else hashed).")
    var model: String?

    @Option(help: "Folder holding MiniLM's config.json, vocab.txt and model.safetensors.")
    var modelDir: String?

    @Option(help: "Output width of the hashed encoder.")
    var dim = 384

    @Option(help: "A UTF-8 text file with one sentence per line.")
    var file: String?

    @Option(help: "Write the embeddings to this .npy file instead of printing JSON.")
    var out: String?

    @OptionGroup var threadOptions: ThreadOptions

    @Argument(help: "Sentences to embed (ignored when --file is given).")
    var text: [String] = []

    func validate() throws {
        if let model, TextEncoderKind(rawValue: model) == nil { throw ValidationError("--model must be minilm or hashed, got \(model)") }
        if file == nil && text.isEmpty { throw ValidationError("give sentences as arguments or with --file") }
        if dim < 1 { throw ValidationError("--dim must be at least 1") }
    }

    func run() throws {
        threadOptions.apply()
        let directory = modelDir.map { URL(fileURLWithPath: $0) }
        let sentences = try file.map { try TextEncoders.sentences(fromFile: URL(fileURLWithPath: $0)) } ?? text
        let encoder: any Embedder
        if let model, let kind = TextEncoderKind(rawValue: model) {
            encoder = try TextEncoders.make(kind, modelDirectory: directory, hashedDimension: dim)
        } else {
            encoder = try TextEncoders.default(modelDirectory: directory)
        }
        let showProgress = isatty(2) != 0 && sentences.count > 64
        let vectors: [[Float]]
        if let minilm = encoder as? MiniLMEncoder {
            vectors = try minilm.embed(sentences) { done, total in
                if showProgress { FileHandle.standardError.write(Data("\rembedding \(done)/\(total)".utf8)) }
            }
            if showProgress { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            vectors = try encoder.embed(sentences)
        }
        let name = encoder is MiniLMEncoder ? "minilm" : "hashed"
        if let out {
            let flat = vectors.flatMap { $0 }
            try NPY.write(TensorData(floats: flat, shape: [vectors.count, encoder.dim]), to: URL(fileURLWithPath: out))
            print("wrote \(vectors.count) × \(encoder.dim) \(name) embeddings to \(out)")
        } else {
            let rows = vectors.map { "[" + $0.map { "\($0)" }.joined(separator: ",") + "]" }
            print("{\"model\":\"\(name)\",\"dim\":\(encoder.dim),\"embeddings\":[\(rows.joined(separator: ",\n"))]}")
        }
    }
}
