// An HTTP media encoder: files go out as JSON (path + base64 bytes), vectors come back as JSON.
// For plugging in a real model (e.g. LanguageBind served on a GPU) without linking it.
import Formats
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// A failure talking to an external encoder service.
public enum ExternalEncoderError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The request could not be sent or no answer came (connection refused, timeout, DNS...).
    case transport(endpoint: String, message: String)
    /// The service answered with a non-2xx HTTP status.
    case httpStatus(endpoint: String, status: Int, body: String)
    /// The answer is not the expected JSON (what is wrong is in `problem`).
    case badResponse(endpoint: String, problem: String)
    /// A local file could not be read for sending.
    case unreadableFile(path: String, message: String)

    public var description: String {
        switch self {
        case .transport(let e, let m): return "external encoder \(e): no response: \(m)"
        case .httpStatus(let e, let s, let b): return "external encoder \(e): HTTP \(s): \(b)"
        case .badResponse(let e, let p): return "external encoder \(e): unexpected response: \(p)"
        case .unreadableFile(let p, let m): return "\(p): cannot read for the external encoder: \(m)"
        }
    }
}

/// Sends media files to an HTTP endpoint and reads back one embedding per file.
///
/// Request: `POST endpoint`, `Content-Type: application/json`, body
/// `{"modality": "video", "inputs": [{"name": "clip.mp4", "path": "/abs/clip.mp4", "data": "<base64>"}]}`
/// (`data` is left out when `sendContents` is false, for a service that shares the file system).
/// Response: `{"embeddings": [[Float]]}` (or OpenAI style `{"data": [{"embedding": [Float]}]}`), one
/// vector per input in order, all of one width.
public struct ExternalEncoder: Sendable {
    /// The service URL.
    public let endpoint: URL
    /// Seconds to wait for an answer.
    public let timeout: TimeInterval
    /// Whether file bytes travel in the request (base64) or only their paths.
    public let sendContents: Bool
    /// Extra HTTP headers (e.g. an authorization token).
    public let headers: [String: String]
    /// When set, every returned vector must have this width.
    public let expectedDimension: Int?
    /// Files per request.
    public let batchSize: Int

    /// An encoder talking to `endpoint`.
    public init(endpoint: URL, timeout: TimeInterval = 120, sendContents: Bool = true, headers: [String: String] = [:],
                expectedDimension: Int? = nil, batchSize: Int = 16) {
        self.endpoint = endpoint
        self.timeout = timeout
        self.sendContents = sendContents
        self.headers = headers
        self.expectedDimension = expectedDimension
        self.batchSize = max(1, batchSize)
    }

    /// Embeddings of `files` as `modality`, in order (batched `batchSize` per request).
    public func embed(_ files: [URL], modality: Modality, progress: ((Int, Int) -> Void)? = nil) throws -> [Embedding] {
        var out: [Embedding] = []
        out.reserveCapacity(files.count)
        var start = 0
        while start < files.count {
            let batch = Array(files[start..<min(files.count, start + batchSize)])
            let body = try requestBody(files: batch, modality: modality)
            let data = try post(body)
            out += try decodeResponse(data, expectedCount: batch.count).map { Embedding($0) }
            start += batch.count
            progress?(start, files.count)
        }
        return out
    }

    /// The JSON request body for `files` (see the type's documentation).
    public func requestBody(files: [URL], modality: Modality) throws -> Data {
        var inputs: [[String: String]] = []
        for file in files {
            var input = ["name": file.lastPathComponent, "path": file.standardizedFileURL.path]
            if sendContents {
                do { input["data"] = try Data(contentsOf: file).base64EncodedString() } catch {
                    throw ExternalEncoderError.unreadableFile(path: file.path, message: error.localizedDescription)
                }
            }
            inputs.append(input)
        }
        let object: [String: Any] = ["modality": modality.rawValue, "inputs": inputs]
        return try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    }

