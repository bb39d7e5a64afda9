// End-to-end tests of the `worldgpt` executable: they run the built binary as a user would.
import Foundation
import TestSupport
import XCTest

/// Runs the built `worldgpt` binary with `arguments`; returns exit status, standard output and standard error.
func runWorldGPT(_ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
    let binary = Fixtures.projectRoot.appendingPathComponent(".build/debug/worldgpt")
    var url = binary
    if !FileManager.default.fileExists(atPath: url.path) {
        // `swift test` builds products beside the test bundle.
        url = Bundle(for: CLITests.self).bundleURL.deletingLastPathComponent().appendingPathComponent("worldgpt")
    }
    let process = Process()
    process.executableURL = url
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errData, as: UTF8.self))
}

final class CLITests: XCTestCase {
    func testHelpListsEverySubcommand() throws {
        let result = try runWorldGPT(["--help"])
        XCTAssertEqual(result.status, 0)
        XCTAssertTrue(result.stdout.contains("SUBCOMMANDS"), result.stdout)
        let bare = try runWorldGPT([])
        XCTAssertTrue((bare.stdout + bare.stderr).contains("SUBCOMMANDS"))
    }
}
