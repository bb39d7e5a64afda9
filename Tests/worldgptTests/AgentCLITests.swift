// End-to-end tests of the agent-level commands — eval --ablation, predict, fork, samples build, kb build/search,
// train-reflector, memory stats — on a tiny world, model and reflector made once for the class.
// Each checks outcomes against what the test computes itself from the world's files, not just the exit code.
import Formats
import Foundation
import TestSupport
import XCTest

#if canImport(FoundationXML)
import FoundationXML  // XMLParser on Linux
#endif

/// A tiny SimWorld (2 scenarios × 20 episodes × 7 steps, 64-d image and audio), a native world model trained on it
/// for 40 steps, a reflector tuned for 40 steps (enough for the kept context to change predictions visibly), and one rollout of the sequences split (everything on) into a store.
final class TinyAgentWorld {
    /// The action encoder flags every command here uses (no MiniLM, no cache file).
    static let encoder = ["--text-encoder", "hashed", "--action-cache", "none"]

    let directory: TemporaryDirectory
    /// The SimWorld folder.
    let world: URL
    /// The world model from `worldgpt train`.
    let model: URL
    /// `train-reflector`'s output folder: `reflector.pt` and `model/` (the world model with its tuned projection).
    let tuning: URL
    /// The episode store and trace of `rollout --data world --episodes 99` with everything on.
    let store: URL
    let trace: URL
    /// `train-reflector`'s standard output.
    let tuningOutput: String

    var reflector: URL { tuning.appendingPathComponent("reflector.pt") }
    var tunedModel: URL { tuning.appendingPathComponent("model") }

    init() throws {
        directory = try TemporaryDirectory(prefix: "agent-cli")
        let dir = directory.url
        world = dir.appendingPathComponent("world")
        model = dir.appendingPathComponent("run/final")
        tuning = dir.appendingPathComponent("tuning")
        store = dir.appendingPathComponent("memory.sqlite")
        trace = dir.appendingPathComponent("rollout.jsonl")
        let worldConfig = dir.appendingPathComponent("world.yaml")
        try "scenarios: 2\nepisodes: 20\nsteps: 7\nseed: 5\ndimension: 64\nhidden: 32\nmodalities: [image, audio]\noracle_samples: 2\n"
            .write(to: worldConfig, atomically: true, encoding: .utf8)
        try worldgptOutput(["simworld", "generate", "--config", worldConfig.path, "--out", world.path, "--quiet"])
        let trainConfig = dir.appendingPathComponent("train.yaml")
        try """
            data: world/train.yaml
            validation: world/test.yaml
            model: {width: 32, depth: 1, heads: 2, mlp_ratio: 2, seed: 1}
            optimizer: {lr: 3.0e-3, warmup_steps: 2}
            training:
              batch_size: 16
              stages: [{kind: single-unimodal, steps: 20}, {kind: single-cross, steps: 10}, {kind: multi-unimodal, steps: 10}]
              memory_probability: 0.5
              memory_steps: [2, 3]
            """.write(to: trainConfig, atomically: true, encoding: .utf8)
        try worldgptOutput(["train", "--config", trainConfig.path, "--out", dir.appendingPathComponent("run").path] + Self.encoder)
        try Self.tuningConfig(steps: 40).write(to: dir.appendingPathComponent("tuning.json"), atomically: true, encoding: .utf8)
        tuningOutput = try worldgptOutput(["train-reflector", "--model", model.path, "--kb", world.path, "--config", dir.appendingPathComponent("tuning.json").path,
                                           "--out", tuning.path] + Self.encoder)
        try worldgptOutput(["rollout", "--model", tuning.appendingPathComponent("model").path, "--reflector", tuning.appendingPathComponent("reflector.pt").path,
                            "--kb", world.path, "--data", world.path, "--episodes", "99", "--db", store.path, "--trace", trace.path] + Self.encoder)
    }

    /// A small tuning config (hidden 64 × 1 layer, 8 candidates, budget 4, a high learning rate).
    static func tuningConfig(steps: Int, hiddenWidth: Int = 64) -> String {
        """
        {"steps": \(steps), "batch_size": 8, "learning_rate": 1e-2, "warmup_steps": 1, "hidden_width": \(hiddenWidth), "layers": 1,
         "candidates": 8, "train_samples": 64, "eval_samples": 32, "filter": {"threshold": 0, "budget": 4, "mmr_lambda": 0.7}}
        """
    }

    /// A path in the shared folder.
    func url(_ name: String) -> URL { directory.url.appendingPathComponent(name) }

    /// The annotation entries of a split, read with the project's WorldNet reader.
    func samples(_ split: String) throws -> [WorldNetSample] {
        try WorldNetAnnotations.load(world.appendingPathComponent("state/action_\(split).json"))
    }

    /// The embeddings a state's files name: `<world>/<modality>/Train_pt/<stem>.pt`, read with the safe `.pt` reader.
    func embeddings(_ files: [Modality: String]) throws -> [Modality: [Float]] {
        var out: [Modality: [Float]] = [:]
        for (modality, file) in files where !file.isEmpty {
            let stem = (file as NSString).deletingPathExtension
            let url = world.appendingPathComponent("\(modality.rawValue)/Train_pt/\(stem).pt")
            guard case .tensor(let data, _, _) = try TorchFile.load(url) else { throw WorldGPTFailure(arguments: [url.path], status: 0, stderr: "not a tensor") }
            out[modality] = data.floatValues()
        }
        return out
    }

    /// A copy of the rollout's store (tests that write to a store use their own copy).
    func copyOfStore(_ name: String) throws -> URL {
        let copy = url(name)
        try? FileManager.default.removeItem(at: copy)
        try FileManager.default.copyItem(at: store, to: copy)
        return copy
    }

    /// The rollout trace, one object per line.
    func traceLines(_ url: URL? = nil) throws -> [[String: Any]] {
        try String(contentsOf: url ?? trace, encoding: .utf8).split(separator: "\n").map { try jsonDictionary(String($0)) }
    }
}

/// Cosine similarity in double precision.
func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / (na.squareRoot() * nb.squareRoot())
}

/// The element-wise mean of equally long vectors.
func meanVector(_ vectors: [[Float]]) -> [Float] {
    var sum = [Float](repeating: 0, count: vectors.first?.count ?? 0)
    for v in vectors { for i in sum.indices { sum[i] += v[i] } }
    return sum.map { $0 / Float(vectors.count) }
}

/// A stored state as `memory show --json` prints it (`{"embeddings": [modality, {"values": [...]}, ...]}`), by modality.
func stateVectors(_ json: Any?) throws -> [String: [Double]] {
    let pairs = try XCTUnwrap((json as? [String: Any])?["embeddings"] as? [Any], "not a stored state: \(String(describing: json))")
    var out: [String: [Double]] = [:]
    for k in stride(from: 0, to: pairs.count - 1, by: 2) {
        out[try XCTUnwrap(pairs[k] as? String)] = try XCTUnwrap((pairs[k + 1] as? [String: Any])?["values"] as? [Double])
    }
    return out
}

/// The prediction heads of a trace line, as the floats they were.
func predictionHeads(_ line: [String: Any]) -> [String: [Float]] {
    (line["predictionHead"] as? [String: [Double]] ?? [:]).mapValues { $0.map(Float.init) }
}

/// A JSON object from text.
func jsonDictionary(_ text: String) throws -> [String: Any] {
    try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not a JSON object: \(text)")
}

/// A JSON array of objects from text.
func jsonArray(_ text: String) throws -> [[String: Any]] {
    try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]], "not a JSON array of objects: \(text)")
}

/// A text file's contents (UTF-8).
func fileText(_ url: URL) throws -> String { try String(contentsOf: url, encoding: .utf8) }

