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

    // registerHook, retainGrad and Autograd.grad: expected values are PyTorch 2's.

    func testHookOnANonLeafChangesTheGradientFlowingBack() {
        let a = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let b = a * a
        b.registerHook { $0 * 2 }
        (b * Tensor([1, 2, 3] as [Float])).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [4, 16, 36])
    }

    func testHookOnALeafSeesThePassesWholeGradientOnce() {
        let a = Tensor([1, 2] as [Float]).requiringGrad()
        var seen: [[Float]] = []
        a.registerHook { g in
            seen.append(g.toArray())
            return g * 10
        }
        (a * 3 + a * a).sum().backward()
        XCTAssertEqual(seen, [[5, 7]])
        XCTAssertEqual(a.grad!.toArray(), [50, 70])
        // A hooked linear weight forms its gradient in backward (no deferred SGD gradient).
        let layer = Linear(3, 2)
        _ = SGD(layer.parameters(), lr: 0.1)
        var weightGrads = 0
        layer.weight.registerHook { _ in
            weightGrads += 1
            return nil
        }
        layer(Tensor.ones([4, 3])).sum().backward()
        XCTAssertEqual(weightGrads, 1)
        XCTAssertNil(layer.weight.deferredGrad)
        XCTAssertEqual(layer.weight.grad!.toArray(), [Float](repeating: 4, count: 6))
    }

    func testRemovedHookNoLongerRuns() {
        let a = Tensor([1, 2] as [Float]).requiringGrad()
        let handle = a.registerHook { $0 * 10 }
        handle.remove()
        let b = a * 1
        b.registerHook { $0 * 10 }.remove()
        (b * 3).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [3, 3])
    }

    func testRetainGradKeepsANonLeafsGradient() {
        let a = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let b = a * 2
        b.retainGrad()
        let c = b * b
        c.sum().backward()
        XCTAssertEqual(b.grad!.toArray(), [4, 8, 12])
        c.sum().backward()
        XCTAssertEqual(b.grad!.toArray(), [8, 16, 24])   // adds up, as a leaf's

        // After the tensor's hooks.
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let y = x * 2
        y.retainGrad()
        y.registerHook { $0 + 1 }
        (y * y).sum().backward()
        XCTAssertEqual(y.grad!.toArray(), [5, 9, 13])
        XCTAssertEqual(x.grad!.toArray(), [10, 18, 26])

        // Through an in-place write: the gradient of the new values.
        let p = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let q = p * 2
        q.retainGrad()
        q.mul_(3)
        (q * q).sum().backward()
        XCTAssertEqual(q.grad!.toArray(), [12, 24, 36])
        XCTAssertEqual(p.grad!.toArray(), [72, 144, 216])
    }

    func testAutogradGradReturnsGradientsAndTouchesNoGrad() throws {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let w = Tensor([4, 5, 6] as [Float]).requiringGrad()
        let y = (x * w).sum() + (x * x).sum()
        let gx = try Autograd.grad(y, inputs: [x])
        XCTAssertEqual(gx[0]!.toArray(), [6, 9, 12])
        XCTAssertNil(x.grad)
        XCTAssertNil(w.grad)

        // A non-leaf input, and several outputs with their gradients.
        let h = x * w
        let g = try Autograd.grad((h * h).sum(), inputs: [h, w])
        XCTAssertEqual(g[0]!.toArray(), [8, 20, 36])
        XCTAssertEqual(g[1]!.toArray(), [8, 40, 108])
        let multi = try Autograd.grad([x * 2, x * x], inputs: [x],
                                      gradOutputs: [Tensor.ones([3]), Tensor([1, 0, 1] as [Float])])
        XCTAssertEqual(multi[0]!.toArray(), [4, 2, 8])

        // Unused inputs.
        let u = Tensor([1] as [Float]).requiringGrad()
        assertThrowsMessage("grad: the differentiated tensor at index 0 (shape [1]) appears to not have been used in the graph; pass allowUnused: true if this is the desired behavior") {
            _ = try Autograd.grad((x * 2).sum(), inputs: [u])
        }
        let some = try Autograd.grad((x * 2).sum(), inputs: [x, u], allowUnused: true)
        XCTAssertEqual(some[0]!.toArray(), [2, 2, 2])
        XCTAssertNil(some[1])
        assertThrowsMessage("grad: input 0 (shape [3]) does not require grad") {
            _ = try Autograd.grad((x * 2).sum(), inputs: [Tensor.ones([3])])
        }

        // Through a linear layer whose optimizer defers weight gradients: the weight's grad
        // stays untouched, and the input's gradient is the weight's column sums.
        let layer = Linear(3, 2)
        _ = SGD(layer.parameters(), lr: 0.1)
        let input = Tensor.randn([4, 3]).requiringGrad()
        let gi = try Autograd.grad(layer(input).sum(), inputs: [input])
        XCTAssertNil(layer.weight.grad)
        XCTAssertNil(layer.bias!.grad)
        let columnSums = layer.weight.sum(dims: [0]).toArray()
        for row in 0..<4 { XCTAssertEqual(gi[0]![row].toArray(), columnSums) }
        XCTAssertTrue(layer.weight.defersLinearGrad)

        // A leaf input's hook runs on its whole gradient; other leaves' hooks do not run.
        let hooked = Tensor([1, 2, 3] as [Float]).requiringGrad()
        hooked.registerHook { $0 * 10 }
        XCTAssertEqual(try Autograd.grad((hooked * hooked).sum(), inputs: [hooked])[0]!.toArray(), [20, 40, 60])
        let scale = Tensor([1] as [Float]).requiringGrad()
        XCTAssertEqual(try Autograd.grad((hooked * scale).sum(), inputs: [scale])[0]!.toArray(), [6])
    }
}
