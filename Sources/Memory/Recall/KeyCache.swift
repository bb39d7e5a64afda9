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
    private(set) var generation: Int64 = 0
    /// How many records are already in the files.
    private var persistedCount = 0

    var count: Int { stepIDs.count }
    var maxStepID: Int64 { stepIDs.last ?? 0 }

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
        let n = Int(u64(16))
        guard n >= 0, meta.count >= Self.headerSize + n * Self.metaRecordSize else { return }
        let rowBytes = dim * 4
        guard let state = try? Data(contentsOf: files.state, options: .alwaysMapped), state.count >= n * rowBytes,
              let action = try? Data(contentsOf: files.action, options: .alwaysMapped), action.count >= n * actionDim * 4 else { return }
        var s = [Int64](repeating: 0, count: n), e = s, i = s
        meta.withUnsafeBytes { raw in
            for r in 0..<n {
                let base = Self.headerSize + r * Self.metaRecordSize
                s[r] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base, as: Int64.self))
                e[r] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 8, as: Int64.self))
                i[r] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: base + 16, as: Int64.self))
            }
        }
        stepIDs = s; episodeIDs = e; indexes = i
        mappedState = state; mappedAction = action
        mappedCount = n
        persistedCount = n
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
            tailState.append(contentsOf: r.3); tailAction.append(contentsOf: r.4)
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
            tailState.append(contentsOf: recallKey(of: step.input, dim: dim))
            if let a = step.action.embedding, a.dim == actionDim {
                tailAction.append(contentsOf: normalizedOrZero(a.values))
            } else {
                tailAction.append(contentsOf: repeatElement(0, count: actionDim))
            }
        }
        try persistTail()
    }

    /// Appends not-yet-written records to the files, then rewrites the header (a crash in between leaves the
    /// old header, so the extra bytes are ignored and overwritten next time).
    private func persistTail() throws {
        guard persist, let files, persistedCount < count else { return }
        do {
            if persistedCount == 0 {
                // New inodes: a reader that still maps the old files keeps valid pages.
                for url in [files.meta, files.state, files.action] {
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
