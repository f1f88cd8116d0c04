/// Multi-dimensional subscripts in Swift spelling of PyTorch's: `x[0]`, `x[.all, 1..<3]`,
/// `x[.ellipsis, 0]`, `x[..., .newAxis]`, `x[.slice(0, 10, step: 2)]`, negative indices,
/// `x[mask]` and `x[indexTensor]`. Integers, ranges, `.all`, `.newAxis` and `.ellipsis` give
/// views; bool masks and int64 index tensors give copies (PyTorch's advanced indexing).
/// Assignment writes through: `x[.all, 1..<3] = Tensor(0)` broadcasts the value.

/// One entry of a subscript.
public struct TensorIndex: TensorIndexConvertible {
    enum Kind {
        case index(Int)
        case slice(start: Int?, end: Int?, step: Int)
        case ellipsis
        case newAxis
        case tensor(Tensor)
    }
    let kind: Kind
    /// Itself.
    public var tensorIndex: TensorIndex { self }
}

/// Anything that can stand in a tensor subscript: `Int`, Swift's ranges, `Tensor` (a bool
/// mask or int64 indices), and `TensorIndex`'s `.all`, `.ellipsis`, `.newAxis`, `.slice`.
public protocol TensorIndexConvertible {
    /// This subscript entry as a `TensorIndex`.
    var tensorIndex: TensorIndex { get }
}

extension TensorIndexConvertible where Self == TensorIndex {
    /// Every entry of a dim (PyTorch's `:`).
    public static var all: TensorIndex { TensorIndex(kind: .slice(start: nil, end: nil, step: 1)) }
    /// As many `.all` as needed to cover the dims not otherwise indexed (PyTorch's `...`).
    public static var ellipsis: TensorIndex { TensorIndex(kind: .ellipsis) }
    /// A new dim of size 1 (PyTorch's `None`).
    public static var newAxis: TensorIndex { TensorIndex(kind: .newAxis) }
    /// Entries start, start+step, … below end (PyTorch's `start:end:step`); nil bounds mean
    /// the ends of the dim, negative ones count from the end, out-of-range ones are clamped.
    public static func slice(_ start: Int? = nil, _ end: Int? = nil, step: Int = 1) -> TensorIndex {
        TensorIndex(kind: .slice(start: start, end: end, step: step))
    }
}

extension Int: TensorIndexConvertible {
    /// A single position along a dim, removing the dim (negative counts from the end).
    public var tensorIndex: TensorIndex { TensorIndex(kind: .index(self)) }
}
extension Range: TensorIndexConvertible where Bound == Int {
    /// The slice `lower..<upper` (PyTorch: `lower:upper`).
    public var tensorIndex: TensorIndex { .slice(lowerBound, upperBound) }
    /// Every `step`-th entry of the range: `x[(0..<10).by(2)]`.
    public func by(_ step: Int) -> TensorIndex { .slice(lowerBound, upperBound, step: step) }
}
extension ClosedRange: TensorIndexConvertible where Bound == Int {
    /// The slice `lower...upper` (PyTorch: `lower:upper+1`).
    public var tensorIndex: TensorIndex { .slice(lowerBound, upperBound + 1) }
}
extension PartialRangeFrom: TensorIndexConvertible where Bound == Int {
    /// From `lower` to the end (PyTorch: `lower:`).
    public var tensorIndex: TensorIndex { .slice(lowerBound, nil) }
}
extension PartialRangeUpTo: TensorIndexConvertible where Bound == Int {
    /// From the start up to `upper`, excluded (PyTorch: `:upper`).
    public var tensorIndex: TensorIndex { .slice(nil, upperBound) }
}
extension PartialRangeThrough: TensorIndexConvertible where Bound == Int {
    /// From the start through `upper` (PyTorch: `:upper+1`).
    public var tensorIndex: TensorIndex { .slice(nil, upperBound + 1) }
}
extension Tensor: TensorIndexConvertible {
    /// A bool mask or int64 indices (PyTorch's advanced indexing); the result is a copy.
    public var tensorIndex: TensorIndex { TensorIndex(kind: .tensor(self)) }
}

extension Tensor {
    /// `x[i, j, …]` as PyTorch's `x[i, j, …]` (see the top of this file); assignment writes through.
    public subscript(_ indices: any TensorIndexConvertible...) -> Tensor {
        get { index(indices.map(\.tensorIndex)) }
        set { indexPut(indices.map(\.tensorIndex), newValue) }
    }

