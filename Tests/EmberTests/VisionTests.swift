import Foundation
import XCTest
@testable import Ember

/// Where the vision fixtures live (scripts/make_vision_fixtures.py).
enum VisionFixtures {
    static var dir: String { Bundle.module.resourceURL!.appendingPathComponent("Fixtures/vision").path }
    static func path(_ name: String) -> String { dir + "/" + name }
    static func bytes(_ name: String) -> [UInt8] { [UInt8](FileManager.default.contents(atPath: path(name))!) }
    static let decoded = try! SafeTensors.read(from: path("decoded.safetensors")).tensors
}

/// readImage / decodeImage against torchvision.io.decode_image and PIL, and every kind of
/// bad file.
final class ImageDecodingTests: XCTestCase {
    static let files = ["rgb.png", "gray.png", "rgba.png", "gray_alpha.png", "palette.png", "bilevel.png",
                        "rgb.jpg", "gray.jpg", "progressive.jpg", "rgb444.jpg"]
    static let modes: [(String, ImageReadMode)] = [("unchanged", .unchanged), ("gray", .gray),
                                                   ("gray_alpha", .grayAlpha), ("rgb", .rgb), ("rgb_alpha", .rgbAlpha)]

    func testEveryFileAndModeMatchesTorchvision() throws {
        var compared = 0
        for file in Self.files {
            for (key, mode) in Self.modes {
                let got = try readImage(VisionFixtures.path(file), mode: mode)
                XCTAssertEqual(got.dtype, .uint8)
                guard var want = VisionFixtures.decoded["\(file)/\(key)"] else { continue }   // JPEG alpha modes: torchvision refuses
                XCTAssertEqual(got.shape, want.shape, "\(file) \(key)")
                if file == "bilevel.png" && (mode == .grayAlpha || mode == .rgbAlpha) {
                    // torchvision's added alpha is (1 << bit depth) - 1, i.e. 1 for a 1-bit
                    // file whose grey has been expanded to 0...255; Ember's is opaque (255).
                    let c = got.shape[0] - 1
                    XCTAssert(got[c].toArray().allSatisfy { $0 == 255 })
                    XCTAssert(want[c].toArray().allSatisfy { $0 == 1 })
                    want = want[0..<c]
                    XCTAssertEqual(got[0..<c].toArray(), want.toArray(), "\(file) \(key)")
                    compared += 1
                    continue
                }
                XCTAssertEqual(got.toArray(), want.toArray(), "\(file) \(key)")
                compared += 1
            }
        }
        XCTAssertGreaterThanOrEqual(compared, 30)
    }

    func testPaletteUnchangedIsExpandedWithItsTransparency() throws {
        let x = try readImage(VisionFixtures.path("palette.png"))
        let rgba = try XCTUnwrap(VisionFixtures.decoded["palette.png/rgb_alpha"])
        XCTAssertEqual(x.shape, rgba.shape)
        XCTAssertEqual(x.toArray(), rgba.toArray())
        XCTAssert(x[3].toArray().contains(0), "colour 2 is transparent")
    }

    func testJPEGAlphaModesAreOpaque() throws {
        let rgb = try readImage(VisionFixtures.path("rgb.jpg"), mode: .rgb)
        let rgba = try readImage(VisionFixtures.path("rgb.jpg"), mode: .rgbAlpha)
        XCTAssertEqual(rgba.shape, [4, 20, 24])
        XCTAssertEqual(rgba[0..<3].toArray(), rgb.toArray())
        XCTAssert(rgba[3].toArray().allSatisfy { $0 == 255 })
    }

    func testPILRGBConversionMatches() throws {
        for file in Self.files {
            let want = try XCTUnwrap(VisionFixtures.decoded["\(file)/pil_rgb"])
            XCTAssertEqual(try readImage(VisionFixtures.path(file), mode: .rgb).toArray(), want.toArray(), file)
        }
    }

    // MARK: Bad files

    func assertFails(_ bytes: [UInt8], _ expected: String, file: StaticString = #filePath, line: UInt = #line) {
        let dir = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/bad.img"
        _ = FileManager.default.createFile(atPath: path, contents: Data(bytes))
        XCTAssertThrowsError(try readImage(path, mode: .rgb), file: file, line: line) { error in
            guard let e = error as? ImageError else { return XCTFail("\(error)", file: file, line: line) }
            XCTAssertEqual(e.file, path, file: file, line: line)
            XCTAssert(e.message.contains(expected), "\(e.message) lacks \(expected)", file: file, line: line)
            XCTAssert(e.description.hasPrefix(path + ": "), file: file, line: line)
        }
    }

    func testEmptyAndTextFiles() {
        assertFails([], "the file is empty")
        assertFails(Array("hello, I am not a PNG\n".utf8), "not a PNG or JPEG image (unrecognised signature)")
        assertFails([0x89, 0x50, 0x4E, 0x47], "not a PNG or JPEG image")
    }

