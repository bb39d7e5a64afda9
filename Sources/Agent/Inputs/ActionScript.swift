// Action files: one action sentence per line, read strictly (a blank line is an error, not an empty action).
import Foundation

/// The list of actions a rollout applies, one per step, read from a text file.
public struct ActionScript: Equatable, Sendable {
    /// The action sentences in order.
    public var actions: [String]

    /// Wraps sentences already in memory.
    public init(actions: [String]) { self.actions = actions }

    /// Reads `url`: one sentence per line; surrounding whitespace is trimmed; a trailing newline is fine.
    /// - Throws: `AgentError.blankAction` naming the line of any blank line, `.noActions` for an empty file,
    ///   `.missingFile` when the file does not exist.
    public static func load(_ url: URL) throws -> ActionScript {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw AgentError.missingFile(kind: "action file", path: url.path, hint: "give a text file with one action per line")
        }
        let text = try String(contentsOf: url, encoding: .utf8)
        return try parse(text, file: url.path)
    }

    /// Parses file contents; `file` names the source in errors.
    public static func parse(_ text: String, file: String) throws -> ActionScript {
        // `\r\n` is one Character in Swift, so split on any newline character.
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var actions: [String] = []
        for (index, line) in lines.enumerated() {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            guard !trimmed.isEmpty else { throw AgentError.blankAction(file: file, line: index + 1) }
            actions.append(trimmed)
        }
        guard !actions.isEmpty else { throw AgentError.noActions(file: file) }
        return ActionScript(actions: actions)
    }

    /// The action for rollout step `index` (0-based), cycling when the rollout is longer than the script.
    public func action(at index: Int) -> String { actions[index % actions.count] }
}
