/// Loss modules, called as `lossFn(prediction, target)`; each wraps a loss op
/// (Ops/Losses.swift) with its options.

/// Softmax + cross-entropy over raw logits (N, C) and class indices (N) as int64, in one fused
/// C pass (PyTorch's `nn.CrossEntropyLoss`).
///
/// - Parameters:
///   - weight: optional per-class weights (C); the mean is then divided by Σ weight[target].
///   - reduction: `.mean` (default), `.sum`, or `.none` for one loss per sample.
///   - labelSmoothing: ε in [0, 1]: the target becomes (1−ε)·onehot + ε/C.
public final class CrossEntropyLoss: CustomStringConvertible {
    /// Per-class weights (C), or nil.
    public let weight: Tensor?
    /// How per-sample losses combine: `.mean`, `.sum` or `.none`.
    public let reduction: Reduction
    /// ε: the target becomes (1−ε)·onehot + ε/C.
    public let labelSmoothing: Double

    /// PyTorch: `nn.CrossEntropyLoss(weight, reduction, label_smoothing)`.
    public init(weight: Tensor? = nil, reduction: Reduction = .mean, labelSmoothing: Double = 0) {
        self.weight = weight
        self.reduction = reduction
        self.labelSmoothing = labelSmoothing
    }

    /// The loss of logits `input` (N, C) against int64 class indices `target` (N).
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        crossEntropy(input, target, weight: weight, reduction: reduction, labelSmoothing: labelSmoothing)
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

    /// PyTorch: `nn.NLLLoss(weight, reduction)`.
    public init(weight: Tensor? = nil, reduction: Reduction = .mean) {
        self.weight = weight
        self.reduction = reduction
    }

    /// The loss of log-probabilities `input` (N, C) against int64 class indices `target` (N).
    public func callAsFunction(_ input: Tensor, _ target: Tensor) -> Tensor {
        nllLoss(input, target, weight: weight, reduction: reduction)
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
