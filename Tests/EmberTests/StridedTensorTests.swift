import XCTest
@testable import Ember

/// Views share memory, strides are PyTorch's, writes go through, versions guard backward.
final class StridedTensorTests: XCTestCase {
    func grid(_ r: Int, _ c: Int) -> Tensor { Tensor((0..<(r * c)).map { Float($0) }, shape: [r, c]) }

    func testViewsAreO1AndShareMemoryBothWays() {
        let x = grid(3, 4)
        let t = x.transposed(0, 1)
        XCTAssertEqual(t.shape, [4, 3])
        XCTAssertEqual(t.strides, [1, 4])
        XCTAssertFalse(t.isContiguous)
        XCTAssertTrue(t.storage === x.storage)
        // A write through one view is seen by the base and by another view.
        let col = x[.all, 1]
        XCTAssertEqual(col.strides, [4])
        XCTAssertEqual(col.storageOffset, 1)
        col.copy_(Tensor([-1, -2, -3]))
        XCTAssertEqual(x.toArray(), [0, -1, 2, 3, 4, -2, 6, 7, 8, -3, 10, 11])
        XCTAssertEqual(t[1].toArray(), [-1, -2, -3])
        // Base writes are seen by views.
        noGrad { x.fill_(5) }
        XCTAssertEqual(t.toArray(), [Float](repeating: 5, count: 12))
    }

    func testStridesOffsetsAndContiguityMatchPyTorch() {
        let x = Tensor.zeros([2, 3, 4])
        XCTAssertEqual(x.strides, [12, 4, 1])
        XCTAssertEqual(x.permuted(2, 0, 1).strides, [1, 12, 4])
        XCTAssertEqual(x.narrowed(dim: 2, start: 1, length: 2).strides, [12, 4, 1])
        XCTAssertEqual(x.narrowed(dim: 2, start: 1, length: 2).storageOffset, 1)
        XCTAssertEqual(x.select(dim: 1, index: 2).storageOffset, 8)
        XCTAssertEqual(x[.slice(nil, nil, step: 2)].strides, [24, 4, 1])
        XCTAssertEqual(Tensor.zeros([1, 3]).expanded(to: [5, 3]).strides, [0, 1])
        XCTAssertEqual(x.unfolded(dim: 2, size: 2, step: 2).shape, [2, 3, 2, 2])
        XCTAssertEqual(x.unfolded(dim: 2, size: 2, step: 2).strides, [12, 4, 2, 1])
        XCTAssertEqual(grid(3, 4).diagonal().toArray(), [0, 5, 10])
        XCTAssertEqual(grid(3, 4).diagonal(offset: -1).toArray(), [4, 9])
        XCTAssertTrue(x.unsqueezed(1).isContiguous)
        XCTAssertFalse(x.transposed(0, 2).isContiguous)
        XCTAssertTrue(x.transposed(0, 2).contiguous().isContiguous)
        // contiguous() is self when nothing needs copying.
        XCTAssertTrue(x.contiguous() === x)
    }

    func testReshapeIsAViewWhenStridesAllowAndViewRefusesOtherwise() {
        let x = grid(4, 6)
        // Splitting the rows of a column slice keeps it a view.
        let cols = x[.all, 0..<3]
        let r = cols.reshaped([2, 2, 3])
        XCTAssertTrue(r.storage === x.storage)
        XCTAssertEqual(r.strides, [12, 6, 1])
        // Merging across the gap cannot be a view: reshaped copies, view's check says why.
        let merged = cols.reshaped([12])
        XCTAssertFalse(merged.storage === x.storage)
        XCTAssertEqual(merged.toArray(), [0, 1, 2, 6, 7, 8, 12, 13, 14, 18, 19, 20])
        XCTAssertNil(cols.viewStrides(for: [12]))
        XCTAssertEqual(x.T.viewStrides(for: [6, 2, 2]), [1, 12, 6])
    }

