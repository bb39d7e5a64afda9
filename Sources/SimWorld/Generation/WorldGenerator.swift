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
        let scenarios = Scenario.makeAll(config: config)
        progress?("simulate", 0)
        let episodes = simulateEpisodes(scenarios)
        let transitions = WorldGenerator.transitions(of: episodes, steps: config.steps)
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
            maps = config.modalities.map { ObservationMap(modality: $0, config: config) }
            progress?("observe", 0)
            for (i, map) in maps.enumerated() {
                observations[map.modality] = observe(episodes: episodes, map: map)
                progress?("observe", Double(i + 1) / Double(maps.count))
            }
            observer = SyntheticObserver(maps: maps)
        }
        progress?("oracles", 0)
        let oracles = try Oracles.measure(config: config, scenarios: scenarios, observer: observer,
                                          episodes: episodes, transitions: transitions, observations: observations,
                                          progress: progress)
        let world = GeneratedWorld(config: config, scenarios: scenarios, maps: maps, episodes: episodes,
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

    /// Simulates every episode (warm-up unrecorded, then `steps` recorded actions).
    func simulateEpisodes(_ scenarios: [Scenario]) -> [SimEpisode] {
        var episodes: [SimEpisode] = []
        episodes.reserveCapacity(config.scenarios * config.episodes)
        let objectCount = WorldObject.all.count
        let episodeDigits = max(4, String(config.episodes - 1).count)
        for scenario in scenarios {
            let splits = WorldGenerator.splitAssignment(scenario: scenario.index, config: config)
            for e in 0..<config.episodes {
                var rng = SimRandom(seed: config.seed, purpose: Purpose.episode, scenario.index, e)
                let staticAttributes = (0..<config.staticSize).map { _ in rng.gaussian() }
                var state = LatentState(
                    positions: (0..<(2 * objectCount)).map { _ in rng.gaussian() * config.initialSpread },
                    velocities: [Double](repeating: 0, count: 2 * objectCount))
                for _ in 0..<config.warmup {
                    let meaning = ActionMeaning(id: rng.index(ActionMeaning.count))
                    state = scenario.step(state, action: meaning, spring: config.spring, impulse: config.impulse)
                }
                var states = [state]
                var meanings: [ActionMeaning] = []
                var sentences: [String] = []
                for _ in 0..<config.steps {
                    let meaning = ActionMeaning(id: rng.index(ActionMeaning.count))
                    let sentence = ActionTemplates.sentence(for: meaning, variant: rng.index(ActionTemplates.variantCount))
                    state = scenario.step(state, action: meaning, spring: config.spring, impulse: config.impulse)
                    states.append(state)
                    meanings.append(meaning)
                    sentences.append(sentence)
                }
                let number = String(e)
                let id = "\(scenario.name)-e" + String(repeating: "0", count: max(0, episodeDigits - number.count)) + number
                episodes.append(SimEpisode(
                    id: id, scenario: scenario.index, indexInScenario: e, split: splits[e],
                    staticAttributes: staticAttributes, states: states, actions: meanings, sentences: sentences,
                    firstObservation: episodes.count * (config.steps + 1)))
            }
        }
        return episodes
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
                    meaning: episode.actions[t], sentence: episode.sentences[t]))
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
