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
