import Foundation

/// Changes an optimizer's learning rate once per `step()` (usually once per epoch), as
/// `torch.optim.lr_scheduler` does. Creating a scheduler sets the epoch-0 rate; each `step()`
/// advances `lastEpoch` and writes the new rate into every parameter group, each from its
/// own base rate.
///
/// The rates follow PyTorch's recursive (chainable) formulas, each step computed from the
/// current `optimizer.lr`. They match PyTorch's to within an ulp of a Double: Ember's own
/// `cos` and `pow` (the same on every machine) are not the C library's PyTorch calls.
open class LRScheduler {
    /// The optimizer whose parameter groups' rates this scheduler sets.
    public let optimizer: Optimizer
    /// Each parameter group's base rate: its `initialLR`, which the first scheduler built on
    /// the optimizer sets to the group's rate at that time (PyTorch's `initial_lr`).
    public let baseLRs: [Double]
    /// The base rate of the group being scheduled (in `rate`), else of the first group.
    public var baseLR: Double { baseLRs[group] }
    /// The group whose rate `rate(epoch:current:)` is computing (0 outside it).
    public private(set) var group = 0
    /// Steps taken so far (0 after creation), PyTorch's `last_epoch`. `SequentialLR` moves
    /// its schedulers' back to −1 (not started).
    public internal(set) var lastEpoch: Int = 0

    /// Records each group's base rate (PyTorch: `torch.optim.lr_scheduler.LRScheduler`); subclasses then call `start()`.
    public init(_ optimizer: Optimizer) {
        self.optimizer = optimizer
        for g in optimizer.paramGroups.indices where optimizer.paramGroups[g].initialLR == nil {
            optimizer.paramGroups[g].initialLR = optimizer.paramGroups[g].lr ?? optimizer.lr
        }
        self.baseLRs = optimizer.paramGroups.map { $0.initialLR! }
        lastLRs = optimizer.paramGroups.map { $0.lr ?? optimizer.lr }
    }

    /// Subclasses call this at the end of their init: it applies the epoch-0 rate.
    public final func start() { apply(epoch: 0, closedForm: false) }

    /// The rate for `epoch`, given the group's current rate (for the recursive formulas);
    /// `baseLR` is that group's.
    open func rate(epoch: Int, current: Double) -> Double { current }

    /// The rate for `epoch` from the base rate alone (PyTorch's `_get_closed_form_lr`), for
    /// schedulers that have one; used when a schedule jumps to an epoch (`step(toEpoch:)`).
    open func closedFormRate(epoch: Int) -> Double? { nil }

    /// Advances one epoch and sets every group's learning rate.
    ///
    /// PyTorch: `scheduler.step()`.
    open func step() {
        lastEpoch += 1
        apply(epoch: lastEpoch, closedForm: false)
    }

    /// Jumps to `epoch` and sets the rates from the closed form where the scheduler has one
    /// (PyTorch's `step(epoch)`; `SequentialLR` restarts a scheduler with `step(toEpoch: 0)`).
    public func step(toEpoch epoch: Int) {
        lastEpoch = epoch
        apply(epoch: epoch, closedForm: true)
    }

    /// Writes every group's rate for `epoch`. Subclasses that set more than the rate (the
    /// momentum of `OneCycleLR`) override it and call super.
    open func apply(epoch: Int, closedForm: Bool) {
        for g in optimizer.paramGroups.indices {
            group = g
            let current = optimizer.paramGroups[g].lr ?? baseLRs[g]
            optimizer.paramGroups[g].lr = (closedForm ? closedFormRate(epoch: epoch) : nil) ?? rate(epoch: epoch, current: current)
        }
        group = 0
        lastLRs = optimizer.paramGroups.map { $0.lr ?? optimizer.lr }
    }

    /// The learning rate this scheduler set last (PyTorch's `get_last_lr()`), of the first
    /// group: another scheduler on the same optimizer may have changed it since.
    public var lastLR: Double { lastLRs[0] }
    /// Every group's learning rate as this scheduler set it last (PyTorch's `get_last_lr()`).
    public internal(set) var lastLRs: [Double]

