/// Parameter-free activation layers over the fused C kernels.

/// max(x, 0) elementwise (PyTorch's `nn.ReLU`).
open class ReLU: Module {
    public override init() { super.init() }
    open override func forward(_ x: Tensor) -> Tensor { x.relu() }
}

/// Softmax along `dim` (PyTorch's `nn.Softmax`): each slice along `dim` becomes positive and
/// sums to 1. `dim` defaults to the last dim.
open class Softmax: Module {
    public let dim: Int
    public init(dim: Int = -1) {
        self.dim = dim
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor { x.softmax(dim: dim) }
    open override var extraDescription: String { "dim=\(dim)" }
}

/// log(softmax(x)) along `dim`, computed stably (PyTorch's `nn.LogSoftmax`); pair it with
/// `NLLLoss`.
open class LogSoftmax: Module {
    public let dim: Int
    public init(dim: Int = -1) {
        self.dim = dim
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor { x.logSoftmax(dim: dim) }
    open override var extraDescription: String { "dim=\(dim)" }
}

/// Returns its input unchanged (PyTorch's `nn.Identity`): a placeholder where a layer is optional.
open class Identity: Module {
    public override init() { super.init() }
    open override func forward(_ x: Tensor) -> Tensor { x }
}
