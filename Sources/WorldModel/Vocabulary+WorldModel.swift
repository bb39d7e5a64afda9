// Disambiguates vocabulary names inside this module: `Embedding` is the Formats vector, not Tensor's lookup layer.
import Formats

/// Inside WorldModel, `Embedding` always means the shared vocabulary's embedding vector.
typealias Embedding = Formats.Embedding
