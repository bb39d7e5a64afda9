// Options shared by many subcommands (output format, BLAS threads).
import ArgumentParser
import ContextReflector
import Foundation
import Tensor

/// `--json` for commands that print data.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false
}

/// `--threads N` for commands that compute: OpenBLAS's thread count, and with it the budget of the project's own
/// parallel loops (`BLAS.workerBudget`).
struct ThreadOptions: ParsableArguments {
    @Option(name: .long, help: "OpenBLAS threads (default: OPENBLAS_NUM_THREADS, else all cores).")
    var threads: Int?

    func validate() throws {
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1 (got \(threads))") }
    }

    /// Sets OpenBLAS's thread count when `--threads` was given.
    func apply() {
        if let threads { BLAS.threadCount = threads }
    }
}

/// The runtime filter's settings from a JSON file (`--filter`): any of `threshold`, `duplicate_cosine`, `mmr_lambda`,
/// `budget`, `leakage_guard`, `identical_cosine` (docs/reflector.md); missing keys take their defaults.
enum RuntimeFilterFile {
    static func load(_ path: String, option: String = "--filter") throws -> ReflectorFilterConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(option) \(path)") }
        let config: ReflectorFilterConfig
        do { config = try JSONDecoder().decode(ReflectorFilterConfig.self, from: data) } catch {
            throw ValidationError("\(option) \(path): not a filter config (keys threshold, duplicate_cosine, mmr_lambda, budget): \(error)")
        }
        do { try config.validate() } catch { throw ValidationError("\(option) \(path): \(error)") }
        return config
    }
}
