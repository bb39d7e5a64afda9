// Tests of loading/saving the learned reflector: the recorded PyTorch outputs, other depths/widths/dtypes written
// with our .pt writer and checked against the float64 oracle, prefixes, and mismatches reported by name.
import ContextReflector
import Formats
import Foundation
import Tensor
import TestSupport
import XCTest

final class ReflectorCheckpointTests: XCTestCase {
    /// The fixture reflector, loaded once (building an 11M-parameter store is slow in debug builds).
    nonisolated(unsafe) static var fixture: LearnedReflector?

    func fixtureReflector() throws -> LearnedReflector {
        if let r = ReflectorCheckpointTests.fixture { return r }
        let r = try LearnedReflector.load(contentsOf: Fixtures.url("reflector/reflector.pt"))
        ReflectorCheckpointTests.fixture = r
        return r
    }

    // MARK: the recorded PyTorch outputs

    func testFixtureOutputsAndIntermediatesMatchPyTorch() throws {
        let reflector = try fixtureReflector()
        XCTAssertEqual(reflector.config.layerCount, 1)
        XCTAssertEqual(reflector.config.outputWidth, 256)
        XCTAssertEqual(reflector.config.heads, 12)
        XCTAssertEqual(reflector.config.queryTokenCount, 4)
        XCTAssertEqual(reflector.config.crossAttention, [true])
        let arrays = Dictionary(uniqueKeysWithValues: try NPZ.read(Fixtures.url("reflector/reflector_io.npz")).map { ($0.name, $0.tensor) })
        func tensor(_ name: String) throws -> Tensor {
            let t = try XCTUnwrap(arrays[name], name)
            return Tensor(shape: t.shape, data: t.floatValues())
        }
        reflector.recordsIntermediates = true
        let out = try reflector.forward(ReflectorInput(state0: try tensor("state0"), action: try tensor("action"), context: try tensor("context")))
        XCTAssertEqual(out.shape, [2, 4, 256])
        let expected = try tensor("output")
        let diff = zip(out.data, expected.data).map { abs($0 - $1) }.max() ?? .infinity
        print("reflector fixture: max |ours - torch| = \(diff)")
        XCTAssertLessThanOrEqual(diff, 2e-5, "fixture tolerance max_abs_diff_float32")
        for (name, value) in reflector.intermediates {
            let want = try tensor("debug_" + name)
            XCTAssertEqual(value.count, want.count, name)
            let d = zip(value.data, want.data).map { abs($0 - $1) }.max() ?? .infinity
            XCTAssertLessThanOrEqual(d, 2e-5, "intermediate \(name)")
        }
        XCTAssertEqual(reflector.intermediates.count, 7)

        // Two triplets along the sequence axis.
        reflector.recordsIntermediates = false
        let outK2 = try reflector.forward(ReflectorInput(state0: try tensor("state0"), action: try tensor("action"), context: try tensor("context_k2")))
        let diffK2 = zip(outK2.data, try tensor("output_k2").data).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(diffK2, 2e-5)
    }

    func testOracleMatchesTheRecordedFloat64Output() throws {
        // Checks the test oracle itself against PyTorch's float64 run (same fp16-rounded weights).
        let reflector = try fixtureReflector()
        let arrays = Dictionary(uniqueKeysWithValues: try NPZ.read(Fixtures.url("reflector/reflector_io.npz")).map { ($0.name, $0.tensor) })
        let input = ReflectorInput(
            state0: Tensor(shape: [2, 768], data: try XCTUnwrap(arrays["state0"]).floatValues()),
            action: Tensor(shape: [2, 768], data: try XCTUnwrap(arrays["action"]).floatValues()),
            context: Tensor(shape: [2, 3, 768], data: try XCTUnwrap(arrays["context"]).floatValues()))
        let mine = referenceTokens(reference(reflector), input, layers: 1)
        let torch64 = try XCTUnwrap(arrays["output_float64"]).doubleValues()
        let diff = zip(mine, torch64).map { abs($0 - $1) }.max() ?? .infinity
        XCTAssertLessThanOrEqual(diff, 1e-9)
    }

    // MARK: other depths, widths and dtypes, written with our own .pt writer

