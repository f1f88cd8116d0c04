/// Views and in-place ops under autograd, as PyTorch's. A view made while grad mode is on
/// remembers its base: the tensor whose memory it windows (never itself such a view). Two
/// rules then keep gradients right when memory is rewritten:
/// - an in-place op on the base gives the base a new node; a view's node is remade over that
///   one the next time it is read (`refreshViewNode`), so a view taken before the write
///   passes its gradient through the write (PyTorch's AsStridedBackward);
/// - an in-place op on a view gives its base a "copy_slices" node: the base's old history
///   for the elements outside the view, the op's result for those inside
///   (`recordWrite(through:result:)`, PyTorch's CopySlices).
final class ViewOrigin {
    let base: Tensor
    /// The base's node when the view's own node was last made: another one now means the
    /// base was written in place since.
    var baseNode: Node?

    init(base: Tensor) {
        self.base = base
        baseNode = base.gradFn
    }
}

extension Tensor {
    /// The origin of a view of self made now: nil under noGrad (PyTorch also refuses to
    /// record in-place ops on views made there).
    func originForNewView() -> ViewOrigin? {
        guard Kernels.gradEnabled else { return nil }
        return ViewOrigin(base: viewOrigin?.base ?? self)
    }

    /// Remakes this view's node over its base's current one: the gradient of each of the
    /// view's elements is added, in element order, into the base element sharing its memory.
    func refreshViewNode(_ origin: ViewOrigin) {
        let base = origin.base
        origin.baseNode = base.gradFn
        guard base.requiresGrad else {
            replaceNode(nil)
            return
        }
        let positions = positions(in: base), baseShape = base.shape
        replaceNode(Node(op: "as_strided", inputs: [base], saved: []) { g in
            let dx = Tensor.zeros(baseShape)
            let src = g.f32, dst = dx.f32
            for (i, p) in positions.enumerated() { dst[p] += src[i] }
            return [dx]
        })
    }

    /// Self's elements at `view`'s memory now hold `result` (the view's in-place op, with its
    /// history): self's node becomes copy_slices over its old node and `result`'s.
    func recordWrite(through view: Tensor, result: Tensor) {
        let positions = view.positions(in: self), viewShape = view.shape
        let old = detach()
        old.gradFn = gradFn
        gradFn = Node(op: "copy_slices", inputs: [old, result], saved: []) { g in
            let outside = g.storageCopy(), inside = Tensor(empty: viewShape)
            let src = g.f32, out = outside.f32, ins = inside.f32
            for (i, p) in positions.enumerated() {
                ins[i] = src[p]
                out[p] = 0
            }
            return [outside, inside]
        }
    }

    /// For each of self's elements in row-major order, the row-major index of the element of
    /// `base` at the same memory.
    func positions(in base: Tensor) -> [Int] {
        let baseOffsets = stridedOffsets(shape: base.shape, strides: base.strides)
        guard let lo = baseOffsets.min(), let hi = baseOffsets.max() else { return [] }
        var index = [Int](repeating: -1, count: hi - lo + 1)
        for (i, o) in baseOffsets.enumerated() { index[o - lo] = i }
        let shift = storageOffset - base.storageOffset
        return stridedOffsets(shape: shape, strides: strides).map { o in
            let o = o + shift, i = o >= lo && o <= hi ? index[o - lo] : -1
            precondition(i >= 0, "internal error: a view's element at \(o) lies outside its base")
            return i
        }
    }

    /// Whether two elements share memory (an expanded dim): PyTorch refuses to write into
    /// such a tensor, whose result would depend on the order of the writes.
    func checkNoInternalOverlap(_ op: String) throws {
        if zip(shape, strides).contains(where: { $0.0 > 1 && $0.1 == 0 }) {
            throw EmberError.invalidArgument(op: op, message:
                "unsupported operation: more than one element of the written-to tensor refers to a single memory location (shape \(shape), strides \(strides)); clone() it first")
        }
    }
}
