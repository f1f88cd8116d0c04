import XCTest
@testable import Ember

final class NNModuleTests: XCTestCase {
    func testPrintSeedModelMatchesPyTorch() {
        // The seed's print(model) text (shared/seed/pytorch-quickstart.md) with the Swift
        // property name `linearReluStack` in place of `linear_relu_stack`.
        let expected = """
        NeuralNetwork(
          (flatten): Flatten(start_dim=1, end_dim=-1)
          (linearReluStack): Sequential(
            (0): Linear(in_features=784, out_features=512, bias=True)
            (1): ReLU()
            (2): Linear(in_features=512, out_features=512, bias=True)
            (3): ReLU()
            (4): Linear(in_features=512, out_features=10, bias=True)
          )
        )
        """
        let model = NNModels.NeuralNetwork().to(Device.best)
        XCTAssertEqual("\(model)", expected)
    }

    func testPrintOtherLayers() {
        XCTAssertEqual(Linear(3, 2, bias: false).description, "Linear(in_features=3, out_features=2, bias=False)")
        XCTAssertEqual(Dropout(p: 0.25).description, "Dropout(p=0.25, inplace=False)")
        XCTAssertEqual(Softmax(dim: 1).description, "Softmax(dim=1)")
        XCTAssertEqual(LogSoftmax(dim: -1).description, "LogSoftmax(dim=-1)")
        XCTAssertEqual(Identity().description, "Identity()")
        XCTAssertEqual(Sequential().description, "Sequential()")
        XCTAssertEqual(Flatten(startDim: 0, endDim: 2).description, "Flatten(start_dim=0, end_dim=2)")
    }

    func testNamedParametersAndStateDictKeys() {
        let model = NNModels.NeuralNetwork()
        let names = model.namedParameters().map(\.name)
        XCTAssertEqual(names, ["linearReluStack.0.weight", "linearReluStack.0.bias",
                               "linearReluStack.2.weight", "linearReluStack.2.bias",
                               "linearReluStack.4.weight", "linearReluStack.4.bias"])
        XCTAssertEqual(model.stateDictKeys(), ["linear_relu_stack.0.weight", "linear_relu_stack.0.bias",
                                               "linear_relu_stack.2.weight", "linear_relu_stack.2.bias",
                                               "linear_relu_stack.4.weight", "linear_relu_stack.4.bias"])
        XCTAssertEqual(model.parameters().map(\.shape), [[512, 784], [512], [512, 512], [512], [10, 512], [10]])
        // 784·512 + 512 + 512·512 + 512 + 512·10 + 10, the seed model's parameter count.
        XCTAssertEqual(model.parameters().map(\.count).reduce(0, +), 669_706)
        XCTAssertTrue(model.parameters().allSatisfy { $0.requiresGrad && $0.isLeaf })
        // The state dict holds the parameters' storage, not copies.
        let sd = model.stateDict()
        let w = (model.linearReluStack[0] as! Linear).weight
        XCTAssertEqual(sd["linear_relu_stack.0.weight"]?.raw, w.raw)
    }

    func testSnakeCase() {
        XCTAssertEqual(Module.snakeCased("linearReluStack"), "linear_relu_stack")
        XCTAssertEqual(Module.snakeCased("weight"), "weight")
        XCTAssertEqual(Module.snakeCased("0"), "0")
        XCTAssertEqual(Module.snakeCased("conv1"), "conv1")
        XCTAssertEqual(Module.snakeCased("fc2Out"), "fc2_out")
        XCTAssertEqual(Module.snakeCased("parseHTTPHeader"), "parse_http_header")
        XCTAssertEqual(Module.snakeCased("already_snake"), "already_snake")
    }

