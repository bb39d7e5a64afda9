// swift-tools-version: 6.1
// libFuzzer targets for the runtime's file readers. A package of its own so that the root's `swift build` and
// `make test` never build or link them; `make fuzz` builds it into ../.build-fuzz with
// `-Xswiftc -sanitize=fuzzer,address` (coverage and AddressSanitizer for these targets and everything they import).
import PackageDescription

/// One executable per target: `Sources/fuzz-<name>/main.swift` hands its harness to `FuzzSupport`.
func fuzzTarget(_ name: String, _ modules: [String]) -> Target {
    .executableTarget(
        name: "fuzz-\(name)",
        dependencies: ["FuzzSupport"] + modules.map { .product(name: $0, package: "WorldGPT") })
}

let package = Package(
    name: "WorldGPTFuzz",
    platforms: [.macOS(.v14)],
    dependencies: [.package(name: "WorldGPT", path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [.product(name: "Formats", package: "WorldGPT")]),
        fuzzTarget("torch", ["Formats"]),
        fuzzTarget("pickle", ["Formats"]),
        fuzzTarget("zip", ["Formats"]),
        fuzzTarget("deflate", ["Formats"]),
        fuzzTarget("npy", ["Formats"]),
        fuzzTarget("npz", ["Formats"]),
        fuzzTarget("safetensors", ["Formats"]),
        fuzzTarget("worldnet-json", ["Formats"]),
        fuzzTarget("worldnet-yaml", ["Formats"]),
    ]
)
