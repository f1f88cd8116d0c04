/// Views: new shapes and strides over the same storage, O(1), no copy. A write through a
/// view is seen by its base and by every other view of it (PyTorch's view semantics). Each
/// view's gradient maps the view's gradient back to its input's shape.
extension Tensor {
    /// A view of this tensor's storage, recorded with `backward` (the gradient of the input
    /// from the gradient of the view). In grad mode it remembers its base, so that in-place
    /// ops through it or on the base keep the gradients right (Autograd/ViewHistory.swift).
    func makeView(_ op: String, shape: [Int], strides: [Int], offset: Int,
                  backward: @escaping (Tensor) -> Tensor) -> Tensor {
        let v = Tensor(storage: storage, shape: shape, strides: strides, dtype: dtype, offset: offset)
        v.viewOrigin = originForNewView()
        return v.recorded(op, [self], saved: []) { g in [backward(g)] }
    }

    /// A view that picks some of the input's elements, each at most once; `region` takes the
    /// same view of any tensor of the input's shape. Its backward is zeros of the input's shape
    /// with the gradient written through `region` — when the input is a leaf. When the input
    /// has a node, backward instead adds the gradient into that region of the node's pending
    /// gradient (Node.scatter): a split into q, k, v then builds one gradient of the input,
    /// not three full ones and their sum.
    func makePartView(_ op: String, shape: [Int], strides: [Int], offset: Int,
                      region: @escaping (Tensor) -> Tensor) -> Tensor {
        let input = self.shape
        let v = makeView(op, shape: shape, strides: strides, offset: offset) { g in
            let dx = Tensor.zeros(input)
            region(dx).writeElements(of: g)
            return dx
        }
        v.gradFn?.scatter = ViewScatter(inputShape: input, region: region)
        return v
    }

    // MARK: Reshaping

