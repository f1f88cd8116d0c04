/// Gradient hooks (PyTorch's `Tensor.register_hook`, `retain_grad` and
/// `register_post_accumulate_grad_hook`), the graph query that `find_unused_parameters` needs,
/// and `Autograd.grad`. Distributed data parallelism builds on the post-accumulate hooks: it
/// starts reducing a bucket of gradients while backward is still running.

/// Removes a hook registered with `registerHook` or `registerPostAccumulateGradHook`
/// (PyTorch's `RemovableHandle`). Like registration, removal is not thread-safe.
public struct GradHookHandle: @unchecked Sendable {
    let id: Int
    weak var tensor: Tensor?
    weak var node: Node?

    /// Unregisters the hook; nothing happens if the tensor is gone or the hook already removed.
    public func remove() {
        tensor?.postAccumulateGradHooks.removeAll { $0.id == id }
        tensor?.gradHooks.removeAll { $0.id == id }
        node?.gradHooks.removeAll { $0.id == id }
    }
}

nonisolated(unsafe) private var nextGradHookID = 0

extension Tensor {
    /// Runs `hook(self)` in every backward pass once this leaf's gradient for that pass is
    /// complete in `grad` (all of its contributions added), while backward continues with the
    /// rest of the graph. Hooks run on the thread calling `backward()`, in registration order,
    /// with gradient recording off. A leaf with hooks always forms its gradient in backward
    /// (no deferred linear-weight gradient; see DeferredGrad.swift).
    ///
    /// Registration is not thread-safe: register hooks before training, from one thread.
    @discardableResult
    public func registerPostAccumulateGradHook(_ hook: @escaping (Tensor) -> Void) -> GradHookHandle {
        precondition(isLeaf && requiresGrad,
                     "registerPostAccumulateGradHook: only leaf tensors that require grad can have this hook")
        nextGradHookID += 1
        postAccumulateGradHooks.append((nextGradHookID, hook))
        return GradHookHandle(id: nextGradHookID, tensor: self)
    }

    /// Runs `hook` on this tensor's gradient in every backward pass, before the gradient is
    /// used: a non-nil result replaces it (of the same shape). On a leaf the hook gets the
    /// pass's whole gradient, before it is added into `grad`; on any other tensor it gets
    /// the gradient flowing back through it, before it reaches the op that made the tensor.
    /// A hook on a tensor later written in place stays with the values it was registered on.
    /// Hooks run on the thread calling `backward()`, with gradient recording off.
    ///
    /// PyTorch: `Tensor.register_hook(hook)`.
    @discardableResult
    public func registerHook(_ hook: @escaping (Tensor) -> Tensor?) -> GradHookHandle {
        precondition(requiresGrad, "registerHook: cannot register a hook on a tensor that doesn't require gradient")
        nextGradHookID += 1
        if let node = gradFn {
            node.gradHooks.append((nextGradHookID, hook))
            return GradHookHandle(id: nextGradHookID, tensor: nil, node: node)
        }
        gradHooks.append((nextGradHookID, hook))
        return GradHookHandle(id: nextGradHookID, tensor: self, node: nil)
    }

    /// Makes backward keep this non-leaf tensor's gradient in `grad` (adding up across passes,
    /// as a leaf's does), after its `registerHook` hooks. A no-op on leaves, which always
    /// keep theirs. Follows the tensor through in-place writes.
    ///
    /// PyTorch: `Tensor.retain_grad()`.
    public func retainGrad() {
        precondition(requiresGrad, "retainGrad: can't retain_grad on Tensor that has requires_grad=False")
        guard let n = gradFn, !retainsGrad else { return }
        retainsGrad = true
        n.retainers.append(WeakTensor(tensor: self))
    }

    /// Sets this tensor's node, moving a retained gradient's hook from the old node to the new.
    func replaceNode(_ new: Node?) {
        if retainsGrad && new !== node {
            node?.retainers.removeAll { $0.tensor === self || $0.tensor == nil }
            new?.retainers.append(WeakTensor(tensor: self))
        }
        node = new
    }

    /// A leaf's gradient after its `registerHook` hooks.
    func runGradHooks(_ g: Tensor) -> Tensor {
        applyGradHooks(gradHooks, to: g)
    }

    func runPostAccumulateGradHooks() {
        for entry in postAccumulateGradHooks { noGrad { entry.hook(self) } }
    }

