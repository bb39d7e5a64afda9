// The schema of world.json: generator parameters, scenarios, actions, splits, oracles and the generator-only
// facts of zoo worlds (action ids per entry, noisy KB entries, absent modalities). Nothing else reads it.
import Foundation
import Formats

/// The contents of `world.json` (encoded with sorted keys, so the file is deterministic).
struct WorldDocument: Encodable {
    /// A family's scenario document, encoded as itself.
    struct ScenarioEntry: Encodable {
        let value: any Encodable & Sendable
        func encode(to encoder: Encoder) throws { try value.encode(to: encoder) }
    }
    struct ObjectEntry: Encodable {
        let colour: String
        let noun: String
    }
    struct SplitEntry: Encodable {
        let name: String
        let episodes: Int
        let transitions: Int
        let annotation: String
        let config: String
    }
    struct ActionsEntry: Encodable {
        let meanings: [String]
        let paraphrasesPerMeaning: Int
        let examples: [String]
    }

    let generator = "worldgpt simworld"
    let formatVersion = 1
    let config: WorldConfig
    let objects: [ObjectEntry]?
    let scenarios: [ScenarioEntry]
    let generatorOnly: GeneratorFacts?
    let actions: ActionsEntry
    let splits: [SplitEntry]
    let oracles: OracleReport
    let embeddingFile: String
    let mediaNames: String

    init(world: GeneratedWorld) {
        config = world.config
        let family = world.family
        objects = family is SpringFamily ? WorldObject.all.map { ObjectEntry(colour: $0.colour, noun: $0.noun) } : nil
        scenarios = family.scenarioDocuments().map { ScenarioEntry(value: $0) }
        actions = ActionsEntry(
            meanings: (0..<family.actionCount).map { family.canonicalSentence(action: $0) },
            paraphrasesPerMeaning: family.paraphrasesPerMeaning, examples: family.exampleSentences())
        generatorOnly = GeneratorFacts.needed(world.config) ? GeneratorFacts(world: world) : nil
        splits = Split.allCases.map { split in
            SplitEntry(name: split.rawValue, episodes: world.episodes.filter { $0.split == split }.count,
                       transitions: world.transitions.filter { $0.split == split }.count,
                       annotation: WorldWriter.annotationPath(split), config: WorldWriter.datasetConfigPath(split))
        }
        oracles = world.oracles
        embeddingFile = "<modality>/Train_pt/<episode>-t<time>.pt: one float32 tensor of shape [dimension], unit norm"
        mediaNames = "<episode>-t<time>.{jpg,mp4,wav,txt}; state1 of step t is state0 of step t+1"
    }
}

/// What only the generator knows about a zoo world (written for spring worlds too when they use a zoo option;
/// a plain spring world's `world.json` is unchanged): the family's sizes, the true action id of every
/// annotation entry per split, the held-out templates, the knowledge-only scenarios, which episodes leave
/// which modality out, and every noisy KB entry.
struct GeneratorFacts: Encodable {
    struct NoiseEntry: Encodable {
        /// Index of the entry in `state/action_kb.json`.
        let index: Int
        /// `wrongScenario` or `corruptedState`.
        let kind: String
        /// wrongScenario: the scenario the transition really comes from; corruptedState: nil.
        let sourceScenario: String?
        /// The media stem of the state that replaced state1 (corruptedState) or of the borrowed state0.
        let sourceState: String
    }
    let family: String
    let observedSize: Int
    let hiddenSize: Int
    let actionCount: Int
    let actionIDs: [String: [Int]]
    let heldOutTemplates: [String]
    let knowledgeOnlyScenarios: [String]
    let absentModalities: [String: String]
    let kbNoise: [NoiseEntry]
    /// Worlds with a hidden switch: each episode's switch (by episode id) and how much of it a window could see.
    let switches: [String: SwitchEntry]?
    let switchStatistics: SwitchStatistics?

    /// One episode's switch: from recorded step `step` (0-based) on, named control `c` works `controls[c]`,
    /// reversed where `reversed[c]`.
    struct SwitchEntry: Encodable {
        let step: Int
        let controls: [Int]
        let reversed: [Bool]
    }

    /// Whether `config` calls for the facts (any family but spring, or any zoo or long-horizon option).
    static func needed(_ config: WorldConfig) -> Bool {
        config.family != "spring" || config.absentModalityFraction > 0 || config.kbOnlyScenarios > 0 || config.kbNoise > 0
            || config.mapDepth != 1 || config.switchKind != .none
    }

    init(world: GeneratedWorld) {
        let family = world.family
        self.family = family.name
        observedSize = family.observedSize
        hiddenSize = family.hiddenSize
        actionCount = family.actionCount
        var ids: [String: [Int]] = [:]
        var noise: [NoiseEntry] = []
        let perEpisode = world.config.steps + 1
        func stem(_ row: Int) -> String { "\(world.episodes[row / perEpisode].id)-t\(row % perEpisode)" }
        for split in Split.allCases {
            let transitions = world.transitions(in: split)
            ids[split.rawValue] = transitions.map(\.action)
            for (index, t) in transitions.enumerated() {
                switch t.noise {
                case .wrongScenario(let source)?:
                    noise.append(NoiseEntry(index: index, kind: "wrongScenario", sourceScenario: world.scenarioName(world.transitions[source].scenario),
                                            sourceState: stem(t.observation0)))
                case .corruptedState(let row)?:
                    noise.append(NoiseEntry(index: index, kind: "corruptedState", sourceScenario: nil, sourceState: stem(row)))
                case nil: break
                }
            }
        }
        actionIDs = ids
        heldOutTemplates = PhraseBook.heldOut(count: world.config.heldoutTemplates, seed: world.config.seed).map { PhraseBook.templates[$0] }
        knowledgeOnlyScenarios = WorldGenerator.knowledgeOnlyScenarios(config: world.config).map { world.scenarioName($0) }
        var absent: [String: String] = [:]
        for e in world.episodes { if let m = e.absentModality { absent[e.id] = m.rawValue } }
        absentModalities = absent
        kbNoise = noise
        if world.config.switchKind != .none {
            var entries: [String: SwitchEntry] = [:]
            for e in world.episodes {
                if let s = e.switchEvent { entries[e.id] = SwitchEntry(step: s.step, controls: s.controls, reversed: s.reversed) }
            }
            switches = entries
        } else {
            switches = nil
        }
        switchStatistics = SwitchStatistics(world)
    }
}

extension Oracles {
    /// Rounds to six decimals for world.json.
    static func round6(_ x: Double) -> Double { (x * 1_000_000).rounded() / 1_000_000 }
}
