import Foundation
import XCTest
@testable import Ember

/// The vision transforms against torchvision.transforms.v2 (Fixtures/vision/
/// transforms.safetensors, scripts/make_vision_fixtures.py): deterministic ones on values,
/// random ones on their parameters' semantics and on seeded determinism across workers.
final class VisionTransformsTests: XCTestCase {
    static let fixture = try! SafeTensors.read(from: VisionFixtures.path("transforms.safetensors")).tensors
    var u8: Tensor { Self.fixture["input_u8"]!.type(.uint8) }
    var f32: Tensor { Self.fixture["input_f32"]! }

    /// Compares with torchvision's `name_u8` (within `u8Tol` levels) and `name_f32`.
    func check(_ name: String, u8Tol: Float = 0, f32Tol: Float = 1e-6, file: StaticString = #filePath, line: UInt = #line,
               _ transform: (Tensor) throws -> Tensor) throws {
        for (suffix, x) in [("u8", u8), ("f32", f32)] {
            let want = try XCTUnwrap(Self.fixture["\(name)_\(suffix)"], "\(name)_\(suffix)", file: file, line: line)
            let got = try transform(x)
            XCTAssertEqual(got.dtype, x.dtype, "\(name)_\(suffix)", file: file, line: line)
            XCTAssertEqual(got.shape, want.shape, "\(name)_\(suffix)", file: file, line: line)
            guard got.shape == want.shape else { continue }
            let tol = suffix == "u8" ? u8Tol : f32Tol
            let (a, b) = (got.toArray(), want.toArray())
            let worst = zip(a, b).map { Swift.abs($0 - $1) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, tol, "\(name)_\(suffix): largest difference \(worst)", file: file, line: line)
        }
    }

