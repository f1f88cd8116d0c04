#if DEBUG
import Synchronization

/// Nodes alive now, in debug builds: the tests check with it that a graph is freed with its
/// last tensor (a reference cycle would keep its nodes).
let liveNodeCount = Atomic<Int>(0)
#endif

/// One recorded operation in the autograd graph.
///
/// The graph points only backwards: an output tensor holds its `Node`, the node holds the
/// input tensors and whatever its backward closure saved — never the output itself (ops
/// that need their output record through `recordedReadingOutput`, which hands the closure a
/// detached alias of its storage). So the graph has no
/// reference cycles and is freed with the last tensor that refers to it — without recursion
/// (see GraphRelease), however deep it is.
final class Node {
    let op: String
    /// Vars only so that deinit can hand them to GraphRelease; set once, in init.
    private(set) var inputs: [Tensor]
    /// Maps the gradient of the output to the gradients of `inputs` (nil where an input
    /// needs none). Nil only while the node is being freed.
    private(set) var backward: ((Tensor) -> [Tensor?])?
    /// The output's gradient, summed over its consumers during one backward pass.
    var pendingGrad: Tensor?
    /// Whether `pendingGrad` is a tensor backward allocated for this node alone, so later
    /// gradients may be added into it in place. The first gradient a node receives is never
    /// owned: a backward closure may hand one tensor to several inputs, or return its own `g`.
    var pendingOwned = false
    /// Set on views that pick part of their input (slice, select, diagonal): the input's shape
    /// and the same view taken of a tensor of that shape. Backward then adds the view's gradient
    /// into that region of its input's pending gradient instead of building a full one.
    var scatter: ViewScatter?
    /// The tensors whose values `backward` reads, with their storage versions when recorded.
    let saved: [SavedTensor]
    /// Where each input's gradient goes, fixed when the op was recorded: the input's own node
    /// then (an in-place op may give the tensor a newer one since), or nil for a leaf. A var
    /// for the same reason as `inputs`.
    private(set) var edges: [Node?]
    /// Whether each input wanted a gradient when the op was recorded.
    let needsGrad: [Bool]
    /// Hooks on the output's gradient (`Tensor.registerHook`), run in order before the node's
    /// backward; then the outputs that retain their gradient (`retainGrad()`) get it.
    var gradHooks: [(id: Int, hook: (Tensor) -> Tensor?)] = []
    var retainers: [WeakTensor] = []

    init(op: String, inputs: [Tensor], saved: [Tensor], backward: @escaping (Tensor) -> [Tensor?]) {
        self.op = op
        self.inputs = inputs
        self.edges = inputs.map(\.gradFn)
        self.needsGrad = inputs.map(\.requiresGrad)
        self.saved = saved.map { SavedTensor(storage: $0.storage, version: $0.storage.version, shape: $0.shape, dtype: $0.dtype) }
        self.backward = backward
        #if DEBUG
        liveNodeCount.wrappingAdd(1, ordering: .relaxed)
        #endif
    }

    deinit {
        #if DEBUG
        liveNodeCount.wrappingSubtract(1, ordering: .relaxed)
        #endif
        GraphRelease.release(inputs: &inputs, edges: &edges, backward: &backward)
    }

    /// Fails, as PyTorch does, when a saved tensor was modified in place after it was saved.
    func checkSavedVersions() throws {
        for s in saved where s.storage.version != s.version {
            throw EmberError.invalidArgument(op: "backward", message:
                "one of the variables needed for gradient computation has been modified by an inplace operation: "
                + "[\(s.dtype) \(s.shape)], saved by \(op), is at version \(s.storage.version); expected version \(s.version) instead")
        }
    }
}

/// A view's region of its input: see `Node.scatter`.
struct ViewScatter {
    let inputShape: [Int]
    /// The view, taken of any tensor of `inputShape` (recording nothing under noGrad).
    let region: (Tensor) -> Tensor
}

// Summing gradients during backward. Nodes run in one fixed order and each addition is the
// one `existing + grad` would make (IEEE addition commutes), so the bits are those of adding
// out of place. The one difference is the sign of zero: an element of an existing gradient
// outside a view's region stays -0 here where `-0 + 0` gave +0 (sums cannot tell them apart;
// only division or reading the sign could).
extension Node {
    /// Adds a gradient of this node's output: the first is kept as it is (not owned); later
    /// ones go in place into an owned tensor, or into a new one (`existing + grad`) that is
    /// owned from then on.
    func addPendingGrad(_ grad: Tensor) {
        guard let existing = pendingGrad else {
            pendingGrad = grad
            pendingOwned = false
            return
        }
        if pendingOwned && existing.isContiguous && existing.shape == grad.shape && existing.dtype == .float32
            && grad.dtype == .float32 && existing.storage !== grad.storage {
            let plan = broadcastPlan(existing, grad, op: "backward")
            Kernels.binary(.add, existing.f32, existing.f32, grad.base.assumingMemoryBound(to: Float.self),
                           shape: plan.shape, aStrides: plan.aStrides, bStrides: plan.bStrides)
            return
        }
        let sum = existing + grad
        pendingGrad = sum
        pendingOwned = sum.storage !== existing.storage && sum.storage !== grad.storage
    }

