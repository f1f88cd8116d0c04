/// Stochastic gradient descent with optional momentum, dampening, weight decay and Nesterov
/// momentum, with exactly `torch.optim.SGD`'s update:
///
///     g = ∇ (negated when maximize) + weightDecay · p
///     b = g on the first step, else momentum · b + (1 − dampening) · g
///     g = nesterov ? g + momentum · b : b            (when momentum ≠ 0)
///     p = p − lr · g
///
/// Each parameter is updated by one fused C pass, in place; the momentum buffer (state
/// `momentum_buffer`) is allocated on a parameter's first step. Without momentum and weight
/// decay, a linear layer's weight gradient is instead applied as one GEMM into the weight,
/// never formed (DeferredGrad.swift); reading `grad` still gives it.
///
/// ```swift
/// let optimizer = SGD(model.parameters(), lr: 1e-3, momentum: 0.9)
/// loss.backward(); optimizer.step(); optimizer.zeroGrad()
/// ```
public final class SGD: Optimizer {
    /// The momentum factor (0: plain SGD); OneCycleLR may cycle it.
    public var momentum: Double
    /// The share of the new gradient held back from the momentum buffer.
    public var dampening: Double
    /// The default L2 penalty of groups that set none.
    public var weightDecay: Double
    /// Nesterov momentum (needs momentum > 0 and dampening 0).
    public var nesterov: Bool
    /// Maximise the objective instead of minimising it.
    public var maximize: Bool

    /// PyTorch: `torch.optim.SGD(params, lr, momentum, dampening, weight_decay, nesterov, maximize)`.
    public convenience init(_ parameters: [Tensor], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                            weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        self.init([ParamGroup(parameters)], lr: lr, momentum: momentum, dampening: dampening, weightDecay: weightDecay,
                  nesterov: nesterov, maximize: maximize)
    }

    /// Parameter groups, each with its own `lr` and `weightDecay` where given.
    public init(_ groups: [ParamGroup], lr: Double = 1e-3, momentum: Double = 0, dampening: Double = 0,
                weightDecay: Double = 0, nesterov: Bool = false, maximize: Bool = false) {
        precondition(momentum >= 0, "Invalid momentum value: \(momentum)")
        precondition(weightDecay >= 0, "Invalid weight_decay value: \(weightDecay)")
        precondition(!nesterov || (momentum > 0 && dampening == 0),
                     "Nesterov momentum requires a momentum and zero dampening")
        self.momentum = momentum
        self.dampening = dampening
        self.weightDecay = weightDecay
        self.nesterov = nesterov
        self.maximize = maximize
        super.init(groups, lr: lr)
        for i in parameters.indices { parameters[i].defersLinearGrad = isPlain(i) }
    }

    /// No momentum and no weight decay: a linear layer's weight gradient can be applied as
    /// one GEMM into the weight without ever being formed (DeferredGrad.swift).
    private func isPlain(_ i: Int) -> Bool { momentum == 0 && weightDecay(i, fallback: weightDecay) == 0 }

    /// One SGD update of every parameter that has a gradient (PyTorch: `optimizer.step()`).
    public override func step() {
        for (i, p) in parameters.enumerated() {
            // The mark tells the next backward() whether to defer (hyperparameters can change).
            let plain = isPlain(i), rate = self.lr(i), decay = self.weightDecay(i, fallback: self.weightDecay)
            p.defersLinearGrad = plain
            if plain && p.deferredGrad != nil {
                p.willWriteInPlace()
                _ = p.addDeferredGrad(scaledBy: Float(maximize ? rate : -rate))
                continue
            }
            // A parameter without a gradient is not written (its version, which saved values
            // of a pending backward are checked against, stays).
            guard let g = gradient(i) else { continue }
            p.willWriteInPlace()
            var buffer: Tensor?
            var first = false
            if momentum != 0 {
                first = state[i]?["momentum_buffer"] == nil
                buffer = stateBuffer(i, "momentum_buffer")
            }
            Kernels.sgdStep(p.f32, g.f32, buffer?.f32, p.count, lr: rate, momentum: momentum,
                            dampening: dampening, weightDecay: decay, nesterov: nesterov,
                            firstStep: first, maximize: maximize)
        }
    }

    /// lr, momentum, dampening, weight_decay, nesterov and maximize (booleans as 0 or 1), for checkpoints.
    public override var hyperparameters: [String: Double] {
        get {
            ["lr": lr, "momentum": momentum, "dampening": dampening, "weight_decay": weightDecay,
             "nesterov": nesterov ? 1 : 0, "maximize": maximize ? 1 : 0]
        }
        set {
            if let v = newValue["lr"] { lr = v }
            if let v = newValue["momentum"] { momentum = v }
            if let v = newValue["dampening"] { dampening = v }
            if let v = newValue["weight_decay"] { weightDecay = v }
            if let v = newValue["nesterov"] { nesterov = v != 0 }
            if let v = newValue["maximize"] { maximize = v != 0 }
        }
    }
}