    func testSubscriptsReadAndAssign() {
        let x = grid(3, 4)
        XCTAssertEqual(x[0].toArray(), [0, 1, 2, 3])
        XCTAssertEqual(x[-1, -1].item(), 11)
        XCTAssertEqual(x[.all, 1..<3].toArray(), [1, 2, 5, 6, 9, 10])
        XCTAssertEqual(x[.ellipsis, 0].toArray(), [0, 4, 8])
        XCTAssertEqual(x[..., .newAxis].shape, [3, 4, 1])
        XCTAssertEqual(x[1...].shape, [2, 4])
        XCTAssertEqual(x[.all, (0..<4).by(3)].toArray(), [0, 3, 4, 7, 8, 11])
        XCTAssertEqual(x[.slice(-2, nil)].toArray(), [4, 5, 6, 7, 8, 9, 10, 11])
        XCTAssertEqual(x[.slice(1, 100)].shape, [2, 4])   // clamped, as Python slices
        // Advanced indexing copies.
        let picked = x[x > 8]
        XCTAssertEqual(picked.toArray(), [9, 10, 11])
        XCTAssertFalse(picked.storage === x.storage)
        XCTAssertEqual(x[Tensor([2, 0]), .all].toArray(), [8, 9, 10, 11, 0, 1, 2, 3])
        XCTAssertEqual(x[Tensor([0, 1, 2]), Tensor([3, 2, 1])].toArray(), [3, 6, 9])
        // Assignment writes through and broadcasts.
        x[.all, 1..<3] = Tensor(0)
        XCTAssertEqual(x.toArray(), [0, 0, 0, 3, 4, 0, 0, 7, 8, 0, 0, 11])
        x[x > 7] = Tensor(-1.0)
        XCTAssertEqual(x.toArray(), [0, 0, 0, 3, 4, 0, 0, 7, -1, 0, 0, -1])
        x[Tensor([0, 2]), Tensor([0, 3])] = Tensor([5.0, 6.0])
        XCTAssertEqual(x[0, 0].item(), 5)
        XCTAssertEqual(x[2, 3].item(), 6)
        x[1] = Tensor([1.0, 2, 3, 4])
        XCTAssertEqual(x[1].toArray(), [1, 2, 3, 4])
    }

    func testKernelsReadStridedInputsCorrectly() {
        let x = Tensor.randn([5, 7], generator: Generator(seed: 3))
        let t = x.T   // (7, 5), strides (1, 7)
        let flat = t.contiguous()
        for (name, f) in [("relu", { (a: Tensor) in a.relu() }), ("exp", { $0.exp() }), ("softmax", { $0.softmax(dim: 0) }),
                          ("sum", { $0.sum(dim: 1) }), ("add", { $0 + $0 * 2 }), ("matmul", { $0.matmul($0.T) }),
                          ("gelu", { $0.gelu() }), ("var", { $0.var(dim: 0) }), ("cumsum", { $0.cumsum(dim: 1) }),
                          ("crossEntropy", { crossEntropy($0, Tensor([0, 1, 2, 3, 4, 0, 1])) })] {
            XCTAssertEqual(f(t).toArray(), f(flat).toArray(), "\(name) on a transposed view")
        }
        // Same permuted layout on both sides: one flat pass, the result keeps the layout.
        let square = t * t
        XCTAssertEqual(square.strides, t.strides)
        XCTAssertEqual(square.toArray(), (flat * flat).toArray())
        XCTAssertEqual((t - t.detach().exp().T.T).toArray(), (flat - flat.exp()).toArray())
        let e = Tensor([1, 2, 3] as [Float], shape: [3, 1]).expanded(to: [3, 4])
        XCTAssertEqual(e.exp().toArray(), e.contiguous().exp().toArray())
        XCTAssertEqual(linear(e, Tensor.ones([2, 4])).toArray(), [4, 4, 8, 8, 12, 12])
    }

    func testGradientsOfViewsReachTheBase() {
        let x = grid(3, 4).requiringGrad()
        let y = x.T[1..<3, .all].sum() + (x[.all, 0] * 2).sum()
        y.backward()
        XCTAssertEqual(x.grad!.toArray(), [2, 1, 1, 0, 2, 1, 1, 0, 2, 1, 1, 0])
        // Overlapping windows add up.
        let w = Tensor([1, 2, 3, 4] as [Float]).requiringGrad()
        w.unfolded(dim: 0, size: 2, step: 1).sum().backward()
        XCTAssertEqual(w.grad!.toArray(), [1, 2, 2, 1])
    }

