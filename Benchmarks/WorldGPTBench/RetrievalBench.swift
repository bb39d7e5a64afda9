// Retrieval benchmark: FlatIndex (exact) and HNSWIndex against FAISS IndexFlatIP and hnswlib on the anchors
// data (../shared/anchors: 768-d unit vectors, clustered, seed 20250101), peers run first in the same process
// tree (Benchmarks/peers/retrieval_peers.py in bench-out/venv-retrieval). Prints ours / peer / ratio.
import Dispatch
import Foundation
import Glibc
import Retrieval
import Tensor

/// One printed comparison row.
struct BenchRow {
    var metric: String
    var ours: Double
    var peer: Double?
    var peerName: String
    /// True when higher is better (ratio printed as ours/peer either way).
    var higherIsBetter: Bool
}

/// Prints rows as a table; "goal met" compares ours with the peer in the better direction.
func printBenchTable(_ title: String, _ rows: [BenchRow]) {
    print("\n== \(title)   [load average now: \(loadAverage())]")
    print("metric".padding(toLength: 58, withPad: " ", startingAt: 0) + "       ours        peer   ours/peer  reference")
    for r in rows {
        let peer = r.peer.map { String(format: "%11.3f", $0) } ?? "          -"
        let ratio = r.peer.map { String(format: "%11.3f", r.ours / $0) } ?? "          -"
        let met = r.peer.map { (r.higherIsBetter ? r.ours >= $0 : r.ours <= $0) ? "  ok" : "  MISSED" } ?? ""
        print(r.metric.padding(toLength: 58, withPad: " ", startingAt: 0) + String(format: "%11.3f", r.ours) + " " + peer + " " + ratio + "  " + r.peerName + met)
    }
}

/// Reads rows [0, rows) of a 2-D float32 .npy (little-endian, C order) into a contiguous buffer.
func readNPYFloat32(_ url: URL, rows wanted: Int? = nil) throws -> (rows: Int, dim: Int, values: [Float]) {
    let data = try Data(contentsOf: url, options: .alwaysMapped)
    guard data.count > 10, data[0] == 0x93 else { throw RetrievalError.io(path: url.path, reason: "not a .npy file") }
    let major = data[6]
    let headerLength = major == 1 ? Int(data[8]) | Int(data[9]) << 8 : Int(data[8]) | Int(data[9]) << 8 | Int(data[10]) << 16 | Int(data[11]) << 24
    let start = (major == 1 ? 10 : 12) + headerLength
    let header = String(decoding: data[(major == 1 ? 10 : 12)..<start], as: UTF8.self)
    guard header.contains("<f4"), !header.contains("'fortran_order': True"),
          let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
        throw RetrievalError.io(path: url.path, reason: "expected a C-order float32 matrix: \(header)")
    }
    let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    guard dims.count == 2 else { throw RetrievalError.io(path: url.path, reason: "expected 2 dimensions") }
    let rows = min(wanted ?? dims[0], dims[0]), dim = dims[1]
    let values = [Float](unsafeUninitializedCapacity: rows * dim) { buffer, count in
        data.withUnsafeBytes { raw in
            UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: raw[start..<(start + rows * dim * 4)]))
        }
        count = rows * dim
    }
    return (rows, dim, values)
}

/// Reads a 2-D int64 .npy (ground truth ids).
func readNPYInt64(_ url: URL) throws -> (rows: Int, cols: Int, values: [Int64]) {
    let data = try Data(contentsOf: url)
    let headerLength = Int(data[8]) | Int(data[9]) << 8
    let header = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
    guard let open = header.range(of: "'shape': ("), let close = header[open.upperBound...].firstIndex(of: ")") else {
        throw RetrievalError.io(path: url.path, reason: "bad header")
    }
    let dims = header[open.upperBound..<close].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let values = data.withUnsafeBytes { raw in (0..<(dims[0] * dims[1])).map { raw.loadUnaligned(fromByteOffset: 10 + headerLength + $0 * 8, as: Int64.self) } }
    return (dims[0], dims[1], values)
}

/// Waits for a child without Foundation's `waitUntilExit`, which was seen to hang here after the child ended.
func waitForExit(_ process: Process) {
    let pid = process.processIdentifier
    while process.isRunning {
        var status: Int32 = 0
        if waitpid(pid, &status, WNOHANG) == pid { return }
        if kill(pid, 0) != 0 { return }
        usleep(20_000)
    }
}

