/// Normalisation layers (PyTorch's `nn.BatchNorm1d`, `nn.BatchNorm2d`, `nn.LayerNorm`,
/// `nn.GroupNorm`) with PyTorch's parameter and buffer names, defaults and train/eval
/// behaviour.

/// The shared body of BatchNorm1d and BatchNorm2d (PyTorch's `_BatchNorm`). In training
/// mode it normalises by the batch's statistics and updates the running estimates
/// (`momentum`, or the cumulative average when nil); in evaluation mode it uses them.
open class BatchNormBase: Module {
    /// C, the number of channels normalised (PyTorch: `num_features`).
    public let numFeatures: Int
    /// Added to the variance before the square root.
    public let eps: Double
    /// The running statistics' update factor; nil: a cumulative average over the batches seen.
    public let momentum: Double?
    /// Whether the layer has the learnable `weight` and `bias`.
    public let affine: Bool
    /// Whether the layer keeps running statistics for evaluation (PyTorch: `track_running_stats`).
    public let trackRunningStats: Bool
    /// γ (numFeatures), ones at first; nil unless `affine`.
    public var weight: Tensor?
    /// β (numFeatures), zeros at first; nil unless `affine`.
    public var bias: Tensor?
    /// The running mean (numFeatures), a buffer (state-dict key `running_mean`); nil unless `trackRunningStats`.
    @Buffer public var runningMean: Tensor?
    /// The running variance (numFeatures), a buffer (state-dict key `running_var`); nil unless `trackRunningStats`.
    @Buffer public var runningVar: Tensor?
    /// The number of training batches seen (int64 scalar): the cumulative average's count.
    @Buffer public var numBatchesTracked: Tensor?

    /// PyTorch: `nn.BatchNorm2d(num_features, eps, momentum, affine, track_running_stats)` and its 1-D form.
    public init(_ numFeatures: Int, eps: Double = 1e-5, momentum: Double? = 0.1, affine: Bool = true,
                trackRunningStats: Bool = true) {
        precondition(numFeatures > 0, "BatchNorm: num_features must be positive, got \(numFeatures)")
        (self.numFeatures, self.eps, self.momentum, self.affine, self.trackRunningStats) = (numFeatures, eps, momentum, affine, trackRunningStats)
        weight = affine ? Tensor.ones([numFeatures]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([numFeatures]).requiringGrad() : nil
        runningMean = trackRunningStats ? Tensor.zeros([numFeatures]) : nil
        runningVar = trackRunningStats ? Tensor.ones([numFeatures]) : nil
        numBatchesTracked = trackRunningStats ? Tensor.zeros([], dtype: .int64) : nil
        super.init()
    }

    /// Throws PyTorch's message for an input of the wrong rank.
    open func checkInputDim(_ x: Tensor) throws {}

    /// `num_batches_tracked` may be absent from a state dict, as PyTorch allows.
    open override func optionalStateNames() -> Set<String> { ["num_batches_tracked"] }

    /// Resets the running statistics to their initial values (`reset_running_stats`).
    ///
    /// PyTorch: `reset_running_stats()`.
    public func resetRunningStats() {
        noGrad {
            runningMean?.copy_(Tensor.zeros([numFeatures]))
            runningVar?.copy_(Tensor.ones([numFeatures]))
            numBatchesTracked?.copy_(Tensor.zeros([], dtype: .int64))
        }
    }

    /// Normalises `x` by the batch's statistics in training mode (updating the running ones), by the running ones in evaluation mode.
    open override func forward(_ x: Tensor) -> Tensor {
        check { try checkInputDim(x) }
        var factor = momentum ?? 0
        if isTraining && trackRunningStats, let count = numBatchesTracked {
            count.copy_(Tensor([Int(count.item()) + 1], shape: []))
            if momentum == nil { factor = 1 / count.item() }
        }
        let useBatchStats = isTraining || (runningMean == nil && runningVar == nil)
        let track = !isTraining || trackRunningStats
        return batchNorm(x, runningMean: track ? runningMean : nil, runningVar: track ? runningVar : nil,
                         weight: weight, bias: bias, training: useBatchStats, momentum: factor, eps: eps)
    }

    /// The text inside `BatchNorm2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        let m = momentum.map { "\($0)" } ?? "None"
        return "\(numFeatures), eps=\(Module.pythonFloat(eps)), momentum=\(m), affine=\(affine ? "True" : "False"), track_running_stats=\(trackRunningStats ? "True" : "False")"
    }
}

