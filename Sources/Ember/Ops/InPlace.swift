/// In-place ops, PyTorch's trailing-underscore methods. Each computes its result out of
/// place and writes it through self's strides (so they work on views), bumping the storage's
/// version. Under autograd a non-leaf tensor takes the op into its history, as in PyTorch,
/// and so does a view's base (Autograd/ViewHistory.swift); a leaf that requires grad, or a
/// view of one, must be updated under `noGrad`.
extension Tensor {
    /// `r`, checked to fit `t`'s dtype (`castable`).
    func inPlaceResult(_ r: Tensor, to t: Tensor, op: String) -> Tensor {
        check { try castable(r, to: t, op: op) }
        return r
    }

    /// An in-place op's result must fit self's dtype: an integer or bool tensor cannot take a
    /// float result (`intTensor.mul_(0.5)` would truncate), as PyTorch refuses it.
    func castable(_ r: Tensor, to t: Tensor, op: String) throws {
        guard t.dtype != .float32 && r.dtype == .float32 else { return }
        let names: [DType: String] = [.int64: "Long", .uint8: "Byte", .bool: "Bool"]
        throw EmberError.invalidArgument(op: op, message:
            "result type Float can't be cast to the desired output type \(names[t.dtype] ?? t.dtype.rawValue)")
    }

    /// Writes `compute(old)` into self, where `old` carries self's values and history.
    @discardableResult
    func applyInPlace(_ op: String, _ others: [Tensor] = [], _ compute: (Tensor) -> Tensor) -> Tensor {
        check { try checkNoInternalOverlap(op) }
        let recording = isGradEnabled && (requiresGrad || others.contains { $0.requiresGrad })
        guard recording else {
            let r = noGrad { compute(self) }
            willWriteInPlace()
            writeElements(of: r, op: op)
            return self
        }
        check { try checkRecordableInPlace(op) }
        // `old` is a copy of self as it was, with its history: the op's saved values stay valid
        // after self is overwritten.
        let alias = detach()
        alias.gradFn = gradFn
        let old = alias.clone()
        var r = compute(old)
        if r.gradFn == nil && old.requiresGrad {
            // Values that do not depend on the old ones (fill_, copy_ of a constant): the old
            // history gets a zero gradient, as PyTorch's, and self still requires grad.
            let oldShape = old.shape
            r = r.detach().recorded(op, [old], saved: []) { _ in [Tensor.zeros(oldShape)] }
        }
        willWriteInPlace()
        writeElements(of: r, op: op)
        if let viewOrigin {
            viewOrigin.base.recordWrite(through: self, result: r)   // self's node follows on its next read
        } else {
            gradFn = r.gradFn
        }
        return self
    }

    /// Why autograd cannot take an in-place op on self (while it records), as PyTorch
    /// refuses it: a leaf that requires grad, a view of one, or a view made under noGrad.
    func checkRecordableInPlace(_ op: String) throws {
        if isLeaf && requiresGrad {
            throw EmberError.invalidArgument(op: op, message:
                "a leaf Variable that requires grad is being used in an in-place operation (shape \(shape)); update it under noGrad { }")
        }
        guard isView else { return }
        guard let base = viewOrigin?.base, !base.isView else {
            throw EmberError.invalidArgument(op: op, message:
                "a view was created in noGrad mode and is being modified in place with grad mode enabled (shape \(shape)); make both the view and the write inside or outside noGrad { }")
        }
        if base.isLeaf && base.requiresGrad {
            throw EmberError.invalidArgument(op: op, message:
                "a view of a leaf Variable that requires grad is being used in an in-place operation (shape \(shape)); update it under noGrad { }")
        }
    }

    /// Sets every element to `value` (PyTorch's `fill_`).
    @discardableResult
    public func fill_(_ value: Double) -> Tensor {
        applyInPlace("fill_") { Tensor.full($0.shape, value, dtype: $0.dtype) }
    }
    /// Sets every element to zero (PyTorch's `zero_`).
    @discardableResult
    public func zero_() -> Tensor { fill_(0) }

