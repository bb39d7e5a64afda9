// Generates a world in memory (scenarios, episodes, observations, oracles) and writes it to disk.
import Foundation
import Formats

/// Builds a SimWorld from a configuration.
///
/// ```swift
/// let world = try WorldGenerator(config).generate()          // in memory
/// let summary = try WorldGenerator(config).generate(to: dir)  // WorldNet layout on disk
/// ```
public struct WorldGenerator: Sendable {
    /// Called with a phase name and a fraction 0...1 while work is under way.
    public typealias Progress = @Sendable (_ phase: String, _ fraction: Double) -> Void

    /// The configuration.
    public let config: WorldConfig

    /// A generator for `config`.
    public init(_ config: WorldConfig) { self.config = config }

    /// Generates the world in memory, with oracles.
    /// - Throws: `SimWorldError.invalidConfig` when the configuration is out of range, or when it asks for
    ///   media (media are rendered to files and read back: use `generate(to:)`).
    public func generate(progress: Progress? = nil) throws -> GeneratedWorld {
        if config.media {
            throw SimWorldError.invalidConfig(field: "media", reason: "media worlds are rendered to files: use generate(to:)")
        }
        return try build(mediaRoot: nil, progress: progress).world
    }

    /// Simulates, observes (synthetically, or through media files under `mediaRoot`) and measures the oracles.
    func build(mediaRoot: URL?, progress: Progress?) throws -> (world: GeneratedWorld, mediaFiles: Int) {
        try config.validate()
        let family = try WorldFamilies.make(config: config)
        progress?("simulate", 0)
        var episodes = simulateEpisodes(family)
        WorldGenerator.markAbsentModalities(&episodes, config: config)
        var transitions = WorldGenerator.transitions(of: episodes, steps: config.steps)
        WorldGenerator.addKnowledgeNoise(&transitions, episodes: episodes, config: config)
        var maps: [ObservationMap] = []
        var observations: [Modality: [Float]] = [:]
        var mediaFiles = 0
        let observer: any CleanObserver
        if config.media, let mediaRoot {
            let perEpisode = config.steps + 1
            let ids = episodes.map(\.id)
            let names: @Sendable (Modality, Int) -> String = { modality, row in
                "\(ids[row / perEpisode])-t\(row % perEpisode).\(GeneratedWorld.fileExtension(modality))"
            }
            progress?("media", 0)
            (observations, mediaFiles) = try renderAndEncodeMedia(episodes: episodes, names: names, root: mediaRoot, progress: progress)
            observer = MediaObserver(config: config)
        } else {
            maps = config.modalities.map { ObservationMap(modality: $0, config: config, observedSize: family.observedSize) }
            progress?("observe", 0)
            for (i, map) in maps.enumerated() {
                observations[map.modality] = observe(episodes: episodes, map: map)
                progress?("observe", Double(i + 1) / Double(maps.count))
            }
            observer = SyntheticObserver(maps: maps)
        }
        progress?("oracles", 0)
        let oracles = try Oracles.measure(config: config, family: family, observer: observer,
                                          episodes: episodes, transitions: transitions, observations: observations,
                                          progress: progress)
        let world = GeneratedWorld(config: config, family: family, maps: maps, episodes: episodes,
                                   transitions: transitions, observations: observations, oracles: oracles)
        return (world, mediaFiles)
    }

    /// Which split each of a scenario's episodes belongs to: a seeded shuffle cut by the split fractions.
    public static func splitAssignment(scenario: Int, config: WorldConfig) -> [Split] {
        let n = config.episodes
        var order = Array(0..<n)
        var rng = SimRandom(seed: config.seed, purpose: Purpose.split, scenario)
        for i in stride(from: n - 1, to: 0, by: -1) { order.swapAt(i, rng.index(i + 1)) }
        let fractions = [config.trainFraction, config.kbFraction, config.testFraction, config.sequencesFraction]
        var counts = fractions.map { Int(($0 * Double(n)).rounded(.down)) }
        // Hand out the remainder, then make sure every non-empty fraction gets an episode when possible.
        var rest = n - counts.reduce(0, +)
        var k = 0
        while rest > 0 {
            if fractions[k % 4] > 0 { counts[k % 4] += 1; rest -= 1 }
            k += 1
        }
        for i in 0..<4 where counts[i] == 0 && fractions[i] > 0 {
            if let donor = (0..<4).max(by: { counts[$0] < counts[$1] }), counts[donor] > 1 {
                counts[donor] -= 1
                counts[i] += 1
            }
        }
        var result = [Split](repeating: .train, count: n)
        var position = 0
        for (i, split) in Split.allCases.enumerated() {
            for _ in 0..<counts[i] {
                result[order[position]] = split
                position += 1
            }
        }
        return result
    }

