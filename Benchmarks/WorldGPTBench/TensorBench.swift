// Tensor/Encoders benchmark: MiniLM sentences/s at batch 32 vs sentence-transformers (PyTorch CPU), and sgemm GFLOP/s vs numpy.
// Both sides run in the same process run with the same thread counts; peers live in Benchmarks/peers/ and bench-out/venv-tensor.
import Encoders
import Formats
import Foundation
import Tensor

/// Runs the tensor benchmarks and prints ours / peer / ratio lines.
func runTensorBench() {
    print("== tensor: GEMM (sgemm, Float32) vs numpy ==")
    let cores = ProcessInfo.processInfo.activeProcessorCount
    let threadCounts = Array(Set([1, min(2, cores)])).sorted()
    for (m, n, k) in [(512, 512, 512), (2048, 768, 768)] {
        for threads in threadCounts {
            BLAS.threadCount = threads
            let ours = gemmGFlops(m: m, n: n, k: k)
            let peer = runPeer(["python3", "Benchmarks/peers/gemm_peer.py", "\(m)", "\(n)", "\(k)"], threads: threads)
            let peerValue = (peer?["gflops"] as? Double)
            printRow("sgemm \(m)x\(n)x\(k) threads=\(threads) GFLOP/s", ours: ours, peer: peerValue,
                     note: (peer?["blas"] as? String).map { "numpy BLAS: \($0)" })
        }
    }

    print("== tensor: MiniLM sentence embedding, batch 32 ==")
    let dir = MiniLMEncoder.defaultDirectory
    guard MiniLMEncoder.weightsPresent(in: dir) else {
        print("skipped: MiniLM weights not in \(dir.path) (run `make setup`)")
        return
    }
    let encoder: MiniLMEncoder
    do { encoder = try MiniLMEncoder(directory: dir, batchSize: 32) } catch {
        print("skipped: \(error)")
        return
    }
    let sentences = benchmarkSentences(count: 1024)
    let tokens = sentences.map { encoder.tokenIDs($0).count }
    let file = URL(fileURLWithPath: "bench-out/tensor-sentences.txt")
    try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
    try? (sentences.joined(separator: "\n") + "\n").write(to: file, atomically: true, encoding: .utf8)
    print("sentences: \(sentences.count), tokens per sentence: min \(tokens.min() ?? 0) mean \(tokens.reduce(0, +) / max(1, tokens.count)) max \(tokens.max() ?? 0)")
    let peerReady = runProcess(["bash", "Benchmarks/peers/tensor_peer_setup.sh"], environment: [:]) != nil
    for threads in threadCounts {
        BLAS.threadCount = threads
        _ = try? encoder.embed(Array(sentences.prefix(64)))  // warm-up
        var best = Double.infinity
        var ours: [[Float]] = []
        for _ in 0..<2 {
            let start = DispatchTime.now().uptimeNanoseconds
            ours = (try? encoder.embed(sentences)) ?? []
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
        }
        let oursRate = Double(sentences.count) / best
        var peerRate: Double?
        var note: String?
        if peerReady {
            let out = "bench-out/tensor-peer-embeddings-\(threads).npy"
            let python = "bench-out/venv-tensor/bin/python"
            if let peer = runPeer([python, "Benchmarks/peers/minilm_peer.py", file.path, "\(threads)", "32", out], threads: threads) {
                peerRate = peer["sentences_per_second"] as? Double
                if let ref = try? NPY.read(URL(fileURLWithPath: out)).floatValues(), ref.count == ours.count * 384 {
                    var worst = 1.0
                    for (i, v) in ours.enumerated() {
                        var dot = 0.0
                        for j in 0..<384 { dot += Double(v[j]) * Double(ref[i * 384 + j]) }
                        worst = min(worst, dot)
                    }
                    note = "torch \(peer["torch"] as? String ?? "?"), min cosine ours vs peer \(String(format: "%.6f", worst))"
                }
            }
        } else {
            note = "peer unavailable (venv install failed)"
        }
        printRow("MiniLM sentences/s threads=\(threads)", ours: oursRate, peer: peerRate, note: note)
    }
}

