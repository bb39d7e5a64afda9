// Recall keys kept beside the database: per step the normalised average input-state key and action key,
// in three memory-mapped files (layout in docs/memory.md). A cache: always rebuildable from the steps table.
import Formats
import Foundation
import GRDB
import Retrieval

/// The recall keys of every stored step, in offload (row id) order: a mapped prefix plus an in-memory tail.
final class KeyCache {
    static let magic = Array("WGRKEY01".utf8)
    static let headerSize = 64
    static let metaRecordSize = 24
    /// Floats per row in the bounds file: state scale, error bound and |x̂|, then the same for the action key.
    static let boundsPerRow = 6

    let dim: Int
    /// Width of the action keys (0 while the store has no action embedding).
    let actionDim: Int
    let files: (meta: URL, state: URL, action: URL)?
    let persist: Bool
    private(set) var stepIDs: [Int64] = []
    private(set) var episodeIDs: [Int64] = []
    private(set) var indexes: [Int64] = []
    private var mappedState: Data?
    private var mappedAction: Data?
    private(set) var mappedCount = 0
    private var tailState: [Float] = []
    private var tailAction: [Float] = []
    /// Compact keys (int8 codes + per-row scale and error bound) of the mapped prefix and of the tail.
    private var mappedCompact: (state: Data, action: Data, bounds: Data)?
    private var tailCodesState: [UInt8] = []
    private var tailCodesAction: [UInt8] = []
    private var tailBounds: [Float] = []
    /// Candidates the last recall re-ranked exactly (a diagnostic for tests and benchmarks).
    var lastCandidateCount = 0
    private(set) var generation: Int64 = 0
    /// How many records are already in the files.
    private var persistedCount = 0

    var count: Int { stepIDs.count }
    var maxStepID: Int64 { stepIDs.last ?? 0 }

    /// The compact-key sidecar files of a database at `url` (int8 codes and per-row bounds; docs/memory.md).
    static func compactFiles(for url: URL) -> (state: URL, action: URL, bounds: URL) {
        (URL(fileURLWithPath: url.path + "-recall.state8"), URL(fileURLWithPath: url.path + "-recall.action8"), URL(fileURLWithPath: url.path + "-recall.bounds"))
    }

    /// The sidecar files of a database at `url`.
    static func files(for url: URL) -> (meta: URL, state: URL, action: URL) {
        (URL(fileURLWithPath: url.path + "-recall.meta"), URL(fileURLWithPath: url.path + "-recall.state"), URL(fileURLWithPath: url.path + "-recall.action"))
    }

    init(dim: Int, actionDim: Int, url: URL?, persist: Bool) {
        self.dim = dim
        self.actionDim = actionDim
        files = url.map(Self.files(for:))
        self.persist = persist && url != nil
    }

    /// Loads the valid prefix of the files (if any), then catches up with the steps table.
    static func open(store: EpisodeStore) throws -> KeyCache {
        let cache = KeyCache(dim: store.dim, actionDim: store.actionDim ?? 0, url: store.url, persist: !store.isReadOnly)
        let generation = try store.pruneGeneration()
        cache.generation = generation
        cache.loadFiles(generation: generation)
        try cache.catchUp(store: store)
        return cache
    }

