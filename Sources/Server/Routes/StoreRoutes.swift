// The memory routes: stats, verify, episodes and their steps (cursor pages), a step's evidence and arrays, search,
// export and prune, over any `EpisodeRepository` (an SQLite file or a PostgreSQL database: StoreAccess.swift). Each
// request reads through its own store (stores are confined to one thread), read-only unless it writes, so the routes
// see the last commit of a rollout that is writing.
import Agent
import Formats
import Foundation
import Hummingbird
import Memory

extension ServerState {
    func addStoreRoutes(to router: Router<ServeContext>) {
        let v1 = router.group("v1")
        v1.get("health") { _, _ in try Wire.json(Health(status: "ok")) }
        v1.get("version") { request, _ in
            let migrations = try self.reading(request) { try $0.appliedMigrations() }
            return try Wire.json(VersionInfo(server: APIVersion.server, api: APIVersion.api, storeFormat: EpisodeStore.formatName,
                                             storeMigrations: migrations))
        }
        v1.get("store/stats") { request, _ in try Wire.json(try self.reading(request) { try $0.stats() }) }
        v1.get("store/verify") { request, _ in try Wire.json(try self.reading(request) { try $0.verify() }) }

        v1.get("episodes") { request, _ in
            let filter = EpisodeFilter(
                scenario: request.query("scenario"), namePrefix: request.query("prefix"),
                createdAfter: try Self.time(request, "created_after"), createdBefore: try Self.time(request, "created_before"))
            let after = try Self.cursor(request), limit = try request.queryInt("limit") ?? 50
            let page = try self.reading(request) { try $0.episodes(after: after, limit: limit, filter: filter) }
            return try Wire.json(EpisodeList(items: page.items, nextCursor: page.nextCursor.map(String.init)))
        }
        v1.get("episodes/:episode/steps") { request, context in
            let episode = try context.parameter("episode"), after = try Self.cursor(request).map(Int.init), limit = try request.queryInt("limit") ?? 100
            let page = try self.reading(request) { try $0.steps(episode: episode, afterIndex: after, limit: limit) }
            return try Wire.json(StepList(items: page.items.map(StepSummary.init), nextCursor: page.nextCursor.map(String.init)))
        }
        v1.get("episodes/:episode/steps/:index") { request, context in
            try Wire.json(Evidence(try self.step(request, context)))
        }
        v1.get("episodes/:episode/steps/:index/arrays/:role/:name") { request, context in
            let step = try self.step(request, context)
            let role = try context.parameter("role"), name = try context.parameter("name")
            let column = "\(role)_\(name)"
            guard let embedding = Self.embedding(step.record, role: role, name: name) else {
                throw ServeError.notFound("array \(role)/\(name) of step \(step.record.episode):\(step.record.index)")
            }
            if request.acceptsNPY {
                let tensor = TensorData(floats: embedding.values, shape: [embedding.dim])
                return Wire.bytes(try NPY.encoded(tensor, name: column), contentType: "application/x-npy")
            }
            return try Wire.json(ArrayBody(column: column, dim: embedding.dim, values: embedding.values))
        }

        v1.post("search") { request, _ in
            let body = try await Wire.decode(SearchRequest.self, from: request, limit: self.configuration.maxBodyBytes)
            return try Wire.json(try self.search(body, request: request))
        }
        v1.post("export") { request, _ in
            let body = try await Wire.decode(ExportRequest.self, from: request, limit: self.configuration.maxBodyBytes)
            let out = try self.paths.resolve(body.out)
            let n = try self.reading(request) { try $0.export(to: out) }
            return try Wire.json(ExportResult(steps: n, out: out.path))
        }
        v1.post("prune") { request, _ in
            let body = try await Wire.decode(PruneRequest.self, from: request, limit: self.configuration.maxBodyBytes)
            guard (body.keepLast == nil) != (body.before == nil) else { throw ServeError.badRequest("give exactly one of keep_last or before") }
            let dryRun = body.dryRun ?? false
            let prune: (any EpisodeRepository) throws -> Int
            if let keepLast = body.keepLast {
                prune = { try $0.prune(keepLast: keepLast, dryRun: dryRun) }
            } else {
                guard let date = Self.date(body.before ?? "") else { throw ServeError.badRequest("`before` must be an ISO 8601 date (2026-11-25 or 2026-11-25T10:00:00Z)") }
                prune = { try $0.prune(before: date, dryRun: dryRun) }
            }
            let n = dryRun ? try self.reading(request, prune) : try await self.writing(request, prune)
            return try Wire.json(PruneResult(steps: n, dryRun: dryRun))
        }
    }