/// Best-of-3 GFLOP/s of C = A·B for M×K times K×N.
private func gemmGFlops(m: Int, n: Int, k: Int) -> Double {
    var rng = SeededRandom(seed: 1)
    let a = (0..<(m * k)).map { _ in rng.nextUnit() - 0.5 }
    let b = (0..<(k * n)).map { _ in rng.nextUnit() - 0.5 }
    var c = [Float](repeating: 0, count: m * n)
    let reps = max(3, Int(2e10 / Double(2 * m * n * k)))
    var best = Double.infinity
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            c.withUnsafeMutableBufferPointer { pc in
                BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!)  // warm-up
                for _ in 0..<3 {
                    let start = DispatchTime.now().uptimeNanoseconds
                    for _ in 0..<reps { BLAS.sgemm(m: m, n: n, k: k, a: pa.baseAddress!, b: pb.baseAddress!, c: pc.baseAddress!) }
                    best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9 / Double(reps))
                }
            }
        }
    }
    return 2 * Double(m * n * k) / best / 1e9
}

/// 1,024 deterministic sentences of mixed length (mostly short, some long enough to be truncated at 256 tokens).
func benchmarkSentences(count: Int) -> [String] {
    let words = ("the a an of to in on at with from over under near river mountain city forest robot camera person dog car "
        + "bicycle airplane runway snow skiing fireworks harbour night morning evening quickly slowly carefully suddenly "
        + "moves jumps explodes lands takes picks drops opens closes turns walks runs flies falls rises looks shows "
        + "red green blue bright dark loud quiet small large heavy light old new wooden metal glass 2024 3.5 42% "
        + "WorldGPT predicts next state action video audio image model memory retrieval reflector "
        + "unbelievably counterintuitive electroencephalography café naïve résumé").split(separator: " ").map(String.init)
    var rng = SeededRandom(seed: 2024)
    return (0..<count).map { i in
        let r = rng.nextUnit()
        let length = r < 0.6 ? 4 + Int(rng.nextUnit() * 16) : (r < 0.9 ? 20 + Int(rng.nextUnit() * 40) : 60 + Int(rng.nextUnit() * 180))
        var s = (0..<length).map { _ in words[Int(rng.nextUnit() * Float(words.count)) % words.count] }.joined(separator: " ")
        s = s.prefix(1).uppercased() + s.dropFirst() + (i % 3 == 0 ? "?" : ".")
        return s
    }
}

private func printRow(_ label: String, ours: Double, peer: Double?, note: String?) {
    let peerText = peer.map { String(format: "%.1f", $0) } ?? "n/a"
    let ratio = peer.map { String(format: "%.2f", ours / $0) } ?? "n/a"
    print("\(label): ours \(String(format: "%.1f", ours)) / peer \(peerText) / ratio \(ratio)\(note.map { "  (\($0))" } ?? "")")
}

/// Runs a peer with OPENBLAS/OMP/MKL thread variables set; parses its last stdout line as JSON.
private func runPeer(_ arguments: [String], threads: Int) -> [String: Any]? {
    let env = ["OPENBLAS_NUM_THREADS": "\(threads)", "OMP_NUM_THREADS": "\(threads)", "MKL_NUM_THREADS": "\(threads)"]
    guard let out = runProcess(arguments, environment: env),
          let line = out.split(separator: "\n").last,
          let json = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
    return json
}

/// Runs a command (found on PATH) and returns its stdout, or nil when it fails.
private func runProcess(_ arguments: [String], environment: [String: String]) -> String? {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let pipe = Pipe()
    process.standardOutput = pipe
    do { try process.run() } catch { return nil }
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
        print("peer failed: \(arguments.joined(separator: " ")) (exit \(process.terminationStatus))")
        return nil
    }
    return String(decoding: data, as: UTF8.self)
}
