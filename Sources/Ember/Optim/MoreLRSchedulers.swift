import Foundation

/// Multiplies the learning rate by `gamma` at each milestone epoch (PyTorch's `MultiStepLR`):
/// lr = baseLR · gamma^(number of milestones ≤ epoch). A milestone listed twice decays twice.
///
/// ```swift
/// let decay = MultiStepLR(optimizer, milestones: [30, 80], gamma: 0.1)   // ×0.1 at 30 and at 80
/// ```
public final class MultiStepLR: LRScheduler {
    /// The epochs at which the rate decays, sorted (PyTorch: `milestones`, a Counter).
    public let milestones: [Int]
    /// The factor applied at each milestone.
    public let gamma: Double

    /// PyTorch: `MultiStepLR(optimizer, milestones, gamma)`.
    public init(_ optimizer: Optimizer, milestones: [Int], gamma: Double = 0.1) {
        self.milestones = milestones.sorted()
        self.gamma = gamma
        super.init(optimizer)
        start()
    }

    /// PyTorch's recursive step: the current rate times gamma^(times `epoch` is a milestone).
    public override func rate(epoch: Int, current: Double) -> Double {
        let hits = milestones.filter { $0 == epoch }.count
        return hits == 0 ? current : current * Kernels.pow(gamma, Double(hits))
    }

    /// baseLR · gamma^(number of milestones ≤ epoch), PyTorch's bisect_right.
    public override func closedFormRate(epoch: Int) -> Double? {
        baseLR * Kernels.pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
    }
}

/// Multiplies the learning rate by `gamma` every epoch (PyTorch's `ExponentialLR`):
/// lr = baseLR · gamma^epoch.
public final class ExponentialLR: LRScheduler {
    /// The factor applied at each step.
    public let gamma: Double

    /// PyTorch: `ExponentialLR(optimizer, gamma)`.
    public init(_ optimizer: Optimizer, gamma: Double) {
        self.gamma = gamma
        super.init(optimizer)
        start()
    }

    /// PyTorch's recursive step: the current rate times `gamma` (unchanged at creation).
    public override func rate(epoch: Int, current: Double) -> Double {
        epoch == 0 ? current : current * gamma
    }

    /// baseLR · gamma^epoch.
    public override func closedFormRate(epoch: Int) -> Double? {
        baseLR * Kernels.pow(gamma, Double(epoch))
    }
}

/// Holds the learning rate at `factor` times the base rate for the first `totalIters` epochs,
/// then at the base rate (PyTorch's `ConstantLR`).
///
/// ```swift
/// let warmup = ConstantLR(optimizer, factor: 0.5, totalIters: 4)   // half the rate for 4 epochs
/// ```
public final class ConstantLR: LRScheduler {
    /// The factor of the base rate before `totalIters` (PyTorch: `factor`).
    public let factor: Double
    /// Epochs at the reduced rate (PyTorch: `total_iters`).
    public let totalIters: Int

    /// PyTorch: `ConstantLR(optimizer, factor, total_iters)`.
    public init(_ optimizer: Optimizer, factor: Double = 1.0 / 3, totalIters: Int = 5) {
        precondition(factor >= 0 && factor <= 1, "ConstantLR: Constant multiplicative factor expected to be between 0 and 1.")
        self.factor = factor
        self.totalIters = totalIters
        super.init(optimizer)
        start()
    }

    /// PyTorch's recursive step: times `factor` at epoch 0, times 1/factor at `totalIters`.
    public override func rate(epoch: Int, current: Double) -> Double {
        if epoch == 0 { return current * factor }
        if epoch != totalIters { return current }
        return current * (1.0 / factor)
    }

    /// baseLR · factor before `totalIters`, baseLR from then on.
    public override func closedFormRate(epoch: Int) -> Double? {
        baseLR * (factor + (epoch >= totalIters ? 1 - factor : 0))
    }
}

