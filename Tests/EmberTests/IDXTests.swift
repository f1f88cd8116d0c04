import XCTest
@testable import Ember

final class IDXTests: XCTestCase {
    func testParsesValidFiles() throws {
        let im = try IDX.parseImages(DataFixtures.images(count: 3, rows: 2, cols: 4), file: "im")
        XCTAssertEqual([im.count, im.rows, im.cols], [3, 2, 4])
        XCTAssertEqual(Array(im.pixels.prefix(9)), [0, 1, 2, 3, 4, 5, 6, 7, 7])
        XCTAssertEqual(try IDX.parseLabels(DataFixtures.labels(count: 12), file: "lb"), (0..<12).map { UInt8($0 % 10) })
        // Big-endian dimensions: 0x00000100 = 256 labels.
        let lb = IDX.encode(magic: IDX.labelsMagic, dims: [256], payload: [UInt8](repeating: 1, count: 256))
        XCTAssertEqual(Array(lb[4..<8]), [0, 0, 1, 0])
        XCTAssertEqual(try IDX.parseLabels(lb, file: "lb").count, 256)
    }

    func assertProblem(_ body: @autoclosure () throws -> Any, _ expected: IDXProblem, file: StaticString = #filePath, line: UInt = #line) {
        do {
            _ = try body()
            XCTFail("expected \(expected)", file: file, line: line)
        } catch let e as IDXError {
            XCTAssertEqual(e.problem, expected, file: file, line: line)
            XCTAssert(e.description.hasPrefix("name.idx: "), e.description, file: file, line: line)
        } catch {
            XCTFail("unexpected \(error)", file: file, line: line)
        }
    }

    func testRejectsMalformedFiles() {
        let good = DataFixtures.images(count: 2, rows: 3, cols: 3)
        assertProblem(try IDX.parseImages([0, 0, 8], file: "name.idx"), .truncatedHeader(needed: 16, got: 3))
        assertProblem(try IDX.parseImages(Array(good.prefix(10)), file: "name.idx"), .truncatedHeader(needed: 16, got: 10))
        assertProblem(try IDX.parseImages(DataFixtures.labels(count: 2), file: "name.idx"),
                      .badMagic(expected: 0x803, got: 0x801))
        assertProblem(try IDX.parseImages(Array(good.dropLast()), file: "name.idx"), .payloadLength(expected: 18, got: 17))
        assertProblem(try IDX.parseImages(good + [0], file: "name.idx"), .payloadLength(expected: 18, got: 19))
        assertProblem(try IDX.parseImages(IDX.encode(magic: IDX.imagesMagic, dims: [2, 0, 3], payload: []), file: "name.idx"),
                      .badDimensions([2, 0, 3]))
        // Sizes whose product overflows must not wrap around to a small "valid" length.
        let huge = IDX.encode(magic: IDX.imagesMagic, dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0x1_0000 >> 4], payload: [])
        assertProblem(try IDX.parseImages(huge, file: "name.idx"), .badDimensions([0xFFFF_FFFF, 0xFFFF_FFFF, 4096]))
        assertProblem(try IDX.parsePair(images: good, imagesFile: "a", labels: DataFixtures.labels(count: 3),
                                        labelsFile: "name.idx", classes: 10), .countMismatch(images: 2, labels: 3))
        let badLabel = IDX.encode(magic: IDX.labelsMagic, dims: [2], payload: [3, 10])
        assertProblem(try IDX.parsePair(images: good, imagesFile: "a", labels: badLabel, labelsFile: "name.idx", classes: 10),
                      .labelOutOfRange(index: 1, label: 10, classes: 10))
    }

    /// Replays the inputs the fuzzer kept (Fuzz/run.sh): each must parse or throw IDXError,
    /// never crash, and parsing must be consistent with the header.
    func testFuzzCorpusReplays() throws {
        let dir = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/idx-corpus")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }
        XCTAssertGreaterThan(files.count, 10, "the corpus is checked in")
        var parsed = 0
        for f in files {
            let bytes = Array(try Data(contentsOf: dir.appendingPathComponent(f)))
            if let im = try? IDX.parseImages(bytes, file: f) {
                XCTAssertEqual(im.pixels.count, im.count * im.rows * im.cols)
                parsed += 1
            } else {
                XCTAssertThrowsError(try IDX.parseImages(bytes, file: f)) { XCTAssert($0 is IDXError) }
            }
            if let lb = try? IDX.parseLabels(bytes, file: f) {
                XCTAssertEqual(lb.count, bytes.count - 8)
                parsed += 1
            }
        }
        XCTAssertGreaterThan(parsed, 0, "the corpus holds valid files too")
    }

    func testCorruptGzipNamesFileAndProblem() throws {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try DataFixtures.writeRoot(root, trainCount: 5, testCount: 5)
        let raw = root + "/FashionMNIST/raw/"
        // A gzip stream cut in half.
        let gz = try DataFixtures.gzip(DataFixtures.images(count: 5))
        try FileManager.default.removeItem(atPath: raw + "t10k-images-idx3-ubyte")
        try Data(gz.prefix(gz.count / 2)).write(to: URL(fileURLWithPath: raw + "t10k-images-idx3-ubyte.gz"))
        XCTAssertThrowsError(try FashionMNIST(root: root, train: false)) { error in
            guard case DatasetError.corrupt(let e) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(e.file, raw + "t10k-images-idx3-ubyte.gz")
            guard case .unreadable(let msg) = e.problem else { return XCTFail("\(e)") }
            XCTAssert(msg.contains("unexpected end of file"), msg)
        }
        // A structurally wrong (but well-compressed) labels file.
        try Data(DataFixtures.labels(count: 4)).write(to: URL(fileURLWithPath: raw + "train-labels-idx1-ubyte"))
        XCTAssertThrowsError(try FashionMNIST(root: root, train: true)) { error in
            XCTAssertEqual("\(error)", raw + "train-labels-idx1-ubyte: 5 images but 4 labels")
        }
    }

    func testMNISTReadsItsOwnFolder() throws {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try DataFixtures.writeRoot(root, folder: "MNIST", trainCount: 9, testCount: 3)
        let ds = try MNIST(root: root, train: false)
        XCTAssertEqual(ds.count, 3)
        XCTAssertEqual(MNIST.classes[ds[2].1], "2 - two")
        XCTAssertEqual(ds.image(at: 1).pixels[0], 7)
        XCTAssertFalse(FileManager.default.fileExists(atPath: root + "/FashionMNIST"), "each dataset keeps to its folder")
    }

    func testMissingFilesWithoutDownloadExplains() {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var res = MNIST.resources
        res.localCopies = []
        XCTAssertThrowsError(try FashionMNIST(root: root, train: true, download: false, resources: res, progress: false)) { error in
            let text = "\(error)"
            XCTAssert(text.contains("download: true") && text.contains("train-images-idx3-ubyte.gz"), text)
        }
    }
}
