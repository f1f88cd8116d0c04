import XCTest
import Ember

/// Sources/Ember/Ember.docc/Tensors.md
final class TensorsArticleTests: ArticleTestCase {
    func testCreating() {
        let data = Tensor([[1, 2], [3, 4]] as [[Float]])
        let xOnes = Tensor.ones(like: data)
        manualSeed(0)
        let xRand = Tensor.rand([2, 2])
        let labels = Tensor([3, 1, 4])
        print(data)
        print(labels.dtype)

        XCTAssertEqual(data.description, "tensor([[1., 2.],\n        [3., 4.]])")
        XCTAssertEqual(labels.dtype, .int64)
        XCTAssertEqual(xOnes.toArray(), [1, 1, 1, 1])
        XCTAssert(xRand.toArray().allSatisfy { $0 >= 0 && $0 < 1 })
        manualSeed(0)
        XCTAssertEqual(Tensor.rand([2, 2]).toArray(), xRand.toArray())
    }

    func testAttributes() {
        let tensor = Tensor.rand([3, 4])
        print("Shape of tensor: \(tensor.shape)")
        print("Datatype of tensor: \(tensor.dtype)")
        print("Device tensor is stored on: \(tensor.device)")

        XCTAssertEqual("\(tensor.shape) \(tensor.dtype) \(tensor.device)", "[3, 4] float32 cpu")
    }

    func testOperations() {
        let t = Tensor.ones([4, 4])
        t[.all, 1] = Tensor(0)
        let joined = Tensor.cat([t, t, t], dim: 1)
        let y1 = t.matmul(t.T)
        let z1 = t * t
        let agg = t.sum()
        let aggItem = agg.item()
        noGrad { t.add_(5) }

        XCTAssertEqual(joined.shape, [4, 12])
        XCTAssertEqual(y1.toArray(), [Float](repeating: 3, count: 16))
        XCTAssertEqual(z1.toArray(), [1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 1, 1])
        XCTAssertEqual(aggItem, 12)
        XCTAssertEqual(t[0].toArray(), [6, 5, 6, 6])
    }
}
