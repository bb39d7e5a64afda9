// Media benchmark: 8-frame sampling + 224×224 RGB of a 1080p clip (clips/s) and audio decode + resample to
// 16 kHz mono (seconds of audio per second), side by side with the `ffmpeg` command line doing the same job.
import Foundation
import Media

/// Runs the media benchmarks when `arguments` is empty or names "media".
func mediaBench(arguments: [String]) {
    guard arguments.isEmpty || arguments.contains("media") else { return }
    print("== media: FFmpeg/libsndfile readers vs the ffmpeg CLI (same output; ratio = ours / peer, higher is better)")
    let install = Process()
    install.executableURL = URL(fileURLWithPath: "/bin/bash")
    install.arguments = ["Benchmarks/peers/media-install-ffmpeg.sh"]
    try? install.run()
    install.waitUntilExit()
    let ffmpeg = MediaBenchPeer.findFFmpeg()
    if ffmpeg == nil { print("   peer: ffmpeg not found and could not be installed; printing our figures only") }
    let work = URL(fileURLWithPath: "bench-out/media")
    try? FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    let fixtureRoot = ProcessInfo.processInfo.environment["WORLDGPT_FIXTURES"] ?? "../shared/fixtures"
    let fixtures = URL(fileURLWithPath: fixtureRoot).appendingPathComponent("worldgpt-demo/languagebind")
    do {
        try videoCase(name: "demo 1080p H.264, 90 frames (skiing/state0.mp4)", clip: fixtures.appendingPathComponent("skiing/video/state0.mp4"), ffmpeg: ffmpeg)
        let long = work.appendingPathComponent("long-1080p.mp4")
        if !FileManager.default.fileExists(atPath: long.path) { try makeLongClip(long) }
        try videoCase(name: "generated 1080p H.264, 600 frames, GOP 30", clip: long, ffmpeg: ffmpeg)
        let wav = fixtures.appendingPathComponent("skiing/audio/state0.wav")
        try audioCase(name: "demo wav 3 s, 44.1 kHz stereo (libsndfile path)", file: wav, ffmpeg: ffmpeg)
        let longWav = work.appendingPathComponent("long-60s.wav")
        if !FileManager.default.fileExists(atPath: longWav.path) {
            let clip = try AudioReader.read(wav)
            var samples: [Float] = []
            for _ in 0..<20 { samples += clip.samples }
            try AudioWriter.writeWAV(samples: samples, sampleRate: 44_100, channels: 2, to: longWav)
        }
        try audioCase(name: "wav 60 s, 44.1 kHz stereo (libsndfile path)", file: longWav, ffmpeg: ffmpeg)
        let m4a = work.appendingPathComponent("long-60s.m4a")
        if let ffmpeg, !FileManager.default.fileExists(atPath: m4a.path) {
            _ = MediaBenchPeer.run(ffmpeg, ["-v", "error", "-y", "-i", longWav.path, "-c:a", "aac", "-b:a", "128k", m4a.path])
        }
        if FileManager.default.fileExists(atPath: m4a.path) {
            try audioCase(name: "AAC m4a 60 s, 44.1 kHz stereo (FFmpeg path)", file: m4a, ffmpeg: ffmpeg)
        }
    } catch {
        print("   media bench failed: \(error)")
    }
}

/// 600 frames of 1920×1080 moving gradients, H.264 with a key frame every 30 frames.
private func makeLongClip(_ url: URL) throws {
    let w = 1920, h = 1080
    let writer = try VideoWriter(url: url, width: w, height: h, fps: 30)
    var frame = [UInt8](repeating: 0, count: w * h * 3)
    for f in 0..<600 {
        frame.withUnsafeMutableBufferPointer { px in
            for y in 0..<h {
                for x in 0..<w {
                    let i = (y * w + x) * 3
                    px[i] = UInt8(truncatingIfNeeded: x / 8 + f * 3)
                    px[i + 1] = UInt8(truncatingIfNeeded: y / 5 + f)
                    px[i + 2] = UInt8(truncatingIfNeeded: (x + y) / 16 - f * 2)
                }
            }
        }
        try writer.append(rgbFrame: frame)
    }
    try writer.finish()
}

