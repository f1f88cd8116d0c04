/// Normalisation layers (PyTorch's `nn.BatchNorm1d`, `nn.BatchNorm2d`, `nn.LayerNorm`,
/// `nn.GroupNorm`) with PyTorch's parameter and buffer names, defaults and train/eval
/// behaviour.

/// The shared body of BatchNorm1d and BatchNorm2d (PyTorch's `_BatchNorm`). In training
/// mode it normalises by the batch's statistics and updates the running estimates
/// (`momentum`, or the cumulative average when nil); in evaluation mode it uses them.
open class BatchNormBase: Module {
    public let numFeatures: Int
    public let eps: Double
    public let momentum: Double?
    public let affine: Bool
    public let trackRunningStats: Bool
    /// γ (numFeatures), ones at first; nil unless `affine`.
    public var weight: Tensor?
    /// β (numFeatures), zeros at first; nil unless `affine`.
    public var bias: Tensor?
    @Buffer public var runningMean: Tensor?
    @Buffer public var runningVar: Tensor?
    /// The number of training batches seen (int64 scalar): the cumulative average's count.
    @Buffer public var numBatchesTracked: Tensor?

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

    /// Resets the running statistics to their initial values (`reset_running_stats`).
    public func resetRunningStats() {
        noGrad {
            runningMean?.copy_(Tensor.zeros([numFeatures]))
            runningVar?.copy_(Tensor.ones([numFeatures]))
            numBatchesTracked?.copy_(Tensor.zeros([], dtype: .int64))
        }
    }

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

    open override var extraDescription: String {
        let m = momentum.map { "\($0)" } ?? "None"
        return "\(numFeatures), eps=\(Module.pythonFloat(eps)), momentum=\(m), affine=\(affine ? "True" : "False"), track_running_stats=\(trackRunningStats ? "True" : "False")"
    }
}

/// `BatchNorm2d(32)` over (N, C, H, W).
open class BatchNorm2d: BatchNormBase {
    open override func checkInputDim(_ x: Tensor) throws {
        guard x.ndim == 4 else {
            throw EmberError.shapeMismatch(op: "BatchNorm2d", message: "expected 4D input (got \(x.ndim)D input)")
        }
    }
}

/// `BatchNorm1d(128)` over (N, C) or (N, C, L).
open class BatchNorm1d: BatchNormBase {
    open override func checkInputDim(_ x: Tensor) throws {
        guard x.ndim == 2 || x.ndim == 3 else {
            throw EmberError.shapeMismatch(op: "BatchNorm1d", message: "expected 2D or 3D input (got \(x.ndim)D input)")
        }
    }
}

/// `LayerNorm([512])`: normalises over the last dims, with an elementwise affine of that shape.
open class LayerNorm: Module {
    public let normalizedShape: [Int]
    public let eps: Double
    public let elementwiseAffine: Bool
    public var weight: Tensor?
    public var bias: Tensor?

    public init(_ normalizedShape: [Int], eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        (self.normalizedShape, self.eps, self.elementwiseAffine) = (normalizedShape, eps, elementwiseAffine)
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
        self.bias = elementwiseAffine && bias ? Tensor.zeros(normalizedShape).requiringGrad() : nil
        super.init()
    }

    public convenience init(_ normalizedShape: Int, eps: Double = 1e-5, elementwiseAffine: Bool = true, bias: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine, bias: bias)
    }

    open override func forward(_ x: Tensor) -> Tensor { layerNorm(x, normalizedShape, weight: weight, bias: bias, eps: eps) }

    open override var extraDescription: String {
        let shape = normalizedShape.count == 1 ? "(\(normalizedShape[0]),)" : "(" + normalizedShape.map(String.init).joined(separator: ", ") + ")"
        return "\(shape), eps=\(Module.pythonFloat(eps)), elementwise_affine=\(elementwiseAffine ? "True" : "False")"
    }
}

/// `GroupNorm(numGroups: 4, numChannels: 32)`: channels in groups normalised together.
open class GroupNorm: Module {
    public let numGroups: Int, numChannels: Int
    public let eps: Double
    public let affine: Bool
    public var weight: Tensor?
    public var bias: Tensor?

    public init(numGroups: Int, numChannels: Int, eps: Double = 1e-5, affine: Bool = true) {
        precondition(numGroups > 0 && numChannels % numGroups == 0, "GroupNorm: num_channels must be divisible by num_groups")
        (self.numGroups, self.numChannels, self.eps, self.affine) = (numGroups, numChannels, eps, affine)
        weight = affine ? Tensor.ones([numChannels]).requiringGrad() : nil
        bias = affine ? Tensor.zeros([numChannels]).requiringGrad() : nil
        super.init()
    }

    open override func forward(_ x: Tensor) -> Tensor { groupNorm(x, numGroups: numGroups, weight: weight, bias: bias, eps: eps) }

    open override var extraDescription: String {
        "\(numGroups), \(numChannels), eps=\(Module.pythonFloat(eps)), affine=\(affine ? "True" : "False")"
    }
}

extension Module {
    /// A float as Python's repr prints it (`1e-05`, `0.1`).
    static func pythonFloat(_ x: Double) -> String { "\(x)" }
}
