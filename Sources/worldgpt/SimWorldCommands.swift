// `worldgpt simworld ...`: generate a synthetic WorldNet-format world with known oracles.
import Agent
import ArgumentParser
import Formats
import Foundation
import SimWorld

/// `worldgpt simworld` groups the world generator's subcommands.
struct SimWorldCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simworld",
        abstract: "Generate synthetic worlds in WorldNet layout where retrieval and memory measurably matter.",
        subcommands: [Generate.self, Yardstick.self])
}

extension SimWorldCommand {
    /// `worldgpt simworld generate --out DIR ...`.
    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Generate a world: embeddings (.pt), annotation JSON per split, dataset YAMLs and world.json.",
            discussion: """
                Families (--family): spring (objects on springs pushed by actions; the default), plant (tanks, valves, \
                heaters and pumps with hidden decaying actuator activity and delays), ecosystem (coupled populations with \
                a hidden resource, arrivals and crash events). Scenarios differ in their dynamics (in spring: friction, \
                action gain, rotated push direction, which object an action moves; in plant and ecosystem: rewired, \
                reversed and scaled actuators, couplings); hidden state never shows in a single observation. The oracles printed at the end are \
                cosine ×100 on `test`: (a) true dynamics, (b) without the scenario, (c) without history, \
                (e) state+action only, (d) identity. See docs/simworld.md.

                Long horizons: --switch rewire|reverse with --steps 64 gives every episode one hidden switch at a random \
                step in 2…16 (switch_first/switch_last in the config): from then on some named controls act as other \
                controls (rewire) or reversed (reverse), so what an action did long ago, not in the last few steps, \
                says what it does now. The switch is generator-only (world.json); (f) prints what knowing it is worth. \
                Example: worldgpt simworld generate --config examples/simworld-plant-long.yaml --out /tmp/long
                """)

        @Option(name: .long, help: "Output folder (created; existing files with the same names are overwritten).")
        var out: String

        @Option(name: .long, help: "A flat YAML world config (see examples/simworld-*.yaml); flags below override it.")
        var config: String?

        @Option(name: .long, help: "World family: spring (default), plant or ecosystem; overrides the config's `family`.")
        var family: String?

        @Option(name: .long, help: "Number of scenarios, each with its own dynamics (default 16).")
        var scenarios: Int?

        @Option(name: .long, help: "Episodes per scenario (default 200).")
        var episodes: Int?

        @Option(name: .long, help: "Recorded steps per episode; `sequences` are this long (default 7).")
        var steps: Int?

        @Option(name: .long, help: "Random seed; the same seed gives byte-identical output (default 1).")
        var seed: UInt64?

        @Option(name: .long, help: "Hidden switch once per episode: none (default), rewire (controls act as other controls from then on) or reverse (controls act reversed); needs --steps above switch_last (15), e.g. 64.")
        var `switch`: String?

        @Option(name: .long, help: "With --switch: how many controls it touches (0 = all; default 0).")
        var switchControls: Int?

        @Flag(name: .long, help: "Also render mp4/wav/jpg/txt media and take embeddings from the media encoders.")
        var media = false

        @Flag(name: .long, help: "Print no progress on stderr.")
        var quiet = false

        func run() throws {
            var worldConfig = try config.map { try WorldConfig.load(URL(fileURLWithPath: $0)) } ?? WorldConfig()
            if let family { worldConfig.family = family }
            if let scenarios { worldConfig.scenarios = scenarios }
            if let episodes { worldConfig.episodes = episodes }
            if let steps { worldConfig.steps = steps }
            if let seed { worldConfig.seed = seed }
            if media { worldConfig.media = true }
            if let name = self.switch {
                guard let kind = SwitchKind(rawValue: name) else {
                    throw ValidationError("--switch \(name): unknown (known: \(SwitchKind.allCases.map(\.rawValue).joined(separator: ", ")))")
                }
                worldConfig.switchKind = kind
            }
            if let switchControls { worldConfig.switchControls = switchControls }
            try worldConfig.validate()
            let reporter = SimWorldProgressLine(enabled: !quiet)
            let started = Date()
            let summary = try WorldGenerator(worldConfig).generate(to: URL(fileURLWithPath: out)) { phase, fraction in
                reporter.update(phase, fraction)
            }
            reporter.finish()
            print(summary.text(seconds: Date().timeIntervalSince(started)))
        }
    }
}

