// The `worldgpt` command line tool: argument parsing and printing only; the work happens in the libraries.
import ArgumentParser
import Tensor

/// The root command: lists every subcommand with a one-line explanation.
@main
struct WorldGPT: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worldgpt",
        abstract: "Run, inspect and train a WorldGPT-style world model inside a cognitive architecture.",
        discussion: """
            A world model predicts the next state of a world (image/video/audio/text embeddings) from the \
            current state and an action sentence. This runtime wraps it with memory offloading (SQLite), \
            knowledge retrieval (vector search) and a ContextReflector. Run `worldgpt help <subcommand>` for details.
            """,
        version: "0.1.0",
        subcommands: commandList
    )

    /// Shortens OpenBLAS's idle spin before any work starts (see `BLAS.limitIdleSpin`), then runs the command.
    static func main() {
        BLAS.limitIdleSpin()
        main(nil)
    }
}
