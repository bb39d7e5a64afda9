// The generator's parameters: world size, dynamics, observation maps, splits; loadable from a flat YAML file.
import Foundation
import Formats

/// Every parameter of a SimWorld. Defaults give the demo world (16 scenarios, 22,400 transitions).
///
/// The same configuration and seed always produce the same world, byte for byte.
public struct WorldConfig: Equatable, Sendable {
    // MARK: Size
    /// Number of scenarios (each has its own dynamics).
    public var scenarios = 16
    /// Episodes per scenario.
    public var episodes = 200
    /// Recorded transitions per episode (the `sequences` split uses them as 7-step sequences).
    public var steps = 7
    /// Unrecorded steps simulated before recording, so episodes start in motion.
    public var warmup = 3
    /// The seed every random stream derives from.
    public var seed: UInt64 = 1
    /// The world family (`WorldFamilies.names`): `spring` (the original world), `plant`, `ecosystem`.
    public var family = "spring"
    /// Size of the family's latent world: tanks of a plant, species of an ecosystem; 0 picks it by seed
    /// (plant: 3 tanks for odd seeds, 2 for even; ecosystem: 3 species for odd, 4 for even). The spring
    /// family always has three objects.
    public var units = 0

    // MARK: Dynamics (see docs/simworld.md)
    /// Spring constant pulling every object towards the origin (`κ`).
    public var spring = 0.4
    /// Velocity an action adds, before the scenario's gain.
    public var impulse = 0.35
    /// Lower end of the per-scenario action gain range.
    public var gainMin = 0.6
    /// Upper end of the gain range.
    public var gainMax = 1.4
    /// Largest per-scenario rotation of the pushed direction, in radians.
    public var rotationMax = 0.6
    /// Share of scenarios that permute which object an action moves.
    public var swapProbability = 0.3
    /// Lower end of the per-scenario velocity retention (1 − friction) range.
    public var retentionMin = 0.3
    /// Upper end of the retention range.
    public var retentionMax = 0.7
    /// Standard deviation of initial positions.
    public var initialSpread = 0.5
    /// Share of scenarios that reverse some actuators' effect (plant, ecosystem; not spring).
    public var signFlipProbability = 0.25

    // MARK: Observation maps
    /// Embedding dimension (768 as LanguageBind).
    public var dimension = 768
    /// Hidden width of each modality's random map.
    public var hidden = 256
    /// Number of tanh layers of each modality's random map (1 = the original two-layer map).
    public var mapDepth = 1
    /// Size of the per-episode static attribute vector (colours, pitches, background).
    public var staticSize = 16
    /// How strongly positions move the embedding.
    public var positionScale = 13.0
    /// Scale of the pre-activation of the map's tanh layer (small = nearly linear).
    public var preactivationScale = 0.3
    /// Observation noise (norm of the noise added to the unit clean embedding, before the modality factor).
    public var noise = 0.2
    /// Per-modality noise factors, in `Modality.allCases` order (image, video, audio, text).
    public var noiseFactors = [1.0, 1.0, 1.2, 1.3]
    /// The modalities observed and written.
    public var modalities: [Modality] = Modality.allCases
    /// Share of episodes (exactly rounded) in which one modality is absent: `""` in the annotations and no
    /// `.pt` file, as WorldNet marks a missing modality.
    public var absentModalityFraction = 0.0

    // MARK: Language and knowledge
    /// Phrasing templates kept out of `train` and `kb` (they appear only in `test` and `sequences`).
    public var heldoutTemplates = 0
    /// Scenarios absent from `train`: their training share of episodes is not generated, so they are known
    /// only from the knowledge base (and met in `test` and `sequences`).
    public var kbOnlyScenarios = 0
    /// Share of `kb` entries (exactly rounded) replaced by noise: alternately a transition of another
    /// scenario under this scenario's label, and a transition whose state1 is a corrupted (unrelated) state.
    public var kbNoise = 0.0

