// What turns latent states into embeddings: the synthetic maps, or rendering + the runtime's media encoders.
import Foundation
import Formats

/// One latent state to observe: object positions and the episode's static attributes.
public struct LatentView: Sendable {
    /// Positions `[x0, y0, ...]`.
    public var positions: [Double]
    /// Static attributes of the episode.
    public var attributes: [Double]

    /// A key naming the view (for per-view random streams).
    public var key: Int

    /// A view.
    public init(positions: [Double], attributes: [Double], key: Int = 0) {
        self.positions = positions
        self.attributes = attributes
        self.key = key
    }
}

/// Maps latent states to clean (noise-free) unit embeddings, per modality; the oracles use it.
protocol CleanObserver: Sendable {
    /// Clean embeddings of `views` for `modality`, row-major `views.count × dimension`.
    func clean(_ modality: Modality, views: [LatentView]) throws -> [Float]
}

/// The synthetic observer: one `ObservationMap` per modality.
struct SyntheticObserver: CleanObserver {
    let maps: [ObservationMap]

    func clean(_ modality: Modality, views: [LatentView]) throws -> [Float] {
        let map = maps.first { $0.modality == modality }!
        var features = [Float](repeating: 0, count: views.count * map.inputSize)
        for (r, v) in views.enumerated() {
            map.features(positions: v.positions, staticAttributes: v.attributes, into: &features, offset: r * map.inputSize)
        }
        return map.cleanEmbeddings(features: features, count: views.count)
    }
}