    /// The same elements in a new shape (one dim may be -1 and is inferred): a view when the
    /// strides allow it (always for a contiguous tensor), otherwise a copy (PyTorch's `reshape`).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved: [Int] = []
        check { resolved = try Tensor.inferShape(newShape, count: count) }
        if resolved == shape { return self }
        let original = shape
        if isContiguous {
            return makeView("reshape", shape: resolved, strides: contiguousStrides(resolved), offset: storageOffset) {
                $0.reshaped(original)
            }
        }
        if let s = viewStrides(for: resolved) {
            return makeView("reshape", shape: resolved, strides: s, offset: storageOffset) { $0.reshaped(original) }
        }
        return contiguous().reshaped(resolved)
    }

    /// `reshaped([dims])` with the sizes listed: `x.reshaped(64, -1)` (PyTorch: `reshape`).
    public func reshaped(_ newShape: Int...) -> Tensor { reshaped(newShape) }

    /// PyTorch's `view`: `reshaped`, but never a copy; stops when the strides cannot give the
    /// new shape (use `reshaped` or `contiguous()` first, as PyTorch says).
    public func view(_ newShape: [Int]) -> Tensor {
        var resolved: [Int] = []
        check {
            resolved = try Tensor.inferShape(newShape, count: count)
            if !isContiguous && viewStrides(for: resolved) == nil {
                throw EmberError.shapeMismatch(op: "view", message:
                    "view size is not compatible with input tensor's size and stride (at least one dimension spans across two contiguous subspaces). Use .reshaped(...) instead. (shape \(shape), strides \(strides), new shape \(resolved))")
            }
        }
        return reshaped(resolved)
    }
    /// `view([dims])` with the sizes listed: `x.view(64, -1)` (PyTorch: `view`).
    public func view(_ newShape: Int...) -> Tensor { view(newShape) }

    /// Strides that read this tensor's elements in row-major order as `newShape`, or nil when
    /// some new dim would span two runs that are not evenly strided.
    func viewStrides(for newShape: [Int]) -> [Int]? {
        if count == 0 || shape.isEmpty { return contiguousStrides(newShape) }
        var out = [Int](repeating: 0, count: newShape.count)
        var viewD = newShape.count - 1
        // Walk the old dims from the last, in runs that are contiguous with each other.
        var runStride = strides[shape.count - 1]
        var runCount = 1, viewCount = 1
        for d in stride(from: shape.count - 1, through: 0, by: -1) {
            runCount *= shape[d]
            let runEnds = d == 0 || (shape[d - 1] != 1 && strides[d - 1] != runCount * runStride)
            guard runEnds else { continue }
            while viewD >= 0 && (viewCount < runCount || newShape[viewD] == 1) {
                out[viewD] = viewCount * runStride
                viewCount *= newShape[viewD]
                viewD -= 1
            }
            if viewCount != runCount { return nil }
            if d > 0 {
                runStride = strides[d - 1]
                runCount = 1
                viewCount = 1
            }
        }
        return viewD == -1 ? out : nil
    }

    static func inferShape(_ s: [Int], count: Int) throws -> [Int] {
        let unknown = s.indices.filter { s[$0] == -1 }
        // Built only on failure: formatting the shape on every reshape cost ~0.5% of a test pass.
        func bad() -> EmberError {
            .shapeMismatch(op: "reshape", message: "shape '\(s)' is invalid for input of size \(count)")
        }
        if unknown.count > 1 || s.contains(where: { $0 < -1 }) { throw bad() }
        let known = s.filter { $0 != -1 }.reduce(1, *)
        var out = s
        if let u = unknown.first {
            if known == 0 || count % known != 0 { throw bad() }
            out[u] = count / known
        } else if known != count {
            throw bad()
        }
        return out
    }

    /// Merges dims startDim...endDim into one (a view where strides allow, as `reshaped`).
    ///
    /// PyTorch: `torch.flatten(x, start_dim, end_dim)`.
    public func flattened(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if ndim == 0 { return reshaped([1]) }
        let s = normalizeDim(startDim, ndim, op: "flatten"), e = normalizeDim(endDim, ndim, op: "flatten")
        precondition(s <= e, "flatten: start_dim (\(startDim)) cannot come after end_dim (\(endDim))")
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Inserts a dim of size 1 at `dim` (a view): `x.unsqueezed(0)` makes a batch of one.
    ///
    /// PyTorch: `unsqueeze(dim)`.
    public func unsqueezed(_ dim: Int) -> Tensor {
        let d = normalizeDim(dim, ndim + 1, op: "unsqueeze")
        var s = shape, st = strides
        s.insert(1, at: d)
        st.insert(d < ndim ? strides[d] * shape[d] : 1, at: d)
        return makeView("unsqueeze", shape: s, strides: st, offset: storageOffset) { $0.squeezed(d) }
    }

    /// Removes dims of size 1 (all of them, or only `dim`): a view.
    ///
    /// PyTorch: `squeeze(dim)`.
    public func squeezed(_ dim: Int? = nil) -> Tensor {
        let drop: [Int]
        if let dim {
            let d = normalizeDim(dim, ndim, op: "squeeze")
            drop = ndim > 0 && shape[d] == 1 ? [d] : []
        } else {
            drop = shape.indices.filter { shape[$0] == 1 }
        }
        if drop.isEmpty { return self }
        let keep = shape.indices.filter { !drop.contains($0) }
        let original = shape
        return makeView("squeeze", shape: keep.map { shape[$0] }, strides: keep.map { strides[$0] },
                        offset: storageOffset) { $0.reshaped(original) }
    }

    // MARK: Reordering dims

    /// Swaps two dims (negative counts from the end): a view (PyTorch's `transpose`).
    public func transposed(_ dim0: Int, _ dim1: Int) -> Tensor {
        let a = normalizeDim(dim0, ndim, op: "transpose"), b = normalizeDim(dim1, ndim, op: "transpose")
        if a == b || ndim < 2 { return self }
        var s = shape, st = strides
        s.swapAt(a, b)
        st.swapAt(a, b)
        return makeView("transpose", shape: s, strides: st, offset: storageOffset) { $0.transposed(a, b) }
    }

    /// The transpose of a 2-D tensor (a view; 0-D and 1-D tensors are returned as they are).
    ///
    /// PyTorch: `t()`.
    public func transposed() -> Tensor {
        precondition(ndim <= 2, "t: expects a tensor with <= 2 dimensions, but self is \(ndim)D")
        return ndim < 2 ? self : transposed(0, 1)
    }

    /// All dims reversed (PyTorch's `.T`): the matrix transpose for 2-D tensors.
    public var T: Tensor { ndim < 2 ? self : permuted(Array((0..<ndim).reversed())) }
    /// The last two dims swapped (PyTorch's `.mT`): a batch of transposed matrices.
    public var mT: Tensor {
        precondition(ndim >= 2, "mT: tensor.mT is only supported on matrices or batches of matrices. Got \(ndim)-D tensor.")
        return transposed(-2, -1)
    }

    /// Reorders the dims: dim i of the result is dim `dims[i]` of self (a view).
    ///
    /// PyTorch: `permute(dims)`.
    public func permuted(_ dims: [Int]) -> Tensor {
        let p = dims.map { normalizeDim($0, ndim, op: "permute") }
        precondition(p.count == ndim && Set(p).count == ndim,
                     "permute: dims \(dims) must be a permutation of the \(ndim) dims of a tensor of shape \(shape)")
        var inverse = [Int](repeating: 0, count: ndim)
        for (i, d) in p.enumerated() { inverse[d] = i }
        return makeView("permute", shape: p.map { shape[$0] }, strides: p.map { strides[$0] },
                        offset: storageOffset) { $0.permuted(inverse) }
    }
    /// `permuted([dims])` with the dims listed (PyTorch: `permute`).
    public func permuted(_ dims: Int...) -> Tensor { permuted(dims) }

    /// A view of self broadcast to `target` (stride 0 along the repeated dims; -1 keeps a
    /// dim), as PyTorch's `expand`. Writing through it writes each element several times:
    /// copy it (`contiguous()`) first.
    public func expanded(to target: [Int]) -> Tensor {
        let lead = target.count - ndim
        let resolved = target.enumerated().map { i, n in n == -1 && i >= lead ? shape[i - lead] : n }
        precondition(resolved.allSatisfy { $0 >= 0 },
                     "expand: the expanded size \(target) of \(shape) has a negative size (-1 only keeps an existing dim)")
        if resolved == shape { return self }
        var st: [Int] = []
        check { st = try broadcastStrides(of: self, to: resolved, op: "expand") }
        let original = shape
        return makeView("expand", shape: resolved, strides: st, offset: storageOffset) { $0.sumTo(original) }
    }
    /// `expanded(to: [dims])` with the sizes listed (PyTorch: `expand`).
    public func expanded(to target: Int...) -> Tensor { expanded(to: target) }
    /// `expanded(to: other.shape)` (PyTorch's `expand_as`).
    public func expanded(as other: Tensor) -> Tensor { expanded(to: other.shape) }

    /// Sums a gradient of a broadcast result back to `target` (the operand's shape).
    func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        let lead = ndim - target.count
        let dims = (0..<ndim).filter { d in (d < lead ? 1 : target[d - lead]) == 1 && shape[d] != 1 }
        let t = dims.isEmpty ? self : sum(dims: dims, keepDim: true)
        return t.reshaped(target)
    }

    // MARK: Picking parts

    /// `length` entries of `dim` from `start` on (a view; PyTorch's `narrow`).
    public func narrowed(dim: Int, start: Int, length: Int) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "narrow")
        let s = start < 0 ? start + shape[d] : start
        precondition(s >= 0 && length >= 0 && s + length <= shape[d],
                     "narrow: start (\(start)) + length (\(length)) exceeds dimension size (\(shape[d])) of dim \(dim) in a tensor of shape \(shape)")
        return slice(dim: d, start: s, end: s + length, step: 1)
    }

    /// Every `step`-th entry of `dim` in [start, end) (a view; bounds already checked).
    func slice(dim d: Int, start: Int, end: Int, step: Int) -> Tensor {
        let n = Swift.max(0, (end - start + step - 1) / step)
        if start == 0 && step == 1 && n == shape[d] { return self }
        var s = shape, st = strides
        s[d] = n
        st[d] = strides[d] * step
        return makePartView("slice", shape: s, strides: st, offset: storageOffset + start * strides[d]) {
            $0.slice(dim: d, start: start, end: end, step: step)
        }
    }

    /// Entry `index` of `dim`, without that dim (a view; PyTorch's `select`). Negative
    /// indices count from the end.
    public func select(dim: Int, index: Int) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "select")
        let i = index < 0 ? index + shape[d] : index
        precondition(i >= 0 && i < shape[d],
                     "select: index \(index) is out of bounds for dimension \(dim) with size \(shape[d])")
        var s = shape, st = strides
        s.remove(at: d)
        st.remove(at: d)
        return makePartView("select", shape: s, strides: st, offset: storageOffset + i * strides[d]) {
            $0.select(dim: d, index: i)
        }
    }

    /// Windows of `size` entries along `dim`, `step` apart, as a new last dim (a view;
    /// PyTorch's `unfold`). Windows may overlap: the gradient adds up where they do.
    public func unfolded(dim: Int, size: Int, step: Int) -> Tensor {
        let d = ndim == 0 ? 0 : normalizeDim(dim, ndim, op: "unfold")
        let len = ndim == 0 ? 1 : shape[d]
        precondition(size >= 0 && size <= len, "unfold: maximum size for tensor at dimension \(d) is \(len) but size is \(size)")
        precondition(step > 0, "unfold: step is \(step) but must be > 0")
        var s = shape, st = strides
        let dimStride = ndim == 0 ? 1 : strides[d]
        if ndim > 0 {
            s[d] = (len - size) / step + 1
            st[d] = dimStride * step
        }
        s.append(size)
        st.append(dimStride)
        let input = shape
        return makeView("unfold", shape: s, strides: st, offset: storageOffset) { g in
            let dx = Tensor.zeros(input)
            let windows = dx.unfolded(dim: d, size: size, step: step)
            let gc = g.contiguous()
            Kernels.addStrided(dst: windows.base.assumingMemoryBound(to: Float.self), dstStrides: windows.strides,
                               src: gc.f32, srcStrides: gc.strides, shape: windows.shape)
            return dx
        }
    }

    /// The diagonal of the 2-D planes spanned by `dim1` and `dim2`, `offset` above (> 0) or
    /// below (< 0) the main one, as a new last dim (a view; PyTorch's `diagonal`).
    public func diagonal(offset: Int = 0, dim1: Int = 0, dim2: Int = 1) -> Tensor {
        let a = normalizeDim(dim1, ndim, op: "diagonal"), b = normalizeDim(dim2, ndim, op: "diagonal")
        precondition(a != b, "diagonal: dimensions cannot be identical \(dim1), \(dim2)")
        let len = offset >= 0 ? Swift.max(0, Swift.min(shape[a], shape[b] - offset))
                              : Swift.max(0, Swift.min(shape[a] + offset, shape[b]))
        var start = storageOffset
        if len > 0 { start += offset >= 0 ? offset * strides[b] : -offset * strides[a] }
        let keep = (0..<ndim).filter { $0 != a && $0 != b }
        return makePartView("diagonal", shape: keep.map { shape[$0] } + [len],
                            strides: keep.map { strides[$0] } + [strides[a] + strides[b]], offset: start) {
            $0.diagonal(offset: offset, dim1: a, dim2: b)
        }
    }

    /// Pieces of `size` entries along `dim` (the last may be shorter): views (PyTorch's
    /// `split` with an int).
    public func split(_ size: Int, dim: Int = 0) -> [Tensor] {
        let d = normalizeDim(dim, ndim, op: "split")
        precondition(size > 0 || shape[d] == 0, "split: split_size must be positive, got \(size)")
        if shape[d] == 0 { return [self] }
        return stride(from: 0, to: shape[d], by: size).map {
            narrowed(dim: d, start: $0, length: Swift.min(size, shape[d] - $0))
        }
    }

    /// Pieces of the given sizes along `dim`, which must add up to its size: views.
    ///
    /// PyTorch: `torch.split(x, sizes, dim)`.
    public func split(_ sizes: [Int], dim: Int = 0) -> [Tensor] {
        let d = normalizeDim(dim, ndim, op: "split")
        precondition(sizes.allSatisfy { $0 >= 0 } && sizes.reduce(0, +) == shape[d],
                     "split_with_sizes: expects split_sizes to sum exactly to \(shape[d]) (input tensor's size at dimension \(dim)), but got split_sizes=\(sizes)")
        var start = 0
        return sizes.map { n in defer { start += n }; return narrowed(dim: d, start: start, length: n) }
    }

    /// `chunks` pieces of (nearly) equal size along `dim`: views (PyTorch's `chunk`, which
    /// may return fewer pieces).
    public func chunk(_ chunks: Int, dim: Int = 0) -> [Tensor] {
        precondition(chunks > 0, "chunk: chunk expects `chunks` to be greater than 0, got: \(chunks)")
        let d = normalizeDim(dim, ndim, op: "chunk")
        let size = (shape[d] + chunks - 1) / chunks
        return split(Swift.max(size, 1), dim: d)
    }

    /// The entries of `dim` as tensors without that dim: views (PyTorch's `unbind`).
    public func unbind(dim: Int = 0) -> [Tensor] {
        let d = normalizeDim(dim, ndim, op: "unbind")
        return (0..<shape[d]).map { select(dim: d, index: $0) }
    }
}