    func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.toArray(), b.toArray()).map { Swift.abs($0 - $1) }.max() ?? 0
    }

    func testResizeMatchesTorchvision() throws {
        // Bilinear with antialias: uint8 exactly (the same int16 fixed point as torchvision's
        // uint8 kernel), float to rounding.
        try check("resize_down_aa", f32Tol: 2e-6) { try Resize((7, 9))($0) }
        try check("resize_short", f32Tol: 2e-6) { try Resize(8)($0) }
        try check("resize_up", f32Tol: 2e-6) { try Resize((17, 21))($0) }
        try check("resize_mixed", f32Tol: 2e-6) { try Resize((5, 23))($0) }
        try check("resize_down_noaa", f32Tol: 1e-6) { try Resize((7, 9), antialias: false)($0) }
        try check("resize_nearest_down") { try Resize((7, 9), interpolation: .nearest)($0) }
        try check("resize_nearest_up") { try Resize((17, 21), interpolation: .nearest)($0) }
    }

    func testResizeSizesAndErrors() throws {
        XCTAssertEqual(try Resize(10)(Tensor.zeros([3, 20, 31])).shape, [3, 10, 15])
        XCTAssertEqual(try Resize(10)(Tensor.zeros([2, 3, 31, 20])).shape, [2, 3, 15, 10])
        XCTAssertEqual(try Resize(10, maxSize: 12)(Tensor.zeros([1, 20, 40])).shape, [1, 6, 12])
        XCTAssertThrowsError(try Resize(4)(Tensor([1, 2, 3]))) { error in
            XCTAssertEqual("\(error)", "\(EmberError.invalidArgument(op: "Resize", message: "expected a uint8 or float32 image tensor [..., H, W], got int64 [3]"))")
        }
    }

    func testCropsAndPadsMatchTorchvision() throws {
        try check("center_crop") { try CenterCrop((7, 9))($0) }
        try check("center_crop_pad") { try CenterCrop((15, 18))($0) }
        try check("pad_constant") { try Pad([1, 2, 3, 4])($0) }
        try check("pad_edge") { try Pad([1, 2, 3, 4], paddingMode: .edge)($0) }
        try check("pad_reflect") { try Pad([1, 2, 3, 4], paddingMode: .reflect)($0) }
        try check("pad_symmetric") { try Pad([1, 2, 3, 4], paddingMode: .symmetric)($0) }
        try check("pad_fill") { try Pad([2], fill: $0.dtype == .uint8 ? 7 : 0.25)($0) }
        try check("resized_crop", f32Tol: 2e-6) {
            try resizeImage(cropWindow($0, top: 2, left: 3, height: 7, width: 8), oh: 5, ow: 6, interpolation: .bilinear,
                            antialias: true, op: "test")
        }
        try check("erase") { try erase($0, top: 2, left: 3, height: 4, width: 5, value: [0]) }
        XCTAssertThrowsError(try Pad([14, 0], paddingMode: .reflect)(f32))
    }

    func testFlipsColourAndDtypeMatchTorchvision() throws {
        try check("hflip") { try RandomHorizontalFlip(p: 1)($0) }
        try check("vflip") { try RandomVerticalFlip(p: 1)($0) }
        try check("gray1", u8Tol: 0) { try Grayscale()($0) }
        try check("gray3", u8Tol: 0) { try Grayscale(numOutputChannels: 3)($0) }
        let norm = try Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])(f32)
        XCTAssertLessThanOrEqual(maxDiff(norm, Self.fixture["normalize_f32"]!), 2e-6)
        let scaled = try ToDtype(.float32, scale: true)(u8)
        XCTAssertLessThanOrEqual(maxDiff(scaled, Self.fixture["to_dtype_scaled"]!), 1e-7)
        let back = try ToDtype(.uint8, scale: true)(f32 * 0.999)
        XCTAssertEqual(back.dtype, .uint8)
        XCTAssertEqual(back.toArray(), Self.fixture["to_dtype_back"]!.toArray())
        XCTAssertEqual(try ToDtype(.float32)(u8).toArray(), u8.toArray())
    }

    // MARK: Random transforms

    func testRandomResizedCropParameters() throws {
        let t = RandomResizedCrop(8, generator: Generator(seed: 3))
        var areas: [Double] = []
        for _ in 0..<500 {
            let p = t.parameters(height: 40, width: 60)
            XCTAssert(p.top >= 0 && p.left >= 0 && p.top + p.height <= 40 && p.left + p.width <= 60, "\(p)")
            let area = Double(p.height * p.width) / 2400, aspect = Double(p.width) / Double(p.height)
            if !(p.height == 40 && p.width == 53) {   // not the fallback
                XCTAssert(area >= 0.07 && area <= 1.01, "\(area)")
                XCTAssert(aspect >= 0.7 && aspect <= 1.4, "\(aspect)")
            }
            areas.append(area)
        }
        XCTAssertLessThan(areas.min()!, 0.15)
        XCTAssertGreaterThan(areas.max()!, 0.85)
        // Impossible areas fall back to the central crop of the widest allowed ratio.
        let never = RandomResizedCrop(8, scale: (2, 3), generator: Generator(seed: 1))
        XCTAssert(never.parameters(height: 40, width: 60) == (0, 3, 40, 53))
        XCTAssert(never.parameters(height: 60, width: 20) == (16, 0, 27, 20))
        let y = try RandomResizedCrop((6, 7), generator: Generator(seed: 2))(u8)
        XCTAssertEqual(y.shape, [3, 6, 7])
        XCTAssertEqual(y.dtype, .uint8)
    }

    func testRandomErasingAndCropParameters() throws {
        let t = RandomErasing(p: 1, generator: Generator(seed: 5))
        for _ in 0..<300 {
            guard let r = t.parameters(height: 30, width: 40) else { continue }
            let area = Double(r.height * r.width) / 1200
            XCTAssert(area >= 0.01 && area <= 0.36, "\(area)")
            XCTAssert(r.top + r.height <= 30 && r.left + r.width <= 40)
        }
        let erased = try RandomErasing(p: 1, value: [-1], generator: Generator(seed: 5))(f32)
        let changed = zip(erased.toArray(), f32.toArray()).filter { $0 != $1 }
        XCTAssert(!changed.isEmpty && changed.allSatisfy { $0.0 == -1 })
        XCTAssertEqual(try RandomErasing(p: 0)(f32).toArray(), f32.toArray())

        let crop = RandomCrop(size: 10, padding: 3, paddingMode: .reflect, generator: Generator(seed: 1))
        XCTAssertEqual(try crop(u8).shape, [3, 10, 10])
        let padded = try RandomCrop(size: (20, 20), padIfNeeded: true, fill: 9, generator: Generator(seed: 1))(u8)
        XCTAssertEqual(padded.shape, [3, 20, 20])
        XCTAssertEqual(padded[0, 0, 0].item(), 9)   // a padded corner: 12x14 is padded by (4, 3) each side
        XCTAssertThrowsError(try RandomCrop(size: 20)(u8))
    }

    func testRandomApplyAndChoice() throws {
        let flip = RandomHorizontalFlip(p: 1)
        XCTAssertEqual(try RandomApply([flip], p: 0)(u8).toArray(), u8.toArray())
        XCTAssertEqual(try RandomApply([flip, RandomVerticalFlip(p: 1)], p: 1)(u8).toArray(),
                       try RandomVerticalFlip(p: 1)(flip(u8)).toArray())
        XCTAssertEqual(try RandomChoice([CenterCrop(4), Resize((5, 5))], p: [0, 1])(u8).shape, [3, 5, 5])
        let choice = RandomChoice([CenterCrop(4), Resize((5, 5))], generator: Generator(seed: 9))
        let shapes = try (0..<100).map { _ in try choice(u8).shape[1] }
        XCTAssertEqual(Set(shapes), [4, 5])
        XCTAssert(shapes.filter { $0 == 4 }.count > 30 && shapes.filter { $0 == 4 }.count < 70)
    }

    /// Images through a random pipeline: the DataLoader gives the same batches for 0, 1 and
    /// 2 workers (each sample's stream comes from the seed, epoch and index).
    struct Images: Dataset {
        let images: [Tensor]
        let transform: Compose<Tensor, Tensor>
        var count: Int { images.count }
        subscript(index: Int) -> (Tensor, Int) { (try! transform(images[index]), index) }
        func sample(at index: Int) throws -> (Tensor, Int) { (try transform(images[index]), index) }
    }

    func testSeededPipelineIsTheSameForAnyNumberOfWorkers() throws {
        let g = Generator(seed: 4)
        let images = (0..<24).map { _ in (Tensor.rand([3, 18, 22], generator: g) * 255).type(.uint8) }
        let pipeline = Compose<Tensor, Tensor>([
            RandomResizedCrop(8), RandomHorizontalFlip(), RandomVerticalFlip(p: 0.3),
            RandomApply([Grayscale(numOutputChannels: 3)], p: 0.5),
            RandomChoice([Pad([1], paddingMode: .reflect), Pad([1], paddingMode: .edge)]),
            RandomCrop(size: 8, padding: 1), ToDtype(.float32, scale: true),
            Normalize(mean: [0.5, 0.4, 0.3], std: [0.2, 0.2, 0.2]), RandomErasing(p: 0.5),
        ])
        let ds = Images(images: images, transform: pipeline)
        func run(_ workers: Int) -> [[Float]] {
            DataLoader(ds, batchSize: 5, shuffle: true, numWorkers: workers, seed: 77).map { $0.0.toArray() + $0.1.toArray() }
        }
        let serial = run(0)
        XCTAssertEqual(serial.count, 5)
        XCTAssertEqual(run(1), serial)
        XCTAssertEqual(run(2), serial)
        // A different seed gives different augmentations.
        XCTAssertNotEqual(DataLoader(ds, batchSize: 5, shuffle: true, numWorkers: 0, seed: 78).map { $0.0.toArray() }.first,
                          serial.first.map { Array($0.prefix(5 * 3 * 8 * 8)) })
    }

    func testResizeKernelIsTheSameOnOneTwoAndFourThreads() throws {
        let x = Tensor.rand([8, 3, 64, 80], generator: Generator(seed: 1))
        let x8 = (x * 255).type(.uint8)
        let saved = numThreads()
        defer { setNumThreads(saved) }
        var outs: [[Float]] = []
        for n in [1, 2, 4] {
            setNumThreads(n)
            outs.append(try Resize((37, 29))(x).toArray() + Resize((37, 29))(x8).toArray())
        }
        XCTAssertEqual(outs[0], outs[1])
        XCTAssertEqual(outs[0], outs[2])
    }
}

