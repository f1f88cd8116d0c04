import Foundation
import XCTest
@testable import Ember

/// MultiStepLR, ExponentialLR, ConstantLR, PolynomialLR, MultiplicativeLR,
/// CosineAnnealingWarmRestarts and ChainedScheduler: every rate after creation and after each
/// step equal to PyTorch 2.15's `get_last_lr()` (to 1e-12: Ember's own cos and pow may differ
/// from the libm PyTorch used by an ulp), within SequentialLR too, and their state through a
/// checkpoint.
///
/// The expected values are PyTorch's, printed by this snippet; each test names its `run(…)`:
///
/// ```python
/// import warnings, torch
/// from torch.optim.lr_scheduler import *
/// warnings.filterwarnings("ignore")
/// def run(make, lrs=(0.1,), steps=12, jumps=()):
///     o = torch.optim.SGD([{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs], lr=lrs[0])
///     s = make(o)
///     out = [s.get_last_lr()]
///     for _ in range(steps):
///         o.step(); s.step(); out.append(s.get_last_lr())
///     for e in jumps:   # PyTorch's step(epoch): Ember's step(toEpoch:)
///         s.step(e); out.append(s.get_last_lr())
///     return [[float(v) for v in r] for r in out]
/// ```
final class MoreLRSchedulerTests: XCTestCase {
    /// The snippet's optimizer: SGD with one zero parameter per group, group i at `lrs[i]`.
    static func sgd(_ lrs: [Double] = [0.1]) -> SGD {
        SGD(lrs.map { ParamGroup([Tensor.zeros([1]).requiringGrad()], lr: $0) }, lr: lrs[0])
    }

    /// Row 0 of `want` is every group's rate after creation, then one row per `step()`, then
    /// one per `step(toEpoch:)` to each of `jumps`; checks `lastLRs` and the optimizer's rates.
    func assertGroupRates(_ scheduler: LRScheduler, _ want: [[Double]], jumps: [Int] = [], _ what: String,
                          file: StaticString = #filePath, line: UInt = #line) {
        let steps = want.count - 1 - jumps.count
        for (i, row) in want.enumerated() {
            if i > steps {
                scheduler.step(toEpoch: jumps[i - steps - 1])
            } else if i > 0 {
                scheduler.step()
            }
            let got = scheduler.lastLRs, groups = scheduler.optimizer.paramGroups.map { $0.lr ?? .nan }
            XCTAssertEqual(got.count, row.count, "\(what): groups", file: file, line: line)
            for (g, expected) in row.enumerated() where g < got.count && g < groups.count {
                XCTAssertEqual(got[g], expected, accuracy: 1e-12, "\(what): lastLRs[\(g)] after call \(i)", file: file, line: line)
                XCTAssertEqual(groups[g], expected, accuracy: 1e-12, "\(what): group \(g)'s lr after call \(i)", file: file, line: line)
            }
        }
    }

    /// `assertGroupRates` for one group: `want[i]` is the rate after call i.
    func assertRates(_ scheduler: LRScheduler, _ want: [Double], jumps: [Int] = [], _ what: String,
                     file: StaticString = #filePath, line: UInt = #line) {
        assertGroupRates(scheduler, want.map { [$0] }, jumps: jumps, what, file: file, line: line)
    }

    func testMultiStepLR() {
        // run(lambda o: MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5), lrs=(0.1, 0.05))
        let want: [[Double]] = [
            [0.1, 0.05], [0.1, 0.05], [0.05, 0.025], [0.05, 0.025], [0.05, 0.025], [0.0125, 0.00625],
            [0.0125, 0.00625], [0.0125, 0.00625], [0.0125, 0.00625], [0.00625, 0.003125], [0.00625, 0.003125],
            [0.00625, 0.003125], [0.00625, 0.003125]
        ]
        let o = Self.sgd([0.1, 0.05])
        let s = MultiStepLR(o, milestones: [9, 5, 2, 5], gamma: 0.5)
        XCTAssertEqual(s.milestones, [2, 5, 5, 9], "sorted; a repeated milestone decays twice")
        assertGroupRates(s, want, "MultiStepLR")
    }

    func testExponentialLR() {
        // run(lambda o: ExponentialLR(o, gamma=0.9))
        let want: [Double] = [
            0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002,
            0.05904900000000002, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024, 0.03874204890000002,
            0.03486784401000002, 0.03138105960900001, 0.028242953648100012
        ]
        let o = Self.sgd()
        assertRates(ExponentialLR(o, gamma: 0.9), want, "ExponentialLR")
    }

