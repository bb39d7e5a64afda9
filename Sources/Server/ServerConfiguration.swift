// What `worldgpt serve` was started with: address, store, root, token, limits, and what runs and predictions use.
import Foundation
import Memory

/// The store a server serves by default: an SQLite file, or a PostgreSQL database (`postgresql://…`, docs/scale.md).
public enum ServedStore: Sendable, Equatable {
    case file(URL)
    /// The URL as given on the command line; it may hold a password, which only the store processes see
    /// (`argument` and `environment` keep it out of runs' command lines).
    case postgres(String)

    /// `--db` as given: a `postgresql://` or `postgres://` URL, else a file path.
    public init(_ location: String) {
        self = EpisodeStores.isPostgres(location) ? .postgres(location) : .file(URL(fileURLWithPath: location).standardizedFileURL)
    }

    /// What runs get as `--db`: the file's path, or the URL without its password.
    public var argument: String {
        switch self {
        case let .file(url): return url.path
        case let .postgres(url):
            guard var components = URLComponents(string: url), components.password != nil else { return url }
            components.password = nil
            return components.string ?? url
        }
    }

    /// The password of a PostgreSQL URL, passed to runs as `PGPASSWORD`.
    public var environment: [String: String] {
        guard case let .postgres(url) = self, let password = URLComponents(string: url)?.password else { return [:] }
        return ["PGPASSWORD": password]  // URLComponents decodes it, as the store's URL parser does
    }

    /// How messages name the store (no password).
    public var name: String {
        switch self {
        case let .file(url): return url.lastPathComponent
        case let .postgres(url): return EpisodeStores.redacted(url)
        }
    }

    /// What makes two runs write the same store.
    var key: String {
        switch self {
        case let .file(url): return url.path
        case .postgres: return argument
        }
    }
}

/// The settings of one server.
public struct ServerConfiguration: Sendable {
    /// The address to bind (127.0.0.1 unless told otherwise; any other needs `token`).
    public var host: String
    /// The TCP port (0 picks a free one; the server prints the bound port).
    public var port: Int
    /// The episode store served by default (`--db`).
    public var store: ServedStore
    /// Every path a request names must resolve inside this folder (`--root`; default: the store's folder, or the
    /// current folder for a PostgreSQL store).
    public var root: URL
    /// The knowledge base given to runs and predictions (`--kb`).
    public var knowledge: String?
    /// The world model given to runs and predictions (`--model`).
    public var model: String?
    /// The learned reflector given to runs and predictions (`--reflector`).
    public var reflector: String?
    /// The bearer token every route but health requires (`--token`).
    public var token: String?
    /// Refuse every request that would write (`--read-only`).
    public var readOnly: Bool
    /// The largest request body accepted, in bytes.
    public var maxBodyBytes: Int
    /// The most float components one array in a request may have.
    public var maxArrayElements: Int
    /// The `worldgpt` binary that runs and predictions execute (default: beside this server's binary).
    public var worldgpt: URL?
    /// Where runs keep their trace and log (default: `<store>.runs` beside the store; `<database>.runs` in the root for
    /// a PostgreSQL store).
    public var runsFolder: URL
    /// Arguments appended to every runtime command (`--text-encoder`, `--action-cache`, `--threads`).
    public var runtimeArguments: [String]
    /// Where the inspector looks for an ablation report (`ablation.csv` of `eval --ablation --report-dir`; default:
    /// the store's folder, or the root for a PostgreSQL store).
    public var reportsFolder: URL

    /// A configuration with the defaults of `worldgpt serve`.
    public init(store: ServedStore, host: String = "127.0.0.1", port: Int = 8470, root: URL? = nil) {
        self.host = host
        self.port = port
        self.store = store
        let folder: URL
        let runs: URL
        switch store {
        case let .file(url):
            folder = url.deletingLastPathComponent()
            runs = URL(fileURLWithPath: url.path + ".runs")
        case let .postgres(url):
            folder = root ?? URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
            let database = URLComponents(string: url).map { String($0.path.drop { $0 == "/" }) } ?? ""
            runs = folder.appendingPathComponent((database.isEmpty ? "postgresql" : database) + ".runs")
        }
        self.root = (root ?? folder).standardizedFileURL
        knowledge = nil
        model = nil
        reflector = nil
        token = nil
        readOnly = false
        maxBodyBytes = 8 << 20
        maxArrayElements = 1 << 20
        worldgpt = nil
        runsFolder = runs.standardizedFileURL
        runtimeArguments = []
        reportsFolder = folder.standardizedFileURL
    }

    /// True for addresses that only this machine reaches.
    public static func isLoopback(_ host: String) -> Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    /// Checks what a start-up must refuse.
    /// - Throws: `ServeError.configuration` naming the option to change.
    public func validate() throws {
        if !Self.isLoopback(host) && (token ?? "").isEmpty {
            throw ServeError.configuration("binding \(host) exposes the server beyond this machine: give --token SECRET (clients send `Authorization: Bearer SECRET`), or bind 127.0.0.1")
        }
        guard (0...65535).contains(port) else { throw ServeError.configuration("--port must be in 0...65535 (got \(port))") }
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: root.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw ServeError.configuration("--root \(root.path) is not a folder")
        }
        if case let .file(store) = store {
            guard FileManager.default.fileExists(atPath: store.path) else {
                throw ServeError.configuration("--db \(store.path) does not exist: make one with `worldgpt rollout --db \(store.path) ...`")
            }
            _ = try PathGuard(root: root).resolve(store.path)
        }
        guard maxBodyBytes > 0, maxArrayElements > 0 else { throw ServeError.configuration("size limits must be positive") }
    }
}