extension VisionTransformsTests {
    func testColourAdjustmentsMatchTorchvision() throws {
        try check("brightness", u8Tol: 0, f32Tol: 1e-6) { try ColorAdjust.brightness($0, 1.3) }
        try check("contrast", f32Tol: 1e-6) { try ColorAdjust.contrast($0, 0.6) }
        try check("saturation", f32Tol: 1e-6) { try ColorAdjust.saturation($0, 1.7) }
        try check("hue", f32Tol: 1e-5) { try ColorAdjust.hue($0, 0.2) }
    }

    func testColorJitterParameters() throws {
        let t = ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1, generator: Generator(seed: 3))
        var orders = Set<[Int]>()
        for _ in 0..<200 {
            let p = t.parameters()
            XCTAssertEqual(p.order.sorted(), [0, 1, 2, 3])
            orders.insert(p.order)
            for f in [p.brightness, p.contrast, p.saturation] { XCTAssert(f! >= 0.6 && f! <= 1.4) }
            XCTAssert(Swift.abs(p.hue!) <= 0.1)
        }
        XCTAssertGreaterThan(orders.count, 12)
        XCTAssertNil(ColorJitter(contrast: 0.2).parameters().brightness)
        let y = try ColorJitter(brightness: 0.5, hue: 0.2, generator: Generator(seed: 1))(u8)
        XCTAssertEqual(y.shape, u8.shape)
        XCTAssertEqual(y.dtype, .uint8)
    }
}

