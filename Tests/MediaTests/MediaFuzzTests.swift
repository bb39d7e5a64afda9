// Fuzzing the readers with mutated media files: no crash, only MediaErrors, no leaked file descriptors.
// Iterations: max(200, WORLDGPT_MEDIA_FUZZ_ITERATIONS or min(WORLDGPT_FUZZ_ITERATIONS, 2000)); `make fuzz` runs 10,000.
// Seeds: our writers' mp4/wav/flac/jpg/png plus mkv, webm (VP8 + Vorbis) and mp3 made with the ffmpeg CLI.
// `make fuzz` also runs this class under valgrind (scripts/media-leakcheck.sh) for a heap leak check.
import Foundation
import Media
import TestSupport
import XCTest

final class MediaFuzzTests: XCTestCase {
    static var iterations: Int {
        let env = ProcessInfo.processInfo.environment
        if let n = env["WORLDGPT_MEDIA_FUZZ_ITERATIONS"].flatMap(Int.init) { return max(200, n) }
        if let n = env["WORLDGPT_FUZZ_ITERATIONS"].flatMap(Int.init) { return max(200, min(n, 2000)) }
        return 200
    }

    func testFuzzMutatedMediaNeverCrashes() throws {
        let folder = try TemporaryDirectory(prefix: "media-fuzz")
        defer { folder.remove() }
        let seeds = try makeSeeds(in: folder.url)
        var random = SeededGenerator(seed: 0x5EED_F0CC)
        let fdBefore = openFileDescriptorCount()
        var outcomes = [String: Int]()
        var rssAfterWarmUp = 0
        let total = Self.iterations
        for iteration in 0..<total {
            let (name, original) = seeds[iteration % seeds.count]
            let mutated = mutate(original, using: &random)
            let url = folder.url.appendingPathComponent("fuzz-\(name)")
            try Data(mutated).write(to: url)
            for (reader, attempt) in readers(url) {
                do {
                    _ = try attempt()
                    outcomes["\(reader) ok", default: 0] += 1
                } catch let error as MediaError {
                    XCTAssertEqual(error.path, url.path)
                    outcomes["\(reader) error", default: 0] += 1
                } catch {
                    XCTFail("iteration \(iteration) (\(name)), \(reader): not a MediaError: \(error)")
                }
            }
            if iteration == 49 { rssAfterWarmUp = residentBytes() }
        }
        let rssEnd = residentBytes()
        print("media fuzz: \(total) files, outcomes \(outcomes.sorted { $0.key < $1.key }), RSS after warm-up \(rssAfterWarmUp >> 20) MiB, at end \(rssEnd >> 20) MiB")
        XCTAssertEqual(openFileDescriptorCount(), fdBefore, "file descriptors leaked")
        if rssAfterWarmUp > 0 && total >= 200 {
            XCTAssertLessThan(rssEnd - rssAfterWarmUp, 96 << 20, "resident memory kept growing")
        }
        // The fuzz must exercise both outcomes for each reader, or it is not testing anything.
        for reader in ["probe", "video", "audio", "image"] {
            XCTAssertGreaterThan(outcomes["\(reader) error", default: 0], 0, reader)
        }
        XCTAssertGreaterThan(outcomes["video ok", default: 0] + outcomes["audio ok", default: 0] + outcomes["image ok", default: 0], 0)
    }

    private func readers(_ url: URL) -> [(String, () throws -> Any)] {
        [
            ("probe", { try MediaProbe.probe(url) }),
            ("video", { try VideoReader(url: url, threadCount: 1).sampleFrames(count: 3, size: .square(16)) }),
            ("audio", { try AudioReader.read(url, sampleRate: 16_000, mono: true) }),
            ("image", { try ImageReader.read(url, size: FrameSize(width: 8, height: 8)) }),
        ]
    }

