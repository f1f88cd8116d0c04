import XCTest
@testable import Ember
import EmberModels

/// Deep autograd graphs: backward and release without recursion (GraphRelease).
final class GraphReleaseTests: XCTestCase {
    /// 10^6 recorded ops: seven adds of 1, then a multiply by m, over and over. backward
    /// must run every node once: dy/dx = m^(n/8), which backward computes as the same chain
    /// of float products as the loop below (and the value is the same float chain as the
    /// forward). Released recursively, such a graph overflowed the stack at ~10^5 ops.
    func testMillionOpChainRunsBackwardAndIsFreed() {
        let n = 1_000_000
        let one = Tensor([Float(1)], shape: []), m = Tensor([Float(1.000001)], shape: [])
        let x = Tensor([Float(1)], shape: [])
        x.requiresGrad = true
        weak var first: Tensor?
        do {
            var y = x + one
            first = y
            var value: Float = 2, grad: Float = 1
            for i in 1..<n {
                if i % 8 == 7 {
                    y = y * m
                    value *= m.f32[0]
                    grad *= m.f32[0]
                } else {
                    y = y + one
                    value += 1
                }
            }
            y.backward()
            XCTAssertEqual(y.item(), Double(value))
            XCTAssertEqual(x.grad?.item(), Double(grad))
            XCTAssertNotEqual(grad, 1, "the check can fail")
            XCTAssertNotNil(first, "the chain holds its first op")
        }
        XCTAssertNil(first, "dropping the last tensor frees the whole chain")
    }

    /// The release list is per thread: a deep graph dropped on a thread with a small stack
    /// (as DataLoader workers may have) is freed there without overflowing it.
    func testDeepGraphFreedOnAnotherThreadWithASmallStack() {
        let done = expectation(description: "released")
        let thread = Thread {
            let x = Tensor([Float(2)], shape: [])
            x.requiresGrad = true
            var y = x
            for _ in 0..<100_000 { y = y + 1 }
            XCTAssertEqual(y.item(), 100_002)
            y = x   // drops the chain
            done.fulfill()
        }
        thread.stackSize = 256 << 10
        thread.start()
        wait(for: [done], timeout: 60)
    }

    /// A branching graph (shared subexpressions, closures that saved tensors) frees every
    /// node exactly once and still gives the right gradient.
    func testSharedSubgraphsAreFreedOnce() {
        let x = Tensor([Float(3)], shape: [])
        x.requiresGrad = true
        weak var probe: Tensor?
        do {
            var y = x
            for i in 0..<1000 {
                let z = y * y   // mul saves both inputs in its closure
                if i == 0 { probe = z }
                y = z * 0.5 + y - z * 0.5   // y again, through three branches
            }
            y.backward()
            XCTAssertEqual(y.item(), 3)
            XCTAssertEqual(x.grad?.item(), 1)
        }
        XCTAssertNil(probe)
    }

    /// Attention's backward closure keeps what it needs to rerun the kernel, never the output
    /// itself: the graph, and the memory of every saved tensor, go with the last reference,
    /// for contiguous inputs and for heads read in place from a projection.
    func testAttentionGraphIsFreed() {
        for inPlace in [false, true] {
            weak var probe: Tensor?
            do {
                let x = Tensor.randn([2, 10, 24]).requiringGrad()
                let heads = x.split(8, dim: 2).map { p -> Tensor in
                    let h = p.reshaped([2, 10, 2, 4]).transposed(1, 2)
                    return inPlace ? h : h.contiguous()
                }
                let y = scaledDotProductAttention(query: heads[0], key: heads[1], value: heads[2], isCausal: true)
                probe = y
                y.sum().backward()
                XCTAssertNotNil(x.grad)
            }
            XCTAssertNil(probe, "the attention output outlived its graph (in place: \(inPlace))")
        }
    }

