import Foundation
import XCTest
@testable import Ember

// Edge cases where Ember differed from PyTorch or trapped; each expected value is what
// PyTorch 2 gives for the same call.

final class TensorEdgeCaseTests: XCTestCase {
    func testUInt8AndBoolMaxAlongDimKeepTheirDtype() {
        // 3 rows of 3: more than 8 outputs once wrote int64s past a uint8 buffer.
        let u = Tensor([1, 5, 3, 7, 2, 0, 9, 9, 4, 0, 0, 1, 255, 3, 3, 6, 6, 6, 8, 1, 2, 5, 5, 5, 0, 2, 1, 7, 7, 7], shape: [10, 3]).type(.uint8)
        let r = u.max(dim: 1)
        XCTAssertEqual(r.values.dtype, .uint8)
        XCTAssertEqual(r.values.toIntArray(), [5, 7, 9, 1, 255, 6, 8, 5, 2, 7])
        XCTAssertEqual(r.indices.toIntArray(), [1, 0, 0, 2, 0, 0, 0, 0, 1, 0])
        let m = u.min(dim: 1)
        XCTAssertEqual(m.values.dtype, .uint8)
        XCTAssertEqual(m.values.toIntArray(), [1, 0, 4, 0, 3, 6, 1, 5, 0, 7])
        XCTAssertEqual(u.max().dtype, .uint8)
        XCTAssertEqual(u.max().item(), 255)
        let b = Tensor([1, 0, 0, 0], shape: [2, 2]).type(.bool)
        XCTAssertEqual(b.max(dim: 1).values.dtype, .bool)
        XCTAssertEqual(b.max(dim: 1).values.toBoolArray(), [true, false])
    }

    func testCatAndStackPromoteAsPyTorch() {
        let a = Tensor([200, 3]).type(.uint8), b = Tensor([7]).type(.uint8), t = Tensor([1]).type(.bool)
        XCTAssertEqual(Tensor.cat([a, b]).dtype, .uint8)
        XCTAssertEqual(Tensor.cat([a, b]).toIntArray(), [200, 3, 7])
        XCTAssertEqual(Tensor.stack([a, a]).toIntArray(), [200, 3, 200, 3])
        XCTAssertEqual(Tensor.cat([a, t]).dtype, .uint8)
        XCTAssertEqual(Tensor.cat([t, t]).dtype, .bool)
        XCTAssertEqual(Tensor.cat([a, Tensor([5])]).dtype, .int64)
    }

    func testStdGradientIsZeroWhereStdIs() {
        let x = Tensor([2.0, 2.0, 2.0]).requiringGrad()
        x.std().backward()
        XCTAssertEqual(x.grad!.toArray(), [0, 0, 0])
        // A constant row beside a varying one: torch gives [[0, 0], [-0.7071, 0.7071]].
        let y = Tensor([2.0, 2.0, 1.0, 3.0], shape: [2, 2]).requiringGrad()
        y.std(dim: 1).sum().backward()
        let g = y.grad!.toArray()
        XCTAssertEqual(Array(g[0..<2]), [0, 0])
        XCTAssertEqual(g[2], -0.70710677, accuracy: 1e-6)
        XCTAssertEqual(g[3], 0.70710677, accuracy: 1e-6)
    }

    func testIntegerTensorsWithScalarsAnInt64CannotHold() {
        let t = Tensor([1, 2])
        XCTAssertEqual((t * Double.infinity).toArray(), [.infinity, .infinity])
        XCTAssertEqual((t < Double.infinity).toBoolArray(), [true, true])
        XCTAssertEqual((t + 1e20).toArray(), [1e20, 1e20])
        XCTAssertEqual(t.clamp(max: .infinity).toArray(), [1, 2])
    }

    func testTiesShareTheGradientAsPyTorch() {
        let x = Tensor([3.0, 3.0, 1.0]).requiringGrad()
        x.max().backward()
        XCTAssertEqual(x.grad!.toArray(), [0.5, 0.5, 0])
        let y = Tensor([1.0, 1.0, 3.0]).requiringGrad()
        y.min().backward()
        XCTAssertEqual(y.grad!.toArray(), [0.5, 0.5, 0])
        let a = Tensor([1.0, 2.0]).requiringGrad(), b = Tensor([1.0, 1.0]).requiringGrad()
        Tensor.maximum(a, b).sum().backward()
        XCTAssertEqual(a.grad!.toArray(), [0.5, 1])
        XCTAssertEqual(b.grad!.toArray(), [0.5, 0])
        let c = Tensor([1.0, 2.0]).requiringGrad(), d = Tensor([1.0, 1.0]).requiringGrad()
        Tensor.minimum(c, d).sum().backward()
        XCTAssertEqual(c.grad!.toArray(), [0.5, 0])
        XCTAssertEqual(d.grad!.toArray(), [0.5, 1])
        // On a bound the clamp passes no gradient: torch gives [0, 1, 0, 0].
        let e = Tensor([0.0, 1.5, -2.0, 3.0]).requiringGrad()
        e.clamp(min: 0, max: 3).sum().backward()
        XCTAssertEqual(e.grad!.toArray(), [0, 1, 0, 0])
        XCTAssertEqual(e.clamp(min: 0, max: 3).toArray(), [0, 1.5, 0, 3])
    }

    func testInt64CumsumIsExact() {
        XCTAssertEqual(Tensor([16_777_217, 0]).cumsum(dim: 0).toIntArray(), [16_777_217, 16_777_217])
        let m = Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(m.cumsum(dim: 1).toIntArray(), [1, 3, 6, 4, 9, 15])
        XCTAssertEqual(m.cumsum(dim: 0).toIntArray(), [1, 2, 3, 5, 7, 9])
        XCTAssertEqual(Tensor([1, 0, 1]).type(.bool).cumsum(dim: 0).dtype, .int64)
    }