    /// self += alpha · other, other broadcast to self's shape (PyTorch's `add_`).
    @discardableResult
    public func add_(_ other: Tensor, alpha: Double = 1) -> Tensor {
        applyInPlace("add_", [other]) { inPlaceResult($0 + (alpha == 1 ? other : other * alpha), to: $0, op: "add_") }
    }
    /// self += value in place (PyTorch: `add_`).
    @discardableResult
    public func add_(_ value: Double) -> Tensor { applyInPlace("add_") { inPlaceResult($0 + value, to: $0, op: "add_") } }
    /// self -= alpha · other in place, other broadcast to self's shape (PyTorch: `sub_`).
    @discardableResult
    public func sub_(_ other: Tensor, alpha: Double = 1) -> Tensor {
        applyInPlace("sub_", [other]) { inPlaceResult($0 - (alpha == 1 ? other : other * alpha), to: $0, op: "sub_") }
    }
    /// self -= value in place (PyTorch: `sub_`).
    @discardableResult
    public func sub_(_ value: Double) -> Tensor { applyInPlace("sub_") { inPlaceResult($0 - value, to: $0, op: "sub_") } }
    /// self *= other in place, other broadcast to self's shape (PyTorch: `mul_`).
    @discardableResult
    public func mul_(_ other: Tensor) -> Tensor { applyInPlace("mul_", [other]) { inPlaceResult($0 * other, to: $0, op: "mul_") } }
    /// self *= value in place (PyTorch: `mul_`).
    @discardableResult
    public func mul_(_ value: Double) -> Tensor { applyInPlace("mul_") { inPlaceResult($0 * value, to: $0, op: "mul_") } }
    /// self /= other in place, other broadcast to self's shape (PyTorch: `div_`).
    @discardableResult
    public func div_(_ other: Tensor) -> Tensor { applyInPlace("div_", [other]) { inPlaceResult($0 / other, to: $0, op: "div_") } }
    /// self /= value in place (PyTorch: `div_`).
    @discardableResult
    public func div_(_ value: Double) -> Tensor { applyInPlace("div_") { inPlaceResult($0 / value, to: $0, op: "div_") } }
    /// Clamps into [min, max] in place (PyTorch's `clamp_`).
    @discardableResult
    public func clamp_(min lo: Double? = nil, max hi: Double? = nil) -> Tensor {
        applyInPlace("clamp_") { $0.clamp(min: lo, max: hi) }
    }
    /// Sets the elements where `mask` is true to `value` (PyTorch's `masked_fill_`).
    @discardableResult
    public func maskedFill_(_ mask: Tensor, value: Double) -> Tensor {
        applyInPlace("masked_fill_") { $0.maskedFill(mask, value: value) }
    }
    /// Adds `alpha · source` slices into the entries `index` of `dim` (PyTorch's `index_add_`).
    @discardableResult
    public func indexAdd_(dim: Int, index: Tensor, source: Tensor, alpha: Double = 1) -> Tensor {
        applyInPlace("index_add_", [source]) { $0.indexAdd(dim: dim, index: index, source: alpha == 1 ? source : source * alpha) }
    }
    /// PyTorch's `scatter_`: self[index[i][j]][j] = src[i][j] for dim 0 (and so on).
    @discardableResult
    public func scatter_(dim: Int, index: Tensor, src: Tensor) -> Tensor {
        applyInPlace("scatter_", [src]) { $0.scatter(dim: dim, index: index, src: src) }
    }
    /// PyTorch's `scatter_add_`: self[index[i][j]][j] += src[i][j] for dim 0 (and so on).
    @discardableResult
    public func scatterAdd_(dim: Int, index: Tensor, src: Tensor) -> Tensor {
        applyInPlace("scatter_add_", [src]) { $0.scatterAdd(dim: dim, index: index, src: src) }
    }
    /// Fills with uniform values on [low, high) from `generator` (PyTorch's `uniform_`).
    @discardableResult
    public func uniform_(_ low: Double = 0, _ high: Double = 1, generator: Generator = .default) -> Tensor {
        applyInPlace("uniform_") { Tensor.rand($0.shape, low: Float(low), high: Float(high), generator: generator) }
    }
    /// Fills with N(mean, std²) values from `generator` (PyTorch's `normal_`).
    @discardableResult
    public func normal_(mean: Double = 0, std: Double = 1, generator: Generator = .default) -> Tensor {
        applyInPlace("normal_") { Tensor.randn($0.shape, mean: Float(mean), std: Float(std), generator: generator) }
    }
}
