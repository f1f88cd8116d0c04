/// Joining and rearranging: cat, stack, flip, roll, repeat. Each is one strided copy per
/// input into its place in the output; the gradients are views of the output's gradient.
extension Tensor {
    /// Concatenates along `dim`; every other dim must match (PyTorch's `torch.cat`). 1-D
    /// empty tensors are skipped, as PyTorch does.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "cat: expected a non-empty list of Tensors")
        let parts = tensors.filter { !($0.ndim == 1 && $0.count == 0) }
        guard let first = parts.first else { return tensors[0] }
        let d = normalizeDim(dim, first.ndim, op: "cat")
        for (i, t) in parts.enumerated() {
            precondition(t.ndim == first.ndim,
                         "cat: Tensors must have same number of dimensions: got \(first.ndim) and \(t.ndim)")
            for k in 0..<first.ndim where k != d && t.shape[k] != first.shape[k] {
                preconditionFailure("cat: Sizes of tensors must match except in dimension \(d). Expected size \(first.shape[k]) but got size \(t.shape[k]) for tensor number \(i) in the list (shapes \(first.shape) and \(t.shape))")
            }
        }
        // PyTorch's promotion: bool < uint8 < int64 < float32.
        let dtype = parts.contains { $0.dtype == .float32 } ? DType.float32
            : parts.contains { $0.dtype == .int64 } ? .int64
            : parts.contains { $0.dtype == .uint8 } ? .uint8 : .bool
        var shape = first.shape
        shape[d] = parts.reduce(0) { $0 + $1.shape[d] }
        let out = Tensor(empty: shape, dtype: dtype)
        var at = 0
        for t in parts {
            out.slice(dim: d, start: at, end: at + t.shape[d], step: 1).writeElements(of: t)
            at += t.shape[d]
        }
        let sizes = parts.map { $0.shape[d] }
        return out.recorded("cat", parts, saved: []) { g in
            var start = 0
            return sizes.map { n in defer { start += n }; return g.narrowed(dim: d, start: start, length: n) }
        }
    }

    /// Stacks same-shape tensors along a new dim (PyTorch's `torch.stack`).
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        precondition(!tensors.isEmpty, "stack: expects a non-empty TensorList")
        for (i, t) in tensors.enumerated() where t.shape != tensors[0].shape {
            preconditionFailure("stack: expects each tensor to be equal size, but got \(tensors[0].shape) at entry 0 and \(t.shape) at entry \(i)")
        }
        let d = normalizeDim(dim, tensors[0].ndim + 1, op: "stack")
        return cat(tensors.map { $0.unsqueezed(d) }, dim: d)
    }

    /// The entries of each dim in `dims` in reverse order (a copy, as PyTorch's `flip`).
    public func flip(_ dims: [Int]) -> Tensor {
        let ds = Set(dims.map { normalizeDim($0, ndim, op: "flip") })
        if ds.isEmpty || count == 0 { return storageCopy().recorded("flip", [self], saved: []) { g in [g] } }
        // A view with negative strides exists only inside this copy.
        var st = strides, off = storageOffset
        for d in ds {
            off += (shape[d] - 1) * strides[d]
            st[d] = -strides[d]
        }
        let out = Tensor(empty: shape, dtype: dtype)
        Kernels.copyStrided(dst: out.base, dstStrides: out.strides, src: storage.data + off * dtype.itemSize,
                            srcStrides: st, shape: shape, itemSize: dtype.itemSize)
        return out.recorded("flip", [self], saved: []) { g in [g.flip(Array(ds))] }
    }
    /// `flip([dims])` with the dims listed (PyTorch: `torch.flip`).
    public func flip(_ dims: Int...) -> Tensor { flip(dims) }

    /// Rolls entries along `dims` by `shifts` (wrapping around), as PyTorch's `roll`; with no
    /// dims the flattened tensor is rolled and the shape restored.
    public func roll(_ shifts: [Int], dims: [Int] = []) -> Tensor {
        if dims.isEmpty {
            precondition(shifts.count == 1, "roll: shifts \(shifts) without dims must be one shift")
            return flattened().roll(shifts, dims: [0]).reshaped(shape)
        }
        precondition(shifts.count == dims.count, "roll: shifts and dimensions must align. shifts: \(shifts.count), dims: \(dims.count)")
        var t = self
        for (s, dim) in zip(shifts, dims) {
            let d = normalizeDim(dim, ndim, op: "roll")
            let n = shape[d]
            guard n > 0 else { continue }
            let k = ((s % n) + n) % n
            if k == 0 { continue }
            t = Tensor.cat([t.narrowed(dim: d, start: n - k, length: k), t.narrowed(dim: d, start: 0, length: n - k)], dim: d)
        }
        return t === self ? storageCopy().recorded("roll", [self], saved: []) { g in [g] } : t
    }
    /// Rolls along one dim (PyTorch: `torch.roll(x, shift, dims)`).
    public func roll(_ shift: Int, dims: Int) -> Tensor { roll([shift], dims: [dims]) }

    /// Tiles the tensor `repeats[i]` times along dim i (leading new dims allowed), as
    /// PyTorch's `Tensor.repeat`.
    public func repeated(_ repeats: [Int]) -> Tensor {
        precondition(repeats.count >= ndim,
                     "repeat: Number of dimensions of repeat dims (\(repeats.count)) can not be smaller than number of dimensions of tensor (\(ndim))")
        precondition(repeats.allSatisfy { $0 >= 0 }, "repeat: repeats must be non-negative, got \(repeats)")
        let lead = repeats.count - ndim
        let padded = [Int](repeating: 1, count: lead) + shape
        // View as (r0, s0, r1, s1, …) with stride 0 on the r's, then copy.
        let base = reshaped(padded)
        let interleaved = zip(repeats, padded).flatMap { [$0, $1] }
        let expandedView = base.reshaped(padded.flatMap { [1, $0] }).expanded(to: interleaved)
        let outShape = zip(repeats, padded).map { $0 * $1 }
        return expandedView.contiguous().reshaped(outShape)
    }
    /// `repeated([repeats])` with the counts listed (PyTorch: `Tensor.repeat`).
    public func repeated(_ repeats: Int...) -> Tensor { repeated(repeats) }
}
