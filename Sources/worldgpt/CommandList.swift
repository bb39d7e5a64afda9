// The list of subcommands the root command offers. Add one line per command group, keep the groups together.
import ArgumentParser

/// Every top-level subcommand, in the order `--help` shows them.
let commandList: [any ParsableCommand.Type] = [
    // Formats
    InspectCommand.self,
    ConvertCommand.self,
    DatasetCommand.self,
    // Encoders / Tensor
    EmbedCommand.self,
    // Media
    MediaCommand.self,
    EncodeCommand.self,
    // Memory / Retrieval
    MemoryCommand.self,
    KBCommand.self,
    // SimWorld
    SimWorldCommand.self,
    // WorldModel
    TrainCommand.self,
    TrainRidgeCommand.self,
    EvalCommand.self,
    // ContextReflector
    ReflectorCommand.self,
    TrainReflectorCommand.self,
    // Agent
    RolloutCommand.self,
    PredictCommand.self,
    ForkCommand.self,
    SamplesCommand.self,
    // Server (its own binary, worldgpt-serve)
    ServeCommand.self,
    // The machine
    SystemCommand.self,
]
