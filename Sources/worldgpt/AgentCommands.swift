// `worldgpt rollout | predict | fork`: the runtime from the command line. Parsing and printing only.
import Agent
import ArgumentParser
import ContextReflector
import Encoders
import Formats
import Foundation
import Memory
import Retrieval
import Tensor
import WorldModel

/// Options that assemble a runtime: model, knowledge, memory store, reflector, switches.
struct RuntimeSetupOptions: ParsableArguments {
    @Option(name: .long, help: "World model: a checkpoint folder (from `worldgpt train` or `worldgpt train-ridge`), `identity`, `knn`, or http://HOST:PORT (a model served elsewhere, docs/serve.md).")
    var model: String
    @Option(name: .long, help: "Knowledge base: a dataset YAML or SimWorld folder (its `kb` split) whose transitions are retrieved.")
    var kb: String?
    @Option(name: .long, help: "Memory store that every step is offloaded to: an SQLite file (created when missing) or postgresql://USER@HOST:PORT/DATABASE (docs/scale.md).")
    var db: String?
    @Option(name: .long, help: "Learned reflector checkpoint folder (from `worldgpt train-reflector`); without it the filter stage alone runs.")
    var reflector: String?
    @Flag(name: .long, help: "Do not give the model the episode's recent steps.")
    var noMemory = false
    @Flag(name: .long, help: "Do not retrieve knowledge.")
    var noRetrieval = false
    @Flag(name: .long, help: "Skip the reflector's filter stage (the top candidates pass unfiltered; the leakage guard stays on).")
    var noReflector = false
    @Option(name: .long, help: "Recent steps given to the model as memory (the paper uses 2–5).")
    var history = 3
    @Flag(name: .long, help: "Open loop: continue each episode from the model's own prediction even where the data knows the true next state (steps are still scored against it).")
    var noObserve = false
    @Option(name: .long, help: "Candidates retrieved per step before filtering.")
    var retrievalK = RuntimeOptions.defaultRetrievalK
    @Option(name: .long, help: "Most context items the reflector keeps (default 64, the runtime's default filter; the model weights them by retrieval score).")
    var budget: Int?
    @Option(name: .long, help: "The filter's settings (JSON: threshold, duplicate_cosine, mmr_lambda, budget; default: threshold 0.3, no MMR diversity, budget 64); --budget overrides its budget.")
    var filter: String?
    @OptionGroup var threadOptions: ThreadOptions
    @OptionGroup var encoderOptions: ActionEncoderOptions

    /// The runtime options these flags describe.
    func runtimeOptions() throws -> RuntimeOptions {
        var filter = try self.filter.map { try RuntimeFilterFile.load($0) } ?? RuntimeOptions.defaultFilter
        if let budget { filter.budget = budget }
        return RuntimeOptions(memory: !noMemory, retrieval: !noRetrieval, reflector: !noReflector, history: history,
                              retrievalK: retrievalK, filter: filter, observe: !noObserve)
    }

    /// The world model and the action encoder it expects (first step: data is embedded with that encoder).
    func loadModel() throws -> (model: any WorldModel, encoder: ActionEncoder) {
        threadOptions.apply()
        return try AgentSetup.worldModel(model, kb: kb, encoderOptions: encoderOptions)
    }

    /// Builds the runtime around `worldModel`; `dim` is the state dimension (for a new --db store).
    func makeRuntime(_ worldModel: any WorldModel, encoder: ActionEncoder, dim: Int) throws -> (runtime: Runtime, store: (any EpisodeRepository)?) {
        let cache = encoderOptions.cache(for: encoder)
        var knowledge: (any ContextSource)?
        if !noRetrieval, let kb { knowledge = try AgentSetup.knowledge(kb, cache: cache, model: worldModel) }
        var store: (any EpisodeRepository)?
        var memory: WorkingMemory?
        if let db {
            let s = try EpisodeStores.open(db, dim: dim)
            store = s
            memory = WorkingMemory(store: s, window: max(history, 1), batchSize: 256)
        }
        let tokenizer = try reflector.map { try AgentSetup.tokenizer(URL(fileURLWithPath: $0), model: worldModel) }
        let runtime = try Runtime(model: worldModel, textEncoder: CachedEmbedder(cache: cache), memory: memory,
                                  knowledge: knowledge, tokenizer: tokenizer, options: runtimeOptions())
        return (runtime, store)
    }
}