/// The ids of a trace line's `retrieved` or `kept` list.
func traceIDs(_ line: [String: Any], _ key: String) -> [String] {
    (line[key] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
}

/// The mean over episodes of each step's mean cosine over modalities, from trace lines (step index → value).
func meanCosinePerStep(_ lines: [[String: Any]]) -> [Int: Double] {
    var sums: [Int: (Double, Int)] = [:]
    for line in lines {
        guard let step = line["step"] as? Int, let cos = line["cosine"] as? [String: Double], !cos.isEmpty else { continue }
        let m = cos.values.reduce(0, +) / Double(cos.count)
        sums[step, default: (0, 0)].0 += m
        sums[step, default: (0, 0)].1 += 1
    }
    return sums.mapValues { $0.0 / Double($0.1) }
}

/// The elements of an XML file in document order, with the text of each `<text>` element; throws unless well-formed.
final class SVGElements: NSObject, XMLParserDelegate {
    private(set) var elements: [(name: String, attributes: [String: String])] = []
    private(set) var texts: [String] = []
    private var currentText: String?

    init(contentsOf url: URL) throws {
        super.init()
        let parser = XMLParser(data: try Data(contentsOf: url))
        parser.delegate = self
        guard parser.parse() else { throw WorldGPTFailure(arguments: [url.path], status: 0, stderr: "not well-formed XML: \(String(describing: parser.parserError))") }
    }

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
        elements.append((name, attributes))
        if name == "text" { currentText = "" }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) { currentText? += string }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        if name == "text", let text = currentText { texts.append(text) }
        currentText = nil
    }
}

/// The table `eval --ablation` prints: its header cells and each variant's cells as printed.
struct PrintedAblationTable {
    var header: [String]
    var variants: [String]
    var cells: [String: [String]]

    init(_ stdout: String) throws {
        let lines = stdout.split(separator: "\n").map(String.init)
        let start = try XCTUnwrap(lines.firstIndex { $0.hasPrefix("variant") }, "no table in: \(stdout)")
        header = lines[start].split(separator: " ").map(String.init).reduce(into: [String]()) { cells, word in
            if let last = cells.last, last == "step" { cells[cells.count - 1] = "step \(word)" } else { cells.append(word) }
        }
        variants = []
        cells = [:]
        for line in lines[(start + 1)...] {
            let words = line.split(separator: " ").map(String.init)
            guard words.count == header.count, words.dropFirst().allSatisfy({ Double($0) != nil || $0 == "-" }) else { break }
            variants.append(words[0])
            cells[words[0]] = Array(words.dropFirst())
        }
    }

    /// A variant's numbers (steps, then mean).
    func values(_ variant: String) -> [Double] { (cells[variant] ?? []).map { Double($0) ?? .nan } }
}

final class AgentCLITests: XCTestCase {
    nonisolated(unsafe) static var shared: TinyAgentWorld?  // made once; the tests of this class run serially

    /// The shared tiny world (made by the first test that asks).
    func tiny() throws -> TinyAgentWorld {
        if let shared = Self.shared { return shared }
        do {
            let made = try TinyAgentWorld()
            Self.shared = made
            return made
        } catch {
            XCTFail("could not make the tiny world, model and reflector: \(error)")
            throw error
        }
    }

    override class func tearDown() { shared?.directory.remove() }

    /// `eval --ablation` on the tiny world with the tuned model and reflector, report in `reportDir`.
    func ablation(_ t: TinyAgentWorld, reportDir: URL, _ extra: [String] = []) throws -> (stdout: String, table: PrintedAblationTable) {
        let out = try worldgptOutput(["eval", "--ablation", "--model", t.tunedModel.path, "--reflector", t.reflector.path, "--data", t.world.path,
                                      "--report-dir", reportDir.path, "--no-ridge"] + extra + TinyAgentWorld.encoder)
        return (out, try PrintedAblationTable(out))
    }

    // MARK: - eval --ablation

    func testAblationTableMatchesIndependentIdentityRolloutsCSVAndSVG() throws {
        let t = try tiny()
        let report = t.url("ablation-default")
        let (stdout, table) = try ablation(t, reportDir: report)
        XCTAssertEqual(table.header, ["variant"] + (1...7).map { "step \($0)" } + ["mean"], stdout)
        XCTAssertEqual(table.variants, ["identity", "base", "+retrieval", "+reflector", "+memory", "+all"], stdout)

        // Identity, computed here: identity predicts the observed state, so each step scores cos(state0, state1).
        let sequences = try t.samples("sequences")
        let episodes = Set(sequences.compactMap(\.episode))
        XCTAssertEqual(episodes.count, 4)
        XCTAssertTrue(stdout.contains("(4 episodes of \(t.world.path))"), stdout)
        var perStep = [[Modality: [Double]]](repeating: [:], count: 7)
        for sample in sequences {
            let step = try XCTUnwrap(sample.step)
            let s0 = try t.embeddings(sample.state0), s1 = try t.embeddings(sample.state1)
            XCTAssertEqual(Set(s0.keys), [.image, .audio])
            for (m, v) in s0 { perStep[step][m, default: []].append(100 * cosine(v, try XCTUnwrap(s1[m]))) }
        }
        let identityByModality = perStep.map { $0.mapValues { $0.reduce(0, +) / Double($0.count) } }
        let identity = identityByModality.map { $0.values.reduce(0, +) / Double($0.count) }
        let printedIdentity = table.values("identity")
        for step in 0..<7 { XCTAssertEqual(printedIdentity[step], identity[step], accuracy: 0.0051, "identity, step \(step + 1)") }
        XCTAssertEqual(printedIdentity[7], identity.reduce(0, +) / 7, accuracy: 0.0051, "identity, mean")

        // The structure of the ladder: memory has nothing to recall at step 1, so +memory = base and +all = +reflector
        // there; later, memory and knowledge change the predictions.
        let base = table.values("base"), all = table.values("+all"), memory = table.values("+memory"), reflector = table.values("+reflector")
        XCTAssertEqual(memory[0], base[0])
        XCTAssertEqual(all[0], reflector[0])
        XCTAssertNotEqual(all, base)
        XCTAssertNotEqual(all, reflector)
        XCTAssertNotEqual(memory, base)
        XCTAssertTrue(stdout.contains(String(format: "+all vs base at step 1: %+.2f points", all[0] - base[0])), stdout)

        // +all and base are what `rollout` gives with everything on / everything off (the runtime's own path).
        let rolledAll = meanCosinePerStep(try t.traceLines())
        let offTrace = t.url("rollout-off.jsonl")
        try worldgptOutput(["rollout", "--model", t.tunedModel.path, "--data", t.world.path, "--episodes", "99", "--no-memory", "--no-retrieval", "--no-reflector",
                            "--trace", offTrace.path] + TinyAgentWorld.encoder)
        let rolledBase = meanCosinePerStep(try t.traceLines(offTrace))
        for step in 0..<7 {
            XCTAssertEqual(all[step], try XCTUnwrap(rolledAll[step]), accuracy: 0.006, "+all vs rollout, step \(step + 1)")
            XCTAssertEqual(base[step], try XCTUnwrap(rolledBase[step]), accuracy: 0.006, "base vs rollout, step \(step + 1)")
        }

        // CSV: the printed numbers, per modality and mean; identity per modality against the independent figures.
        let csv = try String(contentsOf: report.appendingPathComponent("ablation.csv"), encoding: .utf8).split(separator: "\n").map { $0.split(separator: ",").map(String.init) }
        XCTAssertEqual(csv.first, ["variant", "step", "modality", "cosine"])
        XCTAssertEqual(csv.count, 1 + 6 * 7 * 3)
        var csvMeans: [String: [Int: Double]] = [:]
        var csvModalities: [String: [Int: [Double]]] = [:]
        for row in csv.dropFirst() {
            XCTAssertEqual(row.count, 4)
            let step = try XCTUnwrap(Int(row[1])), value = try XCTUnwrap(Double(row[3]))
            if row[2] == "mean" { csvMeans[row[0], default: [:]][step] = value } else { csvModalities[row[0], default: [:]][step, default: []].append(value) }
            if row[0] == "identity", row[2] != "mean" {
                let m = try XCTUnwrap(Modality(rawValue: row[2]))
                XCTAssertEqual(value, try XCTUnwrap(identityByModality[step - 1][m]), accuracy: 6e-5, "identity \(m) step \(step) in the CSV")
            }
        }
        for variant in table.variants {
            for step in 1...7 {
                let mean = try XCTUnwrap(csvMeans[variant]?[step], "\(variant) step \(step) in the CSV")
                XCTAssertEqual(String(format: "%.2f", mean), table.cells[variant]?[step - 1], "\(variant) step \(step): CSV vs table")
                let parts = try XCTUnwrap(csvModalities[variant]?[step])
                XCTAssertEqual(parts.count, 2)
                XCTAssertEqual(parts.reduce(0, +) / 2, mean, accuracy: 1e-4)
            }
        }

        // SVG: well-formed XML with one line per variant (7 points each) and a legend naming them in order.
        let svg = try SVGElements(contentsOf: report.appendingPathComponent("ablation.svg"))
        XCTAssertEqual(svg.elements.first?.name, "svg")
        let polylines = svg.elements.filter { $0.name == "polyline" }
        XCTAssertEqual(polylines.count, 6)
        for line in polylines { XCTAssertEqual(line.attributes["points"]?.split(separator: " ").count, 7) }
        let texts = svg.texts
        XCTAssertEqual(Array(texts.suffix(6)), table.variants)
        XCTAssertTrue(texts.contains { $0.contains("(4 episodes)") }, "\(texts)")
    }

