/// Loss modules, called as `lossFn(prediction, target)`; each wraps a loss op
/// (Ops/Losses.swift) with its options.

/// Softmax + cross-entropy over raw logits (N, C) and class indices (N) as int64, in one fused
/// C pass (PyTorch's `nn.CrossEntropyLoss`).
///
/// - Parameters:
///   - weight: optional per-class weights (C); the mean is then divided by Σ weight[target].
///   - reduction: `.mean` (default), `.sum`, or `.none` for one loss per sample.
///   - labelSmoothing: ε in [0, 1]: the target becomes (1−ε)·onehot + ε/C.
///   - ignoreIndex: samples with this target add no loss and no gradient (default −100).
public final class CrossEntropyLoss: CustomStringConvertible {
    /// Per-class weights (C), or nil.
    public let weight: Tensor?
    /// How per-sample losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction
    /// ε: the target becomes (1−ε)·onehot + ε/C.
    public let labelSmoothing: Double
    /// The target value of samples left out (PyTorch's `ignore_index`).
    public let ignoreIndex: Int

    /// PyTorch: `nn.CrossEntropyLoss(weight, ignore_index, reduction, label_smoothing)`.
    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: Reduction = .mean, labelSmoothing: Double = 0) {
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.reduction = reduction
        self.labelSmoothing = labelSmoothing
    }

    /// The loss of logits `input` (N, C) against int64 class indices `target` (N).
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        crossEntropy(input, target, weight: weight, reduction: reduction, labelSmoothing: labelSmoothing, ignoreIndex: ignoreIndex)
    }

    /// `CrossEntropyLoss()`, as PyTorch prints it.
    public var description: String { "CrossEntropyLoss()" }
}

/// Negative log-likelihood over log-probabilities (N, C) and class indices (N) (PyTorch's
/// `nn.NLLLoss`); `LogSoftmax` followed by `NLLLoss` equals `CrossEntropyLoss`.
public final class NLLLoss: CustomStringConvertible {
    /// Per-class weights (C), or nil.
    public let weight: Tensor?
    /// How per-sample losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction

    /// The target value of samples left out (PyTorch's `ignore_index`).
    public let ignoreIndex: Int

    /// PyTorch: `nn.NLLLoss(weight, ignore_index, reduction)`.
    public init(weight: Tensor? = nil, ignoreIndex: Int = -100, reduction: Reduction = .mean) {
        self.weight = weight
        self.ignoreIndex = ignoreIndex
        self.reduction = reduction
    }

    /// The loss of log-probabilities `input` (N, C) against int64 class indices `target` (N).
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        nllLoss(input, target, weight: weight, reduction: reduction, ignoreIndex: ignoreIndex)
    }

    /// `NLLLoss()`, as PyTorch prints it.
    public var description: String { "NLLLoss()" }
}

/// Mean squared error between two tensors of the same shape (PyTorch's `nn.MSELoss`).
public final class MSELoss: CustomStringConvertible {
    /// How per-element losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction

    /// PyTorch: `nn.MSELoss(reduction)`.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    /// The mean (or sum, or each) of (input − target)² over all elements.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        mseLoss(input, target, reduction: reduction)
    }

    /// `MSELoss()`, as PyTorch prints it.
    public var description: String { "MSELoss()" }
}

/// Mean absolute error between two tensors of the same shape (PyTorch's `nn.L1Loss`).
public final class L1Loss: CustomStringConvertible {
    /// How per-element losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction

    /// PyTorch: `nn.L1Loss(reduction)`.
    public init(reduction: Reduction = .mean) { self.reduction = reduction }

    /// The mean (or sum, or each) of |input − target|.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        l1Loss(input, target, reduction: reduction)
    }

    /// `L1Loss()`, as PyTorch prints it.
    public var description: String { "L1Loss()" }
}

/// Squared error below `beta`, absolute error above it (PyTorch's `nn.SmoothL1Loss`).
public final class SmoothL1Loss: CustomStringConvertible {
    /// How per-element losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction
    /// Where the loss turns from quadratic to linear (0: `L1Loss`).
    public let beta: Double

