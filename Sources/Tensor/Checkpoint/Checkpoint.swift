// Saving and loading a ParameterStore as safetensors (every parameter by name, Float32 on disk), and the module's error type.
// Shape legend: each tensor keeps its parameter's own shape.
import Foundation
import Formats

/// Errors of the Tensor module: checkpoint files that are missing, unreadable or do not fit the model.
public enum TensorError: Error, CustomStringConvertible, Equatable {
    /// The checkpoint could not be read or written (the underlying reason in `problem`).
    case unreadableCheckpoint(URL, problem: String)
    /// A parameter the model needs is not in the checkpoint.
    case missingParameter(String, source: String)
    /// A checkpoint tensor has a shape other than the parameter's.
    case shapeMismatch(String, expected: [Int], found: [Int], source: String)
    /// A checkpoint tensor is not floating point or holds NaN/infinity.
    case invalidValues(String, problem: String, source: String)
    /// The checkpoint has tensors the model does not know (strict loading).
    case unexpectedParameters([String], source: String)

    /// What went wrong, naming the file and the tensor.
    public var description: String {
        switch self {
        case .unreadableCheckpoint(let url, let problem): return "cannot use checkpoint \(url.path): \(problem)"
        case .missingParameter(let name, let source): return "\(source): parameter \(name) is missing"
        case .shapeMismatch(let name, let expected, let found, let source):
            return "\(source): parameter \(name) has shape \(found), the model expects \(expected)"
        case .invalidValues(let name, let problem, let source): return "\(source): parameter \(name): \(problem)"
        case .unexpectedParameters(let names, let source):
            return "\(source): \(names.count) tensor(s) not in the model, e.g. \(names.prefix(3).joined(separator: ", "))"
        }
    }
}

extension Tensor {
    /// The tensor as Formats' `TensorData` (float32).
    public var tensorData: TensorData { TensorData(floats: data, shape: shape) }

    /// A tensor from any floating-point `TensorData` (converted to Float32).
    public init(_ t: TensorData) { self.init(shape: t.shape, data: t.floatValues()) }
}

extension ParameterStore {
    /// Writes every parameter as a float32 tensor under its name; `metadata` goes into the header.
    ///
    /// - Throws: `TensorError.unreadableCheckpoint` when the file cannot be written.
    public func save(to url: URL, metadata: [String: String] = [:]) throws {
        do {
            try SafeTensors.write(parameters.map { ($0.name, TensorData(floats: Array(values[$0.range]), shape: $0.shape)) },
                                  metadata: metadata, to: url)
        } catch {
            throw TensorError.unreadableCheckpoint(url, problem: "\(error)")
        }
    }

    /// Reads parameters by name from a safetensors file (F32/F16/BF16/F64 converted to Float32).
    ///
    /// - Parameter strict: require every parameter and refuse unknown tensors; otherwise load what matches by name
    ///   (shapes must still agree).
    /// - Returns: the names of the model's parameters that were loaded.
    /// - Throws: `TensorError` naming the file and the tensor.
    @discardableResult
    public func load(from url: URL, strict: Bool = true) throws -> [String] {
        let tensors: [(name: String, tensor: TensorData)]
        do {
            tensors = try SafeTensors.read(url)
        } catch {
            throw TensorError.unreadableCheckpoint(url, problem: "\(error)")
        }
        return try load(named: tensors, strict: strict, source: url.path)
    }

    /// Copies values from (name, tensor) pairs, e.g. a state dict read with `TorchFile`.
    ///
    /// - Parameter source: how errors name where the tensors came from.
    @discardableResult
    public func load(named tensors: [(name: String, tensor: TensorData)], strict: Bool = true, source: String = "checkpoint") throws -> [String] {
        var byName: [String: TensorData] = [:]
        for t in tensors { byName[t.name] = t.tensor }
        var loaded: [String] = []
        var staged: [(Parameter, [Float])] = []
        for p in parameters {
            guard let t = byName[p.name] else {
                if strict { throw TensorError.missingParameter(p.name, source: source) }
                continue
            }
            guard t.shape == p.shape else { throw TensorError.shapeMismatch(p.name, expected: p.shape, found: t.shape, source: source) }
            guard t.dtype.isFloatingPoint else {
                throw TensorError.invalidValues(p.name, problem: "dtype \(t.dtype.rawValue) is not floating point", source: source)
            }
            let v = t.floatValues()
            guard v.allSatisfy({ $0.isFinite }) else { throw TensorError.invalidValues(p.name, problem: "contains NaN or infinity", source: source) }
            staged.append((p, v))
            loaded.append(p.name)
        }
        if strict {
            let known = Set(parameters.map(\.name))
            let extra = tensors.map(\.name).filter { !known.contains($0) }
            if !extra.isEmpty { throw TensorError.unexpectedParameters(extra, source: source) }
        }
        // Nothing is written until every tensor has been checked.
        for (p, v) in staged { values.replaceSubrange(p.range, with: v) }
        return loaded
    }
}