    func testBackwardRefusesValuesModifiedInPlace() throws {
        let a = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let y = a.exp()            // exp saves its output
        let z = y.sum()
        noGrad { y.add_(1) }
        assertThrowsMessage("backward: one of the variables needed for gradient computation has been modified by an inplace operation: [float32 [3]], saved by exp, is at version 1; expected version 0 instead") {
            try z.runBackward()
        }
        // An op that saved nothing does not mind: add's gradient needs no values.
        let b = Tensor([1, 2] as [Float]).requiringGrad()
        let c = Tensor([3, 4] as [Float])
        let s = (b + c).sum()
        c.add_(10)
        try s.runBackward()
        XCTAssertEqual(b.grad!.toArray(), [1, 1])
    }

    func testInPlaceOnALeafThatRequiresGradIsRefused() {
        let w = Tensor([1, 2] as [Float]).requiringGrad()
        assertThrowsMessage("add_: a leaf Variable that requires grad is being used in an in-place operation (shape [2]); update it under noGrad { }") {
            try w.checkRecordableInPlace("add_")
        }
        assertThrowsMessage("mul_: a view of a leaf Variable that requires grad is being used in an in-place operation (shape [1]); update it under noGrad { }") {
            try w[0..<1].checkRecordableInPlace("mul_")
        }
        let h = w * 2
        let madeUnderNoGrad = noGrad { h[0..<1] }
        assertThrowsMessage("mul_: a view was created in noGrad mode and is being modified in place with grad mode enabled (shape [1]); make both the view and the write inside or outside noGrad { }") {
            try madeUnderNoGrad.checkRecordableInPlace("mul_")
        }
        XCTAssertNoThrow(try h.checkRecordableInPlace("add_"))
        XCTAssertNoThrow(try h[0..<1].checkRecordableInPlace("mul_"))
        noGrad { w.add_(1) }   // the optimizer's way: allowed, and no history
        XCTAssertEqual(w.toArray(), [2, 3])
        XCTAssertTrue(w.isLeaf)
    }

