// The in-memory world: scenarios, episodes with their latent trajectories, observations, transitions, splits.
import Foundation
import Formats

/// The splits of a world, as in WorldGPT's WorldNet use.
public enum Split: String, CaseIterable, Sendable, Codable {
    /// Training transitions.
    case train
    /// The per-scenario knowledge base: retrieved from, never trained on.
    case kb
    /// Held-out transitions for one-step evaluation; the oracles are measured here.
    case test
    /// Held-out episodes read as whole `steps`-long sequences, for memory and rollout evaluation.
    case sequences
}

/// One episode: a scenario, fixed static attributes, and its latent trajectory under a list of actions.
public struct SimEpisode: Sendable {
    /// `s03-e0042`.
    public let id: String
    /// Scenario index.
    public let scenario: Int
    /// Episode index within its scenario.
    public let indexInScenario: Int
    /// The split the whole episode belongs to.
    public let split: Split
    /// Static attributes (colour shades, pitches, background), seen by every observation.
    public let staticAttributes: [Double]
    /// `steps + 1` latent states: states[t] before action t, states[t+1] after.
    public let states: [LatentState]
    /// The action id of each recorded action, as its sentence names it (generator-only: `ActionMeaning.id` in the
    /// spring family).
    public let actions: [Int]
    /// The hidden switch of a long-horizon world (nil without `switch:`); from its step on, the dynamics run
    /// `switchEvent.executed(action, at: t)` instead of the named action.
    public let switchEvent: EpisodeSwitch?
    /// The sentence of each recorded action (a paraphrase of its meaning).
    public let sentences: [String]
    /// Row of `states[0]`'s observation in the world's observation matrices.
    public let firstObservation: Int
    /// The modality this episode does not record (`""` in its annotations, no `.pt`), if any.
    public internal(set) var absentModality: Modality? = nil
}

/// How a noisy knowledge-base entry was corrupted (generator-only; listed in `world.json`).
public enum KnowledgeNoise: Equatable, Sendable {
    /// The entry is transition `source` (an index into `GeneratedWorld.transitions`) of another scenario,
    /// written under this scenario's label.
    case wrongScenario(source: Int)
    /// The entry's state1 is observation row `row`, an unrelated state.
    case corruptedState(row: Int)
}

/// One recorded transition, pointing into its episode and the observation matrices.
public struct SimTransition: Sendable {
    /// Index of the episode in `GeneratedWorld.episodes`.
    public let episode: Int
    /// Step within the episode (0-based).
    public let step: Int
    /// The split (the episode's).
    public let split: Split
    /// Scenario index.
    public let scenario: Int
    /// Observation rows of state0 and state1.
    public let observation0: Int, observation1: Int
    /// The action id (generator-only) and how it was phrased.
    public let action: Int
    /// The action the dynamics ran: `action`, unless the episode's hidden switch changed it (generator-only).
    public let executedAction: Int
    /// The action sentence as written in the annotations.
    public let sentence: String
    /// For a noisy `kb` entry, how it was corrupted; nil for every faithful transition.
    public let noise: KnowledgeNoise?
}

/// A complete generated world in memory: everything the writer puts on disk, plus the latent truth.
///
/// Library users (world model, agent, tests) can use it directly instead of reading the files back.
public struct GeneratedWorld: Sendable {
    /// The configuration it was generated from.
    public let config: WorldConfig
    /// The family whose dynamics the world follows (its scenarios and hidden parameters).
    public let family: any WorldFamily
    /// The observation maps, one per modality in `config.modalities`.
    public let maps: [ObservationMap]
    /// All episodes, scenario-major.
    public let episodes: [SimEpisode]
    /// All transitions, in episode then step order.
    public let transitions: [SimTransition]
    /// Observed (noisy, unit) embeddings per modality: `observationCount × dimension` row-major.
    public let observations: [Modality: [Float]]
    /// The oracle figures on `test`.
    public let oracles: OracleReport

    /// Number of observation rows (episodes × (steps + 1)).
    public var observationCount: Int { episodes.count * (config.steps + 1) }

    /// The name of scenario `index` in the annotations (`s03`).
    public func scenarioName(_ index: Int) -> String { WorldFamilies.scenarioName(index) }

    /// Whether the observation at `row` records `modality` (its episode may leave one modality out).
    public func isPresent(_ modality: Modality, row: Int) -> Bool {
        observations[modality] != nil && episodes[row / (config.steps + 1)].absentModality != modality
    }

    /// The observed embedding of `modality` at observation row `row`; nil when the episode does not record it.
    public func embedding(_ modality: Modality, row: Int) -> Embedding? {
        guard let matrix = observations[modality], isPresent(modality, row: row) else { return nil }
        let d = config.dimension
        return Embedding(Array(matrix[(row * d)..<((row + 1) * d)]))
    }

    /// The observed state at observation row `row` (all modalities).
    public func state(row: Int) -> State {
        var s = State()
        for m in config.modalities { s[m] = embedding(m, row: row) }
        return s
    }

    /// The media/embedding file name of an observation: `s03-e0042-t3.jpg` (mp4, wav, txt for the others).
    public func mediaName(_ modality: Modality, row: Int) -> String {
        let steps = config.steps + 1
        let episode = episodes[row / steps]
        return "\(episode.id)-t\(row % steps).\(GeneratedWorld.fileExtension(modality))"
    }

    /// The file extension WorldNet uses for each modality's media.
    public static func fileExtension(_ modality: Modality) -> String {
        switch modality {
        case .image: return "jpg"
        case .video: return "mp4"
        case .audio: return "wav"
        case .text: return "txt"
        }
    }

    /// The sample id of a transition: `s03-e0042-t3` (its episode and step).
    public func sampleID(_ transition: SimTransition) -> String { "\(episodes[transition.episode].id)-t\(transition.step)" }

    /// The transitions of one split, in order.
    public func transitions(in split: Split) -> [SimTransition] { transitions.filter { $0.split == split } }

    /// The transitions of `split` as shared-vocabulary `Transition`s (embeddings included, action text only).
    public func vocabularyTransitions(in split: Split) -> [Transition] {
        transitions(in: split).map { t in
            let episode = episodes[t.episode]
            return Transition(
                state0: state(row: t.observation0), action: Action(text: t.sentence), state1: state(row: t.observation1),
                provenance: Provenance(dataset: "simworld-\(split.rawValue)", scenario: scenarioName(t.scenario),
                                       episode: episode.id, step: t.step, sampleID: sampleID(t)))
        }
    }
}
