// Memory benchmark: offload throughput (two 768-d modalities per step, WAL, synchronous=FULL, batches of
// 1,000) and recall latency over the stored steps, warm and in a fresh process (cold), against the goals.
import Foundation
import Formats
import Glibc
import Memory

/// `make bench` memory section. Arguments: `memory` selects it; `--memory-steps N` (default 1,000,000).
/// `--recall-once DB` is the child mode used for the cold-process measurement.
func memoryBench(arguments: [String]) {
    if let i = arguments.firstIndex(of: "--recall-once"), i + 1 < arguments.count {
        do { try recallOnce(path: arguments[i + 1]) } catch { print("recall-once failed: \(error)") }
        exit(0)
    }
    guard arguments.isEmpty || arguments.contains("memory") else { return }
    var steps = 1_000_000
    if let i = arguments.firstIndex(of: "--memory-steps"), i + 1 < arguments.count, let n = Int(arguments[i + 1]) { steps = n }
    do { try runMemoryBench(steps: steps) } catch { print("memory bench failed: \(error)") }
}

/// A recall query derived from a step index (not stored: a perturbed synthetic state).
private func queryState(_ i: Int) -> State {
    SyntheticSteps.step(episode: "query", index: i, dim: 768, withAction: false).input
}

/// Child mode: open the store and recall once; prints the wall time including the open.
private func recallOnce(path: String) throws {
    let t = now()
    let store = try EpisodeStore(url: URL(fileURLWithPath: path), readOnly: true)
    let opened = now()
    try store.prepareRecall()
    let keys = now()
    let hits = try store.recall(RecallQuery(state: queryState(1)), k: 10, weights: RecallWeights(state: 1, recency: 0.1, halfLife: 1000))
    print(String(format: "recall-once-ms %.3f hits %d (open %.1f ms, key files %.1f ms, recall %.1f ms, %d candidates re-scored)",
                 (now() - t) * 1e3, hits.count, (opened - t) * 1e3, (keys - opened) * 1e3, (now() - keys) * 1e3, store.lastRecallCandidateCount))
}

/// MB/s of writing 512 MiB in 8 MiB chunks followed by fsync (like `dd conv=fdatasync`).
private func measureDiskWrite(directory: URL) -> Double {
    let path = directory.appendingPathComponent("disk-probe.tmp").path
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { return .nan }
    defer { close(fd); unlink(path) }
    let chunk = [UInt8](repeating: 0x5A, count: 8 << 20)
    let t = now()
    for _ in 0..<64 { _ = chunk.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) } }
    fsync(fd)
    return Double(64 * (8 << 20)) / (now() - t) / 1e6
}

private func runMemoryBench(steps total: Int) throws {
    let out = URL(fileURLWithPath: FileManager.default.currentDirectoryPath).appendingPathComponent("bench-out")
    try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
    let url = out.appendingPathComponent("memory-bench.sqlite")
    for suffix in ["", "-wal", "-shm", "-recall.meta", "-recall.state", "-recall.action"] { try? FileManager.default.removeItem(atPath: url.path + suffix) }
    print("\nmemory bench: load average at start \(((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").trimmingCharacters(in: .whitespacesAndNewlines))")
    var rows = [BenchRow]()
    // The disk bounds durable offload: every committed byte is written (and fsynced) at least once.
    let diskMBps = measureDiskWrite(directory: out)
    print(String(format: "  disk: sequential write + fsync %.0f MB/s -> at most %.0f steps/s for 6,144 payload bytes per step written once (WAL mode writes each page twice: WAL, then checkpoint)", diskMBps, diskMBps * 1e6 / 6144))
    do {
        let store = try EpisodeStore(url: url, dim: 768)
        let batch = 1000
        var appendSeconds = 0.0
        let wall = now()
        var index = 0
        while index < total {
            let n = min(batch, total - index)
            let records = (index..<(index + n)).map { SyntheticSteps.step(episode: "e\($0 / 10_000)", index: $0 % 10_000, dim: 768, withAction: false) }
            let t = now()
            try store.append(records)
            appendSeconds += now() - t
            index += n
            if isatty(2) != 0, index % 50_000 == 0 { FileHandle.standardError.write(Data("\roffloaded \(index)/\(total)".utf8)) }
        }
        if isatty(2) != 0 { FileHandle.standardError.write(Data("\n".utf8)) }
        let wallSeconds = now() - wall
        if CommandLine.arguments.contains("--offload-only") { print(String(format: "offload-only: %.0f steps/s", Double(total) / appendSeconds)); return }
        rows.append(BenchRow(metric: "offload steps/s (2 x 768-d, WAL, synchronous=FULL, 1k/txn)", ours: Double(total) / appendSeconds, peer: 50_000, peerName: "goal", higherIsBetter: true))
        print(String(format: "  offload: %d steps in %.1f s of append (%.1f s wall incl. generating the steps); file %.0f MB", total, appendSeconds, wallSeconds,
                     Double((try? FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)??.int64Value ?? 0) / 1e6))
        let t = now()
        try store.prepareRecall()
        print(String(format: "  one-time recall key build from SQLite (%d steps): %.1f s", total, now() - t))
        var warm = [Double]()
        for q in 0..<20 {
            let t = now()
            _ = try store.recall(RecallQuery(state: queryState(q)), k: 10, weights: RecallWeights(state: 1, recency: 0.1, halfLife: 1000))
            warm.append(now() - t)
        }
        rows.append(BenchRow(metric: "recall over \(total) steps p50 ms, warm (2 threads)", ours: median(warm) * 1e3, peer: 150, peerName: "goal", higherIsBetter: false))
    }
    var cold = [Double]()
    for _ in 0..<5 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        p.arguments = ["--recall-once", url.path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        waitForExit(p)
        if let ms = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) { cold.append(ms) } else { print("  cold recall child said: \(text)") }
        print("  cold: \(text.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
    rows.append(BenchRow(metric: "recall over \(total) steps p50 ms, cold process (open + recall)", ours: median(cold), peer: 150, peerName: "goal", higherIsBetter: false))
    printBenchTable("Memory offload and recall", rows)
    print("  cold process samples ms: \(cold.map { String(format: "%.1f", $0) }.joined(separator: ", "))")
}