/// `BatchNorm2d(32)` over (N, C, H, W).
///
/// PyTorch: `nn.BatchNorm2d`.
open class BatchNorm2d: BatchNormBase {
    /// Requires a 4-D input (N, C, H, W).
    open override func checkInputDim(_ x: Tensor) throws {
        guard x.ndim == 4 else {
            throw EmberError.shapeMismatch(op: "BatchNorm2d", message: "expected 4D input (got \(x.ndim)D input)")
        }
    }
}

/// `BatchNorm1d(128)` over (N, C) or (N, C, L).
///
/// PyTorch: `nn.BatchNorm1d`.
open class BatchNorm1d: BatchNormBase {
    /// Requires a 2-D (N, C) or 3-D (N, C, L) input.
    open override func checkInputDim(_ x: Tensor) throws {
        guard x.ndim == 2 || x.ndim == 3 else {
            throw EmberError.shapeMismatch(op: "BatchNorm1d", message: "expected 2D or 3D input (got \(x.ndim)D input)")
        }
    }
}

/// `LayerNorm([512])`: normalises over the last dims, with an elementwise affine of that shape.
///
/// PyTorch: `nn.LayerNorm`.
open class LayerNorm: Module {
    /// The trailing dims normalised together (PyTorch: `normalized_shape`).
    public let normalizedShape: [Int]
    /// Added to the variance before the square root.
    public let eps: Double
    /// Whether the layer has a learnable elementwise `weight` (and `bias`) of `normalizedShape`.
    public let elementwiseAffine: Bool
    /// γ of `normalizedShape`, ones at first; nil without `elementwiseAffine`.
    public var weight: Tensor?
    /// β of `normalizedShape`, zeros at first; nil without `elementwiseAffine` or with `bias: false`.
    public var bias: Tensor?

    /// PyTorch: `nn.LayerNorm(normalized_shape, eps, elementwise_affine, bias)`.
    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        (self.normalizedShape, self.eps, self.elementwiseAffine) = (normalizedShape, eps, elementwiseAffine)
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
        self.bias = elementwiseAffine && bias ? Tensor.zeros(normalizedShape).requiringGrad() : nil
        super.init()
    }

    /// `LayerNorm(512)`: normalises over the last dim.
    public convenience init(_ normalizedShape: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    /// Normalises `x` over its last `normalizedShape.count` dims, then applies the affine.
    open override func forward(_ x: Tensor) -> Tensor { layerNorm(x, normalizedShape, weight: weight, bias: bias, eps: eps) }

    /// The text inside `LayerNorm(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        return "\(Module.pythonTuple(normalizedShape)), eps=\(Module.pythonFloat(eps)), elementwise_affine=\(elementwiseAffine ? "True" : "False")"
    }
}

/// `GroupNorm(numGroups: 4, numChannels: 32)`: channels in groups normalised together.
///
/// PyTorch: `nn.GroupNorm`.
open class GroupNorm: Module {
    /// G, the number of groups, and C, the channels (divisible by G).
    public let numGroups: Int, numChannels: Int
    /// Added to the variance before the square root.
    public let eps: Double
    /// Whether the layer has a learnable per-channel `weight` and `bias`.
    public let affine: Bool
    /// γ (numChannels), ones at first; nil unless `affine`.
    public var weight: Tensor?
    /// β (numChannels), zeros at first; nil unless `affine`.
    public var bias: Tensor?

    /// PyTorch: `nn.GroupNorm(num_groups, num_channels, eps, affine)`.
    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true) {
        precondition(numGroups > 0 && numChannels % numGroups == 0, "GroupNorm: num_channels must be divisible by num_groups")
        (self.numGroups, self.numChannels, self.eps, self.affine) = (numGroups, numChannels, eps, affine)
        weight = affine ? Tensor.ones([numChannels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([numChannels]).requiringGrad() : nil
        super.init()
    }

    /// Normalises each group of channels of (N, C, …) over the group's channels and positions.
    open override func forward(_ x: Tensor) -> Tensor { groupNorm(x, numGroups: numGroups, weight: weight, bias: bias, eps: eps) }

    /// The text inside `GroupNorm(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        "\(numGroups), \(numChannels), eps=\(Module.pythonFloat(eps)), affine=\(affine ? "True" : "False")"
    }
}

extension Module {
    /// A float as Python's repr prints it (`1e-05`, `0.1`).
    static func pythonFloat(_ x: Double) -> String { "\(x)" }
    /// Integers as a Python tuple prints them (`(512,)`, `(1, 2, 3, 4)`).
    static func pythonTuple(_ values: [Int]) -> String {
        values.count == 1 ? "(\(values[0]),)" : "(" + values.map(String.init).joined(separator: ", ") + ")"
    }
}
