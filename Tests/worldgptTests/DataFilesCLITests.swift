// A user's own files as they are: a world whose YAMLs are named dataset_train.yaml, dataset_kb.yaml and
// dataset_sequences.yaml works with every command (no sibling `<split>.yaml` is guessed), and the ridge baseline
// trains, saves, loads and joins the ablation through the built binary.
import Foundation
import TestSupport
import XCTest

final class DataFilesCLITests: XCTestCase {
    nonisolated(unsafe) static var world: TemporaryDirectory?  // set once, tests of this class run serially

    private let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]

    /// A small SimWorld (2 scenarios × 20 episodes × 3 steps, 32-d, two modalities) whose split YAMLs are renamed to
    /// `dataset_<split>.yaml`; the folder keeps no `train.yaml`, `kb.yaml`, `test.yaml` or `sequences.yaml`.
    private func renamedWorld() throws -> URL {
        if let w = Self.world { return w.url.appendingPathComponent("world") }
        let dir = try TemporaryDirectory(prefix: "data-files-cli")
        let config = dir.url.appendingPathComponent("world.yaml")
        try "scenarios: 2\nepisodes: 20\nsteps: 3\ndimension: 32\nmodalities: [image, video]\noracle_samples: 2\n"
            .write(to: config, atomically: true, encoding: .utf8)
        let world = dir.url.appendingPathComponent("world")
        let r = try runWorldGPT(["simworld", "generate", "--config", config.path, "--out", world.path, "--seed", "3", "--quiet"])
        XCTAssertEqual(r.status, 0, r.stderr)
        for split in ["train", "kb", "test", "sequences"] {
            try FileManager.default.moveItem(
                at: world.appendingPathComponent("\(split).yaml"), to: world.appendingPathComponent("dataset_\(split).yaml"))
        }
        Self.world = dir
        return world
    }

    override class func tearDown() { world?.remove() }

    func testEveryCommandTakesTheYAMLFileItNames() throws {
        let world = try renamedWorld()
        func file(_ split: String) -> String { world.appendingPathComponent("dataset_\(split).yaml").path }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }

        // eval and rollout read the named file, whatever split the command would default to for a folder.
        let eval = try runWorldGPT(["eval", "--model", "identity", "--data", file("test")] + encoder)
        XCTAssertEqual(eval.status, 0, eval.stderr)
        XCTAssertTrue(eval.stdout.contains("dataset_test.yaml"), eval.stdout)
        let rollout = try runWorldGPT(["rollout", "--model", "identity", "--data", file("sequences"), "--episodes", "1"] + encoder)
        XCTAssertEqual(rollout.status, 0, rollout.stderr)
        XCTAssertTrue(rollout.stdout.contains("1 episode(s), 3 steps"), rollout.stdout)

        // A split a file does not hold: the error names the section looked for and the file, and suggests the file itself.
        let section = try runWorldGPT(["eval", "--model", "identity", "--data", file("train"), "--split", "sequences"] + encoder)
        XCTAssertNotEqual(section.status, 0)
        XCTAssertTrue(section.stderr.contains("section 'sequences:'") && section.stderr.contains("dataset_train.yaml"), section.stderr)
        // A folder without the split's file: the error names the path looked for.
        let folder = try runWorldGPT(["eval", "--model", "identity", "--data", world.path] + encoder)
        XCTAssertNotEqual(folder.status, 0)
        XCTAssertTrue(folder.stderr.contains(world.appendingPathComponent("test.yaml").path), folder.stderr)
        // knn with a file and no --kb: says which option to give and what it would have looked for in a folder.
        let knn = try runWorldGPT(["eval", "--model", "knn", "--data", file("test")] + encoder)
        XCTAssertNotEqual(knn.status, 0)
        XCTAssertTrue(knn.stderr.contains("--kb FILE") && knn.stderr.contains("kb.yaml"), knn.stderr)
        let knnFile = try runWorldGPT(["eval", "--model", "knn", "--data", file("test"), "--kb", file("kb")] + encoder)
        XCTAssertEqual(knnFile.status, 0, knnFile.stderr)

        // The ablation with every split given by its own option: the model rows and all four ridge rows.
        let report = dir.url.appendingPathComponent("report")
        let ablation = try runWorldGPT(
            ["eval", "--ablation", "--model", "identity", "--data", file("test"), "--sequences", file("sequences"), "--kb", file("kb"),
             "--train", file("train"), "--episodes", "4", "--steps", "3", "--report-dir", report.path] + encoder)
        XCTAssertEqual(ablation.status, 0, ablation.stderr)
        for row in ["identity", "base", "+memory", "ridge", "ridge+memory", "ridge+knowledge", "ridge+all"] {
            XCTAssertTrue(ablation.stdout.split(separator: "\n").contains { $0.hasPrefix(row + " ") }, "row \(row): \(ablation.stdout)")
        }
        XCTAssertTrue(ablation.stdout.contains("4 episodes of \(file("sequences"))"), ablation.stdout)
        let csv = try String(contentsOf: report.appendingPathComponent("ablation.csv"), encoding: .utf8)
        XCTAssertTrue(csv.contains("\nridge+all,3,mean,"), csv)
        // Without --train the ridge rows are left out, saying what to give and what was looked for.
        let noTrain = try runWorldGPT(
            ["eval", "--ablation", "--model", "identity", "--data", file("sequences"), "--episodes", "2", "--steps", "2",
             "--report-dir", report.path] + encoder)
        XCTAssertEqual(noTrain.status, 0, noTrain.stderr)
        XCTAssertTrue(noTrain.stderr.contains("give --train FILE") && noTrain.stderr.contains("train.yaml"), noTrain.stderr)
        XCTAssertFalse(noTrain.stdout.contains("ridge"), noTrain.stdout)
    }

    func testTrainRidgeWritesAFolderThatEvalAndRolloutLoad() throws {
        let world = try renamedWorld()
        func file(_ split: String) -> String { world.appendingPathComponent("dataset_\(split).yaml").path }
        let dir = try TemporaryDirectory()
        defer { dir.remove() }
        let out = dir.url.appendingPathComponent("ridge")
        // --knowledge with a file and no --kb: names the option.
        let missing = try runWorldGPT(["train-ridge", "--data", file("train"), "--knowledge", "--out", out.path] + encoder)
        XCTAssertNotEqual(missing.status, 0)
        XCTAssertTrue(missing.stderr.contains("--kb FILE"), missing.stderr)

        let train = try runWorldGPT(["train-ridge", "--data", file("train"), "--memory", "--knowledge", "--kb", file("kb"), "--out", out.path] + encoder)
        XCTAssertEqual(train.status, 0, train.stderr)
        XCTAssertTrue(train.stdout.contains("ridge+all on"), train.stdout)
        for name in ["ridge.json", "ridge.safetensors"] { XCTAssertTrue(FileManager.default.fileExists(atPath: out.appendingPathComponent(name).path), name) }
        // The checkpoint's tensors are plain safetensors (inspect reads them).
        let inspect = try runWorldGPT(["inspect", out.appendingPathComponent("ridge.safetensors").path])
        XCTAssertEqual(inspect.status, 0, inspect.stderr)
        XCTAssertTrue(inspect.stdout.contains("head.image.same"), inspect.stdout)

        // eval: the folder's model (its recorded encoder) beats identity on the unimodal modes of the test file.
        func unimodalMean(_ stdout: String) -> Double? {
            let rows = stdout.split(separator: "\n").filter { $0.hasPrefix("(image) - (image)") || $0.hasPrefix("(video) - (video)") }
            let values = rows.compactMap { $0.split(separator: " ").compactMap { Double($0) }.first }
            return values.count == 2 ? values.reduce(0, +) / 2 : nil
        }
        let ridge = try runWorldGPT(["eval", "--model", out.path, "--data", file("test"), "--memory", "3", "--action-cache", "none"])
        XCTAssertEqual(ridge.status, 0, ridge.stderr)
        let identity = try runWorldGPT(["eval", "--model", "identity", "--data", file("test")] + encoder)
        let ridgeScore = try XCTUnwrap(unimodalMean(ridge.stdout), ridge.stdout)
        let identityScore = try XCTUnwrap(unimodalMean(identity.stdout), identity.stdout)
        XCTAssertGreaterThan(ridgeScore, identityScore)
        // rollout runs the same folder with memory and knowledge through the runtime.
        let rollout = try runWorldGPT(["rollout", "--model", out.path, "--kb", file("kb"), "--data", file("sequences"), "--episodes", "2", "--action-cache", "none"])
        XCTAssertEqual(rollout.status, 0, rollout.stderr)
        XCTAssertTrue(rollout.stdout.contains("mean cosine"), rollout.stdout)
        // eval --model ridge fits one now, on --train.
        let fitted = try runWorldGPT(["eval", "--model", "ridge", "--data", file("test"), "--train", file("train")] + encoder)
        XCTAssertEqual(fitted.status, 0, fitted.stderr)
        XCTAssertGreaterThan(try XCTUnwrap(unimodalMean(fitted.stdout), fitted.stdout), identityScore)
    }
}
