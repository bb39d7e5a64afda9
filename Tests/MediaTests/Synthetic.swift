// Generated test media: deterministic RGB frames and tones, written with the module's own writers.
import Foundation
import Media

enum Synthetic {
    /// A `width × height` RGB frame: a horizontal red ramp, green = `level`, a blue square whose
    /// position moves with `phase` (0...1).
    static func frame(width: Int, height: Int, level: UInt8, phase: Double = 0) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        let side = max(2, min(width, height) / 4)
        let x0 = Int(Double(width - side) * phase), y0 = (height - side) / 2
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                pixels[i] = UInt8(x * 255 / max(1, width - 1))
                pixels[i + 1] = level
                pixels[i + 2] = (x >= x0 && x < x0 + side && y >= y0 && y < y0 + side) ? 230 : 20
            }
        }
        return pixels
    }

    /// A flat frame of one colour.
    static func flat(width: Int, height: Int, r: UInt8, g: UInt8, b: UInt8) -> [UInt8] {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for i in stride(from: 0, to: pixels.count, by: 3) { pixels[i] = r; pixels[i + 1] = g; pixels[i + 2] = b }
        return pixels
    }

    /// Writes a clip whose frame `i` has green level `levelStep * i` (so the level names the frame).
    static func writeIndexedClip(to url: URL, width: Int = 64, height: Int = 48, frames: Int, fps: Int = 10,
                                 levelStep: Int = 2, codec: VideoWriter.Codec = .auto) throws -> VideoWriter {
        let writer = try VideoWriter(url: url, width: width, height: height, fps: fps, codec: codec)
        for i in 0..<frames {
            try writer.append(rgbFrame: flat(width: width, height: height, r: 128, g: UInt8(min(255, i * levelStep)), b: 64))
        }
        try writer.finish()
        return writer
    }

    /// A sine tone, interleaved over `channels` (channel c scaled by 1/(c+1)).
    static func tone(frequency: Double, sampleRate: Int, seconds: Double, channels: Int = 1, amplitude: Float = 0.5) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: n * channels)
        for i in 0..<n {
            let v = amplitude * Float(sin(2 * Double.pi * frequency * Double(i) / Double(sampleRate)))
            for c in 0..<channels { out[i * channels + c] = v / Float(c + 1) }
        }
        return out
    }
}
