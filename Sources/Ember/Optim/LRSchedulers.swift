import Foundation

/// One function per parameter group of `optimizer`, checked to be as many as the groups.
func groupLambdas(_ lambdas: [(Int) -> Double], for optimizer: Optimizer, op: String) -> [(Int) -> Double] {
    precondition(lambdas.count == optimizer.paramGroups.count,
                 "\(op): Expected \(optimizer.paramGroups.count) lr_lambdas, but got \(lambdas.count)")
    return lambdas
}

/// The rate is the base rate times a function of the epoch (PyTorch's `LambdaLR`):
/// lr = baseLR · lrLambda(epoch), one function for every group or one per group.
///
/// ```swift
/// let warmup = LambdaLR(optimizer) { step in min(1, Double(step + 1) / 100) }
/// ```
public final class LambdaLR: LRScheduler {
    private let lambdas: [(Int) -> Double]

    /// One function for every parameter group.
    ///
    /// PyTorch: `LambdaLR(optimizer, lr_lambda)`.
    public init(_ optimizer: Optimizer, lrLambda: @escaping (Int) -> Double) {
        lambdas = Array(repeating: lrLambda, count: optimizer.paramGroups.count)
        super.init(optimizer)
        start()
    }

    /// One function per parameter group, in order.
    ///
    /// PyTorch: `LambdaLR(optimizer, [lr_lambda, …])`.
    public init(_ optimizer: Optimizer, lrLambdas: [(Int) -> Double]) {
        lambdas = groupLambdas(lrLambdas, for: optimizer, op: "LambdaLR")
        super.init(optimizer)
        start()
    }

    /// baseLR · lrLambda(epoch) for the group being scheduled.
    public override func rate(epoch: Int, current: Double) -> Double { baseLR * lambdas[group](epoch) }
    /// The same as `rate`: LambdaLR's formula is already closed.
    public override func closedFormRate(epoch: Int) -> Double? { rate(epoch: epoch, current: baseLR) }
}

/// The 1cycle policy (Smith & Topin; PyTorch's `OneCycleLR`), stepped once per batch: the rate
/// rises from maxLR/divFactor to maxLR over the first `pctStart` of `totalSteps`, then anneals
/// to initial/finalDivFactor; with `threePhase`, it first comes back down to the initial rate
/// symmetrically and anneals to the minimum in the last phase. Annealing is cosine or linear.
///
/// With `cycleMomentum` the momentum moves the other way, between `maxMomentum` and
/// `baseMomentum`: SGD's `momentum`, or Adam's and AdamW's `beta1` (Ember's optimizers hold
/// one momentum for all groups, and with scalar base and max momenta every group's cycle is
/// the same). Any other optimizer stops with PyTorch's message.
///
/// The rates equal PyTorch's to within an ulp of a Double (Ember's own `cos`): the same phase
/// boundaries (`pctStart · totalSteps − 1`, …) and formulas. Stepping past `totalSteps` stops with
/// PyTorch's message.
///
/// ```swift
/// let schedule = OneCycleLR(optimizer, maxLR: 0.01, epochs: 10, stepsPerEpoch: loader.count)
/// for batch in loader { …; optimizer.step(); schedule.step() }
/// ```
public final class OneCycleLR: LRScheduler {
    /// How the rate moves within a phase: cosine or linear (PyTorch: `anneal_strategy="cos"` or `"linear"`).
    public enum AnnealStrategy: Sendable { case cos, linear }

    /// Steps in the whole cycle (PyTorch: `total_steps`, or `epochs · steps_per_epoch`).
    public let totalSteps: Int
    /// Each group's peak rate.
    public let maxLRs: [Double]
    /// The peak rate of the group being scheduled (in `rate`), else of the first group.
    public var maxLR: Double { maxLRs[group] }
    /// The fraction of the cycle spent raising the rate (PyTorch: `pct_start`).
    public let pctStart: Double
    /// Cosine or linear annealing within each phase.
    public let annealStrategy: AnnealStrategy
    /// Whether momentum (SGD) or beta1 (Adam) cycles inversely to the rate (PyTorch: `cycle_momentum`).
    public let cycleMomentum: Bool
    /// The momentum at the rate's peak (PyTorch: `base_momentum`).
    public let baseMomentum: Double
    /// The momentum at the cycle's start and end (PyTorch: `max_momentum`).
    public let maxMomentum: Double
    /// The starting rate is maxLR / divFactor (PyTorch: `div_factor`).
    public let divFactor: Double
    /// The final rate is the starting rate / finalDivFactor (PyTorch: `final_div_factor`).
    public let finalDivFactor: Double
    /// A third phase that anneals from the starting rate down to the final one (PyTorch: `three_phase`).
    public let threePhase: Bool