extension VisionTransformsTests {
    /// Every rotation case of the fixture: the grid is computed in float32 in torchvision's
    /// order, so nearest picks the same pixels and uint8 bilinear gives the same levels; float
    /// bilinear is within a few ulps (PyTorch's vectorised grid_sample may fuse multiply-adds).
    func testRotateMatchesTorchvision() throws {
        let fill3: (Tensor) -> [Double] = { $0.dtype == .uint8 ? [10, 200, 30] : [0.1, 0.8, 0.3] }
        try check("rotate_nearest") { try rotateImage($0, angle: 30) }
        try check("rotate_bilinear", u8Tol: 0, f32Tol: 5e-7) { try rotateImage($0, angle: -50, interpolation: .bilinear) }
        try check("rotate_expand") { try rotateImage($0, angle: 30, expand: true) }
        try check("rotate_fill0_bilinear", u8Tol: 0, f32Tol: 5e-7) {
            try rotateImage($0, angle: 33.5, interpolation: .bilinear, fill: [0])
        }
        try check("rotate_fill3_bilinear", u8Tol: 0, f32Tol: 5e-7) {
            try rotateImage($0, angle: -71.25, interpolation: .bilinear, fill: fill3($0))
        }
        try check("rotate_fill3_nearest") { try rotateImage($0, angle: 200, fill: fill3($0)) }
        try check("rotate_center", u8Tol: 0, f32Tol: 5e-7) {
            try rotateImage($0, angle: 25, interpolation: .bilinear, center: (3, 4.5), fill: [0])
        }
        try check("rotate_expand_bilinear", u8Tol: 0, f32Tol: 5e-7) {
            try rotateImage($0, angle: -130, interpolation: .bilinear, expand: true, fill: fill3($0))
        }
        try check("rotate_90") { try rotateImage($0, angle: 90) }   // 12x14: not square, so the affine path
        try check("rotate_90_expand") { try rotateImage($0, angle: -270, expand: true) }   // torch.rot90
        try check("rotate_180") { try rotateImage($0, angle: 540, fill: fill3($0)) }
    }

    func testRotateExactForUint8Bilinear() throws {
        for (name, angle) in [("rotate_bilinear", -50.0), ("rotate_fill0_bilinear", 33.5)] {
            let got = try rotateImage(u8, angle: angle, interpolation: .bilinear, fill: name == "rotate_bilinear" ? nil : [0])
            XCTAssertEqual(got.toArray(), Self.fixture["\(name)_u8"]!.toArray(), name)
        }
    }

    func testRotateExpandedSizesMatchTorchvision() throws {
        let angles = Self.fixture["expand_angles"]!.toArray(), sizes = Self.fixture["expand_sizes"]!.toArray()
        XCTAssertEqual(angles.count, 206)
        for (i, angle) in angles.enumerated() {
            let (h, w) = (Int(sizes[4 * i]), Int(sizes[4 * i + 1]))
            var a = fmod(Double(angle), 360)
            if a < 0 { a += 360 }
            let theta = inverseRotationMatrix(angle: a, center: (0, 0)).map { Float($0) }
            let got = rotatedSize(theta: theta, h: h, w: w)
            XCTAssert(got == (Int(sizes[4 * i + 2]), Int(sizes[4 * i + 3])), "angle \(angle) on \(h)x\(w): \(got) vs \(sizes[(4 * i + 2)..<(4 * i + 4)])")
        }
    }