    func testAblationFlagsChangeTheTable() throws {
        let t = try tiny()
        let (_, reference) = try ablation(t, reportDir: t.url("ablation-reference"))

        // --steps and --episodes: the columns and the episodes scored.
        let short = t.url("ablation-short")
        let (stdout, three) = try ablation(t, reportDir: short, ["--steps", "3", "--episodes", "1"])
        XCTAssertEqual(three.header, ["variant", "step 1", "step 2", "step 3", "mean"])
        XCTAssertTrue(stdout.contains("(1 episodes of"), stdout)
        let csvSteps = Set(try String(contentsOf: short.appendingPathComponent("ablation.csv"), encoding: .utf8).split(separator: "\n").dropFirst().map { $0.split(separator: ",")[1] })
        XCTAssertEqual(csvSteps, ["1", "2", "3"])
        XCTAssertTrue(try String(contentsOf: short.appendingPathComponent("ablation.svg"), encoding: .utf8).contains("(1 episodes)"))
        XCTAssertNotEqual(three.values("identity")[0], reference.values("identity")[0], "one episode scores differently from four")

        // --history: with one recalled step instead of three, +memory is the same up to step 2 and differs later.
        let (_, oneStep) = try ablation(t, reportDir: t.url("ablation-history"), ["--history", "1"])
        XCTAssertEqual(Array(oneStep.values("+memory").prefix(2)), Array(reference.values("+memory").prefix(2)))
        XCTAssertNotEqual(Array(oneStep.values("+memory")[2..<7]), Array(reference.values("+memory")[2..<7]))
        XCTAssertEqual(oneStep.values("base"), reference.values("base"))

        // --budget: fewer kept items change the reflector variants, not the others.
        let (_, budget) = try ablation(t, reportDir: t.url("ablation-budget"), ["--budget", "1"])
        XCTAssertNotEqual(budget.values("+reflector"), reference.values("+reflector"))
        XCTAssertNotEqual(budget.values("+all"), reference.values("+all"))
        XCTAssertEqual(budget.values("+memory"), reference.values("+memory"))
        XCTAssertEqual(budget.values("base"), reference.values("base"))

        // Without --reflector the retrieval variants are skipped, and said so.
        let bare = try runWorldGPT(["eval", "--ablation", "--model", t.tunedModel.path, "--data", t.world.path, "--report-dir", t.url("ablation-bare").path, "--no-ridge"] + TinyAgentWorld.encoder)
        XCTAssertEqual(bare.status, 0, bare.stderr)
        XCTAssertEqual(try PrintedAblationTable(bare.stdout).variants, ["identity", "base", "+memory"])
        XCTAssertTrue(bare.stderr.contains("no --reflector given"), bare.stderr)

        // Bad values name the flag.
        // --kb gives the knowledge when --data is a dataset YAML: the same table as the SimWorld folder gives.
        let (_, withKB) = try ablation(t, reportDir: t.url("ablation-kb"), [])
        let yamlRun = try worldgptOutput(["eval", "--ablation", "--model", t.tunedModel.path, "--reflector", t.reflector.path, "--kb", t.world.path,
                                          "--data", t.world.appendingPathComponent("sequences.yaml").path, "--report-dir", t.url("ablation-yaml").path, "--no-ridge"] + TinyAgentWorld.encoder)
        XCTAssertEqual(try PrintedAblationTable(yamlRun).cells, withKB.cells)
        try assertWorldGPTFails(["eval", "--ablation", "--model", t.tunedModel.path, "--data", t.world.path, "--steps", "0"] + TinyAgentWorld.encoder,
                                mentioning: ["--steps must be at least 1"])
        try assertWorldGPTFails(["eval", "--ablation", "--model", t.tunedModel.path, "--data", t.world.appendingPathComponent("sequences.yaml").path,
                                 "--reflector", t.reflector.path] + TinyAgentWorld.encoder, mentioning: ["needs --kb"])
        try assertWorldGPTFails(["eval", "--ablation", "--model", t.tunedModel.path, "--data", t.world.path, "--reflector", t.url("nope.pt").path] + TinyAgentWorld.encoder,
                                mentioning: ["reflector checkpoint", "nope.pt"])
    }

    // MARK: - predict

    /// The first kb sample at `step` (its id is its index), with its episode.
    func kbSample(_ t: TinyAgentWorld, step: Int) throws -> (id: String, sample: WorldNetSample) {
        let kb = try t.samples("kb")
        let index = try XCTUnwrap(kb.firstIndex { $0.step == step }, "no kb sample at step \(step)")
        return (String(index), kb[index])
    }

    func predictArguments(_ t: TinyAgentWorld, start: String, split: String = "kb", _ extra: [String] = []) -> [String] {
        ["predict", "--model", t.tunedModel.path, "--reflector", t.reflector.path, "--kb", t.world.path, "--data", t.world.path, "--split", split,
         "--start", start] + extra + TinyAgentWorld.encoder
    }