    /// Ops whose backward reads their own output keep a detached alias of it, never the output:
    /// each output here is freed with its last reference (the fixture sweeps in
    /// TensorOpsFixtureTests.checkAgainstPyTorch check the ops they cover the same way).
    func testOpsThatReadTheirOutputInBackwardAreFreed() {
        let ops: [(String, (Tensor) -> Tensor)] = [
            ("exp", { $0.exp() }), ("sqrt", { $0.abs().sqrt() }), ("tanh", { $0.tanh() }),
            ("sigmoid", { $0.sigmoid() }), ("rsqrt", { ($0.abs() + 1).rsqrt() }),
            ("reciprocal", { ($0.abs() + 1).reciprocal() }), ("expm1", { $0.expm1() }), ("elu", { $0.elu() }),
            ("pow", { ($0.abs() + 1).pow($0) }), ("amax", { $0.amax(dims: [1]) }),
            ("logsumexp", { $0.logsumexp(dims: [1]) }), ("norm", { $0.norm(dims: [1]) }),
        ]
        for (name, op) in ops {
            weak var probe: Tensor?
            do {
                let x = Tensor.randn([3, 4]).requiringGrad()
                let y = op(x)
                probe = y
                y.sum().backward()
                XCTAssertNotNil(x.grad, name)
            }
            XCTAssertNil(probe, "\(name): the output outlived its graph")
        }
    }