    func testConstantLR() {
        // run(lambda o: ConstantLR(o, factor=0.25, total_iters=4), lrs=(0.1, 0.05))
        let want: [[Double]] = [
            [0.025, 0.0125], [0.025, 0.0125], [0.025, 0.0125], [0.025, 0.0125], [0.1, 0.05], [0.1, 0.05], [0.1, 0.05],
            [0.1, 0.05], [0.1, 0.05], [0.1, 0.05], [0.1, 0.05], [0.1, 0.05], [0.1, 0.05]
        ]
        let o = Self.sgd([0.1, 0.05])
        assertGroupRates(ConstantLR(o, factor: 0.25, totalIters: 4), want, "ConstantLR")
    }

    func testPolynomialLR() {
        // run(lambda o: PolynomialLR(o, total_iters=8, power=2.0))
        let squared: [Double] = [
            0.1, 0.0765625, 0.05625, 0.03906250000000001, 0.02500000000000001, 0.014062500000000006,
            0.006250000000000002, 0.0015625000000000005, 0.0, 0.0, 0.0, 0.0, 0.0
        ]
        var o = Self.sgd()
        assertRates(PolynomialLR(o, totalIters: 8, power: 2), squared, "PolynomialLR power 2")
        // run(lambda o: PolynomialLR(o, total_iters=10, power=0.9), lrs=(0.1, 0.05))
        let fractional: [[Double]] = [
            [0.1, 0.05], [0.09095325760829623, 0.045476628804148114], [0.08180521460508584, 0.04090260730254292],
            [0.072541784693722, 0.036270892346861], [0.06314458674893553, 0.031572293374467764],
            [0.05358867312681466, 0.02679433656340733], [0.043838329055408694, 0.021919164527704347],
            [0.033838346190164986, 0.016919173095082493], [0.023492378861760376, 0.011746189430880188],
            [0.01258925411794167, 0.006294627058970835], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0]
        ]
        o = Self.sgd([0.1, 0.05])
        assertGroupRates(PolynomialLR(o, totalIters: 10, power: 0.9), fractional, "PolynomialLR power 0.9, two groups")
    }

    func testMultiplicativeLR() {
        // run(lambda o: MultiplicativeLR(o, lr_lambda=lambda e: 0.95))
        let one: [Double] = [
            0.1, 0.095, 0.09025, 0.0857375, 0.08145062499999998, 0.07737809374999999, 0.07350918906249998,
            0.06983372960937498, 0.06634204312890622, 0.0630249409724609, 0.05987369392383786, 0.05688000922764597,
            0.05403600876626367
        ]
        var o = Self.sgd()
        assertRates(MultiplicativeLR(o) { _ in 0.95 }, one, "MultiplicativeLR")
        // run(lambda o: MultiplicativeLR(o, lr_lambda=[lambda e: 0.9, lambda e: 1 - 0.02 * e]), lrs=(0.1, 0.05))
        let perGroup: [[Double]] = [
            [0.1, 0.05], [0.09000000000000001, 0.049], [0.08100000000000002, 0.04704],
            [0.07290000000000002, 0.044217599999999996], [0.06561000000000002, 0.040680192],
            [0.05904900000000002, 0.036612172799999995], [0.05314410000000002, 0.032218712063999996],
            [0.04782969000000002, 0.027708092375039996], [0.043046721000000024, 0.023274797595033595],
            [0.03874204890000002, 0.019085334027927548], [0.03486784401000002, 0.01526826722234204],
            [0.03138105960900001, 0.011909248433426792], [0.028242953648100012, 0.009051028809404362]
        ]
        o = Self.sgd([0.1, 0.05])
        assertGroupRates(MultiplicativeLR(o, lrLambdas: [{ _ in 0.9 }, { 1 - 0.02 * Double($0) }]), perGroup,
                         "MultiplicativeLR per group")
    }

    /// Five steps, then PyTorch's `step(epoch)` to 7, 2, 0 and 11: the closed form from the base
    /// rate (`closedFormRate`), except MultiplicativeLR, which has none and multiplies the current
    /// rate by lrLambda(epoch), at epoch 0 too.
    func testStepToEpochUsesTheClosedForm() {
        let jumps = [7, 2, 0, 11]
        // run(lambda o: MultiStepLR(o, milestones=[2, 5, 5, 9], gamma=0.5), steps=5, jumps=(7, 2, 0, 11))
        let multiStep: [Double] = [
            0.1, 0.1, 0.05, 0.05, 0.05, 0.0125, 0.0125, 0.05, 0.1, 0.00625
        ]
        var o = Self.sgd()
        assertRates(MultiStepLR(o, milestones: [2, 5, 5, 9], gamma: 0.5), multiStep, jumps: jumps, "MultiStepLR")
        // run(lambda o: ExponentialLR(o, gamma=0.9), steps=5, jumps=(7, 2, 0, 11))
        let exponential: [Double] = [
            0.1, 0.09000000000000001, 0.08100000000000002, 0.07290000000000002, 0.06561000000000002,
            0.05904900000000002, 0.04782969000000001, 0.08100000000000002, 0.1, 0.031381059609000006
        ]
        o = Self.sgd()
        assertRates(ExponentialLR(o, gamma: 0.9), exponential, jumps: jumps, "ExponentialLR")
        // run(lambda o: ConstantLR(o, factor=0.25, total_iters=4), steps=5, jumps=(7, 2, 0, 11))
        let constant: [Double] = [
            0.025, 0.025, 0.025, 0.025, 0.1, 0.1, 0.1, 0.025, 0.025, 0.1
        ]
        o = Self.sgd()
        assertRates(ConstantLR(o, factor: 0.25, totalIters: 4), constant, jumps: jumps, "ConstantLR")
        // run(lambda o: PolynomialLR(o, total_iters=8, power=0.9), steps=5, jumps=(7, 2, 0, 11))
        let polynomial: [Double] = [
            0.1, 0.08867623542572073, 0.07718895067235704, 0.06550764934180986, 0.05358867312681466,
            0.04136453446582763, 0.015389305166811454, 0.07718895067235705, 0.1, 0.0
        ]
        o = Self.sgd()
        assertRates(PolynomialLR(o, totalIters: 8, power: 0.9), polynomial, jumps: jumps, "PolynomialLR")
        // run(lambda o: MultiplicativeLR(o, lr_lambda=lambda e: 0.9 - 0.01 * e), steps=5, jumps=(7, 2, 0, 11))
        let multiplicative: [Double] = [
            0.1, 0.08900000000000001, 0.07832000000000001, 0.06813840000000002, 0.05859902400000001,
            0.04980917040000001, 0.04134161143200001, 0.03638061806016001, 0.03274255625414401, 0.02586661944077377
        ]
        o = Self.sgd()
        assertRates(MultiplicativeLR(o) { 0.9 - 0.01 * Double($0) }, multiplicative, jumps: jumps, "MultiplicativeLR")
    }

    func testCosineAnnealingWarmRestarts() {
        // run(lambda o: CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001), lrs=(0.1, 0.05), steps=16)
        let growing: [[Double]] = [
            [0.1, 0.05], [0.07525000000000001, 0.037750000000000006], [0.025750000000000012, 0.013250000000000005],
            [0.1, 0.05], [0.09336825748732973, 0.046717622392718754], [0.07525000000000001, 0.037750000000000006],
            [0.0505, 0.025500000000000002], [0.025750000000000012, 0.013250000000000005],
            [0.007631742512670284, 0.004282377607281252], [0.1, 0.05], [0.09831332840130888, 0.04916518274408217],
            [0.09336825748732973, 0.046717622392718754], [0.0855017856687341, 0.04282411613907042],
            [0.07525000000000001, 0.037750000000000006], [0.06331154273257478, 0.03184106660501176],
            [0.0505, 0.025500000000000002], [0.03768845726742523, 0.019158933394988246]
        ]
        var o = Self.sgd([0.1, 0.05])
        let s = CosineAnnealingWarmRestarts(o, t0: 3, tMult: 2, etaMin: 0.001)
        assertGroupRates(s, growing, "T_0 3, T_mult 2, two groups")
        XCTAssertEqual(s.tI, 12)
        XCTAssertEqual(s.tCur, 7)
        // run(lambda o: CosineAnnealingWarmRestarts(o, T_0=4))
        let fixed: [Double] = [
            0.1, 0.08535533905932738, 0.05, 0.014644660940672627, 0.1, 0.08535533905932738, 0.05,
            0.014644660940672627, 0.1, 0.08535533905932738, 0.05, 0.014644660940672627, 0.1
        ]
        o = Self.sgd()
        assertRates(CosineAnnealingWarmRestarts(o, t0: 4), fixed, "T_0 4")

        // s = CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=0.001); s.step(26)
        o = Self.sgd()
        let jumped = CosineAnnealingWarmRestarts(o, t0: 3, tMult: 2, etaMin: 0.001)
        jumped.step(toEpoch: 26)
        XCTAssertEqual(jumped.lastLR, 0.08977099034441614, accuracy: 1e-12)
        XCTAssertEqual(jumped.lastEpoch, 26)
        XCTAssertEqual(jumped.tCur, 5)
        XCTAssertEqual(jumped.tI, 24)
    }

    /// `step(epoch:)` with fractional epochs (once per batch), interleaved with `step()`, and
    /// jumps back and forth: the rate, `lastEpoch`, tCur and tI after each call equal PyTorch's
    /// `get_last_lr()[0]`, `last_epoch`, `T_cur` and `T_i`. Epochs 9 and 21 are restarts
    /// (T_0 3, T_mult 2).
    ///
    /// ```python
    /// s = CosineAnnealingWarmRestarts(o, T_0=T0, T_mult=Tm, eta_min=eta)   # o: SGD, lr 0.1
    /// for e in epochs:   # None: s.step()
    ///     s.step() if e is None else s.step(e)
    ///     print(e, s.get_last_lr()[0], s.last_epoch, s.T_cur, s.T_i)
    /// ```
    func testCosineAnnealingWarmRestartsFractionalEpochs() {
        typealias Row = (epoch: Double?, lr: Double, lastEpoch: Int, tCur: Double, tI: Int)
        func check(_ s: CosineAnnealingWarmRestarts, _ rows: [Row], _ what: String) {
            for (i, row) in rows.enumerated() {
                if i > 0 {
                    if let epoch = row.epoch { s.step(epoch: epoch) } else { s.step() }
                }
                let call = row.epoch.map { "\(what), call \(i): step(epoch: \($0))" } ?? "\(what), call \(i): step()"
                XCTAssertEqual(s.lastLR, row.lr, accuracy: 1e-12, call)
                XCTAssertEqual(s.lastEpoch, row.lastEpoch, call)
                XCTAssertEqual(s.tCur, row.tCur, call)
                XCTAssertEqual(s.tI, row.tI, call)
            }
        }
        // T0, Tm, eta = 3, 2, 0.001; epochs = [e + i / 4 for e in range(4) for i in range(4)]
        //     + [26, None, 9.5, None, None, 9, 21, None, 45.25, 2.5, None]
        let growing: [Row] = [
            (nil, 0.1, 0, 0.0, 3),
            (0.0, 0.1, 0, 0.0, 3),
            (0.25, 0.09831332840130888, 0, 0.25, 3),
            (0.5, 0.09336825748732973, 0, 0.5, 3),
            (0.75, 0.0855017856687341, 0, 0.75, 3),
            (1.0, 0.07525000000000001, 1, 1.0, 3),
            (1.25, 0.06331154273257478, 1, 1.25, 3),
            (1.5, 0.0505, 1, 1.5, 3),
            (1.75, 0.03768845726742523, 1, 1.75, 3),
            (2.0, 0.025750000000000012, 2, 2.0, 3),
            (2.25, 0.0154982143312659, 2, 2.25, 3),
            (2.5, 0.007631742512670284, 2, 2.5, 3),
            (2.75, 0.0026866715986911243, 2, 2.75, 3),
            (3.0, 0.1, 3, 0.0, 6),
            (3.25, 0.09957652063800362, 3, 0.25, 6),
            (3.5, 0.09831332840130888, 3, 0.5, 6),
            (3.75, 0.0962320368593087, 3, 0.75, 6),
            (26.0, 0.08977099034441614, 26, 5.0, 24),
            (nil, 0.0855017856687341, 27, 6.0, 24),
            (9.5, 0.09957652063800362, 9, 0.5, 12),
            (nil, 0.0962320368593087, 10, 1.5, 12),
            (nil, 0.08977099034441614, 11, 2.5, 12),
            (9.0, 0.1, 9, 0.0, 12),
            (21.0, 0.1, 21, 0.0, 24),
            (nil, 0.09957652063800362, 22, 1.0, 24),
            (45.25, 0.09999337382652332, 45, 0.25, 48),
            (2.5, 0.007631742512670284, 2, 2.5, 3),
            (nil, 0.09831332840130888, 3, 0.5, 6),
        ]
        check(CosineAnnealingWarmRestarts(Self.sgd(), t0: 3, tMult: 2, etaMin: 0.001), growing, "T_0 3, T_mult 2")
        // T0, Tm, eta = 2, 1, 0.0; the same epochs
        let fixed: [Row] = [
            (nil, 0.1, 0, 0.0, 2),
            (0.0, 0.1, 0, 0.0, 2),
            (0.25, 0.09619397662556434, 0, 0.25, 2),
            (0.5, 0.08535533905932738, 0, 0.5, 2),
            (0.75, 0.0691341716182545, 0, 0.75, 2),
            (1.0, 0.05, 1, 1.0, 2),
            (1.25, 0.030865828381745515, 1, 1.25, 2),
            (1.5, 0.014644660940672627, 1, 1.5, 2),
            (1.75, 0.0038060233744356634, 1, 1.75, 2),
            (2.0, 0.1, 2, 0.0, 2),
            (2.25, 0.09619397662556434, 2, 0.25, 2),
            (2.5, 0.08535533905932738, 2, 0.5, 2),
            (2.75, 0.0691341716182545, 2, 0.75, 2),
            (3.0, 0.05, 3, 1.0, 2),
            (3.25, 0.030865828381745515, 3, 1.25, 2),
            (3.5, 0.014644660940672627, 3, 1.5, 2),
            (3.75, 0.0038060233744356634, 3, 1.75, 2),
            (26.0, 0.1, 26, 0.0, 2),
            (nil, 0.05, 27, 1.0, 2),
            (9.5, 0.014644660940672627, 9, 1.5, 2),
            (nil, 0.08535533905932738, 10, 0.5, 2),
            (nil, 0.014644660940672627, 11, 1.5, 2),
            (9.0, 0.05, 9, 1.0, 2),
            (21.0, 0.05, 21, 1.0, 2),
            (nil, 0.1, 22, 0.0, 2),
            (45.25, 0.030865828381745515, 45, 1.25, 2),
            (2.5, 0.08535533905932738, 2, 0.5, 2),
            (nil, 0.014644660940672627, 3, 1.5, 2),
        ]
        check(CosineAnnealingWarmRestarts(Self.sgd(), t0: 2), fixed, "T_0 2")
        // T0, Tm, eta = 2, 3, 0.0; epochs = [1.5, None, 2, 7.75, None, 8.5, 30, None, 0]
        let tripling: [Row] = [
            (nil, 0.1, 0, 0.0, 2),
            (1.5, 0.014644660940672627, 1, 1.5, 2),
            (nil, 0.09829629131445342, 2, 0.5, 6),
            (2.0, 0.1, 2, 0.0, 6),
            (7.75, 0.0004277569313094809, 7, 5.75, 6),
            (nil, 0.09957224306869053, 8, 0.75, 18),
            (8.5, 0.09980973490458728, 8, 0.5, 18),
            (30.0, 0.0986522435289912, 30, 4.0, 54),
            (nil, 0.09789947561577445, 31, 5.0, 54),
            (0.0, 0.1, 0, 0.0, 2),
        ]
        check(CosineAnnealingWarmRestarts(Self.sgd(), t0: 2, tMult: 3), tripling, "T_0 2, T_mult 3")
    }

    func testChainedScheduler() {
        // run(lambda o: ChainedScheduler([ConstantLR(o, factor=0.1, total_iters=4), ExponentialLR(o, gamma=0.9)]))
        let warmDecay: [Double] = [
            0.010000000000000002, 0.009000000000000003, 0.008100000000000003, 0.007290000000000003,
            0.06561000000000003, 0.059049000000000025, 0.05314410000000002, 0.04782969000000002, 0.043046721000000024,
            0.03874204890000002, 0.03486784401000002, 0.03138105960900001, 0.028242953648100012
        ]
        var o = Self.sgd()
        let constant = ConstantLR(o, factor: 0.1, totalIters: 4), exponential = ExponentialLR(o, gamma: 0.9)
        XCTAssertEqual(exponential.baseLRs, [0.1], "the base rate is the group's initial rate")
        let chain = ChainedScheduler([constant, exponential])
        XCTAssertTrue(chain.optimizer === o)
        assertRates(chain, warmDecay, "ConstantLR then ExponentialLR")
        XCTAssertEqual(chain.lastEpoch, 12)
        XCTAssertEqual(constant.lastEpoch, 12)
        XCTAssertEqual(exponential.lastEpoch, 12)
        // run(lambda o: ChainedScheduler([MultiStepLR(o, milestones=[3, 6], gamma=0.5),
        //                                 CosineAnnealingLR(o, T_max=5, eta_min=0.01)]), lrs=(0.1, 0.05))
        let stepCosine: [[Double]] = [
            [0.1, 0.05], [0.09140576474687263, 0.04618033988749895], [0.06890576474687263, 0.03618033988749895],
            [0.022907797401561576, 0.014270509831248423], [0.013567627457812106, 0.011180339887498949], [0.01, 0.01],
            [0.013594235253127366, 0.00881966011250105], [0.023004065309377895, 0.005729490168751569],
            [0.03463525491562422, 0.0019098300562505107], [0.04404508497187475, -0.0011803398874989709],
            [0.04763932022500212, -0.002360679774997921], [0.044045084971874766, -0.0011803398874989744],
            [0.034635254915624226, 0.001909830056250509]
        ]
        o = Self.sgd([0.1, 0.05])
        assertGroupRates(ChainedScheduler([MultiStepLR(o, milestones: [3, 6], gamma: 0.5), CosineAnnealingLR(o, tMax: 5, etaMin: 0.01)],
                                          optimizer: o), stepCosine, "MultiStepLR then CosineAnnealingLR, two groups")
    }

    /// The new schedulers as parts of a SequentialLR: MultiplicativeLR restarted at a milestone
    /// multiplies at epoch 0 (PyTorch's `_update_lr(0)`), CosineAnnealingWarmRestarts restarts
    /// its first period.
    func testInSequentialLR() {
        // run(lambda o: SequentialLR(o, [ConstantLR(o, factor=0.5, total_iters=2),
        //                                MultiplicativeLR(o, lambda e: 0.9 - 0.05 * e)], milestones=[3]))
        let constantThenMultiplicative: [Double] = [
            0.05, 0.05, 0.1, 0.09000000000000001, 0.07650000000000001, 0.06120000000000001, 0.04590000000000001,
            0.032130000000000006, 0.020884500000000004, 0.012530700000000002, 0.006891885000000002,
            0.003445942500000001, 0.0015506741250000005
        ]
        var o = Self.sgd()
        assertRates(SequentialLR(o, schedulers: [ConstantLR(o, factor: 0.5, totalIters: 2),
                                                 MultiplicativeLR(o) { 0.9 - 0.05 * Double($0) }], milestones: [3]),
                    constantThenMultiplicative, "ConstantLR, MultiplicativeLR")
        // run(lambda o: SequentialLR(o, [LinearLR(o, start_factor=0.2, total_iters=3),
        //                                CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2)], milestones=[3]))
        let warmupThenRestarts: [Double] = [
            0.020000000000000004, 0.04666666666666667, 0.07333333333333333, 0.1, 0.07500000000000001,
            0.025000000000000012, 0.1, 0.09330127018922195, 0.07500000000000001, 0.05, 0.025000000000000012,
            0.006698729810778065, 0.1
        ]
        o = Self.sgd()
        assertRates(SequentialLR(o, schedulers: [LinearLR(o, startFactor: 0.2, totalIters: 3),
                                                 CosineAnnealingWarmRestarts(o, t0: 3, tMult: 2)], milestones: [3]),
                    warmupThenRestarts, "LinearLR, CosineAnnealingWarmRestarts")
        // run(lambda o: SequentialLR(o, [CosineAnnealingWarmRestarts(o, T_0=2),
        //                                ExponentialLR(o, gamma=0.5)], milestones=[5]))
        let restartsThenExponential: [Double] = [
            0.1, 0.05, 0.1, 0.05, 0.1, 0.1, 0.05, 0.025, 0.0125, 0.00625, 0.003125, 0.0015625, 0.00078125
        ]
        o = Self.sgd()
        assertRates(SequentialLR(o, schedulers: [CosineAnnealingWarmRestarts(o, t0: 2), ExponentialLR(o, gamma: 0.5)], milestones: [5]),
                    restartsThenExponential, "CosineAnnealingWarmRestarts, ExponentialLR")
    }

    /// A run saved mid-schedule and resumed from the checkpoint gives the same rates as the run
    /// that went on (CosineAnnealingWarmRestarts' fractional T_cur and grown T_i included).
    func testSchedulersResumeFromACheckpoint() throws {
        let path = NSTemporaryDirectory() + "more-sched-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        typealias Make = (Module) -> (Optimizer, LRScheduler)
        let makers: [(String, Make)] = [
            ("warm restarts", { m in
                let o = SGD(m.parameters(), lr: 0.1)
                let s = CosineAnnealingWarmRestarts(o, t0: 2, tMult: 2, etaMin: 0.001)
                s.step(epoch: 2.5)
                return (o, s)
            }),
            ("chained", { m in
                let o = SGD(m.parameters(), lr: 0.1)
                return (o, ChainedScheduler([ConstantLR(o, factor: 0.5, totalIters: 8), ExponentialLR(o, gamma: 0.9)]))
            }),
            ("multistep", { m in
                let o = SGD(m.parameters(), lr: 0.1)
                return (o, MultiStepLR(o, milestones: [3, 7, 9], gamma: 0.5))
            }),
            ("polynomial", { m in
                let o = Adam(m.parameters(), lr: 0.01)
                return (o, PolynomialLR(o, totalIters: 12, power: 0.9))
            }),
            ("multiplicative", { m in
                let o = SGD(m.parameters(), lr: 0.1)
                return (o, MultiplicativeLR(o) { 1 - 0.01 * Double($0) })
            }),
        ]
        for (name, make) in makers {
            func advance(_ o: Optimizer, _ s: LRScheduler, _ n: Int) -> [Double] {
                (0..<n).map { _ -> Double in
                    s.step()
                    return o.lr
                }
            }
            let model = Linear(2, 2)
            let (o1, s1) = make(model)
            let full = advance(o1, s1, 6) + advance(o1, s1, 8)
            let (o2, s2) = make(model)
            _ = advance(o2, s2, 6)
            try Checkpoint.save(to: path, model: model, optimizer: o2, scheduler: s2, epoch: 0, batchIndex: 6)
            let (o3, s3) = make(model)
            _ = try Checkpoint.load(from: path, model: model, optimizer: o3, scheduler: s3)
            XCTAssertEqual(s3.lastEpoch, s2.lastEpoch, name)
            XCTAssertEqual(s3.stateDict(), s2.stateDict(), name)
            XCTAssertEqual(advance(o3, s3, 8), Array(full[6...]), name)
        }
    }

    func testStateDictErrors() {
        let o = Self.sgd()
        let restarts = CosineAnnealingWarmRestarts(o, t0: 3)
        assertThrowsMessage("Error(s) in loading state_dict for CosineAnnealingWarmRestarts:\n\tmissing or invalid \"T_cur\"\n\tmissing or invalid \"T_i\"") {
            try restarts.loadStateDict(["last_epoch": 2, "base_lr": 0.1, "T_cur": -1, "T_i": 1.5])
        }
        XCTAssertEqual(restarts.lastEpoch, 0, "nothing changed")

        let chain = ChainedScheduler([ExponentialLR(o, gamma: 0.9), CosineAnnealingWarmRestarts(o, t0: 2, tMult: 2)])
        for _ in 0..<3 { chain.step() }
        var state = chain.stateDict()
        XCTAssertEqual(state["last_epoch"], 3)
        XCTAssertEqual(state["schedulers.0.last_epoch"], 3)
        XCTAssertEqual(state["schedulers.1.T_cur"], 1)
        XCTAssertEqual(state["schedulers.1.T_i"], 4)
        state["last_epoch"] = 5
        state["schedulers.0.last_epoch"] = 5
        state["schedulers.1.T_i"] = 0
        assertThrowsMessage("Error(s) in loading state_dict for CosineAnnealingWarmRestarts:\n\tmissing or invalid \"T_i\"") {
            try chain.loadStateDict(state)
        }
        XCTAssertEqual(chain.lastEpoch, 3, "nothing changed")
        XCTAssertEqual(chain.schedulers[0].lastEpoch, 3)
        XCTAssertEqual((chain.schedulers[1] as? CosineAnnealingWarmRestarts)?.tI, 4)
    }
}
