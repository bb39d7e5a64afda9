// Tests of the Agent module's inputs and reports.
import Agent
import Formats
import XCTest

final class ActionScriptTests: XCTestCase {
    func testParsesOneActionPerLineAndTrims() throws {
        let script = try ActionScript.parse("push the red block left\n  lift the blue ball \r\n", file: "a.txt")
        XCTAssertEqual(script.actions, ["push the red block left", "lift the blue ball"])
        XCTAssertEqual(script.action(at: 3), "lift the blue ball")
    }

    func testBlankLineIsAnErrorNamingTheLine() {
        XCTAssertThrowsError(try ActionScript.parse("push\n\nlift\n", file: "acts.txt")) { error in
            XCTAssertEqual(error as? AgentError, .blankAction(file: "acts.txt", line: 2))
            XCTAssertTrue("\(error)".contains("acts.txt:2"))
        }
        XCTAssertThrowsError(try ActionScript.parse("", file: "empty.txt")) { error in
            XCTAssertEqual(error as? AgentError, .noActions(file: "empty.txt"))
        }
    }
}

final class LineChartTests: XCTestCase {
    func testChartDrawsOnePolylinePerSeriesWithLegend() {
        let chart = LineChart(title: "cos <test>", xLabel: "step", yLabel: "cos", series: [
            .init(name: "base", values: [80, 78, 75]), .init(name: "+all", values: [85, nil, 80]),
        ])
        let svg = chart.svg()
        XCTAssertEqual(svg.components(separatedBy: "<polyline").count - 1, 2)
        XCTAssertEqual(svg.components(separatedBy: "<circle").count - 1, 5)
        XCTAssertTrue(svg.contains("cos &lt;test&gt;"))
        XCTAssertTrue(svg.contains(">+all</text>"))
    }
}

final class LongAblationTableTests: XCTestCase {
    /// A table of `steps` steps whose variant `v` scores `offset(v) + step` at every step, in two modalities that
    /// differ by 2 (so the mean over modalities is `offset + step + 1`).
    func table(steps: Int) -> AblationTable {
        let offsets = ["base": 50.0, "+memory": 60.0]
        var cosine: [String: [[Modality: Double]]] = [:]
        for (v, o) in offsets { cosine[v] = (1...steps).map { [.image: o + Double($0), .text: o + Double($0) + 2] } }
        return AblationTable(variants: ["base", "+memory"], steps: steps, modalities: [.image, .text], cosine: cosine, episodes: 3)
    }

    func testLongTablesPrintBlocksOfStepsAndTheStepsBeyondTheWindow() {
        XCTAssertEqual(AblationTable.columns(steps: 7), (1...7).map { $0...$0 })
        XCTAssertEqual(AblationTable.columns(steps: 16).count, 16)
        XCTAssertEqual(AblationTable.columns(steps: 64), [1...1, 2...2, 3...3, 4...8, 9...16, 17...32, 33...48, 49...64])
        XCTAssertEqual(AblationTable.columns(steps: 40), [1...1, 2...2, 3...3, 4...8, 9...16, 17...32, 33...40])

        let long = table(steps: 64)
        let text = long.text().split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(text[0], ["variant", "step", "1", "step", "2", "step", "3", "4–8", "9–16", "17–32", "33–48", "49–64", "17–64", "mean"])
        // base: 50 + step + 1 per step; the mean over 17…64 is 50 + 40.5 + 1, over 4…8 it is 50 + 6 + 1.
        XCTAssertEqual(text[1], ["base", "52.00", "53.00", "54.00", "57.00", "63.50", "75.50", "91.50", "107.50", "91.50", "83.50"])
        XCTAssertEqual(long.markdown().split(separator: "\n").map(String.init), [
            "| variant | step 1 | step 2 | step 3 | 4–8 | 9–16 | 17–32 | 33–48 | 49–64 | 17–64 | mean |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            "| base | 52.00 | 53.00 | 54.00 | 57.00 | 63.50 | 75.50 | 91.50 | 107.50 | 91.50 | 83.50 |",
            "| +memory | 62.00 | 63.00 | 64.00 | 67.00 | 73.50 | 85.50 | 101.50 | 117.50 | 101.50 | 93.50 |",
        ])
        // Short tables keep one column per step and no 17–N column.
        let short = table(steps: 3).text().split(separator: "\n").map { $0.split(separator: " ").map(String.init) }
        XCTAssertEqual(short[0], ["variant", "step", "1", "step", "2", "step", "3", "mean"])
        XCTAssertEqual(short[2], ["+memory", "62.00", "63.00", "64.00", "63.00"])
    }

    func testLongChartsDrawLinesWithoutMarkersAndLabelEveryEighthStep() {
        let svg = table(steps: 64).svg()
        let polylines = svg.components(separatedBy: "<polyline").dropFirst()
        XCTAssertEqual(polylines.count, 2)
        for line in polylines {
            let points = line.components(separatedBy: "points=\"")[1].components(separatedBy: "\"")[0]
            XCTAssertEqual(points.split(separator: " ").count, 64)
        }
        XCTAssertFalse(svg.contains("<circle"), "64 points per line are drawn as lines only")
        let labels = svg.components(separatedBy: "text-anchor=\"middle\">").dropFirst().map { $0.components(separatedBy: "<")[0] }
        XCTAssertEqual(Array(labels.prefix(9)), ["1", "8", "16", "24", "32", "40", "48", "56", "64"])
        XCTAssertTrue(svg.contains("stroke-dasharray=\"4 3\""), "the end of the 16-step window is marked")
        XCTAssertTrue(svg.contains(">16-step window</text>"))
        // Seven steps: every step labelled, points marked, no window line.
        let short = table(steps: 7).svg()
        XCTAssertEqual(short.components(separatedBy: "<circle").count - 1, 14)
        XCTAssertFalse(short.contains("16-step window"))
        XCTAssertEqual(LineChart.labelStride(count: 7), 1)
        XCTAssertEqual(LineChart.labelStride(count: 64), 8)
        XCTAssertEqual(LineChart.labelStride(count: 200), 32)
    }
}
