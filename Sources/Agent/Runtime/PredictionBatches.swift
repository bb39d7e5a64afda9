// The lines of `worldgpt predict --stdin-batches`, the predict worker `worldgpt serve` keeps (docs/serve.md): one JSON
// array of requests per line in, one JSON array of answers per line out, in order.

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

/// The answer to one `BatchedPrediction`: the step's trace line, or why it could not be made.
public struct BatchedAnswer: Codable, Sendable {
    public var trace: TraceLine?
    public var error: String?

    public init(trace: TraceLine? = nil, error: String? = nil) {
        self.trace = trace
        self.error = error
    }
}