    /// Parses a response body into `expectedCount` vectors of one finite width.
    public func decodeResponse(_ data: Data, expectedCount: Int) throws -> [[Float]] {
        let name = endpoint.absoluteString
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw ExternalEncoderError.badResponse(endpoint: name, problem: "not a JSON object: \(Self.snippet(data))")
        }
        let rows: [Any]
        if let embeddings = object["embeddings"] as? [Any] {
            rows = embeddings
        } else if let items = object["data"] as? [Any] {
            rows = try items.map { item in
                guard let vector = (item as? [String: Any])?["embedding"] else {
                    throw ExternalEncoderError.badResponse(endpoint: name, problem: "a \"data\" item has no \"embedding\"")
                }
                return vector
            }
        } else {
            throw ExternalEncoderError.badResponse(endpoint: name, problem: "no \"embeddings\" or \"data\" key")
        }
        guard rows.count == expectedCount else {
            throw ExternalEncoderError.badResponse(endpoint: name, problem: "\(rows.count) vectors for \(expectedCount) inputs")
        }
        var vectors: [[Float]] = []
        for (i, row) in rows.enumerated() {
            guard let numbers = row as? [Any], !numbers.isEmpty else {
                throw ExternalEncoderError.badResponse(endpoint: name, problem: "vector \(i) is not a non-empty array of numbers")
            }
            var vector = [Float]()
            vector.reserveCapacity(numbers.count)
            for value in numbers {
                // JSON booleans also bridge to NSNumber (as CFBoolean, whose type name says so).
                guard let number = value as? NSNumber, !String(describing: type(of: value)).contains("Boolean"),
                      number.doubleValue.isFinite else {
                    throw ExternalEncoderError.badResponse(endpoint: name, problem: "vector \(i) holds a non-number or non-finite value")
                }
                vector.append(number.floatValue)
            }
            if let width = vectors.first?.count, width != vector.count {
                throw ExternalEncoderError.badResponse(endpoint: name, problem: "vector \(i) has \(vector.count) values, vector 0 has \(width)")
            }
            if let expectedDimension, vector.count != expectedDimension {
                throw ExternalEncoderError.badResponse(endpoint: name, problem: "vector \(i) has \(vector.count) values, expected \(expectedDimension)")
            }
            vectors.append(vector)
        }
        return vectors
    }

    /// POSTs `body` and waits for the answer (synchronously, on URLSession's delegate queue).
    func post(_ body: Data) throws -> Data {
        var request = URLRequest(url: endpoint, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.setValue("application/json", forHTTPHeaderField: "Accept")
        for (key, value) in headers { request.setValue(value, forHTTPHeaderField: key) }
        let box = ResponseBox()
        let done = DispatchSemaphore(value: 0)
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        let task = session.dataTask(with: request) { data, response, error in
            box.set(data: data, response: response, error: error)
            done.signal()
        }
        task.resume()
        done.wait()
        let (data, response, error) = box.get()
        let name = endpoint.absoluteString
        if let error { throw ExternalEncoderError.transport(endpoint: name, message: error.localizedDescription) }
        guard let http = response as? HTTPURLResponse else { throw ExternalEncoderError.transport(endpoint: name, message: "no HTTP response") }
        guard (200..<300).contains(http.statusCode) else {
            throw ExternalEncoderError.httpStatus(endpoint: name, status: http.statusCode, body: Self.snippet(data ?? Data()))
        }
        return data ?? Data()
    }

    static func snippet(_ data: Data) -> String {
        let text = String(decoding: data.prefix(200), as: UTF8.self)
        return data.count > 200 ? text + "…" : text
    }
}

/// Hands the completion handler's results to the waiting thread (the semaphore orders the accesses;
/// the lock makes that explicit).
private final class ResponseBox: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?
    private var response: URLResponse?
    private var error: Error?

    func set(data: Data?, response: URLResponse?, error: Error?) {
        lock.lock(); defer { lock.unlock() }
        self.data = data; self.response = response; self.error = error
    }

    func get() -> (Data?, URLResponse?, Error?) {
        lock.lock(); defer { lock.unlock() }
        return (data, response, error)
    }
}
