/// Loss functions as tensor ops (the `nn` loss modules call these).

/// How a per-sample loss is reduced (PyTorch's `reduction=`).
public enum Reduction: String, Sendable {
    /// `.none`: one loss per element or sample; `.mean`: their (weighted) mean; `.sum`: their sum.
    case none, mean, sum
}

func checkClassTargets(_ input: Tensor, _ target: Tensor, weight: Tensor?, op: String) throws {
    try expectDType(input, .float32, op: op)
    try expectDType(target, .int64, op: op)
    guard input.ndim == 2 else {
        throw EmberError.shapeMismatch(op: op, message: "expected input of shape (N, C), got \(input.shape)")
    }
    guard target.shape == [input.shape[0]] else {
        throw EmberError.shapeMismatch(op: op, message:
            "expected target of shape [\(input.shape[0])] for input \(input.shape), got \(target.shape)")
    }
    let c = input.shape[1]
    let t = target.contiguous()
    for i in 0..<t.count where t.i64[i] < 0 || t.i64[i] >= Int64(c) {
        throw EmberError.invalidArgument(op: op, message: "target \(t.i64[i]) is out of bounds for \(c) classes")
    }
    if let weight {
        try expectDType(weight, .float32, op: op)
        guard weight.shape == [c] else {
            throw EmberError.shapeMismatch(op: op, message: "weight of shape \(weight.shape) for \(c) classes")
        }
    }
}

/// The loss a class-target kernel reports for `reduction`, and the factor its backward
/// applies to the incoming gradient (1, or 1/Σ weights for the weighted mean).
private func reduced(_ losses: Tensor, total: Double, weightSum: Double,
                     _ reduction: Reduction) -> (loss: Tensor, norm: Float) {
    switch reduction {
    case .none: return (losses, 1)
    case .sum: return (Tensor(scalar: Float(total)), 1)
    case .mean: return (Tensor(scalar: Float(total / weightSum)), Float(1 / weightSum))
    }
}

/// Softmax + cross-entropy in one fused pass (csrc/losses.c): logits (N, C), class indices
/// (N) as int64. Optional class `weight` (C) and `labelSmoothing` follow PyTorch's
/// definitions; the mean is weighted by Σ weight[target].
public func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                         reduction: Reduction = .mean, labelSmoothing: Double = 0) -> Tensor {
    check {
        try checkClassTargets(logits, target, weight: weight, op: "cross_entropy")
        guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
            throw EmberError.invalidArgument(op: "cross_entropy", message: "label_smoothing must be in [0, 1], got \(labelSmoothing)")
        }
    }
    let (n, c) = (logits.shape[0], logits.shape[1])
    let target = target.contiguous(), weight = weight?.contiguous()
    let losses = Tensor(empty: [n]), probs = Tensor(empty: [n, c])
    let eps = Float(labelSmoothing)
    let (total, weightSum) = Kernels.crossEntropyForward(losses.f32, probs.f32, logits.contiguous().f32, target.i64,
                                                         weight?.f32, n: n, c: c, labelSmoothing: eps)
    let (out, norm) = reduced(losses, total: total, weightSum: weightSum, reduction)
    return out.recorded("cross_entropy", [logits], saved: []) { g in
        let dx = Tensor(empty: [n, c])
        Kernels.crossEntropyBackward(dx.f32, probs.f32, target.i64, weight?.f32, g.f32,
                                     dlossStride: reduction == .none ? 1 : 0, norm: norm,
                                     n: n, c: c, labelSmoothing: eps)
        return [dx]
    }
}

/// Negative log-likelihood over log-probabilities (N, C) (use after `logSoftmax`).
public func nllLoss(_ logProbs: Tensor, _ target: Tensor, weight: Tensor? = nil,
                    reduction: Reduction = .mean) -> Tensor {
    check { try checkClassTargets(logProbs, target, weight: weight, op: "nll_loss") }
    let (n, c) = (logProbs.shape[0], logProbs.shape[1])
    let target = target.contiguous(), weight = weight?.contiguous()
    let losses = Tensor(empty: [n])
    let (total, weightSum) = Kernels.nllForward(losses.f32, logProbs.contiguous().f32, target.i64, weight?.f32, n: n, c: c)
    let (out, norm) = reduced(losses, total: total, weightSum: weightSum, reduction)
    return out.recorded("nll_loss", [logProbs], saved: []) { g in
        let dx = Tensor(empty: [n, c])
        Kernels.nllBackward(dx.f32, target.i64, weight?.f32, g.f32, dlossStride: reduction == .none ? 1 : 0,
                            norm: norm, n: n, c: c)
        return [dx]
    }
}

/// Mean squared error (input and target of the same shape).
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    check {
        guard input.shape == target.shape else {
            throw EmberError.shapeMismatch(op: "mse_loss", message:
                "input shape \(input.shape) and target shape \(target.shape) differ")
        }
    }
    let d = input - target
    let sq = d * d
    switch reduction {
    case .none: return sq
    case .sum: return sq.sum()
    case .mean: return sq.mean()
    }
}
