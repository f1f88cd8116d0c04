import Foundation

/// Matrix products through the GEMM (csrc/gemm.c). Transposed views are passed to sgemm as
/// flags and row strides, never copied.

/// How sgemm reads a 2-D view in place: row-major with a row stride, or transposed (a view
/// whose rows are stride 1). Anything else is first copied.
func gemmOperand(_ t: Tensor) -> (t: Tensor, trans: Bool, ld: Int) {
    let (r, c) = (t.shape[t.ndim - 2], t.shape[t.ndim - 1])
    let (s0, s1) = (t.strides[t.ndim - 2], t.strides[t.ndim - 1])
    if s1 == 1 || c == 1, r == 1 || s0 >= Swift.max(c, 1) { return (t, false, r == 1 ? Swift.max(c, 1) : s0) }
    if s0 == 1 || r == 1, c == 1 || s1 >= Swift.max(r, 1) { return (t, true, c == 1 ? Swift.max(r, 1) : s1) }
    let copy = t.contiguous()
    return (copy, false, Swift.max(c, 1))
}

/// out[i] = a[i]·b[i] over the batch dims `batch` (a and b already broadcast to them;
/// out contiguous, zero-filled when k = 0).
func batchedGemm(_ a: Tensor, _ b: Tensor, into out: Tensor, batch: [Int]) {
    let m = a.shape[a.ndim - 2], k = a.shape[a.ndim - 1], n = b.shape[b.ndim - 1]
    if m == 0 || n == 0 || k == 0 { return }
    let (ao, ta, lda) = gemmOperand(a), (bo, tb, ldb) = gemmOperand(b)
    let count = batch.reduce(1, *)
    let pa = ao.base.assumingMemoryBound(to: Float.self), pb = bo.base.assumingMemoryBound(to: Float.self)
    for i in 0..<count {
        var r = i, offA = 0, offB = 0
        for d in stride(from: batch.count - 1, through: 0, by: -1) {
            let idx = r % batch[d]
            r /= batch[d]
            offA += idx * ao.strides[d]
            offB += idx * bo.strides[d]
        }
        Kernels.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: pa + offA, lda: lda,
                      b: pb + offB, ldb: ldb, beta: 0, c: out.f32 + i * m * n, ldc: n)
    }
}

extension Tensor {
    static func checkMatmul(_ a: [Int], _ b: [Int]) throws {
        guard a.count >= 1, b.count >= 1 else {
            throw EmberError.shapeMismatch(op: "matmul", message:
                "both arguments to matmul need to be at least 1D, but they are \(a.count)D and \(b.count)D")
        }
        let k1 = a.last!, k2 = b.count == 1 ? b[0] : b[b.count - 2]
        if k1 != k2 {
            let m1 = a.count == 1 ? [1, a[0]] : [a.dropLast().reduce(1, *), k1]
            let m2 = b.count == 1 ? [b[0], 1] : [b[b.count - 2], b[b.count - 1]]
            throw EmberError.shapeMismatch(op: "matmul",
                message: "mat1 and mat2 shapes cannot be multiplied (\(shapeString(m1)) and \(shapeString(m2)))")
        }
    }

