// The server: its shared state, its router (middleware order: errors → token → body limit → read-only → routes),
// and running it until SIGINT/SIGTERM.
import Foundation
import Hummingbird
import Logging
import Memory
import NIOCore

/// What every route shares: the configuration, the root guard, the runs and, for a PostgreSQL store, its open stores.
final class ServerState: Sendable {
    let configuration: ServerConfiguration
    let paths: PathGuard
    let runs: RunManager
    let predictions: PredictWorker
    /// The open read-only stores of a `postgresql://` `--db` (nil for an SQLite file).
    let postgres: RepositoryPool?

    init(_ configuration: ServerConfiguration) throws {
        self.configuration = configuration
        paths = try PathGuard(root: configuration.root)
        runs = RunManager(folder: configuration.runsFolder, environment: configuration.store.environment)
        if case let .postgres(location) = configuration.store {
            let pool = RepositoryPool(location: location)
            // Fail at start-up, with the store's own message, rather than on every request.
            do {
                _ = try pool.with { try $0.stepCount() }
            } catch {
                throw ServeError.configuration("--db \(configuration.store.name) cannot be served: \(error)")
            }
            postgres = pool
        } else {
            postgres = nil
        }
        predictions = PredictWorker(log: configuration.runsFolder.appendingPathComponent("predict-worker.log")) { [configuration] in
            guard let model = configuration.model else {
                throw ServeError.notConfigured("this server has no world model: start it with --model CHECKPOINT (and --kb, --reflector as for `worldgpt rollout`)")
            }
            try FileManager.default.createDirectory(at: configuration.runsFolder, withIntermediateDirectories: true)
            let binary = try ServerState.worldgptBinary(configuration)
            var arguments = ["predict", "--model", model, "--stdin-batches"]
            if let kb = configuration.knowledge { arguments += ["--kb", kb] }
            if let reflector = configuration.reflector { arguments += ["--reflector", reflector] }
            return (binary, arguments + configuration.runtimeArguments)
        }
    }
}

/// `worldgpt serve`: the HTTP API, the OpenAPI contract and the memory inspector over one episode store.
public struct WorldGPTServer: Sendable {
    let state: ServerState

    /// A server for `configuration`.
    /// - Throws: `ServeError.configuration` (a non-loopback address without a token, a missing store or root, a
    ///   PostgreSQL store that cannot be opened).
    public init(_ configuration: ServerConfiguration) throws {
        try configuration.validate()
        state = try ServerState(configuration)
    }

    func router() -> Router<ServeContext> {
        let router = Router(context: ServeContext.self)
        router.add(middleware: ProblemMiddleware())
        if let token = state.configuration.token, !token.isEmpty { router.add(middleware: TokenMiddleware(token: token)) }
        router.add(middleware: BodyLimitMiddleware(limit: state.configuration.maxBodyBytes))
        if state.configuration.readOnly { router.add(middleware: ReadOnlyMiddleware()) }
        state.addStoreRoutes(to: router)
        state.addRunRoutes(to: router)
        state.addReportRoutes(to: router)
        state.addStaticRoutes(to: router)
        return router
    }

    /// Serves until the process receives SIGINT or SIGTERM; then cancels the running runs (what they committed stays,
    /// and submitting them again resumes them).
    /// - Parameter onListening: called with the bound port once the server accepts connections.
    public func run(onListening: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        var logger = Logger(label: "worldgpt-serve")
        logger.logLevel = ProcessInfo.processInfo.environment["WORLDGPT_SERVE_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(state.configuration.host, port: state.configuration.port), serverName: "worldgpt-serve"),
            onServerRunning: { channel in onListening(channel.localAddress?.port ?? -1) },
            logger: logger)
        // A worker that died must not kill the server when it writes the next batch to the worker's pipe.
        signal(SIGPIPE, SIG_IGN)
        do {
            try await app.runService()
        } catch {
            await state.runs.cancelAll()
            state.predictions.stop()
            state.postgres?.drain()
            throw error
        }
        await state.runs.cancelAll()
        state.predictions.stop()
        state.postgres?.drain()
    }
}
