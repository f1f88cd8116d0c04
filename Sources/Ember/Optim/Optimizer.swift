/// The base of every optimizer (PyTorch's `torch.optim.Optimizer`): holds the parameters,
/// their per-parameter state, and the learning rate that schedulers change.
///
/// Subclasses implement `step()` as one fused C pass per parameter that has a gradient
/// (csrc/optimizers.c), updating the parameter's storage in place, so every holder of the
/// tensor (the model, the optimizer) sees the new values.
///
/// One parameter group: every parameter shares the hyperparameters.
open class Optimizer {
    /// The tensors being optimised, in the order given (state is keyed by this index).
    public let parameters: [Tensor]
    /// The learning rate of the next `step()`; LR schedulers write it.
    public var lr: Double
    /// Per-parameter state by index into `parameters` (momentum buffers, Adam moments, step
    /// counts). Empty until the first step that sees a gradient for that parameter.
    public var state: [Int: [String: Tensor]] = [:]

    public init(_ parameters: [Tensor], lr: Double) {
        precondition(lr >= 0, "Invalid learning rate: \(lr)")
        for (i, p) in parameters.enumerated() {
            precondition(p.dtype == .float32 && p.isLeaf,
                         "optimizer: parameter \(i) must be a float32 leaf tensor, got \(p.dtype)\(p.isLeaf ? "" : " (not a leaf)")")
        }
        self.parameters = parameters
        self.lr = lr
    }

    /// Updates every parameter that has a gradient. Parameters without one are skipped.
    open func step() {
        fatalError("\(type(of: self)) must override step()")
    }

    /// Clears the gradients (sets them to nil, PyTorch 2's `set_to_none=True` default), so the
    /// next `backward()` writes them afresh instead of adding to them.
    public func zeroGrad() {
        for p in parameters { p.grad = nil }
    }

    /// The hyperparameters that `stateDict()` saves and `loadStateDict` restores (`lr`,
    /// `momentum`, …), named as in PyTorch's `param_groups`.
    open var hyperparameters: [String: Double] {
        get { ["lr": lr] }
        set { if let v = newValue["lr"] { lr = v } }
    }

    /// The gradient of parameter `i`, checked against the parameter's shape once per step.
    func gradient(_ i: Int) -> Tensor? {
        let p = parameters[i]
        guard let g = p.grad else { return nil }
        precondition(g.shape == p.shape && g.dtype == .float32,
                     "optimizer: gradient of shape \(g.shape) for parameter \(i) of shape \(p.shape)")
        return g.contiguous()
    }

    /// A zero-filled state tensor for parameter `i`, created on first use.
    func stateBuffer(_ i: Int, _ name: String) -> Tensor {
        if let t = state[i]?[name] { return t }
        let t = Tensor.zeros(parameters[i].shape)
        state[i, default: [:]][name] = t
        return t
    }

    // MARK: State dict

    /// The optimizer's state as flat tensors plus hyperparameters, the layout of PyTorch's
    /// `optimizer.state_dict()` flattened: `state.<index>.<name>` (e.g. `state.0.exp_avg`)
    /// and `param_groups.0.<name>`. The tensors are copies.
    public func stateDict() -> (tensors: [String: Tensor], hyperparameters: [String: Double]) {
        var tensors: [String: Tensor] = [:]
        for (i, entries) in state {
            for (name, t) in entries { tensors["state.\(i).\(name)"] = t.clone() }
        }
        var hyper: [String: Double] = [:]
        for (k, v) in hyperparameters { hyper["param_groups.0.\(k)"] = v }
        return (tensors, hyper)
    }

    /// Restores a `stateDict()`: state tensors must name existing parameters with matching
    /// shapes; everything is checked before anything changes.
    public func loadStateDict(tensors: [String: Tensor], hyperparameters: [String: Double]) throws {
        var newState: [Int: [String: Tensor]] = [:]
        var problems: [String] = []
        for (key, t) in tensors {
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "state", let i = Int(parts[1]), parameters.indices.contains(i) else {
                problems.append("unexpected key \"\(key)\""); continue
            }
            let expected = parts[2] == "step" ? [] : parameters[i].shape
            guard t.shape == expected else {
                problems.append("\"\(key)\" has shape \(t.shape), expected \(expected)"); continue
            }
            newState[i, default: [:]][parts[2]] = t.clone()
        }
        var hyper: [String: Double] = [:]
        for (key, v) in hyperparameters {
            guard key.hasPrefix("param_groups.0.") else { problems.append("unexpected key \"\(key)\""); continue }
            hyper[String(key.dropFirst("param_groups.0.".count))] = v
        }
        let unknown = Set(hyper.keys).subtracting(self.hyperparameters.keys)
        problems += unknown.sorted().map { "unknown hyperparameter \"\($0)\"" }
        if !problems.isEmpty {
            throw SerializationError.stateDictMismatch(what: "\(type(of: self))", problems: problems.sorted())
        }
        state = newState
        self.hyperparameters = hyper
    }
}
