// Action language of the zoo families: slot templates with free word order, verb and object paraphrases,
// and the seeded choice of templates held out of `train` and `kb`.

/// How one action meaning can be said: its verb phrases and its object phrases.
public struct ActionWording: Equatable, Sendable {
    /// Verb phrases ("open", "turn up"); any of them fits every template.
    public let verbs: [String]
    /// Object phrases without the article ("inlet valve of tank 1", "tank one feed valve").
    public let objects: [String]

    /// A wording.
    public init(verbs: [String], objects: [String]) {
        precondition(!verbs.isEmpty && !objects.isEmpty, "a wording needs verbs and objects")
        self.verbs = verbs
        self.objects = objects
    }
}

/// Sentence templates shared by the zoo families. Templates differ in word order (verb first, object first,
/// object fronted then resumed by "it") and framing, so a held-out template is new phrasing, not new words.
public enum PhraseBook {
    /// The templates; `{v}` is a verb phrase, `{o}` an object phrase.
    public static let templates = [
        "{v} the {o}",
        "please {v} the {o}",
        "the {o}: {v}",
        "{v} the {o} a little",
        "could you {v} the {o}",
        "the {o}, {v} it now",
        "time to {v} the {o}",
        "we should {v} the {o}",
    ]

    /// At most this many templates may be held out (half of them).
    public static let maxHeldOut = templates.count / 2

    /// The sentence of `wording` in template `template`, with verb and object drawn from `rng`.
    public static func sentence(_ wording: ActionWording, template: Int, rng: inout SimRandom) -> String {
        let verb = wording.verbs[rng.index(wording.verbs.count)]
        let object = wording.objects[rng.index(wording.objects.count)]
        return fill(templates[template], verb: verb, object: object)
    }

    /// A template with its slots filled.
    static func fill(_ template: String, verb: String, object: String) -> String {
        template.replacingOccurrences(of: "{v}", with: verb).replacingOccurrences(of: "{o}", with: object)
    }

    /// Every paraphrase of `wording` (templates × verbs × objects), template 0 and first fillers first.
    public static func paraphrases(of wording: ActionWording) -> [String] {
        templates.flatMap { t in wording.objects.flatMap { o in wording.verbs.map { fill(t, verb: $0, object: o) } } }
    }

    /// Paraphrases per meaning of `wording`.
    static func count(_ wording: ActionWording) -> Int { templates.count * wording.verbs.count * wording.objects.count }

    /// The templates held out of `train` and `kb` in a world: `count` of them, chosen by the seed.
    public static func heldOut(count: Int, seed: UInt64) -> [Int] {
        guard count > 0 else { return [] }
        var rng = SimRandom(seed: seed, purpose: Purpose.language)
        return WorldFamilies.shuffled(templates.count, rng: &rng).prefix(count).sorted()
    }
}

/// A family whose actions are phrased through `PhraseBook`: it gives each action's wording, the book does the rest.
public protocol PhrasedFamily: WorldFamily {
    /// The verbs and objects of `action`.
    func wording(action: Int) -> ActionWording
}

extension PhrasedFamily {
    public var templateCount: Int { PhraseBook.templates.count }

    public var paraphrasesPerMeaning: Int { PhraseBook.count(wording(action: 0)) }

    public func sentence(action: Int, templates: [Int], rng: inout SimRandom) -> String {
        PhraseBook.sentence(wording(action: action), template: templates[rng.index(templates.count)], rng: &rng)
    }

    public func canonicalSentence(action: Int) -> String {
        let w = wording(action: action)
        return PhraseBook.fill(PhraseBook.templates[0], verb: w.verbs[0], object: w.objects[0])
    }

    /// Action 0 in each template, fillers drawn from a fixed stream.
    public func exampleSentences() -> [String] {
        var rng = SimRandom(seed: 0, purpose: Purpose.language, 1)
        return (0..<templateCount).map { sentence(action: 0, templates: [$0], rng: &rng) }
    }
}