/// Decays the learning rate polynomially to 0 over `totalIters` epochs (PyTorch's
/// `PolynomialLR`): lr = baseLR · (1 − min(epoch, totalIters) / totalIters)^power.
public final class PolynomialLR: LRScheduler {
    /// Epochs over which the rate decays to 0 (PyTorch: `total_iters`).
    public let totalIters: Int
    /// The power of the polynomial.
    public let power: Double

    /// PyTorch: `PolynomialLR(optimizer, total_iters, power)`.
    public init(_ optimizer: Optimizer, totalIters: Int = 5, power: Double = 1) {
        self.totalIters = totalIters
        self.power = power
        super.init(optimizer)
        start()
    }

    /// PyTorch's recursive step: the current rate times ((1 − e/T) / (1 − (e − 1)/T))^power,
    /// unchanged at creation and after `totalIters`.
    public override func rate(epoch: Int, current: Double) -> Double {
        if epoch == 0 || epoch > totalIters { return current }
        let t = Double(totalIters)
        let decay = Kernels.pow((1.0 - Double(epoch) / t) / (1.0 - Double(epoch - 1) / t), power)
        return current * decay
    }

    /// baseLR · (1 − min(epoch, totalIters) / totalIters)^power.
    public override func closedFormRate(epoch: Int) -> Double? {
        baseLR * Kernels.pow(1.0 - Double(Swift.min(totalIters, epoch)) / Double(totalIters), power)
    }
}

/// Multiplies the learning rate at each step by a function of the epoch (PyTorch's
/// `MultiplicativeLR`): lr(epoch) = lr(epoch − 1) · lrLambda(epoch), one function for every
/// group or one per group. It has no closed form: `step(toEpoch:)` multiplies the current rate
/// by lrLambda(epoch), as PyTorch's `step(epoch)` does.
///
/// ```swift
/// let decay = MultiplicativeLR(optimizer) { _ in 0.95 }
/// ```
public final class MultiplicativeLR: LRScheduler {
    private let lambdas: [(Int) -> Double]
    /// Whether the rates being applied come from `step(toEpoch:)` (PyTorch's `step(epoch)`),
    /// which multiplies at epoch 0 too; creation (PyTorch's initial step) leaves the rate.
    private var jumping = false

    /// One function for every parameter group.
    ///
    /// PyTorch: `MultiplicativeLR(optimizer, lr_lambda)`.
    public init(_ optimizer: Optimizer, lrLambda: @escaping (Int) -> Double) {
        lambdas = Array(repeating: lrLambda, count: optimizer.paramGroups.count)
        super.init(optimizer)
        start()
    }

    /// One function per parameter group, in order.
    ///
    /// PyTorch: `MultiplicativeLR(optimizer, [lr_lambda, …])`.
    public init(_ optimizer: Optimizer, lrLambdas: [(Int) -> Double]) {
        lambdas = groupLambdas(lrLambdas, for: optimizer, op: "MultiplicativeLR")
        super.init(optimizer)
        start()
    }

    /// The current rate times lrLambda(epoch) for the group being scheduled (unchanged at creation).
    public override func rate(epoch: Int, current: Double) -> Double {
        if epoch == 0 && !jumping { return current }
        return current * lambdas[group](epoch)
    }

    /// Sets the rates, remembering whether this is a jump (`step(toEpoch:)`) for `rate`.
    public override func apply(epoch: Int, closedForm: Bool) {
        jumping = closedForm
        super.apply(epoch: epoch, closedForm: closedForm)
        jumping = false
    }
}

/// Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter; PyTorch's
/// `CosineAnnealingWarmRestarts`): lr = etaMin + (baseLR − etaMin)(1 + cos(π·tCur/tI))/2,
/// where tCur counts the epochs since the last restart and the period tI starts at `t0` and is
/// multiplied by `tMult` at each restart.
///
/// Stepped once per batch with a fractional epoch, as in PyTorch:
///
/// ```swift
/// let schedule = CosineAnnealingWarmRestarts(optimizer, t0: 10, tMult: 2)
/// for epoch in 0..<epochs {
///     for (i, batch) in loader.enumerated() {
///         …; optimizer.step()
///         schedule.step(epoch: Double(epoch) + Double(i) / Double(loader.count))
///     }
/// }
/// ```
///
/// `step()` after `step(epoch:)` goes on from there (PyTorch's interleaving). `step(epoch:)`
/// counts the restarts before `epoch` exactly, where PyTorch takes ⌊log(…)/log(tMult)⌋ in
/// floating point (which can fall an ulp short exactly at a restart, e.g. epoch 242 with
/// t0 2, tMult 3); everywhere else the two agree.
public final class CosineAnnealingWarmRestarts: LRScheduler {
    /// Epochs until the first restart (PyTorch: `T_0`).
    public let t0: Int
    /// The factor by which the period grows at each restart (PyTorch: `T_mult`).
    public let tMult: Int
    /// The lowest rate (PyTorch: `eta_min`).
    public let etaMin: Double
    /// Epochs since the last restart, fractional after `step(epoch:)` (PyTorch: `T_cur`).
    public private(set) var tCur: Double = 0
    /// The current period (PyTorch: `T_i`).
    public private(set) var tI: Int

    /// PyTorch: `CosineAnnealingWarmRestarts(optimizer, T_0, T_mult, eta_min)`.
    public init(_ optimizer: Optimizer, t0: Int, tMult: Int = 1, etaMin: Double = 0) {
        precondition(t0 > 0, "CosineAnnealingWarmRestarts: Expected positive integer T_0, but got \(t0)")
        precondition(tMult >= 1, "CosineAnnealingWarmRestarts: Expected integer T_mult >= 1, but got \(tMult)")
        self.t0 = t0
        self.tMult = tMult
        self.etaMin = etaMin
        self.tI = t0
        super.init(optimizer)
        start()
    }

    /// etaMin + (baseLR − etaMin)(1 + cos(π·tCur/tI))/2 (PyTorch's `get_lr`, already closed).
    public override func rate(epoch: Int, current: Double) -> Double {
        etaMin + (baseLR - etaMin) * (1 + Kernels.cos(Double.pi * tCur / Double(tI))) / 2
    }

    /// Advances one epoch: tCur + 1, restarting (tCur mod tI, tI · tMult) at the end of a period.
    ///
    /// PyTorch: `scheduler.step()`.
    public override func step() {
        if lastEpoch < 0 {
            step(epoch: 0)
            return
        }
        tCur += 1
        if tCur >= Double(tI) {
            tCur = tCur.truncatingRemainder(dividingBy: Double(tI))
            tI *= tMult
        }
        lastEpoch += 1
        apply(epoch: lastEpoch, closedForm: false)
    }

    /// Jumps to `epoch`, which may be fractional (e.g. epoch + batch / batches): tCur and tI
    /// become those of the period holding `epoch`, and `lastEpoch` ⌊epoch⌋.
    ///
    /// PyTorch: `scheduler.step(epoch)`.
    public func step(epoch: Double) {
        precondition(epoch >= 0, "CosineAnnealingWarmRestarts: Expected non-negative epoch, but got \(epoch)")
        precondition(epoch <= 0x1p53, "CosineAnnealingWarmRestarts: epoch \(epoch) is beyond 2^53")
        if epoch >= Double(t0) {
            if tMult == 1 {
                tCur = epoch.truncatingRemainder(dividingBy: Double(t0))
            } else {
                // The periods before `epoch`: t0, t0·tMult, … (PyTorch's n = ⌊log_tMult(epoch/t0·(tMult − 1) + 1)⌋).
                var start = 0, period = t0
                while Double(start) + Double(period) <= epoch {
                    start += period
                    let (next, overflow) = period.multipliedReportingOverflow(by: tMult)
                    period = overflow ? Int.max : next
                }
                tCur = epoch - Double(start)
                tI = period
            }
        } else {
            tI = t0
            tCur = epoch
        }
        lastEpoch = Int(epoch.rounded(.down))
        apply(epoch: lastEpoch, closedForm: false)
    }