    /// PyTorch: `nn.SmoothL1Loss(reduction, beta)`.
    public init(reduction: Reduction = .mean, beta: Double = 1) { (self.reduction, self.beta) = (reduction, beta) }

    /// `smoothL1Loss(input, target, reduction:beta:)`.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        smoothL1Loss(input, target, reduction: reduction, beta: beta)
    }

    /// `SmoothL1Loss()`, as PyTorch prints it.
    public var description: String { "SmoothL1Loss()" }
}

/// Squared error below `delta`, `delta`·absolute error above it (PyTorch's `nn.HuberLoss`).
public final class HuberLoss: CustomStringConvertible {
    /// How per-element losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction
    /// Where the loss turns from quadratic to linear.
    public let delta: Double

    /// PyTorch: `nn.HuberLoss(reduction, delta)`.
    public init(reduction: Reduction = .mean, delta: Double = 1) { (self.reduction, self.delta) = (reduction, delta) }

    /// `huberLoss(input, target, reduction:delta:)`.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        huberLoss(input, target, reduction: reduction, delta: delta)
    }

    /// `HuberLoss()`, as PyTorch prints it.
    public var description: String { "HuberLoss()" }
}

/// Binary cross-entropy over probabilities in [0, 1] (PyTorch's `nn.BCELoss`); after a
/// `Sigmoid`, prefer `BCEWithLogitsLoss` on the logits.
public final class BCELoss: CustomStringConvertible {
    /// Per-element weights, broadcast against the input, or nil.
    public let weight: Tensor?
    /// How per-element losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction

    /// PyTorch: `nn.BCELoss(weight, reduction)`.
    public init(weight: Tensor? = nil, reduction: Reduction = .mean) { (self.weight, self.reduction) = (weight, reduction) }

    /// `binaryCrossEntropy(input, target, weight:reduction:)`.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        binaryCrossEntropy(input, target, weight: weight, reduction: reduction)
    }

    /// `BCELoss()`, as PyTorch prints it.
    public var description: String { "BCELoss()" }
}

/// Binary cross-entropy on logits, the sigmoid folded in stably (PyTorch's
/// `nn.BCEWithLogitsLoss`), for binary and multi-label classification.
public final class BCEWithLogitsLoss: CustomStringConvertible {
    /// Per-element weights, broadcast against the input, or nil.
    public let weight: Tensor?
    /// Weights of the positive targets, broadcast against the input (one per class), or nil.
    public let posWeight: Tensor?
    /// How per-element losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction

    /// PyTorch: `nn.BCEWithLogitsLoss(weight, reduction, pos_weight)`.
    public init(weight: Tensor? = nil, reduction: Reduction = .mean, posWeight: Tensor? = nil) {
        (self.weight, self.reduction, self.posWeight) = (weight, reduction, posWeight)
    }

    /// `binaryCrossEntropyWithLogits(input, target, weight:posWeight:reduction:)`.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        binaryCrossEntropyWithLogits(input, target, weight: weight, posWeight: posWeight, reduction: reduction)
    }

    /// `BCEWithLogitsLoss()`, as PyTorch prints it.
    public var description: String { "BCEWithLogitsLoss()" }
}

/// The Kullback–Leibler divergence loss over log-probabilities (PyTorch's `nn.KLDivLoss`); use
/// `reduction: .batchMean` for the divergence per sample.
public final class KLDivLoss: CustomStringConvertible {
    /// How the pointwise terms combine.
    public let reduction: KLDivReduction
    /// Whether the target is given as log-probabilities.
    public let logTarget: Bool

    /// PyTorch: `nn.KLDivLoss(reduction, log_target)`.
    public init(reduction: KLDivReduction = .mean, logTarget: Bool = false) {
        (self.reduction, self.logTarget) = (reduction, logTarget)
    }

    /// `klDiv(input, target, reduction:logTarget:)`.
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        klDiv(input, target, reduction: reduction, logTarget: logTarget)
    }

    /// `KLDivLoss()`, as PyTorch prints it.
    public var description: String { "KLDivLoss()" }
}