private func videoCase(name: String, clip: URL, ffmpeg: URL?) throws {
    let reader = try VideoReader(url: clip)
    let total = try reader.frameCount()
    let indices = VideoReader.uniformIndices(count: 8, total: total)
    var ours: [RGBImage] = []
    let oursRate = MediaBenchPeer.rate(minimumSeconds: 3) {
        ours = try! VideoReader(url: clip).sampleFrames(count: 8, size: .square(224))
    }
    print("   video \(name): 8 frames → 224×224 RGB (short side 224 bilinear, centre crop)")
    print("     ours    \(String(format: "%8.2f", oursRate)) clips/s")
    guard let ffmpeg else { return }
    // The same job for the CLI: select the same frame indices, bilinear scale to short side 224, centre crop.
    let select = indices.map { "eq(n\\,\($0))" }.joined(separator: "+")
    let args = ["-v", "error", "-threads", "0", "-i", clip.path, "-vf",
                "select='\(select)',scale=-2:224:flags=bilinear,crop=224:224", "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
    var peerBytes = Data()
    let peerRate = MediaBenchPeer.rate(minimumSeconds: 3) { peerBytes = MediaBenchPeer.run(ffmpeg, args) ?? Data() }
    print("     ffmpeg  \(String(format: "%8.2f", peerRate)) clips/s")
    print("     ratio   \(String(format: "%8.2f", oursRate / peerRate))")
    // Same output? Mean absolute difference per channel value between the two pipelines' pixels.
    if peerBytes.count == 8 * 224 * 224 * 3 {
        var sum = 0.0
        for (k, frame) in ours.enumerated() {
            for i in 0..<frame.pixels.count { sum += abs(Double(frame.pixels[i]) - Double(peerBytes[k * 224 * 224 * 3 + i])) }
        }
        print("     check   mean |ours − ffmpeg| = \(String(format: "%.2f", sum / Double(peerBytes.count))) per 8-bit value")
    } else {
        print("     check   ffmpeg returned \(peerBytes.count) bytes, expected \(8 * 224 * 224 * 3)")
    }
}

private func audioCase(name: String, file: URL, ffmpeg: URL?) throws {
    let duration = try AudioReader.read(file).duration
    var ours: AudioClip?
    let oursRate = MediaBenchPeer.rate(minimumSeconds: 2) { ours = try! AudioReader.read(file, sampleRate: 16_000, mono: true) } * duration
    print("   audio \(name) → 16 kHz mono float32 (channel mean)")
    print("     ours    \(String(format: "%8.0f", oursRate)) s of audio/s")
    guard let ffmpeg else { return }
    let args = ["-v", "error", "-i", file.path, "-af", "pan=mono|c0=0.5*c0+0.5*c1", "-ar", "16000", "-f", "f32le", "-"]
    var peer = Data()
    let peerRate = MediaBenchPeer.rate(minimumSeconds: 2) { peer = MediaBenchPeer.run(ffmpeg, args) ?? Data() } * duration
    print("     ffmpeg  \(String(format: "%8.0f", peerRate)) s of audio/s")
    print("     ratio   \(String(format: "%8.2f", oursRate / peerRate))")
    if let ours {
        let theirs: [Float] = peer.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        let n = min(theirs.count, ours.samples.count)
        var diff = 0.0
        for i in 0..<n { diff = max(diff, Double(abs(theirs[i] - ours.samples[i]))) }
        print("     check   \(ours.samples.count) vs \(theirs.count) samples, max |difference| \(String(format: "%.2e", diff))")
    }
}

/// Timing and process helpers for the media benchmark.
enum MediaBenchPeer {
    static func findFFmpeg() -> URL? {
        for dir in ["/usr/bin", "/usr/local/bin", "/bin"] where FileManager.default.isExecutableFile(atPath: "\(dir)/ffmpeg") {
            return URL(fileURLWithPath: "\(dir)/ffmpeg")
        }
        return nil
    }

    /// Runs `body` once to warm up, then repeatedly for at least `minimumSeconds` (≥ 3 runs); returns runs/s.
    static func rate(minimumSeconds: Double, _ body: () -> Void) -> Double {
        body()
        var runs = 0
        let start = Date()
        while runs < 3 || Date().timeIntervalSince(start) < minimumSeconds {
            body()
            runs += 1
        }
        return Double(runs) / Date().timeIntervalSince(start)
    }

    /// Runs `tool` and returns its stdout (nil if it failed).
    static func run(_ tool: URL, _ arguments: [String]) -> Data? {
        let process = Process()
        process.executableURL = tool
        process.arguments = arguments
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return process.terminationStatus == 0 ? data : nil
    }
}
