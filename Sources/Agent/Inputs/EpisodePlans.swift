// Episode plans from data: consecutive transitions of a dataset's episodes become rollouts with known truth.
import Formats

/// Builds rollout plans from dataset transitions.
public enum EpisodePlans {
    /// One plan per episode: transitions grouped by `provenance.episode`, ordered by `step`; the plan starts
    /// at the first step's `state0` and uses each step's action, `state1` as truth and provenance.
    ///
    /// Transitions without an episode are skipped; an episode stops at its first gap in `step`.
    /// - Parameter limit: at most this many episodes (in order of first appearance).
    public static func fromSequences(_ transitions: [Transition], limit: Int? = nil, prefix: String = "") -> [EpisodePlan] {
        var order: [String] = []
        var groups: [String: [Transition]] = [:]
        for t in transitions {
            guard let episode = t.provenance.episode else { continue }
            if groups[episode] == nil { order.append(episode) }
            groups[episode, default: []].append(t)
        }
        var plans: [EpisodePlan] = []
        for episode in order {
            if let limit, plans.count >= limit { break }
            let steps = groups[episode, default: []].sorted { ($0.provenance.step ?? 0) < ($1.provenance.step ?? 0) }
            var run: [Transition] = []
            for t in steps {
                if let last = run.last, (t.provenance.step ?? 0) != (last.provenance.step ?? 0) + 1 { break }
                run.append(t)
            }
            guard let first = run.first else { continue }
            plans.append(EpisodePlan(
                name: prefix + episode, start: first.state0, actions: run.map(\.action), truths: run.map(\.state1),
                provenances: run.map(\.provenance)))
        }
        return plans
    }

    /// The plan that starts at the sample with id `sampleID` and follows its episode onwards.
    /// - Throws: `AgentError.badStartState` when no transition has that id.
    public static func starting(at sampleID: String, in transitions: [Transition]) throws -> EpisodePlan {
        guard let start = transitions.first(where: { $0.provenance.sampleID == sampleID }) else {
            throw AgentError.badStartState(sampleID, reason: "no sample with this id in the dataset")
        }
        guard let episode = start.provenance.episode, let step = start.provenance.step else {
            return EpisodePlan(name: sampleID, start: start.state0, actions: [start.action], truths: [start.state1],
                               provenances: [start.provenance])
        }
        let later = transitions.filter { $0.provenance.episode == episode && ($0.provenance.step ?? -1) >= step }
        var plan = fromSequences(later, limit: 1)[0]
        plan.name = sampleID
        return plan
    }
}