    func testOtherDepthsWidthsAndBFloat16CheckpointsMatchTheOracle() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        // 3 layers, cross-attention in layers 0 and 2 (cross_attention_freq = 2), 128 wide (2 heads of 64), out 40.
        let config = LearnedReflectorConfig(
            inputWidth: 64, contextWidth: 32, encoderWidth: 48, hiddenWidth: 128, outputWidth: 40, queryTokenCount: 4, layerCount: 3,
            crossAttentionEvery: 2, heads: 2, intermediateWidth: 256)
        let source = try LearnedReflector(config: config, seed: 5)
        randomize(source, seed: 6, scale: 0.2)
        var rng = SeededGenerator(seed: 7)
        let input = ReflectorInput(state0: random([2, 32], &rng), action: random([2, 32], &rng), context: random([2, 5, 32], &rng))
        for dtype in [DType.bfloat16, .float16, .float32] {
            let url = dir.url.appendingPathComponent("r-\(dtype.rawValue).pt")
            try source.save(to: url, dtype: dtype)
            let loaded = try LearnedReflector.load(contentsOf: url)
            XCTAssertEqual(loaded.config, config, "\(dtype)")
            // The oracle runs on the rounded weights as read back, in float64.
            let rounded = source.checkpointTensors(dtype: dtype)
            var weights: [String: [Double]] = [:], shapes: [String: [Int]] = [:]
            for (name, t) in rounded {
                weights[name] = t.doubleValues()
                shapes[name] = t.shape
            }
            let oracle = referenceTokens(ReferenceReflector(weights: weights, shapes: shapes, heads: 2), input, layers: 3)
            let out = try loaded.forward(input)
            XCTAssertEqual(out.shape, [2, 4, 40])
            let diff = maxAbsDifference(out.data, oracle)
            XCTAssertLessThanOrEqual(diff, 1e-4, "\(dtype)")
            if dtype == .bfloat16 {
                // bf16 really rounded the weights: the full-precision model differs from the bf16 one.
                XCTAssertGreaterThan(maxAbsDifference(try source.forward(input).data, oracle), 1e-3)
            }
        }
    }

    func testWholeAgentCheckpointUsesTheReflectorPrefix() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let r = try LearnedReflector(config: tinyConfig, seed: 1)
        randomize(r, seed: 2)
        let items = [("llama_proj.weight", TorchValue.tensor(TensorData(floats: [1, 2], shape: [2])))]
            + r.checkpointTensors().map { ("reflector.\($0.name)", TorchValue.tensor($0.tensor, isParameter: true, requiresGrad: true)) }
        let url = dir.url.appendingPathComponent("agent.pt")
        try TorchFile.save(.stringDict(items), to: url)
        let loaded = try LearnedReflector.load(contentsOf: url, heads: 2)
        XCTAssertEqual(loaded.store.values, r.store.values)
    }

    func testCheckpointMismatchesAreReportedByName() throws {
        let r = try LearnedReflector(config: tinyConfig, seed: 1)
        var tensors = r.checkpointTensors()
        tensors.removeAll { $0.name == "Qformer.bert.encoder.layer.1.output_query.dense.bias" }
        if let i = tensors.firstIndex(where: { $0.name == "fc2.bias" }) { tensors[i].tensor = TensorData(floats: [0, 0, 0], shape: [3]) }
        tensors.append(("Qformer.cls.predictions.bias", TensorData(floats: [0], shape: [1])))
        XCTAssertThrowsError(try LearnedReflector(checkpoint: tensors, heads: 2, file: "x.pt")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.hasPrefix("reflector checkpoint x.pt:"), text)
            XCTAssertTrue(text.contains("missing tensor Qformer.bert.encoder.layer.1.output_query.dense.bias (expected shape [8])"), text)
            XCTAssertTrue(text.contains("fc2.bias has shape [3], expected [10]"), text)
            XCTAssertTrue(text.contains("unexpected tensor Qformer.cls.predictions.bias [1]"), text)
        }
        // A hidden width that is not a multiple of 64 needs an explicit head count.
        XCTAssertThrowsError(try LearnedReflector(checkpoint: r.checkpointTensors(), file: "x.pt")) { error in
            XCTAssertTrue("\(error)".contains("give the head count"), "\(error)")
        }
        var nan = r.checkpointTensors()
        nan[0].tensor = TensorData(floats: [Float](repeating: .nan, count: nan[0].tensor.count), shape: nan[0].tensor.shape)
        XCTAssertThrowsError(try LearnedReflector(checkpoint: nan, heads: 2, file: "x.pt")) { error in
            XCTAssertTrue("\(error)".contains("query_tokens holds NaN or infinite values"), "\(error)")
        }
    }

}