    /// One phase of the cycle: up to `endStep` (inclusive), from one rate / momentum to another.
    private struct Phase {
        let endStep: Double
        let startLR: KeyPath<OneCycleLR, Double>, endLR: KeyPath<OneCycleLR, Double>
        let startMomentum: Double, endMomentum: Double
    }
    private var phases: [Phase] = []

    /// Give `totalSteps`, or `epochs` and `stepsPerEpoch` (total = their product).
    ///
    /// PyTorch: `OneCycleLR(optimizer, max_lr, total_steps, epochs, steps_per_epoch, pct_start, anneal_strategy, cycle_momentum, base_momentum, max_momentum, div_factor, final_div_factor, three_phase)`.
    public convenience init(_ optimizer: Optimizer, maxLR: Double, totalSteps: Int? = nil, epochs: Int? = nil,
                            stepsPerEpoch: Int? = nil, pctStart: Double = 0.3, annealStrategy: AnnealStrategy = .cos,
                            cycleMomentum: Bool = true, baseMomentum: Double = 0.85, maxMomentum: Double = 0.95,
                            divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false) {
        self.init(optimizer, maxLRs: Array(repeating: maxLR, count: optimizer.paramGroups.count), totalSteps: totalSteps,
                  epochs: epochs, stepsPerEpoch: stepsPerEpoch, pctStart: pctStart, annealStrategy: annealStrategy,
                  cycleMomentum: cycleMomentum, baseMomentum: baseMomentum, maxMomentum: maxMomentum,
                  divFactor: divFactor, finalDivFactor: finalDivFactor, threePhase: threePhase)
    }

    /// One peak rate per parameter group (PyTorch's list `max_lr`).
    public init(_ optimizer: Optimizer, maxLRs: [Double], totalSteps: Int? = nil, epochs: Int? = nil,
                stepsPerEpoch: Int? = nil, pctStart: Double = 0.3, annealStrategy: AnnealStrategy = .cos,
                cycleMomentum: Bool = true, baseMomentum: Double = 0.85, maxMomentum: Double = 0.95,
                divFactor: Double = 25, finalDivFactor: Double = 1e4, threePhase: Bool = false) {
        precondition(maxLRs.count == optimizer.paramGroups.count,
                     "OneCycleLR: expected \(optimizer.paramGroups.count) values for max_lr, got \(maxLRs.count)")
        let total: Int
        if let totalSteps {
            precondition(totalSteps > 0, "OneCycleLR: Expected positive integer total_steps, but got \(totalSteps)")
            total = totalSteps
        } else if let epochs, let stepsPerEpoch {
            precondition(epochs > 0, "OneCycleLR: Expected positive integer epochs, but got \(epochs)")
            precondition(stepsPerEpoch > 0, "OneCycleLR: Expected positive integer steps_per_epoch, but got \(stepsPerEpoch)")
            total = epochs * stepsPerEpoch
        } else {
            preconditionFailure("OneCycleLR: You must define either total_steps OR (epochs AND steps_per_epoch)")
        }
        precondition(pctStart >= 0 && pctStart <= 1, "OneCycleLR: Expected float between 0 and 1 pct_start, but got \(pctStart)")
        precondition(!cycleMomentum || optimizer is SGD || optimizer is Adam,
                     "OneCycleLR: optimizer must support momentum or beta1 with `cycle_momentum` option enabled")
        (self.totalSteps, self.maxLRs, self.pctStart, self.annealStrategy) = (total, maxLRs, pctStart, annealStrategy)
        (self.cycleMomentum, self.baseMomentum, self.maxMomentum) = (cycleMomentum, baseMomentum, maxMomentum)
        (self.divFactor, self.finalDivFactor, self.threePhase) = (divFactor, finalDivFactor, threePhase)
        // PyTorch sets every group's initial_lr to maxLR / divFactor: the base rates.
        for g in optimizer.paramGroups.indices { optimizer.paramGroups[g].initialLR = maxLRs[g] / divFactor }
        super.init(optimizer)
        let t = Double(total)
        if threePhase {
            phases = [
                Phase(endStep: pctStart * t - 1, startLR: \.initialRate, endLR: \.maxLR,
                      startMomentum: maxMomentum, endMomentum: baseMomentum),
                Phase(endStep: 2 * pctStart * t - 2, startLR: \.maxLR, endLR: \.initialRate,
                      startMomentum: baseMomentum, endMomentum: maxMomentum),
                Phase(endStep: t - 1, startLR: \.initialRate, endLR: \.minRate,
                      startMomentum: maxMomentum, endMomentum: maxMomentum),
            ]
        } else {
            phases = [
                Phase(endStep: pctStart * t - 1, startLR: \.initialRate, endLR: \.maxLR,
                      startMomentum: maxMomentum, endMomentum: baseMomentum),
                Phase(endStep: t - 1, startLR: \.maxLR, endLR: \.minRate,
                      startMomentum: baseMomentum, endMomentum: maxMomentum),
            ]
        }
        start()
    }

