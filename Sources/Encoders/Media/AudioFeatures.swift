// Log-mel spectrum statistics of 16 kHz mono audio: the input of MediaFeatureEncoder's random projection.
// Shape legend: T frames (10 ms hop), W window (400 samples = 25 ms), K frequency bins (257), M mel bands (64).
import Foundation
import Tensor

/// Log-mel features of audio at 16 kHz mono, documented in docs/media.md.
///
/// The spectrogram is computed with two BLAS products: windowed frames × a real DFT basis (cos/sin),
/// then power × a triangular mel filter bank (HTK mel scale, 0–8 kHz). Values are in dB with an
/// 80 dB floor below the clip's maximum, as `librosa.power_to_db(top_db=80)`.
public enum AudioFeatures {
    /// The rate features are computed at.
    public static let sampleRate = 16_000
    /// Analysis window (25 ms), hop (10 ms), FFT size and mel band count.
    public static let window = 400, hop = 160, fftSize = 512, melBands = 64
    /// Frequency bins of the one-sided spectrum.
    public static var bins: Int { fftSize / 2 + 1 }
    /// Group weights (band means, band deviations, time × frequency map, spectral flux, envelope, bias).
    public static let weights = (shape: Float(1.0), spread: Float(0.5), map: Float(0.7), flux: Float(0.4), envelope: Float(0.4), bias: Float(0.1))
    /// Time segments × band groups of the coarse map, and envelope points.
    public static let mapSegments = 4, mapBandGroups = 16, envelopePoints = 16

    /// Width of the feature vector: 3·M (band means, deviations, flux) + segments·groups + envelope + bias.
    public static var dimension: Int { 3 * melBands + mapSegments * mapBandGroups + envelopePoints + 1 }

    /// The real DFT basis (W × 2K: cos then −sin columns) with the periodic Hann window folded in.
    static let basis: [Float] = {
        let k = fftSize / 2 + 1
        var out = [Float](repeating: 0, count: window * 2 * k)
        for n in 0..<window {
            let hann = 0.5 - 0.5 * cos(2 * Double.pi * Double(n) / Double(window))
            for f in 0..<k {
                let angle = 2 * Double.pi * Double(f * n % fftSize) / Double(fftSize)
                out[n * 2 * k + f] = Float(hann * cos(angle))
                out[n * 2 * k + k + f] = Float(-hann * sin(angle))
            }
        }
        return out
    }()

    /// Triangular mel filters (K × M), HTK mel scale, 0 Hz to the Nyquist frequency, Slaney-style area
    /// normalisation left out (per-band levels are centred later anyway).
    static let melFilters: [Float] = {
        let k = fftSize / 2 + 1
        func mel(_ hz: Double) -> Double { 2595 * log10(1 + hz / 700) }
        func hz(_ mel: Double) -> Double { 700 * (pow(10, mel / 2595) - 1) }
        let top = mel(Double(sampleRate) / 2)
        let edges = (0..<(melBands + 2)).map { hz(top * Double($0) / Double(melBands + 1)) }
        var out = [Float](repeating: 0, count: k * melBands)
        for f in 0..<k {
            let frequency = Double(f) * Double(sampleRate) / Double(fftSize)
            for m in 0..<melBands {
                let lo = edges[m], mid = edges[m + 1], hi = edges[m + 2]
                var w = 0.0
                if frequency > lo && frequency <= mid { w = (frequency - lo) / (mid - lo) }
                else if frequency > mid && frequency < hi { w = (hi - frequency) / (hi - mid) }
                out[f * melBands + m] = Float(w)
            }
        }
        return out
    }()

    /// The weight of frequency bin `bin` in mel band `band`.
    public static func melFilterWeight(bin: Int, band: Int) -> Float { melFilters[bin * melBands + band] }

