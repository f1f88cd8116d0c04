import Foundation
import XCTest
@testable import Ember

/// CIFAR-10/100 on small archives in the official binary layout (tar.gz of
/// `cifar-10-batches-bin/*.bin` records: label byte(s), then R, G and B planes of 32×32),
/// downloaded from a loopback server or found on disk.
final class CIFARTests: XCTestCase {
    /// Pixel (c, y, x) of image `i` of a batch: a function of all four, so any layout
    /// mistake shows.
    static func pixel(_ seed: Int, _ i: Int, _ c: Int, _ y: Int, _ x: Int) -> UInt8 {
        UInt8(truncatingIfNeeded: seed * 97 + i * 31 + c * 71 + y * 5 + x * 3)
    }

    static func batch(seed: Int, count: Int, labels: (Int) -> [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        for i in 0..<count {
            out += labels(i)
            for c in 0..<3 { for y in 0..<32 { for x in 0..<32 { out.append(pixel(seed, i, c, y, x)) } } }
        }
        return out
    }

    static let cifar10Names = "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n\n"

    /// A cifar-10-binary.tar.gz with 3 images per training batch and 4 test images.
    static func cifar10Archive() throws -> [UInt8] {
        var files: [(String, [UInt8])] = [("cifar-10-batches-bin/batches.meta.txt", Array(cifar10Names.utf8))]
        for b in 1...5 {
            files.append(("cifar-10-batches-bin/data_batch_\(b).bin", batch(seed: b, count: 3) { [UInt8((b * 3 + $0) % 10)] }))
        }
        files.append(("cifar-10-batches-bin/test_batch.bin", batch(seed: 9, count: 4) { [UInt8(9 - $0)] }))
        files.append(("cifar-10-batches-bin/readme.html", Array("<html></html>".utf8)))
        return try DataFixtures.gzip(makeTar(files))
    }

    func resources10(_ archive: [UInt8], mirrors: [String]) -> CIFARResources {
        var r = CIFAR10.resources
        r = CIFARResources(name: r.name, archive: r.archive, md5: md5Hex(archive), mirrors: mirrors, folder: r.folder,
                           trainFiles: r.trainFiles, testFiles: r.testFiles, labelBytes: r.labelBytes, nameFiles: r.nameFiles,
                           timeout: 5)
        return r
    }

    func testCIFAR10DownloadsExtractsAndParses() throws {
        let archive = try Self.cifar10Archive()
        let server = try LocalHTTPServer { path in
            path == "/good/cifar-10-binary.tar.gz" ? .init(status: 200, body: archive) : .init(status: 404, body: [])
        }
        defer { server.stop() }
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let res = resources10(archive, mirrors: [server.baseURL + "/missing/", server.baseURL + "/good/"])

        let train = try CIFAR10(root: root, train: true, download: true, transformClosure: nil, targetTransform: nil,
                                resources: res, progress: true)
        XCTAssertEqual(server.requests, ["/missing/cifar-10-binary.tar.gz", "/good/cifar-10-binary.tar.gz"])
        XCTAssertEqual(train.count, 15)
        XCTAssertEqual(train.classes, ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"])
        XCTAssertEqual(train.classToIdx["truck"], 9)
        XCTAssertEqual(train.targets, (0..<15).map { (($0 / 3 + 1) * 3 + $0 % 3) % 10 })
        let (x, y) = train[7]   // batch 3, image 1
        XCTAssertEqual(y, 0)
        XCTAssertEqual(x.shape, [3, 32, 32])
        XCTAssertEqual(x.dtype, .uint8)
        for (c, yy, xx) in [(0, 0, 0), (1, 5, 7), (2, 31, 30)] {
            XCTAssertEqual(x[c, yy, xx].item(), Double(Self.pixel(3, 1, c, yy, xx)))
        }
        XCTAssertEqual(DataFixtures.listing(root + "/cifar-10-batches-bin"),
                       ["batches.meta.txt", "data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
                        "data_batch_5.bin", "test_batch.bin"])

        // The test split, from the extracted files: no further request.
        let test = try CIFAR10(root: root, train: false, download: true, transformClosure: { try ToDtype(.float32, scale: true)($0) },
                               targetTransform: Lambda { (y: Int) in y * 10 }, resources: res, progress: false)
        XCTAssertEqual(server.requests.count, 2)
        XCTAssertEqual(test.targets, [9, 8, 7, 6])
        let (tx, ty) = try test.sample(at: 2)
        XCTAssertEqual(ty, 70)
        XCTAssertEqual(tx[2, 3, 4].item(), Double(Float(Self.pixel(9, 2, 2, 3, 4)) * (1 / 255)), accuracy: 1e-7)
        let batches = Array(DataLoader(test, batchSize: 4, numWorkers: 1))
        XCTAssertEqual(batches[0].0.shape, [4, 3, 32, 32])
        XCTAssertEqual(batches[0].1.toArray(), [90, 80, 70, 60])
    }

    func testCIFAR100FineAndCoarseLabelsFromALocalArchive() throws {
        let coarse = (0..<20).map { "super\($0)" }.joined(separator: "\n")
        let fine = (0..<100).map { "class\($0)" }.joined(separator: "\n")
        let tar = makeTar([
            ("cifar-100-binary/coarse_label_names.txt", Array(coarse.utf8)),
            ("cifar-100-binary/fine_label_names.txt", Array(fine.utf8)),
            ("cifar-100-binary/train.bin", Self.batch(seed: 1, count: 6) { [UInt8($0 * 3), UInt8($0 * 17)] }),
            ("cifar-100-binary/test.bin", Self.batch(seed: 2, count: 2) { [UInt8(19 - $0), UInt8(99 - $0)] }),
        ])
        let archive = try DataFixtures.gzip(tar)
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data(archive).write(to: URL(fileURLWithPath: root + "/cifar-100-binary.tar.gz"))
        let r = CIFAR100.resources
        let res = CIFARResources(name: r.name, archive: r.archive, md5: md5Hex(archive), mirrors: [], folder: r.folder,
                                 trainFiles: r.trainFiles, testFiles: r.testFiles, labelBytes: 2, nameFiles: r.nameFiles)
        let ds = try CIFAR100(root: root, train: true, download: false, transformClosure: nil, targetTransform: nil,
                              resources: res, progress: false)
        XCTAssertEqual(ds.count, 6)
        XCTAssertEqual(ds.targets, [0, 17, 34, 51, 68, 85])
        XCTAssertEqual(ds.coarseTargets, [0, 3, 6, 9, 12, 15])
        XCTAssertEqual(ds.classes.count, 100)
        XCTAssertEqual(ds.classes[17], "class17")
        XCTAssertEqual(ds.coarseClasses.count, 20)
        XCTAssertEqual(ds.image(at: 4)[1, 2, 3].item(), Double(Self.pixel(1, 4, 1, 2, 3)))
        let test = try CIFAR100(root: root, train: false, download: false, transformClosure: nil, targetTransform: nil,
                                resources: res, progress: false)
        XCTAssertEqual(test.targets, [99, 98])
        XCTAssertEqual(test.coarseTargets, [19, 18])
    }

    func testMissingAndCorruptData() throws {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertThrowsError(try CIFAR10(root: root)) { error in
            XCTAssertEqual("\(error)", "CIFAR10: dataset not found or corrupted in \(root) (no extracted batches, no cifar-10-binary.tar.gz). You can use download: true to download it.")
        }
        // Extracted files with a bad label and a cut record.
        let dir = root + "/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let write = { (name: String, bytes: [UInt8]) in try Data(bytes).write(to: URL(fileURLWithPath: dir + "/" + name)) }
        try write("batches.meta.txt", Array(Self.cifar10Names.utf8))
        for b in 1...5 { try write("data_batch_\(b).bin", Self.batch(seed: b, count: 2) { _ in [1] }) }
        try write("test_batch.bin", Self.batch(seed: 0, count: 3) { $0 == 2 ? [10] : [0] })
        XCTAssertEqual(try CIFAR10(root: root).count, 10)
        XCTAssertThrowsError(try CIFAR10(root: root, train: false)) { error in
            XCTAssertEqual("\(error)", "\(dir)/test_batch.bin: record 2 has label 10, but there are 10 classes")
        }
        try write("test_batch.bin", Array(Self.batch(seed: 0, count: 3) { _ in [0] }.dropLast(5)))
        XCTAssertThrowsError(try CIFAR10(root: root, train: false)) { error in
            XCTAssertEqual("\(error)", "\(dir)/test_batch.bin: size 9214 is not a whole number of 3073-byte records")
        }
        try write("batches.meta.txt", [0xFF, 0xFE])
        XCTAssertThrowsError(try CIFAR10(root: root)) { error in
            XCTAssertEqual("\(error)", "\(dir)/batches.meta.txt: class names are not UTF-8 text")
        }
    }

    func testArchiveLackingABatchOrFailingItsChecksum() throws {
        let tar = makeTar([("cifar-10-batches-bin/batches.meta.txt", Array(Self.cifar10Names.utf8)),
                           ("cifar-10-batches-bin/data_batch_1.bin", Self.batch(seed: 1, count: 1) { _ in [0] })])
        let archive = try DataFixtures.gzip(tar)
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Data(archive).write(to: URL(fileURLWithPath: root + "/cifar-10-binary.tar.gz"))
        XCTAssertThrowsError(try CIFAR10(root: root, train: true, download: false, transformClosure: nil, targetTransform: nil,
                                         resources: resources10(archive, mirrors: []), progress: false)) { error in
            XCTAssertEqual("\(error)", "\(root)/cifar-10-binary.tar.gz: the archive lacks cifar-10-batches-bin/data_batch_2.bin, "
                + "cifar-10-batches-bin/data_batch_3.bin, cifar-10-batches-bin/data_batch_4.bin, cifar-10-batches-bin/data_batch_5.bin, "
                + "cifar-10-batches-bin/test_batch.bin")
        }
        // A download whose bytes do not have the published MD5 is refused and not kept.
        let good = try Self.cifar10Archive()
        let server = try LocalHTTPServer { _ in .init(status: 200, body: archive) }
        defer { server.stop() }
        let root2 = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root2) }
        XCTAssertThrowsError(try CIFAR10(root: root2, train: true, download: true, transformClosure: nil, targetTransform: nil,
                                         resources: resources10(good, mirrors: [server.baseURL + "/"]), progress: false)) { error in
            guard case CIFARError.download(.allMirrorsFailed(_, let attempts)) = error,
                  case .checksumMismatch = attempts.first else { return XCTFail("\(error)") }
        }
        XCTAssertEqual(DataFixtures.listing(root2), [])
    }
}
