/// Matrix products through OpenBLAS (csrc/gemm.c). Transposes are passed as flags to sgemm,
/// never materialised.

/// op(a)·op(b) for 2-D float32 tensors into a new (m, n) tensor, where op transposes when
/// asked: the one place the ops call sgemm.
func gemm(_ a: Tensor, _ b: Tensor, transposeA ta: Bool = false, transposeB tb: Bool = false) -> Tensor {
    let m = ta ? a.shape[1] : a.shape[0], k = ta ? a.shape[0] : a.shape[1]
    let n = tb ? b.shape[0] : b.shape[1]
    let out = Tensor(empty: [m, n])
    Kernels.sgemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a.f32, lda: a.shape[1],
                  b: b.f32, ldb: b.shape[1], beta: 0, c: out.f32, ldc: n)
    return out
}

extension Tensor {
    static func checkMatmul(_ a: [Int], _ b: [Int]) throws {
        guard a.count >= 1, b.count >= 1, a.count <= 2 || b.count <= 2 else {
            throw EmberError.shapeMismatch(op: "matmul", message: "unsupported shapes \(a) and \(b)")
        }
        let k1 = a.last!, k2 = b.count == 1 ? b[0] : b[b.count - 2]
        if k1 != k2 {
            let m1 = a.count == 1 ? [1, a[0]] : [a.dropLast().reduce(1, *), k1]
            let m2 = b.count == 1 ? [b[0], 1] : b
            throw EmberError.shapeMismatch(op: "matmul",
                message: "mat1 and mat2 shapes cannot be multiplied (\(shapeString(m1)) and \(shapeString(m2)))")
        }
    }

    /// Matrix product. 2-D × 2-D, 1-D on either side (as a row / column vector), and N-D × 2-D
    /// (the leading dims are batch). d(A·B) = g·Bᵀ, Aᵀ·g.
    public func matmul(_ other: Tensor) -> Tensor {
        check {
            try expectDType(self, .float32, op: "matmul")
            try expectDType(other, .float32, op: "matmul")
            try Tensor.checkMatmul(shape, other.shape)
        }
        if ndim == 1 { return unsqueezed(0).matmul(other).squeezed(-2) }
        if other.ndim == 1 { return matmul(other.unsqueezed(1)).squeezed(-1) }
        if other.ndim > 2 {
            precondition(ndim == 2, "matmul: unsupported shapes \(shape) and \(other.shape)")
            return other.transposedLast().matmul(transposed()).transposedLast()
        }
        if ndim > 2 {
            let lead = Array(shape.dropLast())
            return reshaped([-1, shape[ndim - 1]]).matmul(other).reshaped(lead + [other.shape[1]])
        }
        let a = self, b = other
        return gemm(a, b).recorded("matmul", [a, b]) { g in
            [a.requiresGrad ? gemm(g, b, transposeB: true) : nil,    // dA = g·Bᵀ
             b.requiresGrad ? gemm(a, g, transposeA: true) : nil]    // dB = Aᵀ·g
        }
    }

    private func transposedLast() -> Tensor {
        precondition(ndim == 3, "matmul: batched products support 3-D tensors")
        return Tensor.stack((0..<shape[0]).map { self[$0].transposed() })
    }
}

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
        return linear(x.reshaped([-1, weight.shape[1]]), weight, bias, relu: relu).reshaped(lead + [weight.shape[0]])
    }
    let (n, inF, outF) = (x.shape[0], weight.shape[1], weight.shape[0])
    let out = Tensor(empty: [n, outF])
    Kernels.linearForward(out.f32, x.f32, weight.f32, bias?.f32, n: n, inFeatures: inF, outFeatures: outF, relu: relu)
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