/// The first three fields of /proc/loadavg (1, 5, 15 minutes).
func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "").split(separator: " ").prefix(3).joined(separator: " ")
}

/// Seconds since an arbitrary origin (monotonic).
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// The median.
func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : (s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2)
}

/// Best-of-5 read bandwidth (GB/s) of a SIMD sum over a 2 GiB array on `threads` threads.
func measureReadBandwidth(threads: Int) -> Double {
    let count = 512 * 1024 * 1024
    let array = [Float](repeating: 1, count: count)
    var best = 0.0
    for _ in 0..<5 {
        let t = now()
        let sums = UnsafeMutableBufferPointer<Float>.allocate(capacity: threads)
        array.withUnsafeBufferPointer { a in
            parallelFor(threads) { w in
                let lo = count * w / threads, hi = count * (w + 1) / threads
                var acc0 = SIMD16<Float>(), acc1 = SIMD16<Float>()
                let raw = UnsafeRawPointer(a.baseAddress! + lo)
                var i = 0
                while i + 32 <= hi - lo {
                    acc0 += raw.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Float>.self)
                    acc1 += raw.loadUnaligned(fromByteOffset: i * 4 + 64, as: SIMD16<Float>.self)
                    i += 32
                }
                sums[w] = (acc0 + acc1).sum()
            }
        }
        let dt = now() - t
        precondition(sums.reduce(0, +) > 0)
        sums.deallocate()
        best = max(best, Double(count * 4) / dt / 1e9)
    }
    return best
}

/// Recall@k of `found` against ground-truth rows.
func recallAtK(_ found: [[SearchResult]], truth: [Int64], k: Int) -> Double {
    var hit = 0
    for (q, f) in found.enumerated() { hit += Set(f.prefix(k).map(\.id)).intersection(truth[(q * k)..<((q + 1) * k)]).count }
    return Double(hit) / Double(found.count * k)
}

/// `make bench` retrieval section. Arguments: `retrieval` selects it; `--skip-peers` reuses bench-out/peers-retrieval.json;
/// `--quick` skips the 1M and HNSW parts; `--skip-large` skips only the 1M part.
func retrievalBench(arguments: [String]) {
    guard arguments.isEmpty || arguments.contains("retrieval") else { return }
    do { try runRetrievalBench(quick: arguments.contains("--quick"), skipLarge: arguments.contains("--skip-large"), skipPeers: arguments.contains("--skip-peers")) } catch {
        print("retrieval bench failed: \(error)")
    }
}