    func testPredictEvidenceIsConsistentWithTheKnowledgeBaseAndTheLeakageGuard() throws {
        let t = try tiny()
        let kb = try t.samples("kb")
        let (id, query) = try kbSample(t, step: 3)
        let out = t.url("predict.npz")
        let line = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--out", out.path])))
        XCTAssertEqual(line["action"] as? String, query.actionText)
        XCTAssertEqual(line["step"] as? Int, 0)
        XCTAssertEqual(line["recalled"] as? [String], [], "no --db: nothing to recall")
        let retrieved = traceIDs(line, "retrieved"), kept = traceIDs(line, "kept")
        // 16 candidates asked for; the knowledge is scoped to the query's scenario.
        // The runtime retrieves 64 candidates by default (RuntimeOptions.defaultRetrievalK), within the scenario.
        XCTAssertEqual(retrieved.count, min(64, kb.filter { $0.scenario == query.scenario }.count))
        for item in retrieved {
            let n = try XCTUnwrap(item.hasPrefix("kb:") ? Int(item.dropFirst(3)) : nil, "retrieved id \(item) is not a kb row")
            XCTAssertTrue(kb.indices.contains(n), item)
            XCTAssertEqual(kb[n].scenario, query.scenario, "\(item) comes from another scenario")
        }
        XCTAssertEqual(Set(retrieved).count, retrieved.count)
        let scores = (line["retrieved"] as? [[String: Any]] ?? []).compactMap { $0["score"] as? Double }
        XCTAssertEqual(scores, scores.sorted(by: >), "retrieval order is by score")
        // The query's own sample is the best match (cosine 1); the guard drops it and its episode's later steps.
        XCTAssertEqual(retrieved.first, "kb:\(id)")
        XCTAssertEqual(scores.first ?? 0, 1, accuracy: 1e-5)
        XCTAssertTrue(Set(kept).isSubset(of: retrieved), "kept \(kept) ⊄ retrieved \(retrieved)")
        XCTAssertFalse(kept.isEmpty)
        XCTAssertLessThanOrEqual(kept.count, 64, "the default filter keeps at most 64")
        for item in kept {
            let other = kb[Int(item.dropFirst(3))!]
            XCTAssertFalse(other.episode == query.episode && (other.step ?? 0) >= (query.step ?? 0), "\(item) leaks the query's own episode (step \(other.step ?? -1))")
        }
        let leaking = retrieved.filter { let o = kb[Int($0.dropFirst(3))!]; return o.episode == query.episode && (o.step ?? 0) > (query.step ?? 0) }

        // The prediction: saved arrays equal the evidence's head, and its cosine to the true state1 is the reported one.
        let saved = Dictionary(uniqueKeysWithValues: try NPZ.read(out).map { ($0.name, $0.tensor.floatValues()) })
        XCTAssertEqual(Set(saved.keys), ["image", "audio"])
        let truth = try t.embeddings(query.state1)
        let reported = try XCTUnwrap(line["cosine"] as? [String: Double])
        let heads = predictionHeads(line)
        for (name, values) in saved {
            XCTAssertEqual(values.count, 64)
            XCTAssertEqual(heads[name], Array(values.prefix(4)), name)
            XCTAssertEqual(try XCTUnwrap(reported[name]), 100 * cosine(values, try XCTUnwrap(truth[Modality(rawValue: name)!])), accuracy: 1e-3, name)
        }

        // The text form gives every retrieved candidate a decision with its reason.
        let text = try worldgptOutput(predictArguments(t, start: id))
        XCTAssertTrue(text.contains("retrieved \(retrieved.count) transition(s); reflector:"), text)
        let decisions = text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { $0.hasPrefix("kb:") }
        XCTAssertEqual(decisions.map { String($0.prefix { !$0.isWhitespace }) }, retrieved)
        XCTAssertTrue(decisions.contains { $0.hasPrefix("kb:\(id) ") && $0.hasSuffix("dropped: leakage (query's own sample)") }, text)
        for item in leaking { XCTAssertTrue(decisions.contains { $0.hasPrefix("\(item) ") && $0.contains("dropped: leakage (later step") }, "\(item): \(text)") }
        XCTAssertEqual(decisions.filter { $0.contains("kept: rank") }.count, kept.count)
        XCTAssertTrue(text.contains(String(format: "cosine ×100 to the truth, image: %.2f", try XCTUnwrap(reported["image"]))), text)
    }

    func testPredictRecallsTheStoredEpisodeAndOffloadsTheStep() throws {
        let t = try tiny()
        let db = try t.copyOfStore("predict.sqlite")
        let episode = try XCTUnwrap(try t.samples("sequences").first?.episode)
        let (id, _) = try kbSample(t, step: 3)
        let args = ["predict", "--model", t.tunedModel.path, "--reflector", t.reflector.path, "--kb", t.world.path, "--data", t.world.path, "--split", "kb",
                    "--start", id, "--db", db.path, "--episode", episode, "--json"] + TinyAgentWorld.encoder
        let line = try jsonDictionary(try worldgptOutput(args))
        XCTAssertEqual(line["episode"] as? String, episode)
        XCTAssertEqual(line["step"] as? Int, 7, "the step continues the stored episode (steps 0–6)")
        XCTAssertEqual(line["recalled"] as? [String], ["\(episode):6", "\(episode):5", "\(episode):4"])
        let listed = try jsonArray(try worldgptOutput(["memory", "ls", "--db", db.path, "--json"]))
        let row = try XCTUnwrap(listed.first { $0["name"] as? String == episode })
        XCTAssertEqual(row["stepCount"] as? Int, 8, "the prediction is offloaded as step 7")
        let shown = try worldgptOutput(["memory", "show", "\(episode):7", "--db", db.path])
        XCTAssertTrue(shown.contains("recalled"), shown)

        // --history and --no-memory: how much is recalled.
        let two = try jsonDictionary(try worldgptOutput(args + ["--history", "2"]))
        XCTAssertEqual(two["recalled"] as? [String], ["\(episode):7", "\(episode):6"], "the previous predict is now the latest step")
        XCTAssertEqual(two["step"] as? Int, 8)
        let none = try jsonDictionary(try worldgptOutput(args + ["--no-memory"]))
        XCTAssertEqual(none["recalled"] as? [String], [])
    }