    func testReductionsAlongTheDimOfAScalar() {
        let s = Tensor(scalar: 3)
        XCTAssertEqual(s.mean(dim: 0).item(), 3)
        XCTAssertEqual(s.amax(dim: -1).item(), 3)
        XCTAssertEqual(s.logsumexp(dim: 0).item(), 3)
        XCTAssertEqual(s.prod(dim: 0).item(), 3)
        XCTAssertEqual(s.norm(dim: 0).item(), 3)
        XCTAssertTrue(s.var(dim: 0).item().isNaN)
        let x = Tensor(scalar: 2).requiringGrad()
        x.prod(dim: 0).backward()
        XCTAssertEqual(x.grad!.item(), 1)
    }

    func testPowAndNormGradientsAtZeroAsPyTorch() {
        // torch: x.grad [0, 0, 0, 3], e.grad [0, log 2, 0, nan] for x ** e below.
        let x = Tensor([0, 2, 0, -1] as [Float]).requiringGrad(), e = Tensor([0, 0, 2, 3] as [Float]).requiringGrad()
        x.pow(e).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [0, 0, 0, 3])
        let eg = e.grad!.toArray()
        XCTAssertEqual(Array(eg[0..<3]), [0, Float(log(2.0)), 0])
        XCTAssertTrue(eg[3].isNaN)
        let z = Tensor([0, 2] as [Float]).requiringGrad()
        z.pow(0).sum().backward()
        XCTAssertEqual(z.grad!.toArray(), [0, 0])
        // torch: [0, 2.4142, -1.7071] for the 0.5-norm of [0, 1, -2].
        let n = Tensor([0, 1, -2] as [Float]).requiringGrad()
        n.norm(p: 0.5).backward()
        let ng = n.grad!.toArray()
        XCTAssertEqual(ng[0], 0)
        XCTAssertEqual(ng[1], 2.4142137, accuracy: 1e-5)
        XCTAssertEqual(ng[2], -1.7071068, accuracy: 1e-5)
    }

    func testIntegerResultsPyTorchRefuses() {
        let t = Tensor([2, 3])
        assertThrowsMessage("pow: Integers to negative integer powers are not allowed.") {
            try t.checkIntegerPow(t, Tensor([-1]))
        }
        XCTAssertNoThrow(try t.checkIntegerPow(t, Tensor([2])))
        XCTAssertEqual(t.pow(2.0).toIntArray(), [4, 9])
        assertThrowsMessage("mul_: result type Float can't be cast to the desired output type Long") {
            try t.castable(t * 0.5, to: t, op: "mul_")
        }
        XCTAssertEqual(t.mul_(2).toIntArray(), [4, 6], "an integral factor keeps the integers")
    }

    func testEmptyMeanIsNaNAndInfinitiesAreClose() {
        XCTAssertTrue(Tensor.zeros([0]).mean().item().isNaN)
        XCTAssertTrue(Tensor([Float.infinity, 1]).allClose(Tensor([Float.infinity, 1])))
        XCTAssertFalse(Tensor([Float.infinity, 1]).allClose(Tensor([-Float.infinity, 1])))
    }

    func testPoolingWindowWiderThanTheInputThrows() {
        assertThrowsMessage("max_pool2d: Given input size: (1x1x1). Calculated output size: (1x0x0). Output size is too small") {
            _ = try PoolGeometry.make([1, 1, 1, 1], kernel: 2, stride: nil, padding: 0, dilation: 1, ceilMode: false, op: "max_pool2d")
        }
        XCTAssertThrowsError(try PoolGeometry.make([1, 1, 2, 2], kernel: 3, stride: 4, padding: 0, dilation: 1, ceilMode: false, op: "avg_pool2d"))
        // Ceil mode keeps the window that starts inside the input, as torch's (1, 1, 1, 1).
        XCTAssertEqual(try PoolGeometry.make([1, 1, 2, 2], kernel: 3, stride: 4, padding: 0, dilation: 1, ceilMode: true, op: "avg_pool2d").oh, 1)
        // Still one output where the window just fits.
        XCTAssertEqual(try PoolGeometry.make([1, 1, 2, 2], kernel: 2, stride: nil, padding: 0, dilation: 1, ceilMode: false, op: "max_pool2d").oh, 1)
    }

    func testDilatedWindowInThePaddingTakesNoGradient() {
        // Kernel (2, 1), dilation (2, 1), padding (1, 0) on 1×4: every window's taps fall in
        // the padding; PyTorch returns indices past the plane. The backward must not write there.
        let x = Tensor([1.0, 2.0, 3.0, 4.0], shape: [1, 1, 1, 4]).requiringGrad()
        let y = x.maxPool2d(kernelSize: Pair(2, 1), padding: Pair(1, 0), dilation: Pair(2, 1))
        y.sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [0, 0, 0, 0])
    }
}

final class IndexingAndAutogradEdgeCaseTests: XCTestCase {
    func testClassTargetWrittenInPlaceIsRefused() {
        // The backward indexes rows by the targets; an out-of-range one written after the
        // forward's bounds check would reach C unchecked.
        for loss in [{ crossEntropy($0, $1) }, { nllLoss($0.logSoftmax(dim: 1), $1) }] as [(Tensor, Tensor) -> Tensor] {
            let logits = Tensor.randn([2, 3], generator: Generator(seed: 1)).requiringGrad()
            let target = Tensor([0, 1])
            let l = loss(logits, target)
            target[0] = Tensor(1_000_000)
            XCTAssertThrowsError(try l.runBackward()) { XCTAssertTrue("\($0)".contains("modified by an inplace operation"), "\($0)") }
        }
    }

