// How requests reach an episode store through the `EpisodeRepository` seam: an SQLite file is opened by each request
// (an open costs a file open, and a fresh read sees the last commit of a rollout that is writing); a PostgreSQL store
// is borrowed from a pool of open ones, since opening one starts a `worldgpt-pg` process and connects.
import Foundation
import Hummingbird
import Memory

/// Open read-only stores of one PostgreSQL database, reused across requests. A store serves one request at a time
/// (stores are thread-confined); concurrent requests open more, and at most `maxIdle` are kept between requests.
final class RepositoryPool: @unchecked Sendable {
    private let lock = NSLock()
    private var idle: [any EpisodeRepository] = []
    private let location: String
    private let maxIdle: Int

    init(location: String, maxIdle: Int = 4) {
        self.location = location
        self.maxIdle = maxIdle
    }

    /// Runs `body` with an idle store (or a newly opened one) and takes it back afterwards, unless the call broke its
    /// connection to the store process (`StoreError.io`): that store is closed and the next request opens another.
    func with<T>(_ body: (any EpisodeRepository) throws -> T) throws -> T {
        let store = try take()
        do {
            let result = try body(store)
            give(store)
            return result
        } catch let error as StoreError {
            if case .io = error {} else { give(store) }
            throw error
        } catch {
            give(store)
            throw error
        }
    }

    private func take() throws -> any EpisodeRepository {
        lock.lock()
        let store = idle.popLast()
        lock.unlock()
        if let store { return store }
        return try EpisodeStores.open(location, readOnly: true)
    }

    private func give(_ store: any EpisodeRepository) {
        lock.lock()
        defer { lock.unlock() }
        if idle.count < maxIdle { idle.append(store) }
    }

    /// Closes the idle stores (their `worldgpt-pg` processes end).
    func drain() {
        lock.lock()
        idle.removeAll()
        lock.unlock()
    }
}

extension ServerState {
    /// The store a request names with `?store=PATH` (an SQLite file inside the root), or the server's `--db`.
    func store(_ request: Request) throws -> ServedStore {
        guard let named = request.query("store") else { return configuration.store }
        let url = try paths.resolve(named)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder) else { throw ServeError.notFound("store `\(named)`") }
        guard !isFolder.boolValue else { throw ServeError.badRequest("store `\(named)` is a folder, not an episode store") }
        return .file(url)
    }

    /// Runs `body` on the request's store opened read-only.
    func reading<T>(_ request: Request, _ body: (any EpisodeRepository) throws -> T) throws -> T {
        switch try store(request) {
        case let .file(url):
            let store: EpisodeStore
            do {
                store = try EpisodeStore(url: url, readOnly: true)
            } catch let error as StoreError where request.query("store") != nil {
                // A file the request named that does not open as an episode store is the request's mistake.
                throw ServeError.badRequest("`\(request.query("store") ?? "")` is not a readable episode store: \(error.description)")
            }
            return try body(store)
        case .postgres:
            guard let pool = postgres else { throw ServeError.storeFailure("no PostgreSQL pool for \(configuration.store.name)") }
            return try pool.with(body)
        }
    }

    /// Runs `body` on the request's store opened for writing, refused with 409 while one of this server's runs writes it.
    func writing<T>(_ request: Request, _ body: (any EpisodeRepository) throws -> T) async throws -> T {
        let served = try store(request)
        if let run = await runs.activeWriter(of: served.key) {
            throw ServeError.conflict("run \(run) is writing \(served.name); wait for it or cancel it (POST /v1/runs/\(run)/cancel)")
        }
        switch served {
        case let .file(url): return try body(try EpisodeStore(url: url))
        case let .postgres(location): return try body(try EpisodeStores.open(location))
        }
    }
}
