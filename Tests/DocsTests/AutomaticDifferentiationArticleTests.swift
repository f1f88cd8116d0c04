import Foundation
import XCTest
import Ember

/// Sources/Ember/Ember.docc/AutomaticDifferentiation.md
final class AutomaticDifferentiationArticleTests: ArticleTestCase {
    func testGradientsAndNoGrad() {
        let x = Tensor.ones([5])
        let y = Tensor.zeros([3])
        let w = Tensor.randn([5, 3]).requiringGrad()
        let b = Tensor.randn([3]).requiringGrad()
        let z = x.matmul(w) + b
        let loss = binaryCrossEntropyWithLogits(z, y)
        loss.backward()
        print(w.grad!.shape, b.grad!.shape)

        // d/db of the mean BCE with logits = (sigmoid(z) - y) / 3 with y = 0, and
        // d/dw[i][j] = x[i] · d/db[j] with x = 1.
        let expected = z.detach().toArray().map { 1 / (1 + exp(-$0)) / 3 }
        for (g, e) in zip(b.grad!.toArray(), expected) { XCTAssertEqual(g, e, accuracy: 1e-5) }
        for row in 0..<5 {
            for (g, e) in zip(w.grad![row].toArray(), expected) { XCTAssertEqual(g, e, accuracy: 1e-5) }
        }

        let zDet = noGrad { x.matmul(w) + b }
        print(z.requiresGrad, zDet.requiresGrad)
        let zDetached = z.detach()

        XCTAssertTrue(z.requiresGrad)
        XCTAssertFalse(zDet.requiresGrad)
        XCTAssertFalse(zDetached.requiresGrad)
        XCTAssertEqual(zDetached.toArray(), z.toArray())
    }

    func testInPlaceOperationsAndViews() {
        let a = Tensor([1, 2, 3, 4] as [Float]).requiringGrad()
        let h = a * 2
        h[1] = Tensor(0)
        let firstTwo = h[0..<2]
        h.mul_(3)
        firstTwo.sum().backward()
        print(a.grad!)

        XCTAssertEqual(a.grad!.toArray(), [6, 0, 0, 0])
    }

    func testGradientsOfAnyTensor() throws {
        let u = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let hidden = u * u
        hidden.retainGrad()
        hidden.registerHook { $0 * 2 }
        let total = hidden.sum()
        let direct = try Autograd.grad(total, inputs: [u])
        total.backward()
        print(direct[0]!, hidden.grad!, u.grad!)

        XCTAssertEqual(direct[0]!.toArray(), [4, 8, 12])
        XCTAssertEqual(u.grad!.toArray(), [4, 8, 12])
        XCTAssertEqual(hidden.grad!.toArray(), [4, 4, 4])
    }
}