    /// The leaves that require grad and that a backward pass from this tensor would reach
    /// (PyTorch's DDP finds unused parameters with the same walk). Empty for a leaf that does
    /// not require grad.
    public func reachableLeaves() -> [Tensor] {
        guard let root = gradFn else { return requiresGrad ? [self] : [] }
        var leaves: [Tensor] = []
        var seenLeaves = Set<ObjectIdentifier>()
        var visited: Set<ObjectIdentifier> = [ObjectIdentifier(root)]
        var stack = [root]
        while let node = stack.popLast() {
            for (i, input) in node.inputs.enumerated() where node.needsGrad[i] {
                if let child = node.edges[i] {
                    if visited.insert(ObjectIdentifier(child)).inserted { stack.append(child) }
                } else if seenLeaves.insert(ObjectIdentifier(input)).inserted {
                    leaves.append(input)
                }
            }
        }
        return leaves
    }
}

/// `g` through `hooks` in order, each non-nil result (checked to fit) replacing it.
func applyGradHooks(_ hooks: [(id: Int, hook: (Tensor) -> Tensor?)], to g: Tensor) -> Tensor {
    hooks.reduce(g) { g, entry in
        guard let r = entry.hook(g) else { return g }
        precondition(r.shape == g.shape && r.dtype == g.dtype,
                     "registerHook: a hook changed the gradient's shape or dtype from \(g.dtype) \(g.shape) to \(r.dtype) \(r.shape)")
        return r
    }
}

extension Node {
    /// The output's gradient after its hooks; the outputs that retain it get a copy (added to
    /// what they hold).
    func runGradHooks(_ g: Tensor) -> Tensor {
        let g = applyGradHooks(gradHooks, to: g)
        for t in retainers.compactMap(\.tensor) {
            t.accumulatedGrad = t.accumulatedGrad.map { $0 + g } ?? g.storageCopy()
        }
        return g
    }
}

/// Tells, during one backward pass, when a hooked leaf has received its last gradient: the
/// number of recorded edges into it from nodes of this pass is counted first, then counted
/// down as each node finishes (whether or not it had a gradient to pass on). A leaf with
/// `registerHook` hooks has its gradients summed here meanwhile, for its hooks to see whole.
struct GradReadiness {
    private var remaining: [ObjectIdentifier: Int] = [:]
    private var got: Set<ObjectIdentifier> = []
    private var sums: [ObjectIdentifier: Tensor] = [:]

    init(_ order: [Node]) {
        for node in order {
            for (i, input) in node.inputs.enumerated()
            where node.edges[i] == nil && node.needsGrad[i]
                && !(input.postAccumulateGradHooks.isEmpty && input.gradHooks.isEmpty) {
                remaining[ObjectIdentifier(input), default: 0] += 1
            }
        }
    }

    mutating func received(_ leaf: Tensor) {
        if remaining[ObjectIdentifier(leaf)] != nil { got.insert(ObjectIdentifier(leaf)) }
    }

    /// Keeps a gradient of a leaf with `registerHook` hooks until the pass's last one has come
    /// (`nodeDone`); false, keeping nothing, for other leaves.
    mutating func keep(_ g: Tensor, for leaf: Tensor) -> Bool {
        let id = ObjectIdentifier(leaf)
        guard !leaf.gradHooks.isEmpty, remaining[id] != nil else { return false }
        sums[id] = sums[id].map { $0 + g } ?? g
        return true
    }

    mutating func nodeDone(_ node: Node, given: inout Set<ObjectIdentifier>) {
        guard !remaining.isEmpty else { return }
        for (i, input) in node.inputs.enumerated() where node.edges[i] == nil && node.needsGrad[i] {
            let id = ObjectIdentifier(input)
            guard let left = remaining[id] else { continue }
            if left > 1 { remaining[id] = left - 1; continue }
            remaining[id] = nil
            if let sum = sums.removeValue(forKey: id) {
                input.accumulateGrad(input.runGradHooks(sum), given: &given)
                got.insert(id)
            }
            if got.contains(id) { input.runPostAccumulateGradHooks() }
        }
    }
}

/// What `Autograd.grad` collects in its backward pass: the gradients of its inputs, found by
/// their nodes (or, for leaves, by identity). Only the nodes on a path to an input run.
final class GradCapture {
    private var leafSlots: [ObjectIdentifier: [Int]] = [:]
    private var nodeSlots: [ObjectIdentifier: [Int]] = [:]
    private var leading: Set<ObjectIdentifier> = []
    private(set) var results: [Tensor?]

