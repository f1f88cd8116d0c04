/// Multi-head attention (PyTorch's `nn.MultiheadAttention`): query, key and value are
/// projected by one packed (3·E, E) weight, split into `numHeads` heads of E/numHeads,
/// attended with `scaledDotProductAttention` (the fused kernel) and joined by `outProj`.
///
/// Parameters and their initialisation are PyTorch's: `in_proj_weight` (3·E, E) from
/// xavier-uniform, `in_proj_bias` (3·E) zeros, `out_proj` a `Linear(E, E)` (its default init)
/// with a zero bias; the state dict has PyTorch's keys (`in_proj_weight`, `in_proj_bias`,
/// `out_proj.weight`, `out_proj.bias`). When keys or values have another width (`kdim`,
/// `vdim` ≠ E) the in-projection is three weights instead, as in PyTorch: `q_proj_weight`
/// (E, E), `k_proj_weight` (E, kdim), `v_proj_weight` (E, vdim), each xavier-uniform, with
/// the same `in_proj_bias` (3·E) and no `in_proj_weight`. `addBiasKV` adds `bias_k` and
/// `bias_v` (1, 1, E), xavier-normal, after `in_proj_bias` in the state dict.
///
/// - Parameters:
///   - embedDim: E, the model's width (the last dim of query and of the output).
///   - numHeads: heads; E must be divisible by it.
///   - dropout: dropout on the attention weights, in training only.
///   - bias: whether the projections have biases.
///   - addBiasKV: append a learned key and value (`bias_k`, `bias_v`) to every sequence of
///     keys and values after the projections; the masks gain a column that allows it.
///   - addZeroAttn: append a key and value of zeros to every head's keys and values (after
///     `addBiasKV`'s); the masks gain a column that allows it.
///   - kdim: the last dim of key (E when nil).
///   - vdim: the last dim of value (E when nil).
///   - batchFirst: inputs and output (N, L, E) instead of (L, N, E).
///
/// ```swift
/// let mha = MultiheadAttention(embedDim: 64, numHeads: 4, batchFirst: true)
/// let x = Tensor.randn([8, 10, 64])
/// let (y, weights) = mha(x, x, x)   // y [8, 10, 64], weights [8, 10, 10] (averaged over heads)
/// ```
open class MultiheadAttention: Module {
    /// E, the model width (PyTorch: `embed_dim`).
    public let embedDim: Int
    /// Parallel attention heads; each sees E / numHeads features (PyTorch: `num_heads`).
    public let numHeads: Int
    /// E / numHeads.
    public let headDim: Int
    /// Dropout probability on the attention weights in training.
    public let dropout: Double
    /// Whether inputs are (N, L, E) rather than (L, N, E) (PyTorch: `batch_first`).
    public let batchFirst: Bool
    /// Features of the keys (PyTorch: `kdim`): E unless given.
    public let kdim: Int
    /// Features of the values (PyTorch: `vdim`): E unless given.
    public let vdim: Int
    // The declaration order is the state dict's, as PyTorch registers them: either
    // in_proj_weight or the three separate weights (the others are nil), then in_proj_bias.
    /// (3·E, E): the query, key and value projections stacked; nil when `kdim` or `vdim` ≠ E.
    public var inProjWeight: Tensor?
    /// (E, E): the query projection when `kdim` or `vdim` ≠ E, else nil.
    public var qProjWeight: Tensor?
    /// (E, kdim): the key projection when `kdim` or `vdim` ≠ E, else nil.
    public var kProjWeight: Tensor?
    /// (E, vdim): the value projection when `kdim` or `vdim` ≠ E, else nil.
    public var vProjWeight: Tensor?
    /// (3·E), or nil without bias.
    public var inProjBias: Tensor?
    /// (1, 1, E): the key appended to every sequence with `addBiasKV`, else nil (PyTorch: `bias_k`).
    public var biasK: Tensor?
    /// (1, 1, E): the value appended to every sequence with `addBiasKV`, else nil (PyTorch: `bias_v`).
    public var biasV: Tensor?
    /// Whether a key and value of zeros are appended to every head's (PyTorch: `add_zero_attn`).
    public let addZeroAttn: Bool
    /// The output projection, E → E (PyTorch: `out_proj`).
    public let outProj: Linear
    /// Where dropout on the weights draws from.
    public let generator: Generator

