// End-to-end tests of `worldgpt inspect`, `convert` and `dataset check` (they run the built binary).
import Foundation
import TestSupport
import XCTest

final class FormatsCLITests: XCTestCase {
    func testInspectJSONMirrorsNestedStructure() throws {
        let result = try runWorldGPT(["inspect", "--json", Fixtures.url("torch/nested.pt").path])
        XCTAssertEqual(result.status, 0, result.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["name"] as? String, "worldgpt")
        XCTAssertEqual(json["step"] as? Int, 42)
        XCTAssertEqual(json["flag"] as? Bool, true)
        XCTAssertTrue(json["none"] is NSNull)
        // Keys keep the stored order.
        let keyOrder = ["name", "step", "lr", "flag", "none", "tensors", "pair", "inner"].map { "\"\($0)\":" }
        let positions = keyOrder.compactMap { result.stdout.range(of: $0)?.lowerBound }
        XCTAssertEqual(positions, positions.sorted())
        let pair = try XCTUnwrap(json["pair"] as? [Any])
        XCTAssertEqual(pair.count, 3)
        let half = try XCTUnwrap(pair[0] as? [String: Any])
        XCTAssertEqual(half["dtype"] as? String, "float16")
        XCTAssertEqual(half["shape"] as? [Int], [2, 2])
        XCTAssertEqual(try XCTUnwrap(half["sum"] as? Double), -0.87939453125, accuracy: 1e-12)
        XCTAssertEqual(half["head"] as? [Double], [-1.4814453125, 1.638671875, -0.67431640625, -0.3623046875])
        let shared = try XCTUnwrap((json["inner"] as? [String: Any])?["shared"] as? [[String: Any]])
        XCTAssertEqual((shared[1]["head"] as? [Double])?.count, 3)
        XCTAssertEqual((shared[0]["head"] as? [Double])?.count, 6)
    }

    func testInspectOtherFormatsAndRefusals() throws {
        let npy = try runWorldGPT(["inspect", "--json", Fixtures.url("minilm/embeddings.npy").path])
        XCTAssertEqual(npy.status, 0, npy.stderr)
        let t = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(npy.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(t["shape"] as? [Int], [10, 384])
        XCTAssertEqual((t["head"] as? [Double])?.count, 8)
        let tree = try runWorldGPT(["inspect", Fixtures.url("reflector/reflector_io.npz").path])
        XCTAssertEqual(tree.status, 0, tree.stderr)
        XCTAssertTrue(tree.stdout.contains("output: Tensor float32 [2, 4, 256]"), tree.stdout)
        let bad = try runWorldGPT(["inspect", Fixtures.url("torch/malicious.pt").path])
        XCTAssertNotEqual(bad.status, 0)
        XCTAssertTrue(bad.stderr.contains("forbidden global 'posix.system'"), bad.stderr)
        let truncated = try runWorldGPT(["inspect", Fixtures.url("torch/truncated.pt").path])
        XCTAssertNotEqual(truncated.status, 0)
        XCTAssertTrue(truncated.stderr.contains("truncated.pt"), truncated.stderr)
    }

    func testConvertKeepsValuesAcrossFormats() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let source = Fixtures.url("torch/nested.pt").path
        let pt = dir.url.appendingPathComponent("copy.pt").path
        XCTAssertEqual(try runWorldGPT(["convert", source, pt]).status, 0)
        // .pt → .pt keeps the whole structure: the inspection is identical.
        XCTAssertEqual(try runWorldGPT(["inspect", "--json", pt]).stdout, try runWorldGPT(["inspect", "--json", source]).stdout)
        let st = dir.url.appendingPathComponent("flat.safetensors").path
        let converted = try runWorldGPT(["convert", source, st])
        XCTAssertEqual(converted.status, 0, converted.stderr)
        XCTAssertTrue(converted.stdout.contains("wrote 6 tensor(s)"), converted.stdout)
        let flat = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(try runWorldGPT(["inspect", "--json", st]).stdout.utf8)) as? [String: Any])
        XCTAssertEqual(Set(flat.keys), ["tensors.0", "tensors.1", "pair.0", "inner.a", "inner.shared.0", "inner.shared.1"])
        let head = try XCTUnwrap((flat["inner.shared.1"] as? [String: Any])?["head"] as? [Double])
        for (a, e) in zip(head, [0.4245716631412506, -0.5016557574272156, 0.30682507157325745]) { XCTAssertEqual(a, e, accuracy: 1e-15) }
        XCTAssertEqual(head.count, 3)
        let npy = try runWorldGPT(["convert", source, dir.url.appendingPathComponent("x.npy").path])
        XCTAssertNotEqual(npy.status, 0)
        XCTAssertTrue(npy.stderr.contains(".npy holds one array, got 6"), npy.stderr)
    }

    func testDatasetCheckCountsAndProblems() throws {
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let root = dir.url.appendingPathComponent("subset")
        let fm = FileManager.default
        for state in ["state0", "state1"] {
            for (folder, file) in [("Train", "ski_\(state).mp4"), ("Train_pt", "ski_\(state).pt")] {
                let dst = root.appendingPathComponent("video/\(folder)/\(file)")
                try fm.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
                try fm.copyItem(at: Fixtures.url("worldgpt-demo/languagebind/skiing/video/\(state).\(folder == "Train" ? "mp4" : "pt")"), to: dst)
            }
        }
        let annotation = """
            [{"state0": {"video": "ski_state0.mp4", "audio": "", "image": "", "text": ""},
              "state1": {"video": "ski_state1.mp4", "audio": "", "image": "", "text": ""}, "action": {"text": "ski"}}]
            """
        try annotation.write(to: root.appendingPathComponent("train.json"), atomically: true, encoding: .utf8)
        let yaml = dir.url.appendingPathComponent("data.yaml")
        try "dataset_list:\n  - root: subset\n    annotaion_path: subset/train.json\n    modality: ['video']\n    weight: 1\n"
            .write(to: yaml, atomically: true, encoding: .utf8)
        let ok = try runWorldGPT(["dataset", "check", yaml.path, "--load"])
        XCTAssertEqual(ok.status, 0, ok.stdout + ok.stderr)
        XCTAssertTrue(ok.stdout.contains("subset/train.json: 1 samples"), ok.stdout)
        XCTAssertTrue(ok.stdout.contains("video: 2 files named, 2 complete"), ok.stdout)

        let broken = annotation.replacingOccurrences(of: "ski_state1.mp4", with: "../../etc/passwd")
            .replacingOccurrences(of: "\"ski\"}}]", with: "\"ski\"}}, {\"state0\": {\"video\": \"gone.mp4\"}, \"state1\": {}, \"action\": {\"text\": \"x\"}}]")
        try broken.write(to: root.appendingPathComponent("train.json"), atomically: true, encoding: .utf8)
        let bad = try runWorldGPT(["dataset", "check", yaml.path, "--json"])
        XCTAssertEqual(bad.status, 1, bad.stdout + bad.stderr)
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(bad.stdout.utf8)) as? [String: Any])
        XCTAssertEqual(json["ok"] as? Bool, false)
        let problems = try XCTUnwrap(json["problems"] as? [String])
        XCTAssertTrue(problems.contains { $0.contains("'../../etc/passwd'") && $0.contains("(sample 0)") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("gone.pt") && $0.contains("(sample 1)") }, "\(problems)")
        XCTAssertTrue(problems.contains { $0.contains("gone.mp4") && $0.contains("(sample 1)") }, "\(problems)")
        XCTAssertEqual(problems.count, 3, "\(problems)")
    }
}
