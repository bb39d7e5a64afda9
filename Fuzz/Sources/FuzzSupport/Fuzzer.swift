// The one libFuzzer driver every fuzz target shares: runs a harness on each input, writes the target's seeds.
// A thrown Swift error is a correct answer to bad input; a trap, an AddressSanitizer report or a timeout is a bug.
import Foundation

@_silgen_name("LLVMFuzzerRunDriver")
private func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt
) -> CInt

/// The harness of this process; set once by `Fuzzer.run` before libFuzzer starts (single-threaded).
nonisolated(unsafe) private var harness: (Data) throws -> Void = { _ in }

/// libFuzzer's entry point. SwiftPM renames an executable's `main`, so `Fuzzer.run` starts libFuzzer through
/// `LLVMFuzzerRunDriver`; this symbol is still defined because `-sanitize=fuzzer` links libFuzzer's own `main`.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let data = bytes.map { Data(bytes: $0, count: size) } ?? Data()
    do { try harness(data) } catch {}  // any thrown error is an accepted outcome
    return 0
}

public enum Fuzzer {
    /// Runs libFuzzer with `body` as the harness and exits with its status.
    ///
    /// With `WORLDGPT_FUZZ_WRITE_SEEDS=<folder>` set, writes `seeds()` (file name → bytes) there instead and
    /// checks that each seed passes `body` without an error — `make fuzz-corpus` makes the committed corpus so.
    public static func run(seeds: () throws -> [String: [UInt8]], _ body: @escaping (Data) throws -> Void) -> Never {
        if let folder = ProcessInfo.processInfo.environment["WORLDGPT_FUZZ_WRITE_SEEDS"] {
            do {
                let url = URL(fileURLWithPath: folder, isDirectory: true)
                try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
                for (name, bytes) in try seeds().sorted(by: { $0.key < $1.key }) {
                    do { try body(Data(bytes)) } catch { print("seed \(name) is rejected (kept, it covers an error path): \(error)") }
                    try Data(bytes).write(to: url.appendingPathComponent(name))
                }
                exit(0)
            } catch {
                FileHandle.standardError.write(Data("fuzz: writing seeds failed: \(error)\n".utf8))
                exit(1)
            }
        }
        harness = body
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv, fuzzerTestOneInput))
    }

    /// `../shared/fixtures` beside the project (or `WORLDGPT_FIXTURES`); seeds copy small fixtures from there.
    public static func fixture(_ path: String) throws -> [UInt8] {
        let root = ProcessInfo.processInfo.environment["WORLDGPT_FIXTURES"].map { URL(fileURLWithPath: $0) }
            ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../../../shared/fixtures")
        return [UInt8](try Data(contentsOf: root.appendingPathComponent(path)))
    }

    /// One temporary file per process for readers that only take a URL; each input overwrites it.
    public static func temporaryFile(_ name: String, _ data: Data) throws -> URL {
        let url = temporaryFolder.appendingPathComponent(name)
        try data.write(to: url)
        return url
    }

    private static let temporaryFolder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("worldgpt-fuzz-\(getpid())", isDirectory: true)
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(at: FileManager.default.temporaryDirectory.appendingPathComponent("worldgpt-fuzz-\(getpid())")) }
        return url
    }()
}