    /// `x[..., i]`: Swift's `...` as PyTorch's ellipsis.
    public subscript(_ ellipsis: UnboundedRange, _ rest: any TensorIndexConvertible...) -> Tensor {
        get { index([.ellipsis] + rest.map(\.tensorIndex)) }
        set { indexPut([.ellipsis] + rest.map(\.tensorIndex), newValue) }
    }

    func index(_ indices: [TensorIndex]) -> Tensor {
        let (view, advanced) = basicIndex(indices)
        guard let advanced else { return view }
        return advanced.gather(view)
    }

    /// Assignment: under autograd (either side requiring a gradient) an in-place op on the
    /// indexed view, as PyTorch's; otherwise a plain write.
    func indexPut(_ indices: [TensorIndex], _ value: Tensor) {
        if isGradEnabled && dtype == .float32 && (requiresGrad || value.requiresGrad) {
            let (view, advanced) = basicIndex(indices)
            guard let advanced else { return view.copy_(value) }
            view.applyInPlace("index_put_", [value]) { advanced.put(value, into: $0) }
            return
        }
        let (view, advanced) = noGrad { basicIndex(indices) }
        check { try view.checkNoInternalOverlap("index_put_") }
        willWriteInPlace()
        if let advanced { advanced.scatter(value, into: view, accumulate: false) } else { view.writeElements(of: value, op: "index_put_") }
    }

    /// Applies the integer, range and new-axis entries as views; collects the index tensors
    /// (masks become their nonzero coordinates) for `AdvancedIndex`.
    private func basicIndex(_ indices: [TensorIndex]) -> (Tensor, AdvancedIndex?) {
        var consumed = 0, ellipses = 0
        for i in indices {
            switch i.kind {
            case .index, .slice: consumed += 1
            case .tensor(let t): consumed += t.dtype == .bool ? Swift.max(t.ndim, 1) : 1
            case .ellipsis: ellipses += 1
            case .newAxis: break
            }
        }
        precondition(ellipses <= 1, "index: an index can only have a single ellipsis ('...')")
        precondition(consumed <= ndim, "index: too many indices for tensor of dimension \(ndim) (got \(consumed))")
        var expanded: [TensorIndex] = []
        for i in indices {
            if case .ellipsis = i.kind {
                expanded += [TensorIndex](repeating: .all, count: ndim - consumed)
            } else {
                expanded.append(i)
            }
        }
        var t = self, dim = 0
        var advanced: [(dim: Int, index: Tensor)] = []
        for i in expanded {
            switch i.kind {
            case .index(let k):
                let n = t.shape[dim]
                precondition(k >= -n && k < n, "index: index \(k) is out of bounds for dimension \(dim) with size \(n)")
                t = t.select(dim: dim, index: k)
            case .slice(let start, let end, let step):
                precondition(step > 0, "index: slice step must be positive, got \(step)")
                let n = t.shape[dim]
                func clamp(_ v: Int?, _ dflt: Int) -> Int {
                    guard let v else { return dflt }
                    return Swift.min(Swift.max(v < 0 ? v + n : v, 0), n)
                }
                let s = clamp(start, 0), e = Swift.max(clamp(end, n), s)
                t = t.slice(dim: dim, start: s, end: e, step: step)
                dim += 1
            case .newAxis:
                t = t.unsqueezed(dim)
                dim += 1
            case .tensor(let idx):
                switch idx.dtype {
                case .int64:
                    advanced.append((dim, idx))
                    dim += 1
                case .bool:
                    let k = Swift.max(idx.ndim, 1)
                    let covered = Array(t.shape[dim..<(dim + k)])
                    precondition(idx.ndim == 0 || idx.shape == covered,
                                 "index: The shape of the mask \(idx.shape) at index \(dim) does not match the shape of the indexed tensor \(t.shape)")
                    let coords = idx.reshaped(covered).nonzero()   // (N, k)
                    for j in 0..<k { advanced.append((dim + j, coords.select(dim: 1, index: j))) }
                    dim += k
                case .float32, .uint8:
                    preconditionFailure("index: tensors used as indices must be long or bool tensors, got \(idx.dtype)")
                }
            case .ellipsis:
                fatalError("unreachable")
            }
        }
        guard let first = advanced.first else { return (t, nil) }
        precondition(advanced.enumerated().allSatisfy { $0.element.dim == first.dim + $0.offset },
                     "index: index tensors must be next to each other (separated advanced indices are not supported)")
        return (t, AdvancedIndex(firstDim: first.dim, indices: advanced.map(\.index)))
    }

}

/// Index tensors over `count` adjacent dims from `firstDim`, broadcast together: each
/// position of the broadcast shape picks one entry of those dims (a block of the other dims).
struct AdvancedIndex {
    let firstDim: Int
    let count: Int
    let broadcastShape: [Int]
    /// Per index tensor, its values at every broadcast position.
    let values: [[Int64]]

