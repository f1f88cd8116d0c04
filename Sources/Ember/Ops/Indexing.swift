/// Indexing ops: indexSelect, gather, scatter, scatterAdd, indexAdd, maskedFill, where,
/// nonzero, sort, argsort, topk, oneHot. The element walks go through the block kernels of
/// csrc/strided.c (serial, in index order: repeated indices give the same bits every run).
extension Tensor {
    /// The entries `index` (1-D int64) of `dim`, in that order (PyTorch's `index_select`).
    public func indexSelect(dim: Int, index: Tensor) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "index_select")
        precondition(index.dtype == .int64 && index.ndim <= 1,
                     "index_select: index should be a 1-D int64 tensor, got \(index.dtype) \(index.shape)")
        refuseNegative(index, op: "index_select")
        return AdvancedIndex(firstDim: d, indices: [index.reshaped([-1])]).gather(self)
    }

    /// Unlike subscripts, PyTorch's index_select and index_add take no negative indices.
    private func refuseNegative(_ index: Tensor, op: String) {
        index.withUnsafeInt64s { values in
            if let k = values.first(where: { $0 < 0 }) {
                preconditionFailure("\(op): index \(k) out of range in self (negative indices are not counted from the end here)")
            }
        }
    }

    /// Storage offsets (from `t`'s first element) of every position of `index`, with dim `d`
    /// taken from the index's value: what gather reads and scatter writes.
    private static func dimOffsets(_ t: Tensor, dim d: Int, index: Tensor, op: String) -> [Int64] {
        precondition(index.dtype == .int64, "\(op): Expected dtype int64 for index, got \(index.dtype)")
        precondition(index.ndim == t.ndim || (index.ndim <= 1 && t.ndim <= 1),
                     "\(op): Index tensor must have the same number of dimensions as input tensor (\(index.shape) vs \(t.shape))")
        for k in 0..<index.ndim where k != d {
            precondition(index.shape[k] <= t.shape[k],
                         "\(op): Size does not match at dimension \(k) expected index \(index.shape) to be smaller than self \(t.shape) apart from dimension \(d)")
        }
        let idx = index.contiguous()
        var out = [Int64](repeating: 0, count: idx.count)
        var coord = [Int](repeating: 0, count: index.ndim)
        let size = t.ndim == 0 ? 1 : t.shape[d]
        for p in 0..<idx.count {
            var k = Int(idx.i64[p])
            precondition(k >= -size && k < size, "\(op): index \(k) is out of bounds for dimension \(d) with size \(size)")
            if k < 0 { k += size }
            // A 0-d index or input stands for one position along dim d.
            var off = t.ndim == 0 ? 0 : k * t.strides[d]
            for j in 0..<index.ndim where j != d { off += coord[j] * t.strides[j] }
            out[p] = Int64(off)
            var j = index.ndim - 1
            while j >= 0 {
                coord[j] += 1
                if coord[j] < index.shape[j] { break }
                coord[j] = 0
                j -= 1
            }
        }
        return out
    }

    /// out[i][j] = self[index[i][j]][j] for dim 0, self[i][index[i][j]] for dim 1, … (PyTorch's
    /// `gather`); the result has the index's shape. The gradient adds back at the indices.
    public func gather(dim: Int, index: Tensor) -> Tensor {
        let d = ndim == 0 ? 0 : normalizeDim(dim, ndim, op: "gather")
        let offs = Tensor.dimOffsets(self, dim: d, index: index, op: "gather")
        let out = Tensor(empty: index.shape, dtype: dtype)
        offs.withUnsafeBufferPointer { o in
            Kernels.gatherBlocks(dst: out.base, src: base, offsets: o.baseAddress!, count: o.count, shape: [], strides: [],
                                 itemSize: dtype.itemSize)
        }
        let inputShape = shape
        return out.recorded("gather", [self], saved: [index]) { g in
            [Tensor.zeros(inputShape).scatterAdd(dim: d, index: index, src: g)]
        }
    }

    /// Writes src's entries at the positions `index` names along `dim` into a copy of self
    /// (PyTorch's `scatter`; with repeated indices the last write wins).
    public func scatter(dim: Int, index: Tensor, src: Tensor) -> Tensor {
        scatterImpl(dim: dim, index: index, src: src, accumulate: false)
    }
    /// `scatter` with a scalar source.
    public func scatter(dim: Int, index: Tensor, value: Double) -> Tensor {
        scatter(dim: dim, index: index, src: Tensor.full(index.shape, value, dtype: dtype))
    }
    /// Adds src's entries at the positions `index` names along `dim` to a copy of self
    /// (PyTorch's `scatter_add`), in index order: the same bits on every run.
    public func scatterAdd(dim: Int, index: Tensor, src: Tensor) -> Tensor {
        scatterImpl(dim: dim, index: index, src: src, accumulate: true)
    }

    private func scatterImpl(dim: Int, index: Tensor, src: Tensor, accumulate: Bool) -> Tensor {
        let op = accumulate ? "scatter_add" : "scatter"
        let d = ndim == 0 ? 0 : normalizeDim(dim, ndim, op: op)
        precondition(src.ndim == index.ndim && zip(index.shape, src.shape).allSatisfy { $0 <= $1 },
                     "\(op): Expected index \(index.shape) to be smaller than src \(src.shape) in every dimension")
        let out = storageCopy()
        let offs = Tensor.dimOffsets(out, dim: d, index: index, op: op)
        // The source entries at the index's positions, in its order.
        var s = src.type(dtype)
        for k in 0..<index.ndim where index.shape[k] < s.shape[k] { s = s.narrowed(dim: k, start: 0, length: index.shape[k]) }
        let values = s.contiguous()
        if accumulate && dtype != .float32 {
            for (p, o) in offs.enumerated() { out.addInteger(at: Int(o), values, p) }
        } else {
            offs.withUnsafeBufferPointer { o in
                Kernels.scatterBlocks(dst: out.base, offsets: o.baseAddress!, count: o.count, src: values.base, shape: [],
                                      strides: [], itemSize: dtype.itemSize, accumulate: accumulate)
            }
        }
        let input = self
        return out.recorded(op, [self, src], saved: [index]) { g in
            [input.requiresGrad ? (accumulate ? g : g.scatter(dim: d, index: index, value: 0)) : nil,
             src.requiresGrad ? g.gather(dim: d, index: index).padded(to: src.shape) : nil]
        }
    }

    /// Integer scatter-add of element p of `values` at storage offset o (int64 and uint8 add,
    /// wrapping as PyTorch's; bool ors).
    private func addInteger(at o: Int, _ values: Tensor, _ p: Int) {
        switch dtype {
        case .int64: i64[o] &+= values.i64[p]
        case .uint8: u8[o] &+= values.u8[p]
        default: u8[o] = (u8[o] != 0 || values.u8[p] != 0) ? 1 : 0
        }
    }

    /// Zeros around self up to `target` (each dim padded at its end): the gradient of the
    /// source of a scatter whose index is smaller than the source.
    func padded(to target: [Int]) -> Tensor {
        if shape == target { return self }
        let out = Tensor.zeros(target, dtype: dtype)
        var v = out
        for k in 0..<ndim { v = v.narrowed(dim: k, start: 0, length: shape[k]) }
        v.writeElements(of: self)
        return out
    }

    /// Adds the slices of `source` along `dim` into the entries `index` of a copy of self
    /// (PyTorch's `index_add`), in index order.
    public func indexAdd(dim: Int, index: Tensor, source: Tensor) -> Tensor {
        let d = normalizeDim(dim, ndim, op: "index_add")
        precondition(index.dtype == .int64 && index.ndim <= 1, "index_add: index should be a 1-D int64 tensor, got \(index.dtype) \(index.shape)")
        refuseNegative(index, op: "index_add")
        let idx = index.reshaped([-1])
        var expect = shape
        expect[d] = idx.count
        precondition(source.shape == expect, "index_add: source \(source.shape) should have shape \(expect) for self \(shape), dim \(dim) and \(idx.count) indices")
        precondition(dtype == .float32, "index_add: expected float32, got \(dtype)")
        let out = storageCopy()
        let adv = AdvancedIndex(firstDim: d, indices: [idx])
        noGrad { adv.scatter(source, into: out, accumulate: true) }
        return out.recorded("index_add", [self, source], saved: []) { g in [g, g.indexSelect(dim: d, index: idx)] }
    }

    /// self with `value` where `mask` (bool, broadcast to self) is true (PyTorch's `masked_fill`).
    public func maskedFill(_ mask: Tensor, value: Double) -> Tensor {
        precondition(mask.dtype == .bool, "masked_fill: expected a bool mask, got \(mask.dtype)")
        var fill = Tensor(scalar: Float(value))
        if dtype != .float32 { fill = fill.type(dtype) }
        let out = Tensor.where(mask, fill, self)
        precondition(out.shape == shape, "masked_fill: mask \(mask.shape) does not broadcast to \(shape)")
        return out
    }

    /// Elementwise `condition ? a : b`, all three broadcast together; the result has the
    /// promoted dtype of a and b (PyTorch's `torch.where`).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        precondition(condition.dtype == .bool, "where: expected condition to be a bool tensor, got \(condition.dtype)")
        var shape: [Int] = []
        check { shape = try broadcastShape(broadcastShape(condition.shape, a.shape, op: "where"), b.shape, op: "where") }
        let dtype: DType = a.dtype == b.dtype ? a.dtype : (a.dtype == .float32 || b.dtype == .float32 ? .float32 : .int64)
        let (c, av, bv) = noGrad {
            (condition.expanded(to: shape).contiguous(), a.type(dtype).expanded(to: shape).contiguous(),
             b.type(dtype).expanded(to: shape).contiguous())
        }
        let result = Tensor(empty: shape, dtype: dtype)
        let n = result.count
        switch dtype {
        case .float32: for i in 0..<n { result.f32[i] = c.u8[i] != 0 ? av.f32[i] : bv.f32[i] }
        case .int64: for i in 0..<n { result.i64[i] = c.u8[i] != 0 ? av.i64[i] : bv.i64[i] }
        case .bool, .uint8: for i in 0..<n { result.u8[i] = c.u8[i] != 0 ? av.u8[i] : bv.u8[i] }
        }
        return result.recorded("where", [a, b], saved: [c]) { g in
            let zero = Tensor.zeros([])
            return [a.requiresGrad ? Tensor.where(c, g, zero).sumTo(a.shape) : nil,
                    b.requiresGrad ? Tensor.where(c, zero, g).sumTo(b.shape) : nil]
        }
    }

    /// Coordinates of the nonzero elements, one row each in row-major order: (N, ndim) int64
    /// (PyTorch's `nonzero`).
    public func nonzero() -> Tensor {
        let t = type(.bool).contiguous()
        var coords: [Int] = [], rows = 0
        var coord = [Int](repeating: 0, count: ndim)
        for p in 0..<t.count {
            if t.u8[p] != 0 {
                coords += coord
                rows += 1   // a 0-d tensor's row has no coordinates
            }
            var j = ndim - 1
            while j >= 0 {
                coord[j] += 1
                if coord[j] < shape[j] { break }
                coord[j] = 0
                j -= 1
            }
        }
        return Tensor(coords, shape: [rows, ndim])
    }

    /// Sorted values along `dim` and where they came from (PyTorch's `sort`, stable; NaN
    /// sorts above every number). The values' gradient flows back to the original places.
    public func sort(dim: Int = -1, descending: Bool = false) -> (values: Tensor, indices: Tensor) {
        let d = ndim == 0 ? 0 : normalizeDim(dim, ndim, op: "sort")
        let indices = sortIndices(dim: d, descending: descending, k: nil)
        return (gather(dim: d, index: indices), indices)
    }

    /// The indices that sort `dim` (PyTorch's `argsort`).
    public func argsort(dim: Int = -1, descending: Bool = false) -> Tensor {
        sortIndices(dim: ndim == 0 ? 0 : normalizeDim(dim, ndim, op: "argsort"), descending: descending, k: nil)
    }

    /// The `k` largest (or smallest) entries along `dim` and their indices, sorted (PyTorch's
    /// `topk`; ties keep the lower index first).
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true) -> (values: Tensor, indices: Tensor) {
        let d = ndim == 0 ? 0 : normalizeDim(dim, ndim, op: "topk")
        let n = ndim == 0 ? 1 : shape[d]
        precondition(k >= 0 && k <= n, "topk: selected index k (\(k)) out of range for dimension \(d) of size \(n)")
        let indices = sortIndices(dim: d, descending: largest, k: k)
        return (gather(dim: d, index: indices), indices)
    }

    private func sortIndices(dim d: Int, descending: Bool, k: Int?) -> Tensor {
        if ndim == 0 { return Tensor([0], shape: []) }
        let moved = transposed(d, -1).contiguous()
        let cols = shape[d], rows = cols == 0 ? 0 : moved.count / cols
        let keep = k ?? cols
        var out = [Int](repeating: 0, count: rows * keep)
        let values = moved.type(.float32).contiguous()
        if dtype == .int64 {
            // Exact order for integers beyond float's 24 bits.
            for r in 0..<rows {
                let row = (0..<cols).map { moved.i64[r * cols + $0] }
                func before(_ i: Int, _ j: Int) -> Bool {
                    if row[i] == row[j] { return i < j }
                    return descending ? row[i] > row[j] : row[i] < row[j]
                }
                let order = (0..<cols).sorted(by: before)
                for j in 0..<keep { out[r * keep + j] = order[j] }
            }
        } else {
            for r in 0..<rows {
                let row = UnsafeBufferPointer(start: values.f32 + r * cols, count: cols)
                func before(_ i: Int, _ j: Int) -> Bool {
                    let (x, y) = (row[i], row[j])
                    if x.isNaN || y.isNaN {
                        if x.isNaN && y.isNaN { return i < j }
                        return descending ? x.isNaN : y.isNaN
                    }
                    if x == y { return i < j }
                    return descending ? x > y : x < y
                }
                let order = (0..<cols).sorted(by: before)
                for j in 0..<keep { out[r * keep + j] = order[j] }
            }
        }
        var movedShape = moved.shape
        movedShape[movedShape.count - 1] = keep
        return Tensor(out, shape: movedShape).transposed(d, -1).contiguous()
    }

    /// Class indices (int64) as one-hot int64 vectors along a new last dim (PyTorch's
    /// `F.one_hot`; `numClasses` -1 means max + 1).
    public func oneHot(numClasses: Int = -1) -> Tensor {
        precondition(dtype == .int64, "one_hot: one_hot is only applicable to index tensor (int64), got \(dtype)")
        let v = toIntArray()
        precondition(v.allSatisfy { $0 >= 0 }, "one_hot: Class values must be non-negative.")
        let c = numClasses == -1 ? (v.max() ?? -1) + 1 : numClasses
        precondition(v.allSatisfy { $0 < c }, "one_hot: Class values must be smaller than num_classes (\(c)).")
        var out = [Int](repeating: 0, count: v.count * c)
        for (i, k) in v.enumerated() { out[i * c + k] = 1 }
        return Tensor(out, shape: shape + [c])
    }
}

/// `t.oneHot(numClasses:)` as a free function, as `F.one_hot`.
public func oneHot(_ t: Tensor, numClasses: Int = -1) -> Tensor { t.oneHot(numClasses: numClasses) }
