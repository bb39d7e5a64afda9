// Reflector benchmark: filter-stage latency per query, and the learned stage's forward at WorldGPT's sizes
// (H 768, 12 heads, 2 layers, out 4096) next to a numpy/scipy float32 peer (Benchmarks/peers/reflector_numpy.py).
import ContextReflector
import Formats
import Foundation
import Tensor

/// Runs the reflector benchmarks and prints ours / peer / ratio.
func runReflectorBench() throws {
    print("== reflector")
    var rng = SeededRandom(seed: 1)
    func unit(_ n: Int) -> Formats.Embedding {
        Formats.Embedding((0..<n).map { _ in rng.nextUnit() - 0.5 }).normalized()
    }
    // Filter: 64 candidates with image+audio states (768-d) and 384-d actions, budget 4, MMR λ 0.7.
    let candidates = (0..<64).map { i in
        ReflectorCandidate(
            id: "kb:\(i)",
            transition: Transition(
                state0: State([.image: unit(768), .audio: unit(768)]), action: Action(text: "a", embedding: unit(384)),
                state1: State([.image: unit(768), .audio: unit(768)]), provenance: Provenance(dataset: "kb", sampleID: "\(i)")),
            score: Double(rng.nextUnit()))
    }
    let query = ReflectorQuery(state: State([.image: unit(768)]), action: Action(text: "q", embedding: unit(384)))
    let filter = try ReflectorFilter(config: ReflectorFilterConfig(threshold: 0.1))
    let filterRepeats = 50
    let filterStart = Date()
    for _ in 0..<filterRepeats { _ = filter.apply(query: query, candidates: candidates) }
    let filterMs = Date().timeIntervalSince(filterStart) / Double(filterRepeats) * 1000
    print(String(format: "filter: 64 candidates → 4 kept: %.3f ms/query", filterMs))

    // Learned stage at the original sizes.
    let config = LearnedReflectorConfig(outputWidth: 4096, layerCount: 2)
    let reflector = try LearnedReflector(config: config, seed: 2)
    for (batch, repeats) in [(1, 20), (64, 3)] {
        var data = [Float](repeating: 0, count: batch * 768)
        for i in data.indices { data[i] = rng.nextUnit() - 0.5 }
        var context = [Float](repeating: 0, count: batch * 12 * 768)
        for i in context.indices { context[i] = rng.nextUnit() - 0.5 }
        let input = ReflectorInput(
            state0: Tensor(shape: [batch, 768], data: data), action: Tensor(shape: [batch, 768], data: data),
            context: Tensor(shape: [batch, 12, 768], data: context))
        _ = try reflector.forward(input)
        let start = Date()
        for _ in 0..<repeats { _ = try reflector.forward(input) }
        let ours = Date().timeIntervalSince(start) / Double(repeats) * 1000
        // The inference path the runtime uses (no backward caches, no padding).
        _ = try reflector.infer(input)
        let inferStart = Date()
        for _ in 0..<repeats { _ = try reflector.infer(input) }
        let inferred = Date().timeIntervalSince(inferStart) / Double(repeats) * 1000
        let peer = peerMilliseconds(["2", "4096", "\(batch)", "4", "\(repeats)"])
        let peerText = peer.map { String(format: "%.2f ms, ratio ours/peer %.2f (infer %.2f)", $0, ours / $0, inferred / $0) }
            ?? "peer unavailable (python3 + numpy + scipy)"
        print(String(format: "learned forward B=%d, 4 triplets, 2 layers, out 4096: ours %.2f ms (training forward), %.2f ms (infer); numpy peer %@",
                     batch, ours, inferred, peerText))
    }
}

/// Milliseconds per call reported by the numpy peer, or nil when it cannot run.
private func peerMilliseconds(_ arguments: [String]) -> Double? {
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("peers/reflector_numpy.py")
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["python3", script.path] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { return nil }
    return Double(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
}