/// The broadcast shape of two shapes (NumPy rules), or a shape-mismatch error naming `op`.
func broadcastShape(_ a: [Int], _ b: [Int], op: String) throws -> [Int] {
    let n = max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let x = i < n - a.count ? 1 : a[i - (n - a.count)]
        let y = i < n - b.count ? 1 : b[i - (n - b.count)]
        if x != y && x != 1 && y != 1 {
            throw EmberError.shapeMismatch(op: op, message:
                "the size of tensor a (\(x)) must match the size of tensor b (\(y)) at non-singleton dimension \(i) (shapes \(a) and \(b))")
        }
        out[i] = x == 1 ? y : x
    }
    return out
}

/// Element strides that read tensor `t` as `target` (its own strides, 0 along broadcast dims).
func broadcastStrides(of t: Tensor, to target: [Int], op: String) throws -> [Int] {
    let shape = t.shape
    let lead = target.count - shape.count
    guard lead >= 0 else {
        throw EmberError.shapeMismatch(op: op, message: "cannot broadcast \(shape) to \(target)")
    }
    var strides = [Int](repeating: 0, count: target.count)
    for d in 0..<shape.count {
        if shape[d] == target[d + lead] {
            strides[d + lead] = shape[d] == 1 ? 0 : t.strides[d]
        } else if shape[d] == 1 {
            strides[d + lead] = 0
        } else {
            throw EmberError.shapeMismatch(op: op, message:
                "the expanded size of the tensor (\(target[d + lead])) must match the existing size (\(shape[d])) at non-singleton dimension \(d + lead). Target sizes: \(target). Tensor sizes: \(shape)")
        }
    }
    return strides
}

