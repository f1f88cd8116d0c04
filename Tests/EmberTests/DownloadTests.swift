import XCTest
@testable import Ember

/// The download path against a real HTTP server on 127.0.0.1 serving generated IDX files.
final class DownloadTests: XCTestCase {
    struct Files {
        var bodies: [String: [UInt8]] = [:]
        var resources: IDXResources
    }

    /// Four small gzipped IDX files and resources whose MD5s are theirs (mirrors set by
    /// each test).
    func makeFiles() throws -> Files {
        let names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                     "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
        let contents = [DataFixtures.images(count: 12), DataFixtures.labels(count: 12),
                        DataFixtures.images(count: 4), DataFixtures.labels(count: 4)]
        var bodies: [String: [UInt8]] = [:]
        var files: [IDXResources.File] = []
        for (name, content) in zip(names, contents) {
            let gz = try DataFixtures.gzip(content)
            bodies[name] = gz
            files.append(.init(name: name, md5: md5Hex(gz), rawMD5: md5Hex(content)))
        }
        var res = IDXResources(folder: "FashionMNIST", mirrors: [], files: files, localCopies: [],
                               classes: FashionMNIST.classes)
        res.timeout = 5
        return Files(bodies: bodies, resources: res)
    }

    func load(_ root: String, _ res: IDXResources, train: Bool = true) throws -> FashionMNIST {
        try FashionMNIST(root: root, train: train, download: true, resources: res, progress: true)
    }

    func testDownloadsFromFirstWorkingMirrorAfter404() throws {
        let files = try makeFiles()
        let bodies = files.bodies
        let server = try LocalHTTPServer { path in
            // /missing/ answers 404 for everything; /good/ serves the files.
            let name = String(path.split(separator: "/").last ?? "")
            if path.hasPrefix("/good/"), let b = bodies[name] { return .init(status: 200, body: b) }
            return .init(status: 404, body: Array("no such file".utf8))
        }
        defer { server.stop() }
        var res = files.resources
        res.mirrors = [server.baseURL + "/missing/", server.baseURL + "/good/"]
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }

        let ds = try load(root, res)
        XCTAssertEqual(ds.count, 12)
        XCTAssertEqual(ds[11].1, 1)
        XCTAssertEqual(DataFixtures.listing(root + "/FashionMNIST/raw"), bodies.keys.sorted(), "all four files, nothing else")
        XCTAssertEqual(server.requests.count, 8, "each file: a 404 then a 200")
        XCTAssertEqual(server.requests.first, "/missing/train-images-idx3-ubyte.gz")
        // Present now: no further requests.
        _ = try load(root, res, train: false)
        XCTAssertEqual(server.requests.count, 8)
    }

    func testTruncatedBodyAndChecksumMismatchLeaveNothingBehind() throws {
        let files = try makeFiles()
        let bodies = files.bodies
        let server = try LocalHTTPServer { path in
            let name = String(path.split(separator: "/").last ?? "")
            guard let b = bodies[name] else { return .init(status: 404, body: []) }
            if path.hasPrefix("/short/") {   // announces the full length, sends half, closes
                return .init(status: 200, body: Array(b.prefix(b.count / 2)), announcedLength: b.count)
            }
            var bad = b   // same length, one byte changed
            bad[bad.count / 2] ^= 0xFF
            return .init(status: 200, body: bad)
        }
        defer { server.stop() }
        var res = files.resources
        res.mirrors = [server.baseURL + "/short/", server.baseURL + "/corrupt/"]
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }

        XCTAssertThrowsError(try load(root, res)) { error in
            guard case DatasetError.download(.allMirrorsFailed(let file, let attempts)) = error else {
                return XCTFail("\(error)")
            }
            XCTAssertEqual(file, "train-images-idx3-ubyte.gz")
            XCTAssertEqual(attempts.count, 2)
            switch attempts[0] {
            case .incomplete, .transport: break   // curl may report the short body itself
            default: XCTFail("expected a cut-short body, got \(attempts[0])")
            }
            guard case .checksumMismatch(let url, let expected, let got) = attempts[1] else {
                return XCTFail("expected a checksum mismatch, got \(attempts[1])")
            }
            XCTAssert(url.hasSuffix("/corrupt/train-images-idx3-ubyte.gz"))
            XCTAssertEqual(expected, res.files[0].md5)
            XCTAssertNotEqual(got, expected)
        }
        XCTAssertEqual(DataFixtures.listing(root + "/FashionMNIST/raw"), [], "no partial or temporary file is left")
    }

    func testUnreachableMirrorIsATransportError() throws {
        var res = try makeFiles().resources
        // A port nothing listens on: bind a socket, note its port, close it.
        let server = try LocalHTTPServer { _ in .init(status: 404, body: []) }
        let port = server.port
        server.stop()
        res.mirrors = ["http://127.0.0.1:\(port)/"]
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertThrowsError(try load(root, res)) { error in
            guard case DatasetError.download(.allMirrorsFailed(_, let attempts)) = error,
                  case .transport = attempts.first else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(DataFixtures.listing(root + "/FashionMNIST/raw"), [])
    }
}
