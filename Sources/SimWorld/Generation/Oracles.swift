// The oracles: cosine ×100 on `test` of the best predictions with and without scenario and history knowledge.
import Foundation
import Formats

/// Oracle figures for one modality (or their mean), cosine similarity ×100 on the `test` split.
public struct OracleFigures: Equatable, Sendable, Codable {
    /// (a) The true dynamics: the clean embedding of the true next latent state (only the noise is unknown).
    public var trueDynamics: Double
    /// (b) The true dynamics without the scenario: the Bayes prediction under a uniform prior over
    /// scenarios (mean of the clean next embeddings under every scenario), with the true velocity.
    public var noScenario: Double
    /// (c) Without history: the true scenario, but velocities unknown — the mean over velocities drawn
    /// from the scenario's training transitions (a single observation shows positions only).
    public var noHistory: Double
    /// (e) Neither scenario nor history: what a model seeing only state0 and the action can reach.
    public var stateActionOnly: Double
    /// (d) Identity: state0's observation as the prediction.
    public var identity: Double
    /// (f) Only in worlds with a hidden switch: the true dynamics (scenario, hidden state) run with the action the
    /// sentence names, i.e. everything known but the switch. (a) − (f) is what knowing the switch is worth.
    public var unswitched: Double?

    /// Figures with all values ((f) only in worlds with a switch).
    public init(trueDynamics: Double, noScenario: Double, noHistory: Double, stateActionOnly: Double, identity: Double,
                unswitched: Double? = nil) {
        self.trueDynamics = trueDynamics
        self.noScenario = noScenario
        self.noHistory = noHistory
        self.stateActionOnly = stateActionOnly
        self.identity = identity
        self.unswitched = unswitched
    }
}

/// The oracles of a world: per modality and the mean over modalities.
public struct OracleReport: Equatable, Sendable, Codable {
    /// One modality's figures.
    public struct Entry: Equatable, Sendable, Codable {
        /// The modality.
        public var modality: Modality
        /// Its figures.
        public var figures: OracleFigures
    }

    /// Figures per modality, in modality order.
    public var perModality: [Entry]
    /// The mean over modalities.
    public var mean: OracleFigures
    /// How many test transitions were measured.
    public var testTransitions: Int
    /// Monte-Carlo samples used for (c) and (e).
    public var samples: Int
    /// Only in worlds with a hidden switch: (a) and (f) over the test transitions from step `fromStep` on, where
    /// every episode has switched.
    public var late: LateFigures?

    /// (a) true dynamics and (f) unswitched, mean over modalities, on the test steps after every switch.
    public struct LateFigures: Equatable, Sendable, Codable {
        /// The first step (1-based) counted: `switch_last + 2`.
        public var fromStep: Int
        /// Test transitions counted.
        public var transitions: Int
        /// (a) on those steps.
        public var trueDynamics: Double
        /// (f) on those steps.
        public var unswitched: Double
    }

    /// The figures of `modality`, if measured.
    public func figures(_ modality: Modality) -> OracleFigures? { perModality.first { $0.modality == modality }?.figures }
}

