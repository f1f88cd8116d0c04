import Foundation
import XCTest
@testable import Ember

final class OptimTests: XCTestCase {
    /// Three steps from p0 with fixed gradients; expected values from torch.optim
    /// (scripts/optim_reference.py, `run(...)`: the same p0, grads and hyperparameters,
    /// foreach=False), printed as float32 values.
    let p0: [Float] = [0.5, -1.0, 2.0, 0.25]
    let grads: [[Float]] = [[0.1, -0.2, 0.3, -0.4], [-0.5, 0.25, 0.0, 1.0], [0.3, 0.3, -0.3, 0.05]]

    func run(_ make: ([Tensor]) -> Optimizer) -> [Float] {
        let p = Tensor(p0).requiringGrad()
        let opt = make([p])
        for g in grads {
            p.grad = Tensor(g)
            opt.step()
        }
        return p.toArray()
    }

    func assertClose(_ got: [Float], _ want: [Double], _ tol: Double = 2e-7, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        for (a, b) in zip(got, want) {
            XCTAssertEqual(Double(a), b, accuracy: tol * max(1, abs(b)), file: file, line: line)
        }
    }

    func testSGDMatchesPyTorch() {
        // SGD(lr=0.1)
        assertClose(run { SGD($0, lr: 0.1) }, [0.5099999904632568, -1.034999966621399, 2.0, 0.1850000023841858])
        // SGD(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)
        assertClose(run { SGD($0, lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01) },
                    [0.5287358164787292, -1.0102823972702026, 1.935171127319336, 0.18151530623435974])
        // SGD(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
        assertClose(run { SGD($0, lr: 0.1, momentum: 0.9, weightDecay: 0.01, nesterov: true) },
                    [0.5400148034095764, -1.0480505228042603, 1.9380686283111572, 0.1050005704164505])
        // SGD(lr=0.1, momentum=0.5, maximize=True)
        assertClose(run { SGD($0, lr: 0.1, momentum: 0.5, maximize: true) },
                    [0.4724999964237213, -0.9674999713897705, 2.0225000381469727, 0.33500000834465027])
    }

    func testSGDByHand() {
        // One plain step: p − lr·g = 0.5 − 0.1·0.1 = 0.49.
        let p = Tensor([0.5]).requiringGrad()
        p.grad = Tensor([0.1])
        SGD([p], lr: 0.1).step()
        XCTAssertEqual(p.toArray()[0], 0.49, accuracy: 1e-7)
    }

    func testAdamAndAdamWMatchPyTorch() {
        // Adam(lr=0.01)
        assertClose(run { Adam($0, lr: 0.01) },
                    [0.49672889709472656, -0.9969145655632019, 1.9841580390930176, 0.25186675786972046])
        // Adam(lr=0.01, weight_decay=0.1, amsgrad=True)
        assertClose(run { Adam($0, lr: 0.01, weightDecay: 0.1, amsgrad: true) },
                    [0.4942425787448883, -0.9888997077941895, 1.9753926992416382, 0.2512516975402832])
        // AdamW(lr=0.01, weight_decay=0.1)
        assertClose(run { AdamW($0, lr: 0.01, weightDecay: 0.1) },
                    [0.49524441361427307, -0.9939360022544861, 1.9781908988952637, 0.25110194087028503])
    }

    func testAdamStateNamesAndStepCount() {
        let p = Tensor(p0).requiringGrad()
        let opt = Adam([p], amsgrad: true)
        p.grad = Tensor(grads[0]); opt.step()
        p.grad = Tensor(grads[1]); opt.step()
        XCTAssertEqual(Set(opt.state[0]!.keys), ["step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"])
        XCTAssertEqual(opt.state[0]!["step"]!.item(), 2)
        // exp_avg after two steps: m = 0.1·(0.9·0.1·g1 + … ) = (1−β1)(β1·g1 + g2) = 0.1·(0.09 − 0.5)
        XCTAssertEqual(Double(opt.state[0]!["exp_avg"]!.toArray()[0]), 0.1 * (0.9 * 0.1 - 0.5), accuracy: 1e-7)
    }

