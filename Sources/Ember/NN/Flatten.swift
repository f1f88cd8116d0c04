/// Merges dims `startDim...endDim` into one (PyTorch's `nn.Flatten`). The defaults keep the
/// batch dim: `[64, 1, 28, 28]` → `[64, 784]`. The result is a view (no copy).
///
/// ```swift
/// let flatten = Flatten()
/// flatten(Tensor.zeros([64, 1, 28, 28])).shape   // [64, 784]
/// ```
open class Flatten: Module {
    /// The first dim merged.
    public let startDim: Int
    /// The last dim merged (negative counts from the end).
    public let endDim: Int

    /// PyTorch: `nn.Flatten(start_dim, end_dim)`.
    public init(startDim: Int = 1, endDim: Int = -1) {
        self.startDim = startDim
        self.endDim = endDim
        super.init()
    }

    /// `x.flattened(startDim:endDim:)`, a view.
    open override func forward(_ x: Tensor) -> Tensor { x.flattened(startDim: startDim, endDim: endDim) }

    /// The text inside `Flatten(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "start_dim=\(startDim), end_dim=\(endDim)" }
}

/// Splits dim `dim` into `unflattenedSize` (PyTorch's `nn.Unflatten`), the inverse of
/// `Flatten`: `[64, 784]` → `[64, 1, 28, 28]` with `Unflatten(dim: 1, unflattenedSize: [1, 28, 28])`.
open class Unflatten: Module {
    /// The dim that is split.
    public let dim: Int
    /// The sizes it is split into (one may be −1).
    public let unflattenedSize: [Int]

    /// PyTorch: `nn.Unflatten(dim, unflattened_size)`.
    public init(dim: Int, unflattenedSize: [Int]) {
        (self.dim, self.unflattenedSize) = (dim, unflattenedSize)
        super.init()
    }

    /// `x.unflattened(dim:sizes:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.unflattened(dim: dim, sizes: unflattenedSize) }

    /// The text inside `Unflatten(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "dim=\(dim), unflattened_size=\(Module.pythonTuple(unflattenedSize))" }
}
