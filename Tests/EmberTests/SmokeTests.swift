import XCTest
@testable import Ember

final class SmokeTests: XCTestCase {
    func testTinyMLPStep() {
        manualSeed(1)
        let x = Tensor.randn([4, 3])
        let w = Tensor.randn([5, 3]).requiringGrad()
        let b = Tensor.zeros([5]).requiringGrad()
        let y = Tensor([0, 1, 2, 4])
        let loss = crossEntropy(linear(x, w, b).relu(), y)
        loss.backward()
        XCTAssertEqual(w.grad?.shape, [5, 3])
        XCTAssertEqual(b.grad?.shape, [5])
        XCTAssert(loss.item() > 0)
        print(loss.item(), x.shape, y.dtype)
    }
}
