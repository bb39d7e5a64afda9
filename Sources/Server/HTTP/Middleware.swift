// The checks every request passes before its route: the bearer token, the body size, read-only mode; and the one
// place where errors become problem+json responses.
import Agent
import Foundation
import Hummingbird
import Memory

/// Turns every error a route throws into a problem+json response (store errors keep their meaning: 404, 400, 409).
struct ProblemMiddleware: RouterMiddleware {
    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            return Wire.problem(Self.serveError(error))
        }
    }

    static func serveError(_ error: any Error) -> ServeError {
        switch error {
        case let e as ServeError: return e
        case let e as StoreError: return .from(e)
        case let e as AgentError: return .badRequest(e.description)
        case let e as HTTPError:
            switch e.status {
            case .notFound: return .notFound("route")
            case .contentTooLarge: return .tooLarge(what: "the request body", limit: -1)
            case .methodNotAllowed: return .badRequest("method not allowed on this route")
            default: return .badRequest(e.body ?? e.status.reasonPhrase)
            }
        default: return .badRequest(String(describing: error))
        }
    }
}

/// Requires the token on every route but health: `Authorization: Bearer TOKEN`, or `?access_token=TOKEN` (a link to
/// the inspector), which also sets an HttpOnly same-site cookie so that the page's own assets and calls carry it.
struct TokenMiddleware: RouterMiddleware {
    let token: String
    static let cookie = "worldgpt_token"

    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        if request.uri.path == "/v1/health" { return try await next(request, context) }
        let header = request.headers[.authorization] ?? ""
        if header.hasPrefix("Bearer "), Self.equal(String(header.dropFirst(7)), token) { return try await next(request, context) }
        if let cookie = request.cookies[Self.cookie]?.value, Self.equal(cookie, token) { return try await next(request, context) }
        if let query = request.query("access_token"), Self.equal(query, token) {
            var response = try await next(request, context)
            response.headers[.setCookie] = "\(Self.cookie)=\(token); Path=/; HttpOnly; SameSite=Strict"
            return response
        }
        throw ServeError.unauthorized
    }

    /// Compares without an early exit, so the time taken does not tell how much of the token was right.
    static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        var difference = UInt8(x.count == y.count ? 0 : 1)
        for i in 0..<max(x.count, y.count) { difference |= (i < x.count ? x[i] : 0) ^ (i < y.count ? y[i] : 0) }
        return difference == 0
    }
}

/// Refuses a declared body larger than the limit before reading it (routes also stop reading at the limit).
struct BodyLimitMiddleware: RouterMiddleware {
    let limit: Int

    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw ServeError.tooLarge(what: "the request body (\(length) bytes)", limit: limit)
        }
        return try await next(request, context)
    }
}

/// With `--read-only`, refuses every POST or DELETE except those that only read (search, predict without offload).
struct ReadOnlyMiddleware: RouterMiddleware {
    static let readingPosts: Set<String> = ["/v1/search", "/v1/predict"]

    func handle(_ request: Request, context: ServeContext, next: (Request, ServeContext) async throws -> Response) async throws -> Response {
        if request.method != .get && request.method != .head && !Self.readingPosts.contains(request.uri.path) {
            throw ServeError.readOnlyMode("\(request.method) \(request.uri.path)")
        }
        return try await next(request, context)
    }
}
