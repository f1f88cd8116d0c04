/// Normalisation and distances along a dim (PyTorch's `F.normalize`, `F.cosine_similarity`,
/// `F.pairwise_distance`), composed of differentiable ops.

/// x / max(‖x‖ₚ, eps) along `dim` (PyTorch's `F.normalize`).
public func normalize(_ x: Tensor, p: Double = 2, dim: Int = 1, eps: Double = 1e-12) -> Tensor {
    x / x.norm(p: p, dim: dim, keepDim: true).clamp(min: eps)
}

/// The cosine of the angle between `x1` and `x2` along `dim`, each divided by its norm clamped
/// to `eps` first, as PyTorch does (`F.cosine_similarity`); the inputs broadcast.
public func cosineSimilarity(_ x1: Tensor, _ x2: Tensor, dim: Int = 1, eps: Double = 1e-8) -> Tensor {
    let n1 = x1.norm(dim: dim, keepDim: true).clamp(min: eps)
    let n2 = x2.norm(dim: dim, keepDim: true).clamp(min: eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim: dim)
}

/// ‖x1 − x2 + eps‖ₚ over the last dim (PyTorch's `F.pairwise_distance`); the inputs broadcast.
public func pairwiseDistance(_ x1: Tensor, _ x2: Tensor, p: Double = 2, eps: Double = 1e-6,
                             keepDim: Bool = false) -> Tensor {
    (x1 - x2 + eps).norm(p: p, dim: -1, keepDim: keepDim)
}