extension SimWorldCommand {
    /// `worldgpt simworld yardstick --config WORLD.yaml`.
    struct Yardstick: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The \"told the action\" yardstick: ridge baselines given the generator's true action identity (a report only).",
            discussion: """
                Generates the world of --config in memory (nothing is read from or written to disk) and prints mean \
                cosine ×100 on its test split's unimodal modes for identity, ridge (the action sentence's embedding, \
                as the runtime sees it), told ridge (a one-hot of the true action meaning instead) and told \
                ridge+knowledge (plus the mean change of the same scenario's kb transitions of the same true \
                action). Action identities exist only here: the runtime and training never read them. A world with a \
                hidden switch adds told switch ridge (a one-hot of the action the dynamics ran, i.e. told the switch) \
                and a column over the steps after every switch.
                """)

        @Option(name: .long, help: "A flat YAML world config (see examples/simworld-*.yaml).")
        var config: String?
        @Option(name: .long, help: "Random seed (default: the config's).")
        var seed: UInt64?
        @OptionGroup var encoderOptions: ActionEncoderOptions

        func run() throws {
            var worldConfig = try config.map { try WorldConfig.load(URL(fileURLWithPath: $0)) } ?? WorldConfig()
            if let seed { worldConfig.seed = seed }
            try worldConfig.validate()
            let world = try WorldGenerator(worldConfig).generate()
            let encoder = try encoderOptions.encoder()
            let rows = try ToldActionYardstick.measure(world, textEncoder: CachedEmbedder(cache: encoderOptions.cache(for: encoder)))
            let modalities = worldConfig.modalities
            print("test split, unimodal modes, cosine ×100 (actions embedded by \(encoder.name) for `ridge`)")
            let late = worldConfig.switchKind == .none ? [] : ["\(worldConfig.switchLast + 2)–\(worldConfig.steps)"]
            print("variant".padding(toLength: 22, withPad: " ", startingAt: 0) + (modalities.map(\.rawValue) + ["mean"] + late).map { $0.leftPadded(9) }.joined())
            for row in rows {
                var cells = modalities.map { m in row.cosine[m].map { String(format: "%.2f", $0) } ?? "-" } + [String(format: "%.2f", row.mean)]
                if !late.isEmpty { cells.append(row.late.map { String(format: "%.2f", $0) } ?? "-") }
                print(row.name.padding(toLength: 22, withPad: " ", startingAt: 0) + cells.map { $0.leftPadded(9) }.joined())
            }
            if !late.isEmpty {
                print("told switch ridge: the one-hot of the action the dynamics ran (after the hidden switch), the last column over steps \(late[0])")
            }
        }
    }
}

extension String {
    /// Padded on the left to `width` columns (right-aligned).
    fileprivate func leftPadded(_ width: Int) -> String { count >= width ? self : String(repeating: " ", count: width - count) + self }
}

/// A one-line progress display on stderr (only when stderr is a terminal).
final class SimWorldProgressLine: @unchecked Sendable {
    private let enabled: Bool
    private let lock = NSLock()
    private var last = ""

    init(enabled: Bool) { self.enabled = enabled && isatty(2) != 0 }

    func update(_ phase: String, _ fraction: Double) {
        guard enabled else { return }
        let line = "\r\(phase) \(Int((fraction * 100).rounded()))%   "
        lock.lock()
        defer { lock.unlock() }
        if line != last {
            last = line
            FileHandle.standardError.write(Data(line.utf8))
        }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }
}
