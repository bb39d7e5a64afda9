// What a test needs from the machine (ffmpeg, numpy, MiniLM weights, a built binary): a skip on a developer's
// machine, a failure in CI. `make setup` installs everything the tests use, so in CI a missing piece is a
// set-up defect that must not pass as a skip.
import Foundation
import XCTest

/// A requirement of a test that this machine does not meet, raised as a failure (CI) instead of a skip.
public struct MissingRequirement: Error, CustomStringConvertible {
    /// What is missing and how to install it.
    public let reason: String
    public var description: String {
        "\(reason) — skips are failures when CI=true; run `make setup`, or set WORLDGPT_ALLOW_SKIPS=1 by hand to allow them"
    }
}

/// The project's skip policy.
public enum Requirements {
    /// Skips are allowed unless `CI` is set to `true`/`1`; `WORLDGPT_ALLOW_SKIPS=1` (set by hand, never by
    /// `.ci/run`) allows them even then.
    public static var skipsAllowed: Bool {
        let env = ProcessInfo.processInfo.environment
        if env["WORLDGPT_ALLOW_SKIPS"] == "1" { return true }
        let ci = (env["CI"] ?? "").lowercased()
        return !(ci == "true" || ci == "1")
    }

    /// The error to throw when a test cannot run here: `XCTSkip` where skips are allowed, else a failure.
    public static func missing(_ reason: String) -> Error {
        skipsAllowed ? XCTSkip(reason) : MissingRequirement(reason: reason)
    }

    /// Throws `missing(reason)` unless `condition` holds.
    public static func require(_ condition: Bool, _ reason: @autoclosure () -> String) throws {
        if !condition { throw missing(reason()) }
    }
}
