/// Reductions over all elements or over any dims, with `keepDim` as PyTorch's. Every one
/// walks its elements in a fixed order with fixed chunks (csrc/reductions.c): the same bits
/// for any thread count.
extension Tensor {
    /// Sum of all elements: float32 for float input, int64 (exact) for int64 and bool, as PyTorch.
    public func sum() -> Tensor {
        let x = contiguous()
        switch dtype {
        case .float32:
            let out = Tensor([Float(Kernels.sum(x.f32, count))], shape: [])
            let s = shape
            return out.recorded("sum", [self], saved: []) { g in [g.expanded(to: s)] }
        case .int64:
            return Tensor([Int(Kernels.sum(x.i64, count))], shape: [])
        case .bool:
            return Tensor([Int(Kernels.countNonzero(x.u8, count))], shape: [])
        case .uint8:   // PyTorch sums uint8 into int64
            var s = 0
            for i in 0..<count { s += Int(x.u8[i]) }
            return Tensor([s], shape: [])
        }
    }

    /// Mean of all elements (float32 only); NaN for an empty tensor, as PyTorch.
    ///
    /// PyTorch: `torch.mean(x)`.
    public func mean() -> Tensor {
        check { try expectDType(self, .float32, op: "mean") }
        let n = Double(count)
        let out = Tensor([Float(Kernels.sum(contiguous().f32, count) / n)], shape: [])
        let s = shape, total = count
        return out.recorded("mean", [self], saved: []) { g in [g.expanded(to: s) / Double(total)] }
    }