    /// Adds the gradient `g` of a view of this node's output into the view's region of the
    /// pending gradient, which becomes owned: zeros with `g` copied into the region when there
    /// is none yet, else a copy of a pending gradient that is not owned. False (nothing done)
    /// when the shapes or dtypes do not fit; the view's backward closure then runs as before.
    func addPendingGrad(_ g: Tensor, through scatter: ViewScatter) -> Bool {
        guard g.dtype == .float32 else { return false }
        guard let existing = pendingGrad else {
            let full = Tensor.zeros(scatter.inputShape)
            let region = scatter.region(full)
            guard region.shape == g.shape else { return false }
            region.writeElements(of: g)
            pendingGrad = full
            pendingOwned = true
            return true
        }
        guard existing.shape == scatter.inputShape && existing.dtype == .float32 else { return false }
        let target = pendingOwned && existing.isContiguous && existing.storage !== g.storage ? existing : existing.storageCopy()
        let region = scatter.region(target)
        guard region.shape == g.shape else { return false }
        Kernels.addStrided(dst: region.base.assumingMemoryBound(to: Float.self), dstStrides: region.strides,
                           src: g.base.assumingMemoryBound(to: Float.self), srcStrides: g.strides, shape: g.shape)
        pendingGrad = target
        pendingOwned = true
        return true
    }
}

/// What a node remembers of a tensor it saved: enough to tell that it was overwritten.
struct SavedTensor {
    let storage: Storage
    let version: Int
    let shape: [Int]
    let dtype: DType
}

/// Whether operations on this thread are recorded for autograd.
public var isGradEnabled: Bool { Kernels.gradEnabled }

/// Runs `body` without recording operations for autograd (PyTorch's `torch.no_grad()`), for
/// evaluation and for updates that must not be differentiated. The switch is per thread:
/// DataLoader workers and other threads are unaffected.
@discardableResult
public func noGrad<R>(_ body: () throws -> R) rethrows -> R {
    let previous = Kernels.gradEnabled
    Kernels.gradEnabled = false
    defer { Kernels.gradEnabled = previous }
    return try body()
}

/// Runs `body` with gradient recording switched on or off.
///
/// PyTorch: `torch.set_grad_enabled(enabled)` as a context manager.
@discardableResult
public func withGradEnabled<R>(_ enabled: Bool, _ body: () throws -> R) rethrows -> R {
    let previous = Kernels.gradEnabled
    Kernels.gradEnabled = enabled
    defer { Kernels.gradEnabled = previous }
    return try body()
}

extension Tensor {
    /// Records `self` as the output of `op` if any input requires a gradient and grad mode
    /// is on. Every differentiable op calls this right after its forward, with its backward
    /// written inline beside it. `saved` lists the tensors whose values the backward reads
    /// (nil: all inputs), so that backward can refuse to run on values overwritten in place.
    @discardableResult
    func recorded(_ op: String, _ inputs: [Tensor], saved: [Tensor]? = nil,
                  backward: @escaping (Tensor) -> [Tensor?]) -> Tensor {
        guard Kernels.gradEnabled, inputs.contains(where: { $0.requiresGrad }) else { return self }
        gradFn = Node(op: op, inputs: inputs, saved: saved ?? inputs, backward: backward)
        return self
    }

    /// `recorded` for an op whose backward reads its own output: `backward` gets the gradient
    /// and a detached alias of the output (the same storage, no node). A closure that used the
    /// output itself would keep it, its node and the whole graph behind it alive in a cycle.
    /// `saved` lists the inputs the backward reads; the output is saved too.
    @discardableResult
    func recordedReadingOutput(_ op: String, _ inputs: [Tensor], saved: [Tensor] = [],
                               backward: @escaping (_ g: Tensor, _ y: Tensor) -> [Tensor?]) -> Tensor {
        let y = detach()
        return recorded(op, inputs, saved: saved + [y]) { g in backward(g, y) }
    }

    /// Name of the op that produced this tensor (`"linear"`, `"relu"`, …), or nil for leaves.
    public var gradFnName: String? { gradFn?.op }

    /// Computes the gradient of this tensor with respect to every leaf that requires one and
    /// *adds* it into their `grad`. Without `gradient`, self must hold one element (a loss).
    /// Nodes run once each, in reverse topological order.
    ///
    /// PyTorch: `Tensor.backward(gradient)`.
    public func backward(_ gradient: Tensor? = nil) {
        check { try runBackward(gradient) }
    }

    /// `backward()`, with its errors thrown (tests read the messages).
    func runBackward(_ gradient: Tensor? = nil) throws {
        let seed = try seedGradient(gradient, op: "backward")
        // Storages already handed to a leaf as its gradient in this pass (and the caller's
        // seed): a second leaf getting one gets a copy, so that clipping or a hook scaling
        // one leaf's grad in place leaves the other's alone.
        var given = Set<ObjectIdentifier>()
        if gradient != nil { given.insert(ObjectIdentifier(seed.storage)) }
        try Tensor.runGraph([(self, seed)], given: &given, capture: nil)
    }