    func testPredictFlagsChangeTheEvidence() throws {
        let t = try tiny()
        let (id, query) = try kbSample(t, step: 3)
        let kb = try t.samples("kb")
        let reference = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json"])))
        let retrieved = traceIDs(reference, "retrieved")

        let fewer = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--retrieval-k", "4"])))
        XCTAssertEqual(traceIDs(fewer, "retrieved"), Array(retrieved.prefix(4)))
        let budget = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--budget", "2"])))
        XCTAssertEqual(traceIDs(budget, "kept").count, 2)
        XCTAssertEqual(traceIDs(budget, "retrieved"), retrieved)
        let noRetrieval = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--no-retrieval"])))
        XCTAssertEqual(traceIDs(noRetrieval, "retrieved"), [])
        XCTAssertEqual(traceIDs(noRetrieval, "kept"), [])
        XCTAssertNotEqual(noRetrieval["predictionHead"] as? [String: [Double]], reference["predictionHead"] as? [String: [Double]])
        // Without the filter: the first `--budget` retrieved that the leakage guard lets through, in retrieval order
        // (with MMR diversity asked for in --filter, the filter's choice shows; the default has none).
        let diverse = t.url("diverse-filter.json")
        try #"{"mmr_lambda": 0.5, "budget": 6}"#.write(to: diverse, atomically: true, encoding: .utf8)
        let unfiltered = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--no-reflector", "--filter", diverse.path, "--budget", "8"])))
        let filtered = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--filter", diverse.path, "--budget", "8"])))
        let allowed = retrieved.filter { let o = kb[Int($0.dropFirst(3))!]; return !(o.episode == query.episode && (o.step ?? 0) >= (query.step ?? 0)) }
        XCTAssertEqual(traceIDs(unfiltered, "kept"), Array(allowed.prefix(8)))
        XCTAssertNotEqual(traceIDs(unfiltered, "kept"), traceIDs(filtered, "kept"))
        // The default budget is 64: more than --budget 8 keeps, at most 64.
        XCTAssertGreaterThan(traceIDs(reference, "kept").count, traceIDs(filtered, "kept").count)
        XCTAssertLessThanOrEqual(traceIDs(reference, "kept").count, 64)
        let action = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--action", "push the red block left"])))
        XCTAssertEqual(action["action"] as? String, "push the red block left")
        XCTAssertNotEqual(action["predictionHead"] as? [String: [Double]], reference["predictionHead"] as? [String: [Double]])
        let single = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--threads", "1"])))
        XCTAssertEqual(single["predictionHead"] as? [String: [Double]], reference["predictionHead"] as? [String: [Double]], "--threads does not change results")

        // --out in each format holds the same prediction.
        var outputs: [[String: [Float]]] = []
        for ext in ["npz", "pt", "safetensors"] {
            let file = t.url("prediction.\(ext)")
            try worldgptOutput(predictArguments(t, start: id, ["--out", file.path]))
            let arrays: [(name: String, tensor: TensorData)]
            switch ext {
            case "npz": arrays = try NPZ.read(file)
            case "pt": arrays = try TorchFile.load(file).flattenedTensors()
            default: arrays = try SafeTensors.read(file)
            }
            outputs.append(Dictionary(uniqueKeysWithValues: arrays.map { ($0.name, $0.tensor.floatValues()) }))
        }
        XCTAssertEqual(outputs[0], outputs[1])
        XCTAssertEqual(outputs[0], outputs[2])
        XCTAssertEqual(outputs[0]["image"].map { Array($0.prefix(4)) }, predictionHeads(reference)["image"])

        // --start with files and --action: only the given modality is predicted.
        let imageFile = t.world.appendingPathComponent("image/Train_pt/\((query.state0[.image]! as NSString).deletingPathExtension).pt")
        let fromFile = try jsonDictionary(try worldgptOutput(["predict", "--model", t.tunedModel.path, "--start", "image=\(imageFile.path)", "--action", "push the red block left",
                                                              "--json"] + TinyAgentWorld.encoder))
        XCTAssertEqual((fromFile["predictionHead"] as? [String: Any]).map { Set($0.keys) }, ["image"])

        // Bad values: clear messages.
        try assertWorldGPTFails(predictArguments(t, start: id, ["--out", t.url("p.txt").path]), mentioning: ["--out must end in .npz, .pt or .safetensors"])
        try assertWorldGPTFails(predictArguments(t, start: "99999"), mentioning: ["99999", "no sample with this id"])
        try assertWorldGPTFails(predictArguments(t, start: id, split: "nope"), mentioning: ["--split", "nope.yaml"])
        try assertWorldGPTFails(["predict", "--model", t.tunedModel.path, "--data", t.world.path] + TinyAgentWorld.encoder, mentioning: ["--data needs --start"])
        try assertWorldGPTFails(["predict", "--model", t.tunedModel.path, "--start", "image=\(imageFile.path)"] + TinyAgentWorld.encoder, mentioning: ["--action"])
        try assertWorldGPTFails(["predict", "--model", "identity", "--reflector", t.reflector.path, "--start", "image=\(imageFile.path)", "--action", "x"] + TinyAgentWorld.encoder,
                                mentioning: ["--reflector needs a trained model checkpoint"])
        try assertWorldGPTFails(predictArguments(t, start: id, ["--reflector", t.url("none.pt").path]), mentioning: ["reflector checkpoint", "none.pt"])
        try assertWorldGPTFails(predictArguments(t, start: id, ["--kb", t.url("none.sqlite").path]), mentioning: ["knowledge base", "none.sqlite"])
        try assertWorldGPTFails(predictArguments(t, start: id, ["--retrieval-k", "0"]), mentioning: ["--retrieval-k", "must be at least 1"])
        try assertWorldGPTFails(predictArguments(t, start: id, ["--history", "17"]), mentioning: ["--history", "must be 0…16"])
        try assertWorldGPTFails(["predict", "--model", t.url("nowhere").path, "--data", t.world.path, "--start", id] + TinyAgentWorld.encoder,
                                mentioning: ["model checkpoint not found", "nowhere"])

        // --db without --episode: a new episode named after the sample, offloaded.
        let db = t.url("predict-new.sqlite")
        let fresh = try jsonDictionary(try worldgptOutput(predictArguments(t, start: id, ["--json", "--db", db.path])))
        XCTAssertEqual(fresh["episode"] as? String, "predict-\(id)")
        let stored = try jsonDictionary(try worldgptOutput(["memory", "stats", "--db", db.path, "--json"]))
        XCTAssertEqual(stored["steps"] as? Int, 1)
    }

    // MARK: - fork

    func testForkBranchesFromAStoredStep() throws {
        let t = try tiny()
        let db = try t.copyOfStore("fork.sqlite")
        let episode = try XCTUnwrap(try t.samples("sequences").first?.episode)
        let actions = t.url("what-if.txt")
        try "push the red block left\nslide the green ball up\n".write(to: actions, atomically: true, encoding: .utf8)
        let trace = t.url("fork.jsonl")
        let base = ["fork", "--model", t.tunedModel.path, "--reflector", t.reflector.path, "--kb", t.world.path, "--db", db.path, "--actions", actions.path] + TinyAgentWorld.encoder
        let out = try worldgptOutput(base + ["--from", "\(episode):3", "--name", "what-if", "--trace", trace.path])
        XCTAssertTrue(out.contains("forked what-if from \(episode):3: 2 step(s) offloaded"), out)
        let lines = try t.traceLines(trace)
        XCTAssertEqual(lines.map { $0["step"] as? Int }, [3, 4], "the fork keeps the numbering of the episode it branches from")
        XCTAssertEqual(lines.map { $0["action"] as? String }, ["push the red block left", "slide the green ball up"])
        guard lines.count == 2 else { return }  // failed above; indexing on would crash the whole test run
        XCTAssertEqual(lines[0]["recalled"] as? [String], ["what-if:2", "what-if:1", "what-if:0"], "the steps before the branch point are remembered")
        XCTAssertEqual(lines[1]["recalled"] as? [String], ["what-if:3", "what-if:2", "what-if:1"])
        let scenario = try XCTUnwrap(try t.samples("sequences").first?.scenario)
        let kb = try t.samples("kb")
        for line in lines {
            XCTAssertFalse(traceIDs(line, "retrieved").isEmpty)
            for item in traceIDs(line, "retrieved") { XCTAssertEqual(kb[Int(item.dropFirst(3))!].scenario, scenario, "knowledge of the source's scenario") }
        }

        // In the store: the branch starts from the source step's input state, continues from its own prediction, and
        // carries the source's dataset and scenario; the source episode is untouched.
        func steps(_ reference: String) throws -> [[String: Any]] {
            let json = try worldgptOutput(["memory", "show", reference, "--db", db.path, "--json"])
            return try jsonArray(json).compactMap { $0["record"] as? [String: Any] }
        }
        let branch = try steps("what-if"), source = try steps(episode)
        XCTAssertEqual(branch.map { $0["index"] as? Int }, [3, 4])
        guard branch.count == 2 else { return }  // failed above
        XCTAssertEqual(source.count, 7)
        let sourceStep = try XCTUnwrap(source.first { $0["index"] as? Int == 3 })
        XCTAssertEqual(try stateVectors(branch[0]["input"]), try stateVectors(sourceStep["input"]))
        XCTAssertEqual(try stateVectors(branch[1]["input"]), try stateVectors(branch[0]["predicted"]))
        XCTAssertEqual(try stateVectors(branch[0]["input"]).keys.sorted(), ["audio", "image"])
        let provenance = try XCTUnwrap(branch[0]["provenance"] as? [String: Any]), sourceProvenance = try XCTUnwrap(sourceStep["provenance"] as? [String: Any])
        XCTAssertEqual(provenance["dataset"] as? String, sourceProvenance["dataset"] as? String)
        XCTAssertEqual(provenance["scenario"] as? String, scenario)
        XCTAssertEqual(provenance["sampleID"] as? String, "what-if")
        let stats = try jsonDictionary(try worldgptOutput(["memory", "stats", "--db", db.path, "--json"]))
        XCTAssertEqual(stats["episodes"] as? Int, 5)
        XCTAssertEqual(stats["steps"] as? Int, 28 + 2)

        // Without --name and --trace: the default name, lines on standard output.
        let unnamed = try worldgptOutput(base + ["--from", "\(episode):5"])
        let printed = unnamed.split(separator: "\n").filter { $0.hasPrefix("{") }
        XCTAssertEqual(printed.count, 2)
        XCTAssertEqual(try jsonDictionary(String(try XCTUnwrap(printed.first)))["episode"] as? String, "\(episode)~5-fork")
        XCTAssertEqual(try steps("\(episode)~5-fork").map { $0["index"] as? Int }, [5, 6])

        try assertWorldGPTFails(base + ["--from", episode], mentioning: ["no step given"])
        // The runtime's flags apply to the fork too: --history 1 recalls one step.
        let short = try worldgptOutput(base + ["--from", "\(episode):4", "--name", "short-memory", "--history", "1"])
        let first = try jsonDictionary(String(try XCTUnwrap(short.split(separator: "\n").first { $0.hasPrefix("{") })))
        XCTAssertEqual(first["recalled"] as? [String], ["short-memory:3"])
        try assertWorldGPTFails(base + ["--from", "\(episode):99"], mentioning: ["has no step 99"])
        try assertWorldGPTFails(base + ["--from", "nobody:1"], mentioning: ["nobody"])
        try assertWorldGPTFails(["fork", "--model", t.tunedModel.path, "--from", "\(episode):3", "--actions", actions.path] + TinyAgentWorld.encoder, mentioning: ["fork needs --db"])
        try assertWorldGPTFails(base.map { $0 == actions.path ? t.url("missing.txt").path : $0 } + ["--from", "\(episode):3"], mentioning: ["missing.txt"])
    }

