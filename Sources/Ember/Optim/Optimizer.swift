/// The base of every optimizer (PyTorch's `torch.optim.Optimizer`): holds the parameters,
/// their per-parameter state, and the learning rate that schedulers change.
///
/// Subclasses implement `step()` as one fused C pass per parameter that has a gradient
/// (csrc/optimizers.c), updating the parameter's storage in place, so every holder of the
/// tensor (the model, the optimizer) sees the new values.
///
/// Parameters are in groups (PyTorch's `param_groups`), each with its own learning rate and
/// weight decay, e.g. no decay on biases and norms:
///
/// ```swift
/// let optimizer = AdamW([ParamGroup(decay, weightDecay: 0.1), ParamGroup(noDecay, weightDecay: 0)], lr: 3e-4)
/// ```
open class Optimizer {
    /// The tensors being optimised, group after group, in the order given (state is keyed
    /// by this index).
    public let parameters: [Tensor]
    /// The parameter groups with their resolved learning rates. Schedulers write each
    /// group's `lr`; change `lr` or `weightDecay` here, not the parameter lists.
    public var paramGroups: [ParamGroup]
    /// Which group each entry of `parameters` belongs to.
    let groupIndex: [Int]
    /// Per-parameter state by index into `parameters` (momentum buffers, Adam moments, step
    /// counts). Empty until the first step that sees a gradient for that parameter.
    public var state: [Int: [String: Tensor]] = [:]

    /// One group of `parameters` with rate `lr`.
    public convenience init(_ parameters: [Tensor], lr: Double) {
        self.init([ParamGroup(parameters)], lr: lr)
    }

    /// Groups without their own `lr` take `lr`.
    public init(_ groups: [ParamGroup], lr: Double) {
        precondition(lr >= 0, "Invalid learning rate: \(lr)")
        var all: [Tensor] = [], index: [Int] = [], seen = Set<ObjectIdentifier>()
        for (g, group) in groups.enumerated() {
            precondition((group.lr ?? lr) >= 0, "Invalid learning rate: \(group.lr ?? lr) in param group \(g)")
            precondition((group.weightDecay ?? 0) >= 0, "Invalid weight_decay value: \(group.weightDecay ?? 0) in param group \(g)")
            for p in group.params {
                let i = all.count
                precondition(p.dtype == .float32 && p.isLeaf,
                             "optimizer: parameter \(i) must be a float32 leaf tensor, got \(p.dtype)\(p.isLeaf ? "" : " (not a leaf)")")
                // The fused updates write the parameter's memory flat.
                precondition(p.isContiguous,
                             "optimizer: parameter \(i) (shape \(p.shape), strides \(p.strides)) is not contiguous; optimize a contiguous tensor (e.g. x.contiguous().requiringGrad())")
                precondition(seen.insert(ObjectIdentifier(p)).inserted, "some parameters appear in more than one parameter group")
                all.append(p)
                index.append(g)
            }
        }
        self.parameters = all
        self.groupIndex = index
        self.paramGroups = groups.map { var g = $0; g.lr = g.lr ?? lr; return g }
    }

    /// The learning rate of the first group. Setting it sets every group's (one group is
    /// the common case; with several, schedulers change each group's own).
    public var lr: Double {
        get { paramGroups.first?.lr ?? 0 }
        set { for g in paramGroups.indices { paramGroups[g].lr = newValue } }
    }

    /// Parameter `i`'s learning rate, and its weight decay (the group's, else `fallback`).
    func lr(_ i: Int) -> Double { paramGroups[groupIndex[i]].lr ?? lr }
    func weightDecay(_ i: Int, fallback: Double) -> Double { paramGroups[groupIndex[i]].weightDecay ?? fallback }

    /// Updates every parameter that has a gradient. Parameters without one are skipped.
    ///
    /// PyTorch: `optimizer.step()`.
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

    /// A zero-filled state tensor for parameter `i`, created on first use. One set through
    /// `state` must match the parameter (the C update writes `p.count` floats into it).
    func stateBuffer(_ i: Int, _ name: String) -> Tensor {
        if let t = state[i]?[name] {
            let p = parameters[i]
            precondition(t.shape == p.shape && t.dtype == .float32 && t.isContiguous,
                         "optimizer: state \"\(name)\" of shape \(t.shape) (\(t.dtype)) for parameter \(i) of shape \(p.shape): "
                         + "expected a contiguous float32 tensor of the parameter's shape")
            return t
        }
        let t = Tensor.zeros(parameters[i].shape)
        state[i, default: [:]][name] = t
        return t
    }