    func testTruncatedFiles() {
        let png = VisionFixtures.bytes("rgb.png")
        assertFails(Array(png.prefix(png.count / 2)), "corrupt PNG")
        assertFails(Array(png.prefix(20)), "corrupt PNG: file is truncated")
        for name in ["rgb.jpg", "progressive.jpg"] {
            let jpg = VisionFixtures.bytes(name)
            assertFails(Array(jpg.prefix(jpg.count * 2 / 3)), "corrupt JPEG: Premature end of JPEG file")
            assertFails(Array(jpg.prefix(40)), "corrupt JPEG")
        }
    }

    func testBadCRCIsAnError() {
        var png = VisionFixtures.bytes("rgb.png")
        let idat = indexOf(png, Array("IDAT".utf8))!
        let length = png[(idat - 4)..<idat].reduce(0) { $0 << 8 | Int($1) }
        png[idat + 4 + length] ^= 0x5A   // the stored CRC, data intact
        assertFails(png, "corrupt PNG: IDAT: CRC error")
    }

    func testAbsurdDeclaredSizesAreRefusedBeforeAllocating() {
        // PNG: a valid IHDR (CRC recomputed) declaring 100000 x 100000.
        var png = VisionFixtures.bytes("rgb.png")
        let ihdr = indexOf(png, Array("IHDR".utf8))!
        for (k, v) in [UInt32(100_000), 100_000].enumerated() {
            for b in 0..<4 { png[ihdr + 4 + 4 * k + b] = UInt8(truncatingIfNeeded: v >> (24 - 8 * b)) }
        }
        let crc = crc32(Array(png[ihdr..<(ihdr + 17)]))
        for b in 0..<4 { png[ihdr + 17 + b] = UInt8(truncatingIfNeeded: crc >> (24 - 8 * b)) }
        assertFails(png, "PNG declares 100000x100000 pixels, more than the 178956970 allowed")
        // Within the cap, but more than the file's bytes could inflate to.
        for (k, v) in [UInt32(12_000), 12_000].enumerated() {
            for b in 0..<4 { png[ihdr + 4 + 4 * k + b] = UInt8(truncatingIfNeeded: v >> (24 - 8 * b)) }
        }
        let crc2 = crc32(Array(png[ihdr..<(ihdr + 17)]))
        for b in 0..<4 { png[ihdr + 17 + b] = UInt8(truncatingIfNeeded: crc2 >> (24 - 8 * b)) }
        assertFails(png, "PNG declares 12000x12000 pixels, more than its \(png.count) bytes can hold")
        // JPEG: the frame header (SOF0) says 60000 x 60000.
        var jpg = VisionFixtures.bytes("rgb.jpg")
        let sof = indexOf(jpg, [0xFF, 0xC0])!
        jpg[sof + 5] = 0xEA; jpg[sof + 6] = 0x60; jpg[sof + 7] = 0xEA; jpg[sof + 8] = 0x60
        assertFails(jpg, "JPEG declares 60000x60000 pixels, more than the 178956970 allowed")
        // A caller's smaller cap.
        XCTAssertThrowsError(try readImage(VisionFixtures.path("rgb.jpg"), maxPixels: 100)) { error in
            XCTAssertEqual((error as? ImageError)?.message, "JPEG declares 24x20 pixels, more than the 100 allowed")
        }
    }

    func testMissingFileAndDirectory() {
        XCTAssertThrowsError(try readImage("/nonexistent/x.png")) { error in
            XCTAssertEqual(error as? ImageError, ImageError(file: "/nonexistent/x.png", message: "No such file or directory"))
        }
        XCTAssertThrowsError(try readImage(VisionFixtures.dir)) { error in
            XCTAssertEqual((error as? ImageError)?.message, "not a regular file")
        }
    }

    func indexOf(_ hay: [UInt8], _ needle: [UInt8]) -> Int? {
        (0...(hay.count - needle.count)).first { Array(hay[$0..<($0 + needle.count)]) == needle }
    }

    func crc32(_ bytes: [UInt8]) -> UInt32 {
        var c: UInt32 = 0xFFFF_FFFF
        for b in bytes {
            c ^= UInt32(b)
            for _ in 0..<8 { c = (c >> 1) ^ (0xEDB8_8320 & (0 &- (c & 1))) }
        }
        return c ^ 0xFFFF_FFFF
    }
}

/// ImageFolder against torchvision's on the same tree.
final class ImageFolderTests: XCTestCase {
    struct Spec: Decodable {
        struct Entry: Decodable { let path: String; let source: String? }
        let tree: [Entry]
        let classes: [String]
        let class_to_idx: [String: Int]
        let samples: [[Spec.Value]]
        let targets: [Int]
        enum Value: Decodable {
            case s(String), i(Int)
            init(from d: Decoder) throws {
                let c = try d.singleValueContainer()
                if let i = try? c.decode(Int.self) { self = .i(i) } else { self = .s(try c.decode(String.self)) }
            }
        }
    }