// MARK: - Unflatten and pixel shuffles

func checkUnflatten(_ x: Tensor, dim: Int, sizes: [Int]) throws -> [Int] {
    let d = normalizeDim(dim, x.ndim, op: "unflatten")
    var sizes = sizes
    let known = sizes.filter { $0 != -1 }.reduce(1, *)
    if let i = sizes.firstIndex(of: -1), sizes.filter({ $0 == -1 }).count == 1, known > 0, x.shape[d] % known == 0 {
        sizes[i] = x.shape[d] / known
    }
    guard !sizes.isEmpty, sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(1, *) == x.shape[d] else {
        throw EmberError.shapeMismatch(op: "unflatten", message:
            "provided sizes \(sizes) don't multiply up to the size of dim \(d) (\(x.shape[d])) in the input tensor")
    }
    return Array(x.shape[..<d]) + sizes + Array(x.shape[(d + 1)...])
}

func checkPixelShuffle(_ x: Tensor, _ r: Int, op: String) throws {
    guard r > 0 else { throw EmberError.invalidArgument(op: op, message: "factor must be positive, got \(r)") }
    guard x.ndim >= 3 else {
        throw EmberError.shapeMismatch(op: op, message: "expected an input of at least 3 dims, got \(x.shape)")
    }
    let (c, h, w) = (x.shape[x.ndim - 3], x.shape[x.ndim - 2], x.shape[x.ndim - 1])
    if op == "pixel_shuffle" {
        guard c % (r * r) == 0 else {
            throw EmberError.shapeMismatch(op: op, message:
                "the channel dim (-3, size \(c)) must be divisible by the square of upscale_factor (\(r * r))")
        }
    } else {
        guard h % r == 0 && w % r == 0 else {
            throw EmberError.shapeMismatch(op: op, message:
                "height (\(h)) and width (\(w)) must be divisible by downscale_factor (\(r))")
        }
    }
}