    /// The same as `step(epoch: Double(epoch))` (what `SequentialLR` calls at a milestone).
    public override func step(toEpoch epoch: Int) {
        step(epoch: Double(epoch))
    }

    /// Its position plus `T_cur` and `T_i`.
    public override func stateDict() -> [String: Double] {
        var d = super.stateDict()
        d["T_cur"] = tCur
        d["T_i"] = Double(tI)
        return d
    }

    /// Restores `stateDict()`.
    public override func loadStateDict(_ dict: [String: Double]) throws {
        var problems: [String] = []
        let cur: Double? = dict["T_cur"].flatMap { (v: Double) -> Double? in v >= 0 && v <= 0x1p53 ? v : nil }
        let period: Int? = dict["T_i"].flatMap { (v: Double) -> Int? in v >= 1 && v <= 0x1p53 && v == v.rounded() ? Int(v) : nil }
        if cur == nil { problems.append("missing or invalid \"T_cur\"") }
        if period == nil { problems.append("missing or invalid \"T_i\"") }
        guard let cur, let period else {
            throw SerializationError.stateDictMismatch(what: "CosineAnnealingWarmRestarts", problems: problems)
        }
        try super.loadStateDict(dict)
        (tCur, tI) = (cur, period)
    }
}

/// Steps several schedulers together, each `step()` stepping every one in order (PyTorch's
/// `ChainedScheduler`): their recursive formulas compose, each applied to the rate the one
/// before it set. A constant warm-up factor on top of an exponential decay:
///
/// ```swift
/// let schedule = ChainedScheduler([ConstantLR(optimizer, factor: 0.1, totalIters: 20),
///                                  ExponentialLR(optimizer, gamma: 0.9)])
/// ```
///
/// Creating it steps nothing: each scheduler already applied its epoch-0 rate when created.
public final class ChainedScheduler: LRScheduler {
    /// The schedulers, stepped in this order.
    public let schedulers: [LRScheduler]

    /// The optimizer defaults to the first scheduler's; all must share it.
    ///
    /// PyTorch: `ChainedScheduler(schedulers, optimizer)`.
    public init(_ schedulers: [LRScheduler], optimizer: Optimizer? = nil) {
        precondition(!schedulers.isEmpty, "ChainedScheduler: expects at least one scheduler to be chained, but got no scheduler.")
        let shared = optimizer ?? schedulers[0].optimizer
        for (i, s) in schedulers.enumerated() {
            precondition(!(s is ReduceLROnPlateau),
                         "ChainedScheduler: does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be specified when calling `step`, but got one at index \(i) in the given schedulers sequence.")
            precondition(s.optimizer === shared,
                         "ChainedScheduler: expects all schedulers to belong to the same optimizer, but got scheduler \(type(of: s)) at index \(i) with another optimizer")
        }
        self.schedulers = schedulers
        super.init(shared)
    }

    /// Steps every scheduler in order.
    ///
    /// PyTorch: `scheduler.step()`.
    public override func step() {
        for s in schedulers { s.step() }
        lastEpoch += 1
        lastLRs = optimizer.paramGroups.map { $0.lr ?? optimizer.lr }
    }

    /// Its own position and each scheduler's state under `schedulers.<i>.`.
    public override func stateDict() -> [String: Double] { compositeStateDict(super.stateDict(), parts: schedulers) }

    /// Restores `stateDict()`: its own position and each scheduler's under `schedulers.<i>.`.
    /// Nothing changes if any part is refused.
    public override func loadStateDict(_ dict: [String: Double]) throws {
        try loadCompositeStateDict(dict, parts: schedulers) { try super.loadStateDict($0) }
    }
}
