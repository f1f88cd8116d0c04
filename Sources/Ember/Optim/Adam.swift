/// Adam (Kingma & Ba) with exactly `torch.optim.Adam`'s update, L2 weight decay added to the
/// gradient; `AdamW` is the same with decoupled weight decay. For step t (1-based):
///
///     g = ∇ (negated when maximize)            Adam: g += weightDecay · p
///                                              AdamW: p *= 1 − lr · weightDecay
///     m = m + (g − m)(1 − β1)     v = β2 · v + (1 − β2) · g²     (amsgrad: v̂ = max(v̂, v))
///     p = p − lr / (1 − β1ᵗ) · m / (√v / √(1 − β2ᵗ) + eps)
///
/// Each parameter is updated by one fused C pass, in place. State per parameter: `step`,
/// `exp_avg`, `exp_avg_sq` (and `max_exp_avg_sq` with amsgrad), as PyTorch names them.
public class Adam: Optimizer {
    /// β1, the first moment's decay (OneCycleLR may cycle it).
    public var beta1: Double
    /// β2, the second moment's decay.
    public var beta2: Double
    /// Added to the denominator for numerical stability.
    public var eps: Double
    /// The default weight decay of groups that set none.
    public var weightDecay: Double
    /// Use the maximum of past second moments (PyTorch: `amsgrad`).
    public var amsgrad: Bool
    /// Maximise the objective instead of minimising it.
    public var maximize: Bool
    /// AdamW's decoupled weight decay instead of Adam's L2 term.
    let decoupled: Bool

    /// PyTorch: `torch.optim.Adam(params, lr, betas, eps, weight_decay, amsgrad, maximize)`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false) {
        self.init([ParamGroup(parameters)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, decoupled: false)
    }

    /// Parameter groups, each with its own `lr` and `weightDecay` where given.
    public convenience init(_ groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 0, amsgrad: Bool = false, maximize: Bool = false) {
        self.init(groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize, decoupled: false)
    }

    init(_ groups: [ParamGroup], lr: Double, betas: (Double, Double), eps: Double, weightDecay: Double,
         amsgrad: Bool, maximize: Bool, decoupled: Bool) {
        precondition(betas.0 >= 0 && betas.0 < 1, "Invalid beta parameter at index 0: \(betas.0)")
        precondition(betas.1 >= 0 && betas.1 < 1, "Invalid beta parameter at index 1: \(betas.1)")
        precondition(eps >= 0, "Invalid epsilon value: \(eps)")
        precondition(weightDecay >= 0, "Invalid weight_decay value: \(weightDecay)")
        self.beta1 = betas.0
        self.beta2 = betas.1
        self.eps = eps
        self.weightDecay = weightDecay
        self.amsgrad = amsgrad
        self.maximize = maximize
        self.decoupled = decoupled
        super.init(groups, lr: lr)
    }

    /// One Adam update of every parameter that has a gradient (PyTorch: `optimizer.step()`).
    public override func step() {
        for (i, p) in parameters.enumerated() {
            p.defersLinearGrad = false
            guard let g = gradient(i) else { continue }
            p.willWriteInPlace()
            let m = stateBuffer(i, "exp_avg"), v = stateBuffer(i, "exp_avg_sq")
            let vmax = amsgrad ? stateBuffer(i, "max_exp_avg_sq") : nil
            // The step count is a 0-d int64 tensor so that it saves with the other state.
            let stepTensor: Tensor
            if let t = state[i]?["step"] {
                stepTensor = t
            } else {
                stepTensor = Tensor.zeros([], dtype: .int64)
                state[i]!["step"] = stepTensor
            }
            stepTensor.i64[0] += 1
            Kernels.adamStep(p.f32, g.f32, m.f32, v.f32, vmax?.f32, p.count, lr: lr(i), beta1: beta1,
                             beta2: beta2, eps: eps, weightDecay: weightDecay(i, fallback: weightDecay),
                             decoupled: decoupled, step: Int(stepTensor.i64[0]), amsgrad: amsgrad, maximize: maximize)
        }
    }

    /// lr, beta1, beta2, eps, weight_decay, amsgrad and maximize (booleans as 0 or 1), for checkpoints.
    public override var hyperparameters: [String: Double] {
        get {
            ["lr": lr, "beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weightDecay,
             "amsgrad": amsgrad ? 1 : 0, "maximize": maximize ? 1 : 0]
        }
        set {
            if let v = newValue["lr"] { lr = v }
            if let v = newValue["beta1"] { beta1 = v }
            if let v = newValue["beta2"] { beta2 = v }
            if let v = newValue["eps"] { eps = v }
            if let v = newValue["weight_decay"] { weightDecay = v }
            if let v = newValue["amsgrad"] { amsgrad = v != 0 }
            if let v = newValue["maximize"] { maximize = v != 0 }
        }
    }
}

/// Adam with decoupled weight decay (Loshchilov & Hutter), exactly `torch.optim.AdamW`: the
/// parameter shrinks by `lr · weightDecay` of itself before the Adam update, and the decay
/// never enters the moments. Default weight decay 0.01, as in PyTorch.
public final class AdamW: Adam {
    /// PyTorch: `torch.optim.AdamW(params, lr, betas, eps, weight_decay, amsgrad, maximize)`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        self.init([ParamGroup(parameters)], lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                  maximize: maximize)
    }

    /// Parameter groups, each with its own `lr` and `weightDecay` where given (e.g. 0 for
    /// biases and norms).
    public init(_ groups: [ParamGroup], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                eps: Double = 1e-8, weightDecay: Double = 1e-2, amsgrad: Bool = false, maximize: Bool = false) {
        super.init(groups, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, amsgrad: amsgrad,
                   maximize: maximize, decoupled: true)
    }
}