    // MARK: Long horizons (see docs/simworld.md, "Long episodes with a hidden switch")
    /// A hidden switch every episode undergoes once: `none` (the default), `rewire` (named controls act as other
    /// named controls from the switch on) or `reverse` (named controls act reversed from the switch on).
    public var switchKind = SwitchKind.none
    /// How many of the family's controls the switch touches (0 = all of them).
    public var switchControls = 0
    /// The earliest recorded step (0-based) from which an episode acts switched.
    public var switchFirst = 1
    /// The latest recorded step (0-based) from which an episode acts switched; must be below `steps`.
    public var switchLast = 15

    // MARK: Splits (fractions of each scenario's episodes)
    /// Share of each scenario's episodes in `train`.
    public var trainFraction = 0.6
    /// Share in `kb` (the knowledge base).
    public var kbFraction = 0.2
    /// Share in `test`.
    public var testFraction = 0.1
    /// The rest goes to `sequences`.
    public var sequencesFraction: Double { max(0, 1 - trainFraction - kbFraction - testFraction) }

    // MARK: Oracles and output
    /// Monte-Carlo samples for the no-history and state+action-only oracles.
    public var oracleSamples = 16
    /// Render real media files and take embeddings from the media encoders.
    public var media = false
    /// Video frames per clip (media mode).
    public var videoFrames = 8
    /// Frame width and height in pixels (media mode).
    public var frameSize = 64
    /// Audio clip length in seconds (media mode).
    public var audioSeconds = 0.5
    /// Audio sample rate in Hz (media mode).
    public var sampleRate = 16000

    /// The default configuration.
    public init() {}

    /// Total recorded transitions.
    public var transitionCount: Int { scenarios * episodes * steps }