    /// Small valid files of every kind the readers take.
    private func makeSeeds(in folder: URL) throws -> [(String, [UInt8])] {
        var seeds: [(String, [UInt8])] = []
        func add(_ name: String) throws { seeds.append((name, Array(try Data(contentsOf: folder.appendingPathComponent(name))))) }
        for (name, codec) in [("h264.mp4", VideoWriter.Codec.h264), ("mpeg4.mp4", .mpeg4)] {
            let writer = try VideoWriter(url: folder.appendingPathComponent(name), width: 32, height: 24, fps: 10, codec: codec)
            for i in 0..<12 { try writer.append(rgbFrame: Synthetic.frame(width: 32, height: 24, level: UInt8(i * 20), phase: Double(i) / 12)) }
            try writer.finish()
            try add(name)
        }
        let tone = Synthetic.tone(frequency: 330, sampleRate: 8000, seconds: 0.25, channels: 2)
        try AudioWriter.writeWAV(samples: tone, sampleRate: 8000, channels: 2, to: folder.appendingPathComponent("tone.wav"))
        try add("tone.wav")
        try AudioWriter.write(samples: tone, sampleRate: 8000, channels: 2, encoding: .flac16, to: folder.appendingPathComponent("tone.flac"))
        try add("tone.flac")
        let picture = Synthetic.frame(width: 24, height: 16, level: 90, phase: 0.5)
        try ImageWriter.writeJPEG(rgb: picture, width: 24, height: 16, to: folder.appendingPathComponent("picture.jpg"))
        try add("picture.jpg")
        try ImageWriter.writePNG(rgb: picture, width: 24, height: 16, to: folder.appendingPathComponent("picture.png"))
        try add("picture.png")
        seeds.append(("fixture.jpg", Array(try Data(contentsOf: Fixtures.url("worldgpt-demo/decode/fireworks.jpg")))))
        // Containers our writers do not produce, from the same small clip and tone (ffmpeg CLI, installed by `make setup`).
        let ffmpeg = "/usr/bin/ffmpeg"
        try Requirements.require(FileManager.default.isExecutableFile(atPath: ffmpeg), "ffmpeg CLI not installed at \(ffmpeg): run `make setup`")
        let clip = folder.appendingPathComponent("h264.mp4").path, wav = folder.appendingPathComponent("tone.wav").path
        for (name, arguments) in [
            ("clip.mkv", ["-i", clip, "-i", wav, "-c:v", "copy", "-c:a", "flac", "-shortest"]),
            ("clip.webm", ["-i", clip, "-i", wav, "-c:v", "libvpx", "-b:v", "100k", "-c:a", "libvorbis", "-shortest"]),
            ("tone.mp3", ["-i", wav, "-c:a", "libmp3lame", "-b:a", "32k"]),
        ] {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: ffmpeg)
            process.arguments = ["-v", "error", "-y"] + arguments + [folder.appendingPathComponent(name).path]
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            XCTAssertEqual(process.terminationStatus, 0, "ffmpeg \(name)")
            try add(name)
        }
        return seeds
    }

    /// One random mutation: bit flips, byte overwrites, truncation, a zeroed block, a duplicated or
    /// removed chunk, random bytes inserted, or the header scrambled.
    private func mutate(_ bytes: [UInt8], using random: inout SeededGenerator) -> [UInt8] {
        var out = bytes
        let n = out.count
        switch Int.random(in: 0..<8, using: &random) {
        case 0:
            for _ in 0..<Int.random(in: 1...8, using: &random) { out[Int.random(in: 0..<n, using: &random)] ^= UInt8(1 << Int.random(in: 0..<8, using: &random)) }
        case 1:
            for _ in 0..<Int.random(in: 1...64, using: &random) { out[Int.random(in: 0..<n, using: &random)] = UInt8.random(in: 0...255, using: &random) }
        case 2:
            out = Array(out.prefix(Int.random(in: 1..<n, using: &random)))
        case 3:
            let start = Int.random(in: 0..<n, using: &random)
            for i in start..<min(n, start + Int.random(in: 1...512, using: &random)) { out[i] = 0 }
        case 4:
            let start = Int.random(in: 0..<n, using: &random), end = min(n, start + Int.random(in: 1...256, using: &random))
            out.insert(contentsOf: out[start..<end], at: Int.random(in: 0..<n, using: &random))
        case 5:
            let start = Int.random(in: 0..<n, using: &random)
            out.removeSubrange(start..<min(n, start + Int.random(in: 1...256, using: &random)))
        case 6:
            let junk = (0..<Int.random(in: 1...128, using: &random)).map { _ in UInt8.random(in: 0...255, using: &random) }
            out.insert(contentsOf: junk, at: Int.random(in: 0...n, using: &random))
        default:
            for i in 0..<min(n, 64) where Bool.random(using: &random) { out[i] = UInt8.random(in: 0...255, using: &random) }
        }
        return out.isEmpty ? [0] : out
    }

    private func openFileDescriptorCount() -> Int {
        (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
    }

    private func residentBytes() -> Int {
        guard let statm = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return 0 }
        let fields = statm.split(separator: " ")
        return fields.count > 1 ? (Int(fields[1]) ?? 0) * Int(sysconf(Int32(_SC_PAGESIZE))) : 0
    }
}
