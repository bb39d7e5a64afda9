// Tests of the on-disk world: WorldNet annotation JSON, .pt files read back, byte-identical output per seed.
import Formats
import TestSupport
import XCTest

@testable import SimWorld

final class WriterTests: XCTestCase {
    func smallConfig(seed: UInt64 = 3) -> WorldConfig {
        var config = WorldConfig()
        config.scenarios = 2
        config.episodes = 4
        config.steps = 3
        config.seed = seed
        config.oracleSamples = 2
        return config
    }

    func testSameSeedWritesByteIdenticalFilesAndOtherSeedsDiffer() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-writer")
        defer { dir.remove() }
        let a = dir.url.appendingPathComponent("a"), b = dir.url.appendingPathComponent("b"), c = dir.url.appendingPathComponent("c")
        try WorldGenerator(smallConfig()).generate(to: a)
        try WorldGenerator(smallConfig()).generate(to: b)
        try WorldGenerator(smallConfig(seed: 4)).generate(to: c)
        let sa = try fileSnapshot(a), sb = try fileSnapshot(b), sc = try fileSnapshot(c)
        // 2 scenarios × 4 episodes × 4 observations × 4 modalities, 4 annotation files, 4 YAMLs, world.json.
        XCTAssertEqual(sa.count, 128 + 4 + 4 + 1)
        XCTAssertEqual(sa, sb)
        XCTAssertEqual(Set(sa.keys), Set(sc.keys))
        XCTAssertNotEqual(sa["/image/Train_pt/s00-e0000-t0.pt"], sc["/image/Train_pt/s00-e0000-t0.pt"])
        XCTAssertNotEqual(sa["/world.json"], sc["/world.json"])
        XCTAssertNil(sa.keys.first { $0.contains(".template") || $0.contains(".check") }, "no scratch files left")
    }

    func testEmbeddingFilesEqualTorchFileSaveAndReadBack() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-pt")
        defer { dir.remove() }
        let summary = try WorldGenerator(smallConfig()).generate(to: dir.url)
        let world = summary.world
        XCTAssertEqual(summary.embeddingFiles, world.observationCount * 4)
        for (modality, row) in [(Modality.image, 0), (.video, 5), (.audio, 17), (.text, world.observationCount - 1)] {
            let name = world.mediaName(modality, row: row)
            let url = dir.url.appendingPathComponent("\(modality.rawValue)/Train_pt/\((name as NSString).deletingPathExtension).pt")
            let expected = world.embedding(modality, row: row)!.values
            // Read back with our reader.
            guard case .tensor(let tensor, _, _) = try TorchFile.load(url) else { return XCTFail("\(url.path) holds no tensor") }
            XCTAssertEqual(tensor.shape, [768])
            XCTAssertEqual(tensor.dtype, .float32)
            XCTAssertEqual(tensor.floatValues(), expected)
            // Byte-identical to what TorchFile.save writes itself.
            let reference = dir.url.appendingPathComponent("reference-\(name).pt")
            try TorchFile.save(.tensor(TensorData(floats: expected, shape: [768]), isParameter: false, requiresGrad: false),
                               to: reference, prefix: (name as NSString).deletingPathExtension)
            XCTAssertEqual(try Data(contentsOf: url), try Data(contentsOf: reference), name)
        }
    }

    func testAnnotationsAreWorldNetJSONWithSequenceKeys() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-json")
        defer { dir.remove() }
        var config = smallConfig()
        config.modalities = [.image, .audio]
        let world = try WorldGenerator(config).generate(to: dir.url).world
        var total = 0
        for split in Split.allCases {
            let url = dir.url.appendingPathComponent("state/action_\(split.rawValue).json")
            let entries = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [[String: Any]])
            XCTAssertEqual(entries.count, world.transitions(in: split).count)
            total += entries.count
            for (i, entry) in entries.enumerated() {
                XCTAssertEqual(Set(entry.keys), ["state0", "state1", "action", "scenario", "episode", "step"])
                let s0 = try XCTUnwrap(entry["state0"] as? [String: String])
                let s1 = try XCTUnwrap(entry["state1"] as? [String: String])
                XCTAssertEqual(Set(s0.keys), ["image", "video", "audio", "text"])
                XCTAssertEqual(s0["video"], "", "absent modality is an empty string")
                XCTAssertEqual(s0["text"], "")
                XCTAssertTrue(s0["image"]!.hasSuffix(".jpg") && s0["audio"]!.hasSuffix(".wav"))
                let action = try XCTUnwrap(entry["action"] as? [String: String])
                XCTAssertFalse(action["text"]!.isEmpty)
                let episode = try XCTUnwrap(entry["episode"] as? String)
                let step = try XCTUnwrap(entry["step"] as? Int)
                XCTAssertEqual(s0["image"], "\(episode)-t\(step).jpg")
                XCTAssertEqual(s1["image"], "\(episode)-t\(step + 1).jpg")
                XCTAssertTrue(episode.hasPrefix(try XCTUnwrap(entry["scenario"] as? String)))
                if i > 0, let previous = entries[i - 1]["episode"] as? String, previous == episode {
                    XCTAssertEqual((entries[i - 1]["state1"] as? [String: String])?["image"], s0["image"])
                }
                XCTAssertTrue(FileManager.default.fileExists(
                    atPath: dir.url.appendingPathComponent("audio/Train_pt/\(episode)-t\(step).pt").path))
            }
        }
        XCTAssertEqual(total, config.transitionCount)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir.url.appendingPathComponent("video").path))
        // world.json carries the config, the scenarios and the oracles.
        let json = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: dir.url.appendingPathComponent("world.json"))) as? [String: Any])
        XCTAssertEqual((json["scenarios"] as? [Any])?.count, 2)
        let oracles = try XCTUnwrap(json["oracles"] as? [String: Any])
        let mean = try XCTUnwrap(oracles["mean"] as? [String: Double])
        XCTAssertEqual(mean["trueDynamics"], world.oracles.mean.trueDynamics)
        XCTAssertEqual((json["config"] as? [String: Any])?["seed"] as? Int, 3)
    }

    func testDatasetReadersLoadEverySplitAsWritten() throws {
        let dir = try TemporaryDirectory(prefix: "simworld-dataset")
        defer { dir.remove() }
        let world = try WorldGenerator(smallConfig()).generate(to: dir.url).world
        for split in Split.allCases {
            let config = try WorldChecks.assertSplitReadsBack(world, root: dir.url, split: split)
            XCTAssertEqual(config.datasetList.map(\.modalities), [Modality.allCases])
            XCTAssertEqual(config.modalityModes.count, 4 + 12 + 1)
        }
    }

    func testUnwritableOutputFailsWithThePath() {
        let target = URL(fileURLWithPath: "/proc/simworld-cannot-write")
        XCTAssertThrowsError(try WorldGenerator(smallConfig()).generate(to: target)) { error in
            guard case SimWorldError.writeFailed(let path, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasPrefix("/proc/simworld-cannot-write"), path)
        }
    }
}
