// `simworld generate --switch` and `eval --ablation` over long rollouts, through the CLI: the long world's sequences are
// whole episodes, and the ablation's table, Markdown, CSV and SVG cover every step, checked against identity computed here.
import Formats
import Foundation
import TestSupport
import XCTest

final class LongAblationCLITests: XCTestCase {
    func testIdentityAblationOverATwentyStepSwitchedWorld() throws {
        let dir = try TemporaryDirectory(prefix: "long-ablation")
        defer { dir.remove() }
        let config = dir.url.appendingPathComponent("long.yaml"), world = dir.url.appendingPathComponent("world")
        try """
            family: plant
            scenarios: 2
            episodes: 10
            steps: 20
            dimension: 32
            hidden: 16
            oracle_samples: 2
            switch_first: 1
            switch_last: 3
            """.write(to: config, atomically: true, encoding: .utf8)
        let generated = try worldgptOutput(["simworld", "generate", "--config", config.path, "--switch", "rewire", "--out", world.path, "--quiet"])
        XCTAssertTrue(generated.contains("switch rewire at a step in 2…4"), generated)
        XCTAssertTrue(generated.contains("from step 5 on"), generated)

        let report = dir.url.appendingPathComponent("report")
        let stdout = try worldgptOutput(["eval", "--ablation", "--model", "identity", "--data", world.path, "--steps", "20", "--no-ridge",
                                         "--report-dir", report.path, "--text-encoder", "hashed"])
        let table = try PrintedAblationTable(stdout)
        XCTAssertEqual(table.header, ["variant", "step 1", "step 2", "step 3", "4–8", "9–16", "17–20", "mean"], stdout)
        XCTAssertTrue(stdout.contains("+memory vs base over steps 17–20: +0.00 points"), stdout)

        // Identity scores cos(state0, state1) of every sequences step; computed here from the written split.
        let sequences = try WorldNetDataset.load(try DatasetConfig.load(world.appendingPathComponent("sequences.yaml")))
        XCTAssertEqual(Set(sequences.compactMap(\.provenance.step)), Set(0..<20), "sequences are whole 20-step episodes")
        var perStep = [[Modality: [Double]]](repeating: [:], count: 20)
        for t in sequences {
            let step = try XCTUnwrap(t.provenance.step)
            for m in Modality.allCases {
                if let a = t.state0[m], let b = t.state1[m] { perStep[step][m, default: []].append(100 * Double(a.cosine(b))) }
            }
        }
        let identity = perStep.map { modalities in modalities.values.map { $0.reduce(0, +) / Double($0.count) }.reduce(0, +) / Double(modalities.count) }
        func block(_ range: ClosedRange<Int>) -> Double { range.map { identity[$0 - 1] }.reduce(0, +) / Double(range.count) }
        let expected = [1...1, 2...2, 3...3, 4...8, 9...16, 17...20, 1...20].map(block)
        for (printed, value) in zip(table.values("identity"), expected) { XCTAssertEqual(printed, value, accuracy: 0.0051, stdout) }

        // ablation.md holds the printed cells; the CSV every step; the SVG one 20-point line per variant, no markers.
        let markdown = try String(contentsOf: report.appendingPathComponent("ablation.md"), encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(markdown.first, "| variant | step 1 | step 2 | step 3 | 4–8 | 9–16 | 17–20 | mean |")
        XCTAssertEqual(markdown.count, 2 + table.variants.count)
        XCTAssertEqual(String(markdown[2]), "| identity | " + (table.cells["identity"] ?? []).joined(separator: " | ") + " |")
        let csv = try String(contentsOf: report.appendingPathComponent("ablation.csv"), encoding: .utf8)
        XCTAssertTrue(csv.contains("\nidentity,20,mean,"), "every step in the CSV")
        let svg = try String(contentsOf: report.appendingPathComponent("ablation.svg"), encoding: .utf8)
        let polylines = svg.components(separatedBy: "<polyline").dropFirst()
        XCTAssertEqual(polylines.count, table.variants.count)
        for line in polylines { XCTAssertEqual(line.components(separatedBy: "points=\"")[1].components(separatedBy: "\"")[0].split(separator: " ").count, 20) }
        XCTAssertFalse(svg.contains("<circle"))
        XCTAssertTrue(svg.contains(">16-step window</text>"))
    }
}