    /// PyTorch: `nn.MultiheadAttention(embed_dim, num_heads, dropout, bias, add_bias_kv, add_zero_attn, kdim, vdim, batch_first)`; parameters initialised as PyTorch's (xavier-uniform in-projection, zero biases, xavier-normal bias_k and bias_v).
    public init(embedDim: Int, numHeads: Int, dropout: Double = 0, bias: Bool = true, addBiasKV: Bool = false,
                addZeroAttn: Bool = false, kdim: Int? = nil, vdim: Int? = nil, batchFirst: Bool = false,
                generator: Generator = .default) {
        precondition(numHeads > 0 && embedDim % numHeads == 0,
                     "MultiheadAttention: embed_dim (\(embedDim)) must be divisible by num_heads (\(numHeads))")
        precondition(dropout >= 0 && dropout <= 1, "MultiheadAttention: dropout must be in [0, 1], got \(dropout)")
        precondition((kdim ?? 1) > 0 && (vdim ?? 1) > 0,
                     "MultiheadAttention: kdim and vdim must be positive, got kdim \(kdim ?? embedDim), vdim \(vdim ?? embedDim)")
        (self.embedDim, self.numHeads, self.headDim) = (embedDim, numHeads, embedDim / numHeads)
        (self.dropout, self.batchFirst, self.generator) = (dropout, batchFirst, generator)
        (self.kdim, self.vdim, self.addZeroAttn) = (kdim ?? embedDim, vdim ?? embedDim, addZeroAttn)
        func xavier(_ shape: [Int]) -> Tensor { Init.xavierUniform_(Tensor.zeros(shape), generator: generator).requiringGrad() }
        if self.kdim == embedDim && self.vdim == embedDim {
            inProjWeight = xavier([3 * embedDim, embedDim])
        } else {
            qProjWeight = xavier([embedDim, embedDim])
            kProjWeight = xavier([embedDim, self.kdim])
            vProjWeight = xavier([embedDim, self.vdim])
        }
        inProjBias = bias ? Tensor.zeros([3 * embedDim]).requiringGrad() : nil
        if addBiasKV {
            biasK = Init.xavierNormal_(Tensor.zeros([1, 1, embedDim]), generator: generator).requiringGrad()
            biasV = Init.xavierNormal_(Tensor.zeros([1, 1, embedDim]), generator: generator).requiringGrad()
        }
        outProj = Linear(embedDim, embedDim, bias: bias, generator: generator)
        if let b = outProj.bias { noGrad { _ = Init.zeros_(b) } }
        super.init()
    }

    /// Self-attention: `forward(query: x, key: x, value: x)`'s output.
    open override func forward(_ x: Tensor) -> Tensor { forward(query: x, key: x, value: x, needWeights: false).output }

    /// Attention of `query` over `key`/`value` (PyTorch's `forward`).
    ///
    /// - Parameters:
    ///   - query: (L, N, E), or (N, L, E) with `batchFirst`, or unbatched (L, E).
    ///   - key: (S, N, kdim) likewise.
    ///   - value: (S, N, vdim) likewise.
    ///   - keyPaddingMask: (N, S) or (S); true (bool) marks a key to ignore, a float mask is added.
    ///   - needWeights: also return the attention weights (computed unfused).
    ///   - attnMask: (L, S) or (N·numHeads, L, S); true (bool) marks a pair that may NOT
    ///     attend — the opposite of `scaledDotProductAttention`'s bool mask, as in PyTorch —
    ///     a float mask is added (and gets a gradient when it requires one, as in PyTorch).
    ///   - averageAttnWeights: weights averaged over the heads (N, L, S), else (N, numHeads, L, S).
    ///   - isCausal: a hint that `attnMask` is the causal mask (it must be given, as in PyTorch);
    ///     without other masks the kernel then applies causality itself.
    /// - Returns: the output shaped like `query`, and the weights when `needWeights` (over
    ///   S keys, plus one each for `addBiasKV` and `addZeroAttn`'s appended keys).
    open func forward(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor? = nil,
                      needWeights: Bool = true, attnMask: Tensor? = nil, averageAttnWeights: Bool = true,
                      isCausal: Bool = false) -> (output: Tensor, weights: Tensor?) {
        var result: (output: Tensor, weights: Tensor?)!
        check {
            result = try forwardChecked(query: query, key: key, value: value, keyPaddingMask: keyPaddingMask,
                                        needWeights: needWeights, attnMask: attnMask,
                                        averageAttnWeights: averageAttnWeights, isCausal: isCausal)
        }
        return result
    }

