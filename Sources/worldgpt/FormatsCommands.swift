// `worldgpt inspect`, `worldgpt convert` and `worldgpt dataset check`: tensor files and WorldNet dataset configs.
import ArgumentParser
import Formats
import Foundation

/// `worldgpt inspect FILE`: the structure of a .pt/.npy/.npz/.safetensors file.
struct InspectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Show what a tensor file holds (.pt/.pth, .npy, .npz, .safetensors).",
        discussion: """
            PyTorch files are read with a restricted unpickler: only tensor/parameter rebuild functions, storage \
            types, OrderedDict and torch dtypes are allowed; anything else is refused and never run. \
            Text output is a tree; --json prints one JSON value mirroring the stored structure (dict → object, \
            list/tuple → array, scalars as themselves, each tensor as {"dtype", "shape", "sum", "head"} with the \
            float64 sum of all elements and the first ≤ 8 elements in row-major order).
            """)

    @Argument(help: "The file to inspect (.pt, .pth, .bin, .npy, .npz or .safetensors; other names are sniffed).")
    var file: String
    @OptionGroup var output: OutputOptions

    func run() throws {
        let url = URL(fileURLWithPath: file)
        let value = try FileInspector.load(url)
        print(output.json ? FileInspector.json(value) : FileInspector.tree(value, name: url.lastPathComponent))
    }
}

/// `worldgpt convert IN OUT`: the tensors of one file written in another format.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Copy the tensors of a .pt/.npy/.npz/.safetensors file into another of these formats.",
        discussion: """
            From .pt to .pt the whole structure is kept (a legacy or foreign file is rewritten in the zip layout \
            torch.load(weights_only=True) reads). Otherwise nested .pt containers become dotted names (a.b.0) and \
            non-tensor values are dropped. The output kind \
            follows OUTPUT's extension: .pt (a state-dict-like dict that torch.load(weights_only=True) reads), \
            .safetensors, .npz, or .npy (exactly one tensor). Values are copied bit for bit.
            """)

    @Argument(help: "The file to read.")
    var input: String
    @Argument(help: "The file to write (.pt, .safetensors, .npz or .npy).")
    var output: String

    func run() throws {
        let inURL = URL(fileURLWithPath: input), outURL = URL(fileURLWithPath: output)
        if try FileInspector.kind(of: inURL) == .torch, ["pt", "pth"].contains(outURL.pathExtension.lowercased()) {
            // .pt to .pt keeps the whole structure (containers, scalars, Parameters).
            let value = try TorchFile.load(inURL)
            try TorchFile.save(value, to: outURL)
            print("wrote \(value.flattenedTensors().count) tensor(s) with their structure to \(output)")
            return
        }
        let tensors = try TensorFiles.read(inURL)
        try TensorFiles.write(tensors, to: outURL)
        print("wrote \(tensors.count) tensor(s) to \(output)")
    }
}

/// `worldgpt dataset …`: WorldNet dataset configs.
struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Check WorldNet datasets described by a WorldGPT dataset YAML.",
        subcommands: [Check.self])
}

extension DatasetCommand {
    /// `worldgpt dataset check CONFIG.yaml`: counts per modality and every missing file or unsafe path.
    struct Check: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Verify every file a dataset YAML refers to; exit status 1 when anything is wrong.",
            discussion: """
                Reads `dataset_list` (root, annotaion_path, modality, weight) from CONFIG.yaml, loads each \
                annotation file and checks, for every state modality the entry lists, that the name is a safe \
                relative path and that <root>/<modality>/Train/<name> and <root>/<modality>/Train_pt/<stem>.pt \
                exist inside the root. Prints per-subset counts and each problem with its annotation file and \
                sample index.
                """)

        @Argument(help: "The dataset YAML (WorldGPT's dataset_list / modality_modes layout).")
        var config: String
        @Option(name: .long, help: "Read dataset_list from this section of the YAML (e.g. train, validation); default: top level, else train.")
        var section: String?
        @Option(name: .long, help: "Resolve relative root and annotaion_path values against this folder instead of the YAML's folder.")
        var base: String?
        @Flag(name: .long, help: "Do not require the media files under Train/ (only the embeddings under Train_pt/).")
        var embeddingsOnly = false
        @Flag(name: .long, help: "Also load every embedding file and check it is a finite vector of one common dimension (slower).")
        var load = false
        @Option(name: .long, help: "List at most this many problems.")
        var maxProblems = 50
        @OptionGroup var output: OutputOptions

        func run() throws {
            let cfg = try DatasetConfig.load(URL(fileURLWithPath: config), section: section, baseDirectory: base.map { URL(fileURLWithPath: $0) })
            let report = WorldNetDataset(config: cfg).check(checkMedia: !embeddingsOnly, loadEmbeddings: load, maxProblems: max(1, maxProblems))
            if output.json {
                let entries: [JSONValue] = report.entries.map { e in
                    .object([
                        "root": .string(e.entry.root), "annotation": .string(e.annotationFile), "samples": .number(Double(e.samples)),
                        "present": .object(Dictionary(uniqueKeysWithValues: e.present.map { ($0.key.rawValue, .number(Double($0.value))) })),
                        "complete": .object(Dictionary(uniqueKeysWithValues: e.complete.map { ($0.key.rawValue, .number(Double($0.value))) })),
                    ])
                }
                let json = JSONValue.object(["ok": .bool(report.isOK), "datasets": .array(entries),
                                             "problems": .array(report.problems.map { .string($0.description) })])
                print(json.serialized(pretty: true))
            } else {
                for e in report.entries {
                    print("\(e.entry.annotationPath): \(e.samples) samples")
                    for m in Modality.allCases where e.present[m] != nil {
                        print("  \(m.rawValue): \(e.present[m] ?? 0) files named, \(e.complete[m] ?? 0) complete")
                    }
                }
                if report.isOK {
                    print("ok: no problems")
                } else {
                    print("\(report.problems.count) problem(s):")
                    for p in report.problems { print("  \(p)") }
                }
            }
            if !report.isOK { throw ExitCode(1) }
        }
    }
}