    /// The log-mel spectrogram (T × M, dB) of mono samples at 16 kHz; clips shorter than one window are
    /// zero-padded to one frame.
    public static func logMel(_ samples: [Float]) -> (frames: Int, values: [Float]) {
        var padded = samples
        if padded.count < window { padded += [Float](repeating: 0, count: window - padded.count) }
        let t = 1 + (padded.count - window) / hop
        let k = bins
        // Frames overlap (hop < window) and BLAS needs lda ≥ W, so the T × W frame matrix is materialised.
        let frames = [Float](unsafeUninitializedCapacity: t * window) { out, count in
            padded.withUnsafeBufferPointer { x in
                for row in 0..<t { (out.baseAddress! + row * window).initialize(from: x.baseAddress! + row * hop, count: window) }
            }
            count = t * window
        }
        var spectrum = [Float](repeating: 0, count: t * 2 * k)
        frames.withUnsafeBufferPointer { x in
            basis.withUnsafeBufferPointer { b in
                spectrum.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(m: t, n: 2 * k, k: window, a: x.baseAddress!, b: b.baseAddress!, c: c.baseAddress!)
                }
            }
        }
        var power = [Float](repeating: 0, count: t * k)
        for row in 0..<t {
            for f in 0..<k {
                let re = spectrum[row * 2 * k + f], im = spectrum[row * 2 * k + k + f]
                power[row * k + f] = re * re + im * im
            }
        }
        var mel = [Float](repeating: 0, count: t * melBands)
        power.withUnsafeBufferPointer { p in
            melFilters.withUnsafeBufferPointer { m in
                mel.withUnsafeMutableBufferPointer { c in
                    BLAS.sgemm(m: t, n: melBands, k: k, a: p.baseAddress!, b: m.baseAddress!, c: c.baseAddress!)
                }
            }
        }
        var top: Float = -.infinity
        for i in mel.indices {
            mel[i] = 10 * log10(max(mel[i], 1e-10))
            top = max(top, mel[i])
        }
        let floor = top - 80
        for i in mel.indices where mel[i] < floor { mel[i] = floor }
        return (t, mel)
    }

    /// The feature vector (`dimension` values) of mono 16 kHz samples.
    public static func features(_ samples: [Float]) -> [Float] {
        let (t, db) = logMel(samples)
        let m = melBands
        var mean = [Float](repeating: 0, count: m), spread = mean, flux = mean
        for row in 0..<t { for b in 0..<m { mean[b] += db[row * m + b] } }
        for b in 0..<m { mean[b] /= Float(t) }
        for row in 0..<t {
            for b in 0..<m {
                let d = db[row * m + b] - mean[b]
                spread[b] += d * d
                if row > 0 { flux[b] += abs(db[row * m + b] - db[(row - 1) * m + b]) }
            }
        }
        for b in 0..<m {
            spread[b] = (spread[b] / Float(t)).squareRoot()
            flux[b] /= Float(max(1, t - 1))
        }
        // Coarse map: mean dB per (time segment, group of 4 bands), minus the clip mean.
        var map = [Float](repeating: 0, count: mapSegments * mapBandGroups)
        let perGroup = m / mapBandGroups
        for s in 0..<mapSegments {
            let r0 = s * t / mapSegments, r1 = max(r0 + 1, (s + 1) * t / mapSegments)
            for g in 0..<mapBandGroups {
                var sum: Float = 0
                for row in r0..<min(r1, t) { for b in (g * perGroup)..<((g + 1) * perGroup) { sum += db[row * m + b] } }
                map[s * mapBandGroups + g] = sum / Float((min(r1, t) - r0) * perGroup)
            }
        }
        // Envelope: mean dB over bands at `envelopePoints` segments of time.
        var envelope = [Float](repeating: 0, count: envelopePoints)
        for s in 0..<envelopePoints {
            let r0 = s * t / envelopePoints, r1 = max(r0 + 1, (s + 1) * t / envelopePoints)
            var sum: Float = 0
            for row in r0..<min(r1, t) { for b in 0..<m { sum += db[row * m + b] } }
            envelope[s] = sum / Float((min(r1, t) - r0) * m)
        }
        // Centring removes the overall level (gain) and keeps the shape.
        VisualFeatures.centre(&mean)
        VisualFeatures.centre(&spread)
        VisualFeatures.centre(&map)
        VisualFeatures.centre(&envelope)
        VisualFeatures.centre(&flux)
        var out: [Float] = []
        out.reserveCapacity(dimension)
        VisualFeatures.append(mean, weight: weights.shape, to: &out)
        VisualFeatures.append(spread, weight: weights.spread, to: &out)
        VisualFeatures.append(map, weight: weights.map, to: &out)
        VisualFeatures.append(flux, weight: weights.flux, to: &out)
        VisualFeatures.append(envelope, weight: weights.envelope, to: &out)
        out.append(weights.bias)
        return out
    }
}