    /// Reflection rules: optional children and parameters (nil ones skipped), lazy
    /// properties, superclass properties first, shared parameters once, key override hook.
    func testReflectionRules() {
        class Base: Module {
            let encoder = Linear(2, 3)
        }
        final class Derived: Base {
            var head: Linear? = Linear(3, 1, bias: false)
            var unused: Linear? = nil
            var scale: Tensor? = Tensor([1.0]).requiringGrad()
            var missingScale: Tensor? = nil
            lazy var tied: Linear = encoder   // the same module again: its parameters count once
            let notAModule = 3
            override func stateDictName(for name: String) -> String { name == "head" ? "classifier" : Module.snakeCased(name) }
        }
        let m = Derived()
        _ = m.tied
        XCTAssertEqual(m.namedParameters().map(\.name), ["scale", "encoder.weight", "encoder.bias", "head.weight"])
        XCTAssertEqual(m.stateDictKeys(), ["scale", "encoder.weight", "encoder.bias", "classifier.weight"])
        XCTAssertEqual(m.namedChildren().map(\.name), ["encoder", "head", "tied"])
        XCTAssertEqual(m.modules().count, 3)   // self, encoder (once), head
        m.head = nil
        XCTAssertEqual(m.parameters().count, 3)   // a reassigned var is seen at once
    }

    func testTrainEvalRecursiveAndDropout() {
        let g = Generator(seed: 7)
        let model = Sequential(Linear(4, 4, generator: g), Sequential(Dropout(p: 0.5, generator: g)))
        XCTAssertTrue(model.modules().allSatisfy(\.isTraining))
        model.eval()
        XCTAssertTrue(model.modules().allSatisfy { !$0.isTraining })
        let x = Tensor.ones([2, 8])
        let drop = (model[1] as! Sequential)[0]
        XCTAssertTrue(drop(x).equal(x), "eval-mode dropout passes through")
        model.train()
        XCTAssertTrue(model.modules().allSatisfy(\.isTraining))
        let y = drop(Tensor.ones([1000])).toArray()
        XCTAssertTrue(y.allSatisfy { $0 == 0 || $0 == 2 }, "kept elements scale by 1/(1-p) = 2")
        let kept = y.filter { $0 == 2 }.count
        XCTAssertTrue(kept > 430 && kept < 570, "about half kept, got \(kept)")   // ±4.4σ for Bin(1000, 0.5)
    }

    func testDropoutMaskDoesNotDependOnThreadCount() {
        let saved = numThreads()
        defer { setNumThreads(saved) }
        let x = Tensor.ones([1 << 18])   // large enough for the kernel to split across threads
        setNumThreads(1)
        let one = Dropout(p: 0.3, generator: Generator(seed: 42))(x)
        setNumThreads(max(2, numCores()))
        let many = Dropout(p: 0.3, generator: Generator(seed: 42))(x)
        XCTAssertTrue(one.equal(many))
        XCTAssertFalse(one.equal(Dropout(p: 0.3, generator: Generator(seed: 43))(x)))
    }

    func testLinearInitBoundsAndSequentialIndexing() {
        let fc = Linear(100, 50, generator: Generator(seed: 3))
        // PyTorch: weight and bias ~ U(-1/√100, 1/√100) = U(-0.1, 0.1).
        let w = fc.weight.toArray(), b = fc.bias!.toArray()
        XCTAssertTrue(w.allSatisfy { abs($0) <= 0.1 } && b.allSatisfy { abs($0) <= 0.1 })
        XCTAssertGreaterThan(w.max()!, 0.09)
        XCTAssertLessThan(w.min()!, -0.09)
        // Var of U(-a, a) is a²/3 = 0.01/3.
        let variance = w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)
        XCTAssertEqual(variance, 0.01 / 3, accuracy: 0.0003)
        XCTAssertNil(Linear(3, 2, bias: false).bias)
        XCTAssertEqual(Linear(3, 2, bias: false).parameters().count, 1)

