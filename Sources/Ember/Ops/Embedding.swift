/// Embedding lookup (PyTorch's `F.embedding`) on csrc/embedding.c: a gather of weight rows,
/// and a backward that adds the output gradient back into the rows in index order (the same
/// bits for any thread count).

/// The rows of `weight` (numEmbeddings, embeddingDim) named by `input` (int64 indices of any
/// shape): the result has shape `input.shape + [embeddingDim]` (PyTorch's `F.embedding`).
///
/// - Parameters:
///   - input: int64 indices into the rows of `weight`.
///   - weight: the table, (numEmbeddings, embeddingDim).
///   - paddingIdx: a row (negative counts from the end) that gets no gradient: its entries in
///     the weight's gradient stay zero however often it is looked up.
///   - maxNorm: when given, every row that `input` looks up and whose `normType`-norm exceeds
///     `maxNorm` is first rescaled *in place* to norm `maxNorm` (PyTorch's
///     `embedding_renorm_`: scale = maxNorm / (norm + 1e-7)), outside autograd. As in
///     PyTorch, a weight used elsewhere in the same graph must then be cloned first.
///   - normType: the p of the norm for `maxNorm` (default 2; `.infinity` allowed).
///   - scaleGradByFreq: divide each looked-up row's gradient by how often its index occurs
///     in `input` (PyTorch's `scale_grad_by_freq`).
///
/// The gradient flows to `weight` only (indices are not differentiable).
///
/// ```swift
/// let table = Tensor.randn([10, 3]).requiringGrad()
/// let rows = embedding(Tensor([1, 2, 4, 5] as [Int], shape: [2, 2]), weight: table)   // [2, 2, 3]
/// ```
public func embedding(_ input: Tensor, weight: Tensor, paddingIdx: Int? = nil, maxNorm: Double? = nil,
                      normType: Double = 2, scaleGradByFreq: Bool = false) -> Tensor {
    var out: Tensor!
    check {
        out = try embeddingChecked(input, weight: weight, paddingIdx: paddingIdx, maxNorm: maxNorm, normType: normType,
                                   scaleGradByFreq: scaleGradByFreq)
    }
    return out
}

/// `embedding` with its errors thrown (tests read the messages).
func embeddingChecked(_ input: Tensor, weight: Tensor, paddingIdx: Int?, maxNorm: Double?, normType: Double,
                      scaleGradByFreq: Bool = false) throws -> Tensor {
    let op = "embedding"
    guard weight.ndim == 2 else {
        throw EmberError.shapeMismatch(op: op, message: "'weight' must be 2-D, got shape \(weight.shape)")
    }
    try expectDType(weight, .float32, op: op)
    guard input.dtype == .int64 else {
        throw EmberError.invalidArgument(op: op, message: "expected int64 indices, got \(input.dtype) \(input.shape)")
    }
    let rows = weight.shape[0], dim = weight.shape[1]
    var padding = -1
    if let p = paddingIdx {
        guard p >= -rows && p < rows else {
            throw EmberError.invalidArgument(op: op, message:
                "paddingIdx \(p) must be within numEmbeddings (\(rows)), i.e. in \(-rows)..<\(rows)")
        }
        padding = p < 0 ? p + rows : p
    }
    let index = input.contiguous()
    let n = index.count
    for i in 0..<n {
        let k = index.i64[i]
        guard k >= 0 && k < Int64(rows) else {
            throw EmberError.invalidArgument(op: op, message:
                "index \(k) is out of range for an embedding of \(rows) rows (weight \(weight.shape)); indices must be in 0..<\(rows)")
        }
    }
    if let maxNorm {
        guard normType > 0 else {
            throw EmberError.invalidArgument(op: op, message: "normType must be positive, got \(normType)")
        }
        guard weight.isContiguous else {
            throw EmberError.invalidArgument(op: op, message: "maxNorm renormalises the weight in place: it must be contiguous (shape \(weight.shape) strides \(weight.strides))")
        }
        renormEmbedding(weight, index: index, maxNorm: maxNorm, normType: normType)
    }
    let table = weight.contiguous()
    let out = Tensor(empty: input.shape + [dim])
    Kernels.embeddingForward(out.f32, table.f32, index.i64, count: n, dim: dim)
    // The backward reads the indices (not the weight): an index tensor changed in place
    // before backward() is refused.
    return out.recorded(op, [weight], saved: [index]) { g in
        let dWeight = Tensor.zeros([rows, dim])
        // scale_grad_by_freq: 1 / (occurrences of the row in this input), in float as PyTorch.
        var scale: [Float] = []
        if scaleGradByFreq {
            var counts = [Int](repeating: 0, count: rows)
            for i in 0..<n { counts[Int(index.i64[i])] += 1 }
            scale = counts.map { $0 > 0 ? 1 / Float($0) : 0 }
        }
        scale.withUnsafeBufferPointer { s in
            Kernels.embeddingBackward(dWeight.f32, g.f32, index.i64, rowScale: scaleGradByFreq ? s.baseAddress : nil, count: n,
                                      rows: rows, dim: dim, paddingIdx: padding)
        }
        return [dWeight]
    }
}

/// PyTorch's `embedding_renorm_`: each distinct looked-up row whose norm exceeds `maxNorm` is
/// rescaled in place (a write to the weight's storage, outside autograd).
private func renormEmbedding(_ weight: Tensor, index: Tensor, maxNorm: Double, normType: Double) {
    let distinct = Set((0..<index.count).map { index.i64[$0] }).sorted()
    guard !distinct.isEmpty else { return }
    weight.willWriteInPlace()
    distinct.withUnsafeBufferPointer { r in
        Kernels.embeddingRenorm(weight.f32, rows: r.baseAddress!, count: r.count, dim: weight.shape[1],
                                maxNorm: maxNorm, normType: normType)
    }
}
