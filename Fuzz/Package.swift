// swift-tools-version: 6.1
// libFuzzer targets for the runtime's readers (`make fuzz`; Fuzz/README.md). A package of its own so that the root
// package's `swift build` / `make test` never build or link a fuzzer. Build it only with the sanitizer flags:
//   swift build -c release --package-path Fuzz --scratch-path .build-fuzz \
//       -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library
import Foundation
import PackageDescription

// A path dependency's identity is its folder's name, which depends on where the repository was cloned.
let rootFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
let root = rootFolder.lastPathComponent

let package = Package(
    name: "WorldGPTFuzz",
    products: [.executable(name: "worldgpt-fuzz", targets: ["WorldGPTFuzz"])],
    dependencies: [.package(path: "..")],
    targets: [
        .executableTarget(
            name: "WorldGPTFuzz",
            dependencies: [
                .product(name: "Formats", package: root),
                .product(name: "Retrieval", package: root),
                .product(name: "Memory", package: root),
                .product(name: "WorldModel", package: root),
                .product(name: "ContextReflector", package: root),
            ],
            swiftSettings: [.swiftLanguageMode(.v5)]),
    ]
)
