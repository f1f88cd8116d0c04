/// Loss functions as tensor ops (the `nn` loss modules call these).

/// How a per-sample loss is reduced (PyTorch's `reduction=`).
public enum Reduction: String, Sendable {
    /// `.none`: one loss per element or sample; `.mean`: their (weighted) mean; `.sum`: their sum.
    case none, mean, sum
}

func checkClassTargets(_ input: Tensor, _ target: Tensor, weight: Tensor?, ignoreIndex: Int = -100, op: String) throws {
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
    for i in 0..<t.count where (t.i64[i] < 0 || t.i64[i] >= Int64(c)) && t.i64[i] != Int64(ignoreIndex) {
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

/// The per-row gradient when rows are left out: `g` times the reduction's factor on the kept
/// rows, exactly 0 on the others. (With every row left out the mean's factor 1/Σw is
/// infinite, and 0·∞ would make the gradient NaN where PyTorch's is 0.) The kernel then
/// applies a factor of 1.
private func keptRowGrad(_ g: Tensor, keep: Tensor?, norm: Float) -> (dloss: Tensor, norm: Float) {
    guard let keep else { return (g, norm) }
    return (Tensor.where(keep > 0, g * Double(norm), Tensor(scalar: Float(0))), 1)
}

/// Targets equal to `ignoreIndex`: the rows to leave out, and the targets with those set to
/// class 0 for the kernels (whose loss and gradient for them are then zeroed). Nil when no
/// row is left out, so the common case runs the kernels alone.
private func ignoredRows(_ target: Tensor, _ ignoreIndex: Int) -> (ignored: [Bool], safeTarget: Tensor)? {
    let n = target.count
    guard (0..<n).contains(where: { target.i64[$0] == Int64(ignoreIndex) }) else { return nil }
    let safe = Tensor(empty: [n], dtype: .int64)
    var ignored = [Bool](repeating: false, count: n)
    for i in 0..<n {
        ignored[i] = target.i64[i] == Int64(ignoreIndex)
        safe.i64[i] = ignored[i] ? 0 : target.i64[i]
    }
    return (ignored, safe)
}

/// A class-target loss with some rows left out: their losses zeroed, the total and the
/// weight sum over the others (PyTorch's mean over no row is NaN, as here), and the
/// per-row factors the backward multiplies the incoming gradient by.
private func leavingOut(_ ignored: [Bool], losses: Tensor, safeTarget: Tensor, weight: Tensor?)
    -> (total: Double, weightSum: Double, keep: Tensor) {
    let keep = Tensor(empty: [ignored.count])
    var weightSum = 0.0
    for (i, skip) in ignored.enumerated() {
        keep.f32[i] = skip ? 0 : 1
        if skip { losses.f32[i] = 0 } else { weightSum += weight.map { Double($0.f32[Int(safeTarget.i64[i])]) } ?? 1 }
    }
    return (Kernels.sum(losses.f32, losses.count), weightSum, keep)
}

/// Softmax + cross-entropy in one fused pass (csrc/losses.c): logits (N, C), class indices
/// (N) as int64. Optional class `weight` (C) and `labelSmoothing` follow PyTorch's
/// definitions; the mean is weighted by Σ weight[target]. Rows whose target is
/// `ignoreIndex` (PyTorch's default −100, the padding label) add no loss, no weight and no
/// gradient.
///
/// As PyTorch's, it also takes (C) logits with a 0-d target, (N, C, d1, …) logits with
/// (N, d1, …) targets (per pixel, for segmentation), and float class probabilities of the
/// logits' shape as targets (soft labels; their mean is over the samples, not the weights).
public func crossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor? = nil,
                         reduction: Reduction = .mean, labelSmoothing: Double = 0, ignoreIndex: Int = -100) -> Tensor {
    if target.dtype == .float32 {
        return softTargetCrossEntropy(logits, target, weight: weight, reduction: reduction, labelSmoothing: labelSmoothing)
    }
    if logits.ndim != 2, let (rows, rowTargets, shape) = classRows(logits, target) {
        let loss = crossEntropy(rows, rowTargets, weight: weight, reduction: reduction, labelSmoothing: labelSmoothing,
                                ignoreIndex: ignoreIndex)
        return reduction == .none ? loss.reshaped(shape) : loss
    }
    check {
        try checkClassTargets(logits, target, weight: weight, ignoreIndex: ignoreIndex, op: "cross_entropy")
        guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
            throw EmberError.invalidArgument(op: "cross_entropy", message: "label_smoothing must be in [0, 1], got \(labelSmoothing)")
        }
    }
    let (n, c) = (logits.shape[0], logits.shape[1])
    let weight = weight?.contiguous()
    let left = ignoredRows(target.contiguous(), ignoreIndex)
    let target = left?.safeTarget ?? target.contiguous()
    let losses = Tensor(empty: [n]), probs = Tensor(empty: [n, c])
    let eps = Float(labelSmoothing)
    var (total, weightSum) = Kernels.crossEntropyForward(losses.f32, probs.f32, logits.contiguous().f32, target.i64,
                                                         weight?.f32, n: n, c: c, labelSmoothing: eps)
    var keep: Tensor?
    if let left { (total, weightSum, keep) = leavingOut(left.ignored, losses: losses, safeTarget: target, weight: weight) }
    let (out, norm) = reduced(losses, total: total, weightSum: weightSum, reduction)
    // The backward indexes rows by the targets: a target written in place since is refused.
    return out.recorded("cross_entropy", [logits], saved: [target]) { g in
        let dx = Tensor(empty: [n, c])
        let (dloss, norm) = keptRowGrad(g, keep: keep, norm: norm)
        Kernels.crossEntropyBackward(dx.f32, probs.f32, target.i64, weight?.f32, dloss.contiguous().f32,
                                     dlossStride: dloss.count == 1 ? 0 : 1, norm: norm,
                                     n: n, c: c, labelSmoothing: eps)
        return [dx]
    }
}

