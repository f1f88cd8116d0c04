import Foundation
import XCTest
@testable import Ember

/// LambdaLR, OneCycleLR, SequentialLR and ReduceLROnPlateau: every rate (and OneCycleLR's
/// momentum) after creation and each step equal to PyTorch's
/// (Fixtures/transformer_util.json, made by scripts/make_transformer_util_fixtures.py), and
/// their state through a training checkpoint.
final class SchedulerTests: XCTestCase {
    struct Run: Decodable { let lrs: [[Double]]; let momenta: [Double]? }
    struct Schedulers: Decodable {
        let lambda_two_groups, lambda_one, onecycle_cos, onecycle_linear, onecycle_three_phase, onecycle_adam: Run
        let onecycle_max_lr_per_group: Run
        let sequential_warmup_cosine, sequential_three, plateau_min_rel, plateau_max_abs, plateau_eps: Run
        let plateau_metrics: [Double]
    }
    struct File: Decodable { let schedulers: Schedulers }

    static func fixtures() throws -> Schedulers {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "transformer_util", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).schedulers
    }

    /// The script's `sgd()`: one parameter per group, group i at lr·(i + 1).
    static func sgd(lr: Double = 0.1, groups: Int = 1, momentum: Double = 0) -> SGD {
        let params = (0..<groups).map { _ in Tensor.zeros([1]).requiringGrad() }
        if groups == 1 { return SGD(params, lr: lr, momentum: momentum) }
        return SGD(params.enumerated().map { ParamGroup([$0.element], lr: lr * Double($0.offset + 1)) }, lr: lr, momentum: momentum)
    }

    /// Rates after creation and after each of `steps` steps (and the momentum, if read).
    func run(_ optimizer: Optimizer, _ scheduler: LRScheduler, _ steps: Int, metrics: [Double]? = nil,
             momentum: ((Optimizer) -> Double)? = nil) -> (lrs: [[Double]], momenta: [Double]) {
        var lrs = [scheduler.lastLRs], momenta = momentum.map { [$0(optimizer)] } ?? []
        for s in 0..<steps {
            if let metrics, let plateau = scheduler as? ReduceLROnPlateau { plateau.step(metrics[s]) } else { scheduler.step() }
            lrs.append(scheduler.lastLRs)
            if let momentum { momenta.append(momentum(optimizer)) }
        }
        return (lrs, momenta)
    }

    /// PyTorch's rates to 1e-12 relative: the same formulas in the same order, in Double, but
    /// with Ember's own cos and pow (csrc/ember_math.c, the same bits on every machine), which
    /// may differ from the libm PyTorch used by an ulp; the recursive cosine form amplifies that
    /// near its minimum (1 + cos(π·e/T) is small there). A wrong formula is off by far more.
    func assertSame(_ got: (lrs: [[Double]], momenta: [Double]), _ want: Run, _ what: String,
                    file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(got.lrs.count, want.lrs.count, what, file: file, line: line)
        func close(_ a: [Double], _ b: [Double]) -> Bool {
            a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-12 * abs($1) }
        }
        for (i, (a, b)) in zip(got.lrs, want.lrs).enumerated() where !close(a, b) {
            XCTFail("\(what): lr after step \(i): \(a) vs PyTorch's \(b)", file: file, line: line)
            return
        }
        if let m = want.momenta { XCTAssert(close(got.momenta, m), "\(what): momenta \(got.momenta) vs \(m)", file: file, line: line) }
    }

    func testLambdaLR() throws {
        let f = try Self.fixtures()
        var o = Self.sgd(groups: 2)
        assertSame(run(o, LambdaLR(o, lrLambdas: [{ pow(0.95, Double($0)) }, { min(1.0, Double($0 + 1) / 5) }]), 12),
                   f.lambda_two_groups, "LambdaLR per group")
        o = Self.sgd()
        assertSame(run(o, LambdaLR(o) { 1.0 / Double(1 + $0) }, 8), f.lambda_one, "LambdaLR")
    }

    func testOneCycleLRRatesAndMomenta() throws {
        let f = try Self.fixtures()
        let sgdMomentum: (Optimizer) -> Double = { ($0 as! SGD).momentum }
        var o = Self.sgd(momentum: 0.9)
        assertSame(run(o, OneCycleLR(o, maxLR: 0.1, totalSteps: 20), 20, momentum: sgdMomentum), f.onecycle_cos, "cos")
        o = Self.sgd(momentum: 0.9)
        assertSame(run(o, OneCycleLR(o, maxLR: 0.05, epochs: 3, stepsPerEpoch: 5, pctStart: 0.25, annealStrategy: .linear), 15,
                       momentum: sgdMomentum), f.onecycle_linear, "linear")
        o = Self.sgd(groups: 2, momentum: 0.9)
        assertSame(run(o, OneCycleLR(o, maxLR: 0.2, totalSteps: 23, divFactor: 10, finalDivFactor: 100, threePhase: true), 23,
                       momentum: sgdMomentum), f.onecycle_three_phase, "three phases, two groups")
        o = Self.sgd(groups: 2, momentum: 0.9)
        assertSame(run(o, OneCycleLR(o, maxLRs: [0.1, 0.4], totalSteps: 10, pctStart: 0.4), 10, momentum: sgdMomentum),
                   f.onecycle_max_lr_per_group, "a peak rate per group")
        let adam = Adam([Tensor.zeros([1]).requiringGrad()], lr: 1e-3)
        assertSame(run(adam, OneCycleLR(adam, maxLR: 3e-3, totalSteps: 12, baseMomentum: 0.8, maxMomentum: 0.9), 12,
                       momentum: { ($0 as! Adam).beta1 }), f.onecycle_adam, "Adam's beta1")
        XCTAssertEqual(adam.beta2, 0.999, "beta2 untouched")
        let plain = Self.sgd()
        let noCycle = OneCycleLR(plain, maxLR: 1, totalSteps: 4, cycleMomentum: false)
        noCycle.step()
        XCTAssertEqual(plain.momentum, 0)
    }

    func testSequentialLRWarmupThenCosine() throws {
        let f = try Self.fixtures()
        var o = Self.sgd()
        let warm = LinearLR(o, startFactor: 0.1, totalIters: 5)
        let cos = CosineAnnealingLR(o, tMax: 15, etaMin: 1e-4)
        XCTAssertEqual(cos.baseLRs, [0.1], "the base rate is the group's initial rate, not the warm-up's")
        assertSame(run(o, SequentialLR(o, schedulers: [warm, cos], milestones: [5]), 25), f.sequential_warmup_cosine, "warm-up + cosine")
        o = Self.sgd(groups: 2)
        let a = LinearLR(o, startFactor: 0.25, totalIters: 3), b = StepLR(o, stepSize: 2, gamma: 0.5)
        let c = CosineAnnealingLR(o, tMax: 6)
        assertSame(run(o, SequentialLR(o, schedulers: [a, b, c], milestones: [3, 8]), 16), f.sequential_three, "three schedulers, two groups")
    }

    func testReduceLROnPlateau() throws {
        let f = try Self.fixtures()
        let m = f.plateau_metrics
        var o = Self.sgd(groups: 2)
        let plateau = ReduceLROnPlateau(o, mode: .min, factor: 0.5, patience: 2, cooldown: 1, minLR: 0.03)
        assertSame(run(o, plateau, 20, metrics: m), f.plateau_min_rel, "min, rel, cooldown, minLR")
        XCTAssertEqual(plateau.best, 0.79)
        o = Self.sgd()
        assertSame(run(o, ReduceLROnPlateau(o, mode: .max, factor: 0.1, patience: 1, threshold: 0.05, thresholdMode: .abs), 20,
                       metrics: m.map { -$0 }), f.plateau_max_abs, "max, abs")
        o = Self.sgd(lr: 1e-7)
        assertSame(run(o, ReduceLROnPlateau(o, factor: 0.5, patience: 0, eps: 1e-7), 6, metrics: Array(repeating: 1, count: 6)),
                   f.plateau_eps, "changes below eps are skipped")
        XCTAssertTrue(ReduceLROnPlateau(o, mode: .min, threshold: 0.1).isBetter(0.89, than: 1))
        XCTAssertFalse(ReduceLROnPlateau(o, mode: .min, threshold: 0.1).isBetter(0.91, than: 1))
    }

    /// A run saved mid-schedule and resumed from the checkpoint gives the same rates (and
    /// momenta) as the run that went on.
    func testSchedulersResumeFromACheckpoint() throws {
        let path = NSTemporaryDirectory() + "sched-\(UUID().uuidString).safetensors"
        defer { try? FileManager.default.removeItem(atPath: path) }
        let metrics = (try Self.fixtures()).plateau_metrics
        typealias Make = (Module) -> (Optimizer, LRScheduler)
        let makers: [(String, Make)] = [
            ("sequential", { m in
                let o = SGD(m.parameters(), lr: 0.1)
                return (o, SequentialLR(o, schedulers: [LinearLR(o, startFactor: 0.1, totalIters: 4), CosineAnnealingLR(o, tMax: 10)],
                                        milestones: [4]))
            }),
            ("onecycle", { m in
                let o = SGD(m.parameters(), lr: 0.1, momentum: 0.9)
                return (o, OneCycleLR(o, maxLR: 0.5, totalSteps: 20))
            }),
            ("plateau", { m in
                let o = SGD(m.parameters(), lr: 0.1)
                return (o, ReduceLROnPlateau(o, factor: 0.5, patience: 1, cooldown: 2))
            }),
            ("lambda", { m in
                let o = Adam(m.parameters(), lr: 0.01)
                return (o, LambdaLR(o) { pow(0.9, Double($0)) })
            }),
        ]
        for (name, make) in makers {
            func advance(_ o: Optimizer, _ s: LRScheduler, _ range: Range<Int>) -> [Double] {
                range.map { i in
                    if let p = s as? ReduceLROnPlateau { p.step(metrics[i]) } else { s.step() }
                    return o.lr + ((o as? SGD)?.momentum ?? 0)
                }
            }
            let model = Linear(2, 2)
            let (o1, s1) = make(model)
            let full = advance(o1, s1, 0..<6) + advance(o1, s1, 6..<14)
            let (o2, s2) = make(model)
            _ = advance(o2, s2, 0..<6)
            try Checkpoint.save(to: path, model: model, optimizer: o2, scheduler: s2, epoch: 0, batchIndex: 6)
            let (o3, s3) = make(model)
            _ = try Checkpoint.load(from: path, model: model, optimizer: o3, scheduler: s3)
            XCTAssertEqual(s3.lastEpoch, 6, name)
            XCTAssertEqual(advance(o3, s3, 6..<14), Array(full[6...]), name)
        }
    }

    func testStateDictErrors() {
        let o = Self.sgd()
        let plateau = ReduceLROnPlateau(o)
        assertThrowsMessage("Error(s) in loading state_dict for ReduceLROnPlateau:\n\tmissing or invalid \"num_bad_epochs\"\n\tmissing or invalid \"best\"") {
            try plateau.loadStateDict(["last_epoch": 2, "base_lr": 0.1, "cooldown_counter": 0])
        }
        let seq = SequentialLR(o, schedulers: [LinearLR(o), StepLR(o, stepSize: 2)], milestones: [3])
        seq.step()
        var state = seq.stateDict()
        XCTAssertEqual(state["schedulers.1.last_epoch"], -1, "not started yet")
        state["schedulers.1.last_epoch"] = 1e300
        assertThrowsMessage("Error(s) in loading state_dict for StepLR:\n\tmissing or invalid \"last_epoch\"") { try seq.loadStateDict(state) }
        XCTAssertEqual(seq.lastEpoch, 1, "nothing changed")
        XCTAssertEqual(seq.schedulers[0].lastEpoch, 1)
    }
}
