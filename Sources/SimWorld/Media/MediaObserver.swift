// Media mode: render latent states to files, embed them with the runtime's encoders, and the clean twin for oracles.
import Encoders
import Foundation
import Formats
import Media

/// Observes states through real media: `MediaRenderer` draws them, `MediaFeatureEncoder` embeds
/// image/video/audio, and the hashed n-gram text encoder (at the world's dimension, so every modality
/// shares one width and the output does not depend on which weights a machine has) embeds captions.
struct MediaObserver: CleanObserver {
    let renderer: MediaRenderer
    let encoder: MediaFeatureEncoder
    let textEncoder: HashedNGramEncoder

    init(config: WorldConfig) {
        renderer = MediaRenderer(config: config)
        encoder = MediaFeatureEncoder(dimension: config.dimension, frameCount: config.videoFrames)
        textEncoder = HashedNGramEncoder(dim: config.dimension)
    }

    /// Predicted embeddings of `views`, rendered and encoded in memory on all cores. The encoders are not
    /// linear in the noise (log-mel statistics of an almost silent band are the noise's), so a noise-free
    /// rendering is a poor prediction of a noisy observation; each view is rendered with its own fresh
    /// noise draw (oracle stream), which the oracles' averaging over candidates then smooths.
    func clean(_ modality: Modality, views: [LatentView]) throws -> [Float] {
        let d = encoder.dimension
        let seed = renderer.config.seed
        let modalityIndex = Modality.allCases.firstIndex(of: modality)!
        let rows = try parallelRows(count: views.count) { i in
            var noise: SimRandom? = SimRandom(seed: seed, purpose: Purpose.oracle, 1_000_000 + modalityIndex, views[i].key)
            let v = views[i]
            switch modality {
            case .image: return encoder.embed(image: renderer.image(positions: v.positions, attributes: v.attributes, noise: &noise)).values
            case .video:
                return encoder.embed(videoFrames: renderer.videoFrames(positions: v.positions, attributes: v.attributes, noise: &noise)).values
            case .audio: return try encoder.embed(audio: renderer.audio(positions: v.positions, attributes: v.attributes, noise: &noise)).values
            case .text: return try textEmbedding(renderer.caption(positions: v.positions, variant: 0))
            }
        }
        var out = [Float]()
        out.reserveCapacity(views.count * d)
        for r in rows { out.append(contentsOf: r) }
        return out
    }

    /// The unit text embedding of `caption`.
    func textEmbedding(_ caption: String) throws -> [Float] {
        guard let values = try textEncoder.embed([caption]).first else { return [] }
        return Embedding(values).normalized().values
    }
}

/// Runs `body` for 0..<count on all cores and returns the results in order; the first error is rethrown.
func parallelRows(count: Int, _ body: @escaping @Sendable (Int) throws -> [Float]) throws -> [[Float]] {
    let results = RowResults(count: count)
    let failure = FirstError()
    let workers = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 8))
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var i = worker
        while i < count, !failure.isSet {
            do { results.set(i, try body(i)) } catch { failure.set(error) }
            i += workers
        }
    }
    if let error = failure.error { throw error }
    return results.values
}

/// Results written by index from several threads.
final class RowResults: @unchecked Sendable {
    private let lock = NSLock()
    private var rows: [[Float]]
    init(count: Int) { rows = [[Float]](repeating: [], count: count) }
    func set(_ i: Int, _ row: [Float]) { lock.lock(); rows[i] = row; lock.unlock() }
    var values: [[Float]] { lock.lock(); defer { lock.unlock() }; return rows }
}

extension WorldGenerator {
    /// Media mode: renders every observation (with noise) to `<root>/<modality>/Train/<name>`, then embeds
    /// each file by reading it back with the runtime's readers and encoders.
    /// - Returns: observed embeddings per modality and the number of media files written.
    func renderAndEncodeMedia(episodes: [SimEpisode], names: @escaping @Sendable (Modality, Int) -> String, root: URL,
                              progress: Progress?) throws -> (observations: [Modality: [Float]], files: Int) {
        let observer = MediaObserver(config: config)
        let config = self.config
        let perEpisode = config.steps + 1
        let total = episodes.count * perEpisode
        var observations: [Modality: [Float]] = [:]
        for (mi, modality) in config.modalities.enumerated() {
            let modalityIndex = Modality.allCases.firstIndex(of: modality)!
            let folder = root.appendingPathComponent(modality.rawValue).appendingPathComponent(WorldNetLayout.mediaFolder)
            let rows = try parallelRows(count: total) { row in
                let episode = episodes[row / perEpisode]
                let positions = episode.states[row % perEpisode].positions
                let attributes = episode.staticAttributes
                var noise: SimRandom? = SimRandom(seed: config.seed, purpose: Purpose.media, modalityIndex, row)
                let url = folder.appendingPathComponent(names(modality, row))
                do {
                    switch modality {
                    case .image:
                        try ImageWriter.writeJPEG(observer.renderer.image(positions: positions, attributes: attributes, noise: &noise), quality: 90, to: url)
                        return try observer.encoder.embed(url, as: .image).values
                    case .video:
                        let writer = try VideoWriter(url: url, width: config.frameSize, height: config.frameSize, fps: config.videoFrames,
                                                     codec: .mpeg4)
                        for frame in observer.renderer.videoFrames(positions: positions, attributes: attributes, noise: &noise) {
                            try writer.append(frame)
                        }
                        try writer.finish()
                        return try observer.encoder.embed(url, as: .video).values
                    case .audio:
                        let clip = observer.renderer.audio(positions: positions, attributes: attributes, noise: &noise)
                        try AudioWriter.writeWAV(samples: clip.samples, sampleRate: clip.sampleRate, channels: 1, to: url)
                        return try observer.encoder.embed(url, as: .audio).values
                    case .text:
                        let caption = observer.renderer.caption(positions: positions, variant: noise!.index(3))
                        try writeFileUnsynced(Array((caption + "\n").utf8), to: url.path)
                        let text = try String(contentsOf: url, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
                        return try observer.textEmbedding(text)
                    }
                } catch let error as SimWorldError {
                    throw error
                } catch {
                    throw SimWorldError.mediaFailed(path: url.path, reason: "\(error)")
                }
            }
            var matrix = [Float]()
            matrix.reserveCapacity(total * config.dimension)
            for r in rows { matrix.append(contentsOf: r) }
            observations[modality] = matrix
            progress?("media", Double(mi + 1) / Double(config.modalities.count))
        }
        return (observations, total * config.modalities.count)
    }
}