/// Negative log-likelihood over log-probabilities (N, C) (use after `logSoftmax`); rows
/// whose target is `ignoreIndex` are left out, as in `crossEntropy`.
public func nllLoss(_ logProbs: Tensor, _ target: Tensor, weight: Tensor? = nil,
                    reduction: Reduction = .mean, ignoreIndex: Int = -100) -> Tensor {
    if logProbs.ndim != 2, let (rows, rowTargets, shape) = classRows(logProbs, target) {
        let loss = nllLoss(rows, rowTargets, weight: weight, reduction: reduction, ignoreIndex: ignoreIndex)
        return reduction == .none ? loss.reshaped(shape) : loss
    }
    check { try checkClassTargets(logProbs, target, weight: weight, ignoreIndex: ignoreIndex, op: "nll_loss") }
    let (n, c) = (logProbs.shape[0], logProbs.shape[1])
    let weight = weight?.contiguous()
    let left = ignoredRows(target.contiguous(), ignoreIndex)
    let target = left?.safeTarget ?? target.contiguous()
    let losses = Tensor(empty: [n])
    var (total, weightSum) = Kernels.nllForward(losses.f32, logProbs.contiguous().f32, target.i64, weight?.f32, n: n, c: c)
    var keep: Tensor?
    if let left { (total, weightSum, keep) = leavingOut(left.ignored, losses: losses, safeTarget: target, weight: weight) }
    let (out, norm) = reduced(losses, total: total, weightSum: weightSum, reduction)
    return out.recorded("nll_loss", [logProbs], saved: [target]) { g in
        let dx = Tensor(empty: [n, c])
        let (dloss, norm) = keptRowGrad(g, keep: keep, norm: norm)
        Kernels.nllBackward(dx.f32, target.i64, weight?.f32, dloss.contiguous().f32, dlossStride: dloss.count == 1 ? 0 : 1,
                            norm: norm, n: n, c: c)
        return [dx]
    }
}