/// An `Embedder` over the action-embedding cache (so repeated action texts are embedded once, across runs).
struct CachedEmbedder: Embedder {
    let cache: ActionEmbeddingCache
    var dim: Int { cache.encoder.dim }
    func embed(_ texts: [String]) throws -> [[Float]] { try cache.embeddings(texts) }
}

/// Loading the runtime's parts from command-line arguments.
enum AgentSetup {
    /// The world model named by `--model`, and the action encoder it expects.
    static func worldModel(_ name: String, kb: String?, encoderOptions: ActionEncoderOptions) throws -> (any WorldModel, ActionEncoder) {
        switch name {
        case "identity":
            return (IdentityModel(), try encoderOptions.encoder())
        case let url where url.hasPrefix("http://") || url.hasPrefix("https://"):
            // A model served elsewhere (docs/serve.md): actions are embedded here, with the encoder options given.
            return (try RemoteWorldModel(url: url), try encoderOptions.encoder())
        case "knn":
            guard let kb else { throw ValidationError("--model knn needs --kb (the transitions it averages)") }
            let encoder = try encoderOptions.encoder()
            let transitions = try knowledgeTransitions(kb, cache: encoderOptions.cache(for: encoder))
            return (try KNNModel(knowledgeBase: transitions, k: 8, scopeToScenario: true), encoder)
        default:
            let url = URL(fileURLWithPath: name)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw AgentError.missingFile(kind: "model checkpoint", path: name, hint: "train one with `worldgpt train` or `worldgpt train-ridge`, or use --model identity")
            }
            let saved = try SavedWorldModel.load(from: url)
            return (saved.model, try encoderOptions.encoder(recorded: saved.actionEncoder))
        }
    }

    /// The path of the `split` data a command needs besides --data: `explicit` (its own option) when given, else --data
    /// when that is a folder (whose `<split>.yaml` the caller reads). A YAML file's siblings are never guessed.
    /// - Throws: `ValidationError` saying what is needed and what was looked for.
    static func split(_ split: String, explicit: String?, option: String, data: String, purpose: String) throws -> String {
        if let explicit { return explicit }
        guard DatasetSources.isFolder(data) else {
            throw ValidationError(
                "\(purpose): give \(option) FILE. --data \(data) is a file, and the \(split) split (\(split).yaml) is looked up only in a folder")
        }
        return data
    }

    /// Transitions of a knowledge dataset (YAML or SimWorld folder, whose `kb` split is used), actions embedded.
    static func knowledgeTransitions(_ path: String, cache: ActionEmbeddingCache) throws -> [Transition] {
        let url = URL(fileURLWithPath: path)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw AgentError.missingFile(kind: "knowledge base", path: path, hint: "give a dataset YAML or a SimWorld folder")
        }
        let config = try DatasetSources.config(url, split: nil, folderSplit: "kb", option: "--kb")
        let transitions = try TrainingSetup.transitions(config, cache: cache)
        try cache.save()
        return transitions
    }

    /// The knowledge source named by `--kb`.
    /// A `.sqlite` file is a knowledge base from `worldgpt kb build`; anything else a dataset loaded into memory.
    /// With a native world `model`, either is searched by the model's own action representation
    /// (`NativeWorldModel.actionKey`, state weight 0), where actions that do the same thing are neighbours whatever
    /// their wording; without one, a base by its stored keys and a dataset by `[state, action embedding]`.
    static func knowledge(_ path: String, cache: ActionEmbeddingCache, model: (any WorldModel)? = nil) throws -> any ContextSource {
        if path.hasSuffix(".sqlite") {
            guard FileManager.default.fileExists(atPath: path) else {
                throw AgentError.missingFile(kind: "knowledge base", path: path, hint: "build it with `worldgpt kb build --data CONFIG.yaml --out \(path)`")
            }
            let base = try KnowledgeBase(url: URL(fileURLWithPath: path))
            if let native = model as? NativeWorldModel {
                return try TransitionContextSource.rekeyed(base, actionKey: { native.actionKey($0) }, actionKeyIsThreadSafe: true)
            }
            return KnowledgeBaseSource(base)
        }
        let transitions = try knowledgeTransitions(path, cache: cache)
        if let native = model as? NativeWorldModel {
            return try TransitionContextSource(transitions: transitions, actionKey: { native.actionKey($0) }, stateWeight: 0, actionKeyIsThreadSafe: true)
        }
        return try TransitionContextSource(transitions: transitions)
    }

    /// The learned reflector stage from a checkpoint folder.
    static func tokenizer(_ url: URL, model: any WorldModel) throws -> any ContextTokenizer {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw AgentError.missingFile(kind: "reflector checkpoint", path: url.path, hint: "train one with `worldgpt train-reflector`")
        }
        guard let native = model as? NativeWorldModel else {
            throw ValidationError("--reflector needs a trained model checkpoint (--model FOLDER): its tokens feed the native world model")
        }
        // `train-reflector --out DIR` writes DIR/reflector.pt: the folder names it too.
        var file = url
        var isFolder: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
            file = url.appendingPathComponent("reflector.pt")
            guard FileManager.default.fileExists(atPath: file.path) else {
                throw AgentError.missingFile(kind: "reflector checkpoint", path: file.path, hint: "give the reflector.pt that `worldgpt train-reflector --out DIR` wrote")
            }
        }
        return LearnedStage(reflector: try LearnedReflector.load(contentsOf: file), stateWidth: native.config.embeddingDimension,
                            actionWidth: native.config.actionDimension)
    }

    /// Plans from a dataset's sequences: the first `episodes` episodes, or the one starting at `start` (a sample id).
    /// `data` is a YAML file (used as it is, or its section `split`) or a folder (its `<split>.yaml`, default sequences).
    static func plans(data: String, split: String?, episodes: Int, start: String?, cache: ActionEmbeddingCache, option: String = "--data") throws -> [EpisodePlan] {
        let config = try DatasetSources.config(URL(fileURLWithPath: data), split: split, folderSplit: "sequences", option: option)
        let transitions = try TrainingSetup.transitions(config, cache: cache)
        try cache.save()
        if let start { return [try EpisodePlans.starting(at: start, in: transitions)] }
        let plans = EpisodePlans.fromSequences(transitions, limit: episodes)
        guard !plans.isEmpty else {
            throw ValidationError("\(config.source) has no episodes (annotation entries need `episode` and `step`)")
        }
        return plans
    }
}