    /// Maps the files when their header matches this store's dimension and prune generation; otherwise starts empty.
    private func loadFiles(generation: Int64) {
        guard let files, let meta = try? Data(contentsOf: files.meta, options: .alwaysMapped), meta.count >= Self.headerSize else { return }
        func u64(_ offset: Int) -> UInt64 {
            var v: UInt64 = 0
            withUnsafeMutableBytes(of: &v) { dst in meta.withUnsafeBytes { dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[offset..<(offset + 8)])) } }
            return UInt64(littleEndian: v)
        }
        guard Array(meta.prefix(8)) == Self.magic, u64(8) == UInt64(dim) | UInt64(actionDim) << 32, Int64(bitPattern: u64(24)) == generation else { return }
        // The count comes from the file: bound it by the records present before any arithmetic (a corrupt count
        // near 2^64 trapped in `Int(_:)` and `n * metaRecordSize`).
        guard let n = Int(exactly: u64(16)), n <= (meta.count - Self.headerSize) / Self.metaRecordSize else { return }
        let rowBytes = dim * 4
        guard let state = try? Data(contentsOf: files.state, options: .alwaysMapped), state.count >= n * rowBytes,
              let action = try? Data(contentsOf: files.action, options: .alwaysMapped), action.count >= n * actionDim * 4 else { return }
        // One pass over the mapped records into three uninitialised arrays (this runs on every cold open).
        func column(_ field: Int) -> [Int64] {
            [Int64](unsafeUninitializedCapacity: n) { out, count in
                meta.withUnsafeBytes { raw in
                    let base = raw.baseAddress! + Self.headerSize + field * 8
                    for r in 0..<n { out[r] = Int64(littleEndian: (base + r * Self.metaRecordSize).loadUnaligned(as: Int64.self)) }
                }
                count = n
            }
        }
        stepIDs = column(0); episodeIDs = column(1); indexes = column(2)
        mappedState = state; mappedAction = action
        mappedCount = n
        persistedCount = n
        loadCompact(rows: n)
    }

    /// Maps the compact keys of the first `rows` rows when the files hold them and a sample of rows re-quantises
    /// to the same bytes; otherwise rebuilds them from the float keys (and rewrites the files when writable).
    private func loadCompact(rows n: Int) {
        guard n > 0, let url = files.map({ URL(fileURLWithPath: String($0.meta.path.dropLast("-recall.meta".count))) }),
              let mappedState, let mappedAction else { return }
        let compact = Self.compactFiles(for: url)
        if let st = try? Data(contentsOf: compact.state, options: .alwaysMapped), st.count >= n * dim,
           let ac = try? Data(contentsOf: compact.action, options: .alwaysMapped), ac.count >= n * actionDim,
           let bo = try? Data(contentsOf: compact.bounds, options: .alwaysMapped), bo.count >= n * Self.boundsPerRow * 4,
           sampleMatches(rows: n, floats: (mappedState, mappedAction), compact: (st, ac, bo)) {
            mappedCompact = (st, ac, bo)
            return
        }
        // Stale or missing: quantise the mapped float keys again.
        var codesS = [UInt8](repeating: 0, count: n * dim), codesA = [UInt8](repeating: 0, count: n * actionDim)
        var bounds = [Float](repeating: 0, count: n * Self.boundsPerRow)
        let dim = dim, actionDim = actionDim
        mappedState.withUnsafeBytes { sRaw in
            mappedAction.withUnsafeBytes { aRaw in
                codesS.withUnsafeMutableBufferPointer { cs in
                    codesA.withUnsafeMutableBufferPointer { ca in
                        bounds.withUnsafeMutableBufferPointer { b in
                            let sp = sRaw.bindMemory(to: Float.self).baseAddress!
                            for r in 0..<n {
                                let q = quantize(sp + r * dim, dim: dim, codes: cs.baseAddress! + r * dim)
                                b[r * Self.boundsPerRow] = q.scale; b[r * Self.boundsPerRow + 1] = q.err; b[r * Self.boundsPerRow + 2] = q.norm
                                if actionDim > 0 {
                                    let ap = aRaw.bindMemory(to: Float.self).baseAddress!
                                    let a = quantize(ap + r * actionDim, dim: actionDim, codes: ca.baseAddress! + r * actionDim)
                                    b[r * Self.boundsPerRow + 3] = a.scale; b[r * Self.boundsPerRow + 4] = a.err; b[r * Self.boundsPerRow + 5] = a.norm
                                }
                            }
                        }
                    }
                }
            }
        }
        let st = codesS.withUnsafeBytes { Data($0) }, ac = codesA.withUnsafeBytes { Data($0) }, bo = bounds.withUnsafeBytes { Data($0) }
        mappedCompact = (st, ac, bo)
        if persist {
            // New inodes: a reader that still maps the old files keeps valid pages. A failure only costs the rebuild next time.
            for (file, data) in [(compact.state, st), (compact.action, ac), (compact.bounds, bo)] {
                try? FileManager.default.removeItem(at: file)
                _ = FileManager.default.createFile(atPath: file.path, contents: data)
            }
        }
    }

    /// Re-quantises 17 rows spread over the prefix and compares them byte for byte with the files.
    private func sampleMatches(rows n: Int, floats: (Data, Data), compact: (Data, Data, Data)) -> Bool {
        var codes = [UInt8](repeating: 0, count: max(dim, actionDim))
        func same(_ f: Data, _ c: Data, width: Int, row r: Int, boundsAt first: Int) -> Bool {
            f.withUnsafeBytes { fRaw -> Bool in
                let q = codes.withUnsafeMutableBufferPointer { quantize(fRaw.bindMemory(to: Float.self).baseAddress! + r * width, dim: width, codes: $0.baseAddress!) }
                let sameCodes = c.withUnsafeBytes { cRaw in codes.withUnsafeBytes { memcmp($0.baseAddress!, cRaw.baseAddress! + r * width, width) == 0 } }
                let sameBounds = compact.2.withUnsafeBytes { b in
                    [q.scale, q.err, q.norm].enumerated().allSatisfy { b.loadUnaligned(fromByteOffset: (r * Self.boundsPerRow + first + $0.offset) * 4, as: Float.self) == $0.element }
                }
                return sameCodes && sameBounds
            }
        }
        for t in 0...16 {
            let r = (n - 1) * t / 16
            guard same(floats.0, compact.0, width: dim, row: r, boundsAt: 0) else { return false }
            if actionDim > 0, !same(floats.1, compact.1, width: actionDim, row: r, boundsAt: 3) { return false }
        }
        return true
    }

    /// Adds the keys of steps stored after the newest cached one (read back from SQLite), then persists.
    func catchUp(store: EpisodeStore) throws {
        let after = maxStepID
        let dim = dim, actionDim = actionDim
        let columns = Modality.allCases.map { "input_\($0.rawValue)" }
        let rows: [(Int64, Int64, Int64, [Float], [Float])] = try store.read { db in
            var out = [(Int64, Int64, Int64, [Float], [Float])]()
            let cursor = try Row.fetchCursor(db, sql: "SELECT id, episode_id, step_index, action_embedding, \(columns.joined(separator: ", ")) FROM steps WHERE id > ? ORDER BY id", arguments: [after])
            var sum = [Float](repeating: 0, count: dim)
            while let row = try cursor.next() {
                for j in 0..<dim { sum[j] = 0 }
                var present = 0
                for c in 0..<columns.count {
                    let ok = try row.withUnsafeData(atIndex: 4 + c) { data -> Bool in
                        guard let data, data.count == dim * 4 else { return false }
                        data.withUnsafeBytes { raw in
                            for j in 0..<dim { sum[j] += raw.loadUnaligned(fromByteOffset: j * 4, as: Float.self) }
                        }
                        return true
                    }
                    if ok { present += 1 }
                }
                var stateKey = [Float](repeating: 0, count: dim)
                if present > 0 { stateKey = normalizedOrZero(sum.map { $0 / Float(present) }) }
                var actionKey = [Float](repeating: 0, count: actionDim)
                try row.withUnsafeData(atIndex: 3) { data in
                    if let data, data.count == actionDim * 4, let v = floats(data) { actionKey = normalizedOrZero(v) }
                }
                out.append((row[0], row[1], row[2], stateKey, actionKey))
            }
            return out
        }
        for r in rows {
            stepIDs.append(r.0); episodeIDs.append(r.1); indexes.append(r.2)
            appendKeys(state: r.3, action: r.4)
        }
        try persistTail()
    }

    /// Adds freshly committed steps (keys computed from the records, no SQLite read).
    func append(steps: [StepRecord], ids: [Int64], store: EpisodeStore) throws {
        guard ids.first.map({ $0 > maxStepID }) ?? false else { return try catchUp(store: store) }
        let episodes = try store.episodeIDs(named: Set(steps.map(\.episode)))
        for (step, id) in zip(steps, ids) {
            stepIDs.append(id)
            episodeIDs.append(episodes[step.episode] ?? -1)
            indexes.append(Int64(step.index))
            let actionKey: [Float]
            if let a = step.action.embedding, a.dim == actionDim {
                actionKey = normalizedOrZero(a.values)
            } else {
                actionKey = [Float](repeating: 0, count: actionDim)
            }
            appendKeys(state: recallKey(of: step.input, dim: dim), action: actionKey)
        }
        try persistTail()
    }

    /// Appends one row's float keys and their compact form to the tail.
    private func appendKeys(state: [Float], action: [Float]) {
        tailState.append(contentsOf: state)
        tailAction.append(contentsOf: action)
        var codes = [UInt8](repeating: 0, count: max(dim, actionDim))
        let q = state.withUnsafeBufferPointer { s in codes.withUnsafeMutableBufferPointer { quantize(s.baseAddress!, dim: dim, codes: $0.baseAddress!) } }
        tailCodesState.append(contentsOf: codes[0..<dim])
        var a: (scale: Float, err: Float, norm: Float) = (0, 0, 0)
        if actionDim > 0 {
            a = action.withUnsafeBufferPointer { v in codes.withUnsafeMutableBufferPointer { quantize(v.baseAddress!, dim: actionDim, codes: $0.baseAddress!) } }
            tailCodesAction.append(contentsOf: codes[0..<actionDim])
        }
        tailBounds.append(contentsOf: [q.scale, q.err, q.norm, a.scale, a.err, a.norm])
    }

    /// Appends not-yet-written records to the files, then rewrites the header (a crash in between leaves the
    /// old header, so the extra bytes are ignored and overwritten next time).
    private func persistTail() throws {
        guard persist, let files, persistedCount < count else { return }
        do {
            let compact = Self.compactFiles(for: URL(fileURLWithPath: String(files.meta.path.dropLast("-recall.meta".count))))
            if persistedCount == 0 {
                // New inodes: a reader that still maps the old files keeps valid pages.
                for url in [files.meta, files.state, files.action, compact.state, compact.action, compact.bounds] {
                    try? FileManager.default.removeItem(at: url)
                    guard FileManager.default.createFile(atPath: url.path, contents: nil) else {
                        throw StoreError.io(path: url.path, reason: "cannot create")
                    }
                }
            }
            let from = persistedCount
            let tailStart = from - mappedCount
            var meta = Data(capacity: (count - from) * Self.metaRecordSize)
            for r in from..<count {
                for v in [stepIDs[r], episodeIDs[r], indexes[r]] { withUnsafeBytes(of: v.littleEndian) { meta.append(contentsOf: $0) } }
            }
            let rowBytes = dim * 4
            let state = tailState.withUnsafeBytes { Data($0[(tailStart * rowBytes)...]) }
            let action = tailAction.withUnsafeBytes { Data($0[(tailStart * actionDim * 4)...]) }
            try write(meta, to: files.meta, at: UInt64(Self.headerSize + from * Self.metaRecordSize))
            try write(state, to: files.state, at: UInt64(from * rowBytes))
            try write(action, to: files.action, at: UInt64(from * actionDim * 4))
            // The compact keys are written before the header too (a crash leaves them ignored or re-checked on open).
            // Only appended where the files already hold every earlier row; otherwise the next open rebuilds them.
            let compactWrites: [(URL, Data, Int)] = [
                (compact.state, tailCodesState.withUnsafeBytes { Data($0[(tailStart * dim)...]) }, from * dim),
                (compact.action, tailCodesAction.withUnsafeBytes { Data($0[(tailStart * actionDim)...]) }, from * actionDim),
                (compact.bounds, tailBounds.withUnsafeBytes { Data($0[(tailStart * Self.boundsPerRow * 4)...]) }, from * Self.boundsPerRow * 4),
            ]
            for (file, data, offset) in compactWrites {
                let size = (try? FileManager.default.attributesOfItem(atPath: file.path)[.size] as? NSNumber)?.intValue ?? -1
                if size >= offset { try write(data, to: file, at: UInt64(offset)) }
            }
            var header = Data(Self.magic)
            for v in [UInt64(dim) | UInt64(actionDim) << 32, UInt64(count), UInt64(bitPattern: generation), UInt64(bitPattern: maxStepID)] {
                withUnsafeBytes(of: v.littleEndian) { header.append(contentsOf: $0) }
            }
            header.append(Data(count: Self.headerSize - header.count))
            try write(header, to: files.meta, at: 0, truncate: false)
            persistedCount = count
        } catch {
            throw StoreError.io(path: files.meta.path, reason: "cannot write the recall key cache: \(error)")
        }
    }

    /// Writes `data` at `offset`; appends first cut the file there (dropping bytes a crash left past the header's count).
    private func write(_ data: Data, to url: URL, at offset: UInt64, truncate: Bool = true) throws {
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        if truncate { try handle.truncate(atOffset: offset) } else { try handle.seek(toOffset: offset) }
        try handle.write(contentsOf: data)
    }

    /// Calls `body` with (state keys, action keys, first row, row count) for the mapped part and then the tail.
    func withSegments(_ body: (UnsafePointer<Float>, UnsafePointer<Float>, Int, Int) -> Void) {
        // With no action keys (actionDim 0) the state pointer stands in; callers never read action keys then.
        if mappedCount > 0, let s = mappedState, let a = mappedAction {
            s.withUnsafeBytes { sRaw in
                a.withUnsafeBytes { aRaw in
                    let sp = sRaw.bindMemory(to: Float.self).baseAddress!
                    body(sp, actionDim > 0 ? aRaw.bindMemory(to: Float.self).baseAddress! : sp, 0, mappedCount)
                }
            }
        }
        if count > mappedCount {
            tailState.withUnsafeBufferPointer { s in
                tailAction.withUnsafeBufferPointer { a in
                    body(s.baseAddress!, actionDim > 0 ? a.baseAddress! : s.baseAddress!, mappedCount, count - mappedCount)
                }
            }
        }
    }

    /// One contiguous run of rows for the recall scan: float keys, compact keys and bounds
    /// (`boundsPerRow` floats per row: state scale, error bound, |x̂|, then the action's).
    struct Segment {
        let state: UnsafePointer<Float>, action: UnsafePointer<Float>
        let codesState: UnsafePointer<UInt8>, codesAction: UnsafePointer<UInt8>
        let bounds: UnsafePointer<Float>
        let first: Int, count: Int
    }

    /// Calls `body` with the mapped part (when its compact keys are loaded) and then the tail.
    func withCompactSegments(_ body: (Segment) -> Void) {
        if mappedCount > 0, let s = mappedState, let a = mappedAction, let c = mappedCompact {
            s.withUnsafeBytes { sRaw in
                a.withUnsafeBytes { aRaw in
                    c.state.withUnsafeBytes { csRaw in
                        c.action.withUnsafeBytes { caRaw in
                            c.bounds.withUnsafeBytes { bRaw in
                                let sp = sRaw.bindMemory(to: Float.self).baseAddress!
                                let cs = csRaw.bindMemory(to: UInt8.self).baseAddress!
                                body(Segment(
                                    state: sp, action: actionDim > 0 ? aRaw.bindMemory(to: Float.self).baseAddress! : sp,
                                    codesState: cs, codesAction: actionDim > 0 ? caRaw.bindMemory(to: UInt8.self).baseAddress! : cs,
                                    bounds: bRaw.bindMemory(to: Float.self).baseAddress!, first: 0, count: mappedCount))
                            }
                        }
                    }
                }
            }
        }
        if count > mappedCount {
            tailState.withUnsafeBufferPointer { s in
                tailAction.withUnsafeBufferPointer { a in
                    tailCodesState.withUnsafeBufferPointer { cs in
                        tailCodesAction.withUnsafeBufferPointer { ca in
                            tailBounds.withUnsafeBufferPointer { b in
                                body(Segment(
                                    state: s.baseAddress!, action: actionDim > 0 ? a.baseAddress! : s.baseAddress!,
                                    codesState: cs.baseAddress!, codesAction: actionDim > 0 ? ca.baseAddress! : cs.baseAddress!,
                                    bounds: b.baseAddress!, first: mappedCount, count: count - mappedCount))
                            }
                        }
                    }
                }
            }
        }
    }

    /// The state and action keys of row `row`.
    func keys(row: Int) -> (state: [Float], action: [Float]) {
        var result: ([Float], [Float]) = ([], [])
        withSegments { s, a, first, n in
            guard row >= first && row < first + n else { return }
            let r = row - first
            result = (Array(UnsafeBufferPointer(start: s + r * dim, count: dim)), Array(UnsafeBufferPointer(start: a + r * actionDim, count: actionDim)))
        }
        return result
    }
}

