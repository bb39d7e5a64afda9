// The fuzzer's entry point: `worldgpt-fuzz TARGET [libFuzzer flags and corpus folders]` runs libFuzzer on one target;
// `worldgpt-fuzz list` names the targets; `worldgpt-fuzz seeds DIR` writes the generated seed corpora into DIR/<target>/.
import Foundation

/// The input handler of the target chosen on the command line (set once, before libFuzzer starts).
nonisolated(unsafe) var selectedTarget: FuzzTarget?

/// WORLDGPT_FUZZ_VERBOSE=1 prints each input's thrown error (to check that seeds read).
let verbose = ProcessInfo.processInfo.environment["WORLDGPT_FUZZ_VERBOSE"] == "1"

/// libFuzzer's per-input callback: a thrown error is a correct answer to bad input; a crash, trap, sanitizer
/// report, timeout or blown memory limit is what libFuzzer reports as a bug.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let target = selectedTarget else { return 0 }
    let data = bytes.map { Data(bytes: $0, count: size) } ?? Data()
    do { try target.run(data) } catch {
        if verbose { print("\(target.name): \(error)") }
    }
    return 0
}

typealias FuzzCallback = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

/// libFuzzer's driver (compiler-rt's FuzzerInterface.h): parses its flags from argv and runs `callback`.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: FuzzCallback) -> CInt

/// The executable's `main` (SwiftPM links an executable target's `<module>_main` as `main`): takes the target name
/// off the arguments and hands the rest to libFuzzer.
@_cdecl("WorldGPTFuzz_main")
public func fuzzMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> CInt {
    let arguments = (0..<Int(argc)).map { String(cString: argv[$0]!) }
    let usage = "usage: worldgpt-fuzz TARGET [libFuzzer flags] [corpus folders or files] | list | seeds DIR\ntargets: "
        + FuzzTarget.all.map(\.name).joined(separator: ", ")
    guard arguments.count >= 2 else {
        print(usage)
        return 2
    }
    switch arguments[1] {
    case "list":
        for target in FuzzTarget.all { print("\(target.name.padding(toLength: 14, withPad: " ", startingAt: 0)) \(target.summary)") }
        return 0
    case "seeds":
        guard arguments.count == 3 else {
            print(usage)
            return 2
        }
        do {
            try SeedCorpus.write(into: URL(fileURLWithPath: arguments[2]))
            return 0
        } catch {
            print("seeds: \(error)")
            return 1
        }
    default:
        guard let target = FuzzTarget.all.first(where: { $0.name == arguments[1] }) else {
            print("unknown target '\(arguments[1])'\n\(usage)")
            return 2
        }
        selectedTarget = target
        var driverArguments = [arguments[0]] + arguments.dropFirst(2)
        var cArguments: [UnsafeMutablePointer<CChar>?] = driverArguments.map { strdup($0) } + [nil]
        var count = CInt(driverArguments.count)
        driverArguments.removeAll()
        return cArguments.withUnsafeMutableBufferPointer { buffer in
            var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
            return runFuzzerDriver(&count, &pointer, fuzzOneInput)
        }
    }
}
