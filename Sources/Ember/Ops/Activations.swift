/// ReLU, softmax, log-softmax and dropout on the C kernels (csrc/activations.c).
extension Tensor {
    /// max(x, 0). Backward: g where the output is positive, else 0.
    ///
    /// PyTorch: `torch.relu`.
    public func relu() -> Tensor {
        check { try expectDType(self, .float32, op: "relu") }
        let out = Tensor(empty: shape)
        Kernels.reluForward(out.f32, contiguous().f32, count)
        return out.recordedReadingOutput("relu", [self]) { g, y in
            let dx = Tensor(empty: y.shape)
            Kernels.reluBackward(dx.f32, g.f32, y.f32, y.count)
            return [dx]
        }
    }

    /// Softmax over `dim` (the last by default).
    ///
    /// PyTorch: `torch.softmax(x, dim)`.
    public func softmax(dim: Int = -1) -> Tensor { softmaxImpl(dim: dim, log: false) }
    /// log(softmax(x)) over `dim`, computed stably.
    ///
    /// PyTorch: `torch.log_softmax(x, dim)`.
    public func logSoftmax(dim: Int = -1) -> Tensor { softmaxImpl(dim: dim, log: true) }

    private func softmaxImpl(dim: Int, log: Bool) -> Tensor {
        let name = log ? "log_softmax" : "softmax"
        check { try expectDType(self, .float32, op: name) }
        let d = normalizeDim(dim, ndim, op: name)
        if ndim > 0 && d != ndim - 1 {
            // Move `dim` last, take the rows, move it back.
            return transposed(d, -1).softmaxImpl(dim: -1, log: log).transposed(d, -1).contiguous()
        }
        let cols = ndim == 0 ? 1 : shape[ndim - 1]
        let rows = cols == 0 ? 0 : count / cols
        let out = Tensor(empty: shape)
        Kernels.softmaxForward(out.f32, contiguous().f32, rows: rows, cols: cols, log: log)
        return out.recordedReadingOutput(name, [self]) { g, y in
            let dx = Tensor(empty: y.shape)
            Kernels.softmaxBackward(dx.f32, g.f32, y.f32, rows: rows, cols: cols, log: log)
            return [dx]
        }
    }

    /// Zeroes each element with probability `p` and scales the rest by 1/(1-p). The mask is
    /// drawn from `generator` with a counter-based stream: it does not depend on threads.
    ///
    /// PyTorch: `F.dropout(x, p, training=True)`.
    public func dropout(p: Double, generator: Generator = .default) -> Tensor {
        precondition(p >= 0 && p <= 1, "dropout: probability has to be between 0 and 1, but got \(p)")
        check { try expectDType(self, .float32, op: "dropout") }
        let out = Tensor(empty: shape), mask = Tensor(empty: shape)
        let (seed, offset) = generator.reserve(count)
        Kernels.dropoutForward(out.f32, mask.f32, contiguous().f32, count, p: Float(p), seed: seed, offset: offset)
        return out.recorded("dropout", [self], saved: []) { g in [g * mask] }
    }
}

/// max(x, 0) elementwise (PyTorch: `F.relu`).
public func relu(_ x: Tensor) -> Tensor { x.relu() }
/// The softmax of `x` along `dim` (PyTorch: `F.softmax`).
public func softmax(_ x: Tensor, dim: Int = -1) -> Tensor { x.softmax(dim: dim) }
/// log(softmax(x)) along `dim`, computed stably (PyTorch: `F.log_softmax`).
public func logSoftmax(_ x: Tensor, dim: Int = -1) -> Tensor { x.logSoftmax(dim: dim) }
