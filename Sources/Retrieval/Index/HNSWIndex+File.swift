// HNSWIndex save/load: one flat little-endian file (layout in docs/memory.md), validated field by field on load.
import Foundation

extension HNSWIndex {
    static let magic = "WGHNSW01"

    /// Writes the whole graph and the vectors.
    public func save(to url: URL) throws {
        let w = try IndexFileWriter(url: url)
        try Array(Self.magic.utf8).withUnsafeBytes { try w.write(bytes: $0) }
        for v in [UInt32(dim), UInt32(M), UInt32(efConstruction), UInt32(efSearch)] { try w.write(v) }
        try w.write(UInt64(labels.count))
        try w.write(entryPoint)
        try w.write(maxLevel)
        try w.write(UInt64(upperLinks.count))
        try w.write(array: labels)
        try w.write(array: levels)
        try w.write(array: deleted.map { UInt8($0 ? 1 : 0) })
        try w.write(array: upperOffset.map { Int64($0) })
        try w.write(array: links0)
        try w.write(array: upperLinks)
        try w.write(array: vectors)
        try w.finish()
    }

    /// Reads an index written by `save(to:)`.
    /// - Throws: `RetrievalError.corruptIndexFile` naming the file when it is foreign, truncated or inconsistent
    ///   (sizes, link targets out of range).
    public static func load(from url: URL, buildThreads: Int = 2) throws -> HNSWIndex {
        var r = try IndexFileReader(url: url)
        try r.expectMagic(magic)
        let dim = Int(try r.read(UInt32.self)), m = Int(try r.read(UInt32.self))
        let efC = Int(try r.read(UInt32.self)), efS = Int(try r.read(UInt32.self))
        let n64 = try r.read(UInt64.self)
        let entry = try r.read(Int32.self), maxLevel = try r.read(Int32.self)
        let upperCount64 = try r.read(UInt64.self)
        func bad(_ reason: String) -> RetrievalError { .corruptIndexFile(path: url.path, reason: reason) }
        guard dim > 0, dim <= 1 << 20, m >= 2, m <= 1024, efC >= 1, efS >= 1, n64 < UInt64(Int32.max), upperCount64 < UInt64(Int.max / 8) else {
            throw bad("implausible header")
        }
        let n = Int(n64), upperCount = Int(upperCount64)
        let expected = n * (8 + 4 + 1 + 8 + 4 * (2 * m + 1) + 4 * dim) + 4 * upperCount
        guard r.remaining == expected else { throw bad("size mismatch: \(r.remaining) payload bytes, expected \(expected)") }
        let index = HNSWIndex(dim: dim, M: m, efConstruction: efC, efSearch: efS, buildThreads: buildThreads)
        let labels = try r.readArray(Int64.self, count: n)
        let levels = try r.readArray(Int32.self, count: n)
        let deleted = try r.readArray(UInt8.self, count: n).map { $0 != 0 }
        let upperOffset = try r.readArray(Int64.self, count: n).map { Int($0) }
        let links0 = try r.readArray(Int32.self, count: n * (2 * m + 1))
        let upperLinks = try r.readArray(Int32.self, count: upperCount)
        let vectors = try r.readArray(Float.self, count: n * dim)
        guard (n == 0 && entry == -1) || (entry >= 0 && Int(entry) < n && maxLevel == levels[Int(entry)]) else { throw bad("bad entry point") }
        for i in 0..<n {
            let level = Int(levels[i])
            guard level >= 0, level <= 16 else { throw bad("node \(i) has level \(level)") }
            if level > 0 {
                guard upperOffset[i] >= 0, upperOffset[i] <= upperCount - level * (m + 1) else { throw bad("node \(i) upper links out of range") }
            }
            let c0 = Int(links0[i * (2 * m + 1)])
            guard c0 >= 0, c0 <= 2 * m else { throw bad("node \(i) has \(c0) level-0 links") }
            for j in 0..<c0 where links0[i * (2 * m + 1) + 1 + j] < 0 || Int(links0[i * (2 * m + 1) + 1 + j]) >= n { throw bad("node \(i) links outside the graph") }
            for l in 0..<level {
                let base = upperOffset[i] + l * (m + 1)
                let c = Int(upperLinks[base])
                guard c >= 0, c <= m else { throw bad("node \(i) level \(l + 1) has \(c) links") }
                for j in 0..<c where upperLinks[base + 1 + j] < 0 || Int(upperLinks[base + 1 + j]) >= n { throw bad("node \(i) links outside the graph") }
                // A search at level l + 1 reads the link list of every neighbour at that level: a neighbour below it
                // has none (its offset is −1 or another node's), and the C search read outside the links (SEGV).
                for j in 0..<c where Int(levels[Int(upperLinks[base + 1 + j])]) < l + 1 {
                    throw bad("node \(i) level \(l + 1) links node \(upperLinks[base + 1 + j]), whose top level is \(levels[Int(upperLinks[base + 1 + j])])")
                }
            }
        }
        guard vectors.allSatisfy({ $0.isFinite }) else { throw bad("non-finite vector components") }
        try index.restore(labels: labels, levels: levels, deleted: deleted, upperOffset: upperOffset, links0: links0, upperLinks: upperLinks,
                          vectors: vectors, entryPoint: entry, maxLevel: maxLevel, path: url.path)
        return index
    }
}
