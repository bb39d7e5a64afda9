// Fuzzes WorldNetAnnotations.parse: the JSON parser (JSONValue) and the WorldNet sample fields.
@testable import Formats
import Foundation
import FuzzSupport

Fuzzer.run(seeds: {
    let samples = (0..<4).map { i in
        WorldNetSample(index: i, state0: [.video: "v\(i).mp4", .audio: "a\(i).wav"], state1: [.image: "i\(i).jpg"],
                       actionText: "do \"thing\" \(i) ✓\\n", scenario: "s\(i % 2)", episode: "e", step: i,
                       metadata: ["tags": .array([.string("x"), .number(1.5e-3), .null, .bool(true)]), "state0.depth": .string("d.png")])
    }
    let text = "[\n" + samples.map { WorldNetAnnotations.json($0).serialized() }.joined(separator: ",\n") + "\n]\n"
    return ["annotations.json": Array(text.utf8), "reflector.json": try Fuzzer.fixture("reflector/reflector.json")]
}) { data in
    _ = try WorldNetAnnotations.parse(data, path: "fuzz.json")
}
