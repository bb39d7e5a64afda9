// WorldModel benchmark: native training throughput and inference latency, side by side with the same
// architecture in PyTorch CPU (Benchmarks/peers/worldmodel_torch.py in bench-out/venv-worldmodel).
import Foundation
import Formats
import Tensor
import WorldModel

/// The shapes both sides use: D 768, A 384, width 256, depth 3, 4 heads, MLP ×4, batch 64,
/// mode (image, audio) → (video): 4 tokens per sample (2 inputs, action, 1 query).
enum WorldModelBenchShapes {
    static let model = NativeModelConfig(
        embeddingDimension: 768, actionDimension: 384, width: 256, depth: 3, heads: 4, mlpRatio: 4, maxMemorySteps: 8, reflectorWidth: 256, seed: 1)
    static let batch = 64
    static let mode = TaskMode(inputs: [.image, .audio], targets: [.video])
    static let warmupSteps = 3
    static let timedSteps = 20
}

/// Random unit-vector transitions with every modality (for throughput only).
private func randomTransitions(count: Int, seed: UInt64) -> [Transition] {
    var rng = SeededRandom(seed: seed)
    func unit(_ n: Int) -> Formats.Embedding {
        Formats.Embedding((0..<n).map { _ in rng.nextUnit() - 0.5 }).normalized()
    }
    return (0..<count).map { i in
        let s0 = State([.image: unit(768), .audio: unit(768), .video: unit(768)])
        let s1 = State([.image: unit(768), .audio: unit(768), .video: unit(768)])
        return Transition(state0: s0, action: Action(text: "a\(i % 16)", embedding: unit(384)), state1: s1, provenance: Provenance(dataset: "bench", sampleID: "\(i)"))
    }
}

/// Ours: samples/s of `Trainer.trainStep` and predictBatch latency at batch 1 and 64.
private func measureNative(threads: Int) throws -> (samplesPerSecond: Double, latency1: Double, latency64: Double) {
    BLAS.threadCount = threads
    let shapes = WorldModelBenchShapes.self
    let data = try TrainingData(transitions: randomTransitions(count: 1024, seed: 7), modes: [shapes.mode], model: shapes.model)
    let config = TrainingConfig(
        model: shapes.model, stages: [TrainingStage(kind: shapes.mode.kind, steps: shapes.warmupSteps + shapes.timedSteps)],
        batchSize: shapes.batch, warmupSteps: 2, memoryProbability: 0, seed: 1)
    let trainer = try Trainer(config: config, data: data)
    for _ in 0..<shapes.warmupSteps { try trainer.trainStep() }
    let start = Date()
    for _ in 0..<shapes.timedSteps { try trainer.trainStep() }
    let rate = Double(shapes.timedSteps * shapes.batch) / Date().timeIntervalSince(start)
    let inputs = data.transitions.prefix(64).map {
        PredictionInput(state: shapes.mode.mask($0.state0), action: $0.action, targets: shapes.mode.targets)
    }
    func latency(_ batch: [PredictionInput], repeats: Int) throws -> Double {
        _ = try trainer.model.predictBatch(batch)
        let t0 = Date()
        for _ in 0..<repeats { _ = try trainer.model.predictBatch(batch) }
        return Date().timeIntervalSince(t0) / Double(repeats) * 1000
    }
    return (rate, try latency([inputs[0]], repeats: 50), try latency(Array(inputs), repeats: 10))
}

/// The PyTorch peer's figures, or nil (with the reason printed) when its venv is missing.
private func measureTorch(threads: Int) -> (samplesPerSecond: Double, latency1: Double, latency64: Double)? {
    let python = URL(fileURLWithPath: "bench-out/venv-worldmodel/bin/python")
    let script = URL(fileURLWithPath: "Benchmarks/peers/worldmodel_torch.py")
    guard FileManager.default.isExecutableFile(atPath: python.path) else {
        print("  torch peer: skipped (run Benchmarks/peers/setup-worldmodel-venv.sh to create bench-out/venv-worldmodel)")
        return nil
    }
    let process = Process()
    process.executableURL = python
    let s = WorldModelBenchShapes.self
    process.arguments = [
        script.path, "--threads", "\(threads)", "--batch", "\(s.batch)", "--width", "\(s.model.width)", "--depth", "\(s.model.depth)",
        "--heads", "\(s.model.heads)", "--warmup", "\(s.warmupSteps)", "--steps", "\(s.timedSteps)",
    ]
    let pipe = Pipe()
    process.standardOutput = pipe
    do { try process.run() } catch {
        print("  torch peer: cannot start (\(error))")
        return nil
    }
    let output = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0,
        let json = try? JSONSerialization.jsonObject(with: output) as? [String: Any],
        let rate = json["samples_per_second"] as? Double, let l1 = json["latency_batch1_ms"] as? Double,
        let l64 = json["latency_batch64_ms"] as? Double
    else {
        print("  torch peer: failed (exit \(process.terminationStatus)): \(String(decoding: output, as: UTF8.self))")
        return nil
    }
    return (rate, l1, l64)
}

/// Runs the WorldModel benchmark (skipped when arguments name other benchmarks only).
func worldModelBench(arguments: [String]) {
    guard arguments.isEmpty || arguments.contains("worldmodel") else { return }
    print("== WorldModel: native transformer (D 768, A 384, width 256, depth 3, 4 heads, batch 64, (image, audio) → (video)) ==")
    let savedThreads = BLAS.threadCount
    defer { BLAS.threadCount = savedThreads }
    for threads in [1, 2] {
        do {
            let ours = try measureNative(threads: threads)
            let peer = measureTorch(threads: threads)
            func row(_ name: String, _ a: Double, _ b: Double?, higherIsBetter: Bool) -> String {
                let peerText = b.map { String(format: "%10.2f", $0) } ?? "         -"
                let ratio = b.map { String(format: "%6.2f", higherIsBetter ? a / $0 : $0 / a) } ?? "     -"
                let padded = name.padding(toLength: 34, withPad: " ", startingAt: 0)
                return "  \(padded) " + String(format: "%10.2f", a) + "  \(peerText)  \(ratio)"
            }
            print("  " + "threads \(threads)".padding(toLength: 34, withPad: " ", startingAt: 0) + "       ours       torch   ratio (>1 = ours faster)")
            print(row("training samples/s", ours.samplesPerSecond, peer?.samplesPerSecond, higherIsBetter: true))
            print(row("inference latency batch 1 (ms)", ours.latency1, peer?.latency1, higherIsBetter: false))
            print(row("inference latency batch 64 (ms)", ours.latency64, peer?.latency64, higherIsBetter: false))
        } catch {
            print("  worldmodel bench failed: \(error)")
        }
    }
}
