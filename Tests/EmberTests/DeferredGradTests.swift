import XCTest
@testable import Ember

/// Plain SGD keeps a linear weight's gradient as gᵀ·x and applies it as one GEMM into the
/// weight (DeferredGrad.swift). Every test compares against the same model run with the
/// gradient computed the ordinary way (read before `step()`, or an unmarked weight).
final class DeferredGradTests: XCTestCase {
    /// A two-layer MLP with a fixed initialisation, its input and its labels.
    struct Setup {
        let model: Sequential
        let x: Tensor
        let y: Tensor
        init(seed: UInt64 = 7) {
            let g = Generator(seed: seed)
            model = Sequential([Linear(37, 41, generator: g), ReLU(), Linear(41, 5, generator: g)])
            x = Tensor.randn([33, 37], generator: g)
            y = Tensor.randint(0, 5, [33], generator: g)
        }
        var weights: [Tensor] { [(model[0] as! Linear).weight, (model[2] as! Linear).weight] }
        func loss() -> Tensor { crossEntropy(model(x), y) }
    }

    /// Same shape, and every element within `tol` of the expected one (absolute).
    func assertClose(_ a: Tensor, _ b: Tensor, _ tol: Double = 1e-6, _ message: String = "",
                     file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.shape, b.shape, file: file, line: line)
        EmberTests.assertClose(doubles(a), doubles(b), atol: tol, rtol: 0, message, file: file, line: line)
    }

    func testPlainSGDAppliesTheDeferredGradient() {
        let fused = Setup(), eager = Setup()
        let lr = 0.05
        let fusedOpt = SGD(fused.model.parameters(), lr: lr)
        let eagerOpt = SGD(eager.model.parameters(), lr: lr)
        for step in 0..<3 {
            fused.loss().backward()
            XCTAssertTrue(fused.weights.allSatisfy { $0.deferredGrad != nil }, "step \(step): weight gradients deferred")
            XCTAssertNil((fused.model[0] as! Linear).bias!.deferredGrad)
            fusedOpt.step()
            fusedOpt.zeroGrad()

            eager.loss().backward()
            let before = eager.model.parameters().map { $0.clone() }
            let grads = eager.model.parameters().map { $0.grad! }   // computed here: the ordinary path
            XCTAssertTrue(eager.weights.allSatisfy { $0.deferredGrad == nil })
            eagerOpt.step()
            // The ordinary update, by hand: p − lr·grad.
            for (p, (p0, g)) in zip(eager.model.parameters(), zip(before, grads)) {
                assertClose(p, p0 - lr * g, 1e-7)
            }
            eagerOpt.zeroGrad()
        }
        for (a, (b, initial)) in zip(fused.model.parameters(), zip(eager.model.parameters(), Setup().model.parameters())) {
            assertClose(a, b, 1e-6, "fused and ordinary SGD agree after 3 steps")
            XCTAssertFalse(a.equal(initial), "trained")
        }
        XCTAssertTrue(fused.x.storage.deferredGradReaders.isEmpty, "zeroGrad unregisters the deferred gradient")
    }

    func testReadingADeferredGradientGivesTheOrdinaryGradient() {
        let a = Setup(), b = Setup()
        _ = SGD(a.model.parameters(), lr: 0.1)   // marks a's parameters
        a.loss().backward()
        b.loss().backward()
        XCTAssertNotNil(a.weights[0].deferredGrad)
        XCTAssertNil(b.weights[0].deferredGrad)
        for (wa, wb) in zip(a.weights, b.weights) {
            XCTAssertTrue(wa.grad!.equal(wb.grad!), "the same GEMM call, the same bits")
            XCTAssertNil(wa.deferredGrad, "reading grad computes it once")
        }
        // The first layer's weight gradient by hand: dW = gᵀ·x, with g from the layer's output.
        let h = linear(b.x, b.weights[0], (b.model[0] as! Linear).bias!).detach().requiringGrad()
        crossEntropy((b.model[2] as! Linear)(h.relu()), b.y).backward()
        let dW = h.grad!.transposed().matmul(b.x)
        assertClose(a.weights[0].grad!, dW, 1e-5)
    }

    func testSecondBackwardAddsToADeferredGradient() {
        let a = Setup(), b = Setup()
        let opt = SGD(a.model.parameters(), lr: 0.1)
        a.loss().backward()
        a.loss().backward()   // no zeroGrad: gradients add up
        b.loss().backward()
        let w0 = a.weights[0].clone()
        for (wa, wb) in zip(a.weights, b.weights) { XCTAssertTrue(wa.grad!.equal(wb.grad! * 2)) }
        opt.step()
        assertClose(a.weights[0], w0 - 0.1 * (b.weights[0].grad! * 2), 1e-7)
    }

    func testZeroGradDropsADeferredGradient() {
        let s = Setup()
        let opt = SGD(s.model.parameters(), lr: 0.1)
        s.loss().backward()
        XCTAssertFalse(s.x.storage.deferredGradReaders.isEmpty)
        let before = s.weights.map { $0.clone() }
        opt.zeroGrad()
        opt.step()
        XCTAssertTrue(zip(s.weights, before).allSatisfy { $0.equal($1) }, "no gradient, no update")
        XCTAssertNil(s.weights[0].grad)
        XCTAssertTrue(s.x.storage.deferredGradReaders.isEmpty)
    }

    func testWritingTheInputInPlaceFirstComputesTheGradient() {
        for write in ["copy_", "withUnsafeMutableFloats"] {
            let a = Setup(), b = Setup()
            let opt = SGD(a.model.parameters(), lr: 0.1)
            a.loss().backward()
            b.loss().backward()
            XCTAssertNotNil(a.weights[0].deferredGrad)
            if write == "copy_" {
                a.x.copy_(Tensor.zeros(a.x.shape))
            } else {
                a.x.withUnsafeMutableFloats { $0.update(repeating: 3) }
            }
            XCTAssertNil(a.weights[0].deferredGrad, "\(write): computed before the write")
            XCTAssertNotNil(a.weights[1].deferredGrad, "\(write): the other layer does not read x")
            let w0 = a.weights[0].clone()
            opt.step()
            assertClose(a.weights[0], w0 - 0.1 * b.weights[0].grad!, 1e-7, "\(write): the update uses the old x")
        }
    }

    func testAParameterFedToAnotherLayerIsUpdatedAfterItsReadersGradient() {
        // y = sum(P·Wᵀ): dW[o][i] = Σₙ P[n][i], dP[n][i] = Σₒ W[o][i]. The optimizer updates P
        // first, in place; W's deferred gradient must still see the old P.
        let p = Tensor([[1, 2, 3], [4, 5, 6]] as [[Float]]).requiringGrad()
        let w = Tensor([[1, 0, -1], [2, 1, 0]] as [[Float]]).requiringGrad()
        let opt = SGD([p, w], lr: 0.5)
        linear(p, w).sum().backward()
        XCTAssertNotNil(w.deferredGrad)
        opt.step()
        XCTAssertEqual(p.toArray(), [-0.5, 1.5, 3.5, 2.5, 4.5, 6.5] as [Float])   // P − 0.5·[3, 1, −1]
        XCTAssertEqual(w.toArray(), [-1.5, -3.5, -5.5, -0.5, -2.5, -4.5] as [Float])   // W − 0.5·[5, 7, 9]
    }

    func testMaximizeAndMomentum() {
        // maximize: the fused update adds.
        let w = Tensor([[1, 2], [3, 4]] as [[Float]]).requiringGrad()
        let x = Tensor([[1, -1], [2, 0.5]] as [[Float]])
        let up = SGD([w], lr: 0.25, maximize: true)
        linear(x, w).sum().backward()   // dW[o][i] = Σₙ x[n][i] = [3, -0.5] on every row
        XCTAssertNotNil(w.deferredGrad)
        up.step()
        XCTAssertEqual(w.toArray(), [1.75, 1.875, 3.75, 3.875])

        // Momentum and weight decay need the gradient itself: nothing is deferred.
        let v = Tensor([[1, 2], [3, 4]] as [[Float]]).requiringGrad()
        let heavy = SGD([v], lr: 0.25, momentum: 0.9)
        linear(x, v).sum().backward()
        XCTAssertNil(v.deferredGrad)
        heavy.step()
        XCTAssertEqual(v.toArray(), [0.25, 2.125, 2.25, 4.125])
        let adam = Tensor([[1, 2], [3, 4]] as [[Float]]).requiringGrad()
        _ = SGD([adam], lr: 0.1)
        let opt = Adam([adam], lr: 0.1)
        linear(x, adam).sum().backward()
        XCTAssertNotNil(adam.deferredGrad, "still marked by the SGD that saw it first")
        opt.step()   // reads the gradient: computed, then Adam's own update
        XCTAssertNil(adam.deferredGrad)
        assertClose(adam, Tensor([[0.9, 2.1], [2.9, 4.1]] as [[Float]]), 1e-6)
        linear(x, adam).sum().backward()
        XCTAssertNil(adam.deferredGrad, "Adam unmarked it")
    }

    func testSameBitsForOneAndTwoThreads() {
        let saved = numThreads()
        defer { setNumThreads(saved) }
        func run(_ threads: Int) -> [[Float]] {
            setNumThreads(threads)
            let g = Generator(seed: 11)
            let model = Sequential([Linear(300, 512, generator: g), ReLU(), Linear(512, 10, generator: g)])
            let x = Tensor.randn([64, 300], generator: g), y = Tensor.randint(0, 10, [64], generator: g)
            let opt = SGD(model.parameters(), lr: 0.1)
            for _ in 0..<3 {
                crossEntropy(model(x), y).backward()
                opt.step()
                opt.zeroGrad()
            }
            XCTAssertTrue(x.storage.deferredGradReaders.isEmpty)
            return model.parameters().map { $0.toArray() }
        }
        XCTAssertEqual(run(1), run(2))
    }
}
