import XCTest
@testable import Ember

/// Optimizer parameter groups (PyTorch's `param_groups`): per-group learning rate and weight
/// decay, schedulers per group, state dicts.
final class ParamGroupTests: XCTestCase {
    func params(_ seed: UInt64) -> [Tensor] {
        let g = Generator(seed: seed)
        return [Tensor.randn([3, 4], generator: g).requiringGrad(), Tensor.randn([4], generator: g).requiringGrad()]
    }

    func setGrads(_ ps: [Tensor]) {
        for (i, p) in ps.enumerated() { p.grad = Tensor.randn(p.shape, generator: Generator(seed: 100 + UInt64(i))) }
    }

    /// Each group updates exactly as an optimizer of its own with the group's settings.
    func testGroupsMatchSeparateOptimizers() {
        for kind in ["sgd", "adamw"] {
            let grouped = params(1), alone = params(1)
            func make(_ groups: [ParamGroup]) -> Optimizer {
                kind == "sgd" ? SGD(groups, lr: 0.1, momentum: 0.9, weightDecay: 0.01) : AdamW(groups, lr: 0.1, weightDecay: 0.1)
            }
            let together = make([ParamGroup([grouped[0]]), ParamGroup([grouped[1]], lr: 0.05, weightDecay: 0)])
            let first = make([ParamGroup([alone[0]])]), second = make([ParamGroup([alone[1]], lr: 0.05, weightDecay: 0)])
            for _ in 0..<3 {
                setGrads(grouped); setGrads(alone)
                together.step(); first.step(); second.step()
            }
            XCTAssertEqual(grouped[0].toArray(), alone[0].toArray(), kind)
            XCTAssertEqual(grouped[1].toArray(), alone[1].toArray(), kind)
            XCTAssertNotEqual(alone[0].toArray(), params(1)[0].toArray())
        }
    }

    func testSchedulersScaleEachGroupFromItsOwnBase() throws {
        let ps = params(2)
        let optimizer = SGD([ParamGroup([ps[0]]), ParamGroup([ps[1]], lr: 0.01)], lr: 0.1)
        let scheduler = StepLR(optimizer, stepSize: 1, gamma: 0.5)
        scheduler.step()
        XCTAssertEqual(optimizer.paramGroups.map(\.lr), [0.05, 0.005])
        XCTAssertEqual(scheduler.baseLRs, [0.1, 0.01])
        // The state dict keeps every group's rate and decay.
        let (tensors, hyper) = optimizer.stateDict()
        XCTAssertEqual(hyper["param_groups.1.lr"], 0.005)
        let restored = SGD([ParamGroup([ps[0]]), ParamGroup([ps[1]], lr: 0.01)], lr: 0.1)
        try restored.loadStateDict(tensors: tensors, hyperparameters: hyper)
        XCTAssertEqual(restored.paramGroups.map(\.lr), [0.05, 0.005])
        XCTAssertThrowsError(try restored.loadStateDict(tensors: [:], hyperparameters: ["param_groups.2.lr": 1]))
    }

    func testAGroupWithZeroRateStaysPut() {
        let ps = params(3)
        let optimizer = Adam([ParamGroup([ps[0]], lr: 0), ParamGroup([ps[1]])], lr: 0.1)
        let before = ps.map { $0.toArray() }
        setGrads(ps)
        optimizer.step()
        XCTAssertEqual(ps[0].toArray(), before[0])
        XCTAssertNotEqual(ps[1].toArray(), before[1])
    }
}
