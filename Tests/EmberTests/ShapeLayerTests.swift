import Foundation
import XCTest
@testable import Ember

/// The padding layers, pixel shuffles, Unflatten, normalize, cosineSimilarity and
/// pairwiseDistance against PyTorch (Fixtures/shape_layers.json, by
/// scripts/make_shape_layer_fixtures.py): output, every input's gradient and how the layers
/// print; then their errors.
final class ShapeLayerTests: XCTestCase {
    struct Case: Decodable {
        let name, repr: String
        let shapes: [[Int]]
        let inputs: [[Double]]
        let shape: [Int]
        let y, g: [Double]
        let grads: [[Double]]
    }
    struct File: Decodable { let cases: [Case] }

    /// What the fixture script builds under each name, and how it prints ("''" for functions).
    static let layers: [String: (repr: String?, run: @Sendable ([Tensor]) -> Tensor)] = [
        "zero_pad": (ZeroPad2d(1).description, { ZeroPad2d(1)($0[0]) }),
        "zero_pad_4": (ZeroPad2d(1, 2, 0, 3).description, { ZeroPad2d(1, 2, 0, 3)($0[0]) }),
        "constant_pad": (ConstantPad2d([1, 0, 2, 1], value: 3.5).description, { ConstantPad2d([1, 0, 2, 1], value: 3.5)($0[0]) }),
        "reflection_pad": (ReflectionPad2d(2).description, { ReflectionPad2d(2)($0[0]) }),
        "replication_pad": (ReplicationPad2d(1, 0, 2, 0).description, { ReplicationPad2d(1, 0, 2, 0)($0[0]) }),
        "circular_pad": (CircularPad2d(1).description, { CircularPad2d(1)($0[0]) }),
        "pixel_shuffle": (PixelShuffle(2).description, { PixelShuffle(2)($0[0]) }),
        "pixel_unshuffle": (PixelUnshuffle(2).description, { PixelUnshuffle(2)($0[0]) }),
        "unflatten": (Unflatten(dim: 1, unflattenedSize: [2, 3]).description, { Unflatten(dim: 1, unflattenedSize: [2, -1])($0[0]) }),
        "normalize": (nil, { normalize($0[0]) }),
        "normalize_p1_dim0": (nil, { normalize($0[0], p: 1, dim: 0) }),
        "cosine_similarity": (CosineSimilarity().description, { CosineSimilarity()($0[0], $0[1]) }),
        "cosine_similarity_broadcast": (CosineSimilarity(dim: -1).description, { CosineSimilarity(dim: -1)($0[0], $0[1]) }),
        "pairwise_distance": (PairwiseDistance().description, { PairwiseDistance()($0[0], $0[1]) }),
        "pairwise_distance_p1_keepdim": (PairwiseDistance(p: 1, keepDim: true).description,
                                         { PairwiseDistance(p: 1, keepDim: true)($0[0], $0[1]) }),
    ]

    func testOutputsGradientsAndPrintingMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "shape_layers", withExtension: "json", subdirectory: "Fixtures"))
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        XCTAssertEqual(Set(file.cases.map(\.name)), Set(Self.layers.keys), "every layer is checked")
        for c in file.cases {
            let layer = try XCTUnwrap(Self.layers[c.name])
            if let repr = layer.repr { XCTAssertEqual(repr, c.repr, c.name) }
            let xs = zip(c.inputs, c.shapes).map { Tensor($0.map(Float.init), shape: $1).requiringGrad() }
            let y = layer.run(xs)
            XCTAssertEqual(y.shape, c.shape, c.name)
            assertClose(y.toArray().map(Double.init), c.y, atol: 1e-6, rtol: 1e-5, "\(c.name): output")
            (y * Tensor(c.g.map(Float.init), shape: c.shape)).sum().backward()
            for (i, x) in xs.enumerated() {
                assertClose(try XCTUnwrap(x.grad, c.name).toArray().map(Double.init), c.grads[i], atol: 1e-5, rtol: 1e-4,
                            "\(c.name): gradient of input \(i)")
            }
        }
    }

    /// The shuffles are inverses, and Unflatten undoes Flatten.
    func testRoundTrips() {
        let x = Tensor.randn([2, 8, 3, 5])
        XCTAssertEqual(x.pixelShuffled(2).pixelUnshuffled(2).toArray(), x.toArray())
        XCTAssertEqual(x.pixelShuffled(2).shape, [2, 2, 6, 10])
        let f = Flatten()(x)
        XCTAssertEqual(Unflatten(dim: 1, unflattenedSize: [8, 3, 5])(f).toArray(), x.toArray())
    }

    func testErrors() {
        assertThrowsMessage("unflatten: provided sizes [4, 2] don't multiply up to the size of dim 1 (6) in the input tensor") {
            _ = try checkUnflatten(Tensor.zeros([2, 6]), dim: 1, sizes: [4, 2])
        }
        assertThrowsMessage("pixel_shuffle: the channel dim (-3, size 6) must be divisible by the square of upscale_factor (4)") {
            try checkPixelShuffle(Tensor.zeros([1, 6, 2, 2]), 2, op: "pixel_shuffle")
        }
        assertThrowsMessage("pixel_unshuffle: height (3) and width (4) must be divisible by downscale_factor (2)") {
            try checkPixelShuffle(Tensor.zeros([1, 1, 3, 4]), 2, op: "pixel_unshuffle")
        }
        assertThrowsMessage("pixel_shuffle: expected an input of at least 3 dims, got [4, 4]") {
            try checkPixelShuffle(Tensor.zeros([4, 4]), 2, op: "pixel_shuffle")
        }
    }
}
