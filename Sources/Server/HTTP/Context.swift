// The request context, the JSON coders of the API, and the responses every route builds from them.
import Agent
import Foundation
import Hummingbird

/// The per-request context (Hummingbird's core storage only; the server's state lives in `ServerState`).
struct ServeContext: RequestContext {
    var coreContext: CoreRequestContextStorage
    init(source: ApplicationRequestContextSource) { coreContext = .init(source: source) }
}

enum Wire {
    /// snake_case keys, sorted so that bodies are stable.
    static func encoder() -> JSONEncoder { BatchedAnswer.apiEncoder() }

    static func decoder() -> JSONDecoder {
        let d = JSONDecoder()
        d.keyDecodingStrategy = .convertFromSnakeCase
        return d
    }

    /// A JSON response.
    static func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var headers = headers
        headers[.contentType] = "application/json"
        let data = try encoder().encode(value)
        return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// A body of `contentType`.
    static func bytes(_ bytes: some Sequence<UInt8>, contentType: String, status: HTTPResponse.Status = .ok) -> Response {
        Response(status: status, headers: [.contentType: contentType], body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// The problem+json response of `error`.
    static func problem(_ error: ServeError) -> Response {
        let problem = Problem(type: "about:blank", title: error.title, status: error.status, detail: error.description)
        let data = (try? encoder().encode(problem)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if case .unauthorized = error { headers[.wwwAuthenticate] = "Bearer" }
        return Response(status: HTTPResponse.Status(code: error.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: data)))
    }

    /// The request body decoded as `T`, refused with 413 past `limit` bytes and 400 when it is not valid JSON of `T`.
    static func decode<T: Decodable>(_ type: T.Type, from request: Request, limit: Int) async throws -> T {
        var request = request
        let buffer: ByteBuffer
        do {
            buffer = try await request.collectBody(upTo: limit)
        } catch let error as HTTPError where error.status == .contentTooLarge {
            throw ServeError.tooLarge(what: "the request body", limit: limit)
        }
        do {
            return try decoder().decode(T.self, from: Data(buffer.readableBytesView))
        } catch let error as DecodingError {
            throw ServeError.badRequest("the body is not a valid \(T.self): \(describe(error))")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        func path(_ keys: [any CodingKey]) -> String { keys.map(\.stringValue).joined(separator: ".") }
        switch error {
        case let .typeMismatch(type, c): return "`\(path(c.codingPath))` should be \(type)"
        case let .valueNotFound(type, c): return "`\(path(c.codingPath))` is missing (expected \(type))"
        case let .keyNotFound(key, c): return "`\(path(c.codingPath + [key]))` is missing"
        case let .dataCorrupted(c): return c.debugDescription + (c.codingPath.isEmpty ? "" : " at `\(path(c.codingPath))`")
        @unknown default: return "\(error)"
        }
    }
}

extension Request {
    /// A query parameter, percent-decoded.
    func query(_ name: String) -> String? {
        uri.queryParameters[Substring(name)].map { String($0).removingPercentEncoding ?? String($0) }
    }

    /// An integer query parameter.
    /// - Throws: `ServeError.badRequest` when present and not an integer.
    func queryInt(_ name: String) throws -> Int? {
        guard let text = query(name) else { return nil }
        guard let value = Int(text) else { throw ServeError.badRequest("query parameter `\(name)` must be an integer (got `\(text)`)") }
        return value
    }

    /// True when the client asked for `.npy` bodies.
    var acceptsNPY: Bool { headers[.accept]?.contains("application/x-npy") ?? false }
}

extension ServeContext {
    /// A path parameter, percent-decoded.
    func parameter(_ name: String) throws -> String {
        guard let raw = parameters.get(name) else { throw ServeError.badRequest("missing path parameter `\(name)`") }
        return raw.removingPercentEncoding ?? raw
    }
}