    /// Throws `SimWorldError.invalidConfig` naming the first field out of range.
    public func validate() throws {
        func check(_ ok: Bool, _ field: String, _ reason: String) throws {
            if !ok { throw SimWorldError.invalidConfig(field: field, reason: reason) }
        }
        try check(scenarios >= 1 && scenarios <= 4096, "scenarios", "must be in 1...4096 (got \(scenarios))")
        try check(episodes >= 1 && episodes <= 1_000_000, "episodes", "must be in 1...1000000 (got \(episodes))")
        try check(steps >= 1 && steps <= 1000, "steps", "must be in 1...1000 (got \(steps))")
        try check(warmup >= 0 && warmup <= 1000, "warmup", "must be in 0...1000 (got \(warmup))")
        try check(dimension >= 8 && dimension <= 8192, "dimension", "must be in 8...8192 (got \(dimension))")
        try check(hidden >= 4 && hidden <= 8192, "hidden", "must be in 4...8192 (got \(hidden))")
        try check(staticSize >= 1 && staticSize <= 1024, "static_size", "must be in 1...1024 (got \(staticSize))")
        if !WorldFamilies.names.contains(family) { throw WorldFamilies.unknown(family) }
        try WorldFamilies.checkUnits(self)
        try check(mapDepth >= 1 && mapDepth <= 4, "map_depth", "must be in 1...4 (got \(mapDepth))")
        try check(absentModalityFraction.isFinite && absentModalityFraction >= 0 && absentModalityFraction <= 0.5,
                  "absent_modality_fraction", "must be in 0...0.5 (got \(absentModalityFraction))")
        try check(absentModalityFraction == 0 || modalities.count > 1, "absent_modality_fraction",
                  "needs at least two modalities (an episode keeps at least one)")
        try check(heldoutTemplates >= 0 && heldoutTemplates <= PhraseBook.maxHeldOut, "heldout_templates",
                  "must be in 0...\(PhraseBook.maxHeldOut) (got \(heldoutTemplates))")
        try check(heldoutTemplates == 0 || family != "spring", "heldout_templates",
                  "the spring family has no templates to hold out; use family \(WorldFamilies.names.dropFirst().joined(separator: " or "))")
        try check(kbOnlyScenarios >= 0 && kbOnlyScenarios < scenarios, "kb_only_scenarios",
                  "must be in 0..<scenarios (got \(kbOnlyScenarios); at least one scenario must be trained on)")
        try check(kbNoise.isFinite && kbNoise >= 0 && kbNoise <= 0.5, "kb_noise", "must be in 0...0.5 (got \(kbNoise))")
        try check(kbNoise == 0 || scenarios >= 2, "kb_noise", "needs at least two scenarios (noise borrows from other scenarios)")
        try check(switchControls >= 0, "switch_controls", "must be ≥ 0 (0 = every control; got \(switchControls))")
        try check(switchFirst >= 0 && switchFirst <= switchLast, "switch_first",
                  "must be in 0...switch_last (got \(switchFirst) with switch_last \(switchLast))")
        try check(switchKind == .none || switchLast < steps, "switch_last",
                  "the switch must happen within the recorded steps: switch_last \(switchLast) needs steps ≥ \(switchLast + 1) "
                      + "(got steps \(steps)); long-horizon worlds use e.g. `steps: 64`")
        try check(switchKind != .rewire || switchControls != 1, "switch_controls",
                  "a rewiring swaps at least two controls (got 1); use 0 for all, or `switch: reverse` for one control")
        try check(!media || switchKind == .none, "switch", "media worlds have no switch")
        try check(!media || family == "spring", "media", "media rendering draws the spring world's objects; family \(family) is synthetic only")
        try check(!media || absentModalityFraction == 0, "absent_modality_fraction", "must be 0 with media (media worlds write every file)")
        for (name, v) in [("spring", spring), ("impulse", impulse), ("gain_min", gainMin), ("gain_max", gainMax),
                          ("rotation_max", rotationMax), ("swap_probability", swapProbability),
                          ("retention_min", retentionMin), ("retention_max", retentionMax),
                          ("initial_spread", initialSpread), ("sign_flip_probability", signFlipProbability),
                          ("position_scale", positionScale),
                          ("preactivation_scale", preactivationScale), ("noise", noise),
                          ("audio_seconds", audioSeconds)] {
            try check(v.isFinite && v >= 0, name, "must be a finite number ≥ 0 (got \(v))")
        }
        try check(gainMin <= gainMax, "gain_min", "must not exceed gain_max")
        try check(retentionMin <= retentionMax && retentionMax < 1, "retention_max", "need retention_min ≤ retention_max < 1")
        try check(swapProbability <= 1, "swap_probability", "must be ≤ 1")
        try check(signFlipProbability <= 1, "sign_flip_probability", "must be ≤ 1")
        try check(spring < 1, "spring", "must be < 1 for stable dynamics")
        try check(noiseFactors.count == Modality.allCases.count && noiseFactors.allSatisfy { $0.isFinite && $0 >= 0 },
                  "noise_factors", "need \(Modality.allCases.count) finite factors ≥ 0 (image, video, audio, text)")
        try check(!modalities.isEmpty && Set(modalities).count == modalities.count, "modalities", "need distinct modalities")
        for (name, v) in [("train_fraction", trainFraction), ("kb_fraction", kbFraction), ("test_fraction", testFraction)] {
            try check(v.isFinite && v >= 0 && v <= 1, name, "must be in 0...1 (got \(v))")
        }
        try check(trainFraction + kbFraction + testFraction <= 1 + 1e-9, "train_fraction",
                  "train + kb + test fractions exceed 1")
        try check(oracleSamples >= 1 && oracleSamples <= 1024, "oracle_samples", "must be in 1...1024")
        try check(videoFrames >= 1 && videoFrames <= 256, "video_frames", "must be in 1...256")
        try check(frameSize >= 16 && frameSize <= 1024 && frameSize % 2 == 0, "frame_size", "must be even, in 16...1024")
        try check(sampleRate >= 8000 && sampleRate <= 96000, "sample_rate", "must be in 8000...96000")
        try check(audioSeconds > 0 && audioSeconds <= 30, "audio_seconds", "must be in (0, 30]")
    }
}

extension WorldConfig {
    /// The keys a config file may set, as written in YAML (snake_case).
    public static let keys: [String] = [
        "scenarios", "episodes", "steps", "warmup", "seed", "spring", "impulse", "gain_min", "gain_max",
        "rotation_max", "swap_probability", "retention_min", "retention_max", "initial_spread", "dimension",
        "hidden", "static_size", "position_scale", "preactivation_scale", "noise", "noise_factors", "modalities",
        "train_fraction", "kb_fraction", "test_fraction", "oracle_samples", "media", "video_frames", "frame_size",
        "audio_seconds", "sample_rate", "family", "units", "sign_flip_probability", "map_depth",
        "absent_modality_fraction", "heldout_templates", "kb_only_scenarios", "kb_noise", "switch", "switch_controls",
        "switch_first", "switch_last",
    ]

