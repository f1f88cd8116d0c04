/// Shape-changing views (sharing storage) and copies that rearrange elements.
extension Tensor {
    /// The same elements in a new shape (one dim may be -1 and is inferred). A view: shares
    /// storage with self.
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var resolved: [Int] = []
        check { resolved = try Tensor.inferShape(newShape, count: count) }
        if resolved == shape { return self }
        let original = shape
        return Tensor(storage: storage, shape: resolved, dtype: dtype, offset: offset)
            .recorded("reshape", [self]) { g in [g.reshaped(original)] }
    }

    public func reshaped(_ newShape: Int...) -> Tensor { reshaped(newShape) }
    /// PyTorch's `view`: the same as `reshaped` (storage is always contiguous).
    public func view(_ newShape: Int...) -> Tensor { reshaped(newShape) }

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

    /// Merges dims startDim...endDim into one (a view).
    public func flattened(startDim: Int = 0, endDim: Int = -1) -> Tensor {
        if ndim == 0 { return reshaped([1]) }
        let s = normalizeDim(startDim, ndim, op: "flatten"), e = normalizeDim(endDim, ndim, op: "flatten")
        precondition(s <= e, "flatten: start_dim (\(startDim)) cannot come after end_dim (\(endDim))")
        let merged = shape[s...e].reduce(1, *)
        return reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
    }

    /// Inserts a dim of size 1 at `dim` (a view): `x.unsqueezed(0)` makes a batch of one.
    public func unsqueezed(_ dim: Int) -> Tensor {
        let d = normalizeDim(dim, ndim + 1, op: "unsqueeze")
        var s = shape
        s.insert(1, at: d)
        return reshaped(s)
    }

    /// Removes dims of size 1 (all of them, or only `dim`).
    public func squeezed(_ dim: Int? = nil) -> Tensor {
        if let dim {
            let d = normalizeDim(dim, ndim, op: "squeeze")
            guard shape[d] == 1 else { return self }
            var s = shape
            s.remove(at: d)
            return reshaped(s)
        }
        return reshaped(shape.filter { $0 != 1 })
    }

    /// Rows `range` along dim 0 (a view).
    public subscript(range: Range<Int>) -> Tensor {
        precondition(ndim >= 1, "slice: cannot slice a 0-d tensor")
        precondition(range.lowerBound >= 0 && range.upperBound <= shape[0],
                     "slice: range \(range) out of bounds for dim 0 of size \(shape[0])")
        let rowSize = shape.dropFirst().reduce(1, *)
        var s = shape
        s[0] = range.count
        let full = shape
        return Tensor(storage: storage, shape: s, dtype: dtype, offset: offset + range.lowerBound * rowSize)
            .recorded("slice", [self]) { g in
                let dx = Tensor.zeros(full)
                dx.raw.advanced(by: range.lowerBound * rowSize * 4).copyMemory(from: g.raw, byteCount: g.count * 4)
                return [dx]
            }
    }

    /// Row `index` along dim 0, without that dim (a view). Negative indices count from the end.
    public subscript(index: Int) -> Tensor {
        precondition(ndim >= 1, "index: cannot index a 0-d tensor")
        let i = index < 0 ? index + shape[0] : index
        precondition(i >= 0 && i < shape[0], "index: index \(index) is out of bounds for dimension 0 with size \(shape[0])")
        return self[i..<(i + 1)].reshaped(Array(shape.dropFirst()))
    }

    /// A 2-D transpose (a copy).
    public func transposed() -> Tensor {
        precondition(ndim == 2, "transposed: expects a 2-D tensor, got \(ndim)-D \(shape)")
        precondition(dtype == .float32, "transposed: expected float32 but got \(dtype)")
        let (r, c) = (shape[0], shape[1])
        let out = Tensor(empty: [c, r])
        Kernels.copyStrided(out.f32, f32, shape: [Int64(c), Int64(r)], strides: [1, Int64(c)])
        return out.recorded("transpose", [self]) { g in [g.transposed()] }
    }

    /// PyTorch's `.T` / `.t()` for 2-D tensors.
    public var T: Tensor { transposed() }

    /// Materialises a broadcast of self to `target` (a copy).
    public func expanded(to target: [Int]) -> Tensor {
        if target == shape { return self }
        var strides: [Int] = []
        check { strides = try broadcastStrides(of: shape, to: target, op: "expand") }
        if dtype != .float32 {   // integer and bool broadcasts: through the int64 add kernel
            let asInt = type(.int64) + Tensor.zeros(target, dtype: .int64)
            return asInt.type(dtype)
        }
        let out = Tensor(empty: target)
        Kernels.copyStrided(out.f32, f32, shape: target.map(Int64.init), strides: strides.map(Int64.init))
        let original = shape
        return out.recorded("expand", [self]) { g in [g.sumTo(original)] }
    }

    /// Sums a gradient of a broadcast result back to `target` (the operand's shape).
    func sumTo(_ target: [Int]) -> Tensor {
        if shape == target { return self }
        var t = self
        let lead = ndim - target.count
        for d in 0..<ndim {
            let want = d < lead ? 1 : target[d - lead]
            if want == 1 && shape[d] != 1 { t = t.sum(dim: d, keepDim: true) }
        }
        return t.reshaped(target)
    }

    /// Concatenates along dim 0.
    public static func cat(_ tensors: [Tensor]) -> Tensor {
        precondition(!tensors.isEmpty, "cat: expected a non-empty list of tensors")
        let first = tensors[0]
        let rest = Array(first.shape.dropFirst())
        for t in tensors {
            precondition(Array(t.shape.dropFirst()) == rest && t.dtype == first.dtype,
                         "cat: sizes of tensors must match except in dimension 0: \(first.shape) vs \(t.shape)")
        }
        let out = Tensor(empty: [tensors.map { $0.shape[0] }.reduce(0, +)] + rest, dtype: first.dtype)
        var at = 0
        for t in tensors {
            let bytes = t.count * t.dtype.itemSize
            out.raw.advanced(by: at).copyMemory(from: t.raw, byteCount: bytes)
            at += bytes
        }
        let sizes = tensors.map { $0.shape[0] }
        return out.recorded("cat", tensors) { g in
            var start = 0
            return sizes.map { n in defer { start += n }; return g[start..<(start + n)].clone() }
        }
    }

    /// Stacks same-shape tensors along a new dim 0.
    public static func stack(_ tensors: [Tensor]) -> Tensor {
        cat(tensors.map { $0.unsqueezed(0) })
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

/// Element strides of a contiguous tensor of `shape` read as `target` (0 along broadcast dims).
func broadcastStrides(of shape: [Int], to target: [Int], op: String) throws -> [Int] {
    let lead = target.count - shape.count
    guard lead >= 0 else {
        throw EmberError.shapeMismatch(op: op, message: "cannot broadcast \(shape) to \(target)")
    }
    var strides = [Int](repeating: 0, count: target.count)
    var s = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
        if shape[d] == target[d + lead] {
            strides[d + lead] = shape[d] == 1 ? 0 : s
        } else if shape[d] == 1 {
            strides[d + lead] = 0
        } else {
            throw EmberError.shapeMismatch(op: op, message: "cannot broadcast \(shape) to \(target)")
        }
        s *= shape[d]
    }
    return strides
}