/// Computes the oracle figures.
enum Oracles {
    /// Measures all oracles on the `test` transitions.
    /// `observer` gives the clean embeddings of candidate next states; `observations` the observed ones.
    static func measure(
        config: WorldConfig, family: any WorldFamily, observer: any CleanObserver, episodes: [SimEpisode],
        transitions: [SimTransition], observations: [Modality: [Float]], progress: WorldGenerator.Progress?
    ) throws -> OracleReport {
        let modalities = config.modalities
        let test = transitions.filter { $0.split == .test }
        let samples = config.oracleSamples
        let scenarioCount = family.scenarioCount
        let width = family.observedSize

        // Hidden-state pools per scenario: hidden values (velocities) at state0 of training transitions (all
        // non-test ones for a scenario without training episodes).
        var pools = [[Int]](repeating: [], count: scenarioCount)  // indices into `transitions`
        for (i, t) in transitions.enumerated() where t.split == .train { pools[t.scenario].append(i) }
        for s in 0..<scenarioCount where pools[s].isEmpty {
            for (i, t) in transitions.enumerated() where t.scenario == s && t.split != .test { pools[s].append(i) }
            if pools[s].isEmpty { for (i, t) in transitions.enumerated() where t.scenario == s { pools[s].append(i) } }
        }
        func velocity(_ transitionIndex: Int) -> [Double] {
            let t = transitions[transitionIndex]
            return episodes[t.episode].states[t.step].velocities
        }

        // Candidates per transition: [true] + scenarios + samples (no history) + samples (neither) [+ unswitched].
        let switched = config.switchKind != .none
        let perTransition = 1 + scenarioCount + 2 * samples + (switched ? 1 : 0)
        let lateStep = config.switchLast + 1  // 0-based: every episode acts switched from here on
        var sums = [[Double]](repeating: [Double](repeating: 0, count: switched ? 6 : 5), count: modalities.count)
        var lateSums = [[Double]](repeating: [0, 0], count: modalities.count)
        var lateMeasured = [Int](repeating: 0, count: modalities.count)
        var measured = [Int](repeating: 0, count: modalities.count)  // test targets that record the modality
        let chunk = max(1, (config.media ? 512 : 4096) / perTransition)
        var start = 0
        var nextPositions = [Double](repeating: 0, count: width)
        var nextVelocities = [Double](repeating: 0, count: family.hiddenSize)
        while start < test.count {
            let count = min(chunk, test.count - start)
            // Latent candidate positions, count × perTransition × width.
            var candidates = [Double](repeating: 0, count: count * perTransition * width)
            for r in 0..<count {
                let t = test[start + r]
                let episode = episodes[t.episode]
                let s0 = episode.states[t.step]
                var rng = SimRandom(seed: config.seed, purpose: Purpose.oracle, t.episode, t.step)
                var slot = r * perTransition
                func put(_ positions: [Double]) {
                    for i in 0..<width { candidates[slot * width + i] = positions[i] }
                    slot += 1
                }
                put(episode.states[t.step + 1].positions)
                // The oracles know the switch (it is part of the history); only (f) runs the named action.
                func next(_ hidden: [Double], _ scenario: Int, action: Int? = nil) {
                    family.step(observed: s0.positions, hidden: hidden, action: action ?? t.executedAction, scenario: scenario,
                                outObserved: &nextPositions, outHidden: &nextVelocities)
                    put(nextPositions)
                }
                for s in 0..<scenarioCount { next(s0.velocities, s) }
                for _ in 0..<samples {
                    let pool = pools[t.scenario]
                    next(velocity(pool[rng.index(pool.count)]), t.scenario)
                }
                for _ in 0..<samples {
                    let s = rng.index(scenarioCount)
                    let pool = pools[s]
                    next(velocity(pool[rng.index(pool.count)]), s)
                }
                if switched { next(s0.velocities, t.scenario, action: t.action) }
            }
            for (mi, modality) in modalities.enumerated() {
                let d = config.dimension
                var views: [LatentView] = []
                views.reserveCapacity(count * perTransition)
                for r in 0..<count {
                    let attributes = episodes[test[start + r].episode].staticAttributes
                    for c in 0..<perTransition {
                        let row = r * perTransition + c
                        views.append(LatentView(positions: Array(candidates[(row * width)..<((row + 1) * width)]), attributes: attributes,
                                                key: (start + r) * perTransition + c))
                    }
                }
                let clean = try observer.clean(modality, views: views)
                let observed = observations[modality]!
                for r in 0..<count {
                    let t = test[start + r]
                    // A target the episode does not record cannot be scored (WorldNet leaves it out).
                    guard episodes[t.episode].absentModality != modality else { continue }
                    measured[mi] += 1
                    let target = t.observation1 * d
                    let base = r * perTransition * d
                    func cosine(from first: Int, count n: Int) -> Double {
                        var dot = 0.0, norm = 0.0
                        for i in 0..<d {
                            var v = 0.0
                            for c in first..<(first + n) { v += Double(clean[base + c * d + i]) }
                            dot += v * Double(observed[target + i])
                            norm += v * v
                        }
                        return norm > 0 ? dot / norm.squareRoot() : 0
                    }
                    sums[mi][0] += cosine(from: 0, count: 1)
                    sums[mi][1] += cosine(from: 1, count: scenarioCount)
                    sums[mi][2] += cosine(from: 1 + scenarioCount, count: samples)
                    sums[mi][3] += cosine(from: 1 + scenarioCount + samples, count: samples)
                    var identity = 0.0
                    let source = t.observation0 * d
                    for i in 0..<d { identity += Double(observed[source + i]) * Double(observed[target + i]) }
                    sums[mi][4] += identity
                    if switched {
                        let unswitched = cosine(from: 1 + scenarioCount + 2 * samples, count: 1)
                        sums[mi][5] += unswitched
                        if t.step >= lateStep {
                            lateSums[mi][0] += cosine(from: 0, count: 1)
                            lateSums[mi][1] += unswitched
                            lateMeasured[mi] += 1
                        }
                    }
                }
            }
            start += count
            progress?("oracles", Double(start) / Double(max(1, test.count)))
        }
        let n = Double(max(1, test.count))
        // Scale each modality's sums to `test.count` targets (×1 exactly when every target is recorded).
        for mi in 0..<modalities.count where measured[mi] > 0 {
            for k in 0..<sums[mi].count { sums[mi][k] *= n / Double(measured[mi]) }
        }
        func figures(_ s: [Double]) -> OracleFigures {
            OracleFigures(trueDynamics: round2(100 * s[0] / n), noScenario: round2(100 * s[1] / n),
                          noHistory: round2(100 * s[2] / n), stateActionOnly: round2(100 * s[3] / n),
                          identity: round2(100 * s[4] / n), unswitched: s.count > 5 ? round2(100 * s[5] / n) : nil)
        }
        let entries = modalities.enumerated().map { OracleReport.Entry(modality: $0.element, figures: figures(sums[$0.offset])) }
        var total = [Double](repeating: 0, count: sums.first?.count ?? 5)
        for s in sums { for k in 0..<s.count { total[k] += s[k] / Double(max(1, modalities.count)) } }
        var report = OracleReport(perModality: entries, mean: figures(total), testTransitions: test.count, samples: samples)
        if switched {
            // Each modality's mean over the late targets it records, then the mean over modalities.
            var late = [0.0, 0.0]
            for mi in 0..<modalities.count where lateMeasured[mi] > 0 {
                for k in 0..<2 { late[k] += lateSums[mi][k] / Double(lateMeasured[mi]) / Double(modalities.count) }
            }
            report.late = OracleReport.LateFigures(
                fromStep: lateStep + 1, transitions: test.filter { $0.step >= lateStep }.count,
                trueDynamics: round2(100 * late[0]), unswitched: round2(100 * late[1]))
        }
        return report
    }

    /// Rounds to two decimals so the figures print and serialise identically everywhere.
    static func round2(_ x: Double) -> Double { (x * 100).rounded() / 100 }
}
