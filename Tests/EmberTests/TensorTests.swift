import XCTest
@testable import Ember

final class TensorTests: XCTestCase {
    func testShapeDTypeAndItemPrintLikeTheSeed() {
        let x = Tensor.zeros([64, 1, 28, 28])
        XCTAssertEqual("\(x.shape)", "[64, 1, 28, 28]")
        XCTAssertEqual("\(Tensor([1, 2]).dtype)", "int64")
        XCTAssertEqual("\(x.dtype)", "float32")
        XCTAssertEqual(Tensor([2.5], shape: []).item(), 2.5)
        XCTAssertEqual(x.count, 64 * 784)
    }

    func testDescriptionMatchesPyTorch() {
        // Strings printed by PyTorch 2 for the same tensors.
        XCTAssertEqual("\(Tensor([1.0, 2.0, 3.0]))", "tensor([1., 2., 3.])")
        XCTAssertEqual("\(Tensor([[0.1, 0.2], [0.3, 0.4]] as [[Float]]))",
                       "tensor([[0.1000, 0.2000],\n        [0.3000, 0.4000]])")
        XCTAssertEqual("\(Tensor([1, 2, 3]))", "tensor([1, 2, 3])")
        XCTAssertEqual("\(Tensor([true, false]))", "tensor([ True, False])")
        XCTAssertEqual("\(Tensor(scalar: 2.5))", "tensor(2.5000)")
        XCTAssertEqual("\(Tensor([1e-5, 1.0]))", "tensor([1.0000e-05, 1.0000e+00])")
        XCTAssertEqual("\(Tensor([-1.5, 2.25]))", "tensor([-1.5000,  2.2500])")
        XCTAssertEqual("\(Tensor.arange(0.0, 2000.0))",
                       "tensor([0.0000e+00, 1.0000e+00, 2.0000e+00,  ..., 1.9970e+03, 1.9980e+03,\n        1.9990e+03])")
        XCTAssertEqual("\(Tensor.arange(6).reshaped([2, 3]))", "tensor([[0, 1, 2],\n        [3, 4, 5]])")
        XCTAssertEqual("\(Tensor.zeros([2, 1, 2]))", "tensor([[[0., 0.]],\n\n        [[0., 0.]]])")
        XCTAssertEqual("\(Tensor([1.0, 2.0]).requiringGrad())", "tensor([1., 2.], requires_grad=True)")
        let y = Tensor([1.0, 2.0]).requiringGrad() * 2
        XCTAssertEqual("\(y)", "tensor([2., 4.], grad_fn=<MulBackward0>)")
        XCTAssertEqual("\(Tensor.ones([1001]))".components(separatedBy: "...").count, 2)
    }

    func testCreation() {
        XCTAssertEqual(Tensor.arange(5).toIntArray(), [0, 1, 2, 3, 4])
        XCTAssertEqual(Tensor.arange(1, 10, step: 3).toIntArray(), [1, 4, 7])
        XCTAssertEqual(Tensor.arange(0.0, 1.0, step: 0.25).toArray(), [0, 0.25, 0.5, 0.75])
        XCTAssertEqual(Tensor.full([2, 2], 7).toArray(), [7, 7, 7, 7])
        XCTAssertEqual(Tensor.ones([3], dtype: .int64).toIntArray(), [1, 1, 1])
        let r = Tensor.randint(0, 10, [1000], generator: Generator(seed: 1)).toIntArray()
        XCTAssertEqual(Set(r), Set(0..<10))
        manualSeed(11)
        let a = Tensor.randn([5])
        manualSeed(11)
        XCTAssertEqual(Tensor.randn([5]).toArray(), a.toArray())
    }

    func testViewsShareStorage() {
        let t = Tensor.arange(0.0, 12.0).reshaped([3, 4])
        let row = t[1]
        XCTAssertEqual(row.shape, [4])
        XCTAssertEqual(row.toArray(), [4, 5, 6, 7])
        XCTAssertEqual(t[1..<3].shape, [2, 4])
        XCTAssertEqual(t[-1].toArray(), [8, 9, 10, 11])
        XCTAssertEqual(t.unsqueezed(0).shape, [1, 3, 4])
        XCTAssertEqual(t.unsqueezed(-1).shape, [3, 4, 1])
        XCTAssertEqual(t.flattened().shape, [12])
        XCTAssertEqual(Tensor.zeros([64, 1, 28, 28]).flattened(startDim: 1).shape, [64, 784])
        XCTAssertEqual(t.reshaped([-1, 6]).shape, [2, 6])
        // A write through the storage is visible in every view.
        t.withUnsafeMutableFloats { $0[5] = 50 }
        XCTAssertEqual(row.toArray(), [4, 50, 6, 7])
        XCTAssertEqual(t.transposed().shape, [4, 3])
        XCTAssertEqual(t.transposed()[1].toArray(), [1, 50, 9])
    }