    func testRandomRotation() throws {
        let t = RandomRotation(20, generator: Generator(seed: 3))
        let angles = (0..<400).map { _ in t.parameters() }
        XCTAssert(angles.allSatisfy { $0 >= -20 && $0 <= 20 })
        XCTAssertLessThan(angles.min()!, -18)
        XCTAssertGreaterThan(angles.max()!, 18)
        XCTAssert(RandomRotation((90, 90)).degrees == (90, 90))
        // A range of one angle is that rotation; expand on a non-square image swaps the sides.
        XCTAssertEqual(try RandomRotation((90, 90), expand: true)(u8).shape, [3, 14, 12])
        XCTAssertEqual(try RandomRotation((-50, -50), interpolation: .bilinear, fill: [0])(f32).toArray(),
                       try rotateImage(f32, angle: -50, interpolation: .bilinear, fill: [0]).toArray())
        XCTAssertThrowsError(try RandomRotation(10, fill: [1, 2])(u8)) { error in
            XCTAssertEqual("\(error)", "\(EmberError.invalidArgument(op: "RandomRotation", message: "the number of elements in 'fill' cannot broadcast to match the number of channels of the image (2 != 3)"))")
        }
        // A batch [N, C, H, W] rotates every image the same.
        let batch = Tensor.stack([f32, f32 * 0.5])
        let r = try rotateImage(batch, angle: 12, interpolation: .bilinear, fill: [0.2, 0.3, 0.4])
        XCTAssertEqual(r[1].toArray(), try rotateImage(f32 * 0.5, angle: 12, interpolation: .bilinear, fill: [0.2, 0.3, 0.4]).toArray())
    }

    func testRotationIsTheSameForAnyWorkersAndThreads() throws {
        let g = Generator(seed: 8)
        let images = (0..<12).map { _ in (Tensor.rand([3, 20, 17], generator: g) * 255).type(.uint8) }
        let ds = Images(images: images, transform: Compose<Tensor, Tensor>([
            RandomRotation(45, interpolation: .bilinear, expand: true, fill: [0, 128, 255]), Resize((9, 9))]))
        func run(_ workers: Int) -> [[Float]] {
            DataLoader(ds, batchSize: 4, shuffle: true, numWorkers: workers, seed: 5).map { $0.0.toArray() }
        }
        let serial = run(0)
        XCTAssertEqual(run(2), serial)
        let saved = numThreads()
        defer { setNumThreads(saved) }
        let big = Tensor.rand([4, 3, 61, 47], generator: g)
        var outs: [[Float]] = []
        for n in [1, 2, 4] {
            setNumThreads(n)
            outs.append(try rotateImage(big, angle: 17.5, interpolation: .bilinear, expand: true, fill: [0.5]).toArray())
        }
        XCTAssertEqual(outs[0], outs[1])
        XCTAssertEqual(outs[0], outs[2])
    }
}

extension VisionTransformsTests {
    /// RandomResizedCrop resizes uint8 crops straight from the window: the same bytes as
    /// cutting the window out first, for windows touching every edge.
    func testRandomResizedCropWindowIsTheCropResized() throws {
        let g = Generator(seed: 11)
        let image = (Tensor.rand([2, 3, 40, 52], generator: g) * 255).type(.uint8)
        for seed in 0..<40 {
            for size in [(height: 9, width: 13), (height: 64, width: 48)] {
                let t = RandomResizedCrop(size, scale: (0.05, 1), generator: Generator(seed: UInt64(seed)))
                let p = RandomResizedCrop(size, scale: (0.05, 1), generator: Generator(seed: UInt64(seed))).parameters(height: 40, width: 52)
                let want = try resizeImage(cropWindow(image, top: p.top, left: p.left, height: p.height, width: p.width),
                                           oh: size.height, ow: size.width, interpolation: .bilinear, antialias: true, op: "test")
                XCTAssertEqual(try t(image).toArray(), want.toArray(), "seed \(seed) window \(p)")
            }
        }
    }

    func testHorizontalFlipOfEveryItemSize() throws {
        let x = Tensor((0..<24).map { Float($0) }).reshaped([2, 3, 4])
        let want: [Float] = (0..<6).flatMap { r in (0..<4).reversed().map { Float(r * 4 + $0) } }
        XCTAssertEqual(try RandomHorizontalFlip(p: 1)(x).toArray(), want)
        XCTAssertEqual(try RandomHorizontalFlip(p: 1)(x.type(.uint8)).toArray(), want)
        XCTAssertEqual(flipRows(x.type(.int64)).toArray(), want)   // the byte-wise path
    }
}