    /// What a checkpoint needs to resume the schedule (the rate itself lives in the optimizer).
    ///
    /// PyTorch: `scheduler.state_dict()`.
    open func stateDict() -> [String: Double] { ["last_epoch": Double(lastEpoch), "base_lr": baseLR] }

    /// Restores `stateDict()`. The base rate must match: it comes from the optimizer the
    /// scheduler was built on.
    ///
    /// PyTorch: `scheduler.load_state_dict(state)`.
    open func loadStateDict(_ dict: [String: Double]) throws {
        guard let epoch = dict["last_epoch"], epoch >= -1, epoch <= 0x1p53, epoch == epoch.rounded() else {
            throw SerializationError.stateDictMismatch(what: "\(type(of: self))", problems: ["missing or invalid \"last_epoch\""])
        }
        guard dict["base_lr"] == baseLR else {
            throw SerializationError.stateDictMismatch(what: "\(type(of: self))", problems: [
                "base_lr \(dict["base_lr"].map { "\($0)" } ?? "missing") differs from this scheduler's \(baseLR)"])
        }
        lastEpoch = Int(epoch)
    }
}

/// Multiplies the learning rate by `gamma` every `stepSize` epochs (PyTorch's `StepLR`):
/// lr = baseLR · gamma^⌊epoch / stepSize⌋.
public final class StepLR: LRScheduler {
    /// Epochs between two decays (PyTorch: `step_size`).
    public let stepSize: Int
    /// The factor applied at each decay.
    public let gamma: Double

    /// PyTorch: `StepLR(optimizer, step_size, gamma)`.
    public init(_ optimizer: Optimizer, stepSize: Int, gamma: Double = 0.1) {
        precondition(stepSize > 0, "StepLR: stepSize must be positive, got \(stepSize)")
        self.stepSize = stepSize
        self.gamma = gamma
        super.init(optimizer)
        start()
    }

    /// The rate after `epoch` steps: multiplied by `gamma` when `epoch` is a multiple of `stepSize`.
    public override func rate(epoch: Int, current: Double) -> Double {
        (epoch == 0 || epoch % stepSize != 0) ? current : current * gamma
    }

    /// baseLR · gamma^⌊epoch / stepSize⌋.
    public override func closedFormRate(epoch: Int) -> Double? {
        baseLR * Kernels.pow(gamma, Double(epoch / stepSize))
    }
}

/// Cosine annealing from the base rate down to `etaMin` over `tMax` epochs (PyTorch's
/// `CosineAnnealingLR`, without restarts): lr = etaMin + (baseLR − etaMin)(1 + cos(π·epoch/tMax))/2.
/// Past `tMax` the cosine continues, rising again, as in PyTorch.
public final class CosineAnnealingLR: LRScheduler {
    /// Epochs of one half cosine period (PyTorch: `T_max`).
    public let tMax: Int
    /// The lowest rate (PyTorch: `eta_min`).
    public let etaMin: Double

    /// PyTorch: `CosineAnnealingLR(optimizer, T_max, eta_min)`.
    public init(_ optimizer: Optimizer, tMax: Int, etaMin: Double = 0) {
        precondition(tMax > 0, "CosineAnnealingLR: tMax must be positive, got \(tMax)")
        self.tMax = tMax
        self.etaMin = etaMin
        super.init(optimizer)
        start()
    }

    /// PyTorch's recursive cosine step from the current rate.
    public override func rate(epoch: Int, current: Double) -> Double {
        // torch's get_lr(), term for term.
        let t = Double(tMax)
        if epoch == 0 { return current }
        if (epoch - 1 - tMax) % (2 * tMax) == 0 {
            return current + (baseLR - etaMin) * (1 - Kernels.cos(Double.pi / t)) / 2
        }
        return (1 + Kernels.cos(Double.pi * Double(epoch) / t)) / (1 + Kernels.cos(Double.pi * Double(epoch - 1) / t))
            * (current - etaMin) + etaMin
    }

