// Hand-made visual features of images and sampled video frames (colour layout, colour histogram,
// gradient-orientation texture, motion): the input of MediaFeatureEncoder's random projection.
// Shape legend: S canonical side (64), G layout grid (8), C texture cells (4×4), O orientations (8), F frames.
import Foundation
import Media

/// Deterministic visual features, documented in docs/media.md. Every group is centred (so unrelated
/// pictures are near-orthogonal), scaled to unit length, then weighted.
public enum VisualFeatures {
    /// Side of the canonical picture every input is area-resampled to.
    public static let side = 64
    /// Layout grid: `grid × grid` cells of mean opponent colour.
    public static let grid = 8
    /// Texture: `cells × cells` cells, each an orientation histogram of `orientations` bins.
    public static let cells = 4, orientations = 8
    /// Colour histogram: `histogramBins³` soft RGB bins.
    public static let histogramBins = 4
    /// Group weights (layout, histogram, texture, motion, bias).
    public static let weights = (layout: Float(1.0), histogram: Float(0.6), texture: Float(0.6), motion: Float(0.5), bias: Float(0.1))

    /// Width of the image feature vector: layout 3·G², histogram B³, texture C²·O, bias 1.
    public static var imageDimension: Int { 3 * grid * grid + histogramBins * histogramBins * histogramBins + cells * cells * orientations + 1 }
    /// Width of the video feature vector: the image features averaged over frames, plus motion (C² + 8).
    public static var videoDimension: Int { imageDimension + cells * cells + 8 }

    /// Opponent-colour planes of the canonical picture: luminance − ½, red − green, yellow − blue.
    struct Planes {
        var l: [Float], a: [Float], b: [Float]
        var r: [Float], g: [Float], bl: [Float]
    }

    /// Area-resamples `image` to `side × side` and splits it into planes (values in 0...1).
    static func planes(_ image: RGBImage) -> Planes {
        precondition(image.width > 0 && image.height > 0, "visual features of an empty \(image.width)×\(image.height) image")
        let s = side, w = image.width, h = image.height
        var r = [Float](repeating: 0, count: s * s), g = r, bl = r
        image.pixels.withUnsafeBufferPointer { px in
            for oy in 0..<s {
                let y0 = oy * h / s, y1 = max(y0 + 1, ((oy + 1) * h + s - 1) / s)
                for ox in 0..<s {
                    let x0 = ox * w / s, x1 = max(x0 + 1, ((ox + 1) * w + s - 1) / s)
                    var sr = 0, sg = 0, sb = 0
                    for y in y0..<min(y1, h) {
                        var i = (y * w + x0) * 3
                        for _ in x0..<min(x1, w) { sr += Int(px[i]); sg += Int(px[i + 1]); sb += Int(px[i + 2]); i += 3 }
                    }
                    let n = Float((min(y1, h) - y0) * (min(x1, w) - x0)) * 255
                    r[oy * s + ox] = Float(sr) / n
                    g[oy * s + ox] = Float(sg) / n
                    bl[oy * s + ox] = Float(sb) / n
                }
            }
        }
        var l = r, a = r, b = r
        for i in 0..<(s * s) {
            l[i] = (r[i] + g[i] + bl[i]) / 3 - 0.5
            a[i] = r[i] - g[i]
            b[i] = (r[i] + g[i]) / 2 - bl[i]
        }
        return Planes(l: l, a: a, b: b, r: r, g: g, bl: bl)
    }

