// Per-modality observation maps: latent state → 768-d unit embedding (fixed, seeded, non-linear, noisy).
// Shapes: N observations, F = observed latent values + static features, H hidden, D embedding dimension.
import Foundation
import Formats
import Tensor

/// A fixed random map `normalize(W · tanh(U_L · … tanh(U · x + b) … + b_L))` for one modality, plus its
/// noise level. Depth 1 (the default) is the original two-layer map; `map_depth` adds hidden tanh layers.
///
/// `x = [positions · positionScale, static attributes]` (a family's observed values); velocities and every
/// other hidden value are not an input, so a single observation does not reveal them.
public struct ObservationMap: Sendable {
    /// The modality this map observes.
    public let modality: Modality
    /// Input width F, hidden width H, output width D.
    public let inputSize: Int, hiddenSize: Int, outputSize: Int
    /// U, H×F row-major (already scaled by the pre-activation scale).
    let u: [Float]
    /// b, H.
    let b: [Float]
    /// Further hidden layers (map depth > 1): each H×H weights (row-major) and H biases.
    let deepLayers: [(weights: [Float], bias: [Float])]
    /// W, D×H row-major.
    let w: [Float]
    /// Norm of the observation noise added to the unit clean embedding.
    public let noise: Float
    /// How much positions are scaled before entering the map.
    public let positionScale: Float

    /// The map of `modality` for a world whose family observes `observedSize` latent values (the spring
    /// family's 6 positions by default), drawn from its own random stream.
    public init(modality: Modality, config: WorldConfig, observedSize: Int = 2 * WorldObject.all.count) {
        self.modality = modality
        inputSize = observedSize + config.staticSize
        hiddenSize = config.hidden
        outputSize = config.dimension
        let modalityIndex = Modality.allCases.firstIndex(of: modality)!
        var rng = SimRandom(seed: config.seed, purpose: Purpose.map, modalityIndex)
        let uScale = 2 * config.preactivationScale / Double(inputSize).squareRoot()
        u = (0..<(hiddenSize * inputSize)).map { _ in Float(rng.gaussian() * uScale) }
        b = (0..<hiddenSize).map { _ in Float(rng.gaussian() * 0.5) }
        // Hidden-to-hidden layers: gain 1.5 keeps each tanh layer in its non-linear range.
        let deepScale = 1.5 / Double(config.hidden).squareRoot()
        deepLayers = (1..<config.mapDepth).map { [hiddenSize] _ in
            (weights: (0..<(hiddenSize * hiddenSize)).map { _ in Float(rng.gaussian() * deepScale) },
             bias: (0..<hiddenSize).map { _ in Float(rng.gaussian() * 0.3) })
        }
        let wScale = 1 / Double(hiddenSize).squareRoot()
        w = (0..<(outputSize * hiddenSize)).map { _ in Float(rng.gaussian() * wScale) }
        noise = Float(config.noise * config.noiseFactors[modalityIndex])
        positionScale = Float(config.positionScale)
    }

    /// Writes the input features of one observation into `out[offset..<offset+F]`.
    @inline(__always)  // called once per candidate state in the oracle loops.
    func features(positions: [Double], staticAttributes: [Double], into out: inout [Float], offset: Int) {
        var o = offset
        for p in positions { out[o] = Float(p) * positionScale; o += 1 }
        for s in staticAttributes { out[o] = Float(s); o += 1 }
    }

    /// Clean unit embeddings for `count` feature rows (`features` is count×F), as a count×D matrix.
    public func cleanEmbeddings(features: [Float], count: Int) -> [Float] {
        precondition(features.count == count * inputSize, "features have \(features.count) values, expected \(count)×\(inputSize)")
        if count == 0 { return [] }
        var hidden = ObservationMap.tanhLayer(features, count: count, width: inputSize, weights: u, bias: b)
        for layer in deepLayers {
            hidden = ObservationMap.tanhLayer(hidden, count: count, width: hiddenSize, weights: layer.weights, bias: layer.bias)
        }
        var out = [Float](repeating: 0, count: count * outputSize)
        hidden.withUnsafeBufferPointer { h in
            w.withUnsafeBufferPointer { ww in
                out.withUnsafeMutableBufferPointer { o in
                    BLAS.sgemm(transposeB: true, m: count, n: outputSize, k: hiddenSize,
                               a: h.baseAddress!, b: ww.baseAddress!, c: o.baseAddress!)
                }
            }
        }
        ObservationMap.normalizeRows(&out, width: outputSize)
        return out
    }

    /// `tanh(weights · x + bias)` for `count` rows of `width` inputs; `weights` is bias.count × width row-major.
    static func tanhLayer(_ x: [Float], count: Int, width: Int, weights: [Float], bias: [Float]) -> [Float] {
        let outWidth = bias.count
        var out = [Float](repeating: 0, count: count * outWidth)
        for r in 0..<count { for j in 0..<outWidth { out[r * outWidth + j] = bias[j] } }
        x.withUnsafeBufferPointer { xx in
            weights.withUnsafeBufferPointer { ww in
                out.withUnsafeMutableBufferPointer { h in
                    BLAS.sgemm(transposeB: true, m: count, n: outWidth, k: width,
                               a: xx.baseAddress!, b: ww.baseAddress!, beta: 1, c: h.baseAddress!)
                }
            }
        }
        out.withUnsafeMutableBufferPointer { h in
            for i in 0..<h.count { h[i] = tanhf(h[i]) }
        }
        return out
    }

    /// Adds this modality's noise to clean unit rows and renormalises them.
    ///
    /// Row `r` gets the noise of stream `(seed, noise, modality, firstRow + r)`, so any subset of rows can
    /// be regenerated independently and in any order.
    public func addNoise(to rows: inout [Float], firstRow: Int, seed: UInt64) {
        let d = outputSize
        let count = rows.count / d
        let modalityIndex = Modality.allCases.firstIndex(of: modality)!
        let scale = Double(noise) / Double(d).squareRoot()
        rows.withUnsafeMutableBufferPointer { buffer in
            for r in 0..<count {
                var rng = SimRandom(seed: seed, purpose: Purpose.noise, modalityIndex, firstRow + r)
                for i in 0..<d { buffer[r * d + i] += Float(rng.gaussian() * scale) }
            }
        }
        ObservationMap.normalizeRows(&rows, width: d)
    }

    /// Scales every row of a row-major matrix to unit length (zero rows stay zero).
    static func normalizeRows(_ m: inout [Float], width: Int) {
        m.withUnsafeMutableBufferPointer { buffer in
            let rows = buffer.count / width
            for r in 0..<rows {
                var sum: Double = 0
                for i in 0..<width { let v = Double(buffer[r * width + i]); sum += v * v }
                guard sum > 0 else { continue }
                let s = Float(1 / sum.squareRoot())
                for i in 0..<width { buffer[r * width + i] *= s }
            }
        }
    }
}