    // MARK: State dict

    /// The optimizer's state as flat tensors plus hyperparameters, the layout of PyTorch's
    /// `optimizer.state_dict()` flattened: `state.<index>.<name>` (e.g. `state.0.exp_avg`)
    /// and `param_groups.0.<name>`, plus every group's `param_groups.<g>.lr` (and its own
    /// `weight_decay`; when group 0 has its own, the optimizer's goes to
    /// `defaults.weight_decay`). The tensors are copies.
    public func stateDict() -> (tensors: [String: Tensor], hyperparameters: [String: Double]) {
        var tensors: [String: Tensor] = [:]
        for (i, entries) in state {
            for (name, t) in entries { tensors["state.\(i).\(name)"] = t.clone() }
        }
        var hyper: [String: Double] = [:]
        for (k, v) in hyperparameters { hyper["param_groups.0.\(k)"] = v }
        if paramGroups.first?.weightDecay != nil, let wd = hyperparameters["weight_decay"] {
            hyper["defaults.weight_decay"] = wd
        }
        for (g, group) in paramGroups.enumerated() {
            hyper["param_groups.\(g).lr"] = group.lr
            if let wd = group.weightDecay { hyper["param_groups.\(g).weight_decay"] = wd }
        }
        return (tensors, hyper)
    }

    /// Restores a `stateDict()`: state tensors must name existing parameters with matching
    /// shapes; everything is checked before anything changes.
    ///
    /// PyTorch: `optimizer.load_state_dict(state)`.
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
            // PyTorch keeps the step as a float32 scalar; Ember counts in int64. Other state
            // takes its parameter's dtype, as PyTorch's load_state_dict casts it.
            if parts[2] == "step" {
                let step = t.item()
                guard step >= 0, step == step.rounded(), step <= 0x1p53 else {
                    problems.append("\"\(key)\" is \(step), expected a whole number of steps"); continue
                }
                newState[i, default: [:]]["step"] = Tensor([Int(step)], shape: [])
            } else {
                newState[i, default: [:]][parts[2]] = t.type(parameters[i].dtype).clone()
            }
        }
        var hyper: [String: Double] = [:]
        var groups = paramGroups
        for (key, v) in hyperparameters {
            if key.hasPrefix("defaults.") {
                hyper[String(key.dropFirst("defaults.".count))] = v
                continue
            }
            let parts = key.split(separator: ".", maxSplits: 2).map(String.init)
            guard parts.count == 3, parts[0] == "param_groups", let g = Int(parts[1]), groups.indices.contains(g) else {
                problems.append("unexpected key \"\(key)\""); continue
            }
            switch parts[2] {
            case "lr": groups[g].lr = v
            case "weight_decay" where g > 0 || groups[g].weightDecay != nil: groups[g].weightDecay = v
            default:
                if g == 0 { hyper[parts[2]] = v } else { problems.append("unexpected key \"\(key)\"") }
            }
        }
        let unknown = Set(hyper.keys).subtracting(self.hyperparameters.keys)
        problems += unknown.sorted().map { "unknown hyperparameter \"\($0)\"" }
        if !problems.isEmpty {
            throw SerializationError.stateDictMismatch(what: "\(type(of: self))", problems: problems.sorted())
        }
        state = newState
        self.hyperparameters = hyper
        paramGroups = groups
    }
}

/// A group of parameters with its own hyperparameters (an entry of PyTorch's
/// `param_groups`); nil means the optimizer's value.
public struct ParamGroup {
    /// The parameters of this group.
    public let params: [Tensor]
    /// This group's learning rate, or nil for the optimizer's.
    public var lr: Double?
    /// This group's weight decay, or nil for the optimizer's.
    public var weightDecay: Double?
    /// The group's rate before any scheduler changed it (PyTorch's `initial_lr`), set by the
    /// first scheduler built on the optimizer: every later scheduler (the parts of a
    /// `SequentialLR`) takes its base rate from here, not from the current rate.
    public var initialLR: Double?

    /// A group with its own settings where given (PyTorch: `{"params": …, "lr": …, "weight_decay": …}`).
    public init(_ params: [Tensor], lr: Double? = nil, weightDecay: Double? = nil) {
        self.params = params
        self.lr = lr
        self.weightDecay = weightDecay
    }
}