    func testIndicesWrittenInPlaceAreRefused() {
        let x = Tensor([3, 1, 2] as [Float]).requiringGrad()
        let (v, i) = x.topk(2)
        i[1] = Tensor(1)
        XCTAssertThrowsError(try v.sum().runBackward())
        let y = Tensor([3, 1, 2] as [Float]).requiringGrad()
        let mask = Tensor([1, 0, 1]).type(.bool)
        let w = Tensor.where(mask, y, Tensor.zeros([3]))
        mask[0] = Tensor(0).type(.bool)
        XCTAssertThrowsError(try w.sum().runBackward())
    }

    func testLeafGradientsAreNotShared() {
        // add's backward hands one tensor to both inputs; clipping scaled it twice.
        let x = Tensor.zeros([4]).requiringGrad(), y = Tensor.zeros([4]).requiringGrad()
        (x + y).sum().backward()
        _ = clipGradNorm_([x, y], maxNorm: 1)
        XCTAssertEqual(x.grad!.toArray()[0], 0.35355339, accuracy: 1e-6)
        XCTAssertEqual(y.grad!.toArray()[0], 0.35355339, accuracy: 1e-6)
        // A seed the caller passes is not the leaf's gradient itself.
        let z = Tensor.zeros([2]).requiringGrad()
        let seed = Tensor([1.0, 2.0])
        z.backward(seed)
        seed.mul_(10)
        XCTAssertEqual(z.grad!.toArray(), [1, 2])
    }

    func testCopyFromATensorThatRequiresGradRecordsTheCopy() {
        let x = Tensor([1, 2] as [Float]).requiringGrad()
        let buf = Tensor.zeros([2])
        buf.copy_(x)
        (buf + x).sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [2, 2])
        // Broadcast from a smaller source: its gradient is summed back.
        let s = Tensor([3] as [Float]).requiringGrad()
        let wide = Tensor.zeros([2, 2])
        wide.copy_(s)
        (wide * 2).sum().backward()
        XCTAssertEqual(s.grad!.toArray(), [8])
        // Constants are copied as before, unrecorded.
        let y = Tensor.zeros([2])
        y.copy_(Tensor([5, 6] as [Float]))
        XCTAssertNil(y.gradFnName)
    }

    func testGatherAndScatterWithZeroDimOperands() {
        let x = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let g = x.gather(dim: 0, index: Tensor([2], shape: []))
        XCTAssertEqual(g.item(), 3)
        g.backward()
        XCTAssertEqual(x.grad!.toArray(), [0, 0, 1])
        XCTAssertEqual(Tensor.zeros([3]).scatter(dim: 0, index: Tensor([2], shape: []), value: 5).toArray(), [0, 0, 5])
        XCTAssertEqual(Tensor(scalar: 5).gather(dim: 0, index: Tensor([0, 0])).toArray(), [5, 5])
    }

    func testUInt8ScatterAddAdds() {
        let src = Tensor([3, 4, 5, 250]).type(.uint8)
        let out = Tensor.zeros([3], dtype: .uint8).scatterAdd(dim: 0, index: Tensor([0, 0, 1, 1]), src: src)
        XCTAssertEqual(out.toIntArray(), [7, 255, 0])
    }

    func testRandintOverWideRangesReachesEveryResidue() {
        let r = Tensor.randint(0, 1 << 25, [1000], generator: Generator(seed: 1)).toIntArray()
        XCTAssertTrue(r.allSatisfy { $0 >= 0 && $0 < 1 << 25 })
        XCTAssertGreaterThan(r.filter { $0 % 2 == 1 }.count, 400)
        let full = Tensor.randint(Int.min, Int.max, [64], generator: Generator(seed: 2)).toIntArray()
        XCTAssertTrue(full.contains { $0 < 0 } && full.contains { $0 > 0 })
        // Narrow ranges keep their stream: the same numbers as before for a seed.
        XCTAssertEqual(Tensor.randint(0, 10, [8], generator: Generator(seed: 3)).toIntArray(),
                       Tensor.rand([8], generator: Generator(seed: 3)).toArray().map { Swift.min(Int($0 * 10), 9) })
    }
}

/// Arguments that reached the C core unchecked (out-of-bounds reads and writes, divisions by
/// zero) are refused in Swift with PyTorch's messages.
final class KernelBoundaryTests: XCTestCase {
    func testInterpolateRefusesEmptyInputAndBadScales() {
        let empty = Tensor.zeros([1, 1, 0, 64])
        for mode in [InterpolationMode.nearest, .bilinear] {
            assertThrowsMessage("interpolate: Input and output sizes should be greater than 0, but got input (H: 0, W: 64)") {
                _ = try empty.interpolateOutputSize(size: Pair(2, 64), scaleFactor: nil, mode: mode, alignCorners: nil)
            }
        }
        let x = Tensor.zeros([1, 1, 4, 4])
        for f in [Double.nan, -2, 0, .infinity] {
            XCTAssertThrowsError(try x.interpolateOutputSize(size: nil, scaleFactor: f, mode: .nearest, alignCorners: nil), "\(f)")
        }
        XCTAssertEqual(try x.interpolateOutputSize(size: nil, scaleFactor: 1.5, mode: .bilinear, alignCorners: false).h, 6)
    }

