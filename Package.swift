// swift-tools-version: 6.1
// The WorldGPT runtime: a cognitive-architecture agent runtime around a world model.
// Module layout and dependency direction follow ../shared/DESIGN.md; lower modules never import higher ones.
import PackageDescription

let package = Package(
    name: "WorldGPT",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "worldgpt", targets: ["worldgpt"]),
        // The HTTP server (docs/serve.md) is its own product, so `swift build --product worldgpt` never builds SwiftNIO;
        // `worldgpt serve` runs the `worldgpt-serve` binary that sits beside it.
        .executable(name: "worldgpt-serve", targets: ["worldgpt-serve"]),
        // The PostgreSQL backend of the episode store (docs/scale.md) is its own product too: `worldgpt --db
        // postgresql://…` talks to a `worldgpt-pg` child process beside it, so only that binary links postgres-nio.
        .executable(name: "worldgpt-pg", targets: ["worldgpt-pg"]),
        .library(name: "Agent", targets: ["Agent"]),
        // The readers the libFuzzer targets in Fuzz/ drive (a separate package, so this build never links a fuzzer).
        .library(name: "Formats", targets: ["Formats"]),
        .library(name: "Retrieval", targets: ["Retrieval"]),
        .library(name: "Memory", targets: ["Memory"]),
        .library(name: "WorldModel", targets: ["WorldModel"]),
        .library(name: "ContextReflector", targets: ["ContextReflector"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", exact: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", exact: "1.8.2"),
        .package(url: "https://github.com/jpsim/Yams", exact: "6.2.2"),
        .package(url: "https://github.com/weichsel/ZIPFoundation", exact: "0.9.20"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", exact: "2.28.1"),
        .package(url: "https://github.com/vapor/postgres-nio", exact: "1.33.2"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config. Only `Native/` folders import them.
        .systemLibrary(name: "COpenBLAS", pkgConfig: "openblas", providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(
            name: "CFFmpeg", pkgConfig: "libavformat",
            providers: [.apt(["libavformat-dev", "libavcodec-dev", "libswscale-dev", "libswresample-dev", "libavutil-dev"])]),
        .systemLibrary(name: "CSndFile", pkgConfig: "sndfile", providers: [.apt(["libsndfile1-dev"])]),
        // Our own C: SIMD kernels (AVX-512 / AVX2+FMA with run-time dispatch, portable fallback) for the retrieval scans
        // and for products whose rows must not depend on each other.
        .target(name: "CKernels"),

        // Vocabulary and file formats: the bottom of the stack.
        .target(name: "Formats", dependencies: [
            .product(name: "ZIPFoundation", package: "ZIPFoundation"),
            .product(name: "Yams", package: "Yams"),
        ]),
        .target(name: "Tensor", dependencies: ["COpenBLAS", "CKernels", "Formats"]),
        .target(name: "Media", dependencies: ["CFFmpeg", "CSndFile", "Formats"]),
        .target(name: "Encoders", dependencies: ["Tensor", "Media", "Formats"]),
        .target(name: "Retrieval", dependencies: ["CKernels", "Tensor", "Formats", .product(name: "GRDB", package: "GRDB.swift")]),
        .target(name: "Memory", dependencies: [
            "Retrieval", "Tensor", "Formats", .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        .target(name: "ContextReflector", dependencies: ["Tensor", "Retrieval", "Formats", "WorldModel"]),
        .target(name: "WorldModel", dependencies: ["Tensor", "Formats", "Retrieval", "Yams"]),
        .target(name: "SimWorld", dependencies: ["Tensor", "Formats", "Media", "Encoders"]),
        .target(name: "Agent", dependencies: [
            "Tensor", "Formats", "Media", "Encoders", "Memory", "Retrieval", "ContextReflector", "WorldModel", "SimWorld",
        ]),
        .executableTarget(name: "worldgpt", dependencies: [
            "Agent", "Tensor", "Formats", "Media", "Encoders", "Memory", "Retrieval", "ContextReflector", "WorldModel", "SimWorld",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // The HTTP API and memory inspector over the runtime (docs/serve.md): the only targets that link SwiftNIO.
        .target(name: "Server", dependencies: [
            "Agent", "Memory", "Formats", "Retrieval", "WorldModel", "ContextReflector",
            .product(name: "Hummingbird", package: "hummingbird"),
        ], resources: [.copy("Resources/openapi.yaml"), .copy("Resources/ui")]),
        .executableTarget(name: "worldgpt-serve", dependencies: [
            "Server", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The PostgreSQL episode store (postgres-nio) and the child process that serves it to `worldgpt`.
        .target(name: "MemoryPostgres", dependencies: [
            "Memory", "Formats", .product(name: "PostgresNIO", package: "postgres-nio"),
        ], swiftSettings: [.swiftLanguageMode(.v5)]),
        .executableTarget(name: "worldgpt-pg", dependencies: [
            "MemoryPostgres", "Memory", "Formats", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Benchmarks live apart from tests and never gate CI on wall-clock time.
        .executableTarget(name: "WorldGPTBench", dependencies: [
            "Agent", "Tensor", "Formats", "Media", "Encoders", "Memory", "Retrieval", "ContextReflector", "WorldModel", "SimWorld",
        ], path: "Benchmarks/WorldGPTBench"),

        // Shared test helpers (fixture paths, seeded generators, temporary folders).
        .target(name: "TestSupport", dependencies: ["Formats"], path: "Sources/TestSupport"),

        .testTarget(name: "FormatsTests", dependencies: ["Formats", "Encoders", "TestSupport"]),
        .testTarget(name: "TensorTests", dependencies: ["Tensor", "CKernels", "TestSupport"]),
        .testTarget(name: "MediaTests", dependencies: ["Media", "TestSupport"]),
        .testTarget(name: "EncodersTests", dependencies: ["Encoders", "TestSupport"]),
        .testTarget(name: "RetrievalTests", dependencies: ["Retrieval", "TestSupport"]),
        .testTarget(name: "MemoryTests", dependencies: ["Memory", "TestSupport"]),
        .testTarget(name: "ContextReflectorTests", dependencies: ["ContextReflector", "TestSupport"]),
        .testTarget(name: "WorldModelTests", dependencies: ["WorldModel", "TestSupport"]),
        .testTarget(name: "SimWorldTests", dependencies: ["SimWorld", "TestSupport"]),
        .testTarget(name: "AgentTests", dependencies: ["Agent", "TestSupport"]),
        .testTarget(name: "worldgptTests", dependencies: ["TestSupport"]),
        .testTarget(name: "ServerTests", dependencies: ["Server", "TestSupport"]),
    ]
)
