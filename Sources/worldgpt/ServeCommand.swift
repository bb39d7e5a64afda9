// `worldgpt serve`: runs the `worldgpt-serve` binary beside this one with the same arguments. The server is its own
// product (SwiftNIO and Hummingbird stay out of this binary and out of `swift build --product worldgpt`).
import ArgumentParser
import Foundation

/// `worldgpt serve`.
struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve an episode store over HTTP: the API of openapi.yaml, the memory inspector at /ui (runs worldgpt-serve).",
        discussion: "Every option is worldgpt-serve's: `worldgpt-serve --help` lists them; reference in docs/serve.md.")

    @Argument(parsing: .allUnrecognized, help: "Options of worldgpt-serve (--db STORE, --port, --host, --token, --root, --read-only, --model, ...).")
    var arguments: [String] = []

    func run() throws {
        let beside = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("worldgpt-serve")
        guard FileManager.default.isExecutableFile(atPath: beside.path) else {
            throw ValidationError("worldgpt serve runs \(beside.path), which is not built: `swift build --product worldgpt-serve` (or `make build`)")
        }
        // execv replaces this process, so signals (Ctrl-C, SIGTERM) reach the server directly.
        let argv = [beside.path] + arguments
        var cArguments = argv.map { strdup($0) } + [nil]
        execv(beside.path, &cArguments)
        throw ValidationError("cannot run \(beside.path): \(String(cString: strerror(errno)))")
    }
}