    func testConvTransposeValidatesItsGeometry() {
        let x = Tensor.zeros([1, 2, 3, 3]), w = Tensor.zeros([2, 2, 1, 1])
        func convT(_ x: Tensor, _ w: Tensor, _ b: Tensor? = nil, stride: Pair = 1, padding: Pair = 0, outputPadding: Pair = 0,
                   groups: Int = 1, dilation: Pair = 1) throws {
            _ = try convTranspose2dChecked(x, w, b, stride: stride, padding: padding, outputPadding: outputPadding,
                                           groups: groups, dilation: dilation)
        }
        assertThrowsMessage("conv_transpose2d: non-positive stride is not supported") { try convT(x, w, stride: 0) }
        // A negative stride with output padding passed the output-padding check and indexed backwards.
        assertThrowsMessage("conv_transpose2d: non-positive stride is not supported") {
            try convT(Tensor.zeros([1, 2, 1, 1]), w, stride: -1, outputPadding: 4, dilation: 5)
        }
        assertThrowsMessage("conv_transpose2d: non-positive groups is not supported") { try convT(x, w, groups: 0) }
        assertThrowsMessage("conv_transpose2d: negative padding is not supported") { try convT(x, w, padding: -1) }
        assertThrowsMessage("conv_transpose2d: dilation should be greater than zero") { try convT(x, w, dilation: 0) }
        assertThrowsMessage("conv_transpose2d: kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 1") {
            try convT(x, Tensor.zeros([2, 2, 0, 1]))
        }
        XCTAssertThrowsError(try convT(x, w, Tensor.ones([2], dtype: .uint8)))
        XCTAssertNoThrow(try convT(x, w, Tensor.ones([2])))
    }

    func testConvRefusesEmptyKernelsAndChannels() {
        assertThrowsMessage("conv2d: kernel size should be greater than zero, but got kernel_height: 0 kernel_width: 3") {
            _ = try conv2dChecked(Tensor.zeros([1, 3, 5, 5]), Tensor.zeros([4, 3, 0, 3]), nil, stride: 1, padding: 0, dilation: 1, groups: 1)
        }
        XCTAssertThrowsError(try conv2dChecked(Tensor.zeros([1, 0, 5, 5]), Tensor.zeros([4, 0, 3, 3]), nil,
                                               stride: 1, padding: 0, dilation: 1, groups: 1))
    }

    func testParameterDtypesAreChecked() {
        let x = Tensor.randn([1, 3, 5, 5], generator: Generator(seed: 1))
        assertThrowsMessage("conv2d bias: expected float32 but got uint8") {
            _ = try conv2dChecked(x, Tensor.randn([4, 3, 3, 3]), Tensor.ones([4], dtype: .uint8), stride: 1, padding: 0, dilation: 1, groups: 1)
        }
        assertThrowsMessage("layer_norm weight: expected float32 but got bool") {
            _ = try layerNormChecked(Tensor.randn([2, 100]), [100], weight: Tensor.ones([100], dtype: .bool), bias: nil, eps: 1e-5)
        }
        XCTAssertThrowsError(try batchNormChecked(Tensor.randn([4, 3]), runningMean: Tensor.zeros([3], dtype: .int64),
                                                  runningVar: Tensor.ones([3]), weight: nil, bias: nil, training: true,
                                                  momentum: 0.1, eps: 1e-5))
    }

    func testBackwardConvertsTheSeedsDtype() throws {
        let x = Tensor([-1, 2, 3, -4] as [Float], shape: [1, 4]).requiringGrad()
        try x.relu().runBackward(Tensor([1, 1, 1, 1], shape: [1, 4]).type(.bool))
        XCTAssertEqual(x.grad!.dtype, .float32)
        XCTAssertEqual(x.grad!.toArray(), [0, 1, 1, 0])
    }
}

final class IgnoreIndexTests: XCTestCase {
    let logits: [Float] = [1, 2, 3, 1, 0, -1, 0.5, -0.5, 2]
    let target = Tensor([2, -100, 0])
    let weight = Tensor([0.5, 2.0, 1.0])

    /// Loss values and the gradient of their sum, as PyTorch's F.cross_entropy gives them.
    func check(_ loss: (Tensor) -> Tensor, _ values: [Float], _ grad: [Float], file: StaticString = #filePath, line: UInt = #line) {
        let x = Tensor(logits, shape: [3, 3]).requiringGrad()
        let l = loss(x)
        for (a, b) in zip(l.toArray(), values) { XCTAssertEqual(a, b, accuracy: 1e-6, file: file, line: line) }
        l.sum().backward()
        for (a, b) in zip(x.grad!.toArray(), grad) { XCTAssertEqual(a, b, accuracy: 1e-6, file: file, line: line) }
    }

