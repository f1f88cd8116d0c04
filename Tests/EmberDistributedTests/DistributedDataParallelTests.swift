import Ember
import EmberDistributed
import XCTest

private final class TwoLayer: Module {
    let fc1 = Linear(6, 8)
    let fc2 = Linear(8, 3)
    override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
}

private final class HalfUsed: Module {
    let used = Linear(6, 3)
    let spare = Linear(6, 3)
    override func forward(_ x: Tensor) -> Tensor { used(x) }
}

/// DistributedDataParallel in a world of one (multi-rank runs: scripts/mpi-test.sh).
final class DistributedDataParallelTests: XCTestCase {
    func data(_ n: Int, seed: UInt64) -> (Tensor, Tensor) {
        let g = Generator(seed: seed)
        return (Tensor.randn([n, 6], generator: g), Tensor((0..<n).map { $0 % 3 }))
    }

    /// State-dict keys under `module.`, as PyTorch's DDP; a plain model gets the same gradients.
    func testWorldOfOneIsThePlainModel() throws {
        let group = try ProcessGroup.fromEnvironment()
        manualSeed(3)
        let plain = TwoLayer()
        manualSeed(3)
        let ddp = try DistributedDataParallel(TwoLayer(), processGroup: group)
        XCTAssertEqual(ddp.stateDictKeys(), ["module.fc1.weight", "module.fc1.bias", "module.fc2.weight", "module.fc2.bias"])
        XCTAssertEqual(ddp.bucketParameterNames, [], "a world of one needs no buckets")
        let (X, y) = data(8, seed: 1)
        CrossEntropyLoss()(plain(X), y).backward()
        CrossEntropyLoss()(ddp(X), y).backward()
        for (a, b) in zip(plain.parameters(), ddp.parameters()) {
            XCTAssertEqual(a.grad!.toArray(), b.grad!.toArray())
        }
    }

    /// Reproducible mode: micro-batches under noSync are kept apart and summed in the fixed
    /// tree ((g0 + g2) + (g1 + g3)), not accumulated left to right.
    func testReproducibleSumsMicroBatchesInTheFixedTree() throws {
        let group = try ProcessGroup.fromEnvironment()
        manualSeed(4)
        let ddp = try DistributedDataParallel(TwoLayer(), processGroup: group, bucketCapMB: 0.0001, reproducible: true)
        XCTAssertEqual(ddp.bucketParameterNames, [["fc2.bias"], ["fc2.weight"], ["fc1.bias"], ["fc1.weight"]],
                       "reverse parameter order, one bucket per parameter at this cap")
        let reference = TwoLayer()
        try reference.loadStateDict(ddp.module.stateDict())
        let lossFn = CrossEntropyLoss()
        let batches = (0..<4).map { data(4, seed: 10 + UInt64($0)) }
        var shardGrads: [[Tensor]] = []
        for (X, y) in batches {
            lossFn(reference(X), y).backward()
            shardGrads.append(reference.parameters().map { $0.grad!.clone() })
            reference.zeroGrad()
        }
        for (m, (X, y)) in batches.enumerated() {
            if m < 3 { ddp.noSync { lossFn(ddp(X), y).backward() } } else { lossFn(ddp(X), y).backward() }
        }
        var differsFromLeftToRight = false
        for (i, p) in ddp.parameters().enumerated() {
            let tree = try ProcessGroup.fixedTreeSum(shardGrads.map { $0[i] })
            XCTAssertEqual(p.grad!.toArray().map(\.bitPattern), tree.toArray().map(\.bitPattern), "parameter \(i)")
            let chain = ((shardGrads[0][i] + shardGrads[1][i]) + shardGrads[2][i]) + shardGrads[3][i]
            if chain.toArray() != tree.toArray() { differsFromLeftToRight = true }
        }
        XCTAssertTrue(differsFromLeftToRight, "the data must tell the tree from left-to-right accumulation")
        XCTAssertEqual(ddp.lastTimeline.count, 4)
        XCTAssertTrue(ddp.lastTimeline.allSatisfy { $0.launched <= $0.mpiStarted && $0.mpiStarted <= $0.mpiFinished })
    }

