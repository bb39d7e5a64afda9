// A minimal HTTP/1.1 server on 127.0.0.1 (ephemeral port) for testing ExternalEncoder; one request per connection.
import Foundation
#if canImport(Glibc)
import Glibc
#endif

final class LocalHTTPServer: @unchecked Sendable {
    typealias Handler = @Sendable (_ body: Data) -> (status: Int, body: Data)
    let port: UInt16
    private let socketFD: Int32
    private let handler: Handler
    private let lock = NSLock()
    private var stopped = false
    private(set) var requestCount = 0

    init(handler: @escaping Handler) throws {
        self.handler = handler
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw NSError(domain: "LocalHTTPServer", code: Int(errno)) }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 8) == 0 else { close(fd); throw NSError(domain: "LocalHTTPServer", code: Int(errno)) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        port = UInt16(bigEndian: address.sin_port)
        socketFD = fd
        let thread = Thread { [self] in self.loop() }
        thread.start()
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)/embed")! }

    func stop() {
        lock.lock()
        stopped = true
        lock.unlock()
        shutdown(socketFD, Int32(SHUT_RDWR))
        close(socketFD)
    }

    private func loop() {
        while true {
            let client = accept(socketFD, nil, nil)
            if client < 0 {
                lock.lock(); let done = stopped; lock.unlock()
                if done { return } else { continue }
            }
            serveOne(client)
            close(client)
        }
    }

    private func serveOne(_ client: Int32) {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var headerEnd: Range<Data.Index>?
        var contentLength = 0
        while true {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            received.append(buffer, count: n)
            if headerEnd == nil, let range = received.range(of: Data("\r\n\r\n".utf8)) {
                headerEnd = range
                let header = String(decoding: received[..<range.lowerBound], as: UTF8.self)
                for line in header.split(separator: "\r\n") where line.lowercased().hasPrefix("content-length:") {
                    contentLength = Int(line.split(separator: ":")[1].trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
            if let headerEnd, received.count - headerEnd.upperBound >= contentLength { break }
        }
        let body = received[headerEnd!.upperBound...]
        lock.lock(); requestCount += 1; lock.unlock()
        let (status, reply) = handler(Data(body))
        var response = Data("HTTP/1.1 \(status) \(status == 200 ? "OK" : "Error")\r\nContent-Type: application/json\r\nContent-Length: \(reply.count)\r\nConnection: close\r\n\r\n".utf8)
        response.append(reply)
        response.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(client, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { return }
                offset += n
            }
        }
    }
}
