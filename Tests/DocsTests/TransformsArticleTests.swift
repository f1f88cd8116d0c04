import XCTest
import Ember

/// Sources/Ember/Ember.docc/Transforms.md
final class TransformsArticleTests: ArticleTestCase {
    func testPipelineAndOneHot() throws {
        let transform = Compose<Image, Tensor>([ToTensor(), Normalize(mean: [0.5], std: [0.5])])
        let targetTransform = Lambda { (y: Int) in
            Tensor.zeros([10]).scatter(dim: 0, index: Tensor([y]), value: 1)
        }
        let image = Image(height: 2, width: 2, pixels: [0, 51, 204, 255])
        let x = try transform(image)
        let oneHot = try targetTransform(3)

        XCTAssertEqual(x.shape, [1, 2, 2])
        // (p / 255 - 0.5) / 0.5
        for (a, b) in zip(x.toArray(), [-1, -0.6, 0.6, 1] as [Float]) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        XCTAssertEqual(oneHot.toArray(), [0, 0, 0, 1, 0, 0, 0, 0, 0, 0])

        try skipUnlessFashionMNIST()
        let normalized = try FashionMNIST(root: "data", train: false, transform: transform)

        let (first, _) = normalized[0]
        let plain = try FashionMNIST(root: "data", train: false)[0].0
        XCTAssertEqual(first.toArray(), try transform(normalized.image(at: 0)).toArray())
        XCTAssertEqual(first.min().item(), 2 * plain.min().item() - 1, accuracy: 1e-6)
    }
}