    func testInPlaceOpsRecordHistoryOnNonLeavesAndWorkThroughViews() {
        let a = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let h = a * 2
        h.mul_(a)          // h = 2a²
        h.add_(1)
        XCTAssertEqual(h.toArray(), [3, 9, 19])
        XCTAssertEqual(h.gradFnName, "add")
        h.sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [4, 8, 12])   // d(2a²)/da
        let x = Tensor.zeros([2, 3])
        x[.all, 1].add_(Tensor([1.0, 2.0]))
        x.narrowed(dim: 1, start: 2, length: 1).fill_(7)
        x.select(dim: 0, index: 0).mul_(3)
        XCTAssertEqual(x.toArray(), [0, 3, 21, 0, 2, 7])
        XCTAssertEqual(x.clamp_(max: 5).toArray(), [0, 3, 5, 0, 2, 5])
        x.maskedFill_(x == 5, value: -1)
        XCTAssertEqual(x.toArray(), [0, 3, -1, 0, 2, -1])
        XCTAssertEqual(Tensor.zeros([3]).indexAdd_(dim: 0, index: Tensor([0, 2, 0]), source: Tensor([1.0, 2, 3])).toArray(), [4, 0, 2])
        XCTAssertEqual(Tensor.zeros([3]).scatterAdd_(dim: 0, index: Tensor([1, 1]), src: Tensor([1.0, 2])).toArray(), [0, 3, 0])
        let u = Tensor.zeros([1000]).uniform_(2, 3, generator: Generator(seed: 1))
        XCTAssertTrue(u.toArray().allSatisfy { $0 >= 2 && $0 < 3 })
        // The version counter moves on every in-place write, through any view.
        let v0 = x.storage.version
        x[0, 0] = Tensor(1.0)
        x.T.zero_()
        XCTAssertEqual(x.storage.version, v0 + 2)
    }

    func testDeferredSGDGradientSeesWritesThroughViews() {
        // The factors of a deferred weight gradient must be read before a view overwrites them.
        let model = Linear(3, 2, generator: Generator(seed: 5))
        let opt = SGD(model.parameters(), lr: 0.1)
        let x = Tensor.randn([4, 3], generator: Generator(seed: 6))
        let reference = model.weight.clone()
        crossEntropy(model(x), Tensor([0, 1, 1, 0])).backward()
        let expected = noGrad { model.weight.grad!.clone() }
        // Second copy: the same step, but the input is overwritten through a view before step().
        let model2 = Linear(3, 2, generator: Generator(seed: 5))
        let opt2 = SGD(model2.parameters(), lr: 0.1)
        let x2 = x.clone()
        crossEntropy(model2(x2), Tensor([0, 1, 1, 0])).backward()
        x2[.all, 1] = Tensor(100.0)
        opt.step()
        opt2.step()
        XCTAssertEqual(model.weight.toArray(), model2.weight.toArray())
        XCTAssertEqual(model2.weight.grad!.toArray(), expected.toArray())
        XCTAssertNotEqual(reference.toArray(), model.weight.toArray())
    }

    func testNewReductionsGiveTheSameBitsOnOneTwoAndFourThreads() {
        let x = Tensor.randn([64, 300], generator: Generator(seed: 9))
        let (threads, threshold) = (numThreads(), parallelThreshold)
        defer { setNumThreads(threads); parallelThreshold = threshold }
        parallelThreshold = 1   // every kernel takes its parallel path
        var results: [[Float]] = []
        for n in [1, 2, 4] {
            setNumThreads(n)
            let parts = [x.var(dim: 1), x.logsumexp(dim: 0), x.norm(p: 3, dim: 1), x.prod(dim: 0), x.amax(dim: 1),
                         x.cumsum(dim: 1).sum(dim: 0), x.std(dims: [0, 1]), x.T.contiguous().sum(dim: 0)]
            results.append(parts.flatMap { $0.toArray() })
        }
        XCTAssertEqual(results[0], results[1])
        XCTAssertEqual(results[0], results[2])
    }

    func testErrorsNameTheOpAndTheShapes() {
        assertThrowsMessage("reshape: shape '[5]' is invalid for input of size 6") { _ = try Tensor.inferShape([5], count: 6) }
        assertThrowsMessage("expand: the expanded size of the tensor (4) must match the existing size (3) at non-singleton dimension 1. Target sizes: [2, 4]. Tensor sizes: [3]") {
            _ = try broadcastStrides(of: Tensor.zeros([3]), to: [2, 4], op: "expand")
        }
        assertThrowsMessage("matmul: mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)") {
            try Tensor.checkMatmul([2, 3], [4, 5])
        }
        assertThrowsMessage("add: the size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1 (shapes [2, 3] and [4])") {
            _ = try broadcastShape([2, 3], [4], op: "add")
        }
    }
}

/// Gradients added through views on several threads: rows of a destination that never
/// overlaps itself are shared out, one that does (unfold's windows) is added serially, in
/// order. Exact counts and the same bits on 1, 2 and 4 threads.
final class StridedAddThreadTests: KernelSettingsTestCase {
    func testViewGradientsOnEveryThreadCount() {
        parallelThreshold = 1
        var slices: [[UInt32]] = []
        for threads in [1, 2, 4] {
            setNumThreads(threads)
            // 64 windows of 4000, each overlapping all others: element i is in
            // min(i + 1, 64, 4063 − i) of them.
            let w = Tensor.zeros([4063]).requiringGrad()
            w.unfolded(dim: 0, size: 4000, step: 1).sum().backward()
            let want = (0..<4063).map { Float(Swift.min($0 + 1, 64, 4063 - $0)) }
            XCTAssertEqual(w.grad!.toArray(), want, "unfold on \(threads) threads")
            // Column slices of a non-leaf: each adds into its region of one gradient.
            let x = Tensor.randn([300, 96], generator: Generator(seed: 7)).requiringGrad()
            let y = x * 1.5
            let parts = y.split(32, dim: 1)
            (parts[0].exp().sum() + (parts[1] * parts[2]).sum() + parts[2][.all, 3..<9].sum()).backward()
            slices.append(x.grad!.toArray().map(\.bitPattern))
        }
        XCTAssertEqual(slices[1], slices[0], "2 threads")
        XCTAssertEqual(slices[2], slices[0], "4 threads")
    }
}