    /// The scenarios known only from the knowledge base: `kb_only_scenarios` of them, chosen by the seed.
    public static func knowledgeOnlyScenarios(config: WorldConfig) -> [Int] {
        guard config.kbOnlyScenarios > 0 else { return [] }
        var rng = SimRandom(seed: config.seed, purpose: Purpose.knowledge)
        return WorldFamilies.shuffled(config.scenarios, rng: &rng).prefix(config.kbOnlyScenarios).sorted()
    }

    /// Simulates every episode (warm-up unrecorded, then `steps` recorded actions). Episodes that would go
    /// to `train` in a knowledge-only scenario are not generated; `train` and `kb` sentences use only the
    /// templates not held out.
    func simulateEpisodes(_ family: any WorldFamily) -> [SimEpisode] {
        var episodes: [SimEpisode] = []
        episodes.reserveCapacity(config.scenarios * config.episodes)
        let episodeDigits = max(4, String(config.episodes - 1).count)
        let knowledgeOnly = Set(WorldGenerator.knowledgeOnlyScenarios(config: config))
        let heldOut = Set(PhraseBook.heldOut(count: config.heldoutTemplates, seed: config.seed))
        let allTemplates = Array(0..<family.templateCount)
        let seenTemplates = allTemplates.filter { !heldOut.contains($0) }
        for scenario in 0..<family.scenarioCount {
            let splits = WorldGenerator.splitAssignment(scenario: scenario, config: config)
            for e in 0..<config.episodes {
                if knowledgeOnly.contains(scenario) && splits[e] == .train { continue }
                let templates = splits[e] == .train || splits[e] == .kb ? seenTemplates : allTemplates
                var rng = SimRandom(seed: config.seed, purpose: Purpose.episode, scenario, e)
                let staticAttributes = (0..<config.staticSize).map { _ in rng.gaussian() }
                var state = family.initialState(rng: &rng)
                for _ in 0..<config.warmup {
                    state = family.step(state, action: rng.index(family.actionCount), scenario: scenario)
                }
                var states = [state]
                var actions: [Int] = []
                var sentences: [String] = []
                // Its own random stream: worlds without a switch draw exactly what they drew before.
                let switchEvent = EpisodeSwitch.draw(config: config, family: family, scenario: scenario, episode: e)
                for t in 0..<config.steps {
                    let action = rng.index(family.actionCount)
                    let sentence = family.sentence(action: action, templates: templates, rng: &rng)
                    state = family.step(state, action: switchEvent?.executed(action, at: t) ?? action, scenario: scenario)
                    states.append(state)
                    actions.append(action)
                    sentences.append(sentence)
                }
                let number = String(e)
                let id = "\(WorldFamilies.scenarioName(scenario))-e" + String(repeating: "0", count: max(0, episodeDigits - number.count)) + number
                episodes.append(SimEpisode(
                    id: id, scenario: scenario, indexInScenario: e, split: splits[e],
                    staticAttributes: staticAttributes, states: states, actions: actions, switchEvent: switchEvent, sentences: sentences,
                    firstObservation: episodes.count * (config.steps + 1)))
            }
        }
        return episodes
    }

    /// Leaves one modality out of exactly `round(absent_modality_fraction × episodes)` episodes, chosen
    /// (with the modality) by the seed.
    static func markAbsentModalities(_ episodes: inout [SimEpisode], config: WorldConfig) {
        let count = Int((Double(episodes.count) * config.absentModalityFraction).rounded())
        guard count > 0 else { return }
        var rng = SimRandom(seed: config.seed, purpose: Purpose.absence)
        for e in WorldFamilies.shuffled(episodes.count, rng: &rng).prefix(count) {
            episodes[e].absentModality = config.modalities[rng.index(config.modalities.count)]
        }
    }

