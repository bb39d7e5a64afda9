// The one Swift file that calls CKernels (our AVX-512 / AVX2+FMA / portable C kernels, chosen at run time).
import CKernels

/// Which instruction set the vector kernels use.
public enum SIMDLevel: Int, Sendable, CustomStringConvertible {
    /// Plain C loops (any CPU).
    case portable = 0
    /// AVX2 with fused multiply-add.
    case avx2 = 1
    /// AVX-512F.
    case avx512 = 2

    /// The level's name as benchmarks print it.
    public var description: String { ["portable", "avx2+fma", "avx512f"][rawValue] }
}

/// Thin wrappers over the C kernels; every call site of C in Retrieval goes through here.
enum NativeKernels {
    @inline(__always)  // one C call per graph step in HNSW; keep the wrapper free.
    static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Float {
        wgk_dot_f32(a, b, n)
    }

    static func scores(query: UnsafePointer<Float>, rows: UnsafePointer<Float>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        wgk_scores_f32(query, rows, rowCount, dim, out)
    }

    static func scoresInt8(query: UnsafePointer<Float>, codes: UnsafePointer<Int8>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Float>) {
        wgk_scores_i8(query, codes, rowCount, dim, out)
    }

    @inline(__always)  // per visited neighbour in HNSW.
    static func prefetch(_ p: UnsafeRawPointer, bytes: Int) { wgk_prefetch(p, bytes) }

    /// The C view of a graph (`locked`: with its striped locks, for the build).
    static func cGraph(_ graph: Graph, locked: Bool) -> wgk_hnsw_graph {
        wgk_hnsw_graph(
            vectors: graph.vectors, dim: graph.dim, links0: graph.links0, stride0: 2 * graph.M + 1,
            upper: graph.upper.map { UnsafePointer($0) }, upper_offset: UnsafeRawPointer(graph.upperOffset).assumingMemoryBound(to: Int64.self),
            stride_upper: graph.M + 1, deleted: UnsafeRawPointer(graph.deleted).assumingMemoryBound(to: UInt8.self),
            max_links: 2 * graph.M, locks: locked ? graph.locks.locks : nil, lock_count: graph.locks.count)
    }

    /// The neighbour-selection heuristic over candidates sorted best first.
    static func hnswSelect(_ graph: Graph, sims: [Float], nodes: [Int32], max: Int) -> [Int32] {
        var g = cGraph(graph, locked: false)
        return [Int32](unsafeUninitializedCapacity: max) { out, count in
            count = sims.withUnsafeBufferPointer { s in nodes.withUnsafeBufferPointer { n in wgk_hnsw_select(&g, s.baseAddress!, n.baseAddress!, s.count, max, out.baseAddress!) } }
        }
    }

    /// Adds `newNode` to the full list `list` of node `c` and re-selects it down to `cap` (caller holds c's lock).
    static func hnswRelink(_ graph: Graph, _ c: Int32, newNode: Int32, cap: Int, list: UnsafeMutablePointer<Int32>) {
        var g = cGraph(graph, locked: false)
        wgk_hnsw_relink(&g, c, newNode, cap, list)
    }

    /// One beam search of `graph` on `level` (see `wgk_hnsw_search_layer`); the results land in `scratch.top`.
    static func hnswSearchLayer(
        _ graph: Graph, _ q: UnsafePointer<Float>, entry: Int32, ef: Int, level: Int32, locked: Bool, mask: UnsafePointer<UInt64>?,
        skipDeleted: Bool, scratch: inout SearchScratch
    ) {
        let tag = scratch.tag
        var g = cGraph(graph, locked: locked)
        let n = scratch.visited.withUnsafeMutableBufferPointer { visited in
            scratch.candidateSims.withUnsafeMutableBufferPointer { cs in
                scratch.candidateNodes.withUnsafeMutableBufferPointer { cn in
                    scratch.resultSims.withUnsafeMutableBufferPointer { rs in
                        scratch.resultNodes.withUnsafeMutableBufferPointer { rn in
                            wgk_hnsw_search_layer(
                                &g, q, entry, ef, level, visited.baseAddress!, tag, mask, skipDeleted ? 1 : 0,
                                cs.baseAddress!, cn.baseAddress!, rs.baseAddress!, rn.baseAddress!)
                        }
                    }
                }
            }
        }
        scratch.top.removeAll()
        scratch.top.sims.append(contentsOf: scratch.resultSims[0..<n])
        scratch.top.nodes.append(contentsOf: scratch.resultNodes[0..<n])
    }

    /// True when the int8 kernel runs on AVX-512 VNNI.
    static var hasVNNI: Bool { wgk_has_vnni() != 0 }

    static func packInt8Row(_ packed: UnsafeMutablePointer<Int8>, row: Int, dim: Int, codes: UnsafePointer<Int8>) {
        wgk_pack_i8_row(packed, row, dim, codes)
    }

    /// Upper bounds of every (query, row) score for queries `range` and the given 16-row groups (`wgk_i8_upper_bounds`).
    static func int8UpperBounds(_ queries: QuantizedQueries, _ range: Range<Int>, rows: Int8Rows, groups: Range<Int>, out: UnsafeMutablePointer<Float>, ldo: Int) {
        var r = wgk_i8_rows(packed: rows.packed, dim4: rows.dim4, scales: rows.scales, errors: rows.errors, norms: rows.norms, row_sums: rows.sums)
        queries.codes.withUnsafeBufferPointer { codes in
            let views = range.map { qi in
                wgk_i8_query(codes: codes.baseAddress! + qi * queries.stride, scale: queries.scales[qi], error: queries.errors[qi], norm: queries.norms[qi])
            }
            views.withUnsafeBufferPointer { wgk_i8_upper_bounds($0.baseAddress!, $0.count, &r, groups.lowerBound, groups.upperBound, out, ldo) }
        }
    }

    static func dotsUnsignedSigned(query: UnsafePointer<Int8>, rows: UnsafePointer<UInt8>, rowCount: Int, dim: Int, out: UnsafeMutablePointer<Int32>) {
        wgk_dots_u8s8(query, rows, rowCount, dim, out)
    }

    static var level: SIMDLevel { SIMDLevel(rawValue: Int(wgk_level())) ?? .portable }
    static var supportedLevel: SIMDLevel { SIMDLevel(rawValue: Int(wgk_supported_level())) ?? .portable }
    static func setLevel(_ level: SIMDLevel) -> SIMDLevel { SIMDLevel(rawValue: Int(wgk_set_level(Int32(level.rawValue)))) ?? .portable }
}
