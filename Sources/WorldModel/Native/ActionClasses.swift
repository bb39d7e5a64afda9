// Action classes found without labels: the distinct training sentences clustered by what they do, and a linear map of
// the sentence embedding to its class. A key made of the class scores finds the KB transitions of the query's own
// action far more often than the stacked effects do on worlds whose single transitions are mostly noise (an action's
// effect, estimated from a few noisy transitions per scenario, blurs; the classes pool every sentence of the class).
// How many classes the data has is not known: each candidate count is scored by how well its key retrieves, among the
// training transitions of other episodes, the residual change of a held-out transition (docs/worldmodel.md,
// "Action key").
// Shape legend: A action width, n distinct sentences, k classes, R key width, E = H·D residual width.
import Foundation
import Tensor

/// The action-class candidates of `ActionSignature.fit` and the held-out score that chooses among them.
enum ActionClasses {
    /// Class counts tried (those with at least 4 sentences per class on average).
    static let candidateCounts = [4, 6, 8, 12, 16, 24, 32, 48]
    /// The ridge from a centred sentence embedding to its class's one-hot.
    static let lambda = 0.1
    /// Clustering rounds: cluster, fit the map, cluster the map's outputs again.
    static let rounds = 3
    /// k-means restarts (the best mean similarity wins) and iterations per restart.
    static let restarts = 3
    static let iterations = 50
    /// The held-out score retrieves like the runtime: up to `budget` items weighted by exp((score − best)/temperature).
    static let budget = 64
    static let temperature: Float = 0.1
    /// Held-out transitions scored (spread evenly over the data) and episode folds.
    static let probes = 1_500
    static let folds = 5

    /// Fits the class map for `k` classes: `sentences` is n × A (centred on the mean training action), `start` n × R the
    /// features clustered first (the signature keys of the sentences). Returns the key's factor, k × A row-major (the
    /// transpose of the ridge's A × k weights), or nil when the ridge cannot be solved.
    static func classFactor(sentences: [Float], count n: Int, width a: Int, start: [Float], startWidth: Int, k: Int) -> [Float]? {
        // XᵀX + λI once per call (A × A, Double): small beside the clustering.
        var gram = [Float](repeating: 0, count: a * a)
        sentences.withUnsafeBufferPointer { px in
            gram.withUnsafeMutableBufferPointer { pg in
                BLAS.sgemm(transposeA: true, m: a, n: a, k: n, a: px.baseAddress!, b: px.baseAddress!, c: pg.baseAddress!)
            }
        }
        var features = unitRows(start, width: startWidth)
        var width = startWidth
        var weights: [Double] = []
        for _ in 0..<rounds {
            let labels = cluster(features, count: n, width: width, k: k)
            // Xᵀ·Y with Y the one-hot labels: the sum of each class's sentences.
            var rhs = [Double](repeating: 0, count: a * k)
            for r in 0..<n {
                let c = labels[r]
                for i in 0..<a { rhs[i * k + c] += Double(sentences[r * a + i]) }
            }
            var m = gram.map(Double.init)
            for i in 0..<a { m[i * a + i] += lambda }
            let solved = m.withUnsafeMutableBufferPointer { pm in
                rhs.withUnsafeMutableBufferPointer { pr in BLAS.choleskySolve(n: a, rightHandSides: k, a: pm.baseAddress!, b: pr.baseAddress!) }
            }
            guard solved else { return nil }
            weights = rhs
            // The next round clusters the map's outputs X·W (n × k).
            let w = rhs.map { Float($0) }
            var outputs = [Float](repeating: 0, count: n * k)
            sentences.withUnsafeBufferPointer { px in
                w.withUnsafeBufferPointer { pw in
                    outputs.withUnsafeMutableBufferPointer { po in
                        BLAS.sgemm(m: n, n: k, k: a, a: px.baseAddress!, b: pw.baseAddress!, c: po.baseAddress!)
                    }
                }
            }
            features = unitRows(outputs, width: k)
            width = k
        }
        var factor = [Float](repeating: 0, count: k * a)
        for i in 0..<a { for c in 0..<k { factor[c * a + i] = Float(weights[i * k + c]) } }
        return factor
    }

