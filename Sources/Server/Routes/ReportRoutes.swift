// GET /v1/reports/ablation: the ablation report that `worldgpt eval --ablation --report-dir DIR` wrote (ablation.csv,
// `variant,step,modality,cosine`), read from the server's --reports folder for the inspector's chart.
import Foundation
import Hummingbird

/// The ablation report as the API gives it: one series of mean cosine ×100 per variant and rollout step, and the
/// per-modality cells it is the mean of.
struct AblationReportBody: Codable, Sendable {
    struct Series: Codable, Sendable {
        var variant: String
        /// Mean over modalities at steps 1...steps (null where the report has no value).
        var mean: [Double?]
    }
    struct Cell: Codable, Sendable {
        var variant: String
        var step: Int
        var modality: String
        var cosine: Double
    }
    /// The CSV file read.
    var path: String
    /// Its modification time (seconds since 1970).
    var modified: Double
    var variants: [String]
    var steps: Int
    var modalities: [String]
    var series: [Series]
    var cells: [Cell]
    /// Whether ablation.svg (the CLI's chart) sits beside the CSV.
    var hasSvg: Bool
}

extension AblationReportBody {
    /// Reads `ablation.csv` of `folder`.
    /// - Throws: `ServeError.notFound` when there is no report, `.storeFailure` when the file is not an ablation CSV.
    init(folder: URL) throws {
        let url = folder.appendingPathComponent("ablation.csv")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ServeError.notFound("ablation report: no ablation.csv in \(folder.path) (write one with `worldgpt eval --ablation --report-dir \(folder.path)`, or start the server with --reports FOLDER)")
        }
        let lines = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline)
        guard lines.first == "variant,step,modality,cosine" else {
            throw ServeError.storeFailure("\(url.path) is not an ablation report (its header is not `variant,step,modality,cosine`)")
        }
        var variants: [String] = [], modalities: [String] = [], cells: [Cell] = []
        var means: [String: [Int: Double]] = [:]
        for (number, line) in lines.dropFirst().enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let step = Int(fields[1]), step >= 1, step <= 100_000, let cosine = Double(fields[3]), cosine.isFinite else {
                throw ServeError.storeFailure("\(url.path), line \(number + 2): expected `variant,step,modality,cosine`, got `\(line.prefix(200))`")
            }
            let (variant, modality) = (fields[0], fields[2])
            if !variants.contains(variant) { variants.append(variant) }
            if modality == "mean" {
                means[variant, default: [:]][step] = cosine
            } else {
                if !modalities.contains(modality) { modalities.append(modality) }
                cells.append(Cell(variant: variant, step: step, modality: modality, cosine: cosine))
            }
        }
        let steps = max(cells.map(\.step).max() ?? 0, means.values.flatMap(\.keys).max() ?? 0)
        let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
        self.init(
            path: url.path, modified: (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0, variants: variants, steps: steps,
            modalities: modalities,
            series: variants.map { v in Series(variant: v, mean: steps == 0 ? [] : (1...steps).map { means[v]?[$0] }) },
            cells: cells,
            hasSvg: FileManager.default.fileExists(atPath: folder.appendingPathComponent("ablation.svg").path))
    }
}

extension ServerState {
    func addReportRoutes(to router: Router<ServeContext>) {
        router.group("v1").get("reports/ablation") { _, _ in
            try Wire.json(try AblationReportBody(folder: self.configuration.reportsFolder))
        }
    }
}