    func testCrossEntropyLeavesOutPaddingLabels() {
        let rowsZero: [Float] = [0, 0, 0]
        check({ crossEntropy($0, self.target) }, [1.0869869],
              [0.0450153, 0.1223642, -0.1673795] + rowsZero + [-0.4145236, 0.031445, 0.3830786])
        check({ CrossEntropyLoss(labelSmoothing: 0.1)($0, self.target) }, [1.1286535],
              [0.0283486, 0.1056976, -0.1340462] + rowsZero + [-0.3811903, 0.0147783, 0.3664119])
        check({ crossEntropy($0, self.target, weight: self.weight) }, [0.8605266],
              [0.0600204, 0.1631523, -0.2231727] + rowsZero + [-0.2763491, 0.0209633, 0.2553858])
        check({ crossEntropy($0, self.target, weight: self.weight, labelSmoothing: 0.2) }, [1.1821506],
              [0.0397988, 0.0797018, -0.1195007] + rowsZero + [-0.2167088, -0.0623353, 0.2790442])
        check({ crossEntropy($0, self.target, reduction: .none) }, [0.4076059, 0, 1.7663679],
              [0.0900306, 0.2447285, -0.334759] + rowsZero + [-0.8290472, 0.06289, 0.7661572])
        check({ CrossEntropyLoss(ignoreIndex: 0, reduction: .sum)($0, Tensor([2, 1, 0])) }, [1.8152118],
              [0.0900306, 0.2447285, -0.334759, 0.665241, -0.7552715, 0.0900306, 0, 0, 0])
        check({ NLLLoss(weight: self.weight)($0.logSoftmax(dim: 1), self.target) }, [0.8605266],
              [0.0600204, 0.1631523, -0.2231727] + rowsZero + [-0.2763491, 0.0209633, 0.2553858])
        // Every row left out (a batch of padding): PyTorch's mean is NaN, its gradient zeros
        // (it was NaN here, which spread to every parameter).
        for loss in [{ crossEntropy($0, Tensor([-100, -100, -100])) },
                     { crossEntropy($0, Tensor([-100, -100, -100]), weight: self.weight, labelSmoothing: 0.1) },
                     { nllLoss($0.logSoftmax(dim: 1), Tensor([-100, -100, -100])) }] as [(Tensor) -> Tensor] {
            let x = Tensor(logits, shape: [3, 3]).requiringGrad()
            let l = loss(x)
            XCTAssertTrue(l.item().isNaN)
            l.backward()
            XCTAssertEqual(x.grad!.toArray(), [Float](repeating: 0, count: 9))
        }
    }

    func testOtherOutOfRangeTargetsStillThrow() {
        XCTAssertThrowsError(try checkClassTargets(Tensor(logits, shape: [3, 3]), Tensor([2, -1, 0]), weight: nil,
                                                   ignoreIndex: -100, op: "cross_entropy")) {
            XCTAssertEqual("\($0)", "cross_entropy: target -1 is out of bounds for 3 classes")
        }
    }
}

final class ModuleStateEdgeCaseTests: XCTestCase {
    final class Tied: Module {
        let emb = Embedding(5, 3)
        let head = Linear(3, 5, bias: false)
        override init() {
            super.init()
            head.weight = emb.weight
        }
    }

    func testTiedTensorLoadsUnderAnyOfItsNames() throws {
        let m = Tied()
        XCTAssertEqual(m.stateDictKeys(), ["emb.weight"])
        XCTAssertEqual(m.parameters().count, 1)
        let w = Tensor.ones([5, 3])
        // PyTorch's state_dict of this model holds both names.
        try m.loadStateDict(["emb.weight": w, "head.weight": w])
        XCTAssertTrue(m.head.weight.equal(w))
        // The other name alone loads the tensor.
        let m2 = Tied()
        try m2.loadStateDict(["head.weight": w * 2])
        XCTAssertTrue(m2.emb.weight.equal(w * 2))
        // A wrong shape under the other name is reported under that name.
        XCTAssertThrowsError(try Tied().loadStateDict(["emb.weight": w, "head.weight": Tensor.ones([5, 4])])) {
            XCTAssertTrue("\($0)".contains("size mismatch for head.weight"), "\($0)")
        }
    }

    func testBatchNormStateDictWithoutNumBatchesTrackedLoads() throws {
        let model = Sequential(Conv2d(1, 2, kernelSize: 3), BatchNorm2d(2))
        var sd = model.stateDict().mapValues { $0.clone() }
        sd["1.running_mean"] = Tensor([0.5, -0.5])
        sd["1.num_batches_tracked"] = nil
        let (missing, _) = try model.loadStateDict(sd)
        XCTAssertEqual(missing, [])
        XCTAssertEqual(model.stateDict()["1.running_mean"]!.toArray(), [0.5, -0.5])
        // Other keys are still required.
        sd["1.running_var"] = nil
        XCTAssertThrowsError(try model.loadStateDict(sd)) { XCTAssertTrue("\($0)".contains("\"1.running_var\""), "\($0)") }
    }

    func testOptimizerStateTakesPyTorchsFloatStep() throws {
        let p = Tensor([1.0, 2.0]).requiringGrad()
        let opt = Adam([p], lr: 0.1)
        // PyTorch keeps Adam's step as a float32 scalar.
        try opt.loadStateDict(tensors: ["state.0.step": Tensor(scalar: 1),
                                        "state.0.exp_avg": Tensor([0.0, 0.0]),
                                        "state.0.exp_avg_sq": Tensor([0.0, 0.0])], hyperparameters: [:])
        XCTAssertEqual(opt.state[0]!["step"]!.dtype, .int64)
        p.grad = Tensor([1.0, 1.0])
        opt.step()
        XCTAssertEqual(opt.state[0]!["step"]!.item(), 2)
        XCTAssertThrowsError(try opt.loadStateDict(tensors: ["state.0.step": Tensor(scalar: 1.5)], hyperparameters: [:])) {
            XCTAssertTrue("\($0)".contains("expected a whole number of steps"), "\($0)")
        }
    }
}

final class DataEdgeCaseTests: XCTestCase {
    var dir: String!
    override func setUp() { dir = DataFixtures.tempDir() }
    override func tearDown() { try? FileManager.default.removeItem(atPath: dir) }

    func testSafeTensorsWhoseHeaderLengthStartsWith0x80Reload() throws {
        let a = Linear(784, 10), b = Linear(784, 10)
        let path = dir + "/logreg.safetensors"
        try a.save(to: path)
        let head = [UInt8](FileManager.default.contents(atPath: path)!.prefix(2))
        XCTAssertEqual(head, [0x80, 0x00], "the case under test: a 128-byte header")
        try b.load(from: path)
        for (p, q) in zip(a.parameters(), b.parameters()) { XCTAssertTrue(p.equal(q)) }
    }

