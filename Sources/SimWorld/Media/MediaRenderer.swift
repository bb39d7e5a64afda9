// Renders latent states as real media: a still (RGB), a short clip of frames, a sound, and a caption.
// Nothing here shows velocities: every medium depicts the positions (and static attributes) at one time.
import Foundation
import Formats
import Media

/// Draws a world state as pictures, sound and text. Deterministic; noise comes from a caller's stream.
public struct MediaRenderer: Sendable {
    /// The configuration (frame size, frames per clip, audio length and rate, noise).
    public let config: WorldConfig

    /// A renderer for `config`.
    public init(config: WorldConfig) { self.config = config }

    /// Half the width of the square of the plane shown in pictures (positions beyond it leave the frame).
    static let viewExtent = 1.4

    /// The still picture: a background tinted by the static attributes and one disc per object.
    /// - Parameter noise: when given, Gaussian pixel noise (σ = 60·noise levels) is added.
    public func image(positions: [Double], attributes: [Double], noise: inout SimRandom?) -> RGBImage {
        frame(positions: positions, attributes: attributes, noise: &noise)
    }

    /// `videoFrames` frames of the state: objects wobble in place on small fixed circles (no drift, so a
    /// clip shows positions, not velocities).
    public func videoFrames(positions: [Double], attributes: [Double], noise: inout SimRandom?) -> [RGBImage] {
        (0..<config.videoFrames).map { f in
            let phase = 2 * Double.pi * Double(f) / Double(config.videoFrames)
            var moved = positions
            for k in 0..<(positions.count / 2) {
                moved[2 * k] += 0.06 * cos(phase + Double(k) * 2.1)
                moved[2 * k + 1] += 0.06 * sin(phase + Double(k) * 2.1)
            }
            return frame(positions: moved, attributes: attributes, noise: &noise)
        }
    }

    /// One frame at `positions`.
    func frame(positions: [Double], attributes: [Double], noise: inout SimRandom?) -> RGBImage {
        let side = config.frameSize
        var pixels = [UInt8](repeating: 0, count: side * side * 3)
        func attribute(_ i: Int) -> Double { i < attributes.count ? attributes[i] : 0 }
        let background = (0..<3).map { c in 0.25 + 0.08 * tanh(attribute(9 + c)) }
        var values = [Double](repeating: 0, count: side * side * 3)
        for i in 0..<(side * side) { for c in 0..<3 { values[3 * i + c] = background[c] } }
        let radius = Double(side) / 9
        for (k, object) in WorldObject.all.enumerated() where 2 * k + 1 < positions.count {
            let base = [object.rgb.0, object.rgb.1, object.rgb.2]
            let colour = (0..<3).map { c in min(1, max(0, base[c] + 0.12 * tanh(attribute(3 * k + c)))) }
            let cx = (positions[2 * k] / MediaRenderer.viewExtent + 1) / 2 * Double(side)
            let cy = (1 - (positions[2 * k + 1] / MediaRenderer.viewExtent + 1) / 2) * Double(side)
            let x0 = max(0, Int(cx - radius - 1)), x1 = min(side - 1, Int(cx + radius + 1))
            let y0 = max(0, Int(cy - radius - 1)), y1 = min(side - 1, Int(cy + radius + 1))
            if x0 > x1 || y0 > y1 { continue }
            for y in y0...y1 {
                for x in x0...x1 {
                    let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                    // Anti-aliased edge: full inside, fading over one pixel.
                    let coverage = min(1, max(0, radius + 0.5 - (dx * dx + dy * dy).squareRoot()))
                    if coverage <= 0 { continue }
                    let i = 3 * (y * side + x)
                    for c in 0..<3 { values[i + c] = values[i + c] * (1 - coverage) + colour[c] * coverage }
                }
            }
        }
        let sigma = 60 * config.noise
        for i in 0..<values.count {
            var v = values[i] * 255
            if noise != nil { v += sigma * noise!.gaussian() }
            pixels[i] = UInt8(min(255, max(0, v.rounded())))
        }
        return RGBImage(width: side, height: side, pixels: pixels)
    }

    /// The sound of the state: one tone per object, its pitch rising with height and its loudness with
    /// the distance to the right edge; static attributes detune each tone slightly.
    /// - Parameter noise: when given, white noise (σ = 0.1·noise) is added.
    public func audio(positions: [Double], attributes: [Double], noise: inout SimRandom?) -> AudioClip {
        let rate = config.sampleRate
        let count = Int((config.audioSeconds * Double(rate)).rounded())
        var samples = [Float](repeating: 0, count: count)
        func attribute(_ i: Int) -> Double { i < attributes.count ? attributes[i] : 0 }
        var tones: [(frequency: Double, amplitude: Double)] = []
        for (k, object) in WorldObject.all.enumerated() where 2 * k + 1 < positions.count {
            let frequency = object.pitch * pow(2, 0.75 * tanh(positions[2 * k + 1])) * (1 + 0.03 * tanh(attribute(12 + k)))
            let amplitude = 0.22 * (1 + 0.6 * tanh(positions[2 * k]))
            tones.append((frequency, amplitude))
        }
        let sigma = 0.1 * config.noise
        for i in 0..<count {
            let t = Double(i) / Double(rate)
            var v = 0.0
            for tone in tones { v += tone.amplitude * sin(2 * Double.pi * tone.frequency * t) }
            if noise != nil { v += sigma * noise!.gaussian() }
            samples[i] = Float(max(-1, min(1, v)))
        }
        return AudioClip(samples: samples, sampleRate: rate, channelCount: 1)
    }

    /// A caption naming where each object is on a 3×3 grid; `variant` picks the wording (0 = canonical).
    public func caption(positions: [Double], variant: Int) -> String {
        func place(_ x: Double, _ y: Double) -> String {
            let column = x < -0.4 ? "left" : (x > 0.4 ? "right" : "")
            let row = y < -0.4 ? "bottom" : (y > 0.4 ? "top" : "")
            switch (row, column) {
            case ("", ""): return "in the middle"
            case ("", let c): return "on the \(c)"
            case (let r, ""): return "at the \(r)"
            case (let r, let c): return "at the \(r) \(c)"
            }
        }
        var parts: [String] = []
        for (k, object) in WorldObject.all.enumerated() where 2 * k + 1 < positions.count {
            let where_ = place(positions[2 * k], positions[2 * k + 1])
            switch ((variant % 3) + 3) % 3 {
            case 0: parts.append("the \(object.colour) \(object.noun) is \(where_)")
            case 1: parts.append("a \(object.colour) \(object.noun) \(where_)")
            default: parts.append("\(where_) there is the \(object.colour) \(object.noun)")
            }
        }
        return parts.joined(separator: ", ") + "."
    }
}
