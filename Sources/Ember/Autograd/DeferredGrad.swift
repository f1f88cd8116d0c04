/// Deferred weight gradients: plain SGD folded into the weight-gradient GEMM.
///
/// A linear layer's weight gradient is one GEMM, dW = gᵀ·x (g the gradient of the layer's
/// output, x its input), and plain SGD then streams W −= lr·dW. When the weight's optimizer
/// can take it (plain SGD marks its parameters), `backward()` keeps that gradient as its two
/// factors, and `step()` runs W += −lr·gᵀ·x as one GEMM into W (alpha = −lr, beta = 1): no
/// dW to zero and fill, and no second pass over W and dW (figures: docs/DESIGN.md, "Plain SGD
/// inside the weight-gradient GEMM"). The last bit of a weight can differ from the two-pass
/// update.
///
/// Nothing else can tell: reading `grad` computes dW then, with the very GEMM call backward
/// would have made; a second `backward()` before `zeroGrad()` adds to it; `grad = nil`
/// drops it. Because the factors are references, every in-place write (`copy_`,
/// `withUnsafeMutableFloats`, the optimizers' updates) to memory that a deferred gradient
/// still reads computes that gradient first (`willWriteInPlace`).
final class DeferredLinearGrad {
    /// (n, out): the gradient of the layer's output.
    let dOut: Tensor
    /// (n, in): the layer's input.
    let input: Tensor

    init(dOut: Tensor, input: Tensor) {
        self.dOut = dOut
        self.input = input
    }

    /// c (out × in) = alpha · dOutᵀ·input + beta · c.
    func gemm(into c: UnsafeMutablePointer<Float>, alpha: Float, beta: Float) {
        let (n, outF, inF) = (input.shape[0], dOut.shape[1], input.shape[1])
        Kernels.sgemm(transA: true, transB: false, m: outF, n: inF, k: n, alpha: alpha, a: dOut.f32, lda: outF,
                      b: input.f32, ldb: inF, beta: beta, c: c, ldc: inF)
    }
}

/// A reference that does not keep its tensor alive.
struct WeakTensor {
    weak var tensor: Tensor?
}

extension Tensor {
    /// Whether `backward()` may keep this weight's gradient as its factors: its optimizer
    /// applies such gradients itself, there is no gradient yet to add to, and no hook waits
    /// to read or change the gradient during backward.
    var canDeferGrad: Bool {
        defersLinearGrad && isLeaf && accumulatedGrad == nil && deferredGrad == nil && postAccumulateGradHooks.isEmpty
            && gradHooks.isEmpty
    }

    /// Records this weight's gradient as dOutᵀ·input, to be computed or applied later.
    func deferGrad(dOut: Tensor, input: Tensor) {
        deferredGrad = DeferredLinearGrad(dOut: dOut, input: input)
        for s in [dOut.storage, input.storage] where !s.deferredGradReaders.contains(where: { $0.tensor === self }) {
            s.deferredGradReaders.append(WeakTensor(tensor: self))
        }
    }

    /// Computes a deferred gradient into `grad`.
    func materializeDeferredGrad() {
        guard let d = deferredGrad else { return }
        dropDeferredGrad()
        let g = Tensor(empty: shape)
        d.gemm(into: g.f32, alpha: 1, beta: 0)
        accumulatedGrad = g
    }

    /// Forgets a deferred gradient, and the storages it was reading forget this tensor.
    func dropDeferredGrad() {
        guard let d = deferredGrad else { return }
        deferredGrad = nil
        for s in [d.dOut.storage, d.input.storage] {
            s.deferredGradReaders.removeAll { $0.tensor == nil || $0.tensor === self }
        }
    }

    /// self += alpha · grad, as one GEMM, when the gradient is deferred; false (and nothing
    /// done) otherwise. The gradient stays deferred: reading `grad` afterwards still gives it.
    /// Call `willWriteInPlace()` first.
    func addDeferredGrad(scaledBy alpha: Float) -> Bool {
        guard let d = deferredGrad else { return false }
        d.gemm(into: f32, alpha: alpha, beta: 1)
        return true
    }

    /// Every in-place write to this tensor's memory (through any view of it) calls this
    /// first: it bumps the storage's version, and deferred gradients that read the memory
    /// are computed while it still holds what backward saw.
    func willWriteInPlace() {
        storage.version &+= 1
        if storage.packedWeight != nil { dropPackedWeight(of: storage) }
        guard !storage.deferredGradReaders.isEmpty else { return }
        for reader in storage.deferredGradReaders { reader.tensor?.materializeDeferredGrad() }
        storage.deferredGradReaders.removeAll()
    }
}
