// WorldNet annotations, dataset YAML, layout rules and the transition loader, on small hand-made datasets.
import Formats
import Foundation
import TestSupport
import XCTest

final class WorldNetTests: XCTestCase {
    var tmp: TemporaryDirectory!
    override func setUpWithError() throws { tmp = try TemporaryDirectory() }
    override func tearDown() { tmp.remove() }

    let annotationText = """
        [
          {"state0": {"video": "s0.mp4", "audio": "s0.wav", "image": "", "text": ""},
           "state1": {"video": "s1.mp4", "audio": "", "image": "", "text": ""},
           "action": {"text": "ski down the slope"},
           "scenario": "skiing", "episode": "e1", "step": 0, "origin": "demo", "score": [1, 2.5]},
          {"state0": {"video": "p0.mp4", "audio": "p0.wav"},
           "state1": {"video": "p1.mp4", "audio": "p1.wav", "depth": "x.png"},
           "action": {"text": "the plane takes off", "lang": "en"}}
        ]
        """

    func testAnnotationsKeepEverythingAndRoundTrip() throws {
        let url = tmp.url.appendingPathComponent("ann.json")
        try annotationText.write(to: url, atomically: true, encoding: .utf8)
        let samples = try WorldNetAnnotations.load(url)
        XCTAssertEqual(samples.count, 2)
        XCTAssertEqual(samples[0].index, 0)
        XCTAssertEqual(samples[0].state0, [.video: "s0.mp4", .audio: "s0.wav"])
        XCTAssertEqual(samples[0].state1, [.video: "s1.mp4"])
        XCTAssertEqual(samples[0].actionText, "ski down the slope")
        XCTAssertEqual(samples[0].scenario, "skiing")
        XCTAssertEqual(samples[0].episode, "e1")
        XCTAssertEqual(samples[0].step, 0)
        XCTAssertEqual(samples[0].metadata, ["origin": .string("demo"), "score": .array([.number(1), .number(2.5)])])
        XCTAssertNil(samples[1].scenario)
        XCTAssertNil(samples[1].step)
        XCTAssertEqual(samples[1].metadata, ["state1.depth": .string("x.png"), "action.lang": .string("en")])
        let copy = tmp.url.appendingPathComponent("copy.json")
        try WorldNetAnnotations.write(samples, to: copy)
        XCTAssertEqual(try WorldNetAnnotations.load(copy), samples)
        // The written file is plain WorldNet JSON: every modality present, "" when absent.
        let raw = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(contentsOf: copy)) as? [[String: Any]])
        XCTAssertEqual((raw[0]["state1"] as? [String: String])?["audio"], "")
        XCTAssertEqual((raw[1]["state1"] as? [String: String])?["depth"], "x.png")
    }

    func testAnnotationErrorsNameFileAndSample() throws {
        let bad: [(String, String)] = [
            (#"[{"state0": {}, "state1": {}, "action": {"text": "a"}}, {"state0": {}, "state1": {}}]"#, "(sample 1): missing 'action'"),
            (#"[{"state0": {"video": 3}, "state1": {}, "action": {"text": "a"}}]"#, "(sample 0): state0.video is not a string"),
            (#"[{"state0": {}, "state1": {}, "action": {"text": "a"}, "step": 1.5}]"#, "(sample 0): step is not an integer"),
            (#"{"state0": {}}"#, "expected a JSON array"),
            (#"[{"state0": {}, "#, "JSON"),
        ]
        for (text, fragment) in bad {
            let url = tmp.url.appendingPathComponent("bad.json")
            try text.write(to: url, atomically: true, encoding: .utf8)
            XCTAssertThrowsError(try WorldNetAnnotations.load(url)) { error in
                XCTAssertTrue("\(error)".contains(fragment), "\(error)")
                XCTAssertTrue("\(error)".contains(url.path), "\(error)")
            }
        }
    }

    let yamlText = """
        # a WorldGPT training config
        seed: 1
        train:
            epochs: 2
            dataset_list:
                -
                    root: data/demo                 # root of subset
                    annotaion_path: data/demo/state/train.json
                    modality: ['video', 'audio']
                    weight: 0.5
            modality_modes:
                -
                    inputs: ['video']
                    targets: ['audio']
                    weight: 0.25
                -
                    inputs: [video, audio]
                    targets: [video, audio]
                    weight: 1
        validation:
            dataset_list:
                - root: /abs/root
                  annotaion_path: /abs/root/valid.json
                  modality: ['image']
            modality_modes:
                - inputs: ['image']
                  targets: ['image']
        """

    func testDatasetYAMLSectionsPathsAndRoundTrip() throws {
        let url = tmp.url.appendingPathComponent("config/train.yaml")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try yamlText.write(to: url, atomically: true, encoding: .utf8)
        let config = try DatasetConfig.load(url)
        XCTAssertEqual(config.datasetList, [DatasetEntry(root: "data/demo", annotationPath: "data/demo/state/train.json", modalities: [.video, .audio], weight: 0.5)])
        XCTAssertEqual(config.modalityModes, [ModalityMode(inputs: [.video], targets: [.audio], weight: 0.25),
                                              ModalityMode(inputs: [.video, .audio], targets: [.video, .audio], weight: 1)])
        XCTAssertEqual(config.rootURL(config.datasetList[0]).path, tmp.url.appendingPathComponent("config/data/demo").standardizedFileURL.path)
        let validation = try DatasetConfig.load(url, section: "validation", baseDirectory: tmp.url)
        XCTAssertEqual(validation.datasetList[0].weight, 1)
        XCTAssertEqual(validation.rootURL(validation.datasetList[0]).path, "/abs/root")
        XCTAssertEqual(validation.modalityModes, [ModalityMode(inputs: [.image], targets: [.image])])
        let copy = tmp.url.appendingPathComponent("config/copy.yaml")
        try config.write(to: copy)
        XCTAssertEqual(try DatasetConfig.load(copy), config)

        for (text, fragment) in [("dataset_list: 3", "not a list"), ("dataset_list:\n  - root: r\n    modality: [video]", "annotaion_path is missing"),
                                 ("dataset_list:\n  - {root: r, annotaion_path: a, modality: [smell]}", "unknown modality 'smell'"),
                                 ("dataset_list:\n  - {root: r, annotaion_path: a, modality: [video], weight: -1}", "weight"),
                                 ("a: [", "YAML syntax"), ("x: 1", "no dataset_list")] {
            XCTAssertThrowsError(try DatasetConfig.parse(text, source: "cfg.yaml", baseDirectory: tmp.url)) { error in
                XCTAssertTrue("\(error)".contains(fragment) && "\(error)".contains("cfg.yaml"), "\(error)")
            }
        }
    }

    func testLayoutNamesAndPathSafety() throws {
        let root = URL(fileURLWithPath: "/data/ag")
        XCTAssertEqual(WorldNetLayout.mediaURL(root: root, modality: .video, name: "00001_state0.mp4").path, "/data/ag/video/Train/00001_state0.mp4")
        XCTAssertEqual(WorldNetLayout.embeddingURL(root: root, modality: .video, name: "00001_state0.mp4").path, "/data/ag/video/Train_pt/00001_state0.pt")
        XCTAssertEqual(WorldNetLayout.embeddingName(modality: .image, name: "a.jpg"), "a.pt")
        XCTAssertEqual(WorldNetLayout.embeddingName(modality: .video, name: "clip.webm"), "clip.pt")
        XCTAssertEqual(WorldNetLayout.embeddingName(modality: .audio, name: "noext"), "noext.pt")
        XCTAssertEqual(WorldNetLayout.embeddingName(modality: .video, name: "x.mp4.mp4"), "x.pt.pt")  // Python str.replace
        for name in ["../x.mp4", "/etc/passwd", "a/../../b.mp4", "~/x", "a\\..\\b", ""] {
            XCTAssertThrowsError(try WorldNetLayout.checkedMediaURL(root: root, modality: .video, name: name, source: "ann.json", sample: 4)) { error in
                guard case let FormatError.unsafePath(path, sample, value, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(path, "ann.json"); XCTAssertEqual(sample, 4); XCTAssertEqual(value, name)
            }
        }
        XCTAssertNoThrow(try WorldNetLayout.checkedMediaURL(root: root, modality: .video, name: "sub/dir/a.mp4", source: "a", sample: 0))
    }

    /// A dataset with the demo's real embeddings (skiing and aircraft, video and audio).
    func makeDemoDataset() throws -> URL {
        let root = tmp.url.appendingPathComponent("data/demo")
        let fm = FileManager.default
        for sample in ["skiing", "aircraft"] {
            for (modality, ext) in [("video", "mp4"), ("audio", "wav")] {
                for state in ["state0", "state1"] {
                    let name = "\(sample)_\(state)"
                    for (folder, file, source) in [("Train", "\(name).\(ext)", "\(state).\(ext)"), ("Train_pt", "\(name).pt", "\(state).pt")] {
                        let dst = root.appendingPathComponent("\(modality)/\(folder)/\(file)")
                        try fm.createDirectory(at: dst.deletingLastPathComponent(), withIntermediateDirectories: true)
                        try fm.copyItem(at: Fixtures.url("worldgpt-demo/languagebind/\(sample)/\(modality)/\(source)"), to: dst)
                    }
                }
            }
        }
        let samples = ["skiing", "aircraft"].enumerated().map { (item: (offset: Int, element: String)) -> WorldNetSample in
            let (i, s) = (item.offset, item.element)
            return WorldNetSample(state0: [.video: "\(s)_state0.mp4", .audio: "\(s)_state0.wav"],
                           state1: [.video: "\(s)_state1.mp4", .audio: "\(s)_state1.wav"],
                           actionText: "act \(s)", scenario: s, episode: "ep-\(s)", step: i)
        }
        try fm.createDirectory(at: root.appendingPathComponent("state"), withIntermediateDirectories: true)
        try WorldNetAnnotations.write(samples, to: root.appendingPathComponent("state/train.json"))
        let config = DatasetConfig(datasetList: [DatasetEntry(root: "data/demo", annotationPath: "data/demo/state/train.json", modalities: [.video, .audio])],
                                   modalityModes: [ModalityMode(inputs: [.video], targets: [.video])], baseDirectory: tmp.url)
        let url = tmp.url.appendingPathComponent("demo.yaml")
        try config.write(to: url)
        return url
    }

    func testLoaderReadsDemoEmbeddingsIntoTransitions() throws {
        let config = try DatasetConfig.load(makeDemoDataset())
        let transitions = try WorldNetDataset.load(config)
        XCTAssertEqual(transitions.count, 2)
        let ski = transitions[0]
        XCTAssertEqual(ski.action.text, "act skiing")
        XCTAssertEqual(ski.provenance, Provenance(dataset: "data/demo/state/train.json", scenario: "skiing", episode: "ep-skiing", step: 0, sampleID: "0"))
        XCTAssertEqual(ski.state0.modalities, [.video, .audio])
        XCTAssertEqual(try XCTUnwrap(ski.state0[.video]).cosine(try XCTUnwrap(ski.state1[.video])), 0.853285279, accuracy: 1e-8)
        XCTAssertEqual(try XCTUnwrap(transitions[1].state0[.audio]).cosine(try XCTUnwrap(transitions[1].state1[.audio])), 0.829254093, accuracy: 1e-8)
        let report = WorldNetDataset(config: config).check(loadEmbeddings: true)
        XCTAssertTrue(report.isOK, "\(report.problems)")
        XCTAssertEqual(report.entries[0].samples, 2)
        XCTAssertEqual(report.entries[0].present, [.video: 4, .audio: 4])
        XCTAssertEqual(report.entries[0].complete, [.video: 4, .audio: 4])
    }

    func testLoaderAndCheckReportMissingFilesAndEscapes() throws {
        let configURL = try makeDemoDataset()
        let root = tmp.url.appendingPathComponent("data/demo")
        try FileManager.default.removeItem(at: root.appendingPathComponent("audio/Train_pt/aircraft_state1.pt"))
        // A symbolic link that leads out of the dataset root.
        let outside = tmp.url.appendingPathComponent("outside.pt")
        try FileManager.default.copyItem(at: root.appendingPathComponent("video/Train_pt/skiing_state0.pt"), to: outside)
        try FileManager.default.removeItem(at: root.appendingPathComponent("video/Train_pt/skiing_state1.pt"))
        try FileManager.default.createSymbolicLink(at: root.appendingPathComponent("video/Train_pt/skiing_state1.pt"), withDestinationURL: outside)
        let annotation = root.appendingPathComponent("state/train.json")
        var samples = try WorldNetAnnotations.load(annotation)
        samples.append(WorldNetSample(state0: [.video: "../../../outside.mp4"], state1: [:], actionText: "escape"))
        try WorldNetAnnotations.write(samples, to: annotation)
        let config = try DatasetConfig.load(configURL)
        XCTAssertThrowsError(try WorldNetDataset.load(config)) { error in
            XCTAssertEqual(error as? FormatError, .unsafePath(path: annotation.standardizedFileURL.path, sample: 0, value: "skiing_state1.mp4", reason: "resolves outside the dataset root"))
        }
        let report = WorldNetDataset(config: config).check()
        XCTAssertFalse(report.isOK)
        let text = report.problems.map(\.description)
        XCTAssertTrue(text.contains { $0.contains("aircraft_state1.pt") && $0.contains("(sample 1)") && $0.contains("train.json") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("'../../../outside.mp4'") && $0.contains("(sample 2)") }, "\(text)")
        XCTAssertTrue(text.contains { $0.contains("skiing_state1.mp4") && $0.contains("outside the dataset root") }, "\(text)")
        XCTAssertEqual(report.problems.count, 3, "\(text)")
        XCTAssertEqual(report.entries[0].present[.video], 5)
        XCTAssertEqual(report.entries[0].complete[.audio], 3)
    }

    func testWrittenEmbeddingsReadBack() throws {
        let e = Embedding([0.25, -1, 3])
        try WorldNetLayout.writeEmbedding(e, root: tmp.url, modality: .image, name: "x.jpg")
        let url = WorldNetLayout.embeddingURL(root: tmp.url, modality: .image, name: "x.jpg")
        XCTAssertEqual(try WorldNetLayout.readEmbedding(url), e)
        try TorchFile.save(.tensor(TensorData(floats: [1, .nan], shape: [2])), to: url)
        XCTAssertThrowsError(try WorldNetLayout.readEmbedding(url)) { XCTAssertTrue("\($0)".contains("NaN"), "\($0)") }
        try TorchFile.save(.stringDict([("a", .int(1))]), to: url)
        XCTAssertThrowsError(try WorldNetLayout.readEmbedding(url)) { XCTAssertTrue("\($0)".contains("expected one tensor"), "\($0)") }
    }
}