    init(firstDim: Int, indices: [Tensor]) {
        self.firstDim = firstDim
        count = indices.count
        var shape: [Int] = []
        check { shape = try indices.dropFirst().reduce(indices[0].shape) { try Ember.broadcastShape($0, $1.shape, op: "index") } }
        broadcastShape = shape
        values = indices.map { t in noGrad { t.expanded(to: shape).contiguous() }.withUnsafeInt64s { Array($0) } }
    }

    /// Storage offsets (from `t`'s first element) of each broadcast position's block.
    func offsets(in t: Tensor) -> [Int64] {
        let n = broadcastShape.reduce(1, *)
        var out = [Int64](repeating: 0, count: n)
        for j in 0..<count {
            let d = firstDim + j, size = t.shape[d], stride = t.strides[d]
            for p in 0..<n {
                var k = Int(values[j][p])
                precondition(k >= -size && k < size, "index: index \(k) is out of bounds for dimension \(d) with size \(size)")
                if k < 0 { k += size }
                out[p] += Int64(k * stride)
            }
        }
        return out
    }

    /// The dims of `t` outside the indexed ones: each block's shape and strides.
    func block(of t: Tensor) -> (shape: [Int], strides: [Int]) {
        let keep = (0..<t.ndim).filter { $0 < firstDim || $0 >= firstDim + count }
        return (keep.map { t.shape[$0] }, keep.map { t.strides[$0] })
    }

    /// PyTorch's result shape: the dims before, the broadcast shape, the dims after.
    func resultShape(_ t: Tensor) -> [Int] {
        Array(t.shape[..<firstDim]) + broadcastShape + Array(t.shape[(firstDim + count)...])
    }

    /// The blocks are laid out (broadcast…, before…, after…); this moves `before` to the front.
    private func blockOrder(_ t: Tensor) -> [Int] {
        let b = broadcastShape.count
        return Array(b..<(b + firstDim)) + Array(0..<b) + Array((b + firstDim)..<(t.ndim - count + b))
    }

    func gather(_ view: Tensor) -> Tensor {
        let (bShape, bStrides) = block(of: view)
        let offs = offsets(in: view)
        let blocks = Tensor(empty: broadcastShape + bShape, dtype: view.dtype)
        offs.withUnsafeBufferPointer { o in
            Kernels.gatherBlocks(dst: blocks.base, src: view.base, offsets: o.baseAddress!, count: offs.count,
                                 shape: bShape, strides: bStrides, itemSize: view.dtype.itemSize)
        }
        let out = firstDim == 0 ? blocks : noGrad { blocks.permuted(blockOrder(view)).contiguous() }
        let inputShape = view.shape
        return out.recorded("index", [view], saved: []) { g in
            let dx = Tensor.zeros(inputShape)
            scatter(g, into: dx, accumulate: true)
            return [dx]
        }
    }

    /// `t` with `value` written at the indexed positions, out of place and recorded: the
    /// gradient of `t` is zero there, `value`'s is the gradient read there (summed over
    /// broadcast dims).
    func put(_ value: Tensor, into t: Tensor) -> Tensor {
        let out = t.storageCopy()
        noGrad { scatter(value, into: out, accumulate: false) }
        let valueShape = value.shape
        return out.recorded("index_put", [t, value], saved: []) { g in
            let dt = g.storageCopy()
            scatter(Tensor.zeros([]), into: dt, accumulate: false)
            return [dt, gather(g).sumTo(valueShape)]
        }
    }

    /// Writes (or adds) `value`, broadcast to the result shape, into `view`'s memory.
    func scatter(_ value: Tensor, into view: Tensor, accumulate: Bool) {
        let rShape = resultShape(view)
        var v = value.type(view.dtype).expanded(to: rShape)
        if firstDim != 0 {
            let order = blockOrder(view)
            var inverse = [Int](repeating: 0, count: order.count)
            for (i, d) in order.enumerated() { inverse[d] = i }
            v = v.permuted(inverse)
        }
        // The blocks must not alias the destination while it is written.
        let blocks = v.storage === view.storage ? v.storageCopy() : v.contiguous()
        let (bShape, bStrides) = block(of: view)
        let offs = offsets(in: view)
        offs.withUnsafeBufferPointer { o in
            Kernels.scatterBlocks(dst: view.base, offsets: o.baseAddress!, count: offs.count, src: blocks.base,
                                  shape: bShape, strides: bStrides, itemSize: view.dtype.itemSize, accumulate: accumulate)
        }
    }
}