    init(_ inputs: [Tensor]) {
        results = Array(repeating: nil, count: inputs.count)
        for (i, t) in inputs.enumerated() {
            if let fn = t.gradFn {
                nodeSlots[ObjectIdentifier(fn), default: []].append(i)
            } else {
                leafSlots[ObjectIdentifier(t), default: []].append(i)
            }
        }
    }

    /// Marks the nodes from which an input can be reached; `order` lists every node after
    /// the nodes it feeds from.
    func findNodesToRun(_ order: [Node]) {
        for node in order {
            let leads = node.inputs.indices.contains { i in
                guard node.needsGrad[i] else { return false }
                guard let child = node.edges[i] else { return leafSlots[ObjectIdentifier(node.inputs[i])] != nil }
                let c = ObjectIdentifier(child)
                return nodeSlots[c] != nil || leading.contains(c)
            }
            if leads { leading.insert(ObjectIdentifier(node)) }
        }
    }

    /// Whether the node's gradient is wanted: it is an input's, or leads to one.
    func runs(_ node: Node) -> Bool { leading.contains(ObjectIdentifier(node)) || nodeSlots[ObjectIdentifier(node)] != nil }
    /// Whether the node's backward must run: an input lies behind it.
    func leadsToInput(_ node: Node) -> Bool { leading.contains(ObjectIdentifier(node)) }

    func take(_ g: Tensor, forNode node: Node) { add(g, to: nodeSlots[ObjectIdentifier(node)] ?? []) }
    func take(_ g: Tensor, forLeaf t: Tensor) { add(g, to: leafSlots[ObjectIdentifier(t)] ?? []) }

    private func add(_ g: Tensor, to slots: [Int]) {
        for i in slots { results[i] = results[i].map { $0 + g } ?? g.storageCopy() }
    }
}

/// Autograd functions beside `Tensor.backward()`.
public enum Autograd {
    /// The gradients of `outputs` with respect to `inputs`, returned instead of added into
    /// any `grad`: nothing else changes (PyTorch's `torch.autograd.grad`). Each output needs a
    /// gradient in `gradOutputs`, or must hold one element. An input the outputs do not
    /// depend on is an error, or nil with `allowUnused`. Only the part of the graph leading to
    /// the inputs runs, with the `registerHook` hooks on it and on the inputs (as in PyTorch,
    /// retained gradients on the way are filled); the result is not itself differentiable
    /// (no double backward).
    public static func grad(_ outputs: [Tensor], inputs: [Tensor], gradOutputs: [Tensor]? = nil,
                            allowUnused: Bool = false) throws -> [Tensor?] {
        if let gradOutputs, gradOutputs.count != outputs.count {
            throw EmberError.invalidArgument(op: "grad", message:
                "grad can be implicitly created only for scalar outputs; got \(gradOutputs.count) gradients for \(outputs.count) outputs")
        }
        if let i = inputs.firstIndex(where: { !$0.requiresGrad }) {
            throw EmberError.invalidArgument(op: "grad", message:
                "input \(i) (shape \(inputs[i].shape)) does not require grad")
        }
        let seeds = try outputs.enumerated().map { i, o in try o.seedGradient(gradOutputs?[i], op: "grad") }
        let capture = GradCapture(inputs)
        var given = Set<ObjectIdentifier>()
        try Tensor.runGraph(Array(zip(outputs, seeds)), given: &given, capture: capture)
        // A leaf input's hooks see its whole gradient, as in backward.
        let results = noGrad { zip(inputs, capture.results).map { t, g in t.isLeaf ? g.map(t.runGradHooks) : g } }
        if !allowUnused, let i = results.firstIndex(where: { $0 == nil }) {
            throw EmberError.invalidArgument(op: "grad", message:
                "the differentiated tensor at index \(i) (shape \(inputs[i].shape)) appears to not have been used in the graph; pass allowUnused: true if this is the desired behavior")
        }
        return results
    }

    /// `grad(_:inputs:gradOutputs:allowUnused:)` for one output.
    public static func grad(_ output: Tensor, inputs: [Tensor], gradOutput: Tensor? = nil,
                            allowUnused: Bool = false) throws -> [Tensor?] {
        try grad([output], inputs: inputs, gradOutputs: gradOutput.map { [$0] }, allowUnused: allowUnused)
    }
}