extension EpisodeStore {
    /// The prune generation (increases whenever steps are deleted; invalidates the key cache).
    func pruneGeneration() throws -> Int64 {
        try read { db in
            Int64(try String.fetchOne(db, sql: "SELECT value FROM store_info WHERE key = 'prune_generation'") ?? "0") ?? 0
        }
    }

    func episodeIDs(named names: Set<String>) throws -> [String: Int64] {
        try read { db in
            var out = [String: Int64]()
            for name in names { out[name] = try Int64.fetchOne(db, sql: "SELECT id FROM episodes WHERE name = ?", arguments: [name]) }
            return out
        }
    }
}

/// Symmetric 8-bit quantisation of one key row, stored unsigned: `codes[i] = round(x[i] / scale) + 128` with
/// `scale = max|x| / 127`, so x̂ = scale · (code − 128).
///
/// Returns the scale, an error bound `err` and `norm` ≥ |x̂|: for any query q, the float dot product q·x as the
/// float kernels compute it differs from q·x̂ by at most `|q| · err` — the exact residual `|x − x̂|` (float64,
/// rounded up) plus the rounding of a D-term float dot product (2·D·2⁻²⁴·(|x| + |x̂|), twice the textbook γ_D).
func quantize(_ x: UnsafePointer<Float>, dim: Int, codes: UnsafeMutablePointer<UInt8>) -> (scale: Float, err: Float, norm: Float) {
    var maxAbs: Float = 0
    for i in 0..<dim { maxAbs = max(maxAbs, abs(x[i])) }
    guard maxAbs > 0, maxAbs.isFinite else {
        for i in 0..<dim { codes[i] = 128 }
        var norm = 0.0
        for i in 0..<dim { norm += Double(x[i]) * Double(x[i]) }
        return (0, Float(norm.squareRoot() * (1 + 1e-6)).nextUp, 0)
    }
    let scale = maxAbs / 127
    var residual = 0.0, norm = 0.0, approxNorm = 0.0
    for i in 0..<dim {
        let c = max(-127, min(127, (x[i] / scale).rounded()))
        codes[i] = UInt8(Int(c) + 128)
        let xh = Double(scale) * Double(c)
        residual += (Double(x[i]) - xh) * (Double(x[i]) - xh)
        norm += Double(x[i]) * Double(x[i])
        approxNorm += xh * xh
    }
    let rounding = (2 * Double(dim) * 0x1p-24 + 1e-6) * (norm.squareRoot() + approxNorm.squareRoot())
    return (scale, Float((residual.squareRoot() + rounding) * (1 + 1e-6) + 1e-12).nextUp, Float(approxNorm.squareRoot() * (1 + 1e-6)).nextUp)
}

/// A recall query key quantised to signed codes for the VNNI scan, with its scale, |q − q̂| bound, max(|q|, |q̂|)
/// bound and the sum of its codes (the unsigned row codes carry +128: Σ(c+128)·d = Σc·d + 128·Σd).
struct QueryCodes {
    var codes: [Int8]
    var scale: Float, error: Float, norm: Float
    var sum: Int32

    init(_ v: [Float]) {
        let maxAbs = v.reduce(Float(0)) { max($0, abs($1)) }
        let s = maxAbs > 0 ? maxAbs / 127 : 0
        var residual = 0.0, norm = 0.0, approxNorm = 0.0
        var total: Int32 = 0
        codes = v.map { x in
            let c: Float = s > 0 ? max(-127, min(127, (x / s).rounded())) : 0
            let qh = Double(s) * Double(c)
            residual += (Double(x) - qh) * (Double(x) - qh)
            norm += Double(x) * Double(x)
            approxNorm += qh * qh
            total += Int32(c)
            return Int8(c)
        }
        scale = s
        sum = total
        error = Float(residual.squareRoot() * (1 + 1e-6) + 1e-12).nextUp
        self.norm = Float(max(norm, approxNorm).squareRoot() * (1 + 1e-6)).nextUp
    }
}
