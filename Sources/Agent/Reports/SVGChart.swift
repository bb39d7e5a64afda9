// A small dependency-free SVG line chart: cosine ×100 against rollout step, one line per variant.
import Foundation

/// A line chart of several named series over a shared integer x axis, written as standalone SVG.
public struct LineChart: Sendable {
    /// One named series: y values at x = 1, 2, ... (nil where missing).
    public struct Series: Sendable {
        /// The legend label.
        public var name: String
        /// The y values, one per x position.
        public var values: [Double?]

        /// A series.
        public init(name: String, values: [Double?]) {
            self.name = name
            self.values = values
        }
    }

    /// The chart title.
    public var title: String
    /// The x axis label.
    public var xLabel: String
    /// The y axis label.
    public var yLabel: String
    /// The series to draw.
    public var series: [Series]
    /// Dashed vertical lines between x positions (e.g. the end of a memory window).
    public var markers: [Marker]

    /// A dashed vertical line drawn between x = `after` and `after + 1`, labelled at the top.
    public struct Marker: Sendable {
        /// The line sits half-way between this x position and the next.
        public var after: Int
        /// The label.
        public var label: String

        /// A marker.
        public init(after: Int, label: String) {
            self.after = after
            self.label = label
        }
    }

    /// A chart.
    public init(title: String, xLabel: String, yLabel: String, series: [Series], markers: [Marker] = []) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.markers = markers
    }

    /// Every how many x positions a tick label is written: every position up to 16, beyond that a power of two
    /// leaving at most 8 strides (8 for 64 positions).
    public static func labelStride(count: Int) -> Int {
        guard count > 16 else { return 1 }
        var stride = 2
        while count / stride > 8 { stride *= 2 }
        return stride
    }

    private static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// The SVG document.
    public func svg(width: Int = 720, height: Int = 420) -> String {
        let left = 60.0, right = 170.0, top = 40.0, bottom = 50.0
        let plotWidth = Double(width) - left - right, plotHeight = Double(height) - top - bottom
        let count = series.map(\.values.count).max() ?? 0
        let all = series.flatMap { $0.values.compactMap { $0 } }
        var low = (all.min() ?? 0), high = (all.max() ?? 1)
        if high - low < 1e-9 { low -= 1; high += 1 }
        let pad = (high - low) * 0.08
        low -= pad; high += pad
        func x(_ i: Int) -> Double { count <= 1 ? left + plotWidth / 2 : left + plotWidth * Double(i) / Double(count - 1) }
        func y(_ v: Double) -> Double { top + plotHeight * (1 - (v - low) / (high - low)) }
        func fmt(_ v: Double) -> String { String(format: "%.1f", v) }
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(width)" height="\(height)" font-family="sans-serif" font-size="12">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(fmt(left))" y="22" font-size="15">\(escape(title))</text>
            <line x1="\(fmt(left))" y1="\(fmt(top + plotHeight))" x2="\(fmt(left + plotWidth))" y2="\(fmt(top + plotHeight))" stroke="black"/>
            <line x1="\(fmt(left))" y1="\(fmt(top))" x2="\(fmt(left))" y2="\(fmt(top + plotHeight))" stroke="black"/>

            """
        for tick in 0...4 {
            let v = low + (high - low) * Double(tick) / 4
            out += "<text x=\"\(fmt(left - 6))\" y=\"\(fmt(y(v) + 4))\" text-anchor=\"end\">\(fmt(v))</text>\n"
            out += "<line x1=\"\(fmt(left))\" y1=\"\(fmt(y(v)))\" x2=\"\(fmt(left + plotWidth))\" y2=\"\(fmt(y(v)))\" stroke=\"#ddd\"/>\n"
        }
        // Long series: labels at 1 and every `stride` positions (8, 16, … for 64), markers only on short series.
        let stride = Self.labelStride(count: count)
        for i in 0..<count where i == 0 || (i + 1) % stride == 0 {
            out += "<text x=\"\(fmt(x(i)))\" y=\"\(fmt(top + plotHeight + 18))\" text-anchor=\"middle\">\(i + 1)</text>\n"
        }
        for marker in markers where marker.after >= 1 && marker.after < count {
            let mx = (x(marker.after - 1) + x(marker.after)) / 2
            out += "<line x1=\"\(fmt(mx))\" y1=\"\(fmt(top))\" x2=\"\(fmt(mx))\" y2=\"\(fmt(top + plotHeight))\" stroke=\"#888\" stroke-dasharray=\"4 3\"/>\n"
            out += "<text x=\"\(fmt(mx + 4))\" y=\"\(fmt(top + 12))\" fill=\"#555\">\(escape(marker.label))</text>\n"
        }
        out += "<text x=\"\(fmt(left + plotWidth / 2))\" y=\"\(height - 12)\" text-anchor=\"middle\">\(escape(xLabel))</text>\n"
        out += "<text x=\"16\" y=\"\(fmt(top + plotHeight / 2))\" transform=\"rotate(-90 16 \(fmt(top + plotHeight / 2)))\" text-anchor=\"middle\">\(escape(yLabel))</text>\n"
        let long = count > 16
        for (index, s) in series.enumerated() {
            let colour = Self.palette[index % Self.palette.count]
            // Past the palette, lines are dashed so that two series never look alike.
            let dash = index >= Self.palette.count ? " stroke-dasharray=\"6 3\"" : ""
            let width = long ? "1.5" : "2"
            let points = s.values.enumerated().compactMap { i, v in v.map { "\(fmt(x(i))),\(fmt(y($0)))" } }
            out += "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(width)\"\(dash) points=\"\(points.joined(separator: " "))\"/>\n"
            if !long {
                for (i, v) in s.values.enumerated() { if let v { out += "<circle cx=\"\(fmt(x(i)))\" cy=\"\(fmt(y(v)))\" r=\"3\" fill=\"\(colour)\"/>\n" } }
            }
            let legendY = top + 18 * Double(index)
            out += "<line x1=\"\(fmt(left + plotWidth + 15))\" y1=\"\(fmt(legendY))\" x2=\"\(fmt(left + plotWidth + 35))\" y2=\"\(fmt(legendY))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash)/>\n"
            out += "<text x=\"\(fmt(left + plotWidth + 40))\" y=\"\(fmt(legendY + 4))\">\(escape(s.name))</text>\n"
        }
        out += "</svg>\n"
        return out
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