    func testUInt8RoundTripsAsUInt8() throws {
        let img = Tensor([0, 128, 255], shape: [1, 1, 3]).type(.uint8)
        let path = dir + "/u8.safetensors"
        try SafeTensors.write(["img": img], to: path)
        let back = try XCTUnwrap(try SafeTensors.read(from: path).tensors["img"])
        XCTAssertEqual(back.dtype, .uint8)
        XCTAssertEqual(back.toIntArray(), [0, 128, 255])
    }

    func testSamplesOfDifferentSizesThrowFromCollate() {
        struct Ragged: Dataset {
            var count: Int { 2 }
            subscript(i: Int) -> (Tensor, Int) { (Tensor.zeros([3, 4 + i, 4]), i) }
        }
        for workers in [0, 2] {
            let loader = DataLoader(Ragged(), batchSize: 2, numWorkers: workers) { try Collate.stack($0) }
            var it = loader.batches()
            XCTAssertThrowsError(try it.next()) {
                XCTAssertEqual("\($0)", "collate: stack expects each tensor to be equal size, but got [3, 4, 4] at entry 0 and [3, 5, 4] at entry 1")
            }
        }
    }

    func testNonstandardScanParametersDecodeAsPIL() throws {
        // Some phone cameras write Se = 62 in a baseline JPEG's SOS; libjpeg warns, PIL and
        // torchvision decode the same pixels.
        var jpg = VisionFixtures.bytes("rgb.jpg")
        let sos = try XCTUnwrap((0..<(jpg.count - 1)).first { jpg[$0] == 0xFF && jpg[$0 + 1] == 0xDA })
        let se = sos + 5 + 2 * Int(jpg[sos + 4]) + 1
        XCTAssertEqual(jpg[se], 63)
        jpg[se] = 62
        let want = try decodeImage(VisionFixtures.bytes("rgb.jpg"), mode: .rgb)
        XCTAssertTrue(try decodeImage(jpg, mode: .rgb, name: "sos.jpg").equal(want))
        // A truncated file is still an error.
        XCTAssertThrowsError(try decodeImage(Array(jpg.prefix(jpg.count / 2)), mode: .rgb, name: "half.jpg"))
    }

    func testIDXInflatesNoFurtherThanItsHeaderDeclares() throws {
        try DataFixtures.writeRoot(dir, trainCount: 5, testCount: 5)
        let raw = dir + "/FashionMNIST/raw/"
        // 5 images declared, 8 MB of zeros behind them: a small gzip bomb.
        let bomb = try DataFixtures.gzip(DataFixtures.images(count: 5) + [UInt8](repeating: 0, count: 8 << 20))
        try FileManager.default.removeItem(atPath: raw + "t10k-images-idx3-ubyte")
        try Data(bomb).write(to: URL(fileURLWithPath: raw + "t10k-images-idx3-ubyte.gz"))
        XCTAssertThrowsError(try FashionMNIST(root: dir, train: false)) { error in
            guard case DatasetError.corrupt(let e) = error, case .unreadable(let msg) = e.problem else { return XCTFail("\(error)") }
            XCTAssertEqual(msg, "inflates to more than the \(16 + 5 * 784) bytes its IDX header declares")
        }
        // The exact file still reads.
        try Data(try DataFixtures.gzip(DataFixtures.images(count: 5))).write(to: URL(fileURLWithPath: raw + "t10k-images-idx3-ubyte.gz"))
        XCTAssertEqual(try FashionMNIST(root: dir, train: false).count, 5)
    }
}

final class LayerEdgeCaseTests: XCTestCase {
    func testMaxPoolPointsAtTheLastNaNOfAWindow() {
        let nan = Float.nan
        let row = Tensor([nan, 1, nan, 2, 0, nan, 3, 4], shape: [1, 1, 2, 4])
        XCTAssertEqual(row.maxPool2dWithIndices(kernelSize: [1, 4]).indices.toIntArray(), [2, 5])   // was [0, 5]
        XCTAssertEqual(Tensor([nan, 1, nan, 2], shape: [1, 1, 1, 4]).adaptiveMaxPool2dWithIndices([1, 1]).indices.toIntArray(), [2])
        // 2×2 windows eight abreast take the vector path.
        let top: [Float] = [nan, 1, 5, 6], bottom: [Float] = [nan, 2, 7, 8]
        let wide = Tensor(Array([[Float]](repeating: top, count: 4).joined()) + Array([[Float]](repeating: bottom, count: 4).joined()),
                          shape: [1, 1, 2, 16])
        XCTAssertEqual(wide.maxPool2dWithIndices(kernelSize: 2).indices.toIntArray(), [16, 19, 20, 23, 24, 27, 28, 31])
    }

    func testNearestUpsamplingByAScaleFactorPicksPyTorchsPixels() {
        let r = Tensor([0, 1, 2] as [Float], shape: [1, 1, 1, 3])
        XCTAssertEqual(r.interpolate(scaleFactor: 1.2).toArray(), [0, 1, 2])             // was [0, 0, 1]
        XCTAssertEqual(r.interpolate(scaleFactor: 2.2).toArray(), [0, 0, 1, 1, 2, 2, 0, 0, 1, 1, 2, 2])
        XCTAssertEqual(r.interpolate(scaleFactor: 1.7).toArray(), [0, 0, 1, 1, 2])
    }