    /// Replaces exactly `round(kb_noise × kb entries)` knowledge-base entries, chosen by the seed: even
    /// picks by a transition of another scenario with the same action (wrong label), odd picks (and even
    /// ones with no such transition) by the entry with its state1 swapped for an unrelated state.
    static func addKnowledgeNoise(_ transitions: inout [SimTransition], episodes: [SimEpisode], config: WorldConfig) {
        let kb = transitions.indices.filter { transitions[$0].split == .kb }
        let count = Int((Double(kb.count) * config.kbNoise).rounded())
        guard count > 0 else { return }
        let original = transitions
        var sources: [Int: [Int]] = [:]
        for (i, t) in original.enumerated() where t.split == .train || t.split == .kb { sources[t.action, default: []].append(i) }
        var rng = SimRandom(seed: config.seed, purpose: Purpose.knowledge, 1)
        let perEpisode = config.steps + 1
        for (n, k) in WorldFamilies.shuffled(kb.count, rng: &rng).prefix(count).enumerated() {
            let slot = original[kb[k]]
            let foreign = n % 2 == 0 ? (sources[slot.action] ?? []).filter { original[$0].scenario != slot.scenario } : []
            if !foreign.isEmpty {
                let source = foreign[rng.index(foreign.count)]
                let t = original[source]
                transitions[kb[k]] = SimTransition(
                    episode: slot.episode, step: slot.step, split: .kb, scenario: slot.scenario, observation0: t.observation0,
                    observation1: t.observation1, action: t.action, executedAction: t.executedAction, sentence: t.sentence,
                    noise: .wrongScenario(source: source))
            } else {
                var other = rng.index(episodes.count)
                if other == slot.episode { other = (other + 1) % episodes.count }
                let row = episodes[other].firstObservation + rng.index(perEpisode)
                transitions[kb[k]] = SimTransition(
                    episode: slot.episode, step: slot.step, split: .kb, scenario: slot.scenario, observation0: slot.observation0,
                    observation1: row, action: slot.action, executedAction: slot.executedAction, sentence: slot.sentence,
                    noise: .corruptedState(row: row))
            }
        }
    }

    /// The recorded transitions of `episodes`, in order.
    static func transitions(of episodes: [SimEpisode], steps: Int) -> [SimTransition] {
        var result: [SimTransition] = []
        result.reserveCapacity(episodes.count * steps)
        for (i, episode) in episodes.enumerated() {
            for t in 0..<steps {
                result.append(SimTransition(
                    episode: i, step: t, split: episode.split, scenario: episode.scenario,
                    observation0: episode.firstObservation + t, observation1: episode.firstObservation + t + 1,
                    action: episode.actions[t], executedAction: episode.switchEvent?.executed(episode.actions[t], at: t) ?? episode.actions[t],
                    sentence: episode.sentences[t], noise: nil))
            }
        }
        return result
    }

    /// Observed embeddings of every latent state of every episode through `map` (clean + noise), row-major.
    func observe(episodes: [SimEpisode], map: ObservationMap) -> [Float] {
        let perEpisode = config.steps + 1
        let total = episodes.count * perEpisode
        var result = [Float]()
        result.reserveCapacity(total * map.outputSize)
        let chunk = 2048
        var row = 0
        while row < total {
            let count = min(chunk, total - row)
            var features = [Float](repeating: 0, count: count * map.inputSize)
            for r in 0..<count {
                let global = row + r
                let episode = episodes[global / perEpisode]
                map.features(positions: episode.states[global % perEpisode].positions,
                             staticAttributes: episode.staticAttributes, into: &features, offset: r * map.inputSize)
            }
            var embeddings = map.cleanEmbeddings(features: features, count: count)
            map.addNoise(to: &embeddings, firstRow: row, seed: config.seed)
            result.append(contentsOf: embeddings)
            row += count
        }
        return result
    }
}