    func testTypeConversionsAndComparisons() {
        let pred = Tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]] as [[Float]])
        let y = Tensor([1, 0, 0])
        let correct = (pred.argmax(dim: 1) == y)
        XCTAssertEqual(correct.dtype, .bool)
        XCTAssertEqual(correct.toIntArray(), [1, 1, 0])
        XCTAssertEqual(correct.type(.float32).sum().item(), 2)
        XCTAssertEqual(Tensor([1.7, -1.7]).type(.int64).toIntArray(), [1, -1])
        XCTAssertEqual((Tensor([1, 2, 3]) * 2).toIntArray(), [2, 4, 6])
        XCTAssertEqual((Tensor([1, 2]) / 2).toArray(), [0.5, 1])   // true division
        XCTAssertEqual(Tensor([3.0, 1.0, 2.0]).argmax().item(), 0)
        XCTAssert(Tensor([1.0, 2.0]).equal(Tensor([1.0, 2.0])))
        XCTAssertFalse(Tensor([1.0, 2.0]).equal(Tensor([1.0, 2.5])))
    }

    func testGradAccumulatesAcrossBackwardCalls() {
        // The seed's reason for zero_grad: gradients add up until cleared.
        let w = Tensor([2.0, -1.0]).requiringGrad()
        let x = Tensor([3.0, 4.0])
        (w * x).sum().backward()
        XCTAssertEqual(w.grad!.toArray(), [3, 4])
        (w * x).sum().backward()
        XCTAssertEqual(w.grad!.toArray(), [6, 8])
        w.grad = nil
        (w * w).sum().backward()   // d(w²)/dw = 2w
        XCTAssertEqual(w.grad!.toArray(), [4, -2])
    }

    func testSharedGradientIsNotAliasedBetweenLeaves() {
        // x + y hands the same gradient tensor to both leaves; a later accumulation into
        // one must not change the other.
        let x = Tensor([1.0]).requiringGrad(), y = Tensor([2.0]).requiringGrad()
        (x + y).sum().backward()
        (x * 3).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [4])
        XCTAssertEqual(y.grad!.toArray(), [1])
    }

    func testNoGradAndDetach() {
        let w = Tensor([1.0]).requiringGrad()
        let y = noGrad { w * 2 }
        XCTAssertFalse(y.requiresGrad)
        XCTAssertNil(y.gradFn)
        XCTAssertTrue((w * 2).requiresGrad)
        XCTAssertFalse((w * 2).detach().requiresGrad)
        XCTAssertEqual((w * 2).gradFnName, "mul")
    }

    func testNoGradIsPerThread() {
        // A noGrad block on one thread must not switch recording off on another.
        let w = Tensor([1.0]).requiringGrad()
        let inside = DispatchSemaphore(value: 0), done = DispatchSemaphore(value: 0)
        nonisolated(unsafe) var recordedOnOtherThread = false   // ordered by the semaphores
        let thread = Thread {
            inside.wait()
            recordedOnOtherThread = (w * 2).requiresGrad
            done.signal()
        }
        thread.start()
        noGrad {
            inside.signal()
            done.wait()
            XCTAssertFalse((w * 2).requiresGrad)
        }
        XCTAssertTrue(recordedOnOtherThread)
    }

    func testErrorMessagesNameTheOpAndShapes() {
        assertThrowsMessage("matmul: mat1 and mat2 shapes cannot be multiplied (64x784 and 512x10)") {
            try Tensor.checkMatmul([64, 784], [512, 10])
        }
        assertThrowsMessage("add: the size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 1 (shapes [2, 3] and [4])") {
            _ = try broadcastShape([2, 3], [4], op: "add")
        }
        assertThrowsMessage("reshape: shape '[5, -1]' is invalid for input of size 12") {
            _ = try Tensor.inferShape([5, -1], count: 12)
        }
        assertThrowsMessage("cross_entropy: expected int64 but got float32") {
            try checkClassTargets(Tensor.zeros([2, 3]), Tensor.zeros([2]), weight: nil, op: "cross_entropy")
        }
        assertThrowsMessage("cross_entropy: target 3 is out of bounds for 3 classes") {
            try checkClassTargets(Tensor.zeros([2, 3]), Tensor([0, 3]), weight: nil, op: "cross_entropy")
        }
        assertThrowsMessage("nll_loss: expected target of shape [2] for input [2, 3], got [3]") {
            try checkClassTargets(Tensor.zeros([2, 3]), Tensor([0, 1, 2]), weight: nil, op: "nll_loss")
        }
    }
}
