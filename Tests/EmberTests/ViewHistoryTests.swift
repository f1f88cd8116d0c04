import XCTest
@testable import Ember

// Views and in-place ops under autograd (Autograd/ViewHistory.swift). Every expected value is
// what PyTorch 2 gives for the same code.
final class ViewHistoryTests: XCTestCase {
    private func a4() -> Tensor { Tensor([1, 2, 3, 4] as [Float]).requiringGrad() }
    private let ramp = Tensor([1, 2, 3, 4] as [Float])

    func testAViewTakenBeforeAnInPlaceOpOnItsBaseFollowsTheNewHistory() {
        let a = a4()
        let b = a * 2
        let v = b[0..<2]
        b.mul_(3)
        XCTAssertEqual(v.gradFnName, "as_strided")
        v.sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [6, 6, 0, 0])   // was [2, 2, 0, 0]

        let a2 = a4()
        let c = a2 * 2
        let square = c.view([2, 2])
        c.mul_(a2)
        (square * square).sum().backward()
        XCTAssertEqual(a2.grad!.toArray(), [16, 128, 432, 1024])

        // An expanded view: its elements' gradients are summed into the one they share.
        let s = Tensor([3] as [Float]).requiringGrad()
        let t = s * 1
        let e = t.expanded(to: [3])
        t.mul_(2)
        (e * Tensor([1, 2, 3] as [Float])).sum().backward()
        XCTAssertEqual(s.grad!.toArray(), [12])
    }

    func testAnInPlaceOpOnAViewRewritesItsBasesHistory() {
        let a = a4()
        let b = a * 2
        let v = b[0..<2]
        v.mul_(3)
        XCTAssertEqual(b.gradFnName, "copy_slices")
        XCTAssertEqual(v.gradFnName, "as_strided")
        (b * ramp).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [6, 12, 6, 8])

        // A view of a view of a reshaped base, multiplied by another tensor.
        let x = Tensor.arange(1.0, 7.0).requiringGrad()
        let m = (x * 1).reshaped([2, 3])
        m[1][1...].mul_(x[0..<2] * 1)
        (m * Tensor.arange(1.0, 7.0).reshaped([2, 3])).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [26, 38, 3, 4, 5, 12])

        // Through a transposed view, adding a value that requires grad.
        let y = Tensor.arange(1.0, 7.0).requiringGrad()
        let w = Tensor([1, 2] as [Float]).requiringGrad()
        let n = (y * 1).reshaped([2, 3])
        n.transposed(0, 1)[2].add_(w * w)
        (n * Tensor.arange(1.0, 7.0).reshaped([2, 3])).sum().backward()
        XCTAssertEqual(y.grad!.toArray(), [1, 2, 3, 4, 5, 6])
        XCTAssertEqual(w.grad!.toArray(), [6, 24])

        // The base written in place after its view was, then the view again.
        let z = a4()
        let h = z * 2
        let hv = h[1..<3]
        h.add_(z)
        hv.mul_(z[0..<2])
        h.sum().backward()
        XCTAssertEqual(z.grad!.toArray(), [9, 12, 6, 3])
    }

    func testAssignmentIntoATensorThatRequiresGradIsRecorded() {
        let a = a4()
        let b = a * 2
        b[1] = Tensor(0.0)
        (b * b).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [8, 0, 24, 32])

        // A plain buffer filled from a value that requires grad.
        let w = Tensor([5, 7] as [Float]).requiringGrad()
        let buf = Tensor.zeros([4])
        buf[1..<3] = w * 2
        XCTAssertTrue(buf.requiresGrad)
        XCTAssertEqual(buf.gradFnName, "copy_slices")
        (buf * buf * ramp).sum().backward()
        XCTAssertEqual(w.grad!.toArray(), [80, 168])

        // Index tensors: the old values get no gradient, the value gets what is read there.
        let c = a4(), v = Tensor([10, 20] as [Float]).requiringGrad()
        let d = c * 2
        d[Tensor([0, 2])] = v
        (d * ramp).sum().backward()
        XCTAssertEqual(c.grad!.toArray(), [0, 4, 0, 8])
        XCTAssertEqual(v.grad!.toArray(), [1, 3])
        // A broadcast value sums its gradient.
        let c2 = a4(), s = Tensor([10] as [Float], shape: []).requiringGrad()
        let d2 = c2 * 2
        d2[Tensor([0, 2])] = s
        (d2 * ramp).sum().backward()
        XCTAssertEqual(c2.grad!.toArray(), [0, 4, 0, 8])
        XCTAssertEqual(s.grad!.toArray(), [4])
        // A mask.
        let c3 = a4()
        let d3 = c3 * 2
        d3[d3 > 4] = Tensor(0.0)
        (d3 * ramp).sum().backward()
        XCTAssertEqual(c3.grad!.toArray(), [2, 4, 0, 0])
        // A slice then index tensors.
        let x = Tensor.arange(1.0, 7.0).requiringGrad()
        let m = (x * 1).reshaped([2, 3])
        m[.all, Tensor([0, 2])] = Tensor([9, 8, 7, 6] as [Float], shape: [2, 2])
        (m * m).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [0, 4, 0, 0, 10, 0])
    }

    func testOverwritingEveryValueLeavesAZeroGradient() {
        let a = a4()
        let b = a * 2
        b.copy_(Tensor.zeros([4]))
        XCTAssertTrue(b.requiresGrad)
        b.sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [0, 0, 0, 0])   // was [2, 2, 2, 2]: the copy was not recorded

        let a2 = a4()
        let c = a2 * 2
        c.fill_(1)
        XCTAssertTrue(c.requiresGrad)
        c.sum().backward()
        XCTAssertEqual(a2.grad!.toArray(), [0, 0, 0, 0])
    }

    func testInPlaceOpsOnViewsMatchFiniteDifferences() {
        // f(x, w) = m², where m is x as 2×3 with column 1 scaled by w and row 0 shifted by
        // row 1 times w[0].
        gradCheck([Tensor([0.5, -1, 2, 1.5, -0.5, 3] as [Float]), Tensor([1.5, -2] as [Float])], ember: { t in
            let m = (t[0] * 1).reshaped([2, 3])
            m[.all, 1].mul_(t[1])
            m[0].add_((m[1] + 0) * t[1][0])
            return m * m
        }, reference: { v in
            var m = v[0]
            m[1] *= v[1][0]
            m[4] *= v[1][1]
            for j in 0..<3 { m[j] += m[3 + j] * v[1][0] }
            return m.map { $0 * $0 }
        })
    }

    func testWritesAutogradCannotRecordAreRefused() {
        assertThrowsMessage("add_: unsupported operation: more than one element of the written-to tensor refers to a single memory location (shape [3], strides [0]); clone() it first") {
            try Tensor.zeros([1]).expanded(to: [3]).checkNoInternalOverlap("add_")
        }
        XCTAssertNoThrow(try Tensor.zeros([1]).expanded(to: [1]).checkNoInternalOverlap("add_"))
        // A view of a leaf that requires grad, and a view made under noGrad: in
        // StridedTensorTests.testInPlaceOnALeafThatRequiresGradIsRefused.
    }

    func testCloneIsDifferentiableAndTakesWrites() {
        // PyTorch's idiom for editing a copy of a parameter: clone, then write.
        let a = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let c = a.clone()
        XCTAssertEqual(c.gradFnName, "clone")
        c[0] = Tensor(0.0)
        (c * c).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [0, 4, 6])   // clone used to cut the graph: no gradient
        XCTAssertFalse(a.detach().clone().requiresGrad)
    }

    func testNonzeroOfAZeroDimTensor() {
        XCTAssertEqual(Tensor(1.0).nonzero().shape, [1, 0])
        XCTAssertEqual(Tensor(0.0).nonzero().shape, [0, 0])
    }
}