    /// Runs `forward(query:key:value:…)`.
    public func callAsFunction(_ query: Tensor, _ key: Tensor, _ value: Tensor, keyPaddingMask: Tensor? = nil,
                               needWeights: Bool = true, attnMask: Tensor? = nil, averageAttnWeights: Bool = true,
                               isCausal: Bool = false) -> (output: Tensor, weights: Tensor?) {
        forward(query: query, key: key, value: value, keyPaddingMask: keyPaddingMask, needWeights: needWeights,
                attnMask: attnMask, averageAttnWeights: averageAttnWeights, isCausal: isCausal)
    }

    func forwardChecked(query: Tensor, key: Tensor, value: Tensor, keyPaddingMask: Tensor?, needWeights: Bool,
                        attnMask: Tensor?, averageAttnWeights: Bool, isCausal: Bool) throws -> (output: Tensor, weights: Tensor?) {
        let op = "MultiheadAttention"
        let e = embedDim, h = numHeads
        guard query.ndim == 2 || query.ndim == 3, key.ndim == query.ndim, value.ndim == query.ndim else {
            throw EmberError.shapeMismatch(op: op, message:
                "expected query, key and value all 3-D (batched) or all 2-D (unbatched), got query \(query.shape), key \(key.shape), value \(value.shape)")
        }
        guard query.shape.last == e, key.shape.last == kdim, value.shape.last == vdim else {
            throw EmberError.shapeMismatch(op: op, message: kdim == e && vdim == e
                ? "expected query, key and value with last dim embed_dim \(e), got query \(query.shape), key \(key.shape), value \(value.shape)"
                : "expected query, key and value with last dims embed_dim \(e), kdim \(kdim) and vdim \(vdim), got query \(query.shape), key \(key.shape), value \(value.shape)")
        }
        let batched = query.ndim == 3
        // Everything as (N, L, E).
        func batchMajor(_ t: Tensor) -> Tensor { !batched ? t.unsqueezed(0) : (batchFirst ? t : t.transposed(0, 1)) }
        let q = batchMajor(query), k = batchMajor(key), v = batchMajor(value)
        let (n, l, s) = (q.shape[0], q.shape[1], k.shape[1])
        guard k.shape[0] == n, v.shape[0] == n, v.shape[1] == s else {
            throw EmberError.shapeMismatch(op: op, message:
                "key \(key.shape) and value \(value.shape) must match each other and the batch of query \(query.shape)")
        }
        if isCausal && attnMask == nil {
            throw EmberError.invalidArgument(op: op, message:
                "Need attn_mask if specifying the is_causal hint. You may use the Transformer module method `generate_square_subsequent_mask` to create this mask.")
        }

        // The projections: one GEMM for self-attention, else three with the weight's slices
        // (or the three separate weights).
        let (qp, kp, vp): (Tensor, Tensor, Tensor)
        let b = inProjBias?.chunk(3, dim: 0)
        if let inProjWeight, query === key && key === value {
            let parts = linear(q, inProjWeight, inProjBias).chunk(3, dim: -1)
            (qp, kp, vp) = (parts[0], parts[1], parts[2])
        } else if let inProjWeight {
            let w = inProjWeight.chunk(3, dim: 0)
            (qp, kp, vp) = (linear(q, w[0], b?[0]), linear(k, w[1], b?[1]), linear(v, w[2], b?[2]))
        } else {
            (qp, kp, vp) = (linear(q, qProjWeight!, b?[0]), linear(k, kProjWeight!, b?[1]), linear(v, vProjWeight!, b?[2]))
        }
        func heads(_ t: Tensor, _ len: Int) -> Tensor { t.reshaped([n, len, h, headDim]).permuted(0, 2, 1, 3) }

        // The masks as one additive float mask broadcastable to (N, H, L, S).
        var mask: Tensor? = nil
        if let attnMask {
            let shapeOK = attnMask.shape == [l, s] || attnMask.shape == [n * h, l, s]
            guard shapeOK else {
                throw EmberError.shapeMismatch(op: op, message:
                    "attn_mask should have shape [\(l), \(s)] or [\(n * h), \(l), \(s)], got \(attnMask.shape)")
            }
            let m = try canonicalMask(attnMask, op: op, name: "attn_mask")
            mask = m.ndim == 3 ? m.reshaped([n, h, l, s]) : m
        }
        if let keyPaddingMask {
            guard keyPaddingMask.shape == (batched ? [n, s] : [s]) else {
                throw EmberError.shapeMismatch(op: op, message:
                    "expected key_padding_mask of shape \(batched ? [n, s] : [s]), got \(keyPaddingMask.shape)")
            }
            let m = try canonicalMask(keyPaddingMask, op: op, name: "key_padding_mask").reshaped([n, 1, 1, s])
            mask = mask.map { $0 + m } ?? m
        }
        // PyTorch lets the kernel apply causality only when the causal mask is the only one.
        let kernelCausal = isCausal && keyPaddingMask == nil && !needWeights
        if kernelCausal { mask = nil }
        let p = isTraining ? dropout : 0
        // addBiasKV's key and value, then addZeroAttn's, after the S keys; the masks allow them.
        var extra = 0
        var kpe = kp, vpe = vp
        if let biasK, let biasV {
            kpe = Tensor.cat([kp, biasK.expanded(to: [n, 1, e])], dim: 1)
            vpe = Tensor.cat([vp, biasV.expanded(to: [n, 1, e])], dim: 1)
            extra += 1
        }
        let qh = heads(qp, l)
        var kh = heads(kpe, s + extra), vh = heads(vpe, s + extra)
        if addZeroAttn {
            kh = Tensor.cat([kh, Tensor.zeros([n, h, 1, headDim])], dim: 2)
            vh = Tensor.cat([vh, Tensor.zeros([n, h, 1, headDim])], dim: 2)
            extra += 1
        }
        if extra > 0, let m = mask { mask = Tensor.cat([m, Tensor.zeros(Array(m.shape.dropLast()) + [extra])], dim: -1) }
        let attended: Tensor
        var weights: Tensor? = nil
        if needWeights {
            let r = attentionWithWeights(query: qh, key: kh, value: vh, attnMask: mask, dropoutP: p, isCausal: false,
                                         scale: 1 / Double(headDim).squareRoot(), generator: generator)
            attended = r.output
            weights = averageAttnWeights ? r.weights.mean(dim: 1) : r.weights
            if !batched { weights = weights!.squeezed(0) }
        } else {
            attended = try scaledDotProductAttentionChecked(query: qh, key: kh, value: vh, attnMask: mask, dropoutP: p,
                                                            isCausal: kernelCausal, scale: nil, generator: generator)
        }
        // (N, H, L, hd) → (N, L, E) → the output projection → the caller's layout.
        var out = outProj(attended.permuted(0, 2, 1, 3).reshaped([n, l, e]))
        out = !batched ? out.squeezed(0) : (batchFirst ? out : out.transposed(0, 1))
        return (out, weights)
    }

    /// Empty: PyTorch prints only the output projection.
    open override var extraDescription: String { "" }

    /// PyTorch's print: `MultiheadAttention(` with its `(out_proj): NonDynamicallyQuantizableLinear(…)` child.
    open override var description: String {
        "MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(\(outProj.extraDescription))\n)"
    }
}

/// A mask as an additive float mask: a bool one becomes −inf where true (a position that
/// may not attend, PyTorch's MultiheadAttention convention) and 0 elsewhere; a float one is
/// used as it is (PyTorch's `_canonical_mask`).
func canonicalMask(_ mask: Tensor, op: String, name: String) throws -> Tensor {
    switch mask.dtype {
    case .bool: return noGrad { Tensor.where(mask, Tensor(scalar: -Float.infinity), Tensor(scalar: 0)) }
    case .float32: return mask
    default:
        throw EmberError.invalidArgument(op: op, message: "only bool and floating types of \(name) are supported, got \(mask.dtype)")
    }
}
