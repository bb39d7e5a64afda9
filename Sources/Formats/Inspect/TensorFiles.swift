// Named tensors from / to any supported tensor file, chosen by extension: what `worldgpt convert` uses.
import Foundation

/// Reads and writes flat lists of named tensors in any of the supported file kinds.
public enum TensorFiles {
    /// Every tensor in the file with a dotted name (`.pt` nesting flattened as `a.b.0`; `.npy` gives one tensor
    /// named after the file stem). Non-tensor values in `.pt` files are skipped.
    public static func read(_ url: URL) throws -> [(name: String, tensor: TensorData)] {
        switch try FileInspector.kind(of: url) {
        case .torch: return try TorchFile.load(url).flattenedTensors()
        case .npy: return [(url.deletingPathExtension().lastPathComponent, try NPY.read(url))]
        case .npz: return try NPZ.read(url)
        case .safetensors: return try SafeTensors.read(url)
        }
    }

    /// Writes tensors to `url`, the kind chosen by its extension: `.pt`/`.pth` (a dict name → tensor, as a
    /// state dict), `.npz`, `.safetensors`, or `.npy` (exactly one tensor).
    /// - Throws: `FormatError.invalidValue` for an unknown extension, several tensors into `.npy`, or bfloat16
    ///   into NumPy files.
    public static func write(_ tensors: [(name: String, tensor: TensorData)], to url: URL) throws {
        switch url.pathExtension.lowercased() {
        case "pt", "pth", "bin": try TorchFile.save(.stringDict(tensors.map { ($0.name, .tensor($0.tensor)) }), to: url)
        case "npz": try NPZ.write(tensors, to: url)
        case "safetensors": try SafeTensors.write(tensors, to: url)
        case "npy":
            guard tensors.count == 1 else {
                throw FormatError.invalidValue(path: url.path, reason: ".npy holds one array, got \(tensors.count)")
            }
            try NPY.write(tensors[0].tensor, to: url)
        default:
            throw FormatError.invalidValue(path: url.path, reason: "unknown extension '.\(url.pathExtension)' (use .pt, .npz, .npy or .safetensors)")
        }
    }
}
