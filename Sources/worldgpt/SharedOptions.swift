// Options shared by many subcommands (output format, BLAS threads).
import ArgumentParser

/// `--json` for commands that print data.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false
}
