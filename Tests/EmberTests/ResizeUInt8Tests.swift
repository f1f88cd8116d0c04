import Foundation
import XCTest
@testable import Ember

/// Bilinear `Resize` of uint8 images against torchvision.transforms.v2 bit for bit
/// (Fixtures/vision/resize_uint8.json, scripts/make_resize_fixtures.py): torchvision runs
/// PyTorch's int16 fixed-point kernel on uint8 images, which csrc/resample.c reproduces.
final class ResizeUInt8Tests: XCTestCase {
    struct Case: Decodable {
        let name: String
        let shape: [Int]
        let size: [Int]
        let antialias: Bool
        let input: [Int]
        let output: [Int]
    }
    struct File: Decodable { let torch: String; let torchvision: String; let cases: [Case] }

    static let file: File = {
        let url = URL(fileURLWithPath: VisionFixtures.path("resize_uint8.json"))
        return try! JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }()

    /// Every case: Ember's output equals torchvision's exactly, on one thread and on two.
    func testResizeMatchesTorchvisionExactly() throws {
        XCTAssertGreaterThanOrEqual(Self.file.cases.count, 6)
        let saved = numThreads()
        defer { setNumThreads(saved) }
        for threads in [1, 2] {
            setNumThreads(threads)
            for c in Self.file.cases {
                let label = "\(c.name) (\(threads) threads)"
                XCTAssertEqual(c.size.count, 2, label)
                XCTAssertEqual(c.input.count, c.shape.reduce(1, *), label)
                let x = Tensor(c.input, shape: c.shape).type(.uint8)
                let got = try Resize((c.size[0], c.size[1]), antialias: c.antialias)(x)
                XCTAssertEqual(got.dtype, .uint8, label)
                XCTAssertEqual(got.shape, Array(c.shape.dropLast(2)) + c.size, label)
                let values = got.toArray().map { Int($0) }
                XCTAssertEqual(values.count, c.output.count, label)
                let wrong = zip(values, c.output).filter { $0 != $1 }.count
                XCTAssertEqual(wrong, 0, "\(label): \(wrong) of \(c.output.count) values differ from torchvision")
            }
        }
    }
}
