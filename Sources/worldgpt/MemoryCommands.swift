// `worldgpt memory …`: inspect, search, export, verify and prune an episode store (thin: Memory does the work).
import Agent
import ArgumentParser
import Foundation
import Encoders
import Formats
import Memory

/// `--db FILE` for every memory subcommand.
struct MemoryStoreOptions: ParsableArguments {
    @Option(name: .long, help: "The episode store: an SQLite file written by rollouts, or postgresql://USER@HOST:PORT/DATABASE (docs/scale.md).")
    var db: String

    /// Opens the store read-only (inspection never writes).
    func openReadOnly() throws -> any EpisodeRepository { try EpisodeStores.open(db, readOnly: true) }
}

/// Prints `value` as pretty JSON on stdout.
func printJSON<T: Encodable>(_ value: T) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    print(String(decoding: try encoder.encode(value), as: UTF8.self))
}

/// True when stderr is a terminal (progress lines go there only then).
var stderrIsTerminal: Bool { isatty(2) != 0 }

/// Writes a line to stderr.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

/// `worldgpt memory`: the inspection CLI of the episode store.
struct MemoryCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "memory",
        abstract: "Inspect the episode store that rollouts offload to (works while a rollout is writing).",
        discussion: """
            Every subcommand takes --db FILE (SQLite; schema: docs/memory.md, also opens with `sqlite3`) or --db \
            postgresql://USER@HOST:PORT/DATABASE (the PostgreSQL backend, run by the worldgpt-pg binary; docs/scale.md).
            """,
        subcommands: [List.self, Show.self, Search.self, Export.self, Stats.self, Verify.self, Prune.self, Merge.self, Watch.self, OffloadLoop.self])

    /// `memory watch`: follows a PostgreSQL store's "step offloaded" notifications (runs `worldgpt-pg listen`).
    struct Watch: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "watch",
            abstract: "Print `FIRST_ID LAST_ID COUNT` for each offload batch committed to a PostgreSQL store (LISTEN/NOTIFY).")
        @Option(name: .long, help: "Stop after this many batches (0 = never).")
        var count = 0
        @Option(name: .long, help: "Stop after this many seconds (0 = never).")
        var timeout: Double = 0
        @OptionGroup var store: MemoryStoreOptions

        func run() throws {
            guard EpisodeStores.isPostgres(store.db) else {
                throw ValidationError("memory watch follows a postgresql:// store (an SQLite file has no notifications; poll `memory stats`)")
            }
            let binary = RemoteEpisodeStore.helperBinary()
            guard FileManager.default.isExecutableFile(atPath: binary.path) else {
                throw ValidationError("memory watch runs \(binary.path), which is not built: `swift build --product worldgpt-pg` (or `make build`)")
            }
            // execv replaces this process, so Ctrl-C reaches the listener directly.
            let argv = [binary.path, "listen", store.db, "--count", String(count), "--timeout", String(timeout)]
            var cArguments = argv.map { strdup($0) } + [nil]
            execv(binary.path, &cArguments)
            throw ValidationError("cannot run \(binary.path): \(String(cString: strerror(errno)))")
        }
    }

    /// `memory merge OUT IN...`.
    struct Merge: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "merge", abstract: "Merge the stores of a sharded rollout (`rollout --shard I/N`) into one new store.",
            discussion: """
                Rows keep their ids, so the merge of all shards is the store of the unsharded run. A step found in \
                several inputs (a retried shard's store beside its earlier attempt's) is kept once; inputs that \
                disagree on an id are refused. OUT must not exist; the inputs are only read. docs/scale.md.
                """)
        @Argument(help: "The new merged store.")
        var destination: String
        @Argument(help: "The shard stores.")
        var inputs: [String]
        @Option(name: .long, help: "Also write the merged rollout trace (JSONL, one line per step in offload order) here.")
        var trace: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard !inputs.isEmpty else { throw ValidationError("give the output store and at least one input store") }
        }

        func run() throws {
            let report: MergeReport
            if ([destination] + inputs).contains(where: EpisodeStores.isPostgres) {
                // Across backends (SQLite ⇄ PostgreSQL): the same rules, through the stores' common operations.
                report = try EpisodeStores.merge(inputs, into: destination)
            } else {
                report = try EpisodeStore.merge(inputs.map { URL(fileURLWithPath: $0) }, into: URL(fileURLWithPath: destination))
            }
            if let trace {
                var lines = Data()
                try EpisodeStores.open(destination, readOnly: true).forEachStep { step in
                    lines.append(Data((TraceLine(record: step.record).json() + "\n").utf8))
                }
                try AtomicFile.write(lines, to: URL(fileURLWithPath: trace))
            }
            if output.json { return try printJSON(report) }
            for input in report.inputs {
                print("\(input.path): \(input.steps) steps" + (input.duplicates > 0 ? " (\(input.duplicates) already in an earlier input, kept once)" : ""))
            }
            print("merged \(report.steps) steps of \(report.episodes) episodes into \(report.output)" + (trace.map { "; trace in \($0)" } ?? ""))
        }
    }

    /// `memory ls`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "ls", abstract: "List the episodes with their step counts.")
        @OptionGroup var store: MemoryStoreOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let episodes = try store.openReadOnly().episodes()
            if output.json { return try printJSON(episodes) }
            print("episode".padding(toLength: 32, withPad: " ", startingAt: 0) + "  steps  first  last  created")
            for e in episodes {
                let created = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: e.createdAt))
                print(e.name.padding(toLength: 32, withPad: " ", startingAt: 0)
                    + String(format: "  %5d  %5@  %4@  %@", e.stepCount, e.firstStep.map(String.init) ?? "-", e.lastStep.map(String.init) ?? "-", created))
            }
        }
    }

    /// `memory show EPISODE[:STEP]`.
    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show", abstract: "Show an episode's steps or one step: action, states, what was retrieved/recalled, reflector decisions.")
        @Argument(help: "EPISODE or EPISODE:STEP (the last colon separates the step index).")
        var reference: String
        @Option(name: .long, help: "Embedding components printed per vector in text mode.")
        var components = 4
        @OptionGroup var store: MemoryStoreOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let steps = try store.openReadOnly().steps(StepReference(parsing: reference))
            if output.json { return try printJSON(steps) }
            for s in steps { print(describe(s, components: components)) }
        }
    }

    /// `memory search`.
    struct Search: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "search",
            abstract: "Recall the stored steps closest to a stored step (--like) or to a sentence (--text).",
            discussion: "Score = state-weight·cos(state) + action-weight·cos(action) + recency-weight·0.5^(steps ago / half-life).")
        @Option(name: .long, help: "Search with this step's input state and action (EPISODE:STEP); the step itself is excluded.")
        var like: String?
        @Option(name: .long, help: "Search with a sentence, embedded by the text encoder, compared with stored text states and actions.")
        var text: String?
        @Option(name: .shortAndLong, help: "Number of steps to return.")
        var k = 5
        @Option(name: .long, help: "Only steps of this episode.")
        var episode: String?
        @Option(name: .long, help: "Weight of the state similarity (default 1 with --like; with --text 1 when the encoder width matches the states, else 0).")
        var stateWeight: Float?
        @Option(name: .long, help: "Weight of the action similarity (default 0 with --like; with --text 1 when the encoder width matches the actions).")
        var actionWeight: Float?
        @Option(name: .long, help: "Text encoder for --text: minilm or hashed (default: MiniLM if installed).")
        var textEncoder: String?
        @Option(name: .long, help: "Weight of the recency term.")
        var recencyWeight: Float = 0
        @Option(name: .long, help: "Steps after which the recency term halves.")
        var halfLife: Float = 50
        @OptionGroup var store: MemoryStoreOptions
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard (like == nil) != (text == nil) else { throw ValidationError("give exactly one of --like EPISODE:STEP or --text \"...\"") }
            guard k >= 1 else { throw ValidationError("-k must be at least 1") }
        }

        func run() throws {
            let db = try store.openReadOnly()
            let query: RecallQuery
            var weights = RecallWeights(state: stateWeight ?? 1, action: actionWeight ?? 0, recency: recencyWeight, halfLife: halfLife)
            if let like {
                let reference = try StepReference(parsing: like)
                guard reference.index != nil else { throw ValidationError("--like needs EPISODE:STEP") }
                let step = try db.steps(reference)[0]
                query = RecallQuery(state: step.record.input, action: step.record.action.embedding, episode: episode, excludedStepIDs: [step.id])
            } else {
                let (q, matchesState, matchesAction) = try TextRecall.query(text ?? "", store: db, encoderKind: textEncoder, episode: episode)
                query = q
                weights.state = stateWeight ?? (matchesState ? 1 : 0)
                weights.action = actionWeight ?? (matchesAction ? 1 : 0)
            }
            let hits = try db.recall(query, k: k, weights: weights)
            if output.json { return try printJSON(hits) }
            print("rank  step                              score   state  action  recency  steps-ago")
            for (rank, h) in hits.enumerated() {
                print(String(format: "%4d  %@  %6.4f  %6.4f  %6.4f  %7.4f  %9lld", rank, "\(h.episode):\(h.index)".padding(toLength: 32, withPad: " ", startingAt: 0),
                             h.score, h.stateSimilarity, h.actionSimilarity, h.recency, h.stepsAgo))
            }
        }
    }

    /// `memory export --out DIR`.
    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "export", abstract: "Write episodes.jsonl, steps.jsonl and one .npy matrix per embedding column into a folder.")
        @Option(name: .long, help: "The output folder (created if missing).")
        var out: String
        @OptionGroup var store: MemoryStoreOptions

        func run() throws {
            let showProgress = stderrIsTerminal
            let n = try store.openReadOnly().export(to: URL(fileURLWithPath: out)) { done, total in
                if showProgress { FileHandle.standardError.write(Data("\rexporting \(done)/\(total) steps".utf8)) }
            }
            if showProgress { printError("") }
            print("exported \(n) steps to \(out)")
        }
    }

    /// `memory stats`.
    struct Stats: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "stats", abstract: "Counts, sizes, dimension and schema version of the store.")
        @OptionGroup var store: MemoryStoreOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let s = try store.openReadOnly().stats()
            if output.json { return try printJSON(s) }
            print("store        \(s.path)")
            print("dimension    \(s.dim)")
            print("migrations   \(s.migrations.joined(separator: ", "))")
            print("episodes     \(s.episodes)")
            print("steps        \(s.steps)")
            print("annotations  \(s.annotations)")
            print("recalls      \(s.recalls)")
            print("file         \(s.fileBytes) bytes (+ \(s.walBytes) bytes WAL)")
            for (column, n) in s.embeddings.sorted(by: { $0.key < $1.key }) { print("  \(column.padding(toLength: 18, withPad: " ", startingAt: 0)) \(n)") }
        }
    }

    /// `memory verify`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify", abstract: "Check integrity, orphan rows, embedding dimensions and NaN; exit status 1 when a problem is found.")
        @OptionGroup var store: MemoryStoreOptions
        @OptionGroup var output: OutputOptions

        func run() throws {
            let report = try store.openReadOnly().verify()
            if output.json { try printJSON(report) } else {
                for p in report.problems { print("problem: \(p)") }
                print(report.isSound ? "ok: \(report.checkedSteps) steps checked" : "\(report.problems.count) problem(s) in \(report.checkedSteps) steps")
            }
            if !report.isSound { throw ExitCode(1) }
        }
    }

    /// `memory prune`.
    struct Prune: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "prune", abstract: "Delete old steps (and what was recalled for them).")
        @Option(name: .long, help: "Keep only the newest N steps of each episode.")
        var keepLast: Int?
        @Option(name: .long, help: "Delete steps created before this date (ISO 8601: 2026-11-25 or 2026-11-25T10:00:00Z).")
        var before: String?
        @OptionGroup var store: MemoryStoreOptions

        func validate() throws {
            guard (keepLast == nil) != (before == nil) else { throw ValidationError("give exactly one of --keep-last N or --before DATE") }
        }

        func run() throws {
            let db = try EpisodeStores.open(store.db)
            let deleted: Int
            if let keepLast {
                deleted = try db.prune(keepLast: keepLast, dryRun: false)
            } else {
                guard let date = parseDate(before ?? "") else { throw ValidationError("--before: `\(before ?? "")` is not an ISO 8601 date") }
                deleted = try db.prune(before: date, dryRun: false)
            }
            print("deleted \(deleted) steps")
        }
    }

    /// Hidden: offloads synthetic steps in a loop and reports each durable commit (the crash-safety test's child).
    struct OffloadLoop: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "offload-loop", abstract: "Offload synthetic steps forever, printing `committed EPISODE LAST` after each commit.",
            shouldDisplay: false)
        @Option(name: .long, help: "Embedding dimension of a new store.")
        var dim = 64
        @Option(name: .long, help: "Steps per transaction.")
        var batch = 16
        @Option(name: .long, help: "Episode to append to (continues after its last step).")
        var episode = "crash"
        @Option(name: .long, help: "Stop after this many steps (0 = never).")
        var maxSteps = 0
        @Flag(name: .long, help: "Load the recall keys first, so every commit is followed by a key-file append.")
        var recallKeys = false
        @OptionGroup var store: MemoryStoreOptions

        func run() throws {
            let db = try EpisodeStores.open(store.db, dim: dim)
            if recallKeys { try (db as? EpisodeStore)?.prepareRecall() }
            var next = (try? db.steps(StepReference(episode: episode, index: nil)).last.map { $0.record.index + 1 }) ?? 0
            var written = 0
            while maxSteps == 0 || written < maxSteps {
                let steps = (next..<(next + batch)).map { SyntheticSteps.step(episode: episode, index: $0, dim: db.dim) }
                try db.append(steps)
                next += batch
                written += batch
                // write(2) directly: the parent must see the line as soon as the commit returned.
                FileHandle.standardOutput.write(Data("committed \(episode) \(next - 1)\n".utf8))
            }
        }
    }
}