    /// Raw (unweighted) groups of one picture: layout, histogram, texture.
    static func groups(_ p: Planes) -> (layout: [Float], histogram: [Float], texture: [Float]) {
        let s = side, cell = s / grid
        // Layout: mean L, a, b per grid cell.
        var layout = [Float](repeating: 0, count: 3 * grid * grid)
        for gy in 0..<grid {
            for gx in 0..<grid {
                var sl: Float = 0, sa: Float = 0, sb: Float = 0
                for y in (gy * cell)..<((gy + 1) * cell) {
                    for x in (gx * cell)..<((gx + 1) * cell) { let i = y * s + x; sl += p.l[i]; sa += p.a[i]; sb += p.b[i] }
                }
                let n = Float(cell * cell), k = gy * grid + gx
                layout[k] = sl / n
                layout[grid * grid + k] = sa / n
                layout[2 * grid * grid + k] = sb / n
            }
        }
        // Histogram: trilinear soft binning in RGB, minus the uniform distribution.
        let bins = histogramBins
        var histogram = [Float](repeating: 0, count: bins * bins * bins)
        let scale = Float(bins - 1)
        for i in 0..<(s * s) {
            let cr = p.r[i] * scale, cg = p.g[i] * scale, cb = p.bl[i] * scale
            let ir = min(bins - 2, Int(cr)), ig = min(bins - 2, Int(cg)), ib = min(bins - 2, Int(cb))
            let fr = cr - Float(ir), fg = cg - Float(ig), fb = cb - Float(ib)
            for dr in 0...1 {
                let wr = dr == 0 ? 1 - fr : fr
                for dg in 0...1 {
                    let wg = dg == 0 ? 1 - fg : fg
                    for db in 0...1 {
                        let wb = db == 0 ? 1 - fb : fb
                        histogram[((ir + dr) * bins + (ig + dg)) * bins + (ib + db)] += wr * wg * wb
                    }
                }
            }
        }
        let uniform = 1 / Float(bins * bins * bins), pixels = Float(s * s)
        for i in histogram.indices { histogram[i] = histogram[i] / pixels - uniform }
        // Texture: magnitude-weighted unsigned gradient orientations of L per cell, soft over 2 bins.
        var texture = [Float](repeating: 0, count: cells * cells * orientations)
        let cellSide = s / cells
        var total: Float = 0
        for y in 1..<(s - 1) {
            for x in 1..<(s - 1) {
                let gx = p.l[y * s + x + 1] - p.l[y * s + x - 1]
                let gy = p.l[(y + 1) * s + x] - p.l[(y - 1) * s + x]
                let magnitude = (gx * gx + gy * gy).squareRoot()
                if magnitude < 1e-6 { continue }
                var angle = atan2(gy, gx)
                if angle < 0 { angle += .pi }
                let position = angle / .pi * Float(orientations) - 0.5
                let lower = Int((position + Float(orientations)).rounded(.down)) % orientations
                let fraction = position - position.rounded(.down)
                let base = ((y / cellSide) * cells + (x / cellSide)) * orientations
                texture[base + lower] += magnitude * (1 - fraction)
                texture[base + (lower + 1) % orientations] += magnitude * fraction
                total += magnitude
            }
        }
        if total > 0 { for i in texture.indices { texture[i] /= total } }
        centre(&texture)
        return (layout, histogram, texture)
    }

    /// The image feature vector (`imageDimension` values).
    public static func image(_ image: RGBImage) -> [Float] {
        let g = groups(planes(image))
        var out: [Float] = []
        out.reserveCapacity(imageDimension)
        append(g.layout, weight: weights.layout, to: &out)
        append(g.histogram, weight: weights.histogram, to: &out)
        append(g.texture, weight: weights.texture, to: &out)
        out.append(weights.bias)
        return out
    }

    /// The video feature vector (`videoDimension` values) of frames sampled uniformly from a clip.
    /// - Precondition: at least one frame.
    public static func video(_ frames: [RGBImage]) -> [Float] {
        precondition(!frames.isEmpty, "video features need at least one frame")
        let all = frames.map { planes($0) }
        var layout = [Float](repeating: 0, count: 3 * grid * grid)
        var histogram = [Float](repeating: 0, count: histogramBins * histogramBins * histogramBins)
        var texture = [Float](repeating: 0, count: cells * cells * orientations)
        for p in all {
            let g = groups(p)
            for i in layout.indices { layout[i] += g.layout[i] }
            for i in histogram.indices { histogram[i] += g.histogram[i] }
            for i in texture.indices { texture[i] += g.texture[i] }
        }
        // Motion: mean |ΔL| per texture cell between consecutive frames, and the brightness profile
        // over time (8 points), both centred.
        let s = side, cellSide = s / cells
        var motion = [Float](repeating: 0, count: cells * cells)
        if all.count > 1 {
            for t in 1..<all.count {
                for y in 0..<s { for x in 0..<s {
                    motion[(y / cellSide) * cells + x / cellSide] += abs(all[t].l[y * s + x] - all[t - 1].l[y * s + x])
                } }
            }
        }
        centre(&motion)
        var profile = [Float](repeating: 0, count: 8)
        for k in 0..<8 {
            let frame = all[min(all.count - 1, k * all.count / 8)]
            profile[k] = frame.l.reduce(0, +) / Float(s * s)
        }
        centre(&profile)
        var out: [Float] = []
        out.reserveCapacity(videoDimension)
        append(layout, weight: weights.layout, to: &out)
        append(histogram, weight: weights.histogram, to: &out)
        append(texture, weight: weights.texture, to: &out)
        out.append(weights.bias)
        append(motion + profile, weight: weights.motion, to: &out)
        return out
    }

    /// Subtracts the mean.
    static func centre(_ v: inout [Float]) {
        guard !v.isEmpty else { return }
        let mean = v.reduce(0, +) / Float(v.count)
        for i in v.indices { v[i] -= mean }
    }

    /// Appends `group` scaled to length `weight` (zeros stay zeros).
    static func append(_ group: [Float], weight: Float, to out: inout [Float]) {
        var norm: Float = 0
        for v in group { norm += v * v }
        norm = norm.squareRoot()
        let scale = norm > 1e-8 ? weight / norm : 0
        for v in group { out.append(v * scale) }
    }
}