    /// Loads a configuration from a flat YAML file of `key: value` lines (comments with `#`).
    ///
    /// Keys not set keep their defaults; lists are written `[a, b, c]`. Unknown keys are an error, so
    /// typos do not pass silently.
    /// - Throws: `SimWorldError.unreadableConfig` naming the file and line, or `.invalidConfig`.
    public static func load(_ url: URL) throws -> WorldConfig {
        let text: String
        do { text = try String(contentsOf: url, encoding: .utf8) } catch {
            throw SimWorldError.unreadableConfig(file: url.path, line: nil, reason: error.localizedDescription)
        }
        return try parse(text, file: url.path)
    }

    /// Parses the flat YAML text of a configuration (see `load`).
    public static func parse(_ text: String, file: String = "<config>") throws -> WorldConfig {
        var config = WorldConfig()
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            var line = Substring(rawLine)
            if let hash = line.firstIndex(of: "#") { line = line[..<hash] }
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            if trimmed.isEmpty || trimmed == "---" { continue }
            guard let colon = trimmed.firstIndex(of: ":") else {
                throw SimWorldError.unreadableConfig(file: file, line: number + 1, reason: "expected `key: value`")
            }
            let key = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
            let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            do {
                try config.set(key, value)
            } catch let error as SimWorldError {
                if case .invalidConfig(let field, let reason) = error {
                    throw SimWorldError.unreadableConfig(file: file, line: number + 1, reason: "\(field): \(reason)")
                }
                throw error
            }
        }
        try config.validate()
        return config
    }

    /// Sets one field from its YAML key and textual value.
    mutating func set(_ key: String, _ value: String) throws {
        func int() throws -> Int {
            guard let v = Int(value) else { throw SimWorldError.invalidConfig(field: key, reason: "expected an integer, got `\(value)`") }
            return v
        }
        func double() throws -> Double {
            guard let v = Double(value), v.isFinite else {
                throw SimWorldError.invalidConfig(field: key, reason: "expected a number, got `\(value)`")
            }
            return v
        }
        func list() -> [String] {
            var v = value
            if v.hasPrefix("[") && v.hasSuffix("]") { v = String(v.dropFirst().dropLast()) }
            return v.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).trimmingCharacters(in: CharacterSet(charactersIn: "'\"")) }
                .filter { !$0.isEmpty }
        }
        switch key {
        case "scenarios": scenarios = try int()
        case "episodes": episodes = try int()
        case "steps": steps = try int()
        case "warmup": warmup = try int()
        case "seed":
            guard let v = UInt64(value) else { throw SimWorldError.invalidConfig(field: key, reason: "expected an unsigned integer, got `\(value)`") }
            seed = v
        case "spring": spring = try double()
        case "impulse": impulse = try double()
        case "gain_min": gainMin = try double()
        case "gain_max": gainMax = try double()
        case "rotation_max": rotationMax = try double()
        case "swap_probability": swapProbability = try double()
        case "retention_min": retentionMin = try double()
        case "retention_max": retentionMax = try double()
        case "initial_spread": initialSpread = try double()
        case "dimension": dimension = try int()
        case "hidden": hidden = try int()
        case "static_size": staticSize = try int()
        case "position_scale": positionScale = try double()
        case "preactivation_scale": preactivationScale = try double()
        case "noise": noise = try double()
        case "noise_factors":
            let items = list()
            let values = items.compactMap(Double.init)
            guard values.count == items.count else { throw SimWorldError.invalidConfig(field: key, reason: "expected a list of numbers") }
            noiseFactors = values
        case "modalities":
            var result: [Modality] = []
            for item in list() {
                guard let m = Modality(rawValue: item) else {
                    throw SimWorldError.invalidConfig(field: key, reason: "unknown modality `\(item)` (image, video, audio, text)")
                }
                result.append(m)
            }
            modalities = result.sorted()
        case "train_fraction": trainFraction = try double()
        case "kb_fraction": kbFraction = try double()
        case "test_fraction": testFraction = try double()
        case "oracle_samples": oracleSamples = try int()
        case "media":
            switch value.lowercased() {
            case "true", "yes", "on": media = true
            case "false", "no", "off": media = false
            default: throw SimWorldError.invalidConfig(field: key, reason: "expected true or false, got `\(value)`")
            }
        case "video_frames": videoFrames = try int()
        case "frame_size": frameSize = try int()
        case "audio_seconds": audioSeconds = try double()
        case "sample_rate": sampleRate = try int()
        case "family":
            let name = value.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            if !WorldFamilies.names.contains(name) { throw WorldFamilies.unknown(name) }
            family = name
        case "units": units = try int()
        case "sign_flip_probability": signFlipProbability = try double()
        case "map_depth": mapDepth = try int()
        case "absent_modality_fraction": absentModalityFraction = try double()
        case "heldout_templates": heldoutTemplates = try int()
        case "kb_only_scenarios": kbOnlyScenarios = try int()
        case "kb_noise": kbNoise = try double()
        case "switch":
            let name = value.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))
            guard let kind = SwitchKind(rawValue: name) else {
                throw SimWorldError.invalidConfig(
                    field: key, reason: "unknown switch `\(name)` (known: \(SwitchKind.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            switchKind = kind
        case "switch_controls": switchControls = try int()
        case "switch_first": switchFirst = try int()
        case "switch_last": switchLast = try int()
        default:
            throw SimWorldError.invalidConfig(field: key, reason: "unknown key (known: \(WorldConfig.keys.joined(separator: ", ")))")
        }
    }
}