    /// The scheduled group's starting and final rates.
    private var initialRate: Double { baseLR }
    private var minRate: Double { baseLR / finalDivFactor }

    private func anneal(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        switch annealStrategy {
        case .cos: return end + (start - end) / 2.0 * (Kernels.cos(Double.pi * pct) + 1)
        case .linear: return (end - start) * pct + start
        }
    }

    /// The phase of `step` and how far into it (PyTorch's walk over the phases).
    private func position(_ step: Int) -> (Phase, Double) {
        var startStep = 0.0
        for (i, phase) in phases.enumerated() {
            if Double(step) <= phase.endStep || i == phases.count - 1 {
                return (phase, (Double(step) - startStep) / (phase.endStep - startStep))
            }
            startStep = phase.endStep
        }
        fatalError("unreachable")
    }

    /// The rate at step `epoch`, annealed within its phase.
    public override func rate(epoch: Int, current: Double) -> Double {
        let (phase, pct) = position(epoch)
        return anneal(self[keyPath: phase.startLR], self[keyPath: phase.endLR], pct)
    }
    /// The same as `rate`: OneCycleLR's formula is already closed.
    public override func closedFormRate(epoch: Int) -> Double? { rate(epoch: epoch, current: baseLR) }

    /// The momentum (SGD) or beta1 (Adam) for `step`.
    public func momentum(at step: Int) -> Double {
        let (phase, pct) = position(step)
        return anneal(phase.startMomentum, phase.endMomentum, pct)
    }

    /// Advances one step; stepping past `totalSteps` stops with PyTorch's message.
    public override func step() {
        precondition(lastEpoch + 1 <= totalSteps,
                     "OneCycleLR: Tried to step \(lastEpoch + 1) times. The specified number of total steps is \(totalSteps)")
        super.step()
    }

    /// Sets the rates and, with `cycleMomentum`, the SGD momentum or Adam beta1 for `epoch`.
    public override func apply(epoch: Int, closedForm: Bool) {
        super.apply(epoch: epoch, closedForm: closedForm)
        guard cycleMomentum else { return }
        let m = momentum(at: epoch)
        if let sgd = optimizer as? SGD { sgd.momentum = m } else if let adam = optimizer as? Adam { adam.beta1 = m }
    }
}

/// Runs schedulers one after another (PyTorch's `SequentialLR`): `schedulers[0]` until the
/// first milestone, where `schedulers[1]` restarts from its epoch 0, and so on. The classic
/// transformer schedule is a linear warm-up then a cosine decay:
///
/// ```swift
/// let warmup = LinearLR(optimizer, startFactor: 0.01, totalIters: 100)
/// let decay = CosineAnnealingLR(optimizer, tMax: 900)
/// let schedule = SequentialLR(optimizer, schedulers: [warmup, decay], milestones: [100])
/// ```
///
/// As in PyTorch, creating it resets the rates to the groups' initial rates, moves every
/// scheduler back to "not started", and starts the first one.
public final class SequentialLR: LRScheduler {
    /// The schedulers, run one after another.
    public let schedulers: [LRScheduler]
    /// The epochs at which the next scheduler takes over (one fewer than `schedulers`).
    public let milestones: [Int]