    /// The gradient backward starts from: `gradient` (converted to self's dtype, as
    /// PyTorch's), or 1 for a one-element self.
    func seedGradient(_ gradient: Tensor?, op: String) throws -> Tensor {
        guard requiresGrad else {
            throw EmberError.invalidArgument(op: op, message:
                "element 0 of tensors does not require grad and does not have a grad_fn")
        }
        if let gradient {
            guard gradient.shape == shape else {
                throw EmberError.shapeMismatch(op: op, message:
                    "gradient shape \(gradient.shape) does not match tensor shape \(shape)")
            }
            // The kernels read float32.
            return gradient.dtype == dtype ? gradient : gradient.type(dtype)
        }
        guard count == 1 else {
            throw EmberError.invalidArgument(op: op, message:
                "grad can be implicitly created only for scalar outputs (shape \(shape))")
        }
        return Tensor.ones(shape)
    }

    /// One backward pass from `roots`, each with its seed gradient. Without `capture`, leaf
    /// gradients are added into `grad` (backward()); with it, only the gradients of the
    /// captured tensors are kept, in the capture, and nothing else is touched (Autograd.grad).
    static func runGraph(_ roots: [(tensor: Tensor, seed: Tensor)], given: inout Set<ObjectIdentifier>,
                         capture: GradCapture?) throws {
        // Depth-first topological order, iteratively (deep graphs must not overflow the stack).
        var order: [Node] = []
        var visited = Set<ObjectIdentifier>()
        for root in roots.compactMap({ $0.tensor.gradFn }) where visited.insert(ObjectIdentifier(root)).inserted {
            var stack: [(node: Node, next: Int)] = [(root, 0)]
            while !stack.isEmpty {
                let (node, next) = stack[stack.count - 1]
                if next < node.inputs.count {
                    stack[stack.count - 1].next += 1
                    if let child = node.edges[next], visited.insert(ObjectIdentifier(child)).inserted {
                        stack.append((child, 0))
                    }
                } else {
                    order.append(node)
                    stack.removeLast()
                }
            }
        }

        for node in order { try node.checkSavedVersions() }
        capture?.findNodesToRun(order)
        var hooked = GradReadiness(capture == nil ? order : [])
        var restoreDeferral: [Tensor] = []
        if capture != nil {
            // A linear layer's backward would keep its weight's gradient for the optimizer
            // (DeferredGrad.swift): a capture must leave every `grad` alone.
            for node in order {
                for input in node.inputs where input.isLeaf && input.defersLinearGrad {
                    input.defersLinearGrad = false
                    restoreDeferral.append(input)
                }
            }
        }
        defer { for t in restoreDeferral { t.defersLinearGrad = true } }

        noGrad {   // gradients are computed without recording (no double backward)
            for (tensor, seed) in roots {
                if let fn = tensor.gradFn {
                    fn.addPendingGrad(seed)
                } else if let capture {
                    capture.take(seed, forLeaf: tensor)
                } else {
                    tensor.accumulateGrad(tensor.runGradHooks(seed), given: &given)
                    tensor.runPostAccumulateGradHooks()
                }
            }
            for node in order.reversed() {
                defer { hooked.nodeDone(node, given: &given) }
                guard var g = node.pendingGrad else { continue }
                node.pendingGrad = nil
                node.pendingOwned = false
                if let capture, !capture.runs(node) { continue }
                g = node.runGradHooks(g)
                if let capture {
                    capture.take(g, forNode: node)
                    guard capture.leadsToInput(node) else { continue }
                }
                if let scatter = node.scatter, let parent = node.edges[0], node.needsGrad[0],
                   parent.addPendingGrad(g, through: scatter) {
                    continue
                }
                // Backward closures read their gradient flat: a view's gradient (an
                // expanded or transposed g) is copied here, once.
                let grads = node.backward!(g.contiguous())
                for (i, grad) in grads.enumerated() {
                    guard let grad, node.needsGrad[i] else { continue }
                    let input = node.inputs[i]
                    if let fn = node.edges[i] {
                        fn.addPendingGrad(grad)
                    } else if let capture {
                        capture.take(grad, forLeaf: input)
                    } else if !hooked.keep(grad, for: input) {
                        input.accumulateGrad(grad, given: &given)
                        hooked.received(input)
                    }
                }
            }
        }
    }

    /// First gradient: taken as is, unless its storage is in `given` (another leaf's
    /// gradient in this pass: `x + y` hands the same tensor to both), then copied. Later
    /// ones: added out of place.
    func accumulateGrad(_ g: Tensor, given: inout Set<ObjectIdentifier>) {
        precondition(g.shape == shape, "backward: gradient of shape \(g.shape) for a leaf of shape \(shape)")
        if let existing = grad {
            grad = noGrad { existing + g }
        } else {
            // Gradients of views arrive as views (a transposed g): a leaf's grad is flat.
            var flat = noGrad { g.contiguous() }
            if !given.insert(ObjectIdentifier(flat.storage)).inserted { flat = noGrad { flat.clone() } }
            grad = flat.gradFn == nil ? flat : flat.detach()
        }
    }
}
