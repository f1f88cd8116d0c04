/// Parameter-free activation layers over the fused C kernels.

/// max(x, 0) elementwise (PyTorch's `nn.ReLU`).
open class ReLU: Module {
    /// PyTorch: `nn.ReLU()`.
    public override init() { super.init() }
    /// max(x, 0) elementwise; NaN and -0 pass through, as in PyTorch.
    open override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// Softmax along `dim` (PyTorch's `nn.Softmax`): each slice along `dim` becomes positive and
/// sums to 1. `dim` defaults to the last dim.
open class Softmax: Module {
    /// The dim whose slices are normalised.
    public let dim: Int
    /// PyTorch: `nn.Softmax(dim)`.
    public init(dim: Int = -1) {
        self.dim = dim
        super.init()
    }
    /// The softmax of `x` along `dim`.
    open override func forward(_ x: Tensor) -> Tensor { x.softmax(dim: dim) }
    /// The text inside `Softmax(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "dim=\(dim)" }
}

/// log(softmax(x)) along `dim`, computed stably (PyTorch's `nn.LogSoftmax`); pair it with
/// `NLLLoss`.
open class LogSoftmax: Module {
    /// The dim whose slices are normalised.
    public let dim: Int
    /// PyTorch: `nn.LogSoftmax(dim)`.
    public init(dim: Int = -1) {
        self.dim = dim
        super.init()
    }
    /// The log-softmax of `x` along `dim`.
    open override func forward(_ x: Tensor) -> Tensor { x.logSoftmax(dim: dim) }
    /// The text inside `LogSoftmax(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "dim=\(dim)" }
}

/// Returns its input unchanged (PyTorch's `nn.Identity`): a placeholder where a layer is optional.
open class Identity: Module {
    /// PyTorch: `nn.Identity()`.
    public override init() { super.init() }
    /// `x` itself.
    open override func forward(_ x: Tensor) -> Tensor { x }
}

/// x·Φ(x) elementwise (PyTorch's `nn.GELU`): exact (erf), or with `approximate: .tanh`.
open class GELU: Module {
    /// How Φ is computed.
    public let approximate: Tensor.GELUApproximation
    /// PyTorch: `nn.GELU(approximate='none')`.
    public init(approximate: Tensor.GELUApproximation = .none) {
        self.approximate = approximate
        super.init()
    }
    /// `x.gelu(approximate:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.gelu(approximate: approximate) }
    /// The text inside `GELU(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "approximate='\(approximate.rawValue)'" }
}

/// x·σ(x) elementwise, also called swish (PyTorch's `nn.SiLU`).
open class SiLU: Module {
    /// PyTorch: `nn.SiLU()`.
    public override init() { super.init() }
    /// `x.silu()`.
    open override func forward(_ x: Tensor) -> Tensor { x.silu() }
}

/// x·tanh(softplus(x)) elementwise (PyTorch's `nn.Mish`).
open class Mish: Module {
    /// PyTorch: `nn.Mish()`.
    public override init() { super.init() }
    /// `x.mish()`.
    open override func forward(_ x: Tensor) -> Tensor { x.mish() }
}

/// tanh(x) elementwise (PyTorch's `nn.Tanh`).
open class Tanh: Module {
    /// PyTorch: `nn.Tanh()`.
    public override init() { super.init() }
    /// `x.tanh()`.
    open override func forward(_ x: Tensor) -> Tensor { x.tanh() }
}

/// 1 / (1 + e⁻ˣ) elementwise (PyTorch's `nn.Sigmoid`).
open class Sigmoid: Module {
    /// PyTorch: `nn.Sigmoid()`.
    public override init() { super.init() }
    /// `x.sigmoid()`.
    open override func forward(_ x: Tensor) -> Tensor { x.sigmoid() }
}

/// x where x > 0, `negativeSlope`·x elsewhere (PyTorch's `nn.LeakyReLU`).
open class LeakyReLU: Module {
    /// The slope for negative inputs.
    public let negativeSlope: Double
    /// PyTorch: `nn.LeakyReLU(negative_slope=0.01)`.
    public init(negativeSlope: Double = 0.01) {
        self.negativeSlope = negativeSlope
        super.init()
    }
    /// `x.leakyRelu(negativeSlope:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.leakyRelu(negativeSlope: negativeSlope) }
    /// The text inside `LeakyReLU(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "negative_slope=\(Module.pythonFloat(negativeSlope))" }
}

/// x where x > 0, α(eˣ − 1) elsewhere (PyTorch's `nn.ELU`).
open class ELU: Module {
    /// α: the value negative inputs saturate to is −α.
    public let alpha: Double
    /// PyTorch: `nn.ELU(alpha=1.0)`.
    public init(alpha: Double = 1) {
        self.alpha = alpha
        super.init()
    }
    /// `x.elu(alpha:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.elu(alpha: alpha) }
    /// The text inside `ELU(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "alpha=\(Module.pythonFloat(alpha))" }
}

/// log(1 + e^(βx))/β elementwise, and x itself where βx > `threshold` (PyTorch's `nn.Softplus`).
open class Softplus: Module {
    /// β: larger values bring the curve closer to relu.
    public let beta: Double
    /// Above this βx the output is x (the log would round to it).
    public let threshold: Double
    /// PyTorch: `nn.Softplus(beta=1.0, threshold=20.0)`.
    public init(beta: Double = 1, threshold: Double = 20) {
        (self.beta, self.threshold) = (beta, threshold)
        super.init()
    }
    /// `x.softplus(beta:threshold:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.softplus(beta: beta, threshold: threshold) }
    /// The text inside `Softplus(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "beta=\(Module.pythonFloat(beta)), threshold=\(Module.pythonFloat(threshold))" }
}

/// x clamped into [`minVal`, `maxVal`] elementwise (PyTorch's `nn.Hardtanh`).
open class Hardtanh: Module {
    /// The lower bound.
    public let minVal: Double
    /// The upper bound.
    public let maxVal: Double
    /// PyTorch: `nn.Hardtanh(min_val=-1.0, max_val=1.0)`. Fails unless `maxVal > minVal`,
    /// as PyTorch's constructor does.
    public init(minVal: Double = -1, maxVal: Double = 1) {
        precondition(maxVal > minVal, "Hardtanh: maxVal (\(maxVal)) must be greater than minVal (\(minVal))")
        (self.minVal, self.maxVal) = (minVal, maxVal)
        super.init()
    }
    /// `x.hardtanh(minVal:maxVal:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.hardtanh(minVal: minVal, maxVal: maxVal) }
    /// The text inside `Hardtanh(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "min_val=\(Module.pythonFloat(minVal)), max_val=\(Module.pythonFloat(maxVal))" }
}

/// min(max(x, 0), 6) elementwise (PyTorch's `nn.ReLU6`).
open class ReLU6: Module {
    /// PyTorch: `nn.ReLU6()`.
    public override init() { super.init() }
    /// `x.relu6()`.
    open override func forward(_ x: Tensor) -> Tensor { x.relu6() }
}

/// relu6(x + 3) / 6 elementwise (PyTorch's `nn.Hardsigmoid`).
open class Hardsigmoid: Module {
    /// PyTorch: `nn.Hardsigmoid()`.
    public override init() { super.init() }
    /// `x.hardsigmoid()`.
    open override func forward(_ x: Tensor) -> Tensor { x.hardsigmoid() }
}

/// x·relu6(x + 3) / 6 elementwise (PyTorch's `nn.Hardswish`).
open class Hardswish: Module {
    /// PyTorch: `nn.Hardswish()`.
    public override init() { super.init() }
    /// `x.hardswish()`.
    open override func forward(_ x: Tensor) -> Tensor { x.hardswish() }
}

/// log σ(x) elementwise, stably (PyTorch's `nn.LogSigmoid`).
open class LogSigmoid: Module {
    /// PyTorch: `nn.LogSigmoid()`.
    public override init() { super.init() }
    /// `x.logSigmoid()`.
    open override func forward(_ x: Tensor) -> Tensor { x.logSigmoid() }
}

/// Self-normalising ELU elementwise (PyTorch's `nn.SELU`).
open class SELU: Module {
    /// PyTorch: `nn.SELU()`.
    public override init() { super.init() }
    /// `x.selu()`.
    open override func forward(_ x: Tensor) -> Tensor { x.selu() }
}

/// max(0, x) + min(0, α(e^(x/α) − 1)) elementwise (PyTorch's `nn.CELU`).
open class CELU: Module {
    /// α.
    public let alpha: Double
    /// PyTorch: `nn.CELU(alpha=1.0)`.
    public init(alpha: Double = 1) {
        self.alpha = alpha
        super.init()
    }
    /// `x.celu(alpha:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.celu(alpha: alpha) }
    /// The text inside `CELU(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "alpha=\(Module.pythonFloat(alpha))" }
}

/// x / (1 + |x|) elementwise (PyTorch's `nn.Softsign`).
open class Softsign: Module {
    /// PyTorch: `nn.Softsign()`.
    public override init() { super.init() }
    /// `x.softsign()`.
    open override func forward(_ x: Tensor) -> Tensor { x.softsign() }
}

/// The gated linear unit a·σ(b) over the two halves of `dim` (PyTorch's `nn.GLU`).
open class GLU: Module {
    /// The dim that is halved.
    public let dim: Int
    /// PyTorch: `nn.GLU(dim=-1)`.
    public init(dim: Int = -1) {
        self.dim = dim
        super.init()
    }
    /// `x.glu(dim:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.glu(dim: dim) }
    /// The text inside `GLU(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "dim=\(dim)" }
}

/// x where x > 0, a learned slope times x elsewhere: one slope, or one per channel (PyTorch's
/// `nn.PReLU`; state-dict key `weight`).
open class PReLU: Module {
    /// The slopes (`numParameters` of them), initialised to `initValue`.
    public var weight: Tensor
    /// 1, or the number of input channels (dim 1).
    public let numParameters: Int
    /// PyTorch: `nn.PReLU(num_parameters=1, init=0.25)`.
    public init(numParameters: Int = 1, initValue: Double = 0.25) {
        self.numParameters = numParameters
        weight = Tensor.full([numParameters], initValue).requiringGrad()
        super.init()
    }
    /// `x.prelu(weight)`.
    open override func forward(_ x: Tensor) -> Tensor { x.prelu(weight) }
    /// The text inside `PReLU(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "num_parameters=\(numParameters)" }
}
