/// Scaled dot-product attention (PyTorch's `F.scaled_dot_product_attention`) on the fused
/// kernel in csrc/attention.c: the scores are computed a tile at a time with an online
/// softmax, so memory grows with L + S, not L·S, and the backward recomputes them from each
/// row's saved log-sum-exp.

/// softmax(query·keyᵀ·scale + mask)·value over the last two dims, as PyTorch's
/// `F.scaled_dot_product_attention`.
///
/// - Parameters:
///   - query: (…, L, E).
///   - key: (…, S, E), the same leading dims as `query`.
///   - value: (…, S, Ev), the same leading dims as `query`.
///   - attnMask: broadcastable to (…, L, S): a bool mask marks the positions that may be
///     attended (true = allowed), a float mask is added to the scores (−inf forbids). A
///     query row with no allowed key gives 0, as PyTorch's does. A float mask that requires
///     grad gets one, as in PyTorch: the gradient of the scores, summed over the dims along
///     which the mask was broadcast. Only then does the backward hold the full (…, L, S)
///     gradient of the scores (one float per query-key pair, for the duration of the
///     backward); without a mask gradient it stays tiled.
///   - dropoutP: dropout on the attention weights (then computed unfused, with the weights
///     materialised); pass 0 outside training, as PyTorch's modules do.
///   - isCausal: query i attends to keys j ≤ i (a lower-triangular mask); not with `attnMask`.
///   - scale: the factor on the scores, 1/√E unless given.
///   - generator: where dropout draws from.
/// - Returns: (…, L, Ev), laid out in memory in query's dim order: for heads transposed from a
///   (B, T, H, D) projection it is (B, T, H, Ev) transposed, as PyTorch's CPU kernel returns it,
///   so transposing back to (B, T, H, Ev) gives a contiguous tensor. Rows of query, key and
///   value that are unit-stride are read in place, without copies.
///
/// ```swift
/// let q = Tensor.randn([2, 4, 128, 32]), k = Tensor.randn([2, 4, 128, 32]), v = Tensor.randn([2, 4, 128, 32])
/// let y = scaledDotProductAttention(query: q, key: k, value: v, isCausal: true)   // [2, 4, 128, 32]
/// ```
public func scaledDotProductAttention(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor? = nil,
                                      dropoutP: Double = 0, isCausal: Bool = false, scale: Double? = nil,
                                      generator: Generator = .default) -> Tensor {
    var out: Tensor!
    check {
        out = try scaledDotProductAttentionChecked(query: query, key: key, value: value, attnMask: attnMask,
                                                   dropoutP: dropoutP, isCausal: isCausal, scale: scale,
                                                   generator: generator)
    }
    return out
}

private let sdpaOp = "scaled_dot_product_attention"

/// The validated shapes of one attention call: batch dims, L, S, E, Ev.
struct AttentionDims {
    let batch: [Int]
    let l: Int, s: Int, e: Int, ev: Int
    var bh: Int { batch.reduce(1, *) }
}

