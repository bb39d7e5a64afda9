// SimWorld benchmark: wall time to generate the default world (16 × 200 × 7 = 22,400 transitions, 102,400 .pt
// files) and a small --media world (224 transitions); no peer exists, so only our figures are printed.
import Foundation
import SimWorld

/// Runs the SimWorld benchmarks when `arguments` is empty or names "simworld".
func simWorldBench(arguments: [String]) {
    guard arguments.isEmpty || arguments.contains("simworld") else { return }
    print("== simworld: generation time (goal: default world ≤ 60 s, media world of ≥ 200 transitions ≤ 120 s, 2 cores)")
    let root = URL(fileURLWithPath: "bench-out/simworld")
    for (name, config) in [("default world", WorldConfig()), ("media world 4×8×7", mediaConfig())] {
        let out = root.appendingPathComponent(name.replacingOccurrences(of: " ", with: "-"))
        try? FileManager.default.removeItem(at: out)
        let start = Date()
        do {
            let summary = try WorldGenerator(config).generate(to: out)
            let seconds = Date().timeIntervalSince(start)
            let files = summary.embeddingFiles + summary.mediaFiles
            print("   \(name): " + String(format: "%d transitions, %d files in %.1f s (%.0f files/s); oracle mean a %.2f b %.2f c %.2f e %.2f d %.2f",
                         config.transitionCount, files, seconds, Double(files) / seconds,
                         summary.world.oracles.mean.trueDynamics, summary.world.oracles.mean.noScenario,
                         summary.world.oracles.mean.noHistory, summary.world.oracles.mean.stateActionOnly,
                         summary.world.oracles.mean.identity))
            print("   phases: " + summary.phaseSeconds.map { "\($0.phase) " + String(format: "%.1f s", $0.seconds) }.joined(separator: ", "))
        } catch {
            print("   \(name) failed: \(error)")
        }
    }
}

private func mediaConfig() -> WorldConfig {
    var config = WorldConfig()
    config.scenarios = 4
    config.episodes = 8
    config.media = true
    return config
}
