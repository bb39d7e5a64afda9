// End-to-end tests of the `worldgpt` executable: they run the built binary as a user would.
import Foundation
import TestSupport
import XCTest

/// Runs the built `worldgpt` binary with `arguments`; returns exit status, standard output and standard error.
///
/// The binary runs in a fresh temporary folder, removed afterwards, so that nothing a command writes beside itself
/// (a default output path such as `eval --ablation`'s `ablation.csv`) lands in the folder the tests run from.
/// The built `worldgpt` binary (`.build/debug`, or beside the test bundle where `swift test` builds products).
func worldgptBinary() -> URL {
    let binary = Fixtures.projectRoot.appendingPathComponent(".build/debug/worldgpt")
    if FileManager.default.fileExists(atPath: binary.path) { return binary }
    return Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent().appendingPathComponent("worldgpt")
}

func runWorldGPT(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = worldgptBinary()
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let workingDirectory = try TemporaryDirectory(prefix: "worldgpt-cwd")
    defer { workingDirectory.remove() }
    process.currentDirectoryURL = workingDirectory.url
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

/// A `worldgpt` run that was expected to succeed and did not.
struct WorldGPTFailure: Error, CustomStringConvertible {
    var arguments: [String]
    var status: Int32
    var stderr: String
    var description: String { "`worldgpt \(arguments.joined(separator: " "))` exited \(status): \(stderr)" }
}

/// Runs `worldgpt` and returns its standard output; throws `WorldGPTFailure` (with standard error) unless it exits 0.
@discardableResult
func worldgptOutput(_ arguments: [String]) throws -> String {
    let result = try runWorldGPT(arguments)
    guard result.status == 0 else { throw WorldGPTFailure(arguments: arguments, status: result.status, stderr: result.stderr) }
    return result.stdout
}

/// Asserts that `worldgpt arguments` fails and that its output names every one of `needles`.
func assertWorldGPTFails(_ arguments: [String], mentioning needles: [String], file: StaticString = #filePath, line: UInt = #line) throws {
    let result = try runWorldGPT(arguments)
    XCTAssertNotEqual(result.status, 0, "expected a failure: worldgpt \(arguments.joined(separator: " "))", file: file, line: line)
    for needle in needles {
        XCTAssertTrue((result.stdout + result.stderr).contains(needle),
                      "expected '\(needle)' in the output of worldgpt \(arguments.joined(separator: " ")): \(result.stderr)", file: file, line: line)
    }
}

/// The subcommand names listed in a help text's SUBCOMMANDS section, in order.
func helpSubcommands(_ help: String) -> [String] {
    guard let section = help.range(of: "SUBCOMMANDS:\n") else { return [] }
    return help[section.upperBound...].split(separator: "\n").compactMap { line -> String? in
        // Entries start with two spaces and the name; wrapped abstracts are indented further.
        guard line.hasPrefix("  "), !line.hasPrefix("   ") else { return nil }
        let name = line.dropFirst(2).prefix { !$0.isWhitespace }
        return name.isEmpty || name == "See" ? nil : String(name)
    }
}

final class CLITests: XCTestCase {
    /// The command names of `Sources/worldgpt/CommandList.swift`'s `commandList`, read from the sources: each type's
    /// `commandName`.
    private func commandListNames() throws -> [String] {
        let folder = Fixtures.projectRoot.appendingPathComponent("Sources/worldgpt")
        let list = try String(contentsOf: folder.appendingPathComponent("CommandList.swift"), encoding: .utf8)
        let body = try XCTUnwrap(list.range(of: "let commandList").map { String(list[$0.upperBound...]) })
        let types = try NSRegularExpression(pattern: #"([A-Za-z]+)\.self"#).matches(in: body, range: NSRange(body.startIndex..., in: body))
            .map { String(body[Range($0.range(at: 1), in: body)!]) }
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .map { try String(contentsOf: $0, encoding: .utf8) }
        return try types.map { type in
            let file = try XCTUnwrap(files.first { $0.contains("struct \(type): ") }, "no declaration of \(type)")
            let tail = file[file.range(of: "struct \(type): ")!.upperBound...]
            let name = try XCTUnwrap(tail.range(of: #"commandName: "[a-z-]+""#, options: .regularExpression), "\(type) has no commandName")
            return String(tail[name].dropFirst("commandName: \"".count).dropLast())
        }
    }

    func testHelpListsEverySubcommand() throws {
        let names = try commandListNames()
        XCTAssertEqual(names.count, 20, "\(names)")
        let result = try runWorldGPT(["--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertEqual(helpSubcommands(result.stdout), names, result.stdout)
        let bare = try runWorldGPT([])
        XCTAssertEqual(helpSubcommands(bare.stdout + bare.stderr), names)

        // `worldgpt help <sub>` explains each, and each group's own subcommands.
        let groups = ["dataset": ["check"], "media": ["probe"], "memory": ["ls", "show", "search", "export", "stats", "verify", "prune", "merge", "watch"],
                      "kb": ["build", "search"], "simworld": ["generate", "yardstick"], "reflector": ["run", "explain"], "samples": ["build", "merge"]]
        for name in names {
            let help = try runWorldGPT(["help", name])
            XCTAssertEqual(help.status, 0, "help \(name): \(help.stderr)")
            XCTAssertTrue(help.stdout.contains("USAGE: worldgpt \(name)"), "help \(name): \(help.stdout)")
            let nested = helpSubcommands(help.stdout)
            XCTAssertEqual(Set(nested), Set(groups[name] ?? []), "subcommands of \(name)")
            for sub in nested {
                let subHelp = try runWorldGPT(["help", name, sub])
                XCTAssertEqual(subHelp.status, 0, "help \(name) \(sub): \(subHelp.stderr)")
                XCTAssertTrue(subHelp.stdout.contains("USAGE: worldgpt \(name) \(sub)"), "help \(name) \(sub): \(subHelp.stdout)")
            }
        }
    }
}
