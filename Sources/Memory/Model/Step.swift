// What the store holds: one rollout step with its states, action, provenance and annotations, and summaries.
import Formats
import Foundation

/// One annotation of a step: something retrieved, recalled, or a reflector decision, with its reason.
///
/// The Agent writes these; `worldgpt memory show` prints them. `kind` is free text; the runtime uses
/// `retrieved`, `recalled`, `reflector.kept` and `reflector.dropped`.
public struct StepAnnotation: Equatable, Sendable, Codable {
    /// What the row records (`retrieved`, `recalled`, `reflector.kept`, `reflector.dropped`, ...).
    public var kind: String
    /// Position within its kind (0 = first).
    public var rank: Int
    /// The item's id: a knowledge-base sample id, `episode:step`, ...
    public var item: String
    /// The item's score, when it has one.
    public var score: Double?
    /// Why (reflector reasons such as `below threshold 0.30`).
    public var reason: String?
    /// Any extra detail, as JSON text.
    public var details: String?

    /// An annotation.
    public init(kind: String, rank: Int, item: String, score: Double? = nil, reason: String? = nil, details: String? = nil) {
        self.kind = kind
        self.rank = rank
        self.item = item
        self.score = score
        self.reason = reason
        self.details = details
    }
}

/// One rollout step as offloaded (DESIGN.md "Step").
public struct StepRecord: Equatable, Sendable, Codable {
    /// The episode's name (created on first use).
    public var episode: String
    /// The step's position in its episode (unique within the episode).
    public var index: Int
    /// The action taken at this step.
    public var action: Action
    /// The input state.
    public var input: State
    /// The predicted next state (empty when not predicted).
    public var predicted: State
    /// The observed next state (empty when unknown).
    public var observed: State
    /// Where the step's data came from, if from a dataset.
    public var provenance: Provenance?
    /// When the step happened.
    public var timestamp: Date
    /// What was retrieved/recalled and what the reflector decided, with scores and reasons.
    public var annotations: [StepAnnotation]

    /// A step record.
    public init(
        episode: String, index: Int, action: Action, input: State, predicted: State = State(), observed: State = State(),
        provenance: Provenance? = nil, timestamp: Date = Date(), annotations: [StepAnnotation] = []
    ) {
        self.episode = episode
        self.index = index
        self.action = action
        self.input = input
        self.predicted = predicted
        self.observed = observed
        self.provenance = provenance
        self.timestamp = timestamp
        self.annotations = annotations
    }
}

/// A step read back from the store, with its row id and what was recalled for it.
public struct StoredStep: Equatable, Sendable, Codable {
    /// The `steps.id` row id (global, increasing in offload order).
    public var id: Int64
    /// The step as offloaded.
    public var record: StepRecord
    /// The recalls recorded for this step, by rank.
    public var recalls: [RecalledStep]
}

/// One episode as listed by `memory ls`.
public struct EpisodeSummary: Equatable, Sendable, Codable {
    /// The `episodes.id` row id.
    public var id: Int64
    /// The episode's name.
    public var name: String
    /// Number of stored steps.
    public var stepCount: Int
    /// Lowest and highest step index (nil when empty).
    public var firstStep: Int?, lastStep: Int?
    /// Creation time (seconds since 1970).
    public var createdAt: Double

    /// A summary (each backend fills it its own way).
    public init(id: Int64, name: String, stepCount: Int, firstStep: Int?, lastStep: Int?, createdAt: Double) {
        self.id = id
        self.name = name
        self.stepCount = stepCount
        self.firstStep = firstStep
        self.lastStep = lastStep
        self.createdAt = createdAt
    }
}

/// A reference to a step by episode name and index, written `EPISODE:STEP`.
public struct StepReference: Equatable, Sendable, CustomStringConvertible {
    /// The episode's name.
    public var episode: String
    /// The step index, or nil for "the whole episode".
    public var index: Int?

    /// Parses `EPISODE` or `EPISODE:STEP` (the last colon separates the index).
    /// - Throws: `StoreError.invalidArgument` when the index is not an integer.
    public init(parsing text: String) throws {
        if let colon = text.lastIndex(of: ":") {
            let tail = text[text.index(after: colon)...]
            guard let index = Int(tail) else { throw StoreError.invalidArgument("`\(text)`: expected EPISODE:STEP with an integer STEP") }
            episode = String(text[..<colon])
            self.index = index
        } else {
            episode = text
            index = nil
        }
        guard !episode.isEmpty else { throw StoreError.invalidArgument("`\(text)`: empty episode name") }
    }

    /// A reference.
    public init(episode: String, index: Int?) {
        self.episode = episode
        self.index = index
    }

    public var description: String { index.map { "\(episode):\($0)" } ?? episode }
}
