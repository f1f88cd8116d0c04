import Foundation

/// A minimal HTTP/1.0 server on 127.0.0.1 (ephemeral port) over POSIX sockets, for testing
/// the download path without the network. Each request gets `handler(path)`; a response may
/// announce more bytes than it sends, to simulate a connection cut short.
final class LocalHTTPServer: @unchecked Sendable {
    struct Response {
        var status: Int
        var body: [UInt8]
        /// Content-Length to announce (default: body.count).
        var announcedLength: Int? = nil
    }

    let port: UInt16
    private let listener: Int32
    private let handler: (String) -> Response
    private var thread: Thread?
    private let lock = NSLock()
    private var stopping = false
    private(set) var requests: [String] = []
    private let finished = DispatchSemaphore(value: 0)

    init(handler: @escaping (String) -> Response) throws {
        self.handler = handler
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        guard listener >= 0 else { throw POSIXError(.EIO) }
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = 0
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { close(listener); throw POSIXError(.EADDRINUSE) }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) }
        }
        port = UInt16(bigEndian: addr.sin_port)
        let t = Thread { [self] in serve() }
        thread = t
        t.start()
    }

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Stops accepting and waits (at most 5 s) for the accept loop to end.
    func stop() {
        lock.lock()
        stopping = true
        lock.unlock()
        _ = finished.wait(timeout: .now() + 5)
        close(listener)
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func serve() {
        defer { finished.signal() }
        while !isStopping {
            var pfd = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            // Poll in short slices so that stop() is noticed quickly.
            guard poll(&pfd, 1, 50) > 0 else { continue }
            let c = accept(listener, nil, nil)
            if c < 0 { continue }
            var tv = timeval(tv_sec: 5, tv_usec: 0)
            setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
            handle(c)
            close(c)
        }
    }

    private func handle(_ c: Int32) {
        var request: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 4096)
        while !request.containsHeaderEnd {
            let n = recv(c, &buf, buf.count, 0)
            if n <= 0 { return }
            request += buf[0..<n]
        }
        let line = String(decoding: request.prefix { $0 != 13 }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let path = parts.count > 1 ? String(parts[1]) : "/"
        lock.lock()
        requests.append(path)
        lock.unlock()
        let r = handler(path)
        let reason = r.status == 200 ? "OK" : r.status == 404 ? "Not Found" : "Error"
        let head = "HTTP/1.1 \(r.status) \(reason)\r\nContent-Length: \(r.announcedLength ?? r.body.count)\r\n"
            + "Content-Type: application/octet-stream\r\nConnection: close\r\n\r\n"
        var out = Array(head.utf8) + r.body
        var sent = 0
        while sent < out.count {
            let n = out[sent...].withUnsafeBytes { send(c, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
        out.removeAll()
    }
}

private extension Array where Element == UInt8 {
    var containsHeaderEnd: Bool {
        guard count >= 4 else { return false }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 {
            return true
        }
        return false
    }
}