    // MARK: - samples build

    func testSamplesBuildWritesReadableTensorsOfTheSourceEmbeddings() throws {
        let t = try tiny()
        let out = t.url("samples")
        let args = ["samples", "build", "--data", t.world.path, "--kb", t.world.path, "--out", out.path] + TinyAgentWorld.encoder
        let printed = try worldgptOutput(args + ["--limit", "10", "--budget", "3", "--history", "1..2", "--seed", "2"])
        XCTAssertTrue(printed.hasPrefix("wrote 10 samples to \(out.path)"), printed)
        let entries = try jsonArray(fileText(out.appendingPathComponent("annotations.json")))
        XCTAssertEqual(entries.count, 10)
        XCTAssertNoThrow(try jsonDictionary(fileText(out.appendingPathComponent("schema.json"))))
        let train = try t.samples("train"), kb = try t.samples("kb")
        for (i, entry) in entries.enumerated() {
            let source = train[i]
            let stem = try XCTUnwrap(entry["tensors"] as? String)
            XCTAssertEqual(stem, String(format: "sample-%06d", i))
            XCTAssertEqual(entry["sample_id"] as? String, String(i))
            XCTAssertEqual((entry["action"] as? [String: Any])?["text"] as? String, source.actionText)
            let pt = try TorchFile.load(out.appendingPathComponent("tensors/\(stem).pt"))
            let torch = Dictionary(uniqueKeysWithValues: pt.flattenedTensors().map { ($0.name, $0.tensor) })
            let (safe, metadata) = try SafeTensors.readWithMetadata(out.appendingPathComponent("tensors/\(stem).safetensors"))
            let modal = ["", "context_", "history_"].flatMap { p in ["state0", "state1"].flatMap { ["\(p)\($0)_modal", "\(p)\($0)_mask"] } }
            XCTAssertEqual(Set(safe.map(\.name)), Set(["state0", "action", "state1", "context_state0", "context_action", "context_state1", "context_scores",
                                                       "history_state0", "history_action", "history_state1"] + modal))
            XCTAssertEqual(Set(torch.keys), Set(safe.map(\.name)))
            for (name, tensor) in safe {
                XCTAssertEqual(torch[name]?.shape, tensor.shape, name)
                XCTAssertEqual(torch[name]?.floatValues(), tensor.floatValues(), "\(name): .pt and .safetensors agree")
            }
            let arrays = Dictionary(uniqueKeysWithValues: safe.map { ($0.name, $0.tensor) })
            // Per modality: [M, D] rows (image, video, audio, text) equal to the source files, a mask of the present ones.
            XCTAssertEqual(arrays["state0_modal"]?.shape, [4, 64])
            let sourceState0 = try t.embeddings(source.state0)
            let rows0 = try XCTUnwrap(arrays["state0_modal"]).floatValues(), mask0 = try XCTUnwrap(arrays["state0_mask"])
            XCTAssertEqual(mask0.dtype, .uint8)
            for (m, modality) in Modality.allCases.enumerated() {
                XCTAssertEqual(mask0.bytes[m], sourceState0[modality] == nil ? 0 : 1, "\(modality) mask")
                XCTAssertEqual(Array(rows0[(m * 64)..<((m + 1) * 64)]), sourceState0[modality] ?? [Float](repeating: 0, count: 64), "\(modality) row")
            }
            // state0/state1: the mean of the source's modality embeddings.
            XCTAssertEqual(arrays["state0"]?.shape, [64])
            XCTAssertEqual(arrays["action"]?.shape, [384])
            let s0 = meanVector(Array(try t.embeddings(source.state0).values)), s1 = meanVector(Array(try t.embeddings(source.state1).values))
            for (a, e) in zip(try XCTUnwrap(arrays["state0"]).floatValues(), s0) { XCTAssertEqual(a, e, accuracy: 1e-6) }
            for (a, e) in zip(try XCTUnwrap(arrays["state1"]).floatValues(), s1) { XCTAssertEqual(a, e, accuracy: 1e-6) }
            // Context: at most the budget, from the sample's scenario in the kb split, rows equal to those transitions.
            let context = try XCTUnwrap(entry["context"] as? [[String: Any]])
            XCTAssertLessThanOrEqual(context.count, 3)
            XCTAssertEqual(arrays["context_state0"]?.shape, [context.count, 64])
            XCTAssertEqual(arrays["context_scores"]?.floatValues(), try context.map { Float(try XCTUnwrap($0["score"] as? Double)) })
            XCTAssertEqual(metadata["sample_id"], String(i))
            let ids = context.compactMap { $0["id"] as? String }
            XCTAssertEqual(metadata["context_ids"], String(decoding: try JSONSerialization.data(withJSONObject: ids), as: UTF8.self))
            let rows = try XCTUnwrap(arrays["context_state1"]).floatValues()
            for (r, id) in ids.enumerated() {
                let other = kb[try XCTUnwrap(Int(id.dropFirst(3)))]
                XCTAssertEqual(other.scenario, source.scenario)
                let expected = meanVector(Array(try t.embeddings(other.state1).values))
                for (a, e) in zip(rows[(r * 64)..<((r + 1) * 64)], expected) { XCTAssertEqual(a, e, accuracy: 1e-6) }
            }
            // History: 1–2 earlier steps of the same episode, most recent first; the latest one's state1 is this state0.
            let history = try XCTUnwrap(entry["history"] as? [String])
            let step = try XCTUnwrap(source.step)
            XCTAssertLessThanOrEqual(history.count, min(2, step))
            if step > 0 { XCTAssertGreaterThanOrEqual(history.count, 1) }
            XCTAssertEqual(history, (0..<history.count).map { String(i - 1 - $0) })
            XCTAssertEqual(arrays["history_state1"]?.shape, [history.count, 64])
            if !history.isEmpty { XCTAssertEqual(Array(try XCTUnwrap(arrays["history_state1"]).floatValues().prefix(64)), try XCTUnwrap(arrays["state0"]).floatValues()) }
        }

        // Flags: --limit, --budget, --history N, --split and --seed change what is written.
        let other = t.url("samples-2")
        let args2 = ["samples", "build", "--data", t.world.path, "--kb", t.world.path, "--out", other.path] + TinyAgentWorld.encoder
        func annotations(_ extra: [String]) throws -> [[String: Any]] {
            try worldgptOutput(args2 + extra)
            return try jsonArray(fileText(other.appendingPathComponent("annotations.json")))
        }
        XCTAssertEqual(try annotations(["--limit", "4"]).count, 4)
        XCTAssertEqual(try annotations(["--limit", "10", "--budget", "1"]).map { ($0["context"] as? [Any])?.count }, Array(repeating: 1, count: 10))
        XCTAssertEqual(try annotations(["--limit", "10", "--history", "0"]).map { ($0["history"] as? [Any])?.count }, Array(repeating: 0, count: 10))
        let kbSamples = try annotations(["--limit", "3", "--split", "kb"])
        XCTAssertEqual(kbSamples.map { $0["dataset"] as? String }, Array(repeating: "state/action_kb.json", count: 3))
        let histories = { (seed: String) in try annotations(["--limit", "70", "--history", "1..5", "--seed", seed]).map { ($0["history"] as? [String]) ?? [] } }
        XCTAssertNotEqual(try histories("1"), try histories("2"), "the seed draws the history lengths")
        XCTAssertEqual(try histories("1"), try histories("1"))

        try assertWorldGPTFails(args2 + ["--history", "5..2"], mentioning: ["--history must be N or LO..HI"])
        try assertWorldGPTFails(args2 + ["--history", "two"], mentioning: ["--history must be N or LO..HI"])
        try assertWorldGPTFails(args2 + ["--split", "nope"], mentioning: ["nope.yaml"])
        try assertWorldGPTFails(["samples", "build", "--data", t.world.path, "--kb", t.url("nowhere").path, "--out", other.path] + TinyAgentWorld.encoder,
                                mentioning: ["knowledge base not found", "nowhere"])
    }

