// The sample builder's output read back with our own readers: same-scenario context, never the sample itself.
import Agent
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
}
