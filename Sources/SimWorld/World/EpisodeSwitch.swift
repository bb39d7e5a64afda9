// The long-horizon switch: once per episode, at a random recorded step, some named controls start acting as other
// controls (rewire) or reversed (reverse), and stay so. Generator-only: nothing in the WorldNet files shows it.
import Foundation

/// One episode's hidden switch: from recorded step `step` on, the action the sentence names is executed as
/// `executed(_:at:)` says. Drawn from its own random stream, so a world without a switch draws nothing.
public struct EpisodeSwitch: Equatable, Sendable {
    /// The first recorded step (0-based) that acts switched.
    public let step: Int
    /// `controls[c]`: the control that named control `c` works from the switch on (`c` itself when untouched).
    public let controls: [Int]
    /// `reversed[c]`: whether named control `c` acts reversed from the switch on.
    public let reversed: [Bool]
    /// Actions per control of the family (`WorldFamily.actionsPerControl`).
    public let actionsPerControl: Int

    /// A switch with explicit parts (tests, hand-built worlds).
    public init(step: Int, controls: [Int], reversed: [Bool], actionsPerControl: Int) {
        precondition(controls.count == reversed.count && actionsPerControl >= 2 && actionsPerControl % 2 == 0,
                     "a switch needs one entry per control and an even number of actions per control")
        self.step = step
        self.controls = controls
        self.reversed = reversed
        self.actionsPerControl = actionsPerControl
    }

    /// The switch of episode `episode` of `scenario`: its step uniform in `switch_first...switch_last`; `rewire`
    /// moves `switch_controls` controls (0 or more than there are: all) one place along a random cycle, `reverse`
    /// reverses that many (chosen at random). Nil when the config has no switch.
    static func draw(config: WorldConfig, family: any WorldFamily, scenario: Int, episode: Int) -> EpisodeSwitch? {
        guard config.switchKind != .none else { return nil }
        var rng = SimRandom(seed: config.seed, purpose: Purpose.switching, scenario, episode)
        let step = config.switchFirst + rng.index(config.switchLast - config.switchFirst + 1)
        let count = family.controlCount
        let touched = config.switchControls == 0 ? count : min(config.switchControls, count)
        let chosen = Array(WorldFamilies.shuffled(count, rng: &rng).prefix(touched))
        var controls = Array(0..<count)
        var reversed = [Bool](repeating: false, count: count)
        switch config.switchKind {
        case .none: break
        case .rewire:
            // One cycle through the chosen controls, so every one of them really changes.
            for (i, c) in chosen.enumerated() { controls[c] = chosen[(i + 1) % chosen.count] }
        case .reverse:
            for c in chosen { reversed[c] = true }
        }
        return EpisodeSwitch(step: step, controls: controls, reversed: reversed, actionsPerControl: family.actionsPerControl)
    }

    /// The action executed when the sentence names `action` at recorded step `t`.
    public func executed(_ action: Int, at t: Int) -> Int {
        guard t >= step else { return action }
        let control = action / actionsPerControl
        var way = action % actionsPerControl
        if reversed[control] { way ^= 1 }
        return controls[control] * actionsPerControl + way
    }

    /// Whether the switch changes what `action` does at step `t`.
    public func changes(_ action: Int, at t: Int) -> Bool { executed(action, at: t) != action }
}

/// How much of a switched world's late history a recent window shows, counted on the `sequences` split from step
/// `fromStep` on (where every episode has switched): of the steps whose action the switch changes, the share whose
/// named control was also used after the switch within the last 3 or 16 steps (what a recent window could show),
/// and at any earlier step of the episode (what a recall over the whole episode could find). Generator-only.
public struct SwitchStatistics: Equatable, Sendable, Encodable {
    /// The first step counted (1-based).
    public let fromStep: Int
    /// Steps counted.
    public let steps: Int
    /// Share of them whose action the switch changes.
    public let changed: Double
    /// Of the changed steps: share whose control was used since the switch within the previous 3 steps.
    public let seenWithin3: Double
    /// … within the previous 16 steps.
    public let seenWithin16: Double
    /// … at any earlier step of the episode.
    public let seenEarlier: Double

    /// The statistics of `world`'s sequences (nil without a switch).
    public init?(_ world: GeneratedWorld) {
        guard world.config.switchKind != .none else { return nil }
        let first = world.config.switchLast + 1
        var steps = 0, changed = 0, within3 = 0, within16 = 0, earlier = 0
        for episode in world.episodes where episode.split == .sequences {
            guard let event = episode.switchEvent else { continue }
            let perControl = event.actionsPerControl
            for t in first..<episode.actions.count {
                steps += 1
                guard event.changes(episode.actions[t], at: t) else { continue }
                changed += 1
                let control = episode.actions[t] / perControl
                let uses = (event.step..<t).filter { episode.actions[$0] / perControl == control }
                guard let last = uses.last else { continue }
                earlier += 1
                if t - last <= 3 { within3 += 1 }
                if t - last <= 16 { within16 += 1 }
            }
        }
        func share(_ n: Int, _ of: Int) -> Double { of == 0 ? 0 : Oracles.round6(Double(n) / Double(of)) }
        fromStep = first + 1
        self.steps = steps
        self.changed = share(changed, steps)
        seenWithin3 = share(within3, changed)
        seenWithin16 = share(within16, changed)
        seenEarlier = share(earlier, changed)
    }
}