    // MARK: - kb build / search

    func testKnowledgeBaseBuildAndSearchFindTheNearestRows() throws {
        let t = try tiny()
        let kb = try t.samples("kb")
        let stateKB = t.url("state.sqlite"), actionKB = t.url("action.sqlite")
        let built = try worldgptOutput(["kb", "build", "--data", t.world.appendingPathComponent("kb.yaml").path, "--out", stateKB.path, "--text-encoder", "hashed"])
        XCTAssertEqual(built, "wrote \(kb.count) transitions to \(stateKB.path) (state dim 64, action dim 384, key state)\n")

        // --like ID: the ranking by cos(avg state0), computed here by brute force, the entry itself excluded. Ids are 1-based rows.
        let keys = try kb.map { meanVector(Array(try t.embeddings($0.state0).values)) }
        let queryID = 3
        let expected = keys.indices.filter { $0 != queryID - 1 }.map { (id: $0 + 1, score: cosine(keys[queryID - 1], keys[$0])) }.sorted { $0.score > $1.score }
        let hits = try jsonArray(try worldgptOutput(["kb", "search", "--kb", stateKB.path, "--like", "\(queryID)", "-k", "5", "--json"]))
        XCTAssertEqual(hits.compactMap { $0["id"] as? Int }, expected.prefix(5).map(\.id))
        for (hit, e) in zip(hits, expected) {
            XCTAssertEqual(try XCTUnwrap(hit["score"] as? Double), e.score, accuracy: 1e-5)
            let row = kb[e.id - 1]
            XCTAssertEqual(hit["sample"] as? String, String(e.id - 1))
            XCTAssertEqual(hit["action"] as? String, row.actionText)
            XCTAssertEqual(hit["scenario"] as? String, row.scenario)
        }
        // A query equal to a row (its action, in a KB keyed by action) finds that row first, at cosine 1.
        let built2 = try worldgptOutput(["kb", "build", "--data", t.world.appendingPathComponent("kb.yaml").path, "--out", actionKB.path, "--key", "action", "--text-encoder", "hashed"])
        XCTAssertTrue(built2.hasSuffix("key action)\n"), built2)
        let row = kb[10]
        let byText = try jsonArray(try worldgptOutput(["kb", "search", "--kb", actionKB.path, "--text", row.actionText, "-k", "3",
                                                                 "--text-encoder", "hashed", "--json"]))
        XCTAssertEqual(byText.count, 3)
        XCTAssertEqual(try XCTUnwrap(byText.first?["score"] as? Double), 1, accuracy: 1e-5)
        XCTAssertEqual(byText.first?["action"] as? String, row.actionText)
        let sameText = Set(kb.indices.filter { kb[$0].actionText == row.actionText }.map { $0 + 1 })
        XCTAssertTrue(sameText.contains(try XCTUnwrap(byText.first?["id"] as? Int)))
        // The text table shows the same ranking.
        let table = try worldgptOutput(["kb", "search", "--kb", stateKB.path, "--like", "\(queryID)", "-k", "5"]).split(separator: "\n")
        XCTAssertEqual(table.count, 6)
        XCTAssertEqual(table.dropFirst().map { Int($0.split(separator: " ")[1]) }, expected.prefix(5).map(\.id))

        // Filters: --scenario, --episode, --modality, -k.
        func search(_ extra: [String]) throws -> [[String: Any]] {
            try jsonArray(try worldgptOutput(["kb", "search", "--kb", stateKB.path, "--like", "\(queryID)", "--json"] + extra))
        }
        let s01 = try search(["--scenario", "s01", "-k", "50"])
        XCTAssertEqual(s01.count, kb.filter { $0.scenario == "s01" }.count)
        XCTAssertTrue(s01.allSatisfy { $0["scenario"] as? String == "s01" })
        let episode = try XCTUnwrap(kb[20].episode)
        let sameEpisode = try search(["--episode", episode, "-k", "50"])
        XCTAssertEqual(Set(sameEpisode.compactMap { $0["id"] as? Int }), Set(kb.indices.filter { kb[$0].episode == episode && $0 != queryID - 1 }.map { $0 + 1 }))
        XCTAssertEqual(try search(["--modality", "video"]).count, 0, "no row has video")
        XCTAssertEqual(try search(["--modality", "image", "audio", "-k", "7"]).count, 7)

        // Bad values.
        try assertWorldGPTFails(["kb", "build", "--data", t.world.appendingPathComponent("kb.yaml").path, "--out", t.url("x.sqlite").path, "--key", "colour"],
                                mentioning: ["--key must be state, action or both"])
        try assertWorldGPTFails(["kb", "build", "--data", t.world.appendingPathComponent("kb.yaml").path, "--out", t.url("x.sqlite").path, "--text-encoder", "bert"],
                                mentioning: ["--text-encoder must be minilm or hashed"])
        try assertWorldGPTFails(["kb", "search", "--kb", stateKB.path], mentioning: ["give exactly one of --like ID or --text"])
        try assertWorldGPTFails(["kb", "search", "--kb", stateKB.path, "--like", "1", "-k", "0"], mentioning: ["-k must be at least 1"])
        try assertWorldGPTFails(["kb", "search", "--kb", stateKB.path, "--like", "1", "--modality", "smell"], mentioning: ["unknown modality smell"])
        try assertWorldGPTFails(["kb", "search", "--kb", stateKB.path, "--text", "push", "--text-encoder", "hashed"], mentioning: ["keyed by `state`"])
        try assertWorldGPTFails(["kb", "search", "--kb", t.url("nowhere.sqlite").path, "--like", "1"], mentioning: ["nowhere.sqlite", "no such file"])
    }