/// (C) scores with a 0-d target, or (N, C, d1, …) with (N, d1, …): the same as rows (M, C)
/// with targets (M), and the shape of a `.none` result. Nil for other shapes (the (N, C)
/// checks then name them).
private func classRows(_ input: Tensor, _ target: Tensor) -> (Tensor, Tensor, [Int])? {
    if input.ndim == 1 && target.ndim == 0 { return (input.reshaped([1, -1]), target.reshaped([1]), []) }
    guard input.ndim > 2, target.shape == [input.shape[0]] + input.shape.dropFirst(2) else { return nil }
    let classesLast = [0] + Array(2..<input.ndim) + [1]
    return (input.permuted(classesLast).reshaped([-1, input.shape[1]]), target.reshaped([-1]), target.shape)
}

/// Cross-entropy against class probabilities (PyTorch's float targets): −Σ_c w_c·t_c·log
/// softmax(x)_c per sample, with t smoothed to t·(1 − ε) + ε/C; the mean divides by the number
/// of samples. Built from differentiable ops, so the target gets a gradient too.
private func softTargetCrossEntropy(_ logits: Tensor, _ target: Tensor, weight: Tensor?, reduction: Reduction,
                                    labelSmoothing: Double) -> Tensor {
    check {
        try expectDType(logits, .float32, op: "cross_entropy")
        guard logits.ndim >= 1, target.shape == logits.shape else {
            throw EmberError.shapeMismatch(op: "cross_entropy", message:
                "expected class probabilities of the input's shape \(logits.shape), got \(target.shape)")
        }
        guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
            throw EmberError.invalidArgument(op: "cross_entropy", message: "label_smoothing must be in [0, 1], got \(labelSmoothing)")
        }
    }
    let classDim = logits.ndim == 1 ? 0 : 1, c = logits.shape[classDim]
    var t = target
    if labelSmoothing > 0 { t = t * (1 - labelSmoothing) + labelSmoothing / Double(c) }
    var terms = t * logits.logSoftmax(dim: classDim)
    if let weight {
        check {
            guard weight.shape == [c] else {
                throw EmberError.shapeMismatch(op: "cross_entropy", message: "weight of shape \(weight.shape) for \(c) classes")
            }
        }
        var shape = [Int](repeating: 1, count: logits.ndim)
        shape[classDim] = c
        terms = terms * weight.reshaped(shape)
    }
    return reducedElementwise(-terms.sum(dims: [classDim]), reduction)
}

/// Checks shared by the elementwise losses: float32 input and target of one shape.
func checkElementwiseLoss(_ input: Tensor, _ target: Tensor, op: String) throws {
    try expectDType(input, .float32, op: op)
    try expectDType(target, .float32, op: op)
    guard input.shape == target.shape else {
        throw EmberError.shapeMismatch(op: op, message: "input shape \(input.shape) and target shape \(target.shape) differ")
    }
}

private func reducedElementwise(_ losses: Tensor, _ reduction: Reduction) -> Tensor {
    switch reduction {
    case .none: return losses
    case .sum: return losses.sum()
    case .mean: return losses.mean()
    }
}

/// Mean squared error (input and target of the same shape).
public func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    check { try checkElementwiseLoss(input, target, op: "mse_loss") }
    let d = input - target
    return reducedElementwise(d * d, reduction)
}

/// Mean absolute error |input − target| (PyTorch's `F.l1_loss`); the gradient where they are
/// equal is 0.
public func l1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) -> Tensor {
    check { try checkElementwiseLoss(input, target, op: "l1_loss") }
    return reducedElementwise((input - target).abs(), reduction)
}

