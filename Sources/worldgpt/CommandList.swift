// The list of subcommands the root command offers. Add one line per command group, keep the groups together.
import ArgumentParser

/// Every top-level subcommand, in the order `--help` shows them.
let commandList: [any ParsableCommand.Type] = [
    // Formats
    // Encoders / Tensor
    // Media
    // Memory / Retrieval
    // SimWorld
    SimWorldCommand.self,
    // WorldModel
    // ContextReflector
    ReflectorCommand.self,
    // Agent
]