    func testZeroGradMakesNextBackwardWrite() {
        let w = Tensor([2.0]).requiringGrad()
        let opt = SGD([w], lr: 0.1)
        (w * 3).sum().backward()
        (w * 3).sum().backward()
        XCTAssertEqual(w.grad!.item(), 6)   // PyTorch accumulates: 3 + 3
        opt.zeroGrad()
        XCTAssertNil(w.grad)
        (w * 5).sum().backward()
        XCTAssertEqual(w.grad!.item(), 5)   // written, not added
        opt.step()
        XCTAssertEqual(w.item(), 1.5, accuracy: 1e-7)   // 2 − 0.1·5
    }

    func testStepSkipsParametersWithoutGradAndUpdatesInPlace() {
        let model = NNModels.TinyNetwork()
        let before = model.parameters().map { $0.clone() }
        let opt = SGD(model.parameters(), lr: 0.1, momentum: 0.9)
        let last = model.linearReluStack[4] as! Linear
        last.bias!.grad = Tensor([1.0, 1.0, 1.0])
        opt.step()
        // Only the bias moved, by 0.1·1, and the model sees it (same storage).
        XCTAssertTrue(last.bias!.allClose(before[5] - 0.1, atol: 1e-7))
        for (p, b) in zip(model.parameters().prefix(5), before) { XCTAssertTrue(p.equal(b)) }
        XCTAssertEqual(opt.state.keys.sorted(), [5])
    }

    func testSchedulersMatchPyTorch() {
        // scripts/optim_reference.py `lrs(...)`: SGD(lr=0.1), then optimizer.step(); scheduler.step().
        func lrs(_ make: (Optimizer) -> LRScheduler, _ steps: Int) -> [Double] {
            let opt = SGD([Tensor([0.0]).requiringGrad()], lr: 0.1)
            let s = make(opt)
            var out = [opt.lr]
            for _ in 0..<steps { s.step(); out.append(s.lastLR) }
            return out
        }
        XCTAssertEqual(lrs({ StepLR($0, stepSize: 3, gamma: 0.5) }, 8),
                       [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025])
        // CosineAnnealingLR(T_max=5, eta_min=0.001), to 1e-12 relative: Ember's cos
        // (csrc/ember_math.c) may differ from PyTorch's libm by an ulp, amplified by the
        // recursive form near the minimum (SchedulerTests.assertSame).
        let cosine = lrs({ CosineAnnealingLR($0, tMax: 5, etaMin: 0.001) }, 12)
        let torchCosine = [0.1, 0.0905463412215599, 0.06579634122155989, 0.035203658778440096, 0.010453658778440105,
                           0.001, 0.010453658778440102, 0.03520365877844012, 0.06579634122155993, 0.09054634122155995,
                           0.10000000000000005, 0.09054634122155998, 0.06579634122155995]
        XCTAssertEqual(cosine.count, torchCosine.count)
        for (a, b) in zip(cosine, torchCosine) { XCTAssertEqual(a, b, accuracy: 1e-12 * b) }
        // LinearLR(start_factor=0.25, total_iters=4): the warm-up.
        XCTAssertEqual(lrs({ LinearLR($0, startFactor: 0.25, totalIters: 4) }, 6),
                       [0.025, 0.043750000000000004, 0.06250000000000001, 0.08125000000000002,
                        0.10000000000000002, 0.10000000000000002, 0.10000000000000002])
    }