/// 0.5·d²/β where |d| < β, |d| − 0.5·β elsewhere, d = input − target (PyTorch's
/// `F.smooth_l1_loss`); β = 0 is `l1Loss`.
public func smoothL1Loss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean,
                         beta: Double = 1) -> Tensor {
    check {
        try checkElementwiseLoss(input, target, op: "smooth_l1_loss")
        guard beta >= 0 else {
            throw EmberError.invalidArgument(op: "smooth_l1_loss", message: "beta must not be negative, got \(beta)")
        }
    }
    if beta == 0 { return l1Loss(input, target, reduction: reduction) }
    let z = (input - target).abs()
    return reducedElementwise(Tensor.where(z < beta, z * z * (0.5 / beta), z - 0.5 * beta), reduction)
}

/// 0.5·d² where |d| < δ, δ·(|d| − 0.5·δ) elsewhere, d = input − target (PyTorch's
/// `F.huber_loss`): `smoothL1Loss` with β = δ, times δ.
public func huberLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean,
                      delta: Double = 1) -> Tensor {
    check {
        try checkElementwiseLoss(input, target, op: "huber_loss")
        guard delta > 0 else {
            throw EmberError.invalidArgument(op: "huber_loss", message: "delta must be positive, got \(delta)")
        }
    }
    let z = (input - target).abs()
    return reducedElementwise(Tensor.where(z < delta, z * z * 0.5, (z - 0.5 * delta) * delta), reduction)
}

/// `weight` broadcasts against `input` (PyTorch's rule for these losses).
private func checkLossWeight(_ w: Tensor?, _ name: String, for input: Tensor, op: String) throws {
    guard let w else { return }
    try expectDType(w, .float32, op: op)
    guard (try? broadcastShape(w.shape, input.shape, op: op)) == input.shape else {
        throw EmberError.shapeMismatch(op: op, message: "\(name) of shape \(w.shape) does not broadcast to input shape \(input.shape)")
    }
}

/// Records a loss whose backward is written out as PyTorch's: `elementGrad` is d loss / d input
/// per element (weights included), scaled by the incoming gradient, and by 1/N for the mean.
private func recordedLoss(_ losses: Tensor, _ reduction: Reduction, _ op: String, input: Tensor,
                          target: Tensor? = nil, targetGrad: (() -> Tensor)? = nil,
                          elementGrad: @escaping () -> Tensor) -> Tensor {
    let out = noGrad { reducedElementwise(losses, reduction) }
    let n = Double(input.count)
    func scaled(_ d: Tensor, _ g: Tensor) -> Tensor { reduction == .mean ? d * (g / n) : d * g }
    // The target is an input only when a gradient is wanted for it (and a formula given).
    guard let target, target.requiresGrad, let targetGrad else {
        return out.recorded(op, [input]) { g in [scaled(elementGrad(), g)] }
    }
    return out.recorded(op, [input, target]) { g in [scaled(elementGrad(), g), scaled(targetGrad(), g)] }
}

func checkProbabilities(_ input: Tensor, named name: String = "input", op: String) throws {
    // NaN fails both comparisons, so it counts as outside too.
    let inside: Double = noGrad { ((input >= 0) && (input <= 1)).type(.int64).sum().item() }
    let outside = Double(input.count) - inside
    guard outside == 0 else {
        throw EmberError.invalidArgument(op: op, message:
            "all elements of \(name) should be between 0 and 1 (\(Int(outside)) are not)")
    }
}

/// Binary cross-entropy over probabilities in [0, 1]: −w·(t·log x + (1 − t)·log(1 − x)), each
/// log clamped at −100 (PyTorch's `F.binary_cross_entropy`). The gradient is PyTorch's,
/// w·(x − t) / max(x·(1 − x), 1e-12); the target gets none.
public func binaryCrossEntropy(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                               reduction: Reduction = .mean) -> Tensor {
    check {
        try checkElementwiseLoss(input, target, op: "binary_cross_entropy")
        try checkLossWeight(weight, "weight", for: input, op: "binary_cross_entropy")
        try checkProbabilities(input, op: "binary_cross_entropy")
        try checkProbabilities(target, named: "target", op: "binary_cross_entropy")
    }
    let x = input.detach(), t = target.detach()
    var losses = noGrad { (t - 1) * (-x).log1p().clamp(min: -100) - t * x.log().clamp(min: -100) }
    if let weight { losses = noGrad { losses * weight } }
    return recordedLoss(losses, reduction, "binary_cross_entropy", input: input) {
        let d = (x - t) / Tensor.maximum(x * (1 - x), Tensor(scalar: 1e-12))
        return weight.map { d * $0 } ?? d
    }
}