    /// etaMin + (baseLR − etaMin) · (1 + cos(π · epoch / tMax)) / 2.
    public override func closedFormRate(epoch: Int) -> Double? {
        etaMin + (baseLR - etaMin) * (1 + Kernels.cos(Double.pi * Double(epoch) / Double(tMax))) / 2
    }
}

/// A linear warm-up (PyTorch's `LinearLR`): the rate goes linearly from
/// `startFactor · baseLR` to `endFactor · baseLR` over `totalIters` steps, then stays.
///
/// ```swift
/// let warmup = LinearLR(optimizer, startFactor: 0.1, totalIters: 5)   // 10% → 100% in 5 epochs
/// ```
public final class LinearLR: LRScheduler {
    /// The factor of the base rate at epoch 0 (PyTorch: `start_factor`).
    public let startFactor: Double
    /// The factor reached after `totalIters` epochs (PyTorch: `end_factor`).
    public let endFactor: Double
    /// Epochs over which the factor moves linearly (PyTorch: `total_iters`).
    public let totalIters: Int

    /// PyTorch: `LinearLR(optimizer, start_factor, end_factor, total_iters)`.
    public init(_ optimizer: Optimizer, startFactor: Double = 1.0 / 3, endFactor: Double = 1, totalIters: Int = 5) {
        precondition(startFactor > 0 && startFactor <= 1, "LinearLR: startFactor must be in (0, 1], got \(startFactor)")
        precondition(endFactor >= 0 && endFactor <= 1, "LinearLR: endFactor must be in [0, 1], got \(endFactor)")
        self.startFactor = startFactor
        self.endFactor = endFactor
        self.totalIters = totalIters
        super.init(optimizer)
        start()
    }

    /// PyTorch's recursive linear step from the current rate.
    public override func rate(epoch: Int, current: Double) -> Double {
        if epoch == 0 { return current * startFactor }
        if epoch > totalIters { return current }
        return current * (1 + (endFactor - startFactor)
            / (Double(totalIters) * startFactor + Double(epoch - 1) * (endFactor - startFactor)))
    }

    /// baseLR · (startFactor + (endFactor − startFactor) · min(epoch, totalIters) / totalIters).
    public override func closedFormRate(epoch: Int) -> Double? {
        baseLR * (startFactor + (endFactor - startFactor) * Double(Swift.min(totalIters, epoch)) / Double(totalIters))
    }
}

// State dicts of schedulers made of others (SequentialLR, ChainedScheduler).
extension LRScheduler {
    /// `own` plus each part's state under `schedulers.<i>.`.
    func compositeStateDict(_ own: [String: Double], parts: [LRScheduler]) -> [String: Double] {
        var d = own
        for (i, s) in parts.enumerated() {
            for (k, v) in s.stateDict() { d["schedulers.\(i).\(k)"] = v }
        }
        return d
    }

    /// Loads a `compositeStateDict`: the entries under `schedulers.<i>.` into part i, the rest
    /// through `loadOwn`. If any load refuses, every part's state and `lastEpoch` are put back.
    func loadCompositeStateDict(_ dict: [String: Double], parts: [LRScheduler],
                                loadOwn: ([String: Double]) throws -> Void) throws {
        var own: [String: Double] = [:], split = Array(repeating: [String: Double](), count: parts.count)
        for (k, v) in dict {
            let comps = k.split(separator: ".", maxSplits: 2).map(String.init)
            if comps.count == 3, comps[0] == "schedulers", let i = Int(comps[1]), split.indices.contains(i) {
                split[i][comps[2]] = v
            } else {
                own[k] = v
            }
        }
        let saved = (lastEpoch, parts.map { $0.stateDict() })
        do {
            try loadOwn(own)
            for (s, d) in zip(parts, split) { try s.loadStateDict(d) }
        } catch {
            lastEpoch = saved.0
            for (s, d) in zip(parts, saved.1) { try? s.loadStateDict(d) }
            throw error
        }
    }
}
