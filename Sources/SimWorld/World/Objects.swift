// The things in a SimWorld: three coloured objects, four push directions, and the action meanings they form.

/// One of the objects every world holds.
public struct WorldObject: Equatable, Sendable {
    /// Its colour word, as actions name it ("red").
    public let colour: String
    /// Its noun ("block").
    public let noun: String
    /// RGB colour used when rendering media, 0...1.
    public let rgb: (Double, Double, Double)
    /// Base pitch in Hz of its sound when rendering audio.
    public let pitch: Double

    /// Objects are equal when colour and noun are (the RGB tuple is not Equatable).
    public static func == (lhs: WorldObject, rhs: WorldObject) -> Bool { lhs.colour == rhs.colour && lhs.noun == rhs.noun }

    /// The three objects, in index order.
    public static let all: [WorldObject] = [
        WorldObject(colour: "red", noun: "block", rgb: (0.9, 0.15, 0.1), pitch: 330),
        WorldObject(colour: "green", noun: "ball", rgb: (0.1, 0.8, 0.2), pitch: 440),
        WorldObject(colour: "blue", noun: "cube", rgb: (0.15, 0.3, 0.95), pitch: 554),
    ]
}

/// A push direction in the plane (x to the right, y up).
public enum Direction: Int, CaseIterable, Sendable, Codable {
    case left, right, up, down

    /// The unit vector of the direction.
    public var vector: (x: Double, y: Double) {
        switch self {
        case .left: return (-1, 0)
        case .right: return (1, 0)
        case .up: return (0, 1)
        case .down: return (0, -1)
        }
    }

    /// The plain word for the direction.
    public var word: String {
        switch self {
        case .left: return "left"
        case .right: return "right"
        case .up: return "up"
        case .down: return "down"
        }
    }
}

/// What an action means: which object (as named) is pushed in which direction.
///
/// There are `objects × 4` meanings (12 with three objects); each is written by many paraphrases.
public struct ActionMeaning: Hashable, Sendable, Codable {
    /// The object the sentence names (index into `WorldObject.all`).
    public let object: Int
    /// The direction the sentence names.
    public let direction: Direction

    /// A meaning.
    public init(object: Int, direction: Direction) {
        self.object = object
        self.direction = direction
    }

    /// A dense id in `0..<count`.
    public var id: Int { object * Direction.allCases.count + direction.rawValue }

    /// The number of distinct meanings.
    public static var count: Int { WorldObject.all.count * Direction.allCases.count }

    /// The meaning with dense id `id`.
    public init(id: Int) {
        precondition(id >= 0 && id < ActionMeaning.count, "action meaning id \(id) out of range")
        object = id / Direction.allCases.count
        direction = Direction(rawValue: id % Direction.allCases.count)!
    }

    /// The canonical sentence ("push the red block to the left").
    public var canonicalSentence: String { ActionTemplates.sentence(for: self, variant: 0) }
}

/// Paraphrase templates for action sentences.
///
/// Every paraphrase keeps the colour, the noun and a direction word (`left`, `right`, `up`, `down`) so
/// that a sentence encoder — MiniLM or a hashed n-gram encoder — places paraphrases of one meaning
/// near each other; verbs, frames and direction phrases vary.
public enum ActionTemplates {
    static let verbs = ["push", "shove", "nudge", "move", "slide"]
    static let frames = ["{v} the {o} {d}", "please {v} the {o} {d}", "{v} the {o} a little {d}"]
    static let giveNouns = ["push", "shove", "nudge"]
    static let directionPhrases: [Direction: [String]] = [
        .left: ["to the left", "leftwards", "towards the left", "left"],
        .right: ["to the right", "rightwards", "towards the right", "right"],
        .up: ["up", "upwards", "up towards the top", "upward"],
        .down: ["down", "downwards", "down towards the bottom", "downward"],
    ]

    /// The number of paraphrases per meaning.
    public static var variantCount: Int { (verbs.count * frames.count + giveNouns.count) * 4 }

    /// Paraphrase number `variant` (0 is the canonical sentence) of `meaning`.
    public static func sentence(for meaning: ActionMeaning, variant: Int) -> String {
        let object = WorldObject.all[meaning.object]
        let objectPhrase = "\(object.colour) \(object.noun)"
        let phrases = directionPhrases[meaning.direction]!
        let v = ((variant % variantCount) + variantCount) % variantCount
        let d = phrases[v % phrases.count]
        let rest = v / phrases.count
        if rest < verbs.count * frames.count {
            let verb = verbs[rest % verbs.count]
            let frame = frames[rest / verbs.count]
            return frame.replacingOccurrences(of: "{v}", with: verb)
                .replacingOccurrences(of: "{o}", with: objectPhrase)
                .replacingOccurrences(of: "{d}", with: d)
        }
        let noun = giveNouns[rest - verbs.count * frames.count]
        return "give the \(objectPhrase) a \(noun) \(d)"
    }

    /// Every paraphrase of `meaning`, canonical first.
    public static func paraphrases(of meaning: ActionMeaning) -> [String] {
        (0..<variantCount).map { sentence(for: meaning, variant: $0) }
    }
}
