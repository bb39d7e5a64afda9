// Tests of the Agent module's inputs and reports.
import Agent
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
