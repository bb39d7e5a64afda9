// Seed material several targets share: one tensor of every dtype, and an .npz exactly as numpy writes it compressed.
import Formats
import Foundation

public enum Seeds {
    /// One small tensor of every dtype, with deterministic bytes (shapes include a scalar and an empty tensor).
    public static func tensors() -> [(name: String, tensor: TensorData)] {
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func nextByte() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        var out: [(name: String, tensor: TensorData)] = []
        for (i, dtype) in DType.allCases.enumerated() {
            let shape = [[2, 3], [5], [], [0, 4], [1, 2, 3]][i % 5]
            var bytes = (0..<(TensorData.elementCount(shape) * dtype.size)).map { _ in nextByte() }
            if dtype == .bool { bytes = bytes.map { $0 & 1 } }
            out.append(("t\(i).\(dtype.rawValue)", TensorData(dtype: dtype, shape: shape, bytes: bytes)))
        }
        return out
    }

    /// `numpy.savez_compressed(x=..., y=..., z=...)`: ZIP64 extras and DEFLATE members (as in FormatsFuzzTests).
    public static let numpyCompressedNPZ = Data(base64Encoded: """
        UEsDBC0AAAAIAAAAIQBQtE2E//////////8FABQAeC5ucHkBABAAmAAAAAAAAABVAAAAAAAAAJvsF+obEMnIUMZQrZ6SWpxcpG6loG6TaaKuo6Cell9UUpSYF59flJIKEndLzClOBYoXZyQWpAL5GkY6CsaaOgq1CmQDLgYgYARiJiBmBmIWIGYFYgBQSwMELQAAAAgAAAAhAGnNP3H//////////wUAFAB5Lm5weQEAEACQAAAAAAAAAE0AAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpdmoa6joJ6WX1RSlJgXn1+UkgoSd0vMKU4FihdnJBakAvkaRjqaOgq1ChQALvsHDGCw/wuEBgBQSwMELQAAAAgAAAAhAL6nJLX//////////wUAFAB6Lm5weQEAEACMAAAAAAAAAEsAAAAAAAAAm+wX6hsQychQxlCtnpJanFykbqWgbpNmpK6joJ6WX1RSlJgXn1+UkgoSDykqTQUKF2ckFqQCuRrGOgpGmjoKtQrkAy4GGzB0AEEAUEsBAi0DLQAAAAgAAAAhAFC0TYRVAAAAmAAAAAUAAAAAAAAAAAAAAIABAAAAAHgubnB5UEsBAi0DLQAAAAgAAAAhAGnNP3FNAAAAkAAAAAUAAAAAAAAAAAAAAIABjAAAAHkubnB5UEsBAi0DLQAAAAgAAAAhAL6nJLVLAAAAjAAAAAUAAAAAAAAAAAAAAIABEAEAAHoubnB5UEsFBgAAAAADAAMAmQAAAJIBAAAAAA==
        """, options: .ignoreUnknownCharacters)!
}
