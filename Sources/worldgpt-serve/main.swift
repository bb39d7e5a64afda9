// `worldgpt-serve` (also `worldgpt serve`): the HTTP API and memory inspector over an episode store (docs/serve.md).
// Thin: parse the options, build a ServerConfiguration, run the Server library.
import ArgumentParser
import Foundation
import Server

@main
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worldgpt serve",
        abstract: "Serve an episode store over HTTP: the API of openapi.yaml, the memory inspector at /ui.",
        discussion: """
            Binds 127.0.0.1 unless --host says otherwise; any other address needs --token. Every path a request \
            names is confined to --root (default: the store's folder). Reference: docs/serve.md.
            """)

    @Option(name: .long, help: "The episode store to serve: an SQLite file, or postgresql://USER@HOST:PORT/DATABASE (docs/scale.md).")
    var db: String
    @Option(name: .long, help: "Address to bind (a non-loopback address needs --token).")
    var host = "127.0.0.1"
    @Option(name: .long, help: "TCP port (0: any free port; the bound port is printed).")
    var port = 8470
    @Option(name: .long, help: "Folder every request path must stay inside (default: the store's folder; for postgresql://, the current folder).")
    var root: String?
    @Option(name: .long, help: "Bearer token required on every route but /v1/health.")
    var token: String?
    @Flag(name: .long, help: "Refuse every request that would write (prune, export, runs, predict with an episode).")
    var readOnly = false
    @Option(name: .long, help: "World model for runs and predict (as `worldgpt rollout --model`).")
    var model: String?
    @Option(name: .long, help: "Knowledge base for runs and predict.")
    var kb: String?
    @Option(name: .long, help: "Learned reflector for runs and predict.")
    var reflector: String?
    @Option(name: .long, help: "Text encoder passed to runs and used by text search: minilm or hashed.")
    var textEncoder: String?
    @Option(name: .long, help: "Action-embedding cache passed to runs (`none` disables).")
    var actionCache: String?
    @Option(name: .long, help: "Largest request body, in bytes.")
    var maxBodyBytes = 8 << 20
    @Option(name: .long, help: "The `worldgpt` binary runs execute (default: beside this one).")
    var worldgpt: String?
    @Option(name: .long, help: "Folder for run traces and logs (default: STORE.runs).")
    var runs: String?
    @Option(name: .long, help: "Folder holding an ablation report (ablation.csv from `worldgpt eval --ablation --report-dir`) for the inspector's chart (default: the store's folder).")
    var reports: String?

    func run() async throws {
        var configuration = ServerConfiguration(store: ServedStore(db), host: host, port: port, root: root.map { URL(fileURLWithPath: $0) })
        configuration.token = token
        configuration.readOnly = readOnly
        // Runs execute in their own folders: paths become absolute (`identity`, `knn` are names, not paths).
        func absolute(_ path: String?) -> String? {
            path.map { FileManager.default.fileExists(atPath: $0) ? URL(fileURLWithPath: $0).standardizedFileURL.path : $0 }
        }
        configuration.model = absolute(model)
        configuration.knowledge = absolute(kb)
        configuration.reflector = absolute(reflector)
        configuration.maxBodyBytes = maxBodyBytes
        configuration.worldgpt = worldgpt.map { URL(fileURLWithPath: $0) }
        if let runs { configuration.runsFolder = URL(fileURLWithPath: runs) }
        if let reports { configuration.reportsFolder = URL(fileURLWithPath: reports).standardizedFileURL }
        configuration.runtimeArguments = (textEncoder.map { ["--text-encoder", $0] } ?? []) + (actionCache.map { ["--action-cache", $0] } ?? [])
        let server = try WorldGPTServer(configuration)
        let host = host
        try await server.run { port in
            // One line on stdout: scripts and tests read the port from it.
            FileHandle.standardOutput.write(Data("worldgpt serve: listening on http://\(host):\(port) (inspector /ui, API /v1, contract /openapi.yaml)\n".utf8))
        }
    }
}