    func testOptimizerAndSchedulerStateDicts() throws {
        let p = Tensor(p0).requiringGrad()
        let opt = SGD([p], lr: 0.1, momentum: 0.9)
        p.grad = Tensor(grads[0])
        opt.step()
        let (tensors, hyper) = opt.stateDict()
        XCTAssertEqual(Set(tensors.keys), ["state.0.momentum_buffer"])
        XCTAssertEqual(hyper["param_groups.0.momentum"], 0.9)
        // First step: buffer = g.
        XCTAssertEqual(tensors["state.0.momentum_buffer"]!.toArray(), grads[0])

        let other = SGD([Tensor(p0).requiringGrad()], lr: 0.5)
        try other.loadStateDict(tensors: tensors, hyperparameters: hyper)
        XCTAssertEqual(other.lr, 0.1)
        XCTAssertEqual(other.momentum, 0.9)
        XCTAssertTrue(other.state[0]!["momentum_buffer"]!.equal(opt.state[0]!["momentum_buffer"]!))
        XCTAssertThrowsError(try other.loadStateDict(tensors: ["state.0.momentum_buffer": Tensor([1.0]), "state.3.x": Tensor([1.0])],
                                                     hyperparameters: ["param_groups.0.betas": 1])) { error in
            XCTAssertEqual("\(error)", """
            Error(s) in loading state_dict for SGD:
            \t"state.0.momentum_buffer" has shape [1], expected [4]
            \tunexpected key "state.3.x"
            \tunknown hyperparameter "betas"
            """)
        }

        let s = StepLR(opt, stepSize: 2)
        s.step(); s.step(); s.step()
        let restored = StepLR(SGD([Tensor([0.0]).requiringGrad()], lr: 0.1), stepSize: 2)
        try restored.loadStateDict(s.stateDict())
        XCTAssertEqual(restored.lastEpoch, 3)
        let wrongBase = StepLR(SGD([Tensor([0.0]).requiringGrad()], lr: 0.2), stepSize: 2)
        XCTAssertThrowsError(try wrongBase.loadStateDict(s.stateDict()))
    }

    /// Synthetic 10-class data of the seed's shape: each class is a random 784-pixel prototype
    /// plus noise; 320 samples, batches of 32 (to keep the debug suite fast).
    func syntheticData(_ g: Generator) -> (x: Tensor, y: Tensor) {
        let prototypes = Tensor.randn([10, 784], generator: g)
        let labels = Tensor.randint(0, 10, [320], generator: g)
        // onehot(labels)·prototypes picks each sample's prototype in one GEMM.
        var onehot = [Float](repeating: 0, count: 320 * 10)
        for (i, c) in labels.toIntArray().enumerated() { onehot[i * 10 + c] = 1 }
        let x = Tensor(onehot, shape: [320, 10]).matmul(prototypes) + 1.5 * Tensor.randn([320, 784], generator: g)
        return (x.reshaped([320, 1, 28, 28]), labels)
    }

    func trainSeedModel(_ makeOptimizer: ([Tensor]) -> Optimizer) -> (first: Double, last: Double) {
        let g = Generator(seed: 5)
        let data = syntheticData(g)
        let model = NNModels.NeuralNetwork()
        let opt = makeOptimizer(model.parameters())
        let lossFn = CrossEntropyLoss()
        model.train()
        var losses: [Double] = []
        for step in 0..<200 {
            let b = (step % 10) * 32
            let pred = model(data.x[b..<(b + 32)])
            let loss = lossFn(pred, data.y[b..<(b + 32)])
            loss.backward()
            opt.step()
            opt.zeroGrad()
            losses.append(loss.item())
        }
        let mean = { (s: ArraySlice<Double>) in s.reduce(0, +) / Double(s.count) }
        return (losses[0], mean(losses.suffix(10)))
    }

    // Both start at chance level, ln 10 ≈ 2.303 (PyTorch's init gives small logits), and must
    // end at least 10× lower.
    func testTrainingSeedModelLowersLossSGD() {
        let (first, last) = trainSeedModel { SGD($0, lr: 0.01, momentum: 0.9) }
        print("seed MLP, SGD: loss \(first) → \(last)")
        XCTAssertEqual(first, log(10), accuracy: 0.3)
        XCTAssertLessThan(last, 0.1 * first, "SGD: \(first) → \(last)")
    }

    func testTrainingSeedModelLowersLossAdam() {
        let (first, last) = trainSeedModel { Adam($0, lr: 1e-3) }
        print("seed MLP, Adam: loss \(first) → \(last)")
        XCTAssertEqual(first, log(10), accuracy: 0.3)
        XCTAssertLessThan(last, 0.1 * first, "Adam: \(first) → \(last)")
    }

