// Formats benchmark: reading and writing tensor files (.pt, .npy, safetensors), side by side with torch.load /
// torch.save and numpy (Benchmarks/peers/formats_peer.py; torch from bench-out/venv-formats when present).
import Foundation
import Formats

/// Median wall time of `repeats` runs of `body` after one warm-up run, in milliseconds.
private func medianMilliseconds(repeats: Int = 5, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var samples: [Double] = []
    for _ in 0..<repeats {
        let t0 = Date()
        try body()
        samples.append(Date().timeIntervalSince(t0) * 1000)
    }
    return samples.sorted()[samples.count / 2]
}

/// Runs the peer script and parses its `<op> <ms>` lines.
private func peerTimings(_ arguments: [String]) -> [String: Double] {
    let venv = URL(fileURLWithPath: "bench-out/venv-formats/bin/python")
    let process = Process()
    process.executableURL = FileManager.default.isExecutableFile(atPath: venv.path) ? venv : URL(fileURLWithPath: "/usr/bin/python3")
    process.arguments = ["Benchmarks/peers/formats_peer.py"] + arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = FileHandle.nullDevice
    do { try process.run() } catch { return [:] }
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") {
        let parts = line.split(separator: " ")
        if parts.count == 2, let v = Double(parts[1]) { out[String(parts[0])] = v }
    }
    return out
}

/// `WorldGPTBench formats`: file reading and writing throughput.
func formatsBench(arguments: [String]) {
    guard arguments.isEmpty || arguments.contains("formats") else { return }
    print("== Formats: tensor files (median of 5 runs, ms; peer = torch 1 thread / numpy) ==")
    do {
        let dir = URL(fileURLWithPath: "bench-out/formats")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        // A 64 MiB state dict: 16 float32 matrices of 1024×1024.
        var rng: UInt64 = 0x1234_5678
        func next() -> Float {
            rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Float(Int64(bitPattern: rng >> 11) % 2000) / 1000 - 1
        }
        let tensors = (0..<16).map { i in ("layer\(i).weight", TensorData(floats: (0..<(1024 * 1024)).map { _ in next() }, shape: [1024, 1024])) }
        let pt = dir.appendingPathComponent("state.pt"), ptOut = dir.appendingPathComponent("state-out.pt")
        let value = TorchValue.stringDict(tensors.map { ($0.0, .tensor($0.1)) })
        try TorchFile.save(value, to: pt)
        let npy = dir.appendingPathComponent("big.npy")
        try NPY.write(TensorData(floats: (0..<(16 * 1024 * 1024)).map { _ in next() }, shape: [16, 1024, 1024]), to: npy)
        let st = dir.appendingPathComponent("state.safetensors")
        try SafeTensors.write(tensors, to: st)
        let reflector = URL(fileURLWithPath: "../shared/fixtures/reflector/reflector.pt")

        var rows: [(String, Double, String)] = []
        rows.append(("pt_load", try medianMilliseconds { _ = try TorchFile.load(pt) }, "64 MiB .pt load (16 × 1024² f32)"))
        rows.append(("pt_save", try medianMilliseconds { try TorchFile.save(value, to: ptOut) }, "64 MiB .pt save"))
        rows.append(("npy_read", try medianMilliseconds { _ = try NPY.read(npy) }, "64 MiB .npy read"))
        rows.append(("safetensors_read", try medianMilliseconds { _ = try SafeTensors.read(st) }, "64 MiB safetensors read"))
        var peerArgs = ["pt=\(pt.path)", "pt_out=\(dir.appendingPathComponent("state-torch.pt").path)", "npy=\(npy.path)", "safetensors=\(st.path)"]
        if FileManager.default.fileExists(atPath: reflector.path) {
            rows.append(("reflector_load", try medianMilliseconds { _ = try TorchFile.load(reflector) }, "reflector.pt load (22 MB fp16)"))
            peerArgs.append("reflector=\(reflector.path)")
        }
        let peer = peerTimings(peerArgs)
        if peer["pt_load"] == nil { print("  torch peer: skipped (run Benchmarks/peers/setup-formats-venv.sh)") }
        print("  " + "operation".padding(toLength: 34, withPad: " ", startingAt: 0) + "       ours        peer   ratio (>1 = ours faster)")
        for (key, ours, label) in rows {
            let p = peer[key]
            let peerText = p.map { String(format: "%10.1f", $0) } ?? "         -"
            let ratio = p.map { String(format: "%6.2f", $0 / ours) } ?? "     -"
            print("  " + label.padding(toLength: 34, withPad: " ", startingAt: 0) + String(format: "%10.1f", ours) + "  \(peerText)  \(ratio)")
        }
    } catch {
        print("  formats bench failed: \(error)")
    }
}
