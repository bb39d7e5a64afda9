// The JSON bodies of the HTTP API (openapi.yaml's schemas). Keys are snake_case on the wire (the coders convert).
import Agent
import Formats
import Foundation
import Memory

/// Versions of the server, its API and the store format it reads.
public enum APIVersion {
    /// The API's version (openapi.yaml's `info.version`).
    public static let api = "1.0.0"
    /// The server's version.
    public static let server = "0.1.0"
}

struct Health: Codable, Sendable { var status: String }

struct VersionInfo: Codable, Sendable {
    var server: String
    var api: String
    var storeFormat: String
    var storeMigrations: [String]
}

struct EpisodeList: Codable, Sendable {
    var items: [EpisodeSummary]
    var nextCursor: String?
}

/// A step as the timeline lists it: no vectors, the cosines of prediction to truth and the evidence's counts.
struct StepSummary: Codable, Sendable {
    var id: Int64
    var episode: String
    var index: Int
    var action: String
    var createdAt: Double
    /// Cosine ×100 of predicted to observed per modality (empty when the step has no truth).
    var cosine: [String: Double]
    var recalled: Int
    var retrieved: Int
    var kept: Int
    var dropped: Int

    init(_ step: StoredStep) {
        let r = step.record
        id = step.id
        episode = r.episode
        index = r.index
        action = r.action.text
        createdAt = r.timestamp.timeIntervalSince1970
        cosine = Evidence.cosines(r)
        func count(_ kind: String) -> Int { r.annotations.filter { $0.kind == kind }.count }
        recalled = max(step.recalls.count, count("recalled"))
        retrieved = count("retrieved")
        kept = count("reflector.kept")
        dropped = count("reflector.dropped")
    }
}

struct StepList: Codable, Sendable {
    var items: [StepSummary]
    var nextCursor: String?
}

/// One recalled, retrieved, kept or dropped item of a step's evidence.
struct EvidenceItem: Codable, Sendable {
    var item: String
    var rank: Int
    var score: Double?
    var reason: String?
    /// Parts of a recall score (from the store's `recalls` table, when the rollout recorded them).
    var stateSimilarity: Double?
    var actionSimilarity: Double?
    var recency: Double?
    var stepsAgo: Int64?
}

/// What the model saw at a step, and why: the evidence view.
struct Evidence: Codable, Sendable {
    var id: Int64
    var episode: String
    var index: Int
    var action: String
    var createdAt: Double
    var provenance: Provenance?
    var recalled: [EvidenceItem]
    var retrieved: [EvidenceItem]
    var kept: [EvidenceItem]
    var dropped: [EvidenceItem]
    /// Cosine ×100 of predicted to observed per modality.
    var cosine: [String: Double]
    /// Which modalities each role holds, with their dimension: `{"input": {"image": 64}, ...}`.
    var arrays: [String: [String: Int]]

    init(_ step: StoredStep) {
        let r = step.record
        id = step.id
        episode = r.episode
        index = r.index
        action = r.action.text
        createdAt = r.timestamp.timeIntervalSince1970
        provenance = r.provenance
        func items(_ kind: String) -> [EvidenceItem] {
            r.annotations.filter { $0.kind == kind }.sorted { $0.rank < $1.rank }.map {
                EvidenceItem(item: $0.item, rank: $0.rank, score: $0.score, reason: $0.reason)
            }
        }
        if step.recalls.isEmpty {
            recalled = items("recalled")
        } else {
            recalled = step.recalls.enumerated().map { rank, h in
                EvidenceItem(item: "\(h.episode):\(h.index)", rank: rank, score: Double(h.score), reason: "\(h.stepsAgo) step(s) ago",
                             stateSimilarity: Double(h.stateSimilarity), actionSimilarity: Double(h.actionSimilarity),
                             recency: Double(h.recency), stepsAgo: h.stepsAgo)
            }
        }
        retrieved = items("retrieved")
        kept = items("reflector.kept")
        dropped = items("reflector.dropped")
        cosine = Self.cosines(r)
        var arrays: [String: [String: Int]] = [:]
        for (role, state) in [("input", r.input), ("predicted", r.predicted), ("observed", r.observed)] where !state.isEmpty {
            arrays[role] = Dictionary(uniqueKeysWithValues: state.modalities.compactMap { m in state[m].map { (m.rawValue, $0.dim) } })
        }
        if let e = r.action.embedding { arrays["action"] = ["embedding": e.dim] }
        self.arrays = arrays
    }

    /// Cosine ×100 of predicted to observed, per modality both hold (double precision).
    static func cosines(_ r: StepRecord) -> [String: Double] {
        var out: [String: Double] = [:]
        for m in r.predicted.modalities {
            guard let p = r.predicted[m], let o = r.observed[m], p.dim == o.dim else { continue }
            var dot = 0.0, pp = 0.0, oo = 0.0
            for (x, y) in zip(p.values, o.values) {
                dot += Double(x) * Double(y)
                pp += Double(x) * Double(x)
                oo += Double(y) * Double(y)
            }
            if pp > 0, oo > 0 { out[m.rawValue] = 100 * dot / (pp.squareRoot() * oo.squareRoot()) }
        }
        return out
    }
}

/// One embedding of a step as JSON (the `.npy` form is the same floats).
struct ArrayBody: Codable, Sendable {
    var column: String
    var dim: Int
    var values: [Float]
}

struct SearchRequest: Codable, Sendable {
    /// `EPISODE:STEP`: search with this step's input state and action (the step itself is excluded).
    var like: String?
    /// A sentence, embedded by the text encoder.
    var text: String?
    /// A state vector of the store's dimension.
    var vector: [Float]?
    var k: Int?
    var episode: String?
    var stateWeight: Float?
    var actionWeight: Float?
    var recencyWeight: Float?
    var halfLife: Float?
    var textEncoder: String?
}

struct SearchResult: Codable, Sendable {
    var items: [RecalledStep]
}

struct ExportRequest: Codable, Sendable { var out: String }
struct ExportResult: Codable, Sendable {
    var steps: Int
    var out: String
}

struct PruneRequest: Codable, Sendable {
    var keepLast: Int?
    /// ISO 8601 date or date-time.
    var before: String?
    var dryRun: Bool?
}

struct PruneResult: Codable, Sendable {
    var steps: Int
    var dryRun: Bool
}

struct PredictRequest: Codable, Sendable {
    /// Dataset YAML or SimWorld folder (inside the root) holding the start sample.
    var data: String
    /// The sample id whose state0 is the start (its true next state is scored).
    var sample: String
    var split: String?
    /// The action sentence (default: the sample's own).
    var action: String?
    /// Continue and offload to this episode of the server's store (a write).
    var episode: String?
}