    /// Every module, the losses and the example models run forward and backward (in training
    /// mode, dropout on) and are dropped: no node of their graphs outlives the step. A cycle
    /// anywhere in a graph would keep its nodes even where the output itself is freed, so this
    /// counts nodes (debug builds keep `liveNodeCount`) rather than probing the output.
    func testEveryModuleFreesItsGraph() {
        func x(_ shape: [Int]) -> Tensor { Tensor.randn(shape).requiringGrad() }
        let encoder = { (normFirst: Bool) in
            TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0.1, normFirst: normFirst)
        }
        let decoder = { TransformerDecoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0.1) }
        let activations: [Module] = [ReLU(), Softmax(dim: 1), LogSoftmax(dim: 1), GELU(), GELU(approximate: .tanh),
                                     SiLU(), Mish(), Tanh(), Sigmoid(), LeakyReLU(), ELU(), Softplus(), Hardtanh(),
                                     ReLU6(), Hardsigmoid(), Hardswish(), LogSigmoid(), SELU(), CELU(alpha: 0.5),
                                     Softsign(), GLU(dim: 2), PReLU(numParameters: 3), Flatten(), Identity()]
        var cases: [(String, () -> Tensor)] = activations.map { m in (m.typeName, { m(x([2, 3, 4])).sum() }) }
        cases += [
            ("Linear", { Linear(5, 4)(x([3, 5])).sum() }),
            ("Conv2d", { Conv2d(3, 4, kernelSize: 3, stride: 2, padding: 1)(x([2, 3, 7, 7])).sum() }),
            ("Conv2d thin input", { Conv2d(1, 4, kernelSize: 3, padding: 1)(x([2, 1, 10, 10])).sum() }),
            ("Conv2d groups", { Conv2d(4, 4, kernelSize: 3, groups: 2)(x([2, 4, 6, 6])).sum() }),
            ("Conv1d", { Conv1d(3, 4, kernelSize: 3)(x([2, 3, 9])).sum() }),
            ("ConvTranspose2d", { ConvTranspose2d(3, 2, kernelSize: 3, stride: 2)(x([2, 3, 4, 4])).sum() }),
            ("BatchNorm2d", { BatchNorm2d(3)(x([2, 3, 5, 5])).sum() }),
            ("BatchNorm1d", { BatchNorm1d(5)(x([4, 5])).sum() }),
            ("LayerNorm", { LayerNorm([6])(x([2, 3, 6])).sum() }),
            ("GroupNorm", { GroupNorm(numGroups: 3, numChannels: 6)(x([2, 6, 4, 4])).sum() }),
            ("RMSNorm", { RMSNorm([6])(x([2, 3, 6])).sum() }),
            ("Embedding", { Embedding(10, 4, paddingIdx: 0, maxNorm: 1)(Tensor([1, 2, 0, 3, 4, 1], shape: [2, 3])).sum() }),
            ("Dropout", { Dropout(p: 0.5)(x([4, 6])).sum() }),
            ("Dropout2d", { Dropout2d(p: 0.5)(x([2, 3, 4, 4])).sum() }),
            ("MaxPool2d", { MaxPool2d(kernelSize: 2)(x([2, 3, 6, 6])).sum() }),
            ("AvgPool2d", { AvgPool2d(kernelSize: 3, stride: 2, padding: 1)(x([2, 3, 6, 6])).sum() }),
            ("AdaptiveAvgPool2d", { AdaptiveAvgPool2d(outputSize: 2)(x([2, 3, 5, 5])).sum() }),
            ("AdaptiveMaxPool2d", { AdaptiveMaxPool2d(outputSize: 2)(x([2, 3, 5, 5])).sum() }),
            ("MaxPool1d", { MaxPool1d(kernelSize: 2)(x([2, 3, 8])).sum() }),
            ("AvgPool1d", { AvgPool1d(kernelSize: 2)(x([2, 3, 8])).sum() }),
            ("ReflectionPad2d", { ReflectionPad2d(1, 2, 0, 1)(x([1, 2, 4, 4])).sum() }),
            ("PixelShuffle", { PixelUnshuffle(2)(PixelShuffle(2)(x([1, 8, 2, 3]))).sum() }),
            ("Unflatten", { Unflatten(dim: 1, unflattenedSize: [2, -1])(x([2, 6])).sum() }),
            ("CosineSimilarity", { CosineSimilarity()(x([3, 5]), x([3, 5])).sum() }),
            ("PairwiseDistance", { PairwiseDistance()(x([3, 5]), x([3, 5])).sum() }),
            ("Upsample", { Upsample(scaleFactor: 2, mode: .bilinear, alignCorners: false)(x([1, 2, 3, 3])).sum() }),
            ("Sequential", { Sequential(Linear(4, 8), GELU(), Dropout(p: 0.2), Linear(8, 2))(x([3, 4])).sum() }),
            ("MultiheadAttention", {
                let mha = MultiheadAttention(embedDim: 8, numHeads: 2, dropout: 0.1, addBiasKV: true)
                let q = x([5, 2, 8]), kv = x([4, 2, 8])
                let (out, weights) = mha(q, kv, kv, keyPaddingMask: Tensor([false, false, true, false,
                                                                            false, false, false, true], shape: [2, 4]))
                return out.sum() + weights!.sum()
            }),
            ("TransformerEncoderLayer post-norm", { encoder(false)(x([5, 2, 8])).sum() }),
            ("TransformerEncoderLayer pre-norm", { encoder(true)(x([5, 2, 8])).sum() }),
            ("TransformerEncoder", {
                TransformerEncoder(encoder(true), numLayers: 2, norm: LayerNorm([8]))(
                    x([5, 2, 8]), mask: Transformer.generateSquareSubsequentMask(5), isCausal: true).sum()
            }),
            ("TransformerDecoder", {
                TransformerDecoder(decoder(), numLayers: 2)(x([5, 2, 8]), memory: x([4, 2, 8]),
                                                            tgtMask: Transformer.generateSquareSubsequentMask(5)).sum()
            }),
            ("Transformer", {
                Transformer(dModel: 8, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1, dimFeedforward: 16)(
                    x([4, 2, 8]), x([5, 2, 8]), tgtMask: Transformer.generateSquareSubsequentMask(5)).sum()
            }),
            ("CrossEntropyLoss", { CrossEntropyLoss(labelSmoothing: 0.1)(x([4, 5]), Tensor([0, 4, 2, 1])) }),
            ("crossEntropy weighted", {
                crossEntropy(x([4, 5]), Tensor([0, 4, 2, 1]), weight: Tensor([Float](repeating: 0.5, count: 5)))
            }),
            ("NLLLoss", { NLLLoss()(x([4, 5]).logSoftmax(dim: 1), Tensor([0, 4, 2, 1])) }),
            ("MSELoss", { MSELoss()(x([4, 5]), Tensor.randn([4, 5])) }),
            ("L1Loss", { L1Loss()(x([4, 5]), Tensor.randn([4, 5])) }),
            ("KLDivLoss", { KLDivLoss(reduction: .batchMean)(x([4, 5]).logSoftmax(dim: 1), Tensor.rand([4, 5])) }),
            ("SmoothL1Loss", { SmoothL1Loss(beta: 0.5)(x([4, 5]), Tensor.randn([4, 5])) }),
            ("HuberLoss", { HuberLoss(reduction: .sum)(x([4, 5]), Tensor.randn([4, 5])) }),
            ("BCELoss", { BCELoss()(x([4, 5]).sigmoid(), Tensor.rand([4, 5])) }),
            ("BCEWithLogitsLoss", {
                BCEWithLogitsLoss(weight: Tensor.rand([5]), posWeight: Tensor.rand([5]))(x([4, 5]), Tensor.rand([4, 5]))
            }),
            ("GPT", {
                let gpt = GPT(GPT.Config(vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8))
                return gpt(Tensor([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 0, 1], shape: [2, 6])).sum()
            }),
            ("MNISTConvNet", { MNISTConvNet(batchNorm: true)(x([2, 1, 28, 28])).sum() }),
            ("ResNet18", { ResNet18(numClasses: 10, stem: .cifar, width: 4)(x([2, 3, 16, 16])).sum() }),
        ]
        let recurrent: [(String, () -> Tensor)] = [
            ("LSTM", {
                let r = LSTM(3, 4, numLayers: 2, batchFirst: true, dropout: 0.2, bidirectional: true)(x([2, 5, 3]), nil)
                return r.output.sum() + r.state.c.sum()
            }),
            ("GRU", { GRU(3, 4)(x([5, 2, 3]), x([1, 2, 4])).h.sum() }),
            ("RNN", { RNN(3, 4, nonlinearity: .relu)(x([6, 3])).output.sum() }),
            ("LSTMCell", {
                let cell = LSTMCell(3, 4), first = cell(x([2, 3]), nil)
                let second = cell(x([2, 3]), first)
                return second.h.sum() + second.c.sum()
            }),
            ("GRUCell", { GRUCell(3, 4)(x([3]), x([4])).sum() }),
            ("RNNCell", { RNNCell(3, 4)(x([2, 3])).sum() }),
        ]
        cases += recurrent
        for (name, step) in cases {
            let before = liveNodeCount.load(ordering: .relaxed)
            do {
                let loss = step()
                XCTAssertGreaterThan(liveNodeCount.load(ordering: .relaxed), before, "\(name) recorded a graph")
                loss.backward()
            }
            XCTAssertEqual(liveNodeCount.load(ordering: .relaxed), before, "\(name): nodes outlived the step")
        }
    }

    /// The count sees a cycle: a node whose backward holds its own output stays alive until the
    /// cycle is broken.
    func testLiveNodeCountSeesACycle() {
        let before = liveNodeCount.load(ordering: .relaxed)
        weak var probe: Tensor?
        do {
            let x = Tensor.randn([3]).requiringGrad()
            let y = x * 2
            var holder: Tensor? = nil
            let z = y.detach().recorded("cycle", [y]) { g in [g * holder!] }
            holder = z   // z's node now holds z
            probe = z
        }
        XCTAssertNotNil(probe)
        XCTAssertEqual(liveNodeCount.load(ordering: .relaxed), before + 2, "mul and the cycle's node are alive")
        probe?.gradFn = nil   // break the cycle
        XCTAssertNil(probe)
        XCTAssertEqual(liveNodeCount.load(ordering: .relaxed), before)
    }
}
