/// Gradient clipping, PyTorch's `torch.nn.utils.clip_grad_norm_` and `clip_grad_value_`:
/// called between `backward()` and `optimizer.step()`, changing the parameters' gradients in
/// place.

/// Scales all gradients together so that their total norm is at most `maxNorm`, and returns
/// that total norm (before clipping) as a 0-d tensor, exactly as PyTorch's
/// `clip_grad_norm_`:
///
///     total = ‖(‖g₁‖_p, ‖g₂‖_p, …)‖_p        (p = ∞: the largest |g|)
///     coef  = min(maxNorm / (total + 1e-6), 1)
///     gᵢ   *= coef                           (for every gradient, also when coef is 1)
///
/// Parameters without a gradient are skipped; with none, the result is 0. Each norm is one
/// reduction in a fixed order (the same bits for any thread count), in the parameters' order,
/// accumulated in double: a total whose square overflows a float (gradients ≳ 1.8e19) stays
/// finite here, where PyTorch's float sum gives infinity (and tiny ones ≲ 1e-23 do not
/// underflow to 0).
/// A NaN or infinite total makes every gradient NaN, as in PyTorch; to throw instead, pass
/// `errorIfNonfinite: true` (the throwing overload).
///
/// - Parameters:
///   - parameters: the tensors whose gradients are clipped.
///   - maxNorm: the largest total norm allowed.
///   - normType: p of the norms (default 2; `.infinity` for the max norm).
///
/// ```swift
/// loss.backward()
/// let norm = clipGradNorm_(model.parameters(), maxNorm: 1.0)
/// optimizer.step()
/// ```
@discardableResult
public func clipGradNorm_(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Tensor {
    let (total, grads) = totalGradNorm(parameters, normType: normType)
    scaleGrads(grads, total: total, maxNorm: maxNorm)
    return Tensor(scalar: total)
}

/// `clipGradNorm_` with PyTorch's `error_if_nonfinite`: when it is true and the total norm is
/// NaN or infinite, throws and leaves the gradients as they were.
///
/// - Parameters:
///   - parameters: the tensors whose gradients are clipped.
///   - maxNorm: the largest total norm allowed.
///   - normType: p of the norms (default 2; `.infinity` for the max norm).
///   - errorIfNonfinite: throw instead of scaling when the total norm is NaN or infinite.
@discardableResult
public func clipGradNorm_(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2,
                          errorIfNonfinite: Bool) throws -> Tensor {
    let (total, grads) = totalGradNorm(parameters, normType: normType)
    if errorIfNonfinite && !total.isFinite {
        throw EmberError.invalidArgument(op: "clip_grad_norm_", message:
            "The total norm of order \(normType) for gradients from `parameters` is non-finite, so it cannot be clipped. "
            + "To disable this error and scale the gradients by the non-finite norm anyway, set `errorIfNonfinite: false`")
    }
    scaleGrads(grads, total: total, maxNorm: maxNorm)
    return Tensor(scalar: total)
}

/// The gradients present and the norm of their norms.
private func totalGradNorm(_ parameters: [Tensor], normType: Double) -> (Float, [Tensor]) {
    let grads = parameters.compactMap(\.grad)
    guard !grads.isEmpty else { return (0, []) }
    let total: Float = noGrad {
        let norms = grads.map { Float($0.norm(p: normType).item()) }
        return Float(Tensor(norms).norm(p: normType).item())
    }
    return (total, grads)
}

private func scaleGrads(_ grads: [Tensor], total: Float, maxNorm: Double) {
    // PyTorch computes max_norm / (total + 1e-6) as reciprocal(total + 1e-6) · max_norm in float.
    let coef = (1 / (total + Float(1e-6))) * Float(maxNorm)
    let clamped = coef.isNaN ? coef : Swift.min(coef, 1)
    noGrad {
        for g in grads { g.mul_(Double(clamped)) }
    }
}

/// Clamps every gradient into [−clipValue, clipValue] in place (PyTorch's
/// `clip_grad_value_`). Parameters without a gradient are skipped.
public func clipGradValue_(_ parameters: [Tensor], clipValue: Double) {
    noGrad {
        for p in parameters { p.grad?.clamp_(min: -clipValue, max: clipValue) }
    }
}