/// ISO 8601 date or date-time.
func parseDate(_ text: String) -> Date? {
    let full = ISO8601DateFormatter()
    if let d = full.date(from: text) { return d }
    let day = ISO8601DateFormatter()
    day.formatOptions = [.withFullDate]
    return day.date(from: text)
}

/// A step as readable text.
func describe(_ s: StoredStep, components: Int) -> String {
    let r = s.record
    var lines = ["step \(r.episode):\(r.index)  (id \(s.id), \(ISO8601DateFormatter().string(from: r.timestamp)))", "  action: \(r.action.text)"]
    func vector(_ e: Embedding) -> String {
        let head = e.values.prefix(components).map { String(format: "%.4f", $0) }.joined(separator: ", ")
        return "dim \(e.dim) norm \(String(format: "%.4f", e.norm)) [\(head)\(e.dim > components ? ", …" : "")]"
    }
    if let e = r.action.embedding { lines.append("  action embedding: \(vector(e))") }
    for (role, state) in [("input", r.input), ("predicted", r.predicted), ("observed", r.observed)] where !state.isEmpty {
        lines.append("  \(role):")
        for m in state.modalities { lines.append("    \(m.rawValue.padding(toLength: 6, withPad: " ", startingAt: 0)) \(vector(state[m]!))") }
    }
    if let p = r.provenance { lines.append("  provenance: \(p.dataset) sample \(p.sampleID)" + (p.scenario.map { " scenario \($0)" } ?? "")) }
    if !r.annotations.isEmpty {
        lines.append("  annotations:")
        for a in r.annotations {
            lines.append("    \(a.kind) #\(a.rank) \(a.item)" + (a.score.map { String(format: " score %.4f", $0) } ?? "") + (a.reason.map { " — \($0)" } ?? ""))
        }
    }
    if !s.recalls.isEmpty {
        lines.append("  recalled:")
        for (i, h) in s.recalls.enumerated() {
            lines.append(String(format: "    #%d %@:%d score %.4f = %.2f·state %.4f + %.2f·action %.4f + %.2f·recency %.4f (%lld steps ago)",
                                i, h.episode, h.index, h.score, h.weights.state, h.stateSimilarity, h.weights.action, h.actionSimilarity, h.weights.recency, h.recency, h.stepsAgo))
        }
    }
    return lines.joined(separator: "\n")
}