extension WorldConfig: Codable {
    enum CodingKeys: String, CodingKey {
        case scenarios, episodes, steps, warmup, seed, family, units, spring, impulse, gainMin, gainMax, rotationMax
        case swapProbability, retentionMin, retentionMax, initialSpread, signFlipProbability, dimension, hidden, mapDepth
        case staticSize, positionScale, preactivationScale, noise, noiseFactors, modalities, absentModalityFraction
        case heldoutTemplates, kbOnlyScenarios, kbNoise, trainFraction, kbFraction, testFraction, oracleSamples, media
        case videoFrames, frameSize, audioSeconds, sampleRate
        case switchKind = "switch", switchControls, switchFirst, switchLast
    }

    /// Decodes a configuration; missing keys keep their defaults.
    public init(from decoder: Decoder) throws {
        self.init()
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func read<T: Decodable>(_ key: CodingKeys, _ value: inout T) throws {
            if let v = try c.decodeIfPresent(T.self, forKey: key) { value = v }
        }
        try read(.scenarios, &scenarios); try read(.episodes, &episodes); try read(.steps, &steps)
        try read(.warmup, &warmup); try read(.seed, &seed); try read(.family, &family); try read(.units, &units)
        try read(.spring, &spring); try read(.impulse, &impulse); try read(.gainMin, &gainMin); try read(.gainMax, &gainMax)
        try read(.rotationMax, &rotationMax); try read(.swapProbability, &swapProbability)
        try read(.retentionMin, &retentionMin); try read(.retentionMax, &retentionMax)
        try read(.initialSpread, &initialSpread); try read(.signFlipProbability, &signFlipProbability)
        try read(.dimension, &dimension); try read(.hidden, &hidden); try read(.mapDepth, &mapDepth)
        try read(.staticSize, &staticSize); try read(.positionScale, &positionScale)
        try read(.preactivationScale, &preactivationScale); try read(.noise, &noise); try read(.noiseFactors, &noiseFactors)
        try read(.modalities, &modalities); try read(.absentModalityFraction, &absentModalityFraction)
        try read(.heldoutTemplates, &heldoutTemplates); try read(.kbOnlyScenarios, &kbOnlyScenarios); try read(.kbNoise, &kbNoise)
        try read(.trainFraction, &trainFraction); try read(.kbFraction, &kbFraction); try read(.testFraction, &testFraction)
        try read(.oracleSamples, &oracleSamples); try read(.media, &media); try read(.videoFrames, &videoFrames)
        try read(.frameSize, &frameSize); try read(.audioSeconds, &audioSeconds); try read(.sampleRate, &sampleRate)
        try read(.switchKind, &switchKind); try read(.switchControls, &switchControls)
        try read(.switchFirst, &switchFirst); try read(.switchLast, &switchLast)
    }

