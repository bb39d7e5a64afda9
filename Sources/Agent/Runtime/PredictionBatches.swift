// The lines of `worldgpt predict --stdin-batches`, the predict worker `worldgpt serve` keeps (docs/serve.md): one JSON
// array of requests per line in; one line per request out, in order, the trace already in the HTTP API's JSON, so
// that the server passes it on as the response body without decoding it.
import Foundation

/// One prediction of a batch line: a dataset sample and, optionally, another action.
public struct BatchedPrediction: Codable, Sendable, Equatable {
    /// Dataset YAML or SimWorld folder holding the sample.
    public var data: String
    /// The sample id whose state0 starts the prediction (its state1 is scored).
    public var sample: String
    /// The split of `data` (default test).
    public var split: String?
    /// The action sentence (default: the sample's own).
    public var action: String?

    public init(data: String, sample: String, split: String? = nil, action: String? = nil) {
        self.data = data
        self.sample = sample
        self.split = split
        self.action = action
    }
}

/// The answer line to one `BatchedPrediction`: `T ` and the step's trace line as the API's JSON (snake_case keys,
/// sorted, slashes unescaped, non-finite numbers as strings: what `worldgpt serve` answers), or `E ` and why it could
/// not be made, as a JSON string. One line each, so a batch of N requests is answered by exactly N lines.
public enum BatchedAnswer: Equatable, Sendable {
    /// The trace line's JSON bytes (the API's encoding).
    case trace(Data)
    /// The message of the prediction's error.
    case error(String)

    /// The JSON encoder of the HTTP API (the server's `Wire.encoder()` is the same).
    public static func apiEncoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return e
    }

    /// The line (without its newline).
    public func line() -> Data {
        switch self {
        case .trace(let json): return Data("T ".utf8) + json
        case .error(let message):
            let quoted = (try? JSONEncoder().encode(message)) ?? Data("\"(unprintable error)\"".utf8)
            return Data("E ".utf8) + quoted
        }
    }

    /// Reads a line of the worker.
    /// - Returns: nil when `line` is neither form (the worker is not speaking this protocol).
    public init?(line: some Collection<UInt8>) {
        guard line.count >= 2, let kind = line.first else { return nil }
        let rest = Data(line.dropFirst(2))
        switch kind {
        case UInt8(ascii: "T"): self = .trace(rest)
        case UInt8(ascii: "E"):
            guard let message = try? JSONDecoder().decode(String.self, from: rest) else { return nil }
            self = .error(message)
        default: return nil
        }
    }
}

extension TraceLine {
    /// The line in the HTTP API's JSON, written directly: what `BatchedAnswer.apiEncoder()` gives (snake_case keys,
    /// sorted; numbers as Swift prints them, without a trailing `.0`; non-finite numbers as the strings `inf`, `-inf`,
    /// `nan`), at a tenth of its cost: the predict worker writes one per prediction (docs/serve.md).
    public func apiJSON() -> Data {
        var out: [UInt8] = []
        out.reserveCapacity(256 + 48 * (retrieved.count + kept.count + recalled.count))
        func text(_ s: String) {
            out.append(0x22)
            for byte in s.utf8 {
                switch byte {
                case 0x22: out += [0x5C, 0x22]
                case 0x5C: out += [0x5C, 0x5C]
                case 0x08: out += [0x5C, UInt8(ascii: "b")]
                case 0x0C: out += [0x5C, UInt8(ascii: "f")]
                case 0x0A: out += [0x5C, UInt8(ascii: "n")]
                case 0x0D: out += [0x5C, UInt8(ascii: "r")]
                case 0x09: out += [0x5C, UInt8(ascii: "t")]
                case 0..<0x20:
                    let hex = Array("0123456789abcdef".utf8)
                    out += [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
                default: out.append(byte)
                }
            }
            out.append(0x22)
        }
        func number<T: BinaryFloatingPoint & CustomStringConvertible>(_ x: T) {
            guard x.isFinite else { return text(x.isNaN ? "nan" : (x < 0 ? "-inf" : "inf")) }
            var s = x.description
            if s.hasSuffix(".0") { s.removeLast(2) }
            out += Array(s.utf8)
        }
        func key(_ name: String, first: Bool = false) {
            if !first { out.append(0x2C) }
            text(name)
            out.append(0x3A)
        }
        func items(_ list: [TraceItem]) {
            out.append(0x5B)
            for (i, item) in list.enumerated() {
                if i > 0 { out.append(0x2C) }
                out.append(0x7B)
                key("id", first: true)
                text(item.id)
                key("score")
                number(item.score)
                out.append(0x7D)
            }
            out.append(0x5D)
        }
        out.append(0x7B)
        key("action", first: true)
        text(action)
        key("cosine")
        out.append(0x7B)
        for (i, (m, c)) in cosine.sorted(by: { $0.key < $1.key }).enumerated() {
            key(m, first: i == 0)
            number(c)
        }
        out.append(0x7D)
        key("episode")
        text(episode)
        key("kept")
        items(kept)
        key("prediction_head")
        out.append(0x7B)
        for (i, (m, values)) in predictionHead.sorted(by: { $0.key < $1.key }).enumerated() {
            key(m, first: i == 0)
            out.append(0x5B)
            for (j, v) in values.enumerated() {
                if j > 0 { out.append(0x2C) }
                number(v)
            }
            out.append(0x5D)
        }
        out.append(0x7D)
        key("recalled")
        out.append(0x5B)
        for (i, r) in recalled.enumerated() {
            if i > 0 { out.append(0x2C) }
            text(r)
        }
        out.append(0x5D)
        key("retrieved")
        items(retrieved)
        key("step")
        out += Array(String(step).utf8)
        out.append(0x7D)
        return Data(out)
    }
}