    func testKnowledgeBaseBuildReadsTheNamedSection() throws {
        let t = try tiny()
        // One YAML with two sections: --section picks which dataset list is read.
        let yaml = t.world.appendingPathComponent("sections.yaml")
        let kbList = try String(contentsOf: t.world.appendingPathComponent("kb.yaml"), encoding: .utf8)
        let testList = try String(contentsOf: t.world.appendingPathComponent("test.yaml"), encoding: .utf8)
        func indent(_ s: String) -> String { s.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n") }
        try ("kb:\n" + indent(kbList) + "\ntest:\n" + indent(testList) + "\n").write(to: yaml, atomically: true, encoding: .utf8)
        let out = t.url("section.sqlite")
        let kbBuilt = try worldgptOutput(["kb", "build", "--data", yaml.path, "--section", "kb", "--out", out.path, "--text-encoder", "hashed"])
        XCTAssertTrue(kbBuilt.hasPrefix("wrote \(try t.samples("kb").count) transitions"), kbBuilt)
        let testBuilt = try worldgptOutput(["kb", "build", "--data", yaml.path, "--section", "test", "--out", out.path, "--text-encoder", "hashed"])
        XCTAssertTrue(testBuilt.hasPrefix("wrote \(try t.samples("test").count) transitions"), testBuilt)
        try assertWorldGPTFails(["kb", "build", "--data", yaml.path, "--section", "nope", "--out", out.path, "--text-encoder", "hashed"], mentioning: ["nope"])
    }

    // MARK: - train-reflector

    func testTrainReflectorWritesACheckpointThatLoadsAndContinues() throws {
        let t = try tiny()
        // The shared run: 40 steps in metrics.csv, a summary, and the comparison printed.
        XCTAssertEqual(try String(contentsOf: t.tuning.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n").count, 1 + 40)
        let summary = try jsonDictionary(fileText(t.tuning.appendingPathComponent("tuning.json")))
        let tuned = try XCTUnwrap(summary["tunedReflector"] as? Double)
        XCTAssertTrue(t.tuningOutput.contains(String(format: "+ tuned reflector              %6.2f", tuned)), t.tuningOutput)
        XCTAssertTrue(FileManager.default.fileExists(atPath: t.tunedModel.appendingPathComponent("model.safetensors").path))

        // --reflector starts from the checkpoint (its "untrained" figure is the saved one's tuned figure), --steps
        // overrides the config, --eval-limit caps the held-out transitions.
        let out = t.url("tuning-2")
        let config = t.url("tuning.json")
        let again = try worldgptOutput(["train-reflector", "--model", t.tunedModel.path, "--kb", t.world.path, "--config", config.path, "--reflector", t.reflector.path,
                                        "--steps", "2", "--out", out.path] + TinyAgentWorld.encoder)
        let summary2 = try jsonDictionary(fileText(out.appendingPathComponent("tuning.json")))
        XCTAssertEqual(try XCTUnwrap(summary2["untunedReflector"] as? Double), tuned, accuracy: 1e-9, again)
        XCTAssertEqual(try String(contentsOf: out.appendingPathComponent("metrics.csv"), encoding: .utf8).split(separator: "\n").count, 1 + 2)
        let limited = try worldgptOutput(["train-reflector", "--model", t.model.path, "--kb", t.world.path, "--config", config.path, "--steps", "1", "--eval-limit", "2",
                                          "--out", t.url("tuning-3").path] + TinyAgentWorld.encoder)
        let summary3 = try jsonDictionary(fileText(t.url("tuning-3/tuning.json")))
        let modes = try String(contentsOf: t.world.appendingPathComponent("test.yaml"), encoding: .utf8).components(separatedBy: "- inputs:").count - 1
        XCTAssertEqual(summary3["heldOutSamples"] as? Int, 2 * modes, limited)
        XCTAssertLessThan(try XCTUnwrap(summary3["heldOutSamples"] as? Int), try XCTUnwrap(summary["heldOutSamples"] as? Int))

        // The new checkpoint drives predict.
        // --data and --eval pick the training and held-out transitions.
        let elsewhere = try runWorldGPT(["train-reflector", "--model", t.model.path, "--kb", t.world.path, "--config", config.path, "--steps", "1",
                                         "--data", t.world.appendingPathComponent("kb.yaml").path, "--eval", t.world.appendingPathComponent("sequences.yaml").path,
                                         "--out", t.url("tuning-4").path] + TinyAgentWorld.encoder)
        XCTAssertEqual(elsewhere.status, 0, elsewhere.stderr)
        XCTAssertTrue(elsewhere.stderr.contains("loading training transitions from \(t.world.appendingPathComponent("kb.yaml").path)"), elsewhere.stderr)
        XCTAssertTrue(elsewhere.stdout.contains("held-out cosine ×100 on \(t.world.appendingPathComponent("sequences.yaml").path)"), elsewhere.stdout)
        let (id, _) = try kbSample(t, step: 3)
        let line = try jsonDictionary(try worldgptOutput(["predict", "--model", out.appendingPathComponent("model").path, "--reflector", out.appendingPathComponent("reflector.pt").path,
                                                          "--kb", t.world.path, "--data", t.world.path, "--split", "kb", "--start", id, "--json"] + TinyAgentWorld.encoder))
        XCTAssertFalse(traceIDs(line, "kept").isEmpty)

        // Bad inputs.
        let bad = t.url("bad-tuning.json")
        try "{\"steps\": \"many\"}".write(to: bad, atomically: true, encoding: .utf8)
        let common = ["train-reflector", "--model", t.model.path, "--kb", t.world.path, "--out", t.url("tuning-bad").path] + TinyAgentWorld.encoder
        try assertWorldGPTFails(common + ["--config", bad.path], mentioning: ["--config", "bad-tuning.json", "not a tuning config"])
        let odd = t.url("odd-tuning.json")
        try TinyAgentWorld.tuningConfig(steps: 1, hiddenWidth: 100).write(to: odd, atomically: true, encoding: .utf8)
        try assertWorldGPTFails(common + ["--config", odd.path], mentioning: ["hidden_width must be a multiple of 64"])
        try assertWorldGPTFails(common + ["--config", config.path, "--steps", "0"], mentioning: ["steps must be positive"])
        try assertWorldGPTFails(common + ["--config", config.path, "--reflector", t.url("none.pt").path], mentioning: ["none.pt"])
        try assertWorldGPTFails(["train-reflector", "--model", t.model.path, "--kb", t.url("state.sqlite").path, "--out", t.url("x").path] + TinyAgentWorld.encoder,
                                mentioning: ["give --data"])
    }

    // MARK: - memory stats

    func testMemoryStatsCountWhatTheRolloutWrote() throws {
        let t = try tiny()
        let sequences = try t.samples("sequences")
        let lines = try t.traceLines()
        XCTAssertEqual(lines.count, sequences.count)
        // The runtime stores, per step, each recalled step and each retrieved candidate with the filter's decision on it.
        let annotations = lines.map { 2 * traceIDs($0, "retrieved").count + (($0["recalled"] as? [String])?.count ?? 0) }.reduce(0, +)
        let stats = try jsonDictionary(try worldgptOutput(["memory", "stats", "--db", t.store.path, "--json"]))
        XCTAssertEqual(stats["episodes"] as? Int, Set(sequences.compactMap(\.episode)).count)
        XCTAssertEqual(stats["steps"] as? Int, 4 * 7)
        XCTAssertEqual(stats["annotations"] as? Int, annotations)
        XCTAssertEqual(stats["dim"] as? Int, 64)
        let embeddings = try XCTUnwrap(stats["embeddings"] as? [String: Int])
        for column in ["input_image", "input_audio", "predicted_image", "predicted_audio", "observed_image", "observed_audio", "action_embedding"] {
            XCTAssertEqual(embeddings[column], 28, column)
        }
        XCTAssertEqual(stats["path"] as? String, t.store.path)
        let fileBytes = try XCTUnwrap(stats["fileBytes"] as? Int)
        XCTAssertEqual(fileBytes, try XCTUnwrap(try FileManager.default.attributesOfItem(atPath: t.store.path)[.size] as? NSNumber).intValue)
        let migrations = try XCTUnwrap(stats["migrations"] as? [String])
        XCTAssertFalse(migrations.isEmpty)

        // The text form: every line, label then value, says what the JSON says.
        let text = try worldgptOutput(["memory", "stats", "--db", t.store.path])
        var printed: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let label = line.drop { $0 == " " }.prefix { $0 != " " }
            printed[String(label)] = line.drop { $0 == " " }.dropFirst(label.count).trimmingCharacters(in: .whitespaces)
        }
        let expected = ["store": t.store.path, "dimension": "64", "migrations": migrations.joined(separator: ", "), "episodes": "4", "steps": "28",
                        "annotations": "\(annotations)", "recalls": "\(try XCTUnwrap(stats["recalls"] as? Int))",
                        "file": "\(fileBytes) bytes (+ \(try XCTUnwrap(stats["walBytes"] as? Int)) bytes WAL)"]
            .merging(embeddings.mapValues(String.init)) { a, _ in a }
        XCTAssertEqual(printed, expected, text)
        try assertWorldGPTFails(["memory", "stats", "--db", t.url("none.sqlite").path], mentioning: ["none.sqlite"])
        try assertWorldGPTFails(["memory", "stats"], mentioning: ["--db"])
    }
}