    /// Encodes every original key, and each zoo key (family, sizes, map depth, absences, held-out templates,
    /// KB-only scenarios, KB noise; the switch keys when there is a switch) only when it differs from its default,
    /// so a spring world's `world.json`
    /// is byte-identical to the one written before the zoo existed.
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        let defaults = WorldConfig()
        try c.encode(scenarios, forKey: .scenarios); try c.encode(episodes, forKey: .episodes); try c.encode(steps, forKey: .steps)
        try c.encode(warmup, forKey: .warmup); try c.encode(seed, forKey: .seed)
        try c.encode(spring, forKey: .spring); try c.encode(impulse, forKey: .impulse)
        try c.encode(gainMin, forKey: .gainMin); try c.encode(gainMax, forKey: .gainMax)
        try c.encode(rotationMax, forKey: .rotationMax); try c.encode(swapProbability, forKey: .swapProbability)
        try c.encode(retentionMin, forKey: .retentionMin); try c.encode(retentionMax, forKey: .retentionMax)
        try c.encode(initialSpread, forKey: .initialSpread); try c.encode(dimension, forKey: .dimension)
        try c.encode(hidden, forKey: .hidden); try c.encode(staticSize, forKey: .staticSize)
        try c.encode(positionScale, forKey: .positionScale); try c.encode(preactivationScale, forKey: .preactivationScale)
        try c.encode(noise, forKey: .noise); try c.encode(noiseFactors, forKey: .noiseFactors)
        try c.encode(modalities, forKey: .modalities); try c.encode(trainFraction, forKey: .trainFraction)
        try c.encode(kbFraction, forKey: .kbFraction); try c.encode(testFraction, forKey: .testFraction)
        try c.encode(oracleSamples, forKey: .oracleSamples); try c.encode(media, forKey: .media)
        try c.encode(videoFrames, forKey: .videoFrames); try c.encode(frameSize, forKey: .frameSize)
        try c.encode(audioSeconds, forKey: .audioSeconds); try c.encode(sampleRate, forKey: .sampleRate)
        func optional<T: Encodable & Equatable>(_ value: T, _ fallback: T, _ key: CodingKeys) throws {
            if value != fallback { try c.encode(value, forKey: key) }
        }
        try optional(family, defaults.family, .family); try optional(units, defaults.units, .units)
        try optional(signFlipProbability, defaults.signFlipProbability, .signFlipProbability)
        try optional(mapDepth, defaults.mapDepth, .mapDepth)
        try optional(absentModalityFraction, defaults.absentModalityFraction, .absentModalityFraction)
        try optional(heldoutTemplates, defaults.heldoutTemplates, .heldoutTemplates)
        try optional(kbOnlyScenarios, defaults.kbOnlyScenarios, .kbOnlyScenarios)
        try optional(kbNoise, defaults.kbNoise, .kbNoise)
        if switchKind != .none {
            try c.encode(switchKind, forKey: .switchKind); try c.encode(switchControls, forKey: .switchControls)
            try c.encode(switchFirst, forKey: .switchFirst); try c.encode(switchLast, forKey: .switchLast)
        }
    }
}

/// The hidden switch of a long-horizon world (`switch:` in the config): what happens to the named controls of every
/// episode from its switch step on. Generator-only: the step and the new wiring go to `world.json` alone.
public enum SwitchKind: String, CaseIterable, Codable, Sendable {
    /// No switch (every world before the long-horizon option).
    case none
    /// The named controls touched act as other named controls (a cycle among them): "the panel was re-plugged".
    case rewire
    /// The named controls touched act reversed ("more" does what "less" did).
    case reverse
}
