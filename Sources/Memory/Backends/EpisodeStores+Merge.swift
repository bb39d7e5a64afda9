// Merging and copying stores across backends (SQLite ⇄ PostgreSQL): the rules of `EpisodeStore.merge` (ids kept,
// a step held by several inputs kept once, disagreeing inputs refused), through the operations every backend has.
// SQLite-only merges keep using `EpisodeStore.merge` (ATTACH; faster).
import Formats
import Foundation

extension EpisodeStores {
    /// Merges the stores at `inputs` (files or URLs) into `output`: a new SQLite file, or a PostgreSQL database
    /// holding no steps yet. Steps are read from every input at once in id order and written in id order, so the
    /// shards of one rollout give the unsharded run's store; one input is a plain copy.
    ///
    /// - Throws: `StoreError.invalidArgument` when `output` exists (file) or holds steps (PostgreSQL);
    ///   `.dimensionMismatch`; `.mergeConflict` when inputs disagree on a step or an episode id.
    public static func merge(_ inputs: [String], into output: String, progress: (Int, Int) -> Void = { _, _ in }) throws -> MergeReport {
        guard !inputs.isEmpty else { throw StoreError.invalidArgument("merge: give at least one input store") }
        let outputIsFile = !isPostgres(output)
        if outputIsFile, FileManager.default.fileExists(atPath: output) {
            throw StoreError.invalidArgument("merge: \(output) exists; the merged store is always a new file (remove it or pick another name)")
        }
        let stores = try inputs.map { try open($0, readOnly: true) }
        var dim: Int?, actionDim: Int?
        for store in stores {
            if let dim, dim != store.dim {
                throw StoreError.dimensionMismatch(path: store.path, expected: dim, got: store.dim, field: "the store's dimension (first input: \(stores[0].path))")
            }
            dim = store.dim
            if let a = store.actionDim {
                if let actionDim, actionDim != a { throw StoreError.dimensionMismatch(path: store.path, expected: actionDim, got: a, field: "the store's action dimension") }
                actionDim = a
            }
        }
        guard let dim else { throw StoreError.invalidArgument("merge: no input") }
        // Episode ids by name, which every input must agree on.
        var episodeIDs = [String: Int64]()
        var episodeNames = [Int64: String]()
        for store in stores {
            for e in try store.episodes() {
                if let id = episodeIDs[e.name], id != e.id {
                    throw StoreError.mergeConflict(path: store.path, reason: "its episode `\(e.name)` has id \(e.id), an earlier input's has id \(id); "
                                                   + "only shards of one rollout (or copies of one store) merge")
                }
                if let name = episodeNames[e.id], name != e.name {
                    throw StoreError.mergeConflict(path: store.path, reason: "its episode `\(e.name)` (id \(e.id)) meets episode `\(name)` of an earlier "
                                                   + "input; only shards of one rollout (or copies of one store) merge")
                }
                episodeIDs[e.name] = e.id
                episodeNames[e.id] = e.name
            }
        }
        let counts = try stores.map { try $0.stepCount() }
        let target = outputIsFile
            ? output.withTemporaryName
            : output
        if outputIsFile { removeSQLite(target) }
        var report = MergeReport(inputs: [], output: redacted(output), episodes: 0, steps: 0, annotations: 0, recalls: 0)
        var duplicates = [Int](repeating: 0, count: stores.count)
        do {
            do {
                let out = try open(target, dim: dim)
                if try out.stepCount() > 0 {
                    throw StoreError.invalidArgument("merge: \(out.path) already holds steps; merge into an empty database")
                }
                var cursors = stores.map { StepCursor(store: $0) }
                var batch = [StoredStep]()
                func flush() throws {
                    guard !batch.isEmpty else { return }
                    try out.append(batch.map(\.record), recalls: batch.map(\.recalls), identities: batch.map {
                        StoreIdentity(stepID: $0.id, episodeID: episodeIDs[$0.record.episode]!)
                    })
                    report.steps += batch.count
                    report.annotations += batch.reduce(0) { $0 + $1.record.annotations.count }
                    report.recalls += batch.reduce(0) { $0 + $1.recalls.count }
                    batch.removeAll(keepingCapacity: true)
                    progress(report.steps, counts.reduce(0, +))
                }
                while true {
                    var heads = [(Int, StoredStep)]()
                    for i in cursors.indices { if let s = try cursors[i].peek() { heads.append((i, s)) } }
                    guard let first = heads.min(by: { $0.1.id < $1.1.id }) else { break }
                    let same = heads.filter { $0.1.id == first.1.id }.sorted { $0.0 < $1.0 }
                    let kept = same[0]
                    for (i, other) in same.dropFirst() {
                        if !samePayload(kept.1, other) {
                            throw StoreError.mergeConflict(path: stores[i].path, reason: "step id \(other.id) differs from the step with that id in an earlier "
                                                           + "input; only shards of one rollout (or copies of one store) merge")
                        }
                        duplicates[i] += 1
                    }
                    for (i, _) in same { cursors[i].advance() }
                    batch.append(kept.1)
                    if batch.count >= 256 { try flush() }
                }
                try flush()
                report.episodes = try out.episodes().count
            }
        } catch {
            if outputIsFile { removeSQLite(target) }
            throw error
        }
        if outputIsFile {
            guard !FileManager.default.fileExists(atPath: output) else {
                throw StoreError.invalidArgument("merge: \(output) appeared while merging; the merged store is left at \(target)")
            }
            do { try FileManager.default.moveItem(atPath: target, toPath: output) } catch {
                throw StoreError.io(path: output, reason: "cannot rename the merged store into place: \(error.localizedDescription)")
            }
            removeSQLite(target)
        }
        report.inputs = zip(stores, zip(counts, duplicates)).map { .init(path: $0.path, steps: $1.0, duplicates: $1.1) }
        return report
    }

    /// Equal apart from the creation time (a retried shard recomputes the same step later).
    static func samePayload(_ a: StoredStep, _ b: StoredStep) -> Bool {
        var x = a.record, y = b.record
        x.timestamp = y.timestamp
        x.annotations = []
        y.annotations = []
        return x == y
    }

    static func removeSQLite(_ path: String) {
        for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: path + suffix) }
    }
}

/// Pages through one store's steps in id order.
private struct StepCursor {
    let store: any EpisodeRepository
    var page: [StoredStep] = []
    var position = 0
    var lastID: Int64 = 0
    var done = false

    init(store: any EpisodeRepository) { self.store = store }

    mutating func peek() throws -> StoredStep? {
        if position < page.count { return page[position] }
        if done { return nil }
        page = try store.steps(afterID: lastID, limit: 512)
        position = 0
        guard let last = page.last else { done = true; return nil }
        lastID = last.id
        return page[0]
    }

    mutating func advance() { position += 1 }
}

private extension String {
    /// `.NAME.merging-PID` beside the file.
    var withTemporaryName: String {
        let url = URL(fileURLWithPath: self)
        return url.deletingLastPathComponent().appendingPathComponent(".\(url.lastPathComponent).merging-\(getpid())").path
    }
}