/// `worldgpt rollout`: multi-step rollouts through the runtime, with a JSONL trace.
struct RolloutCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rollout",
        abstract: "Roll a world forward for several steps: recall, retrieve, reflect, predict, offload at every step.",
        discussion: """
            Episodes come either from a dataset's sequences (--data, optionally --start SAMPLE-ID) — then the true \
            next states are known, each step is scored, and the runtime continues from what it observes — or from \
            start files (--start MODALITY=FILE.pt|.npy or media files) with --actions, continuing from its own \
            predictions. With --db, every step is offloaded; the same command run again after a crash resumes \
            from the last stored step and writes the same trace.
            """)

    @OptionGroup var setup: RuntimeSetupOptions
    @Option(name: .long, help: "Dataset YAML or SimWorld folder whose sequences give start states, actions and truths.")
    var data: String?
    @Option(name: .long, help: "Split of --data to take episodes from: a section of a YAML file, or a folder's <split>.yaml (default sequences).")
    var split: String?
    @Option(name: .long, parsing: .upToNextOption, help: "A sample id of --data, or start files: MODALITY=FILE.pt|.npy, or media files.")
    var start: [String] = []
    @Option(name: .long, help: "Action file: one action sentence per line (no blank lines).")
    var actions: String?
    @Option(name: .long, help: "Steps per episode (default: all actions / the whole sequence).")
    var steps: Int?
    @Option(name: .long, help: "Episodes to run from --data.")
    var episodes = 1
    @Option(name: .long, help: "Episode name for a rollout from start files.")
    var episode = "rollout-1"
    @Option(name: .long, help: "Write one JSON line per step here.")
    var trace: String?
    @Option(name: .long, help: "Run only shard I of N (1-based, e.g. 2/3) of the episodes, in lock-step groups of 64; needs --db. `worldgpt memory merge` of the N stores is the unsharded run's store (docs/scale.md).")
    var shard: String?
    @Option(name: .long, help: "Episodes stepped together in one batch (a step's numbers depend on its batch: shards and the unsharded run must use the same value).")
    var groupSize = RolloutDriver.defaultGroupSize

    func run() throws {
        if let steps, steps < 1 { throw ValidationError("--steps must be at least 1") }
        guard groupSize >= 1 else { throw ValidationError("--group-size must be at least 1") }
        let shard = try self.shard.map(Shard.init(parsing:))
        if shard != nil, setup.db == nil {
            throw ValidationError("--shard needs --db FILE.sqlite: the shards' stores are what `worldgpt memory merge` joins")
        }
        let (worldModel, encoder) = try setup.loadModel()
        let cache = setup.encoderOptions.cache(for: encoder)
        var plans: [EpisodePlan]
        if let data {
            plans = try AgentSetup.plans(data: data, split: split, episodes: episodes, start: start.first, cache: cache)
            if let actions {
                let script = try ActionScript.load(URL(fileURLWithPath: actions))
                plans = plans.map { p in
                    EpisodePlan(name: p.name, start: p.start, actions: (0..<(steps ?? p.count)).map { Action(text: script.action(at: $0)) })
                }
            }
        } else {
            guard let actions else { throw ValidationError("give --data (sequences) or --start files with --actions") }
            let script = try ActionScript.load(URL(fileURLWithPath: actions))
            let state = try StartState.load(start)
            plans = [EpisodePlan(name: episode, start: state, actions: (0..<(steps ?? script.actions.count)).map { Action(text: script.action(at: $0)) })]
        }
        let (runtime, store) = try setup.makeRuntime(worldModel, encoder: encoder, dim: plans[0].start.embeddings.values.first?.dim ?? 768)
        var handle: FileHandle?
        if let trace {
            FileManager.default.createFile(atPath: trace, contents: nil)
            handle = try FileHandle(forWritingTo: URL(fileURLWithPath: trace))
        }
        defer { try? handle?.close() }
        var cosines: [Double] = []
        let driver = RolloutDriver(runtime: runtime, store: store, groupSize: groupSize)
        try driver.run(plans, steps: steps, shard: shard, onLine: { line in
            try handle?.write(contentsOf: Data((line.json() + "\n").utf8))
            if !line.cosine.isEmpty { cosines.append(line.cosine.values.reduce(0, +) / Double(line.cosine.count)) }
            if handle == nil { print(line.json()) }
        }, progress: { done, total in ProgressLine.update("rollout: \(done)/\(total) steps") })
        ProgressLine.finish()
        let selected = shard.map { driver.planRange(plans, shard: $0) } ?? plans.indices
        let total = selected.map { min(plans[$0].count, steps ?? plans[$0].count) }.reduce(0, +)
        var summary = (shard.map { "shard \($0): " } ?? "") + "\(selected.count) episode(s), \(total) steps"
        if !cosines.isEmpty { summary += String(format: ", mean cosine ×100 to the truth %.2f", cosines.reduce(0, +) / Double(cosines.count)) }
        if let db = setup.db.map(EpisodeStores.redacted) { summary += "; offloaded to \(db) (inspect: worldgpt memory ls --db \(db))" }
        if let trace { summary += "; trace in \(trace)" }
        print(summary)
    }
}
