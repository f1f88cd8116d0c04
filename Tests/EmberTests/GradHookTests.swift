import XCTest
@testable import Ember

final class GradHookTests: XCTestCase {
    /// The hook runs once per backward, after every contribution to the leaf is added, and
    /// before backward reaches the nodes that lead to earlier leaves.
    func testPostAccumulateGradHookSeesTheCompleteGradient() {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let w = Tensor([0.5, -1, 2] as [Float]).requiringGrad()
        var events: [String] = []
        x.registerPostAccumulateGradHook { t in events.append("x \(t.grad!.toArray())") }
        w.registerPostAccumulateGradHook { t in events.append("w \(t.grad!.toArray())") }
        // y = sum(x * w + x * x): dy/dx = w + 2x, dy/dw = x (x reaches two nodes).
        let y = (x * w + x * x).sum()
        y.backward()
        XCTAssertEqual(events.count, 2)
        XCTAssertTrue(events.contains("x [2.5, 3.0, 8.0]"))
        XCTAssertTrue(events.contains("w [1.0, 2.0, 3.0]"))
        events = []
        (x * 2).sum().backward()   // w takes no part: only x's hook, with the accumulated grad
        XCTAssertEqual(events, ["x [4.5, 5.0, 10.0]"])
    }

    /// In a chain of layers, the last layer's parameters are ready while the first layer's
    /// backward has not run yet: the hook is what lets DDP overlap communication.
    func testHooksFireInReverseLayerOrderDuringBackward() {
        let l1 = Linear(4, 4), l2 = Linear(4, 4)
        var order: [String] = []
        for (name, p) in [("l1.weight", l1.weight), ("l2.weight", l2.weight)] {
            p.registerPostAccumulateGradHook { _ in order.append(name) }
        }
        let x = Tensor.randn([2, 4])
        l2(l1(x).relu()).sum().backward()
        XCTAssertEqual(order, ["l2.weight", "l1.weight"])
    }

    /// A weight trained by plain SGD defers its gradient unless a hook wants it.
    func testHookedLinearWeightFormsItsGradient() {
        let layer = Linear(3, 2)
        _ = SGD(layer.parameters(), lr: 0.1)
        var seen: [Float]?
        let handle = layer.weight.registerPostAccumulateGradHook { t in seen = t.accumulatedGrad?.toArray() }
        let x = Tensor.randn([5, 3])
        layer(x).sum().backward()
        XCTAssertNotNil(seen, "the gradient is formed in backward, not deferred")
        XCTAssertNil(layer.weight.deferredGrad)
        handle.remove()
        layer.zeroGrad()
        seen = nil
        layer(x).sum().backward()
        XCTAssertNil(seen, "removed")
        XCTAssertNotNil(layer.weight.deferredGrad, "without hooks the gradient is deferred again")
    }

    func testReachableLeaves() {
        let a = Tensor([1.0]).requiringGrad(), b = Tensor([2.0]).requiringGrad(), c = Tensor([3.0]).requiringGrad()
        let y = a * b + a
        XCTAssertEqual(Set(y.reachableLeaves().map(ObjectIdentifier.init)), Set([a, b].map(ObjectIdentifier.init)))
        XCTAssertEqual(c.reachableLeaves().count, 1)
        XCTAssertEqual(Tensor([1.0]).reachableLeaves().count, 0)
    }
}