/// Binary cross-entropy on logits, sigmoid folded in stably (PyTorch's
/// `F.binary_cross_entropy_with_logits`): (1 − t)·x − (1 + (p − 1)·t)·log σ(x), times `weight`,
/// with `posWeight` p (broadcast over the last dim: one per class) weighting the positives.
/// A target that requires grad gets PyTorch's gradient, −x − (p − 1)·log σ(x) times `weight`.
public func binaryCrossEntropyWithLogits(_ input: Tensor, _ target: Tensor, weight: Tensor? = nil,
                                         posWeight: Tensor? = nil, reduction: Reduction = .mean) -> Tensor {
    check {
        try checkElementwiseLoss(input, target, op: "binary_cross_entropy_with_logits")
        try checkLossWeight(weight, "weight", for: input, op: "binary_cross_entropy_with_logits")
        try checkLossWeight(posWeight, "pos_weight", for: input, op: "binary_cross_entropy_with_logits")
    }
    let x = input.detach(), t = target.detach()
    var losses = noGrad { () -> Tensor in
        var logSigmoid = x.logSigmoid()
        if let posWeight { logSigmoid = logSigmoid * ((posWeight - 1) * t + 1) }
        return (1 - t) * x - logSigmoid
    }
    if let weight { losses = noGrad { losses * weight } }
    let targetGrad = { () -> Tensor in
        var d = -x
        if let posWeight { d = d - (posWeight - 1) * x.logSigmoid() }
        return weight.map { d * $0 } ?? d
    }
    return recordedLoss(losses, reduction, "binary_cross_entropy_with_logits", input: input, target: target,
                        targetGrad: targetGrad) {
        var d: Tensor
        if let posWeight {
            let pt = posWeight * t
            d = (pt + 1 - t) * x.sigmoid() - pt
        } else {
            d = x.sigmoid() - t
        }
        if let weight { d = d * weight }
        return d
    }
}

/// How `klDiv` reduces its pointwise terms (PyTorch's `reduction=` for `kl_div`): `.batchMean`,
/// the sum over the batch's size (dim 0), is the KL divergence per sample; `.mean` divides by
/// every element's count, as PyTorch's default does.
public enum KLDivReduction: String, Sendable {
    /// One term per element; their sum; their sum / the batch size; their mean.
    case none, sum, batchMean, mean
}

/// The Kullback–Leibler divergence of `target` from the distribution whose log-probabilities
/// are `input` (PyTorch's `F.kl_div`): target·(log target − input) per element, 0 where the
/// target is 0; with `logTarget`, the target is given as log-probabilities too:
/// e^target·(target − input).
public func klDiv(_ input: Tensor, _ target: Tensor, reduction: KLDivReduction = .mean,
                  logTarget: Bool = false) -> Tensor {
    check { try checkElementwiseLoss(input, target, op: "kl_div") }
    let terms: Tensor
    if logTarget {
        terms = target.exp() * (target - input)
    } else {
        // log of the target where it is positive, of 1 (so 0) where it is 0: the term is then
        // 0·(0 − input), and no gradient meets a log(0).
        let safeLog = Tensor.where(target > 0, target, Tensor(scalar: 1)).log()
        terms = target * (safeLog - input)
    }
    switch reduction {
    case .none: return terms
    case .sum: return terms.sum()
    case .batchMean: return input.ndim == 0 ? terms.sum() : terms.sum() / Double(input.shape[0])
    case .mean: return terms.mean()
    }
}
