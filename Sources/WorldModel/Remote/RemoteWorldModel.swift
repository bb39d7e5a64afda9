// A world model served elsewhere (`--model http://HOST:PORT`): each batch of prediction inputs goes to the server as
// one safetensors body and the predicted states come back the same way. The protocol is docs/serve.md's
// "Remote world model protocol"; python/worldgpt_client/model_server.py is its reference server.
import Formats
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The predictions of a model behind `POST <url>/predict`.
public struct RemoteWorldModel: WorldModel {
    /// The protocol's name and version, sent as metadata `protocol` and checked on the answer.
    public static let protocolName = "worldgpt-predict/1"
    /// The server's base URL.
    public let url: URL
    /// Seconds to wait for one batch's answer.
    public let timeout: TimeInterval

    /// A model at `url` (`http://HOST:PORT`).
    /// - Throws: `WorldModelError.remote` when `url` is not an http(s) URL.
    public init(url: String, timeout: TimeInterval = 300) throws {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
            throw WorldModelError.remote(url: url, reason: "not an http:// or https:// URL")
        }
        self.url = parsed
        self.timeout = timeout
    }

    public func predict(_ input: PredictionInput) throws -> State {
        try predictBatch([input])[0]
    }

    public func predictBatch(_ inputs: [PredictionInput]) throws -> [State] {
        guard !inputs.isEmpty else { return [] }
        let (tensors, metadata) = try Self.request(inputs)
        let body = Data(try SafeTensors.encoded(tensors, metadata: metadata, name: "predict request"))
        let answer = try post(body)
        let decoded: (tensors: [(name: String, tensor: TensorData)], metadata: [String: String])
        do {
            decoded = try SafeTensors.decoded(answer, name: "answer of \(url.absoluteString)")
        } catch {
            throw WorldModelError.remote(url: url.absoluteString, reason: "the answer is not a safetensors body: \(error)")
        }
        return try Self.states(decoded.tensors, for: inputs, url: url.absoluteString)
    }

    /// The request's tensors (`{i}/state/{m}`, `{i}/action`, `{i}/memory/{j}/…`, `{i}/context/{j}/…`,
    /// `{i}/reflector_tokens`) and metadata (`protocol`, `inputs`: per input its action text, targets, scenario,
    /// the memory items' actions and steps-ago, the context items' sample ids and scores).
    static func request(_ inputs: [PredictionInput]) throws -> ([(name: String, tensor: TensorData)], [String: String]) {
        var tensors: [(name: String, tensor: TensorData)] = []
        var described: [JSONValue] = []
        func add(_ name: String, _ embedding: Embedding?) {
            if let embedding { tensors.append((name, TensorData(floats: embedding.values, shape: [embedding.dim]))) }
        }
        func add(_ prefix: String, _ state: State) {
            for m in state.modalities { add("\(prefix)/\(m.rawValue)", state[m]) }
        }
        for (i, input) in inputs.enumerated() {
            add("\(i)/state", input.state)
            add("\(i)/action", input.action.embedding)
            for (j, item) in input.memory.enumerated() {
                add("\(i)/memory/\(j)/state0", item.state0)
                add("\(i)/memory/\(j)/state1", item.state1)
                add("\(i)/memory/\(j)/action", item.action.embedding)
            }
            for (j, item) in input.context.enumerated() {
                add("\(i)/context/\(j)/state0", item.transition.state0)
                add("\(i)/context/\(j)/state1", item.transition.state1)
                add("\(i)/context/\(j)/action", item.transition.action.embedding)
            }
            if let tokens = input.reflectorTokens {
                tensors.append(("\(i)/reflector_tokens", TensorData(floats: tokens.values, shape: [tokens.tokenCount, tokens.width])))
            }
            var entry: [String: JSONValue] = [
                "action": .string(input.action.text),
                "targets": .array(input.targets.map { .string($0.rawValue) }),
                "memory": .array(input.memory.map { .object(["action": .string($0.action.text), "steps_ago": .number(Double($0.stepsAgo))]) }),
                "context": .array(input.context.map { .object(["sample_id": .string($0.transition.provenance.sampleID), "score": .number($0.score)]) }),
            ]
            if let scenario = input.scenario { entry["scenario"] = .string(scenario) }
            described.append(.object(entry))
        }
        let metadata = ["protocol": protocolName, "batch": String(inputs.count), "inputs": JSONValue.array(described).serialized()]
        return (tensors, metadata)
    }

    /// The predicted states of an answer: `{i}/{modality}` for every target of every input, float32 of the input's
    /// dimension and finite; returned as sent (the protocol asks the server for unit vectors).
    static func states(_ tensors: [(name: String, tensor: TensorData)], for inputs: [PredictionInput], url: String) throws -> [State] {
        let named = Dictionary(tensors.map { ($0.name, $0.tensor) }, uniquingKeysWith: { first, _ in first })
        return try inputs.enumerated().map { i, input in
            let dim = input.state.embeddings.values.first?.dim
            var state = State()
            for m in input.targets {
                guard let tensor = named["\(i)/\(m.rawValue)"] else {
                    throw WorldModelError.remote(url: url, reason: "the answer has no tensor `\(i)/\(m.rawValue)` (input \(i) asked for \(m.rawValue))")
                }
                guard tensor.dtype == .float32, tensor.shape.count == 1 else {
                    throw WorldModelError.remote(url: url, reason: "`\(i)/\(m.rawValue)` must be float32 of shape (D,), got \(tensor.dtype) \(tensor.shape)")
                }
                let values = tensor.floatValues()
                if let dim, values.count != dim {
                    throw WorldModelError.dimensionMismatch(field: "\(url) answer \(i)/\(m.rawValue)", expected: dim, actual: values.count)
                }
                guard values.allSatisfy(\.isFinite) else { throw WorldModelError.notFinite(field: "\(url) answer \(i)/\(m.rawValue)") }
                state[m] = Embedding(values)
            }
            return state
        }
    }

    /// POSTs `body` to `<url>/predict` and returns the answer's body.
    func post(_ body: Data) throws -> Data {
        var request = URLRequest(url: url.appendingPathComponent("predict"), timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.httpBody = body
        request.setValue("application/x-safetensors", forHTTPHeaderField: "Content-Type")
        request.setValue("application/x-safetensors", forHTTPHeaderField: "Accept")
        let box = AnswerBox()
        let done = DispatchSemaphore(value: 0)
        URLSession.shared.dataTask(with: request) { data, response, error in
            box.data = data
            box.status = (response as? HTTPURLResponse)?.statusCode
            box.error = error
            done.signal()
        }.resume()
        let endpoint = url.absoluteString
        guard done.wait(timeout: .now() + timeout + 5) == .success else {
            throw WorldModelError.remote(url: endpoint, reason: "no answer within \(Int(timeout)) s")
        }
        if let error = box.error {
            throw WorldModelError.remote(url: endpoint, reason: "\(error.localizedDescription) (is the model server running?)")
        }
        guard let status = box.status, let data = box.data else { throw WorldModelError.remote(url: endpoint, reason: "no answer") }
        guard status == 200 else {
            throw WorldModelError.remote(url: endpoint, reason: "HTTP \(status): \(String(decoding: data.prefix(1000), as: UTF8.self))")
        }
        return data
    }
}

/// The answer of a data task, written by URLSession's queue before the semaphore is signalled.
private final class AnswerBox: @unchecked Sendable {
    var data: Data?
    var status: Int?
    var error: (any Error)?
}