    func makeTree() throws -> (String, Spec) {
        let spec = try JSONDecoder().decode(Spec.self, from: Data(contentsOf: URL(fileURLWithPath: VisionFixtures.path("imagefolder.json"))))
        let root = DataFixtures.tempDir()
        for e in spec.tree {
            let dst = root + "/" + e.path
            try FileManager.default.createDirectory(atPath: (dst as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            let data = e.source.map { FileManager.default.contents(atPath: VisionFixtures.path($0))! } ?? Data("not an image".utf8)
            _ = FileManager.default.createFile(atPath: dst, contents: data)
        }
        return (root, spec)
    }

    func testClassesSamplesAndPixelsMatchTorchvision() throws {
        let (root, spec) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ds = try ImageFolder(root: root)
        XCTAssertEqual(ds.classes, spec.classes)
        XCTAssertEqual(ds.classToIdx, spec.class_to_idx)
        XCTAssertEqual(ds.targets, spec.targets)
        let rel = ds.samples.map { String($0.path.dropFirst(root.count + 1)) }
        let want = spec.samples.map { s -> String in if case .s(let p) = s[0] { return p } else { return "" } }
        XCTAssertEqual(rel, want)
        for i in 0..<ds.count {
            let (x, y) = try ds.sample(at: i)
            XCTAssertEqual(y, spec.targets[i])
            let source = try XCTUnwrap(spec.tree.first { $0.path == rel[i] }?.source)
            XCTAssertEqual(x.dtype, .uint8)
            XCTAssertEqual(x.toArray(), VisionFixtures.decoded["\(source)/pil_rgb"]!.toArray(), rel[i])
        }
    }

    func testTransformsAndCustomLoader() throws {
        let (root, _) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let ds = try ImageFolder(root: root, transform: Compose<Tensor, Tensor>([CenterCrop(4), ToDtype(.float32, scale: true)]),
                                 targetTransform: Lambda { (y: Int) in y + 10 }, extensions: [".png", ".jpg"],
                                 loader: { try readImage($0, mode: .gray) })
        XCTAssertEqual(ds.count, 5)   // B/z.jpg, cat/a.jpg, cat/b.png, cat/nested/c.PNG, dog/y.png
        XCTAssertThrowsError(try ImageFolder(root: root, extensions: [".png"])) { error in
            XCTAssertEqual("\(error)", "Found no valid file for the classes B. Supported extensions are: .png")
        }
        let (x, y) = try ds.sample(at: 0)
        XCTAssertEqual(x.shape, [1, 4, 4])
        XCTAssertEqual(x.dtype, .float32)
        XCTAssertEqual(y, 10)
        let loader = DataLoader(ds, batchSize: 5, numWorkers: 1)
        let batches = Array(loader)
        XCTAssertEqual(batches.count, 1)
        XCTAssertEqual(batches[0].0.shape, [5, 1, 4, 4])
        XCTAssertEqual(batches[0].1.toArray(), [10, 11, 11, 11, 12])
    }

    func testBadFilesFailOrAreSkippedAndCounted() throws {
        let (root, _) = try makeTree()
        defer { try? FileManager.default.removeItem(atPath: root) }
        _ = FileManager.default.createFile(atPath: root + "/dog/empty.png", contents: Data())
        let jpg = FileManager.default.contents(atPath: VisionFixtures.path("rgb.jpg"))!
        _ = FileManager.default.createFile(atPath: root + "/cat/cut.jpg", contents: jpg.prefix(jpg.count / 2))
        let strict = try ImageFolder(root: root)
        XCTAssertEqual(strict.count, 8)
        let cut = try XCTUnwrap(strict.samples.firstIndex { $0.path.hasSuffix("cut.jpg") })
        XCTAssertThrowsError(try strict.sample(at: cut)) { error in
            XCTAssertEqual(error as? ImageError, ImageError(file: root + "/cat/cut.jpg", message: "corrupt JPEG: Premature end of JPEG file"))
        }
        // The DataLoader passes the error on.
        var it = DataLoader(strict, batchSize: 8, numWorkers: 2).batches()
        XCTAssertThrowsError(try it.next())

        let lenient = try ImageFolder(root: root, skipBadFiles: true)
        XCTAssertEqual(lenient.count, 6)
        XCTAssertEqual(lenient.skippedFiles.map(\.file), [root + "/cat/cut.jpg", root + "/dog/empty.png"])
        XCTAssertEqual(lenient.skippedFiles.map(\.message), ["corrupt JPEG: Premature end of JPEG file", "the file is empty"])
        for i in 0..<lenient.count { _ = try lenient.sample(at: i) }
    }

    func testFolderErrors() throws {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        XCTAssertThrowsError(try ImageFolder(root: root)) { error in
            XCTAssertEqual("\(error)", "Couldn't find any class folder in \(root).")
        }
        try FileManager.default.createDirectory(atPath: root + "/a", withIntermediateDirectories: true)
        _ = FileManager.default.createFile(atPath: root + "/a/x.txt", contents: Data())
        XCTAssertThrowsError(try ImageFolder(root: root)) { error in
            XCTAssertEqual("\(error)", "Found no valid file for the classes a. Supported extensions are: .jpg, .jpeg, .png")
        }
    }
}

/// Decoding a window alone (JPEG: only the rows and columns it needs) gives the window of the
/// full decode, and ImageFolder's RandomResizedCrop-first path the same samples as decoding
/// whole images.
final class ImageWindowTests: XCTestCase {
    func testWindowDecodeIsTheFullDecodeCut() throws {
        var state: UInt64 = 12345   // windows from a fixed LCG
        func next(_ n: Int) -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int((state >> 33) % UInt64(n))
        }
        let files = ["window420.jpg", "window_progressive.jpg", "rgb.jpg", "gray.jpg", "rgb444.jpg", "progressive.jpg",
                     "rgb.png", "rgba.png"]
        for file in files {
            for mode in [ImageReadMode.rgb, .gray, .unchanged, .rgbAlpha] {
                let full = try readImage(VisionFixtures.path(file), mode: mode)
                let (h, w) = (full.shape[1], full.shape[2])
                var windows = [(0, 0, h, w), (0, 0, 1, 1), (h - 1, w - 1, 1, 1), (1, 1, h - 2, w - 2)]
                for _ in 0..<60 {
                    let wh = 1 + next(h), ww = 1 + next(w)
                    windows.append((next(h - wh + 1), next(w - ww + 1), wh, ww))
                }
                for win in windows {
                    let got = try readImageWindow(VisionFixtures.path(file), mode: mode) { _, _ in win }
                    let want = cropWindow(full, top: win.0, left: win.1, height: win.2, width: win.3)
                    XCTAssertEqual(got.shape, want.shape)
                    XCTAssertEqual(got.toArray(), want.toArray(), "\(file) \(mode) window \(win)")
                }
            }
        }
        XCTAssertThrowsError(try readImageWindow(VisionFixtures.path("window420.jpg"), mode: .rgb) { _, _ in (60, 0, 2, 5) }) { error in
            XCTAssertEqual("\(error)", "\(VisionFixtures.path("window420.jpg")): window (60, 0, 2, 5) is outside the 61x83 image")
        }
    }

    func testImageFolderDecodesOnlyTheCropWithTheSameSamples() throws {
        let root = NSTemporaryDirectory() + "ember-window-\(getpid())"
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (k, (file, copies)) in [("window420.jpg", 5), ("window_progressive.jpg", 4), ("rgb.png", 3)].enumerated() {
            let dir = root + "/c\(k)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            for i in 0..<copies {
                try FileManager.default.copyItem(atPath: VisionFixtures.path(file), toPath: dir + "/\(i)" + (file.hasSuffix(".png") ? ".png" : ".jpg"))
            }
        }
        let pipeline = Compose<Tensor, Tensor>([
            RandomResizedCrop(12, scale: (0.05, 1)), RandomHorizontalFlip(), ToDtype(.float32, scale: true)])
        let fast = try ImageFolder(root: root, transform: pipeline, decodeCropOnly: true)
        let whole = try ImageFolder(root: root, transform: pipeline)
        XCTAssertNotNil(fast.cropFirst)
        XCTAssertNil(whole.cropFirst)
        XCTAssertNil(try ImageFolder(root: root, transform: pipeline, loader: { try readImage($0, mode: .rgb) },
                                     decodeCropOnly: true).cropFirst)
        XCTAssertNotNil(try ImageFolder(root: root, transform: RandomResizedCrop(8), decodeCropOnly: true).cropFirst)
        XCTAssertNil(try ImageFolder(root: root, transform: Compose<Tensor, Tensor>([RandomHorizontalFlip(), RandomResizedCrop(8)]),
                                     decodeCropOnly: true).cropFirst)
        for seed in 0..<6 {
            let a = DataLoader(fast, batchSize: 4, shuffle: true, numWorkers: seed % 3, seed: UInt64(seed)).map { $0.0.toArray() + $0.1.toArray() }
            let b = DataLoader(whole, batchSize: 4, shuffle: true, numWorkers: 0, seed: UInt64(seed)).map { $0.0.toArray() + $0.1.toArray() }
            XCTAssertEqual(a, b, "seed \(seed)")
        }
    }
}