private func runRetrievalBench(quick: Bool, skipLarge: Bool, skipPeers: Bool) throws {
    let root = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    let out = root.appendingPathComponent("bench-out")
    let dataDir = out.appendingPathComponent("data")
    let peersJSON = out.appendingPathComponent("peers-retrieval.json")
    let python = out.appendingPathComponent("venv-retrieval/bin/python")
    try FileManager.default.createDirectory(at: dataDir, withIntermediateDirectories: true)
    print("retrieval bench: load average at start \(loadAverage()); vector kernels: \(DotKernel.level)")
    if !skipPeers || !FileManager.default.fileExists(atPath: peersJSON.path) {
        guard FileManager.default.isExecutableFile(atPath: python.path) else {
            print("retrieval bench: no peer venv; run Benchmarks/peers/setup-retrieval-venv.sh first")
            return
        }
        var sections = ["flat"] + (quick ? [] : (skipLarge ? [] : ["flat_large"]) + ["hnsw"])
        if !FileManager.default.fileExists(atPath: dataDir.appendingPathComponent("bench_gt_clustered_100000.npy").path)
            || (!quick && !skipLarge && !FileManager.default.fileExists(atPath: dataDir.appendingPathComponent("bench_clustered_1000000.npy").path)) {
            sections.insert("data", at: 0)
        }
        print("retrieval bench: running peers (\(sections.joined(separator: ","))) …")
        let p = Process()
        p.executableURL = python
        p.arguments = [root.appendingPathComponent("Benchmarks/peers/retrieval_peers.py").path, "--data-dir", dataDir.path, "--out", peersJSON.path, "--sections", sections.joined(separator: ",")]
        p.standardOutput = FileHandle.nullDevice
        try p.run()
        waitForExit(p)
    }
    let peers = (try JSONSerialization.jsonObject(with: Data(contentsOf: peersJSON))) as? [String: Any] ?? [:]
    func peer(_ path: String...) -> Double? {
        var node: Any? = peers
        for key in path { node = (node as? [String: Any])?[key] }
        return (node as? NSNumber)?.doubleValue
    }

    let k = 10
    let queries = try readNPYFloat32(dataDir.appendingPathComponent("bench_clustered_queries.npy"))
    let gt = try readNPYInt64(dataDir.appendingPathComponent("bench_gt_clustered_100000.npy"))
    let base = try readNPYFloat32(dataDir.appendingPathComponent("bench_clustered_100000.npy"))
    let dim = base.dim
    var rows = [BenchRow]()

    // Exact, N = 100k.
    let flat = FlatIndex(dim: dim, threads: 1)
    try flat.add(ids: (0..<Int64(base.rows)).map { $0 }, vectors: base.values)
    for threads in [1, 2] {
        flat.threads = threads
        _ = try flat.search(Array(queries.values[0..<dim]), k: k)
        var lat = [Double]()
        for q in 0..<200 {
            let query = Array(queries.values[(q * dim)..<((q + 1) * dim)])
            let t = now()
            _ = try flat.search(query, k: k)
            lat.append(now() - t)
        }
        rows.append(BenchRow(metric: "exact N=100k batch=1 p50 ms, \(threads) thread(s)", ours: median(lat) * 1e3, peer: peer("faiss_flat", "\(threads)", "b1_p50_ms"), peerName: "faiss IndexFlatIP", higherIsBetter: false))
    }
    var flatRecall = 0.0
    for threads in [1, 2] {
        flat.threads = threads
        let t = now()
        let found = try flat.search(queries.values, k: k)
        let dt = now() - t
        flatRecall = recallAtK(found, truth: gt.values, k: k)
        print(String(format: "  batch=1000, %d thread(s): %.1f rows per query re-scored exactly after the int8 pass (%@)", threads, Double(flat.lastCandidateCount) / Double(queries.rows), flat.usesInt8BoundsDescription))
        rows.append(BenchRow(metric: "exact N=100k batch=1000 q/s, \(threads) thread(s)", ours: Double(queries.rows) / dt, peer: peer("faiss_flat", "\(threads)", "b1000_qps"), peerName: "faiss IndexFlatIP", higherIsBetter: true))
    }
    // Kernel check, interleaved so machine load hits both alike: our SIMD scan vs OpenBLAS sgemv, 1 thread.
    do {
        let saved = BLAS.threadCount
        BLAS.threadCount = 1
        var ours = [Double](), blas = [Double]()
        var out = [Float](repeating: 0, count: base.rows)
        for q in 0..<30 {
            base.values.withUnsafeBufferPointer { v in
                queries.values.withUnsafeBufferPointer { qs in
                    out.withUnsafeMutableBufferPointer { o in
                        var t = now()
                        DotKernel.scores(query: qs.baseAddress! + q * dim, rows: v.baseAddress!, rowCount: base.rows, dim: dim, out: o.baseAddress!)
                        ours.append(now() - t)
                        t = now()
                        BLAS.sgemv(m: base.rows, n: dim, a: v.baseAddress!, x: qs.baseAddress! + q * dim, y: o.baseAddress!)
                        blas.append(now() - t)
                    }
                }
            }
        }
        BLAS.threadCount = saved
        rows.append(BenchRow(metric: "N=100k scores of one query, p50 ms (SIMD scan vs sgemv, 1t)", ours: median(ours) * 1e3, peer: median(blas) * 1e3, peerName: "OpenBLAS sgemv", higherIsBetter: false))
    }
    rows.append(BenchRow(metric: "exact N=100k recall@10 vs faiss ground truth", ours: flatRecall, peer: 1.0, peerName: "exact", higherIsBetter: true))
    printBenchTable("Exact search (FlatIndex), clustered, N=100k, D=\(dim)", rows)

    guard !quick else { return }

    // Exact, N = 1M, batch 1 against the memory-bandwidth limit.
    rows = []
    if !skipLarge {
    let bw1 = measureReadBandwidth(threads: 1), bw2 = measureReadBandwidth(threads: 2)
    rows.append(BenchRow(metric: "read bandwidth GB/s, 1 thread (SIMD sum, 2 GiB)", ours: bw1, peer: peer("numpy_read_GBps_1t"), peerName: "numpy np.sum", higherIsBetter: true))
    rows.append(BenchRow(metric: "read bandwidth GB/s, 2 threads", ours: bw2, peer: nil, peerName: "", higherIsBetter: true))
    do {
        let large = try readNPYFloat32(dataDir.appendingPathComponent("bench_clustered_1000000.npy"))
        let big = FlatIndex(dim: dim, threads: 1)
        try big.add(ids: (0..<Int64(large.rows)).map { $0 }, vectors: large.values)
        let bw = max(bw1, bw2)
        let limit = Double(large.rows * dim * 4) / (bw * 1e9) * 1e3
        for threads in [1, 2] {
            big.threads = threads
            _ = try big.search(Array(queries.values[0..<dim]), k: k)
            var lat = [Double]()
            for q in 0..<20 {
                let t = now()
                _ = try big.search(Array(queries.values[(q * dim)..<((q + 1) * dim)]), k: k)
                lat.append(now() - t)
            }
            rows.append(BenchRow(metric: "exact N=1M batch=1 p50 ms, \(threads) thread(s)", ours: median(lat) * 1e3, peer: peer("faiss_flat_large", "\(threads)", "b1_p50_ms"), peerName: "faiss IndexFlatIP", higherIsBetter: false))
            rows.append(BenchRow(metric: "exact N=1M batch=1 p50 ms, \(threads)t vs 1.2 x N*3072B/\(String(format: "%.1f", bw)) GB/s", ours: median(lat) * 1e3, peer: 1.2 * limit, peerName: "1.2 x bandwidth limit", higherIsBetter: false))
        }
    }
    printBenchTable("Exact search (FlatIndex), clustered, N=1M", rows)
    }

    // HNSW, N = 100k clustered, M = 16, efConstruction = 200.
    rows = []
    let hnsw = HNSWIndex(dim: dim, M: 16, efConstruction: 200, efSearch: 32, buildThreads: 2)
    let t0 = now()
    try hnsw.add(ids: (0..<Int64(base.rows)).map { $0 }, vectors: base.values)
    let buildRate = Double(base.rows) / (now() - t0)
    rows.append(BenchRow(metric: "HNSW M=16 efC=200 build rows/s, 2 threads", ours: buildRate, peer: peer("hnswlib", "build_rows_per_s"), peerName: "hnswlib", higherIsBetter: true))
    let sweep = (peers["hnswlib"] as? [String: Any])?["sweep"] as? [[String: Any]] ?? []
    var ourFirst: (ef: Int, recall: Double, qps: Double)?
    for ef in [16, 24, 28, 32, 48, 64, 96] {
        hnsw.efSearch = ef
        var best = 0.0
        var found = [[SearchResult]]()
        for _ in 0..<2 {
            var results = [[SearchResult]]()
            let t = now()
            for q in 0..<queries.rows { results.append(try hnsw.search(Array(queries.values[(q * dim)..<((q + 1) * dim)]), k: k)[0]) }
            best = max(best, Double(queries.rows) / (now() - t))
            found = results
        }
        let r = recallAtK(found, truth: gt.values, k: k)
        let p = sweep.first { ($0["ef"] as? Int) == ef }
        let pr = (p?["recall"] as? NSNumber)?.doubleValue, pq = (p?["b1_qps"] as? NSNumber)?.doubleValue
        print(String(format: "  ef=%3d  ours recall %.4f q/s %8.0f   hnswlib recall %@ q/s %@", ef, r, best, pr.map { String(format: "%.4f", $0) } ?? "-", pq.map { String(format: "%.0f", $0) } ?? "-"))
        if r >= 0.97, ourFirst == nil { ourFirst = (ef, r, best) }
    }
    let peerFirst = sweep.first { (($0["recall"] as? NSNumber)?.doubleValue ?? 0) >= 0.97 }
    if let o = ourFirst {
        rows.append(BenchRow(
            metric: "HNSW q/s at recall@10>=0.97 (ours ef=\(o.ef) r=\(String(format: "%.3f", o.recall)), peer ef=\(peerFirst?["ef"] as? Int ?? -1))",
            ours: o.qps, peer: (peerFirst?["b1_qps"] as? NSNumber)?.doubleValue, peerName: "hnswlib", higherIsBetter: true))
    } else {
        print("  HNSW: no ef in the sweep reached recall 0.97")
    }
    printBenchTable("HNSW, clustered, N=100k, M=16, batch=1, 1 thread", rows)
}
