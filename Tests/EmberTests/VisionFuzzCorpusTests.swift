import Foundation
import XCTest
@testable import Ember

/// Replays what the image and CIFAR fuzzers kept (Fuzz/run.sh image | cifar), crash
/// reproducers included, through the real readers: each input decodes consistently or throws
/// the reader's own error, never traps. scripts/asan.sh runs these under ASan and UBSan too
/// (its filter matches FuzzCorpusTests).
final class VisionFuzzCorpusTests: XCTestCase {
    func corpus(_ name: String) throws -> [[UInt8]] {
        let dir = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/\(name)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertGreaterThan(files.count, 20, "the corpus is checked in")
        return try files.map { [UInt8](try Data(contentsOf: dir.appendingPathComponent($0))) }
    }

    func testImageCorpusReplays() throws {
        var decoded = 0, rejected = 0
        for bytes in try corpus("image-corpus") {
            for mode in ImageReadMode.allCases {
                do {
                    let t = try decodeImage(bytes, mode: mode, name: "corpus", maxPixels: 1 << 20)
                    XCTAssertEqual(t.dtype, .uint8)
                    XCTAssertEqual(t.ndim, 3)
                    if mode != .unchanged { XCTAssertEqual(t.shape[0], [1, 1, 2, 3, 4][mode.rawValue]) }
                    decoded += 1
                } catch let e as ImageError {
                    XCTAssertEqual(e.file, "corpus")
                    rejected += 1
                }
            }
        }
        XCTAssertGreaterThan(decoded, 0, "the corpus holds valid images too")
        XCTAssertGreaterThan(rejected, 0)
    }

    func testCIFARCorpusReplays() throws {
        var parsed = 0, rejected = 0
        func parse(_ entry: [UInt8]) {
            do {
                let b = try CIFARBatch.parse(entry, file: "corpus", labelBytes: 1, classCounts: [100])
                XCTAssertEqual(b.images.count, entry.count / 3073 * 3072)
                parsed += 1
            } catch CIFARError.corrupt(let file, _) {
                XCTAssertEqual(file, "corpus")
                rejected += 1
            } catch { XCTFail("\(error)") }
        }
        for bytes in try corpus("cifar-corpus") {
            parse(bytes)
            do {
                let reader = try ArchiveReader(bytes: bytes, name: "corpus")
                var entries = 0
                while let entry = try reader.next(), entries < 16 {
                    entries += 1
                    if entry.isFile { parse(try reader.readEntry(entry, maxBytes: 1 << 16)) }
                }
            } catch let e as ArchiveError {
                XCTAssertEqual(e.file, "corpus")
            }
        }
        XCTAssertGreaterThan(parsed, 0, "the corpus holds valid batches too")
        XCTAssertGreaterThan(rejected, 0)
    }
}