func checkAttentionInputs(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor?, dropoutP: Double,
                          isCausal: Bool) throws -> AttentionDims {
    for t in [query, key, value] { try expectDType(t, .float32, op: sdpaOp) }
    guard query.ndim >= 2, key.ndim >= 2, value.ndim >= 2 else {
        throw EmberError.shapeMismatch(op: sdpaOp, message:
            "expected query, key and value of at least 2 dims (…, L, E), got query \(query.shape), key \(key.shape), value \(value.shape)")
    }
    let batch = Array(query.shape.dropLast(2))
    guard Array(key.shape.dropLast(2)) == batch, Array(value.shape.dropLast(2)) == batch else {
        throw EmberError.shapeMismatch(op: sdpaOp, message:
            "expected query, key and value with broadcastable leading dims, got query \(query.shape), key \(key.shape), value \(value.shape)")
    }
    let l = query.shape[query.ndim - 2], e = query.shape[query.ndim - 1]
    let s = key.shape[key.ndim - 2], ev = value.shape[value.ndim - 1]
    guard key.shape[key.ndim - 1] == e else {
        throw EmberError.shapeMismatch(op: sdpaOp, message:
            "query \(query.shape) and key \(key.shape) must have the same last dim (embedding size)")
    }
    guard value.shape[value.ndim - 2] == s else {
        throw EmberError.shapeMismatch(op: sdpaOp, message:
            "key \(key.shape) and value \(value.shape) must have the same sequence length (dim -2)")
    }
    guard dropoutP >= 0, dropoutP <= 1 else {
        throw EmberError.invalidArgument(op: sdpaOp, message: "dropout_p must be in [0, 1], got \(dropoutP)")
    }
    if let attnMask {
        if isCausal {
            throw EmberError.invalidArgument(op: sdpaOp, message: "Explicit attn_mask should not be set when is_causal=True")
        }
        guard attnMask.dtype == .bool || attnMask.dtype == .float32 else {
            throw EmberError.dtypeMismatch(op: sdpaOp, expected: .float32, got: attnMask.dtype)
        }
        _ = try broadcastStrides(of: attnMask, to: batch + [l, s], op: sdpaOp)
    }
    return AttentionDims(batch: batch, l: l, s: s, e: e, ev: ev)
}

/// q, k and v with their leading (batch) dims broadcast together, as PyTorch's attention
/// does (keys and values shared by every head, say). Key and value become stride-0 views,
/// which the kernel reads in place; a query that must grow is copied, since the output takes
/// the query's layout. Shapes that do not broadcast are returned as they are, for
/// `checkAttentionInputs` to refuse.
func broadcastBatch(_ q: Tensor, _ k: Tensor, _ v: Tensor) -> (Tensor, Tensor, Tensor) {
    guard q.ndim >= 2, k.ndim >= 2, v.ndim >= 2 else { return (q, k, v) }
    let qb = Array(q.shape.dropLast(2)), kb = Array(k.shape.dropLast(2)), vb = Array(v.shape.dropLast(2))
    guard qb != kb || kb != vb,
          let kv = try? broadcastShape(kb, vb, op: sdpaOp), let batch = try? broadcastShape(qb, kv, op: sdpaOp) else {
        return (q, k, v)
    }
    func grown(_ t: Tensor) -> Tensor {
        Array(t.shape.dropLast(2)) == batch ? t : t.expanded(to: batch + t.shape.suffix(2))
    }
    let query = Array(q.shape.dropLast(2)) == batch ? q : grown(q).contiguous()
    return (query, grown(k), grown(v))
}

/// The mask as a float tensor to add (a bool mask becomes 0 / −inf), in its own shape: a
/// broadcast mask is never expanded to (…, L, S). A float mask is returned as it is, so a
/// gradient reaches it on the unfused path.
func additiveMask(_ mask: Tensor) -> Tensor {
    mask.dtype == .bool ? noGrad { Tensor.where(mask, Tensor(scalar: 0), Tensor(scalar: -Float.infinity)) } : mask
}

func scaledDotProductAttentionChecked(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor?,
                                      dropoutP: Double, isCausal: Bool, scale: Double?,
                                      generator: Generator) throws -> Tensor {
    let (query, key, value) = broadcastBatch(query, key, value)
    let dims = try checkAttentionInputs(query: query, key: key, value: value, attnMask: attnMask,
                                        dropoutP: dropoutP, isCausal: isCausal)
    let scale = scale ?? 1 / Double(dims.e).squareRoot()
    if dropoutP > 0 {
        return attentionWithWeights(query: query, key: key, value: value, attnMask: attnMask, dropoutP: dropoutP,
                                    isCausal: isCausal, scale: scale, generator: generator).output
    }
    return try fusedAttention(query: query, key: key, value: value, attnMask: attnMask, isCausal: isCausal,
                              scale: scale, dims: dims)
}