    func testLayerArgumentsPyTorchAccepts() {
        // A negative divisor, an empty batch, a zero-element weight, 3-D dropout2d input.
        let x = Tensor.arange(0.0, 16.0).reshaped([1, 1, 4, 4])
        XCTAssertEqual(x.avgPool2d(kernelSize: 2, divisorOverride: -2).toArray(), [-5, -9, -21, -25])
        let bn = BatchNorm1d(2)
        let empty = bn(Tensor.zeros([0, 2]))
        XCTAssertEqual(empty.shape, [0, 2])
        XCTAssertEqual(bn.runningMean!.toArray(), [0, 0])
        XCTAssertEqual(bn.runningVar!.toArray(), [1, 1])
        XCTAssertEqual(Init.kaimingUniform_(Tensor.zeros([0, 3]), mode: .fanOut).shape, [0, 3])
        // (N, C, L): each (n, c) row kept or dropped whole, as PyTorch 2 reads 3-D input.
        let dropped = Tensor.ones([8, 6, 5]).dropout2d(p: 0.5, generator: Generator(seed: 1))
        let rows = dropped.reshaped([48, 5]).toArray()
        var kinds = Set<Float>()
        for r in 0..<48 {
            let row = Array(rows[(r * 5)..<(r * 5 + 5)])
            XCTAssertEqual(Set(row).count, 1, "row \(r) mixes kept and dropped")
            kinds.insert(row[0])
        }
        XCTAssertEqual(kinds, [0, 2])
        // Across a first-dim slice rows differ (the old (C, H, W) reading dropped slices whole).
        let firstSlice = Set((0..<6).map { rows[$0 * 5] })
        XCTAssertEqual(firstSlice.count, 2)
    }
}

final class VisionEdgeCaseTests: XCTestCase {
    func testGreyIsTorchvisionsFusedSum() throws {
        // 20·0.2989 + 152·0.587 + 7·0.114 is 95.99999 rounded at each step, 96 fused.
        let pixel = Tensor([20, 152, 7], shape: [3, 1, 1]).type(.uint8)
        XCTAssertEqual(try Grayscale()(pixel).toIntArray(), [96])
    }

    func testNormalizeBroadcastsOneStdAndRefusesAZeroWhenItRuns() throws {
        let x = Tensor.full([3, 1, 2], 0.5)
        let y = try Normalize(mean: [0.5, 0.4, 0.3], std: [0.25])(x).toArray()
        for (got, want) in zip(y, [0, 0, 0.4, 0.4, 0.8, 0.8] as [Float]) { XCTAssertEqual(got, want, accuracy: 1e-6) }
        assertThrowsMessage("Normalize: std evaluated to zero after conversion to float32, leading to division by zero") {
            _ = try Normalize(mean: [0.5], std: [0])(x)
        }
    }

    func testRandomCropPadsOnceWithPaddingAndWhatTheWindowLacks() throws {
        // torchvision v2: RandomCrop(8, padding=1, pad_if_needed=True, padding_mode="reflect")
        // on a 4×4 image reflects it by 3 once; the window is one of that image's.
        let padded: [Float] = [15, 14, 13, 12, 13, 14, 15, 14, 13, 12, 11, 10, 9, 8, 9, 10, 11, 10, 9, 8, 7, 6, 5, 4, 5, 6, 7, 6, 5, 4,
                               3, 2, 1, 0, 1, 2, 3, 2, 1, 0, 7, 6, 5, 4, 5, 6, 7, 6, 5, 4, 11, 10, 9, 8, 9, 10, 11, 10, 9, 8,
                               15, 14, 13, 12, 13, 14, 15, 14, 13, 12, 11, 10, 9, 8, 9, 10, 11, 10, 9, 8, 7, 6, 5, 4, 5, 6, 7, 6, 5, 4,
                               3, 2, 1, 0, 1, 2, 3, 2, 1, 0]
        let image = Tensor.arange(0.0, 16.0).reshaped([1, 4, 4])
        for seed in 0..<4 {
            let crop = RandomCrop(size: (8, 8), padding: 1, padIfNeeded: true, paddingMode: .reflect, generator: Generator(seed: UInt64(seed)))
            let out = try crop(image).toArray()
            var windows: [[Float]] = []
            for top in 0..<3 {
                for left in 0..<3 {
                    var window: [Float] = []
                    for r in 0..<8 {
                        let start = (top + r) * 10 + left
                        window += padded[start..<(start + 8)]
                    }
                    windows.append(window)
                }
            }
            XCTAssertTrue(windows.contains(out), "seed \(seed): \(out.prefix(8)) is no window of the single pad")
        }
    }
}

