/// Normalisation (PyTorch's `F.batch_norm`, `F.layer_norm`, `F.group_norm`) on csrc/norm.c:
/// statistics in double, per channel or row on one thread, so the bits never depend on the
/// thread count.

/// Batch normalisation over dim 1 of (N, C, *) input (PyTorch's `F.batch_norm`). In
/// training, normalises by the batch's mean and biased variance and, when given, updates
/// `runningMean`/`runningVar` in place with `momentum` (the unbiased variance, as PyTorch);
/// otherwise normalises by the running estimates.
public func batchNorm(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor? = nil,
                      bias: Tensor? = nil, training: Bool = false, momentum: Double = 0.1, eps: Double = 1e-5) -> Tensor {
    var out: Tensor!
    check {
        out = try batchNormChecked(input, runningMean: runningMean, runningVar: runningVar, weight: weight, bias: bias,
                                   training: training, momentum: momentum, eps: eps)
    }
    return out
}

func batchNormChecked(_ input: Tensor, runningMean: Tensor?, runningVar: Tensor?, weight: Tensor?, bias: Tensor?,
                      training: Bool, momentum: Double, eps: Double) throws -> Tensor {
    let op = "batch_norm"
    try expectDType(input, .float32, op: op)
    guard input.ndim >= 2 else {
        throw EmberError.shapeMismatch(op: op, message: "expected at least 2D input (got \(input.ndim)D input)")
    }
    let (n, c) = (input.shape[0], input.shape[1])
    let s = input.shape.dropFirst(2).reduce(1, *)
    for (name, t) in [("running_mean", runningMean), ("running_var", runningVar), ("weight", weight), ("bias", bias)] {
        if let t { try expectDType(t, .float32, op: "\(op) \(name)") }
        if let t, t.shape != [c] {
            throw EmberError.shapeMismatch(op: op, message: "\(name) should contain \(c) elements not \(t.count)")
        }
    }
    if training && n * s == 1 {
        throw EmberError.invalidArgument(op: op, message: "Expected more than 1 value per channel when training, got input size \(input.shape)")
    }
    if !training && (runningMean == nil || runningVar == nil) {
        throw EmberError.invalidArgument(op: op, message: "running_mean and running_var must be defined in evaluation mode")
    }
    // An empty batch, as PyTorch's: an empty result, the running statistics left alone.
    if n * s == 0 { return input * 0 }
    let x = input.contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
    let mean = Tensor(empty: [c]), invstd = Tensor(empty: [c])
    if training {
        let variance = Tensor(empty: [c])
        Kernels.batchNormStats(mean: mean.f32, variance: variance.f32, x.f32, n: n, c: c, s: s)
        let v = variance.toArray()
        for i in 0..<c { invstd.f32[i] = Float(1 / (Double(v[i]) + eps).squareRoot()) }
        noGrad {
            let m = Float(momentum), count = Float(n * s)
            if let runningMean { runningMean.mul_(Double(1 - m)).add_(mean, alpha: Double(m)) }
            if let runningVar {
                let unbiased = variance * Double(count / (count - 1))
                runningVar.mul_(Double(1 - m)).add_(unbiased, alpha: Double(m))
            }
        }
    } else {
        let rm = runningMean!.contiguous().toArray(), rv = runningVar!.contiguous().toArray()
        for i in 0..<c {
            mean.f32[i] = rm[i]
            invstd.f32[i] = Float(1 / (Double(rv[i]) + eps).squareRoot())
        }
    }
    let out = Tensor(empty: input.shape)
    Kernels.batchNormForward(out.f32, x.f32, mean: mean.f32, invstd: invstd.f32, weight: w?.f32, bias: b?.f32, n: n, c: c, s: s)
    var inputs = [x]
    if let w { inputs.append(w) }
    if let b { inputs.append(b) }
    return out.recorded(training ? "native_batch_norm" : "batch_norm_eval", inputs) { g in
        let dx = x.requiresGrad ? Tensor(empty: x.shape) : nil
        let dw = (w?.requiresGrad ?? false) ? Tensor(empty: [c]) : nil
        let db = (b?.requiresGrad ?? false) ? Tensor(empty: [c]) : nil
        Kernels.batchNormBackward(dInput: dx?.f32, dWeight: dw?.f32, dBias: db?.f32, dOut: g.f32, input: x.f32,
                                  mean: mean.f32, invstd: invstd.f32, weight: w?.f32, n: n, c: c, s: s, training: training)
        var grads: [Tensor?] = [dx]
        if w != nil { grads.append(dw) }
        if b != nil { grads.append(db) }
        return grads
    }
}

/// Layer normalisation over the last dims given by `normalizedShape` (PyTorch's
/// `F.layer_norm`): each row's mean and biased variance, then ·weight + bias.
public func layerNorm(_ input: Tensor, _ normalizedShape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                      eps: Double = 1e-5) -> Tensor {
    var out: Tensor!
    check { out = try layerNormChecked(input, normalizedShape, weight: weight, bias: bias, eps: eps) }
    return out
}