    /// PyTorch: `SequentialLR(optimizer, schedulers, milestones)`.
    public init(_ optimizer: Optimizer, schedulers: [LRScheduler], milestones: [Int]) {
        precondition(!schedulers.isEmpty, "SequentialLR: expects at least one scheduler")
        precondition(milestones.count == schedulers.count - 1,
                     "SequentialLR: Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers \(schedulers.count) and the number of milestones to be equal to \(milestones.count)")
        for (i, s) in schedulers.enumerated() {
            precondition(!(s is ReduceLROnPlateau),
                         "SequentialLR: does not support `ReduceLROnPlateau` scheduler as it requires additional kwargs to be specified when calling `step`, but got one at index \(i) in the given schedulers sequence.")
            precondition(s.optimizer === optimizer,
                         "SequentialLR: Sequential Schedulers expects all schedulers to belong to the same optimizer, but got scheduler \(type(of: s)) at index \(i) with another optimizer")
        }
        precondition(zip(milestones, milestones.dropFirst()).allSatisfy { $0 <= $1 } && (milestones.first ?? 0) >= 0,
                     "SequentialLR: milestones must be non-negative and non-decreasing, got \(milestones)")
        self.schedulers = schedulers
        self.milestones = milestones
        super.init(optimizer)
        for g in optimizer.paramGroups.indices { optimizer.paramGroups[g].lr = optimizer.paramGroups[g].initialLR }
        for s in schedulers { s.lastEpoch -= 1 }
        schedulers[0].step()
        lastLRs = schedulers[0].lastLRs
    }

    /// The scheduler in charge at `epoch` (PyTorch's bisect_right over the milestones).
    private func index(at epoch: Int) -> Int { milestones.firstIndex { $0 > epoch } ?? milestones.count }

    /// Advances one epoch; at a milestone the next scheduler restarts from its epoch 0.
    public override func step() {
        lastEpoch += 1
        let i = index(at: lastEpoch)
        if i > 0 && milestones[i - 1] == lastEpoch {
            schedulers[i].step(toEpoch: 0)
        } else {
            schedulers[i].step()
        }
        lastLRs = schedulers[i].lastLRs
    }

    /// Its own position and each scheduler's state under `schedulers.<i>.`.
    public override func stateDict() -> [String: Double] { compositeStateDict(super.stateDict(), parts: schedulers) }

    /// Restores `stateDict()`: its own position and each scheduler's under `schedulers.<i>.`.
    /// Nothing changes if any part is refused.
    public override func loadStateDict(_ dict: [String: Double]) throws {
        try loadCompositeStateDict(dict, parts: schedulers) { try super.loadStateDict($0) }
    }
}

/// Lowers the rate when a metric has stopped improving (PyTorch's `ReduceLROnPlateau`): call
/// `step(_ metric:)` once per epoch with the validation loss (mode `.min`) or accuracy
/// (`.max`). After more than `patience` epochs without improvement each group's rate is
/// multiplied by `factor` (not below its `minLR`; changes smaller than `eps` are skipped),
/// then `cooldown` epochs pass before bad epochs count again.
///
/// Improvement means, with threshold t: `.rel` mode: metric < best·(1 − t) (min) or
/// metric > best·(1 + t) (max); `.abs` mode: metric < best − t or metric > best + t.
///
/// ```swift
/// let plateau = ReduceLROnPlateau(optimizer, mode: .min, factor: 0.5, patience: 2)
/// plateau.step(validationLoss)
/// ```
public final class ReduceLROnPlateau: LRScheduler {
    /// Whether the metric should go down (`.min`, a loss) or up (`.max`, an accuracy).
    public enum Mode: Sendable { case min, max }
    /// Whether `threshold` is relative to the best metric (`.rel`) or absolute (`.abs`).
    public enum ThresholdMode: Sendable { case rel, abs }

    /// Whether lower (`.min`) or higher (`.max`) metrics are better.
    public let mode: Mode
    /// The factor the rate is multiplied by on a plateau.
    public let factor: Double
    /// Epochs without improvement tolerated before the rate is lowered.
    public let patience: Int
    /// The smallest change that counts as an improvement (see `thresholdMode`).
    public let threshold: Double
    /// How `threshold` compares with the best metric.
    public let thresholdMode: ThresholdMode
    /// Epochs to wait after lowering the rate before counting bad epochs again.
    public let cooldown: Int
    /// Each group's lower bound.
    public let minLRs: [Double]
    /// Rate changes smaller than this are skipped.
    public let eps: Double
    /// The best metric so far (±infinity before the first step).
    public private(set) var best: Double
    /// Epochs since the last improvement.
    public private(set) var numBadEpochs = 0
    /// Epochs of cooldown left.
    public private(set) var cooldownCounter = 0

