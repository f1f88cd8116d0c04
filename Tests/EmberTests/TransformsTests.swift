import XCTest
@testable import Ember

final class TransformsTests: XCTestCase {
    let image = Image(height: 2, width: 3, pixels: [0, 51, 102, 153, 204, 255])

    func testToTensorNormalizeCompose() throws {
        let x = ToTensor()(image)
        XCTAssertEqual(x.shape, [1, 2, 3])
        XCTAssertEqual(x.toArray(), image.pixels.map { Float($0) * (1 / 255) })
        for (a, b) in zip(x.toArray(), [0, 0.2, 0.4, 0.6, 0.8, 1.0]) { XCTAssertEqual(a, Float(b), accuracy: 1e-7) }
        let rgb = ToTensor()(Image(height: 1, width: 2, channels: 3, pixels: [255, 0, 0, 0, 255, 0]))
        XCTAssertEqual(rgb.shape, [3, 1, 2])
        XCTAssertEqual(rgb.toArray(), [1, 0, 0, 1, 0, 0])
        let n = try Normalize(mean: [0.5], std: [0.25])(x)
        for (a, b) in zip(n.toArray(), [-2, -1.2, -0.4, 0.4, 1.2, 2.0]) { XCTAssertEqual(a, Float(b), accuracy: 1e-6) }
        let composed = Compose<Image, Tensor>([ToTensor(), Normalize(mean: [0.5], std: [0.25])])
        XCTAssertEqual(try composed(image).toArray(), n.toArray())
        let fused = try XCTUnwrap(fusedAffine(composed))
        XCTAssertEqual(fused.scale, 1 / 255 / 0.25, accuracy: 1e-9)
        XCTAssertEqual(fused.shift, -2)
        // Not fusable: a Lambda in the chain.
        XCTAssertNil(fusedAffine(Compose<Image, Tensor>([ToTensor(), Lambda { (t: Tensor) in t }])))
        XCTAssertThrowsError(try Normalize(mean: [0, 0], std: [1, 1])(x))
    }

    func testLambdaAndTargetTransform() throws {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try DataFixtures.writeRoot(root, trainCount: 20, testCount: 4)
        let ds = try FashionMNIST(root: root, train: true, transform: ToTensor(),
                                  targetTransform: Lambda { (y: Int) in 9 - y })
        XCTAssertEqual(ds[3].1, 6)
        XCTAssertNil(ds.store.affine, "a target transform disables the fused path")
        let loader = DataLoader(ds, batchSize: 20)
        XCTAssertEqual(Array(loader)[0].1.toIntArray(), (0..<20).map { 9 - $0 % 10 })
    }

    func testRandomHorizontalFlip() throws {
        let x = ToTensor()(image)
        let v = x.toArray()
        XCTAssertEqual(try RandomHorizontalFlip(p: 1)(x).toArray(), [v[2], v[1], v[0], v[5], v[4], v[3]])
        XCTAssertEqual(try RandomHorizontalFlip(p: 0)(x).toArray(), x.toArray())
        // A seeded generator gives a repeatable sequence of decisions, about half flipped.
        func decisions(_ seed: UInt64) throws -> [Bool] {
            let f = RandomHorizontalFlip(generator: Generator(seed: seed))
            return try (0..<200).map { _ in try f(x).toArray() != x.toArray() }
        }
        XCTAssertEqual(try decisions(1), try decisions(1))
        XCTAssertNotEqual(try decisions(1), try decisions(2))
        XCTAssert((70...130).contains(try decisions(1).filter { $0 }.count))
    }

    func testRandomCrop() throws {
        let x = Tensor((1...16).map { Float($0) }, shape: [1, 4, 4])
        XCTAssertEqual(try RandomCrop(size: 4)(x).toArray(), x.toArray())
        let g = Generator(seed: 3)
        var offsets = Set<[Float]>()
        for _ in 0..<100 {
            let c = try RandomCrop(size: 4, padding: 1, generator: g)(x)
            XCTAssertEqual(c.shape, [1, 4, 4])
            // Every crop is a window of the zero-padded 6×6 image: locate it by its values.
            let v = c.toArray()
            let found = (0..<3).flatMap { top in (0..<3).map { (top, $0) } }.contains { top, left in
                (0..<4).allSatisfy { i in (0..<4).allSatisfy { j in
                    let (r, col) = (top + i - 1, left + j - 1)
                    let expected: Float = (0..<4).contains(r) && (0..<4).contains(col) ? Float(r * 4 + col + 1) : 0
                    return v[i * 4 + j] == expected
                } }
            }
            XCTAssert(found, "\(v)")
            offsets.insert(v)
        }
        XCTAssertEqual(offsets.count, 9, "all 3×3 positions occur")
        XCTAssertThrowsError(try RandomCrop(size: 7, padding: 1)(x))
    }

    func testProgressBarFormat() {
        XCTAssertEqual(ProgressBar.sizeof(26_421_880), "26.4M")
        XCTAssertEqual(ProgressBar.sizeof(29_515), "29.5k")
        XCTAssertEqual(ProgressBar.sizeof(5_148), "5.15k")
        XCTAssertEqual(ProgressBar.sizeof(427_000), "427k")
        XCTAssertEqual(ProgressBar.bar(1, width: 10), "██████████")
        XCTAssertEqual(ProgressBar.bar(0.5, width: 10), "█████     ")
        let bar = ProgressBar(total: 26_421_880, unit: "B", unitScale: true, isTTY: false)
        bar.current = 26_421_880
        let line = bar.line(now: bar.start + 1_260_000_000)
        XCTAssertEqual(line, "100%|██████████| 26.4M/26.4M [00:01<00:00, 21.0MB/s]")
    }
}