    /// Spherical k-means of n unit rows: the labels of the restart with the highest mean similarity to its centre.
    /// Deterministic: restart `s` starts from k distinct rows drawn by `SeededRandom(seed: s)`.
    static func cluster(_ rows: [Float], count n: Int, width r: Int, k: Int) -> [Int] {
        var best: (labels: [Int], objective: Double)?
        var similarity = [Float](repeating: 0, count: n * k)
        for restart in 0..<restarts {
            var random = SeededRandom(seed: 0xC1A5_5E5 &+ UInt64(restart))
            var picked = Set<Int>(), centres = [Float]()
            while picked.count < k {
                let i = Int(random.next() % UInt64(n))
                if picked.insert(i).inserted { centres += rows[(i * r)..<(i * r + r)] }
            }
            var labels = [Int](repeating: 0, count: n), objective = 0.0
            for _ in 0..<iterations {
                rows.withUnsafeBufferPointer { px in
                    centres.withUnsafeBufferPointer { pc in
                        similarity.withUnsafeMutableBufferPointer { ps in
                            BLAS.sgemm(transposeB: true, m: n, n: k, k: r, a: px.baseAddress!, b: pc.baseAddress!, c: ps.baseAddress!)
                        }
                    }
                }
                objective = 0
                for i in 0..<n {
                    var arg = 0
                    for c in 1..<k where similarity[i * k + c] > similarity[i * k + arg] { arg = c }
                    labels[i] = arg
                    objective += Double(similarity[i * k + arg])
                }
                var sums = [Float](repeating: 0, count: k * r), counts = [Int](repeating: 0, count: k)
                for i in 0..<n {
                    counts[labels[i]] += 1
                    for j in 0..<r { sums[labels[i] * r + j] += rows[i * r + j] }
                }
                for c in 0..<k where counts[c] == 0 {
                    // An empty class restarts at a random row.
                    let i = Int(random.next() % UInt64(n))
                    for j in 0..<r { sums[c * r + j] = rows[i * r + j] }
                }
                centres = unitRows(sums, width: r)
            }
            objective /= Double(n)
            if best == nil || objective > best!.objective { best = (labels, objective) }
        }
        return best!.labels
    }

    /// The held-out retrieval score of a key (`factor`, R × A, applied to `centred` sentences n × A): for each probe
    /// transition, the training transitions of the same group in other episode folds are ranked by key cosine, the
    /// top `budget` residuals averaged with the runtime's weights, and the probe's own residual projected on that
    /// mean's direction. The mean projection estimates how far the retrieved mean points along the true effect: the
    /// residual's noise averages out over the probes.
    static func heldOutScore(factor: [Float], keyWidth r: Int, centred: [Float], width a: Int, sentenceCount n: Int, data: SelectionData) -> Double {
        var keys = [Float](repeating: 0, count: n * r)
        centred.withUnsafeBufferPointer { px in
            factor.withUnsafeBufferPointer { pf in
                keys.withUnsafeMutableBufferPointer { pk in
                    BLAS.sgemm(transposeB: true, m: n, n: r, k: a, a: px.baseAddress!, b: pf.baseAddress!, c: pk.baseAddress!)
                }
            }
        }
        keys = unitRows(keys, width: r)
        let e = data.residualWidth
        var total = 0.0, scored = 0
        var mean = [Float](repeating: 0, count: e)
        for p in data.probes {
            let q = data.sentence[p]
            let pool = data.members[data.group[p]].filter { data.fold[$0] != data.fold[p] }
            guard !pool.isEmpty else { continue }
            var scores = [(Float, Int)]()
            scores.reserveCapacity(pool.count)
            for j in pool {
                let s = data.sentence[j]
                var dot: Float = 0
                for i in 0..<r { dot += keys[q * r + i] * keys[s * r + i] }
                scores.append((dot, j))
            }
            scores.sort { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
            let top = scores.prefix(budget), best = top.first!.0
            for i in 0..<e { mean[i] = 0 }
            for (s, j) in top {
                let w = Float(Foundation.exp(Double((s - best) / temperature)))
                for i in 0..<e { mean[i] += w * data.residuals[j * e + i] }
            }
            var norm: Float = 0, projection: Float = 0
            for i in 0..<e {
                norm += mean[i] * mean[i]
                projection += mean[i] * data.residuals[p * e + i]
            }
            guard norm > 0 else { continue }
            total += Double(projection / norm.squareRoot())
            scored += 1
        }
        return scored > 0 ? total / Double(scored) : 0
    }

    /// Rows scaled to unit length (zero rows stay zero).
    static func unitRows(_ x: [Float], width r: Int) -> [Float] {
        var out = x
        for i in 0..<(r == 0 ? 0 : x.count / r) {
            var sum: Float = 0
            for j in 0..<r { sum += x[i * r + j] * x[i * r + j] }
            guard sum > 0 else { continue }
            let scale = 1 / sum.squareRoot()
            for j in 0..<r { out[i * r + j] *= scale }
        }
        return out
    }
}

/// The training transitions the class-count choice reads: for each, its sentence, group (scenario), episode fold and
/// the pooled ridge's residual over every self-predicting head (E values, zeros where a modality is absent).
struct SelectionData {
    var sentence: [Int] = []
    var group: [Int] = []
    var fold: [Int] = []
    var residuals: [Float] = []
    let residualWidth: Int
    /// Transitions of each group.
    var members: [[Int]] = []
    /// The transitions scored (every transition when there are at most `ActionClasses.probes`).
    var probes: [Int] = []
    /// The embedding of each distinct sentence (by first appearance in scenario order).
    var sentences: [[Float]] = []
}