        let seq = Sequential([Linear(3, 4), ReLU()])
        seq.append(Identity())
        XCTAssertEqual(seq.count, 3)
        XCTAssertTrue(seq[1] is ReLU)
        XCTAssertEqual(seq.map(\.typeName), ["Linear", "ReLU", "Identity"])
        XCTAssertEqual(seq(Tensor.zeros([5, 3])).shape, [5, 4])
    }

    /// Sequential runs Linear + ReLU as one op (`linearReLU`): the same values and gradients
    /// as the two layers one after the other, bit for bit.
    func testSequentialFusesLinearReLUExactly() {
        final class MyReLU: ReLU {}   // a subclass may override forward: never fused
        let g = Generator(seed: 21)
        let stack = Sequential(Linear(300, 130, generator: g), ReLU(), Linear(130, 65, generator: g), MyReLU(),
                               Linear(65, 3, generator: g), ReLU())
        let x = Tensor.randn([40, 300], generator: g).requiringGrad()
        let y = stack(x)
        XCTAssertEqual(y.gradFnName, "linear_relu", "the last pair is fused")
        let fcs = [0, 2, 4].map { stack[$0] as! Linear }
        let hidden = linear(linear(x, fcs[0].weight, fcs[0].bias).relu(), fcs[1].weight, fcs[1].bias)
        XCTAssertEqual(stack[3](hidden).gradFnName, "relu")
        let ref = linear(hidden.relu(), fcs[2].weight, fcs[2].bias).relu()
        XCTAssertTrue(y.equal(ref))
        XCTAssertTrue(y.toArray().contains(0) && y.toArray().contains { $0 > 0 }, "the relu clips something")

        let upstream = Tensor.randn(y.shape, generator: g)
        (y * upstream).sum().backward()
        let fused = ([x] + stack.parameters()).map { $0.grad!.clone() }
        x.grad = nil
        stack.zeroGrad()
        (ref * upstream).sum().backward()
        for (i, (a, p)) in zip(fused, [x] + stack.parameters()).enumerated() {
            XCTAssertTrue(a.equal(p.grad!), "gradient \(i) differs")
        }
    }

    /// relu is clamp_min(x, 0) in PyTorch: NaN and -0 pass through, and the gradient flows
    /// where the output is not ≤ 0. PyTorch 2.x: relu([-0., nan, -2., 3.]) = [-0., nan, 0., 3.],
    /// gradient of its sum [0., 1., 0., 1.]. The fused Linear + ReLU epilogue must agree.
    func testReluAtNaNAndNegativeZeroMatchesPyTorch() {
        let x = Tensor([-0.0, .nan, -2, 3] as [Float]).requiringGrad()
        let y = x.relu()
        XCTAssertEqual(y.toArray().map(\.bitPattern), ([-0.0, .nan, 0, 3] as [Float]).map(\.bitPattern))
        y.sum().backward()
        XCTAssertEqual(x.grad!.toArray(), [0, 1, 0, 1])

        // Through the fused op: an identity weight, the same values as the bias of a zero input,
        // and a NaN row in a (40, 300 → 130) product, whose blocks are columns.
        let fused = Sequential(Linear(4, 4), ReLU())
        let fc = fused[0] as! Linear
        noGrad {
            fc.weight.copy_(Tensor.zeros([4, 4]))
            fc.bias!.copy_(Tensor([-0.0, .nan, -2, 3] as [Float]))
        }
        let out = fused(Tensor.zeros([2, 4]))
        XCTAssertEqual(out.gradFnName, "linear_relu")
        // (−0 + 0·x is +0 before the relu sees it, in PyTorch's addmm as here.)
        XCTAssertEqual(out.toArray().map(\.bitPattern), ([0, .nan, 0, 3, 0, .nan, 0, 3] as [Float]).map(\.bitPattern))
        let big = Sequential(Linear(300, 130, generator: Generator(seed: 5)), ReLU())
        var rows = Tensor.randn([40, 300], generator: Generator(seed: 6)).toArray()
        rows[7 * 300 + 11] = .nan
        let z = big(Tensor(rows, shape: [40, 300])).toArray()
        XCTAssertTrue(z[(7 * 130)..<(8 * 130)].allSatisfy(\.isNaN), "a NaN input row stays NaN")
        XCTAssertFalse(z[0..<(7 * 130)].contains { $0.isNaN })
    }

    func testZeroGradSetsNil() {
        let model = NNModels.TinyNetwork()
        crossEntropy(model(Tensor.randn([4, 12])), Tensor([0, 1, 2, 0])).backward()
        XCTAssertTrue(model.parameters().allSatisfy { $0.grad != nil })
        model.zeroGrad()
        XCTAssertTrue(model.parameters().allSatisfy { $0.grad == nil })
    }
}