    func step(_ request: Request, _ context: ServeContext) throws -> StoredStep {
        let episode = try context.parameter("episode"), indexText = try context.parameter("index")
        guard let index = Int(indexText) else { throw ServeError.badRequest("step index must be an integer (got `\(indexText)`)") }
        guard let step = try reading(request, { try $0.steps(StepReference(episode: episode, index: index)) }).first else {
            throw ServeError.notFound("step \(episode):\(index)")
        }
        return step
    }

    static func embedding(_ r: StepRecord, role: String, name: String) -> Embedding? {
        if role == "action" { return name == "embedding" ? r.action.embedding : nil }
        guard let modality = Modality(rawValue: name) else { return nil }
        switch role {
        case "input": return r.input[modality]
        case "predicted": return r.predicted[modality]
        case "observed": return r.observed[modality]
        default: return nil
        }
    }

    func search(_ body: SearchRequest, request: Request) throws -> SearchResult {
        try reading(request) { try search(body, store: $0) }
    }

    func search(_ body: SearchRequest, store: any EpisodeRepository) throws -> SearchResult {
        let given = [body.like != nil, body.text != nil, body.vector != nil].filter { $0 }.count
        guard given == 1 else { throw ServeError.badRequest("give exactly one of like (EPISODE:STEP), text or vector") }
        let k = body.k ?? 5
        guard (1...1000).contains(k) else { throw ServeError.badRequest("k must be in 1...1000 (got \(k))") }
        var weights = RecallWeights(state: body.stateWeight ?? 1, action: body.actionWeight ?? 0, recency: body.recencyWeight ?? 0, halfLife: body.halfLife ?? 50)
        let query: RecallQuery
        if let like = body.like {
            let reference = try StepReference(parsing: like)
            guard reference.index != nil else { throw ServeError.badRequest("like needs EPISODE:STEP") }
            let step = try store.steps(reference)[0]
            query = RecallQuery(state: step.record.input, action: step.record.action.embedding, episode: body.episode, excludedStepIDs: [step.id])
        } else if let text = body.text {
            let (q, matchesState, matchesAction) = try TextRecall.query(text, store: store, encoderKind: body.textEncoder ?? defaultTextEncoder, episode: body.episode)
            query = q
            weights.state = body.stateWeight ?? (matchesState ? 1 : 0)
            weights.action = body.actionWeight ?? (matchesAction ? 1 : 0)
        } else {
            let vector = body.vector ?? []
            guard vector.count <= configuration.maxArrayElements else { throw ServeError.tooLarge(what: "the vector", limit: configuration.maxArrayElements * 4) }
            guard vector.count == store.dim else { throw ServeError.badRequest("vector has \(vector.count) components; the store holds \(store.dim)-d states") }
            guard vector.allSatisfy(\.isFinite) else { throw ServeError.badRequest("vector has NaN or infinite components") }
            // A raw vector is compared with the stored state keys (the average of a step's input modalities).
            query = RecallQuery(state: State([.image: Embedding(vector)]), episode: body.episode)
        }
        return SearchResult(items: try store.recall(query, k: k, weights: weights))
    }

    /// The `--text-encoder` runs use, if the server was given one.
    var defaultTextEncoder: String? {
        guard let i = configuration.runtimeArguments.firstIndex(of: "--text-encoder"), i + 1 < configuration.runtimeArguments.count else { return nil }
        return configuration.runtimeArguments[i + 1]
    }

    static func cursor(_ request: Request) throws -> Int64? {
        guard let text = request.query("cursor") else { return nil }
        guard let value = Int64(text) else { throw ServeError.badRequest("cursor must be a value from next_cursor (got `\(text)`)") }
        return value
    }

    static func time(_ request: Request, _ name: String) throws -> Double? {
        guard let text = request.query(name) else { return nil }
        if let seconds = Double(text), seconds.isFinite { return seconds }
        guard let date = date(text) else { throw ServeError.badRequest("`\(name)` must be an ISO 8601 date or seconds since 1970 (got `\(text)`)") }
        return date.timeIntervalSince1970
    }

    static func date(_ text: String) -> Date? {
        if let d = ISO8601DateFormatter().date(from: text) { return d }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        return day.date(from: text)
    }
}