    /// A parameter without gradient: the next forward reports it (PyTorch's error), unless
    /// findUnusedParameters; a parameter no rank used then keeps a nil gradient, as PyTorch's.
    func testUnusedParameters() throws {
        let group = try ProcessGroup.fromEnvironment()
        let (X, y) = data(4, seed: 2)
        let strict = try DistributedDataParallel(HalfUsed(), processGroup: group, reproducible: true)
        CrossEntropyLoss()(strict(X), y).backward()
        XCTAssertThrowsError(try strict.prepareForward()) {
            XCTAssertEqual("\($0)", "rank 0: DistributedDataParallel: expected to have finished reduction in the prior "
                + "iteration before starting a new one: parameters that did not receive a gradient: spare.weight, spare.bias "
                + "(indices 2 3); pass findUnusedParameters: true if the model does not use every parameter in every forward")
        }
        let lenient = try DistributedDataParallel(HalfUsed(), processGroup: group, findUnusedParameters: true, reproducible: true)
        for _ in 0..<2 {
            CrossEntropyLoss()(lenient(X), y).backward()
            XCTAssertNotNil(lenient.module.parameters()[0].grad)
            XCTAssertNil(lenient.module.parameters()[2].grad, "no rank used it: an optimizer must skip it")
            lenient.zeroGrad()
        }
        XCTAssertNoThrow(try lenient.prepareForward())
        // A forward whose loss is never backpropagated reduces nothing: the next one runs.
        _ = CrossEntropyLoss()(lenient(X), y)
        XCTAssertNoThrow(try lenient.prepareForward())
    }

    /// findUnusedParameters and noSync: a parameter used only in the micro-batches keeps their
    /// gradient through the synced step, in both modes; reproducible mode does not carry the
    /// micro-batches' gradients into the next step.
    func testUnusedParameterKeepsItsNoSyncGradient() throws {
        final class TwoHeads: Module {
            let a = Linear(2, 1)
            let b = Linear(2, 1)
            var useB = true
            override func forward(_ x: Tensor) -> Tensor { useB ? a(x) + b(x) : a(x) }
        }
        let group = try ProcessGroup.fromEnvironment()
        for reproducible in [false, true] {
            let model = TwoHeads()
            let ddp = try DistributedDataParallel(model, processGroup: group, findUnusedParameters: true, reproducible: reproducible)
            let x = Tensor.ones([1, 2])
            ddp.noSync { ddp(x).sum().backward() }
            model.useB = false
            ddp(x).sum().backward()
            XCTAssertEqual(model.b.weight.grad?.toArray(), [1, 1], "reproducible: \(reproducible)")
            ddp.zeroGrad()
            model.useB = true
            ddp(x).sum().backward()
            XCTAssertEqual(model.b.weight.grad?.toArray(), [1, 1], "reproducible: \(reproducible)")
        }
    }

    func testInvalidArguments() throws {
        let group = try ProcessGroup.fromEnvironment()
        XCTAssertThrowsError(try DistributedDataParallel(TwoLayer(), processGroup: group, bucketCapMB: 0)) {
            XCTAssertEqual("\($0)", "DistributedDataParallel: bucketCapMB must be positive, got 0.0")
        }
    }
}

extension DistributedDataParallelTests {
    /// A model outliving its wrapper trains on without the wrapper's hooks.
    func testModelOutlivesItsWrapper() throws {
        let group = try ProcessGroup.fromEnvironment()
        let model = TwoLayer()
        do {
            let ddp = try DistributedDataParallel(model, processGroup: group, reproducible: true)
            let (X, y) = data(4, seed: 5)
            CrossEntropyLoss()(ddp(X), y).backward()
        }
        model.zeroGrad()
        let (X, y) = data(4, seed: 6)
        CrossEntropyLoss()(model(X), y).backward()
        XCTAssertNotNil(model.fc1.weight.grad)
    }
}