final class CrossEntropyShapeTests: XCTestCase {
    private func close(_ got: [Float], _ want: [Float], _ what: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, what, file: file, line: line)
        for (g, w) in zip(got, want) { XCTAssertEqual(g, w, accuracy: 2e-6, what, file: file, line: line) }
    }

    func testPerPixelTargetsAsPyTorch() {
        // F.cross_entropy(x, t, weight=[1, 2, 0.5], label_smoothing=0.1) on (2, 3, 2, 2) logits
        // sin(0.37·k) and (2, 2, 2) targets with one −100.
        let x = (Tensor.arange(0.0, 24.0) * 0.37).sin().reshaped([2, 3, 2, 2]).detach().requiringGrad()
        let t = Tensor([0, 2, 1, -100, 2, 2, 0, 1], shape: [2, 2, 2])
        let loss = crossEntropy(x, t, weight: Tensor([1, 2, 0.5] as [Float]), labelSmoothing: 0.1)
        close([Float(loss.item())], [1.1581992], "loss")
        loss.backward()
        close(x.grad!.toArray(), [-0.0968085, 0.0177838, 0.1007215, 0, 0.0659247, 0.0315998, -0.1300443, 0, 0.0308838,
                                  -0.0493836, 0.0293228, 0, 0.0037043, 0.0023919, -0.1120084, 0.0234395, 0.0060764,
                                  0.0097326, 0.0349799, -0.1414849, -0.0097807, -0.0121245, 0.0770286, 0.1180454], "gradient")
        let perPixel = crossEntropy(x.detach(), t, reduction: .none)
        XCTAssertEqual(perPixel.shape, [2, 2, 2])
        close(perPixel.toArray(), [1.5902631, 1.7724142, 0.7656229, 0, 0.3651698, 0.4108929, 2.3887866, 0.8668427], "none")
        close([Float(nllLoss(x.detach().logSoftmax(dim: 1), t).item())], [1.1657132], "nll")
    }

    func testUnbatchedAndSoftTargets() {
        let u = Tensor([1, 2, 3] as [Float]).requiringGrad()
        let lu = crossEntropy(u, Tensor(2))
        close([Float(lu.item())], [0.4076059], "unbatched")
        lu.backward()
        close(u.grad!.toArray(), [0.0900306, 0.2447285, -0.334759], "unbatched gradient")
        XCTAssertEqual(crossEntropy(u.detach(), Tensor(2), reduction: .none).shape, [])

        // Class probabilities, weighted and smoothed; the target gets a gradient too.
        let s = Tensor([1, 2, 3, 0.5, -1, 2] as [Float], shape: [2, 3]).requiringGrad()
        let p = Tensor([0.2, 0.3, 0.5, 1, 0, 0] as [Float], shape: [2, 3]).requiringGrad()
        let ls = crossEntropy(s, p, weight: Tensor([1, 2, 3] as [Float]), labelSmoothing: 0.2)
        close([Float(ls.item())], [1.9846388], "soft")
        ls.backward()
        close(s.grad!.toArray(), [-0.0124991, -0.0325708, 0.0450699, -0.3281591, -0.0431991, 0.3713582], "soft input gradient")
        close(p.grad!.toArray(), [0.9630424, 1.1260847, 0.4891272, 0.6965246, 2.593049, 0.2895736], "soft target gradient")
    }
}

final class ModuleAPIEdgeCaseTests: XCTestCase {
    func testAnUnreadLazyLayerIsDetected() {
        // reflection sees nil in an unread `lazy var`: parameters() would leave the layer out.
        XCTAssertTrue(isUncreatedLayerOrTensor(Optional<Linear>.none as Any))
        XCTAssertTrue(isUncreatedLayerOrTensor(Optional<Tensor>.none as Any))
        XCTAssertFalse(isUncreatedLayerOrTensor(Optional<Int>.none as Any))
        XCTAssertFalse(isUncreatedLayerOrTensor(Optional(Linear(2, 2)) as Any))
        XCTAssertFalse(isUncreatedLayerOrTensor(Linear(2, 2)))
    }

    func testTrainGoesThroughEachChildsOverride() {
        // PyTorch's frozen-BatchNorm pattern: net.train() leaves it in evaluation mode.
        final class FrozenBatchNorm: BatchNorm1d {
            override func train(_ mode: Bool = true) -> Self { super.train(false) }
        }
        let net = Sequential(Linear(2, 2), FrozenBatchNorm(2))
        net.eval()
        net.train()
        XCTAssertTrue(net.isTraining)
        XCTAssertTrue(net[0].isTraining)
        XCTAssertFalse(net[1].isTraining)
    }

    func testAModuleOrBufferHeldTwiceIsListedOnce() {
        let shared = Linear(2, 2)
        let seq = Sequential(shared, shared)
        XCTAssertEqual(seq.children().count, 1)
        var visits = 0
        seq.apply { _ in visits += 1 }
        XCTAssertEqual(visits, 2)   // shared, then seq (PyTorch: [Linear, Sequential])
        final class Masked: Module {
            @Buffer(persistent: false) var mask: Tensor? = nil
            init(_ mask: Tensor) {
                super.init()
                self.mask = mask
            }
            override func forward(_ x: Tensor) -> Tensor { x }
        }
        let mask = Tensor.ones([3])
        XCTAssertEqual(Sequential(Masked(mask), Masked(mask)).namedBuffers().map(\.name), ["0.mask"])
    }
}

final class LossTargetGradientTests: XCTestCase {
    func testBCEWithLogitsGivesTheTargetPyTorchsGradient() {
        // F.binary_cross_entropy_with_logits(x, t, pos_weight=[2, 3]) with t requiring grad.
        let x = Tensor([0.3, -1.2] as [Float]).requiringGrad(), t = Tensor([0.2, 0.9] as [Float]).requiringGrad()
        binaryCrossEntropyWithLogits(x, t, posWeight: Tensor([2, 3] as [Float])).backward()
        let got = t.grad!.toArray()
        for (g, want) in zip(got, [0.127178, 2.063282] as [Float]) { XCTAssertEqual(g, want, accuracy: 2e-6) }
        XCTAssertNotNil(x.grad)
        let t2 = Tensor([0.2, 0.9] as [Float]).requiringGrad()
        binaryCrossEntropyWithLogits(x.detach(), t2, weight: Tensor([0.5, 2] as [Float]), reduction: .sum).backward()
        XCTAssertEqual(t2.grad!.toArray(), [-0.15, 2.4])
        // A target that needs none is not an input of the node (as before).
        let plain = binaryCrossEntropyWithLogits(x.detach().requiringGrad(), Tensor([0.2, 0.9] as [Float]))
        XCTAssertEqual(plain.gradFn!.inputs.count, 1)
    }
}