func layerNormChecked(_ input: Tensor, _ normalizedShape: [Int], weight: Tensor?, bias: Tensor?, eps: Double,
                      op: String = "layer_norm") throws -> Tensor {
    try expectDType(input, .float32, op: op)
    guard !normalizedShape.isEmpty, input.shape.suffix(normalizedShape.count) == normalizedShape[...] else {
        throw EmberError.shapeMismatch(op: op, message:
            "Given normalized_shape=\(normalizedShape), expected input with shape [*, \(normalizedShape.map(String.init).joined(separator: ", "))], but got input of size\(input.shape)")
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let t { try expectDType(t, .float32, op: "\(op) \(name)") }
        if let t, t.shape != normalizedShape {
            throw EmberError.shapeMismatch(op: op, message: "Expected \(name) to be of same shape as normalized_shape, but got \(name) of shape \(t.shape) and normalized_shape = \(normalizedShape)")
        }
    }
    let d = normalizedShape.reduce(1, *)
    let rows = d == 0 ? 0 : input.count / d
    let x = input.contiguous(), w = weight?.contiguous(), b = bias?.contiguous()
    let out = Tensor(empty: input.shape), mean = Tensor(empty: [rows]), rstd = Tensor(empty: [rows])
    Kernels.layerNormForward(out.f32, mean: mean.f32, rstd: rstd.f32, x.f32, weight: w?.f32, bias: b?.f32,
                             rows: rows, d: d, eps: Float(eps))
    var inputs = [x]
    if let w { inputs.append(w) }
    if let b { inputs.append(b) }
    return out.recorded(op, inputs) { g in
        let dx = x.requiresGrad ? Tensor(empty: x.shape) : nil
        let dw = (w?.requiresGrad ?? false) ? Tensor(empty: w!.shape) : nil
        let db = (b?.requiresGrad ?? false) ? Tensor(empty: b!.shape) : nil
        Kernels.layerNormBackward(dInput: dx?.f32, dWeight: dw?.f32, dBias: db?.f32, dOut: g.f32, input: x.f32,
                                  mean: mean.f32, rstd: rstd.f32, weight: w?.f32, rows: rows, d: d)
        var grads: [Tensor?] = [dx]
        if w != nil { grads.append(dw) }
        if b != nil { grads.append(db) }
        return grads
    }
}

/// Group normalisation (PyTorch's `F.group_norm`): (N, C, *) input, channels split into
/// `numGroups` groups normalised together, then a per-channel affine.
public func groupNorm(_ input: Tensor, numGroups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                      eps: Double = 1e-5) -> Tensor {
    var out: Tensor!
    check { out = try groupNormChecked(input, numGroups: numGroups, weight: weight, bias: bias, eps: eps) }
    return out
}

func groupNormChecked(_ input: Tensor, numGroups: Int, weight: Tensor?, bias: Tensor?, eps: Double) throws -> Tensor {
    let op = "group_norm"
    guard input.ndim >= 2 else {
        throw EmberError.shapeMismatch(op: op, message: "Expected at least 2 dimensions for input tensor but received \(input.ndim)")
    }
    let (n, c) = (input.shape[0], input.shape[1])
    guard numGroups > 0, c % numGroups == 0 else {
        throw EmberError.invalidArgument(op: op, message: "Expected number of channels in input to be divisible by num_groups, but got input of shape \(input.shape) and num_groups=\(numGroups)")
    }
    for (name, t) in [("weight", weight), ("bias", bias)] {
        if let t { try expectDType(t, .float32, op: "\(op) \(name)") }
        if let t, t.shape != [c] {
            throw EmberError.shapeMismatch(op: op, message: "Expected \(name) to be a vector of size equal to the number of channels in input, but got \(name) of shape \(t.shape) and input of shape \(input.shape)")
        }
    }
    let groupSize = input.count / max(n * numGroups, 1)
    let normalized = try layerNormChecked(input.reshaped([n, numGroups, groupSize]), [groupSize], weight: nil,
                                          bias: nil, eps: eps, op: op).reshaped(input.shape)
    let affineShape = [1, c] + [Int](repeating: 1, count: input.ndim - 2)
    var y = normalized
    if let weight { y = y * weight.reshaped(affineShape) }
    if let bias { y = y + bias.reshaped(affineShape) }
    return y
}

extension Tensor {
    /// Zeroes whole channels with probability `p` and scales the rest by 1/(1−p) (PyTorch's
    /// `F.dropout2d`): dims 0 and 1 are the batch and the channel, so the mask is (N, C, 1, 1)
    /// for (N, C, H, W) input. As in PyTorch 2, 3-D input is read as (N, C, L), not as one
    /// unbatched (C, H, W) image (PyTorch has announced that change but not made it).
    public func dropout2d(p: Double, generator: Generator = .default) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout2d: probability has to be between 0 and 1, but got \(p)")
        check {
            guard ndim >= 2 else {
                throw EmberError.shapeMismatch(op: "dropout2d", message: "Feature dropout requires at least 2 dimensions in the input (got \(ndim)D input)")
            }
        }
        let maskShape = Array(shape.prefix(2)) + [Int](repeating: 1, count: ndim - 2)
        if p == 1 { return self * Tensor.zeros(maskShape) }
        let keep = Tensor.rand(maskShape, generator: generator) >= p
        return self * (keep.type(.float32) * Double(1 / (1 - p)))
    }
}