    /// Matrix product with PyTorch's `matmul` rules: 1-D·1-D is a dot product; a 1-D operand
    /// is a row (left) or column (right) vector, its dim removed after; N-D operands are
    /// batches of matrices whose batch dims broadcast. d(A·B) = g·Bᵀ, Aᵀ·g (summed over
    /// broadcast batch dims).
    public func matmul(_ other: Tensor) -> Tensor {
        check {
            try expectDType(self, .float32, op: "matmul")
            try expectDType(other, .float32, op: "matmul")
            try Tensor.checkMatmul(shape, other.shape)
        }
        if ndim == 1 && other.ndim == 1 { return unsqueezed(0).matmul(other.unsqueezed(1)).reshaped([]) }
        if ndim == 1 { return unsqueezed(0).matmul(other).squeezed(-2) }
        if other.ndim == 1 { return matmul(other.unsqueezed(1)).squeezed(-1) }
        if ndim > 2 && other.ndim == 2 && isContiguous {
            // A batch against one matrix is one tall product.
            let lead = Array(shape.dropLast())
            return reshaped([-1, shape[ndim - 1]]).matmul(other).reshaped(lead + [other.shape[1]])
        }
        let a = self, b = other
        let m = a.shape[a.ndim - 2], n = b.shape[b.ndim - 1], k = a.shape[a.ndim - 1]
        var batch: [Int] = []
        check { batch = try broadcastShape(Array(a.shape.dropLast(2)), Array(b.shape.dropLast(2)), op: "matmul") }
        let out = k == 0 ? Tensor.zeros(batch + [m, n]) : Tensor(empty: batch + [m, n])
        noGrad { batchedGemm(a.expanded(to: batch + [m, k]), b.expanded(to: batch + [k, n]), into: out, batch: batch) }
        return out.recorded("matmul", [a, b]) { g in
            [a.requiresGrad ? g.matmul(b.mT).sumTo(a.shape) : nil,    // dA = g·Bᵀ
             b.requiresGrad ? a.mT.matmul(g).sumTo(b.shape) : nil]    // dB = Aᵀ·g
        }
    }

    /// Batched matrix product of (B, n, k) and (B, k, m) tensors (PyTorch's `bmm`).
    public func bmm(_ other: Tensor) -> Tensor {
        precondition(ndim == 3 && other.ndim == 3 && shape[0] == other.shape[0],
                     "bmm: expected two 3-D tensors with the same batch size, got \(shape) and \(other.shape)")
        return matmul(other)
    }

    /// The outer product of two 1-D tensors (PyTorch's `outer`).
    public func outer(_ other: Tensor) -> Tensor {
        precondition(ndim == 1 && other.ndim == 1, "outer: expected 1-D tensors, got \(shape) and \(other.shape)")
        return unsqueezed(1) * other.unsqueezed(0)
    }

    /// beta·self + alpha·(batch1 @ batch2) (PyTorch's `baddbmm`).
    public func baddbmm(_ batch1: Tensor, _ batch2: Tensor, beta: Double = 1, alpha: Double = 1) -> Tensor {
        let p = batch1.bmm(batch2)
        return (beta == 1 ? self : self * beta) + (alpha == 1 ? p : p * alpha)
    }
}

/// `a.matmul(b)` as a free function (PyTorch: `torch.matmul`).
public func matmul(_ a: Tensor, _ b: Tensor) -> Tensor { a.matmul(b) }

/// y = x·Wᵀ + b in one call (bias fused into the GEMM output), as PyTorch's `F.linear`.
/// x (N, IN) or (…, IN); weight (OUT, IN); bias (OUT) or nil.
/// Backward: dx = g·W, dW = gᵀ·x, db = Σ_rows g — each computed only when needed.
public func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
    linear(x, weight, bias, relu: false)
}

/// relu(x·Wᵀ + b) as one op: each thread applies the relu to the block of the output it has
/// just computed, while the block is in its core's cache, instead of a second pass that
/// reads the whole output back across cores. `Sequential` runs a `Linear` followed by a
/// `ReLU` this way. The values and gradients are exactly those of `linear(x, W, b).relu()`.
func linearReLU(_ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil) -> Tensor {
    linear(x, weight, bias, relu: true)
}

