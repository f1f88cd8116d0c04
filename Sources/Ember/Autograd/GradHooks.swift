/// Gradient-ready hooks on leaves (PyTorch's `Tensor.register_post_accumulate_grad_hook`) and
/// the graph query that `find_unused_parameters` needs. Distributed data parallelism builds on
/// them: it starts reducing a bucket of gradients while backward is still running.

/// Removes a hook registered with `registerPostAccumulateGradHook` (PyTorch's
/// `RemovableHandle`).
public struct GradHookHandle: Sendable {
    let id: Int
    weak var tensor: Tensor?

    /// Unregisters the hook; nothing happens if the tensor is gone or the hook already removed.
    public func remove() { tensor?.postAccumulateGradHooks.removeAll { $0.id == id } }
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

/// Tells, during one backward pass, when a hooked leaf has received its last gradient: the
/// number of recorded edges into it from nodes of this pass is counted first, then counted
/// down as each node finishes (whether or not it had a gradient to pass on).
struct GradReadiness {
    private var remaining: [ObjectIdentifier: Int] = [:]
    private var got: Set<ObjectIdentifier> = []

    init(_ order: [Node]) {
        for node in order {
            for (i, input) in node.inputs.enumerated()
            where node.edges[i] == nil && node.needsGrad[i] && !input.postAccumulateGradHooks.isEmpty {
                remaining[ObjectIdentifier(input), default: 0] += 1
            }
        }
    }

    mutating func received(_ leaf: Tensor) {
        if remaining[ObjectIdentifier(leaf)] != nil { got.insert(ObjectIdentifier(leaf)) }
    }

    mutating func nodeDone(_ node: Node) {
        guard !remaining.isEmpty else { return }
        for (i, input) in node.inputs.enumerated() where node.edges[i] == nil && node.needsGrad[i] {
            let id = ObjectIdentifier(input)
            guard let left = remaining[id] else { continue }
            if left > 1 { remaining[id] = left - 1; continue }
            remaining[id] = nil
            if got.contains(id) { input.runPostAccumulateGradHooks() }
        }
    }
}
