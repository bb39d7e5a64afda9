// Options shared by many subcommands (output format, BLAS threads).
import ArgumentParser
import ContextReflector
import Foundation

/// `--json` for commands that print data.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "Print machine-readable JSON instead of text.")
    var json = false
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
