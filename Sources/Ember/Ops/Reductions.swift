/// Sums, means, max and argmax. Sums run in fixed chunks combined in a fixed order
/// (csrc/reductions.c), so they give the same bits for any thread count.
extension Tensor {
    /// Sum of all elements: float32 for float input, int64 for int64 and bool (as PyTorch).
    public func sum() -> Tensor {
        switch dtype {
        case .float32:
            let out = Tensor([Float(Kernels.sum(f32, count))], shape: [])
            let s = shape
            return out.recorded("sum", [self]) { g in [g.expanded(to: s)] }
        case .int64:
            return Tensor([Int(Kernels.sum(i64, count))], shape: [])
        case .bool:
            return Tensor([Int(Kernels.countNonzero(u8, count))], shape: [])
        }
    }

    /// Mean of all elements (float32 only).
    public func mean() -> Tensor {
        check { try expectDType(self, .float32, op: "mean") }
        let n = Double(Swift.max(count, 1))
        let out = Tensor([Float(Kernels.sum(f32, count) / n)], shape: [])
        let s = shape, total = count
        return out.recorded("mean", [self]) { g in [g.expanded(to: s) / Double(total)] }
    }

    /// Sum over `dim` (kept as size 1 with `keepDim`).
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "sum")
        if dtype != .float32 { return type(.float32).sum(dim: d, keepDim: keepDim).type(.int64) }
        let outer = shape[..<d].reduce(1, *), inner = shape[(d + 1)...].reduce(1, *)
        var kept = shape
        kept[d] = 1
        let out = Tensor(empty: kept)
        Kernels.sumDim(out.f32, f32, outer: outer, dim: shape[d], inner: inner)
        let s = shape
        let result = keepDim ? out : out.reshaped(kept.enumerated().filter { $0.offset != d }.map(\.element))
        return result.detach().recorded("sum", [self]) { g in [g.reshaped(kept).expanded(to: s)] }
    }

    /// Sum over several dims.
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        let ds = Set(dims.map { normalizeDim($0, ndim, op: "sum") }).sorted(by: >)
        var t = self
        for d in ds { t = t.sum(dim: d, keepDim: true) }
        if keepDim { return t }
        return t.reshaped(shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element))
    }

    /// Mean over `dim`.
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "mean")
        return sum(dim: d, keepDim: keepDim) / Double(shape[d])
    }

    /// Largest value and its index along `dim` (first index on ties; NaN wins).
    /// The gradient flows to the chosen index.
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        let d = normalizeDim(dim, ndim, op: "max")
        precondition(ndim == 0 || shape[d] > 0, "max: cannot reduce over an empty dimension \(dim) of \(shape)")
        let outer = shape[..<Swift.min(d, ndim)].reduce(1, *)
        let size = ndim == 0 ? 1 : shape[d]
        let inner = ndim == 0 ? 1 : shape[(d + 1)...].reduce(1, *)
        var kept = shape
        if ndim > 0 { kept[d] = 1 }
        let outShape = keepDim || ndim == 0 ? kept : kept.enumerated().filter { $0.offset != d }.map(\.element)
        let values = Tensor(empty: outShape, dtype: dtype == .bool ? .int64 : dtype)
        let indices = Tensor(empty: outShape, dtype: .int64)
        switch dtype {
        case .float32: Kernels.maxDim(values.f32, indices.i64, f32, outer: outer, dim: size, inner: inner)
        case .int64: Kernels.maxDim(values.i64, indices.i64, i64, outer: outer, dim: size, inner: inner)
        case .bool:
            let asInt = type(.int64)
            Kernels.maxDim(values.i64, indices.i64, asInt.i64, outer: outer, dim: size, inner: inner)
        }
        let s = shape
        values.recorded("max", [self]) { g in
            // Scatter each output gradient to the index that won.
            let dx = Tensor.zeros(s)
            let gi = g.reshaped(kept)
            for o in 0..<outer {
                for j in 0..<inner {
                    let k = Int(indices.i64[o * inner + j])
                    dx.f32[(o * size + k) * inner + j] += gi.f32[o * inner + j]
                }
            }
            return [dx]
        }
        return (values, indices)
    }

    /// Index of the largest value along `dim`, as int64 (`pred.argmax(dim: 1)`).
    public func argmax(dim: Int, keepDim: Bool = false) -> Tensor {
        noGrad { max(dim: dim, keepDim: keepDim).indices }
    }

    /// Index of the largest element of the flattened tensor.
    public func argmax() -> Tensor {
        noGrad { reshaped([-1]).max(dim: 0).indices }
    }

    /// Largest element.
    public func max() -> Tensor { reshaped([-1]).max(dim: 0).values }
    /// Smallest element.
    public func min() -> Tensor { -((-type(.float32)).max()) }
}