private func linear(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, relu: Bool) -> Tensor {
    check {
        try expectDType(x, .float32, op: "linear")
        try expectDType(weight, .float32, op: "linear weight")
        if let bias { try expectDType(bias, .float32, op: "linear bias") }
        guard weight.ndim == 2, x.ndim >= 1, x.shape.last == weight.shape[1] else {
            let rows = x.ndim >= 2 ? x.shape.dropLast().reduce(1, *) : 1
            throw EmberError.shapeMismatch(op: "linear", message:
                "mat1 and mat2 shapes cannot be multiplied (\(rows)x\(x.shape.last ?? 0) and \(shapeString(weight.shape.reversed())))")
        }
        if let bias, bias.shape != [weight.shape[0]] {
            throw EmberError.shapeMismatch(op: "linear", message:
                "bias of shape \(bias.shape) does not match weight of shape \(weight.shape)")
        }
    }
    if x.ndim != 2 {
        let lead = Array(x.shape.dropLast())
        return linear(x.contiguous().reshaped([-1, weight.shape[1]]), weight, bias, relu: relu)
            .reshaped(lead + [weight.shape[0]])
    }
    // A weight that is a copy made here is not worth keeping packed.
    let keepPacked = weight.isContiguous
    let x = x.contiguous(), weight = weight.contiguous(), bias = bias?.contiguous()
    let (n, inF, outF) = (x.shape[0], weight.shape[1], weight.shape[0])
    let out = Tensor(empty: [n, outF])
    if keepPacked, let packed = cachedPackedWeight(weight) {
        Kernels.linearForwardPacked(out.f32, x.f32, packed, bias?.f32, n: n, relu: relu)
    } else {
        Kernels.linearForward(out.f32, x.f32, weight.f32, bias?.f32, n: n, inFeatures: inF, outFeatures: outF, relu: relu)
    }
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    let y = relu ? out.detach() : nil   // relu's backward reads the output (saved without a cycle)
    return out.recorded(relu ? "linear_relu" : "linear", inputs) { dOut in
        var g = dOut
        if let y {
            g = Tensor(empty: [n, outF])
            Kernels.reluBackward(g.f32, dOut.f32, y.f32, y.count)
        }
        var db: Tensor?
        if let bias, bias.requiresGrad {
            db = Tensor(empty: [outF])
            Kernels.biasBackward(db!.f32, g.f32, n: n, outFeatures: outF, accumulate: false)
        }
        let dx = x.requiresGrad ? Tensor(empty: [n, inF]) : nil               // (n,out)·(out,in)
        var dw: Tensor?                                                        // (n,out)ᵀ·(n,in)
        if weight.requiresGrad {
            // Plain SGD applies gᵀ·x to the weight itself, as one GEMM (DeferredGrad.swift).
            if weight.canDeferGrad { weight.deferGrad(dOut: g, input: x) } else { dw = Tensor(empty: [outF, inF]) }
        }
        Kernels.linearBackward(dInput: dx?.f32, dWeight: dw?.f32, dOut: g.f32, input: x.f32,
                               weight: weight.f32, n: n, inFeatures: inF, outFeatures: outF)
        return bias == nil ? [dx, dw] : [dx, dw, db]
    }
}

/// A weight packed into the GEMM engine's panels, with what it was packed from: the packing
/// is valid while the storage's version and the view's place and shape are the same.
struct PackedWeight {
    let version: Int, offset: Int, shape: [Int]
    let packed: Kernels.PackedB
}

/// Guards `Storage.packedWeight`: two threads may run the same model's forward.
private let packedWeightLock = NSLock()

/// The weight (OUT, IN), contiguous, packed once and kept on its storage while no in-place
/// write changes it, when its gradient will not be taken: evaluation, sampling, frozen layers.
/// A training forward packs as part of the product instead, since the optimizer rewrites the
/// weight before the next one. Only a weight that is its whole storage is kept: views of one
/// storage (MultiheadAttention's q, k, v blocks of in_proj_weight) would evict each other.
/// Same bits either way (the engine's packed-B contract).
private func cachedPackedWeight(_ weight: Tensor) -> Kernels.PackedB? {
    guard !(isGradEnabled && weight.requiresGrad) else { return nil }
    let storage = weight.storage
    guard weight.storageOffset == 0, weight.count * MemoryLayout<Float>.size == storage.byteCount else { return nil }
    packedWeightLock.lock()
    defer { packedWeightLock.unlock() }
    if let cached = storage.packedWeight, cached.version == storage.version,
       cached.offset == weight.storageOffset, cached.shape == weight.shape {
        return cached.packed
    }
    let (outF, inF) = (weight.shape[0], weight.shape[1])
    guard let packed = Kernels.PackedB(transB: true, k: inF, n: outF, b: weight.f32, ldb: inF) else { return nil }
    storage.packedWeight = PackedWeight(version: storage.version, offset: weight.storageOffset,
                                        shape: weight.shape, packed: packed)
    return packed
}

/// Frees a stale packing as soon as its memory is written (the next evaluation repacks).
func dropPackedWeight(of storage: Storage) {
    packedWeightLock.lock()
    storage.packedWeight = nil
    packedWeightLock.unlock()
}
