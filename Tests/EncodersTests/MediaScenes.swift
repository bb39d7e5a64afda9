// Generated media for the media-encoder tests: two unrelated visual scenes and three unrelated sounds.
import Foundation
import Media

enum MediaScenes {
    /// Scene "sunset": a warm vertical gradient with a bright disc moving left to right.
    static func sunset(width: Int, height: Int, t: Double) -> [UInt8] {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        let cx = (0.2 + 0.6 * t) * Double(width), cy = 0.4 * Double(height), radius = 0.12 * Double(min(width, height))
        for y in 0..<height {
            let v = Double(y) / Double(height - 1)
            for x in 0..<width {
                let i = (y * width + x) * 3
                let dx = Double(x) + 0.5 - cx, dy = Double(y) + 0.5 - cy
                if dx * dx + dy * dy < radius * radius {
                    px[i] = 255; px[i + 1] = 240; px[i + 2] = 180
                } else {
                    px[i] = UInt8(230 - 120 * v); px[i + 1] = UInt8(120 - 80 * v); px[i + 2] = UInt8(40 + 80 * v)
                }
            }
        }
        return px
    }

    /// Scene "forest": green and teal vertical stripes with a fine horizontal texture, drifting down.
    static func forest(width: Int, height: Int, t: Double) -> [UInt8] {
        var px = [UInt8](repeating: 0, count: width * height * 3)
        let shift = Int(t * Double(height) * 0.3)
        for y in 0..<height {
            for x in 0..<width {
                let i = (y * width + x) * 3
                let stripe = (x * 8 / width) % 2 == 0
                let ripple = ((y + shift) * 16 / height) % 2 == 0 ? 25 : 0
                px[i] = UInt8(20 + ripple / 2); px[i + 1] = UInt8((stripe ? 150 : 90) + ripple); px[i + 2] = UInt8(stripe ? 60 : 120)
            }
        }
        return px
    }

    static func writeClip(_ scene: (Int, Int, Double) -> [UInt8], width: Int, height: Int, frames: Int, to url: URL,
                          codec: VideoWriter.Codec = .auto) throws {
        let writer = try VideoWriter(url: url, width: width, height: height, fps: 10, codec: codec)
        for f in 0..<frames { try writer.append(rgbFrame: scene(width, height, Double(f) / Double(max(1, frames - 1)))) }
        try writer.finish()
    }

    /// A harmonic tone whose pitch glides from 300 to 600 Hz, with a 4 Hz tremolo (a "siren").
    static func siren(sampleRate: Int, seconds: Double, channels: Int) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: n * channels)
        var phase = 0.0
        for i in 0..<n {
            let t = Double(i) / Double(sampleRate)
            let f = 300 + 300 * t / seconds
            phase += 2 * .pi * f / Double(sampleRate)
            let v = (0.6 + 0.4 * sin(2 * .pi * 4 * t)) * (0.5 * sin(phase) + 0.25 * sin(2 * phase) + 0.12 * sin(3 * phase))
            for c in 0..<channels { out[i * channels + c] = Float(v * 0.6) }
        }
        return out
    }

    /// Deterministic white noise through a one-pole low-pass ("rumble"), in bursts.
    static func rumble(sampleRate: Int, seconds: Double, channels: Int, seed: UInt64 = 7) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: n * channels)
        var state = seed, y = 0.0
        let alpha = exp(-2 * Double.pi * 400 / Double(sampleRate))
        for i in 0..<n {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let white = Double(Int64(bitPattern: state) >> 11) / Double(1 << 52)
            y = alpha * y + (1 - alpha) * white
            let gate = (Int(Double(i) / Double(sampleRate) * 3) % 2 == 0) ? 1.0 : 0.3
            for c in 0..<channels { out[i * channels + c] = Float(max(-1, min(1, 3 * y * gate))) }
        }
        return out
    }

    /// Short high clicks (a "clock"): 2 kHz bursts of 20 ms, 5 per second.
    static func clicks(sampleRate: Int, seconds: Double, channels: Int) -> [Float] {
        let n = Int(Double(sampleRate) * seconds)
        var out = [Float](repeating: 0, count: n * channels)
        for i in 0..<n {
            let t = Double(i) / Double(sampleRate)
            let within = t.truncatingRemainder(dividingBy: 0.2)
            let v = within < 0.02 ? 0.7 * sin(2 * .pi * 2000 * t) * (1 - within / 0.02) : 0
            for c in 0..<channels { out[i * channels + c] = Float(v) }
        }
        return out
    }
}
