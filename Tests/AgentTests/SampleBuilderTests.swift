// The sample builder's output read back with our own readers: same-scenario context, never the sample itself.
@testable import Agent
import ContextReflector
import Formats
import TestSupport
import XCTest

final class SampleBuilderTests: XCTestCase {
    func transitions(count: Int, seed: UInt64) -> [Transition] {
        var rng = SeededGenerator(seed: seed)
        func vector(_ n: Int) -> Embedding { Embedding((0..<n).map { _ in rng.nextGaussian() }).normalized() }
        return (0..<count).map { i in
            let scenario = "s\(i % 2)", episode = "e\(i % 4)", step = i / 4
            return Transition(
                state0: State([.video: vector(6), .audio: vector(6)]), action: Action(text: "a\(i % 3)", embedding: vector(3)),
                state1: State([.video: vector(6)]),
                provenance: Provenance(dataset: "t", scenario: scenario, episode: episode, step: step, sampleID: "id\(i)"))
        }
    }

    func testBuiltSamplesReadBackWithSameScenarioContextAndNoLeakage() throws {
        let data = transitions(count: 24, seed: 5)
        // The knowledge base contains the samples themselves: the leakage guard must drop each one's own entry.
        let builder = try SampleBuilder(knowledge: try TransitionContextSource(transitions: data), filter: ReflectorFilterConfig(threshold: -1), retrievalK: 8, history: 2...3)
        let samples = try builder.build(data)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        try SampleBuilder.write(samples, to: dir.url)

        let entries = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("annotations.json"))) as? [[String: Any]])
        XCTAssertEqual(entries.count, 24)
        for (i, entry) in entries.enumerated() {
            let context = try XCTUnwrap(entry["context"] as? [[String: Any]])
            XCTAssertFalse(context.isEmpty)
            for item in context {
                XCTAssertEqual(item["scenario"] as? String, data[i].provenance.scenario, "context from another scenario")
                XCTAssertNotEqual(item["sample_id"] as? String, data[i].provenance.sampleID, "the sample leaked into its own context")
            }
            let history = try XCTUnwrap(entry["history"] as? [String])
            XCTAssertEqual(history.count, min(data[i].provenance.step!, history.count))
            XCTAssertTrue(history.count <= 3)
            if data[i].provenance.step! >= 2 { XCTAssertGreaterThanOrEqual(history.count, 2) }
            // History is the previous steps of the same episode, most recent first.
            for (k, id) in history.enumerated() { XCTAssertEqual(id, "id\(i - 4 * (k + 1))") }

            let stem = try XCTUnwrap(entry["tensors"] as? String)
            let pt = try TorchFile.load(dir.url.appendingPathComponent("tensors/\(stem).pt"))
            let st = try SafeTensors.read(dir.url.appendingPathComponent("tensors/\(stem).safetensors"))
            guard case .dict(let pairs) = pt else { return XCTFail("not a dict") }
            let ptTensors = Dictionary(uniqueKeysWithValues: pairs.compactMap { pair -> (String, TensorData)? in
                guard case .string(let k) = pair.key, case .tensor(let t, _, _) = pair.value else { return nil }
                return (k, t)
            })
            XCTAssertEqual(ptTensors.count, st.count)
            for (name, tensor) in st { XCTAssertEqual(ptTensors[name], tensor, name) }
            XCTAssertEqual(ptTensors["context_state0"]?.shape, [context.count, 6])
            XCTAssertEqual(ptTensors["history_action"]?.shape, [history.count, 3])
            // The averaged state0 is the mean of video and audio.
            let expected = data[i].state0.averaged()!.values
            XCTAssertEqual(ptTensors["state0"]?.floatValues(), expected)
        }
    }

    func testBuildIsDeterministic() throws {
        let data = transitions(count: 12, seed: 9)
        let a = try SampleBuilder(knowledge: try TransitionContextSource(transitions: data), seed: 3).build(data)
        let b = try SampleBuilder(knowledge: try TransitionContextSource(transitions: data), seed: 3).build(data)
        XCTAssertEqual(a.map { $0.context.map(\.id) }, b.map { $0.context.map(\.id) })
        XCTAssertEqual(a.map { $0.history.map(\.provenance.sampleID) }, b.map { $0.history.map(\.provenance.sampleID) })
    }

    func testStreamedPackEqualsThePackAssembledInMemory() throws {
        // Mixed modalities (absent rows are zeros, masks 0), samples with and without history, two parts: the streamed
        // writer must give the bytes of the simple in-memory twin, and read back as the source embeddings.
        let data = transitions(count: 40, seed: 13)
        let builder = try SampleBuilder(knowledge: try TransitionContextSource(transitions: data), filter: ReflectorFilterConfig(threshold: -1), retrievalK: 8, history: 0...3)
        let samples = try builder.build(data)
        XCTAssertTrue(samples.contains { $0.history.isEmpty } && samples.contains { !$0.history.isEmpty })
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        for (streaming, folder) in [(true, "streamed"), (false, "memory")] {
            let out = dir.url.appendingPathComponent(folder)
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            try SampleBuilder.writePack(Array(samples[0..<16]), part: 0, to: out, streaming: streaming)
            try SampleBuilder.writePack(Array(samples[16...]), part: 1, to: out, streaming: streaming)
        }
        for part in ["part-00000", "part-00001"] {
            let streamed = try Data(contentsOf: dir.url.appendingPathComponent("streamed/\(part).safetensors"))
            XCTAssertEqual(streamed, try Data(contentsOf: dir.url.appendingPathComponent("memory/\(part).safetensors")), part)
            XCTAssertEqual(try Data(contentsOf: dir.url.appendingPathComponent("streamed/\(part).json")),
                           try Data(contentsOf: dir.url.appendingPathComponent("memory/\(part).json")), part)
        }
        // Independent of both writers: the arrays read back equal the embeddings they were made from.
        let arrays = Dictionary(uniqueKeysWithValues: try SafeTensors.read(dir.url.appendingPathComponent("streamed/part-00001.safetensors")).map { ($0.name, $0.tensor) })
        let part = Array(samples[16...])
        let state1 = try XCTUnwrap(arrays["state1"]), mask = try XCTUnwrap(arrays["state1_mask"])
        XCTAssertEqual(state1.shape, [24, 4, 6])
        let values = state1.floatValues()
        for (r, sample) in part.enumerated() {
            for (j, modality) in Modality.allCases.enumerated() {
                let row = Array(values[((r * 4 + j) * 6)..<((r * 4 + j + 1) * 6)])
                XCTAssertEqual(row, sample.transition.state1[modality]?.values ?? [Float](repeating: 0, count: 6), "sample \(r) \(modality)")
                XCTAssertEqual(mask.bytes[r * 4 + j], sample.transition.state1[modality] == nil ? 0 : 1)
            }
        }
        let offsets = try XCTUnwrap(arrays["history_offsets"]).bytes.withUnsafeBytes { Array($0.bindMemory(to: Int64.self)) }
        XCTAssertEqual(offsets, part.reduce(into: [Int64(0)]) { $0.append($0.last! + Int64($1.history.count)) })
        let historyAction = try XCTUnwrap(arrays["history_action"]).floatValues()
        XCTAssertEqual(historyAction, part.flatMap { $0.history.flatMap { $0.action.embedding!.values } })
    }

    func testStreamedPackRefusesAWrongWidthAndLeavesNoFile() throws {
        var data = transitions(count: 12, seed: 4)
        data[7].state1 = State([.video: Embedding([Float](repeating: 0.5, count: 5))])
        let samples = try SampleBuilder(knowledge: try TransitionContextSource(transitions: data), history: 0...0).build(data)
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        var messages = [String]()
        for streaming in [true, false] {
            XCTAssertThrowsError(try SampleBuilder.writePack(samples, part: 0, to: dir.url, streaming: streaming)) { messages.append("\($0)") }
        }
        XCTAssertEqual(messages.count, 2)
        XCTAssertEqual(messages.first, messages.last, "the two writers refuse the input differently")
        XCTAssertTrue(messages[0].contains("state1 video: expected dimension 6, got 5"), messages[0])
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.url.path), [], "a refused part left a file")
    }
}
