/// Similarity and distance between two inputs as layers (PyTorch's `nn.CosineSimilarity`,
/// `nn.PairwiseDistance`), called as `layer(x1, x2)`.

/// `cosineSimilarity` as a layer over two inputs (PyTorch's `nn.CosineSimilarity`).
public final class CosineSimilarity: CustomStringConvertible {
    /// The dim the similarity is taken along.
    public let dim: Int
    /// The smallest norm each input is divided by.
    public let eps: Double
    /// PyTorch: `nn.CosineSimilarity(dim=1, eps=1e-8)`.
    public init(dim: Int = 1, eps: Double = 1e-8) { (self.dim, self.eps) = (dim, eps) }
    /// `cosineSimilarity(x1, x2, dim:eps:)`.
    public func callAsFunction(_ x1: Tensor, _ x2: Tensor) -> Tensor { cosineSimilarity(x1, x2, dim: dim, eps: eps) }
    /// `CosineSimilarity()`, as PyTorch prints it.
    public var description: String { "CosineSimilarity()" }
}

/// `pairwiseDistance` as a layer over two inputs (PyTorch's `nn.PairwiseDistance`).
public final class PairwiseDistance: CustomStringConvertible {
    /// The norm's order.
    public let p: Double
    /// Added to the difference before the norm.
    public let eps: Double
    /// Whether the last dim is kept (size 1).
    public let keepDim: Bool
    /// PyTorch: `nn.PairwiseDistance(p=2, eps=1e-6, keepdim=False)`.
    public init(p: Double = 2, eps: Double = 1e-6, keepDim: Bool = false) { (self.p, self.eps, self.keepDim) = (p, eps, keepDim) }
    /// `pairwiseDistance(x1, x2, p:eps:keepDim:)`.
    public func callAsFunction(_ x1: Tensor, _ x2: Tensor) -> Tensor { pairwiseDistance(x1, x2, p: p, eps: eps, keepDim: keepDim) }
    /// `PairwiseDistance()`, as PyTorch prints it.
    public var description: String { "PairwiseDistance()" }
}
