// The schema of world.json: generator parameters, scenarios, actions, splits and oracles.
import Foundation
import Formats

/// The contents of `world.json` (encoded with sorted keys, so the file is deterministic).
struct WorldDocument: Encodable {
    struct ScenarioEntry: Encodable {
        let name: String
        let retention: Double
        let gain: Double
        let rotation: Double
        let permutation: [Int]
        let summary: String
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
    let objects: [ObjectEntry]
    let scenarios: [ScenarioEntry]
    let actions: ActionsEntry
    let splits: [SplitEntry]
    let oracles: OracleReport
    let embeddingFile: String
    let mediaNames: String

    init(world: GeneratedWorld) {
        config = world.config
        objects = WorldObject.all.map { ObjectEntry(colour: $0.colour, noun: $0.noun) }
        scenarios = world.scenarios.map {
            ScenarioEntry(name: $0.name, retention: Oracles.round6($0.retention), gain: Oracles.round6($0.gain),
                          rotation: Oracles.round6($0.rotation), permutation: $0.permutation, summary: $0.summary)
        }
        let meanings = (0..<ActionMeaning.count).map { ActionMeaning(id: $0) }
        actions = ActionsEntry(
            meanings: meanings.map(\.canonicalSentence), paraphrasesPerMeaning: ActionTemplates.variantCount,
            examples: Array(ActionTemplates.paraphrases(of: meanings[0]).prefix(8)))
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

extension Oracles {
    /// Rounds to six decimals for world.json.
    static func round6(_ x: Double) -> Double { (x * 1_000_000).rounded() / 1_000_000 }
}
