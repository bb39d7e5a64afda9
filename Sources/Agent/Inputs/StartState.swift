// Start states from files: embeddings (.pt/.npy) or media (video/audio/image) encoded by the media encoders.
import Encoders
import Formats
import Foundation

/// Reads a start state from `[MODALITY=]PATH` arguments.
public enum StartState {
    /// Parses each `MODALITY=PATH` (or a media `PATH`, whose modality follows from its extension) and reads it.
    ///
    /// `.pt` and `.npy` files must hold one vector (any float dtype, any shape with one non-unit axis);
    /// media files are embedded by `mediaEncoder`.
    /// - Throws: `AgentError` naming the argument and the problem.
    public static func load(_ arguments: [String], mediaEncoder: MediaFeatureEncoder = MediaFeatureEncoder()) throws -> State {
        var state = State()
        for argument in arguments {
            var modality: Modality?
            var path = argument
            if let eq = argument.firstIndex(of: "="), !argument[..<eq].contains("/") {
                let name = String(argument[..<eq])
                guard let m = Modality(rawValue: name) else { throw AgentError.unknownModality(name) }
                modality = m
                path = String(argument[argument.index(after: eq)...])
            }
            let url = URL(fileURLWithPath: path)
            guard FileManager.default.fileExists(atPath: url.path) else {
                throw AgentError.missingFile(kind: "start state file", path: path, hint: "give MODALITY=FILE.pt|.npy or a media file")
            }
            let ext = url.pathExtension.lowercased()
            if ext == "pt" || ext == "npy" {
                guard let modality else {
                    throw AgentError.badStartState(argument, reason: "an embedding file needs its modality: write video=\(path)")
                }
                let tensor: TensorData
                do {
                    if ext == "npy" {
                        tensor = try NPY.read(url)
                    } else if let t = try TorchFile.load(url).firstTensor {
                        tensor = t
                    } else {
                        throw AgentError.badStartState(argument, reason: "the file holds no tensor")
                    }
                } catch let error as AgentError { throw error } catch {
                    throw AgentError.badStartState(argument, reason: "\(error)")
                }
                guard tensor.shape.filter({ $0 != 1 }).count <= 1, tensor.count > 0 else {
                    throw AgentError.badStartState(argument, reason: "expected one vector, got shape \(tensor.shape)")
                }
                let embedding = Embedding(tensor.floatValues())
                guard embedding.isFinite else { throw AgentError.badStartState(argument, reason: "the vector has NaN or infinite components") }
                state[modality] = embedding
            } else {
                do {
                    let detected = try modality ?? MediaFeatureEncoder.detectModality(url)
                    state[detected] = try mediaEncoder.embed(url, as: detected)
                } catch {
                    throw AgentError.badStartState(argument, reason: "\(error)")
                }
            }
        }
        guard !state.isEmpty else { throw AgentError.badStartState("(none)", reason: "give at least one --start") }
        return state
    }
}

extension TorchValue {
    /// The first tensor found depth-first (the tensor itself, or inside a dict/list/tuple).
    var firstTensor: TensorData? {
        switch self {
        case .tensor(let t, _, _): return t
        case .list(let items), .tuple(let items): return items.lazy.compactMap(\.firstTensor).first
        case .dict(let pairs): return pairs.lazy.compactMap(\.value.firstTensor).first
        default: return nil
        }
    }
}
