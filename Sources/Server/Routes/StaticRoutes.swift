// The contract and the inspector, served from the module's resources: /openapi.yaml, /docs, /ui.
import Foundation
import Hummingbird

extension ServerState {
    /// The bytes of a bundled resource (`openapi.yaml`, `ui/<file>`).
    static func resource(_ path: String) throws -> Data {
        guard let base = Bundle.module.resourceURL else { throw ServeError.notFound("resource \(path)") }
        let url = base.appendingPathComponent(path)
        guard let data = FileManager.default.contents(atPath: url.path) else { throw ServeError.notFound("resource \(path)") }
        return data
    }

    static let uiFiles: [String: String] = [
        "index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8",
        "docs.html": "text/html; charset=utf-8",
    ]

    func addStaticRoutes(to router: Router<ServeContext>) {
        router.get("openapi.yaml") { _, _ in Wire.bytes(try Self.resource("openapi.yaml"), contentType: "application/yaml") }
        router.get("docs") { _, _ in Wire.bytes(try Self.resource("ui/docs.html"), contentType: "text/html; charset=utf-8") }
        router.get("ui") { _, _ in Wire.bytes(try Self.resource("ui/index.html"), contentType: "text/html; charset=utf-8") }
        router.get("ui/:file") { _, context in
            let file = try context.parameter("file")
            guard let type = Self.uiFiles[file] else { throw ServeError.notFound("inspector file `\(file)`") }
            return Wire.bytes(try Self.resource("ui/\(file)"), contentType: type)
        }
        router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/ui"]) }
    }
}