/// The fused kernel's path. q, k and v are read in place wherever their rows are unit-stride
/// (the heads of one (B, T, C) projection, transposed to (B, H, T, D), are), through
/// per-problem offsets as the mask is; the output is laid out in query's dim order, so such
/// heads' output transposed back to (B, T, H, D) is contiguous (as PyTorch's CPU kernel does).
private func fusedAttention(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor?, isCausal: Bool,
                            scale: Double, dims: AttentionDims) throws -> Tensor {
    func operand(_ t: Tensor) -> (tensor: Tensor, offsets: [Int64]?) {
        if t.isContiguous { return (t, nil) }
        let n = t.ndim
        guard t.strides[n - 1] == 1 || t.shape[n - 1] == 1, t.strides.allSatisfy({ $0 >= 0 }) else {
            return (t.contiguous(), nil)
        }
        return (t, problemOffsets(strides: t.strides, batch: dims.batch))
    }
    let (q, qOff) = operand(query), (k, kOff) = operand(key), (v, vOff) = operand(value)
    // The kernel reads the mask's values; its gradient, if wanted, is recorded against attnMask.
    let mask = attnMask.map { m in noGrad { additiveMask(m).contiguous() } }
    let maskGrad = attnMask.map { $0.dtype == .float32 && $0.requiresGrad } ?? false
    var maskOffsets: [Int64] = []
    var rowStride = 0, colStride = 0
    if let mask {
        let strides = try broadcastStrides(of: mask, to: dims.batch + [dims.l, dims.s], op: sdpaOp)
        rowStride = strides[strides.count - 2]
        colStride = strides[strides.count - 1]
        maskOffsets = problemOffsets(strides: strides, batch: dims.batch)
    }
    // The output's dims in query's memory order (ties keep their order), then viewed back.
    let n = query.ndim
    let order = (0..<(n - 1)).sorted { (query.strides[$0], $1) > (query.strides[$1], $0) } + [n - 1]
    let outShape = dims.batch + [dims.l, dims.ev]
    var inverse = [Int](repeating: 0, count: n)
    for (i, d) in order.enumerated() { inverse[d] = i }
    let out = order == Array(0..<n) ? Tensor(empty: outShape)
                                    : noGrad { Tensor(empty: order.map { outShape[$0] }).permuted(inverse) }
    let outOff = out.isContiguous ? nil : problemOffsets(strides: out.strides, batch: dims.batch)
    let lse = Tensor(empty: [dims.bh, dims.l])
    // Row strides as plain values: `run` is kept by the backward closure, which must not hold
    // `out` (the node would then keep its own output, and the graph alive, in a cycle).
    let rows = [q, k, v, out].map { $0.strides[$0.ndim - 2] }
    func pointer(_ t: Tensor) -> UnsafeMutablePointer<Float> { t.base.assumingMemoryBound(to: Float.self) }
    func run(_ body: (Kernels.AttentionShape) -> Void) {
        func layout(_ i: Int, _ off: UnsafeBufferPointer<Int64>?) -> Kernels.AttentionLayout {
            off.map { Kernels.AttentionLayout(offsets: $0.baseAddress, rowStride: rows[i]) } ?? .contiguous
        }
        func with(_ a: [Int64]?, _ f: (UnsafeBufferPointer<Int64>?) -> Void) {
            if let a { a.withUnsafeBufferPointer { f($0) } } else { f(nil) }
        }
        with(qOff) { qo in with(kOff) { ko in with(vOff) { vo in with(outOff) { oo in
            maskOffsets.withUnsafeBufferPointer { off in
                body(Kernels.AttentionShape(bh: dims.bh, l: dims.l, s: dims.s, e: dims.e, ev: dims.ev, scale: Float(scale),
                                            causal: isCausal, mask: mask.map { UnsafePointer($0.f32) },
                                            maskOffsets: mask == nil ? nil : off.baseAddress,
                                            maskRowStride: rowStride, maskColStride: colStride,
                                            q: layout(0, qo), k: layout(1, ko), v: layout(2, vo), out: layout(3, oo)))
            }
        } } } }
    }
    run { Kernels.attentionForward(pointer(out), lse: lse.f32, q: pointer(q), k: pointer(k), v: pointer(v), $0) }
    let inputs = [q, k, v] + (maskGrad ? [attnMask!] : [])
    return out.recordedReadingOutput("scaled_dot_product_attention", inputs,
                                     saved: [q, k, v] + (mask.map { [$0] } ?? [])) { g, y in
        let dq = Tensor(empty: q.shape), dk = Tensor(empty: k.shape), dv = Tensor(empty: v.shape)
        let delta = Tensor(empty: [dims.bh, dims.l])
        // d(scores) = d(mask) before the broadcast: the kernel writes it whole, then a
        // fixed-order sum over the broadcast dims gives the mask's shape.
        let dScores = maskGrad ? Tensor(empty: dims.batch + [dims.l, dims.s]) : nil
        run {
            Kernels.attentionBackward(dq: dq.f32, dk: dk.f32, dv: dv.f32, dScores: dScores?.f32, delta: delta.f32,
                                      dOut: g.f32, q: pointer(q), k: pointer(k), v: pointer(v), out: pointer(y),
                                      lse: lse.f32, $0)
        }
        return [q.requiresGrad ? dq : nil, k.requiresGrad ? dk : nil, v.requiresGrad ? dv : nil]
            + (dScores.map { [$0.sumTo(attnMask!.shape)] } ?? [])
    }
}

