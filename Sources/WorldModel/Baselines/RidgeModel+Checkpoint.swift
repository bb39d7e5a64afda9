// The ridge checkpoint folder: `ridge.json` (widths, feature blocks, per-head λ and held-out errors) and
// `ridge.safetensors` (one F×D float32 tensor per head, `head.<target>.<same|cross>`). Safe formats only.
import Foundation
import Formats

/// The on-disk layout of a ridge checkpoint folder (documented in docs/worldmodel.md).
public enum RidgeCheckpointLayout {
    /// `ridge.json`: what the weights mean.
    public static let config = "ridge.json"
    /// `ridge.safetensors`: the heads' weights.
    public static let weights = "ridge.safetensors"
    /// The value of `format` in `ridge.json`.
    public static let formatTag = "worldgpt-ridge-v1"
}

/// What `ridge.json` holds.
struct RidgeCheckpointInfo: Codable {
    struct Block: Codable {
        var name: String
        var offset: Int
        var width: Int
    }

    struct Head: Codable {
        var tensor: String
        var target: Modality
        var input: String
        var lambda: Double
        var rows: Int
        var heldOutRows: Int
        var heldOutErrors: [Double]

        enum CodingKeys: String, CodingKey {
            case tensor, target, input, lambda, rows
            case heldOutRows = "held_out_rows", heldOutErrors = "held_out_errors"
        }
    }

    var format: String
    var stateWidth: Int
    var actionWidth: Int
    var memory: Bool
    var knowledge: Bool
    var featureWidth: Int
    var blocks: [Block]
    var lambdaGrid: [Double]
    var actionEncoder: String?
    var heads: [Head]

    enum CodingKeys: String, CodingKey {
        case format, memory, knowledge, blocks, heads
        case stateWidth = "embedding_dim", actionWidth = "action_dim", featureWidth = "feature_width", lambdaGrid = "lambda_grid"
        case actionEncoder = "action_encoder"
    }
}

extension RidgeModel {
    /// True when `folder` holds a ridge checkpoint (its `ridge.json`).
    public static func isCheckpoint(_ folder: URL) -> Bool {
        FileManager.default.fileExists(atPath: folder.appendingPathComponent(RidgeCheckpointLayout.config).path)
    }

    /// Writes `ridge.json` and `ridge.safetensors` into `folder` (created if needed).
    /// - Throws: `WorldModelError.badCheckpoint` when the folder cannot be written.
    public func save(to folder: URL) throws {
        let keys = heads.keys.sorted()
        let info = RidgeCheckpointInfo(
            format: RidgeCheckpointLayout.formatTag, stateWidth: layout.stateWidth, actionWidth: layout.actionWidth,
            memory: layout.features.memory, knowledge: layout.features.knowledge, featureWidth: layout.width,
            blocks: layout.blocks.map { RidgeCheckpointInfo.Block(name: $0.name, offset: $0.offset, width: $0.width) },
            lambdaGrid: lambdaGrid, actionEncoder: actionEncoder,
            heads: keys.map { key in
                let h = heads[key]!
                return RidgeCheckpointInfo.Head(
                    tensor: "head.\(key)", target: key.target, input: key.crossModal ? "cross" : "same", lambda: h.lambda, rows: h.rows,
                    heldOutRows: h.heldOutRows, heldOutErrors: h.heldOutErrors)
            })
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(encoder.encode(info), to: folder.appendingPathComponent(RidgeCheckpointLayout.config))
            try SafeTensors.write(
                keys.map { (name: "head.\($0)", tensor: TensorData(floats: heads[$0]!.weights, shape: [layout.width, layout.stateWidth])) },
                metadata: ["format": RidgeCheckpointLayout.formatTag], to: folder.appendingPathComponent(RidgeCheckpointLayout.weights))
        } catch {
            throw WorldModelError.badCheckpoint(path: folder.path, reason: "cannot write: \(error)")
        }
    }

    /// Loads a model written by `save(to:)`, checking every head's tensor by name, shape and values.
    /// - Throws: `WorldModelError.badCheckpoint` naming the file and what does not fit.
    public static func load(from folder: URL) throws -> RidgeModel {
        let configURL = folder.appendingPathComponent(RidgeCheckpointLayout.config)
        let info: RidgeCheckpointInfo
        do {
            info = try JSONDecoder().decode(RidgeCheckpointInfo.self, from: Data(contentsOf: configURL))
        } catch {
            throw WorldModelError.badCheckpoint(path: configURL.path, reason: "cannot read the ridge config: \(error)")
        }
        func bad(_ reason: String) -> WorldModelError { .badCheckpoint(path: configURL.path, reason: reason) }
        guard info.format == RidgeCheckpointLayout.formatTag else { throw bad("format is '\(info.format)', expected '\(RidgeCheckpointLayout.formatTag)'") }
        guard info.stateWidth > 0, info.actionWidth > 0 else { throw bad("embedding_dim and action_dim must be positive") }
        let layout = RidgeFeatureLayout(
            stateWidth: info.stateWidth, actionWidth: info.actionWidth, features: RidgeFeatureSet(memory: info.memory, knowledge: info.knowledge))
        guard info.featureWidth == layout.width else { throw bad("feature_width \(info.featureWidth) does not match the blocks (\(layout.width))") }
        let weightsURL = folder.appendingPathComponent(RidgeCheckpointLayout.weights)
        guard FileManager.default.fileExists(atPath: weightsURL.path) else {
            throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "file not found")
        }
        let tensors = Dictionary(try SafeTensors.read(weightsURL).map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a })
        var heads: [RidgeHeadKey: RidgeHead] = [:]
        for h in info.heads {
            guard h.input == "same" || h.input == "cross" else { throw bad("head \(h.tensor): input must be same or cross, got \(h.input)") }
            let key = RidgeHeadKey(target: h.target, crossModal: h.input == "cross")
            guard h.tensor == "head.\(key)" else { throw bad("head \(h.tensor) should be named head.\(key)") }
            guard let t = tensors[h.tensor] else { throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "missing tensor \(h.tensor)") }
            guard t.shape == [layout.width, layout.stateWidth], t.dtype.isFloatingPoint else {
                throw WorldModelError.badCheckpoint(
                    path: weightsURL.path, reason: "tensor \(h.tensor) is \(t.dtype.rawValue) \(t.shape), ridge.json needs float \([layout.width, layout.stateWidth])")
            }
            let weights = t.floatValues()
            guard weights.allSatisfy(\.isFinite) else { throw WorldModelError.badCheckpoint(path: weightsURL.path, reason: "tensor \(h.tensor) has NaN or infinity") }
            heads[key] = RidgeHead(weights: weights, lambda: h.lambda, rows: h.rows, heldOutRows: h.heldOutRows, heldOutErrors: h.heldOutErrors)
        }
        guard !heads.isEmpty else { throw bad("no heads") }
        return RidgeModel(layout: layout, heads: heads, lambdaGrid: info.lambdaGrid, actionEncoder: info.actionEncoder)
    }
}