    /// `minLR` bounds every group; `minLRs` gives one bound per group instead.
    ///
    /// PyTorch: `ReduceLROnPlateau(optimizer, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps)`.
    public init(_ optimizer: Optimizer, mode: Mode = .min, factor: Double = 0.1, patience: Int = 10,
                threshold: Double = 1e-4, thresholdMode: ThresholdMode = .rel, cooldown: Int = 0,
                minLR: Double = 0, minLRs: [Double]? = nil, eps: Double = 1e-8) {
        precondition(factor < 1, "ReduceLROnPlateau: Factor should be < 1.0.")
        precondition(cooldown >= 0, "ReduceLROnPlateau: cooldown must be non-negative")
        if let minLRs {
            precondition(minLRs.count == optimizer.paramGroups.count,
                         "ReduceLROnPlateau: expected \(optimizer.paramGroups.count) min_lrs, got \(minLRs.count)")
        }
        (self.mode, self.factor, self.patience, self.threshold) = (mode, factor, patience, threshold)
        (self.thresholdMode, self.cooldown, self.eps) = (thresholdMode, cooldown, eps)
        self.minLRs = minLRs ?? Array(repeating: minLR, count: optimizer.paramGroups.count)
        best = mode == .min ? .infinity : -.infinity
        // PyTorch's ReduceLROnPlateau sets no `initial_lr`: a scheduler built after it starts
        // from the reduced rate, not the original one.
        let initial = optimizer.paramGroups.map(\.initialLR)
        super.init(optimizer)
        for g in optimizer.paramGroups.indices { optimizer.paramGroups[g].initialLR = initial[g] }
    }

    /// Whether `metric` improves on `best`.
    ///
    /// PyTorch: `scheduler.is_better(a, best)`.
    public func isBetter(_ metric: Double, than best: Double) -> Bool {
        switch (mode, thresholdMode) {
        case (.min, .rel): return metric < best * (1 - threshold)
        case (.min, .abs): return metric < best - threshold
        case (.max, .rel): return metric > best * (threshold + 1)
        case (.max, .abs): return metric > best + threshold
        }
    }

    /// One epoch with this value of the watched metric.
    ///
    /// PyTorch: `scheduler.step(metrics)`.
    public func step(_ metric: Double) {
        lastEpoch += 1
        if isBetter(metric, than: best) {
            best = metric
            numBadEpochs = 0
        } else {
            numBadEpochs += 1
        }
        if cooldownCounter > 0 {
            cooldownCounter -= 1
            numBadEpochs = 0
        }
        if numBadEpochs > patience {
            for g in optimizer.paramGroups.indices {
                let old = optimizer.paramGroups[g].lr ?? optimizer.lr
                let new = Swift.max(old * factor, minLRs[g])
                if old - new > eps { optimizer.paramGroups[g].lr = new }
            }
            cooldownCounter = cooldown
            numBadEpochs = 0
        }
        lastLRs = optimizer.paramGroups.map { $0.lr ?? optimizer.lr }
    }

    /// A plateau schedule needs the metric: use `step(_ metric:)`.
    public override func step() {
        preconditionFailure("ReduceLROnPlateau: step() needs the metric, call step(metric)")
    }

    /// Its position plus `best`, `num_bad_epochs` and `cooldown_counter`.
    public override func stateDict() -> [String: Double] {
        var d = super.stateDict()
        d["best"] = best
        d["num_bad_epochs"] = Double(numBadEpochs)
        d["cooldown_counter"] = Double(cooldownCounter)
        return d
    }

    /// Restores `stateDict()`.
    public override func loadStateDict(_ dict: [String: Double]) throws {
        var problems: [String] = []
        func count(_ key: String) -> Int? {
            guard let v = dict[key], v >= 0, v <= 0x1p53, v == v.rounded() else {
                problems.append("missing or invalid \"\(key)\"")
                return nil
            }
            return Int(v)
        }
        let bad = count("num_bad_epochs"), cool = count("cooldown_counter")
        let savedBest = dict["best"]
        if savedBest == nil || savedBest!.isNaN { problems.append("missing or invalid \"best\"") }
        if !problems.isEmpty { throw SerializationError.stateDictMismatch(what: "ReduceLROnPlateau", problems: problems) }
        try super.loadStateDict(dict)
        (best, numBadEpochs, cooldownCounter) = (savedBest!, bad!, cool!)
    }
}
