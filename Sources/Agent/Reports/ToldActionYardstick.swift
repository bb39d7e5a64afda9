// The "told the action" yardstick for generated worlds: the ridge baseline given the generator's true action
// identity (one-hot) instead of the sentence's embedding, and the mean change of the KB transitions of the same
// scenario and the same true action. Report-only: the runtime and training never see action identities.
import Encoders
import Formats
import SimWorld
import WorldModel

/// How far a linear model gets when it is told what each action means, on a world generated in memory.
public enum ToldActionYardstick {
    /// One row of the report: mean cosine ×100 on the test split's unimodal modes, per modality and over them.
    public struct Row: Equatable, Sendable {
        /// `identity`, `ridge`, `told ridge`, `told ridge+knowledge`; worlds with a switch: `ridge+memory`,
        /// `ridge+recall`, `told switch ridge`.
        public var name: String
        /// Per modality.
        public var cosine: [Modality: Double]
        /// Mean over the modalities.
        public var mean: Double
        /// Worlds with a switch: the mean over the modalities on the test steps from `switch_last + 2` (1-based) on,
        /// where every episode has switched.
        public var late: Double?
    }

    /// Measures identity, `ridge` (with `textEncoder`'s sentence embeddings; left out without one), `told ridge`
    /// (one-hot true action) and `told ridge+knowledge` (one-hot true action and the mean change of the same
    /// scenario's KB transitions of the same true action) on `world`'s test split, fitted on its train split. In a
    /// world with a hidden switch, also `told switch ridge`: the one-hot of the action the dynamics ran (the named
    /// action after the switch), so `told switch ridge − told ridge` is what knowing the switch gives a linear
    /// model; every row then also reports the steps after every switch (`late`). With `textEncoder`, a switched world
    /// also gets `ridge+memory` (the previous step as the ridge's memory item) and `ridge+recall` (the episode's most
    /// recent earlier step with the same true action instead: a perfect same-action recall, told by the generator).
    /// - Throws: `WorldModelError` from fitting or evaluation; the encoder's errors.
    public static func measure(_ world: GeneratedWorld, textEncoder: (any Embedder)?) throws -> [Row] {
        let modes = world.config.modalities.map { TaskMode(inputs: [$0], targets: [$0]) }
        let evaluator = Evaluator(modes: modes)
        // The generator's truth, joined to each split's transitions in order.
        func told(_ split: Split, executed: Bool = false) -> [(meaning: Int, scenario: Int, transition: Transition)] {
            zip(world.transitions(in: split), world.vocabularyTransitions(in: split)).map { sim, t in
                var oneHot = [Float](repeating: 0, count: world.family.actionCount)
                oneHot[executed ? sim.executedAction : sim.action] = 1
                var transition = t
                transition.action.embedding = Embedding(oneHot)
                return (sim.action, sim.scenario, transition)
            }
        }
        struct Key: Hashable {
            var scenario: Int
            var meaning: Int
        }
        var knowledge: [Key: [ContextItem]] = [:]
        for k in told(.kb) { knowledge[Key(scenario: k.scenario, meaning: k.meaning), default: []].append(ContextItem(transition: k.transition, score: 1)) }
        func samples(_ split: Split, executed: Bool = false) -> [EvaluationSample] {
            told(split, executed: executed).map {
                EvaluationSample(transition: $0.transition, context: knowledge[Key(scenario: $0.scenario, meaning: $0.meaning)] ?? [])
            }
        }
        let train = samples(.train), test = samples(.test)
        let switched = world.config.switchKind != .none
        let lateStep = world.config.switchLast + 1
        func row(_ name: String, _ model: any WorldModel, _ samples: [EvaluationSample]) throws -> Row {
            func mean(_ part: [EvaluationSample]) throws -> (cosine: [Modality: Double], mean: Double) {
                let means = try evaluator.evaluate(model, samples: part).modalityMeans
                return (means, means.values.reduce(0, +) / Double(max(means.count, 1)))
            }
            let all = try mean(samples)
            let late: Double? = try switched ? mean(samples.filter { ($0.transition.provenance.step ?? 0) >= lateStep }).mean : nil
            return Row(name: name, cosine: all.cosine, mean: all.mean, late: late)
        }
        var rows = [try row("identity", IdentityModel(), test)]
        if let textEncoder {
            // The same ridge reading the sentences as the runtime does: their embeddings, no identity.
            let sentences = Array(Set((train + test).map(\.transition.action.text))).sorted()
            let vectors = try textEncoder.embed(sentences)
            let embedded = Dictionary(uniqueKeysWithValues: zip(sentences, vectors.map(Embedding.init)))
            func heard(_ samples: [EvaluationSample]) -> [EvaluationSample] {
                samples.map { s in
                    var t = s.transition
                    t.action.embedding = embedded[t.action.text]
                    return EvaluationSample(transition: t)
                }
            }
            rows.append(try row("ridge", try RidgeModel.train(samples: heard(train), modes: modes, features: RidgeFeatureSet()), heard(test)))
            if switched {
                // The window against a told recall, both read by the ridge's one memory item (its change and action):
                // `ridge+memory` gets the previous step, `ridge+recall` the episode's most recent earlier step with the
                // same named action (the generator's id: a perfect similarity recall over the episode, however far back).
                func remembered(_ split: Split, recall: Bool) -> [EvaluationSample] {
                    let sims = world.transitions(in: split), plain = heard(samples(split))
                    var byEpisode: [Int: [Int: Int]] = [:]  // episode → step → index in the split
                    for (i, t) in sims.enumerated() { byEpisode[t.episode, default: [:]][t.step] = i }
                    return plain.enumerated().map { i, sample in
                        let sim = sims[i], steps = byEpisode[sim.episode] ?? [:]
                        let source = recall
                            ? (0..<sim.step).reversed().first { steps[$0].map { sims[$0].action == sim.action } ?? false }
                            : (sim.step > 0 ? sim.step - 1 : nil)
                        guard let step = source, let j = steps[step] else { return sample }
                        let t = plain[j].transition
                        return EvaluationSample(transition: sample.transition,
                                                memory: [MemoryItem(state0: t.state0, action: t.action, state1: t.state1, stepsAgo: sim.step - step)])
                    }
                }
                for (name, recall) in [("ridge+memory", false), ("ridge+recall", true)] {
                    let model = try RidgeModel.train(samples: remembered(.train, recall: recall), modes: modes, features: RidgeFeatureSet(memory: true))
                    rows.append(try row(name, model, remembered(.test, recall: recall)))
                }
            }
        }
        rows.append(try row("told ridge", try RidgeModel.train(samples: train, modes: modes, features: RidgeFeatureSet()), test))
        rows.append(try row("told ridge+knowledge", try RidgeModel.train(samples: train, modes: modes, features: RidgeFeatureSet(knowledge: true)), test))
        if switched {
            let trainRun = samples(.train, executed: true)
            rows.append(try row("told switch ridge", try RidgeModel.train(samples: trainRun, modes: modes, features: RidgeFeatureSet()),
                                samples(.test, executed: true)))
        }
        return rows
    }
}
