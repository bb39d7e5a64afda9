// Inside these tests `Embedding` is the vocabulary's vector (Tensor also exports a lookup layer of that name).
import Formats

typealias Embedding = Formats.Embedding