    // Differences from torch.optim found by review; expected values are PyTorch 2's.

    func testAdamFormsItsCoefficientsInDouble() {
        // 1 − β2 is formed from the Double 0.999, as PyTorch forms it: 0.001 as a float, not
        // 1 − Float(0.999) (which ran Adam with β2 = 0.99900001287).
        let p = Tensor([1, 2] as [Float]).requiringGrad()
        let adam = Adam([p], lr: 1e-3)
        p.grad = Tensor([3, -1] as [Float])
        adam.step()
        XCTAssertEqual(adam.state[0]!["exp_avg_sq"]!.toArray().map(\.bitPattern), [0x3c1374bc, 0x3a83126f])
        XCTAssertEqual(adam.state[0]!["exp_avg"]!.toArray(), [0.30000001192092896, -0.10000000149011612])
        XCTAssertEqual(p.toArray(), [0.9990000128746033, 2.000999927520752])
    }

    func testSGDLeavesParametersWithoutAGradientUnwritten() throws {
        let w = Tensor([1, 2] as [Float]).requiringGrad(), frozen = Tensor([3, 4] as [Float]).requiringGrad()
        let pending = (Tensor([5, 6] as [Float]) * frozen).sum()   // saves frozen's values
        let sgd = SGD([w, frozen], lr: 0.1, momentum: 0.9)
        (w * w).sum().backward()
        sgd.step()
        try pending.runBackward()   // trapped: "modified by an inplace operation"
        XCTAssertEqual(frozen.grad!.toArray(), [5, 6])
    }

    func testPlateauSetsNoInitialLRAndSchedulersReportTheirOwnLastRate() {
        let p = Tensor.zeros([1]).requiringGrad()
        let sgd = SGD([p], lr: 1)
        let plateau = ReduceLROnPlateau(sgd, factor: 0.5, patience: 0)
        for metric in [1.0, 2, 3] { plateau.step(metric) }
        XCTAssertEqual(sgd.lr, 0.25)
        XCTAssertNil(sgd.paramGroups[0].initialLR)
        let decay = LambdaLR(sgd) { pow(0.9, Double($0)) }
        XCTAssertEqual(decay.baseLRs, [0.25])   // was 1: the rate before the plateau's cuts
        decay.step()
        XCTAssertEqual(sgd.lr, 0.225, accuracy: 1e-15)

        // Two schedulers on one optimizer: each reports the rate it set.
        let q = Tensor.zeros([1]).requiringGrad()
        let opt = SGD([q], lr: 1)
        let warm = LinearLR(opt, startFactor: 0.5, totalIters: 4), steps = StepLR(opt, stepSize: 1, gamma: 0.5)
        for _ in 0..<2 {
            warm.step()
            steps.step()
        }
        XCTAssertEqual(warm.lastLR, 0.375)
        XCTAssertEqual(steps.lastLR, 0.1875)
        XCTAssertEqual(opt.lr, 0.1875)
    }

    func testOptimizerDefaultWeightDecaySurvivesTheStateDict() throws {
        let a = Tensor.zeros([2]).requiringGrad(), b = Tensor.zeros([2]).requiringGrad()
        let opt = AdamW([ParamGroup([a], weightDecay: 0), ParamGroup([b])], weightDecay: 0.1)
        opt.weightDecay = 0.05
        let saved = opt.stateDict()
        let resumed = AdamW([ParamGroup([a], weightDecay: 0), ParamGroup([b])], weightDecay: 0.1)
        try resumed.loadStateDict(tensors: saved.tensors, hyperparameters: saved.hyperparameters)
        XCTAssertEqual(resumed.weightDecay, 0.05)   // was 0.1: group 0's own value took the key
        XCTAssertEqual(resumed.paramGroups[0].weightDecay, 0)
        XCTAssertNil(resumed.paramGroups[1].weightDecay)
    }
}
