// Named input arrays for the learned reflector, read from .npz, .pt (a dict of tensors) or .safetensors files,
// with the names of reflector.json: state0 [B, Ds], action [B, Da], context [B, L, Cw], optional context_mask [B, L].
import Foundation
import Formats
import Tensor

/// A set of named arrays read from one file (order kept).
public struct ReflectorArrays: Sendable {
    /// The file they came from.
    public var path: String
    /// The arrays by name, in file order.
    public var arrays: [(name: String, tensor: TensorData)]

    /// Reads `.npz`, `.pt`/`.pth` (any nesting of dicts; names are dotted paths) or `.safetensors`.
    /// - Throws: `FormatError` for unreadable files, `ReflectorError.file` for an unknown extension.
    public static func load(_ url: URL) throws -> ReflectorArrays {
        let arrays: [(name: String, tensor: TensorData)]
        switch url.pathExtension.lowercased() {
        case "npz": arrays = try NPZ.read(url)
        case "pt", "pth", "bin": arrays = try TorchFile.load(url).flattenedTensors()
        case "safetensors": arrays = try SafeTensors.read(url)
        default: throw ReflectorError.file(path: url.path, problem: "unknown input format '.\(url.pathExtension)' (expected .npz, .pt or .safetensors)")
        }
        return ReflectorArrays(path: url.path, arrays: arrays)
    }

    /// The array called `name` as a Float32 tensor, if present.
    public func tensor(_ name: String) -> Tensor? {
        arrays.first { $0.name == name }.map { Tensor(shape: $0.tensor.shape, data: $0.tensor.floatValues()) }
    }

    /// The reflector input: `state0`, `action`, `<contextName>` and `<contextName>_mask`/`context_mask` when present.
    /// Unbatched arrays (state0 [Ds], action [Da], context [L, Cw]) get a batch of one.
    /// - Throws: `ReflectorError.input` naming a missing array.
    public func reflectorInput(contextName: String = "context") throws -> ReflectorInput {
        func need(_ name: String) throws -> Tensor {
            guard let t = tensor(name) else {
                throw ReflectorError.input(name: name, problem: "no array '\(name)' in \(path) (it has: \(arrays.map(\.name).joined(separator: ", ")))")
            }
            return t
        }
        var state0 = try need("state0"), action = try need("action"), context = try need(contextName)
        var mask = tensor("\(contextName)_mask") ?? (contextName == "context" ? nil : tensor("context_mask"))
        if state0.rank == 1, action.rank == 1, context.rank == 2 {
            state0.reshape([1, state0.count])
            action.reshape([1, action.count])
            context.reshape([1] + context.shape)
            if var m = mask, m.rank == 1 {
                m.reshape([1, m.count])
                mask = m
            }
        }
        return ReflectorInput(state0: state0, action: action, context: context, contextMask: mask)
    }
}