/// Offsets of each problem (an index of the batch dims, row-major) in a tensor with these
/// strides (its first `batch.count` dims are the batch dims; stride 0 broadcasts).
private func problemOffsets(strides: [Int], batch: [Int]) -> [Int64] {
    stridedOffsets(shape: batch, strides: strides).map(Int64.init)
}

/// Attention with the weights materialised, from differentiable tensor ops: the path for
/// dropout on the weights and for callers that need the weights (MultiheadAttention's
/// `needWeights`). Returns the output (…, L, Ev) and the weights (…, L, S) that multiplied
/// the values (after dropout, as PyTorch's MultiheadAttention returns them). The inputs are
/// assumed checked.
func attentionWithWeights(query: Tensor, key: Tensor, value: Tensor, attnMask: Tensor?, dropoutP: Double,
                          isCausal: Bool, scale: Double, generator: Generator) -> (output: Tensor, weights: Tensor) {
    var scores = query.matmul(key.transposed(-2, -1)) * scale
    if let attnMask { scores = scores + additiveMask(attnMask) }
    if isCausal {
        let l = query.shape[query.ndim - 2], s = key.shape[key.ndim - 2]
        let allowed = Tensor.arange(s).reshaped([1, s]) <= Tensor.arange(l).reshaped([l, 1])
        scores = scores + additiveMask(allowed)
    }
    // A row with no allowed key gives weights 0, as PyTorch's fused path (its safe softmax);
    // PyTorch's MultiheadAttention with need_weights gives NaN there.
    let rowMax = noGrad { scores.max(dim: -1, keepDim: true) }
    var weights = scores.softmax(dim: -1)
    let dead = noGrad { rowMax.values == -Double.infinity }
    if noGrad({ dead.any().item() != 0 }) { weights = weights.maskedFill(dead, value: 0) }
    let attended = dropoutP > 0 ? weights.dropout(p: dropoutP, generator: generator) : weights
    return (attended.matmul(value), attended)
}

/// Bytes of scratch each thread of the fused attention kernel uses for the forward (or the
/// backward): a constant, whatever the sequence lengths — the L×S scores are never stored.
public func attentionWorkspaceBytes(backward: Bool) -> Int {
    Kernels.attentionWorkspaceFloats(backward: backward) * MemoryLayout<Float>.size
}