    /// Sum over `dim` (kept as size 1 with `keepDim`); int64 and bool sum exactly to int64.
    ///
    /// PyTorch: `torch.sum(x, dim, keepdim)`.
    public func sum(dim: Int, keepDim: Bool = false) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "sum")
        if ndim == 0 { return sum() }
        var kept = shape
        kept[d] = 1
        let outer = shape[..<d].reduce(1, *), size = shape[d], inner = shape[(d + 1)...].reduce(1, *)
        let result: Tensor
        if dtype == .float32 {
            result = Tensor(empty: kept)
            Kernels.sumDim(result.f32, contiguous().f32, outer: outer, dim: size, inner: inner)
        } else {
            let x = type(.int64).contiguous()
            result = Tensor.zeros(kept, dtype: .int64)
            for o in 0..<outer { for k in 0..<size { for j in 0..<inner {
                result.i64[o * inner + j] += x.i64[(o * size + k) * inner + j]
            } } }
        }
        let s = shape
        let out = keepDim ? result : result.detach().squeezed(d).contiguous()
        return out.detach().recorded("sum", [self], saved: []) { g in [g.reshaped(kept).expanded(to: s)] }
    }

    /// Sum over several dims.
    ///
    /// PyTorch: `torch.sum(x, dims, keepdim)`.
    public func sum(dims: [Int], keepDim: Bool = false) -> Tensor {
        let ds = Set(dims.map { normalizeDim($0, ndim, op: "sum") }).sorted(by: >)
        var t = self
        for d in ds { t = t.sum(dim: d, keepDim: true) }
        if keepDim { return t }
        return t.reshaped(shape.enumerated().filter { !ds.contains($0.offset) }.map(\.element))
    }

    /// Mean over `dim`.
    ///
    /// PyTorch: `torch.mean(x, dim, keepdim)`.
    public func mean(dim: Int, keepDim: Bool = false) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "mean")
        return sum(dim: d, keepDim: keepDim) / Double(ndim == 0 ? 1 : shape[d])
    }

    /// Mean over several dims.
    ///
    /// PyTorch: `torch.mean(x, dims, keepdim)`.
    public func mean(dims: [Int], keepDim: Bool = false) -> Tensor {
        let ds = Set(dims.map { normalizeDim($0, ndim, op: "mean") })
        return sum(dims: Array(ds), keepDim: keepDim) / Double(ndim == 0 ? 1 : ds.reduce(1) { $0 * shape[$1] })
    }

    /// Largest value and its index along `dim` (first index on ties; NaN wins).
    /// The gradient flows to the chosen index.
    ///
    /// PyTorch: `torch.max(x, dim, keepdim)`.
    public func max(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        let d = normalizeDim(dim, ndim, op: "max")
        precondition(ndim == 0 || shape[d] > 0, "max: cannot reduce over an empty dimension \(dim) of \(shape)")
        let x = contiguous()
        let outer = shape[..<Swift.min(d, ndim)].reduce(1, *)
        let size = ndim == 0 ? 1 : shape[d]
        let inner = ndim == 0 ? 1 : shape[(d + 1)...].reduce(1, *)
        var kept = shape
        if ndim > 0 { kept[d] = 1 }
        let outShape = keepDim || ndim == 0 ? kept : kept.enumerated().filter { $0.offset != d }.map(\.element)
        var values = Tensor(empty: outShape, dtype: dtype == .float32 ? .float32 : .int64)
        let indices = Tensor(empty: outShape, dtype: .int64)
        switch dtype {
        case .float32: Kernels.maxDim(values.f32, indices.i64, x.f32, outer: outer, dim: size, inner: inner)
        case .int64: Kernels.maxDim(values.i64, indices.i64, x.i64, outer: outer, dim: size, inner: inner)
        case .bool, .uint8:   // in int64, then back to the input's dtype
            Kernels.maxDim(values.i64, indices.i64, type(.int64).i64, outer: outer, dim: size, inner: inner)
            values = values.type(dtype)
        }
        let s = shape
        values.recorded("max", [self], saved: []) { g in
            [Tensor.zeros(s).scatterAdd(dim: d, index: indices.reshaped(kept), src: g.reshaped(kept))]
        }
        return (values, indices)
    }

    /// Smallest value and its index along `dim` (first index on ties; NaN wins).
    ///
    /// PyTorch: `torch.min(x, dim, keepdim)`.
    public func min(dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        if dtype == .float32 {
            let r = (-self).max(dim: dim, keepDim: keepDim)
            return (-r.values, r.indices)
        }
        let r = (Tensor.zeros([], dtype: .int64) - type(.int64)).max(dim: dim, keepDim: keepDim)
        return ((Tensor.zeros([], dtype: .int64) - r.values).type(dtype), r.indices)
    }

    /// Index of the largest value along `dim`, as int64 (`pred.argmax(dim: 1)`).
    ///
    /// PyTorch: `torch.argmax(x, dim, keepdim)`.
    public func argmax(dim: Int, keepDim: Bool = false) -> Tensor {
        noGrad { max(dim: dim, keepDim: keepDim).indices }
    }
    /// Index of the largest element of the flattened tensor.
    ///
    /// PyTorch: `torch.argmax(x)`.
    public func argmax() -> Tensor { noGrad { reshaped([-1]).max(dim: 0).indices } }
    /// Index of the smallest value along `dim`.
    ///
    /// PyTorch: `torch.argmin(x, dim, keepdim)`.
    public func argmin(dim: Int, keepDim: Bool = false) -> Tensor {
        noGrad { min(dim: dim, keepDim: keepDim).indices }
    }
    /// Index of the smallest element of the flattened tensor.
    ///
    /// PyTorch: `torch.argmin(x)`.
    public func argmin() -> Tensor { noGrad { reshaped([-1]).min(dim: 0).indices } }

    /// Largest element. The gradient is shared evenly among tied maxima, as PyTorch's.
    ///
    /// PyTorch: `torch.max(x)`.
    public func max() -> Tensor {
        precondition(count > 0, "max(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        return dtype == .float32 ? amax() : reshaped([-1]).max(dim: 0).values
    }
    /// Smallest element. The gradient is shared evenly among tied minima, as PyTorch's.
    ///
    /// PyTorch: `torch.min(x)`.
    public func min() -> Tensor {
        precondition(count > 0, "min(): Expected reduction dim to be specified for input.numel() == 0. Specify the reduction dim with the 'dim' argument.")
        return dtype == .float32 ? amin() : reshaped([-1]).min(dim: 0).values
    }

    // MARK: Row reductions over any dims

    /// The reduced dims moved last and flattened: (rows, cols) contiguous, with the result's
    /// shape with and without the kept size-1 dims.
    private func reductionRows(_ dims: [Int]?, op: String) -> (rows: Tensor, kept: [Int], out: [Int]) {
        var ds = dims.map { Set($0.map { normalizeDim($0, ndim, op: op) }) } ?? Set(0..<ndim)
        if ndim == 0 { ds = [] }   // dim 0 or -1 of a scalar is the scalar itself, as PyTorch
        let keep = (0..<ndim).filter { !ds.contains($0) }
        let moved = noGrad { permuted(keep + ds.sorted()).contiguous() }
        let cols = ds.reduce(1) { $0 * shape[$1] }
        let rows = keep.reduce(1) { $0 * shape[$1] }
        let kept = (0..<ndim).map { ds.contains($0) ? 1 : shape[$0] }
        return (moved.reshaped([rows, cols]), kept, keep.map { shape[$0] })
    }

    private func rowReduce(_ kind: Int32, _ dims: [Int]?, keepDim: Bool, param: Double = 0, op: String) -> (out: Tensor, kept: [Int]) {
        check { try expectDType(self, .float32, op: op) }
        let (rows, kept, outShape) = reductionRows(dims, op: op)
        let out = Tensor(empty: keepDim ? kept : outShape)
        Kernels.reduceRows(kind, out.f32, rows.f32, rows: rows.shape[0], cols: rows.shape[1], param: param)
        return (out, kept)
    }

    /// Product of the elements over `dims` (all when nil). The gradient is the product of the
    /// other elements, exact where there are zeros.
    ///
    /// PyTorch: `torch.prod(x, dims, keepdim)`.
    public func prod(dims: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let (out, kept) = rowReduce(Kernels.reduceProd, dims, keepDim: keepDim, op: "prod")
        let x = self
        return out.recorded("prod", [self]) { g in
            // d/dx_i Π x = Π_{j≠i} x_j: prefix · suffix products per row, so zeros are exact.
            let (rows, _, _) = x.reductionRows(dims, op: "prod")
            let (r, c) = (rows.shape[0], rows.shape[1])
            let others = Tensor(empty: [r, c])
            for i in 0..<r {
                var prefix = 1.0
                var suffix = [Double](repeating: 1, count: c + 1)
                for j in stride(from: c - 1, through: 0, by: -1) { suffix[j] = suffix[j + 1] * Double(rows.f32[i * c + j]) }
                for j in 0..<c {
                    others.f32[i * c + j] = Float(prefix * suffix[j + 1])
                    prefix *= Double(rows.f32[i * c + j])
                }
            }
            let ds = x.ndim == 0 ? [] : dims.map { $0.map { normalizeDim($0, x.ndim, op: "prod") } } ?? Array(0..<x.ndim)
            let keep = (0..<x.ndim).filter { !ds.contains($0) }
            let order = keep + Set(ds).sorted()
            var inverse = [Int](repeating: 0, count: order.count)
            for (i, d) in order.enumerated() { inverse[d] = i }
            let movedShape = order.map { x.shape[$0] }
            let grad = others.reshaped(movedShape).permuted(inverse)
            return [grad * g.reshaped(kept)]
        }
    }
    /// Product over one dim (PyTorch: `torch.prod(x, dim)`).
    public func prod(dim: Int, keepDim: Bool = false) -> Tensor { prod(dims: [dim], keepDim: keepDim) }

    /// Largest value over `dims` (PyTorch's `amax`; NaN propagates). The gradient is shared
    /// evenly among tied maxima, as PyTorch's.
    public func amax(dims: [Int]? = nil, keepDim: Bool = false) -> Tensor { extremum(Kernels.reduceAmax, dims, keepDim, "amax") }
    /// Largest value over one dim (PyTorch: `torch.amax(x, dim)`).
    public func amax(dim: Int, keepDim: Bool = false) -> Tensor { amax(dims: [dim], keepDim: keepDim) }
    /// Smallest value over `dims` (PyTorch's `amin`).
    public func amin(dims: [Int]? = nil, keepDim: Bool = false) -> Tensor { extremum(Kernels.reduceAmin, dims, keepDim, "amin") }
    /// Smallest value over one dim (PyTorch: `torch.amin(x, dim)`).
    public func amin(dim: Int, keepDim: Bool = false) -> Tensor { amin(dims: [dim], keepDim: keepDim) }

    private func extremum(_ kind: Int32, _ dims: [Int]?, _ keepDim: Bool, _ op: String) -> Tensor {
        let (out, kept) = rowReduce(kind, dims, keepDim: keepDim, op: op)
        let x = self
        return out.recordedReadingOutput(op, [self], saved: [self]) { g, y in
            let hit = (x == y.reshaped(kept)).type(.float32)
            return [hit * (g.reshaped(kept) / hit.sum(dims: dims ?? Array(0..<x.ndim), keepDim: true))]
        }
    }

    /// Variance over `dims` with `correction` (PyTorch's default 1: the unbiased estimate),
    /// computed in double in two passes.
    public func `var`(dims: [Int]? = nil, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        let (out, kept) = rowReduce(Kernels.reduceVar, dims, keepDim: keepDim, param: Double(correction), op: "var")
        let x = self
        let n = ndim == 0 ? 1 : (dims.map { $0.map { normalizeDim($0, ndim, op: "var") } } ?? Array(0..<ndim)).reduce(1) { $0 * shape[$1] }
        return out.recorded("var", [self]) { g in
            let mean = x.mean(dims: dims ?? Array(0..<x.ndim), keepDim: true)
            return [g.reshaped(kept) * (x - mean) * (2.0 / Double(n - correction))]
        }
    }
    /// Variance over one dim with `correction` (PyTorch: `torch.var(x, dim)`).
    public func `var`(dim: Int, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        `var`(dims: [dim], correction: correction, keepDim: keepDim)
    }

    /// Standard deviation: the square root of `var`. Its gradient is zero where the standard
    /// deviation is (a constant row), as PyTorch's, not the 0·∞ of sqrt's.
    ///
    /// PyTorch: `torch.std(x, dims, correction=correction, keepdim=keepDim)`.
    public func std(dims: [Int]? = nil, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        let v = `var`(dims: dims, correction: correction, keepDim: keepDim)
        return noGrad { v.sqrt() }.recordedReadingOutput("std", [v]) { g, y in
            [Tensor.where(y == 0, Tensor(scalar: 0), g / (2 * y))]
        }
    }
    /// Standard deviation over one dim with `correction` (PyTorch: `torch.std(x, dim)`).
    public func std(dim: Int, correction: Int = 1, keepDim: Bool = false) -> Tensor {
        std(dims: [dim], correction: correction, keepDim: keepDim)
    }

    /// log Σ exp over `dims`, computed stably (PyTorch's `logsumexp`).
    public func logsumexp(dims: [Int], keepDim: Bool = false) -> Tensor {
        let (out, kept) = rowReduce(Kernels.reduceLogSumExp, dims, keepDim: keepDim, op: "logsumexp")
        let x = self
        return out.recordedReadingOutput("logsumexp", [self], saved: [self]) { g, y in
            [g.reshaped(kept) * (x - y.reshaped(kept)).exp()]
        }
    }
    /// log Σ exp over one dim, computed stably (PyTorch: `torch.logsumexp(x, dim)`).
    public func logsumexp(dim: Int, keepDim: Bool = false) -> Tensor { logsumexp(dims: [dim], keepDim: keepDim) }

    /// The p-norm over `dims` (all when nil): p = 2 by default, also 1, 0, ±infinity and any
    /// other real p (PyTorch's `torch.linalg.vector_norm` / `Tensor.norm`).
    public func norm(p: Double = 2, dims: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let (out, kept) = rowReduce(Kernels.reduceNorm, dims, keepDim: keepDim, param: p, op: "norm")
        let x = self
        return out.recordedReadingOutput("norm", [self], saved: [self]) { g, y in
            let n = y.reshaped(kept), gk = g.reshaped(kept)
            let sign = x.sign()
            if p.isInfinite {
                let hit = (x.abs() == n).type(.float32)
                return [gk * sign * hit / hit.sum(dims: dims ?? Array(0..<x.ndim), keepDim: true)]
            }
            if p == 0 { return [Tensor.zeros(x.shape)] }
            if p == 1 { return [gk * sign] }
            // x·|x|^(p-2) / ‖x‖^(p-1), zero where the norm is zero.
            let safe = Tensor.where(n == 0, Tensor(scalar: 1), n)
            let scale = Tensor.where(n == 0, Tensor(scalar: 0), gk / safe.pow(p - 1))
            // Zero entries get 0 (|x|^(p−1) is infinite there for p < 1), as PyTorch's.
            return [Tensor.where(x == 0, Tensor(scalar: 0), sign * x.abs().pow(p - 1) * scale)]
        }
    }
    /// The p-norm over one dim (PyTorch: `torch.linalg.vector_norm(x, p, dim)`).
    public func norm(p: Double = 2, dim: Int, keepDim: Bool = false) -> Tensor { norm(p: p, dims: [dim], keepDim: keepDim) }

    /// Running sum along `dim` (PyTorch's `cumsum`), accumulated in double in order.
    public func cumsum(dim: Int) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "cumsum")
        if dtype != .float32 { return integerCumsum(d) }
        let out = cumulative(0, d)
        return out.recorded("cumsum", [self], saved: []) { g in [g.flip([d]).cumsum(dim: d).flip([d])] }
    }

    /// `cumsum` of an integer or bool tensor: exact, in int64 (PyTorch's result dtype).
    private func integerCumsum(_ d: Int) -> Tensor {
        let x = type(.int64).contiguous()
        let out = Tensor(empty: shape, dtype: .int64)
        if ndim == 0 || count == 0 {
            if count > 0 { out.i64[0] = x.i64[0] }
            return out
        }
        let size = shape[d], inner = shape[(d + 1)...].reduce(1, *), outer = count / (size * inner)
        for o in 0..<outer {
            for j in 0..<inner {
                var acc: Int64 = 0
                for k in 0..<size {
                    let i = (o * size + k) * inner + j
                    acc &+= x.i64[i]
                    out.i64[i] = acc
                }
            }
        }
        return out
    }

    /// Running product along `dim` (PyTorch's `cumprod`).
    public func cumprod(dim: Int) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "cumprod")
        check { try expectDType(self, .float32, op: "cumprod") }
        let out = cumulative(1, d)
        let x = self
        return out.recorded("cumprod", [self]) { g in
            // dx_i = Σ_{j≥i} g_j · Π_{k≤j, k≠i} x_k, row by row (exact with zeros).
            let xm = x.transposed(d, -1).contiguous(), gm = g.transposed(d, -1).contiguous()
            let c = xm.ndim == 0 ? 1 : xm.shape[xm.ndim - 1], rows = c == 0 ? 0 : xm.count / c
            let dx = Tensor(empty: xm.shape)
            for r in 0..<rows {
                let xs = xm.f32 + r * c, gs = gm.f32 + r * c
                for i in 0..<c {
                    var acc = 0.0, prod = 1.0
                    for k in 0..<i { prod *= Double(xs[k]) }
                    for j in i..<c {
                        if j > i { prod *= Double(xs[j]) }
                        acc += Double(gs[j]) * prod
                    }
                    dx.f32[r * c + i] = Float(acc)
                }
            }
            return [dx.transposed(d, -1)]
        }
    }

    private func cumulative(_ op: Int32, _ d: Int) -> Tensor {
        let x = contiguous()
        let out = Tensor(empty: shape)
        let outer = ndim == 0 ? 1 : shape[..<d].reduce(1, *), size = ndim == 0 ? 1 : shape[d]
        let inner = ndim == 0 ? 1 : shape[(d + 1)...].reduce(1, *)
        Kernels.cumulative(op, out.f32, x.f32, outer: outer, dim: size, inner: inner)
        return out
    }

    /// Whether every element is nonzero, over `dims` (all when nil): bool (PyTorch's `all`).
    public func all(dims: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        let n = (dims.map { $0.map { normalizeDim($0, ndim, op: "all") } } ?? Array(0..<ndim)).reduce(1) { $0 * shape[$1] }
        return nonzeroCount(dims: dims ?? Array(0..<ndim), keepDim: keepDim) == Double(n)
    }
    /// Whether any element is nonzero, over `dims` (PyTorch's `any`).
    public func any(dims: [Int]? = nil, keepDim: Bool = false) -> Tensor {
        nonzeroCount(dims: dims ?? Array(0..<ndim), keepDim: keepDim) > 0
    }
    /// Whether every element is nonzero, over one dim (PyTorch: `torch.all(x, dim)`).
    public func all(dim: Int, keepDim: Bool = false) -> Tensor { all(dims: [dim], keepDim: keepDim) }
    /// Whether any element is nonzero, over one dim (PyTorch: `torch.any(x, dim)`).
    public func any(dim: Int, keepDim: Bool = false) -> Tensor { any(dims: [dim], keepDim: keepDim) }

    /// The count of nonzero elements over dims (int64, exact).
    private func nonzeroCount(dims: [Int], keepDim: Bool) -> Tensor {
        let nz = noGrad { type(.bool).type(.int64) }
        return dims.isEmpty ? nz : nz.sum(dims: dims, keepDim: keepDim)
    }
}