extension Tensor {
    /// Dim `dim` split into `sizes` (one may be −1), a view where the strides allow (PyTorch's
    /// `Tensor.unflatten`).
    public func unflattened(dim: Int, sizes: [Int]) -> Tensor {
        var shape: [Int] = []
        check { shape = try checkUnflatten(self, dim: dim, sizes: sizes) }
        return reshaped(shape)
    }

    /// (…, C·r², H, W) → (…, C, H·r, W·r): each group of r² channels becomes an r×r block of
    /// pixels (PyTorch's `F.pixel_shuffle`).
    public func pixelShuffled(_ upscaleFactor: Int) -> Tensor {
        check { try checkPixelShuffle(self, upscaleFactor, op: "pixel_shuffle") }
        let r = upscaleFactor, n = ndim - 3, lead = Array(shape[..<n])
        let (c, h, w) = (shape[n], shape[n + 1], shape[n + 2])
        return reshaped(lead + [c / (r * r), r, r, h, w])
            .permuted(Array(0..<n) + [n, n + 3, n + 1, n + 4, n + 2])
            .reshaped(lead + [c / (r * r), h * r, w * r])
    }

    /// (…, C, H·r, W·r) → (…, C·r², H, W), the inverse of `pixelShuffled` (PyTorch's
    /// `F.pixel_unshuffle`).
    public func pixelUnshuffled(_ downscaleFactor: Int) -> Tensor {
        check { try checkPixelShuffle(self, downscaleFactor, op: "pixel_unshuffle") }
        let r = downscaleFactor, n = ndim - 3, lead = Array(shape[..<n])
        let (c, h, w) = (shape[n], shape[n + 1], shape[n + 2])
        return reshaped(lead + [c, h / r, r, w / r, r])
            .permuted(Array(0..<n) + [n, n + 2, n + 4, n + 1, n + 3])
            .reshaped(lead + [c * r * r, h / r, w / r])
    }
}
