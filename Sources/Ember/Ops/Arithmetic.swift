/// Broadcasting arithmetic, comparisons and elementwise maps, each with its gradient.

// MARK: - The broadcasting engine

/// Operand strides for a binary kernel (each operand's own strides, 0 along broadcast dims),
/// with adjacent dims merged where both operands walk them evenly (so most calls reach the
/// kernel's flat loop). Strided operands are read in place, never copied.
func broadcastPlan(_ a: Tensor, _ b: Tensor, op: String)
    -> (out: [Int], shape: [Int64], aStrides: [Int64], bStrides: [Int64]) {
    var out: [Int] = [], sa: [Int] = [], sb: [Int] = []
    check {
        out = try broadcastShape(a.shape, b.shape, op: op)
        sa = try broadcastStrides(of: a, to: out, op: op)
        sb = try broadcastStrides(of: b, to: out, op: op)
    }
    var shape: [Int] = [], ca: [Int] = [], cb: [Int] = []
    for d in out.indices where out[d] != 1 {
        if let last = shape.indices.last, ca[last] == sa[d] * out[d], cb[last] == sb[d] * out[d] {
            shape[last] *= out[d]
            ca[last] = sa[d]
            cb[last] = sb[d]
        } else {
            shape.append(out[d]); ca.append(sa[d]); cb.append(sb[d])
        }
    }
    return (out, shape.map(Int64.init), ca.map(Int64.init), cb.map(Int64.init))
}

/// The dtype two operands compute in: int64 only when both are integer-like.
private func promote(_ a: Tensor, _ b: Tensor) -> DType {
    (a.dtype == .float32 || b.dtype == .float32) ? .float32 : .int64
}

private func binaryForward(_ op: Kernels.Binary, _ name: String, _ a: Tensor, _ b: Tensor) -> Tensor {
    var dtype = promote(a, b)
    if op == .div { dtype = .float32 }   // true division, as PyTorch's `/`
    let a = a.type(dtype), b = b.type(dtype)
    if !a.isContiguous && a.shape == b.shape && a.strides == b.strides && stridesAreDense(a.shape, a.strides) {
        // Same permuted layout on both sides (x.T * x.T): one flat pass over memory, and the
        // result keeps that layout, as PyTorch's does; walking it row-major read columns.
        let out = Tensor(storage: Storage(byteCount: Swift.max(a.count, 1) * dtype.itemSize), shape: a.shape,
                         strides: a.strides, dtype: dtype, offset: 0, isView: false)
        let flat: [Int64] = [Int64(a.count)], unit: [Int64] = [1]
        if dtype == .float32 {
            Kernels.binary(op, out.base.assumingMemoryBound(to: Float.self), a.base.assumingMemoryBound(to: Float.self),
                           b.base.assumingMemoryBound(to: Float.self), shape: flat, aStrides: unit, bStrides: unit)
        } else {
            Kernels.binary(op, out.base.assumingMemoryBound(to: Int64.self), a.base.assumingMemoryBound(to: Int64.self),
                           b.base.assumingMemoryBound(to: Int64.self), shape: flat, aStrides: unit, bStrides: unit)
        }
        return out
    }
    let plan = broadcastPlan(a, b, op: name)
    let out = Tensor(empty: plan.out, dtype: dtype)
    if dtype == .float32 {
        Kernels.binary(op, out.f32, a.base.assumingMemoryBound(to: Float.self), b.base.assumingMemoryBound(to: Float.self),
                       shape: plan.shape, aStrides: plan.aStrides, bStrides: plan.bStrides)
    } else {
        Kernels.binary(op, out.i64, a.base.assumingMemoryBound(to: Int64.self), b.base.assumingMemoryBound(to: Int64.self),
                       shape: plan.shape, aStrides: plan.aStrides, bStrides: plan.bStrides)
    }
    return out
}

private func compareForward(_ op: Kernels.Compare, _ name: String, _ a: Tensor, _ b: Tensor) -> Tensor {
    let dtype = promote(a, b)
    let a = a.type(dtype), b = b.type(dtype)
    let plan = broadcastPlan(a, b, op: name)
    let out = Tensor(empty: plan.out, dtype: .bool)
    if dtype == .float32 {
        Kernels.compare(op, out.u8, a.base.assumingMemoryBound(to: Float.self), b.base.assumingMemoryBound(to: Float.self),
                        shape: plan.shape, aStrides: plan.aStrides, bStrides: plan.bStrides)
    } else {
        Kernels.compare(op, out.u8, a.base.assumingMemoryBound(to: Int64.self), b.base.assumingMemoryBound(to: Int64.self),
                        shape: plan.shape, aStrides: plan.aStrides, bStrides: plan.bStrides)
    }
    return out
}

/// A scalar operand with the dtype PyTorch would give it next to `like`.
private func scalar(_ v: Double, like t: Tensor) -> Tensor {
    // Integral values an Int64 holds stay integers; infinities and the rest become float32.
    if t.dtype != .float32 && v == v.rounded() && Swift.abs(v) < 0x1p63 { return Tensor([Int(v)], shape: []) }
    return Tensor([Float(v)], shape: [])
}

// MARK: - Arithmetic

extension Tensor {
    // d(a+b) = g, g
    /// Elementwise sum with broadcasting (PyTorch: `torch.add`, `a + b`).
    public static func + (a: Tensor, b: Tensor) -> Tensor {
        binaryForward(.add, "add", a, b).recorded("add", [a, b], saved: []) { g in
            [a.requiresGrad ? g.sumTo(a.shape) : nil, b.requiresGrad ? g.sumTo(b.shape) : nil]
        }
    }
    // d(a-b) = g, -g
    /// Elementwise difference with broadcasting (PyTorch: `torch.sub`, `a - b`).
    public static func - (a: Tensor, b: Tensor) -> Tensor {
        binaryForward(.sub, "sub", a, b).recorded("sub", [a, b], saved: []) { g in
            [a.requiresGrad ? g.sumTo(a.shape) : nil, b.requiresGrad ? (-g).sumTo(b.shape) : nil]
        }
    }
    // d(a*b) = g*b, g*a
    /// Elementwise product with broadcasting (PyTorch: `torch.mul`, `a * b`).
    public static func * (a: Tensor, b: Tensor) -> Tensor {
        binaryForward(.mul, "mul", a, b).recorded("mul", [a, b]) { g in
            [a.requiresGrad ? (g * b).sumTo(a.shape) : nil, b.requiresGrad ? (g * a).sumTo(b.shape) : nil]
        }
    }
    // d(a/b) = g/b, -g*a/b²
    /// Elementwise quotient with broadcasting (PyTorch: `torch.div`, `a / b`).
    public static func / (a: Tensor, b: Tensor) -> Tensor {
        binaryForward(.div, "div", a, b).recorded("div", [a, b]) { g in
            [a.requiresGrad ? (g / b).sumTo(a.shape) : nil,
             b.requiresGrad ? (-(g * a) / (b * b)).sumTo(b.shape) : nil]
        }
    }
    /// Negation (PyTorch: `torch.neg`, `-a`).
    public static prefix func - (a: Tensor) -> Tensor {
        if a.dtype != .float32 { return Tensor.zeros([], dtype: a.dtype) - a }
        let out = Tensor(empty: a.shape)
        Kernels.unary(.neg, out.f32, a.contiguous().f32, a.count)
        return out.recorded("neg", [a], saved: []) { g in [-g] }
    }

    /// Adds a scalar (int64 tensors keep their dtype for whole numbers, as in PyTorch).
    public static func + (a: Tensor, b: Double) -> Tensor { a + scalar(b, like: a) }
    /// Adds a scalar (int64 tensors keep their dtype for whole numbers, as in PyTorch).
    public static func + (a: Double, b: Tensor) -> Tensor { scalar(a, like: b) + b }
    /// Subtracts a scalar (int64 tensors keep their dtype for whole numbers, as in PyTorch).
    public static func - (a: Tensor, b: Double) -> Tensor { a - scalar(b, like: a) }
    /// A scalar minus a tensor (int64 tensors keep their dtype for whole numbers, as in PyTorch).
    public static func - (a: Double, b: Tensor) -> Tensor { scalar(a, like: b) - b }
    /// Multiplies by a scalar (int64 tensors keep their dtype for whole numbers, as in PyTorch).
    public static func * (a: Tensor, b: Double) -> Tensor { a * scalar(b, like: a) }
    /// Multiplies by a scalar (int64 tensors keep their dtype for whole numbers, as in PyTorch).
    public static func * (a: Double, b: Tensor) -> Tensor { scalar(a, like: b) * b }
    /// Divides by a scalar.
    ///
    /// PyTorch: `torch.div`.
    public static func / (a: Tensor, b: Double) -> Tensor { a / scalar(b, like: a) }
    /// A scalar divided by a tensor.
    ///
    /// PyTorch: `torch.div`.
    public static func / (a: Double, b: Tensor) -> Tensor { scalar(a, like: b) / b }

    /// `a = a + b`: rebinds `a` to a new tensor; unlike PyTorch's `+=` it does not write in place (use `add_`).
    public static func += (a: inout Tensor, b: Tensor) { a = a + b }
    /// `a = a - b`: rebinds `a` to a new tensor; unlike PyTorch's `-=` it does not write in place (use `sub_`).
    public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
    /// `a = a * b`: rebinds `a` to a new tensor; unlike PyTorch's `*=` it does not write in place (use `mul_`).
    public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
    /// `a = a / b`: rebinds `a` to a new tensor; unlike PyTorch's `/=` it does not write in place (use `div_`).
    public static func /= (a: inout Tensor, b: Tensor) { a = a / b }

    /// self ** exponent. d/da = e·a^(e-1); d/de = a^e·ln a.
    ///
    /// PyTorch: `torch.pow`.
    public func pow(_ exponent: Tensor) -> Tensor {
        let a = self, e = exponent
        check { try checkIntegerPow(a, e) }
        // As PyTorch's: no gradient to the base where the exponent is 0 (e·a^(e−1) would be
        // 0·∞ at a = 0), none to the exponent where a = 0 and e ≥ 0 (y·log a = 0·(−∞)).
        return binaryForward(.pow, "pow", a, e).recordedReadingOutput("pow", [a, e], saved: [a, e]) { g, y in
            let zero = Tensor(scalar: 0)
            return [a.requiresGrad ? Tensor.where(e == 0, zero, g * e * a.pow(e - 1)).sumTo(a.shape) : nil,
                    e.requiresGrad ? Tensor.where((a == 0) && (e >= 0), zero, g * y * a.log()).sumTo(e.shape) : nil]
        }
    }
    /// Integers to negative integer powers have no integer result: PyTorch refuses them.
    func checkIntegerPow(_ a: Tensor, _ e: Tensor) throws {
        guard a.dtype != .float32 && e.dtype != .float32 else { return }
        if (e.type(.int64).contiguous().withUnsafeInt64s { $0.contains { $0 < 0 } }) {
            throw EmberError.invalidArgument(op: "pow", message: "Integers to negative integer powers are not allowed.")
        }
    }

    /// self ** exponent for a scalar exponent (PyTorch: `torch.pow`).
    public func pow(_ exponent: Double) -> Tensor { pow(scalar(exponent, like: self)) }

    /// Elementwise maximum (NaN propagates). The gradient goes to the larger operand, half to
    /// each where they are equal, as PyTorch's.
    ///
    /// PyTorch: `torch.maximum`.
    public static func maximum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = binaryForward(.maximum, "maximum", a, b)
        return out.recorded("maximum", [a, b]) { g in
            let pick = (a > b).type(.float32) + 0.5 * (a == b).type(.float32)
            return [a.requiresGrad ? (g * pick).sumTo(a.shape) : nil,
                    b.requiresGrad ? (g * (1 - pick)).sumTo(b.shape) : nil]
        }
    }
    /// Elementwise minimum (NaN propagates). The gradient goes to the smaller operand, half to
    /// each where they are equal (PyTorch: `torch.minimum`).
    public static func minimum(_ a: Tensor, _ b: Tensor) -> Tensor {
        let out = binaryForward(.minimum, "minimum", a, b)
        return out.recorded("minimum", [a, b]) { g in
            let pick = (a < b).type(.float32) + 0.5 * (a == b).type(.float32)
            return [a.requiresGrad ? (g * pick).sumTo(a.shape) : nil,
                    b.requiresGrad ? (g * (1 - pick)).sumTo(b.shape) : nil]
        }
    }
    /// Clamps into [min, max]. The gradient passes strictly inside the bounds and is zero on
    /// them, as PyTorch's.
    ///
    /// PyTorch: `torch.clamp`.
    public func clamp(min lo: Double? = nil, max hi: Double? = nil) -> Tensor {
        let out = noGrad { () -> Tensor in
            var t = self
            if let lo { t = Tensor.maximum(t, scalar(lo, like: t)) }
            if let hi { t = Tensor.minimum(t, scalar(hi, like: t)) }
            return t
        }
        let x = self
        return out.recorded("clamp", [self]) { g in
            var inside = Tensor.ones(x.shape)
            if let lo { inside = inside * (x > lo).type(.float32) }
            if let hi { inside = inside * (x < hi).type(.float32) }
            return [g * inside]
        }
    }
}

// MARK: - Comparisons (bool results, not differentiable)

extension Tensor {
    /// Elementwise `a == b` as a bool tensor, with broadcasting (PyTorch: `torch.eq`).
    public static func == (a: Tensor, b: Tensor) -> Tensor { compareForward(.eq, "eq", a, b) }
    /// Elementwise `a != b` as a bool tensor, with broadcasting (PyTorch: `torch.ne`).
    public static func != (a: Tensor, b: Tensor) -> Tensor { compareForward(.ne, "ne", a, b) }
    /// Elementwise `a < b` as a bool tensor, with broadcasting (PyTorch: `torch.lt`).
    public static func < (a: Tensor, b: Tensor) -> Tensor { compareForward(.lt, "lt", a, b) }
    /// Elementwise `a <= b` as a bool tensor, with broadcasting (PyTorch: `torch.le`).
    public static func <= (a: Tensor, b: Tensor) -> Tensor { compareForward(.le, "le", a, b) }
    /// Elementwise `a > b` as a bool tensor, with broadcasting (PyTorch: `torch.gt`).
    public static func > (a: Tensor, b: Tensor) -> Tensor { compareForward(.gt, "gt", a, b) }
    /// Elementwise `a >= b` as a bool tensor, with broadcasting (PyTorch: `torch.ge`).
    public static func >= (a: Tensor, b: Tensor) -> Tensor { compareForward(.ge, "ge", a, b) }
    /// Elementwise `a == b` against a scalar, as a bool tensor (PyTorch: `torch.eq`).
    public static func == (a: Tensor, b: Double) -> Tensor { a == scalar(b, like: a) }
    /// Elementwise `a != b` against a scalar, as a bool tensor (PyTorch: `torch.ne`).
    public static func != (a: Tensor, b: Double) -> Tensor { a != scalar(b, like: a) }
    /// Elementwise `a < b` against a scalar, as a bool tensor (PyTorch: `torch.lt`).
    public static func < (a: Tensor, b: Double) -> Tensor { a < scalar(b, like: a) }
    /// Elementwise `a <= b` against a scalar, as a bool tensor (PyTorch: `torch.le`).
    public static func <= (a: Tensor, b: Double) -> Tensor { a <= scalar(b, like: a) }
    /// Elementwise `a > b` against a scalar, as a bool tensor (PyTorch: `torch.gt`).
    public static func > (a: Tensor, b: Double) -> Tensor { a > scalar(b, like: a) }
    /// Elementwise `a >= b` against a scalar, as a bool tensor (PyTorch: `torch.ge`).
    public static func >= (a: Tensor, b: Double) -> Tensor { a >= scalar(b, like: a) }

    /// True when shapes match and every element is equal (PyTorch's `torch.equal`).
    public func equal(_ other: Tensor) -> Bool {
        guard shape == other.shape else { return false }
        let equalCount: Double = (self == other).sum().item()
        return equalCount == Double(count)
    }

    /// |a - b| <= atol + rtol·|b| everywhere.
    ///
    /// PyTorch: `torch.allclose`.
    public func allClose(_ other: Tensor, rtol: Double = 1e-5, atol: Double = 1e-8) -> Bool {
        guard shape == other.shape else { return false }
        let a = toArray(), b = other.toArray()
        for i in a.indices {
            let x = Double(a[i]), y = Double(b[i])
            if x == y { continue }   // equal infinities, which the bound below cannot take
            if !x.isFinite || !y.isFinite { return false }
            let bound: Double = atol + rtol * Swift.abs(y)
            if !(Swift.abs(x - y) <= bound) { return false }
        }
        return true
    }
}

// MARK: - Elementwise maps

extension Tensor {
    /// op(self) elementwise into a new tensor (float32; a strided input is copied once).
    func unary(_ op: Kernels.Unary, _ name: String) -> Tensor {
        check { try expectDType(self, .float32, op: name) }
        let out = Tensor(empty: shape)
        Kernels.unary(op, out.f32, contiguous().f32, count)
        return out
    }

    // d exp(x) = exp(x)
    /// eˣ elementwise (PyTorch: `torch.exp`).
    public func exp() -> Tensor {
        unary(.exp, "exp").recordedReadingOutput("exp", [self]) { g, y in [g * y] }
    }
    // d log(x) = 1/x
    /// Natural logarithm elementwise (PyTorch: `torch.log`).
    public func log() -> Tensor {
        unary(.log, "log").recorded("log", [self]) { g in [g / self] }
    }
    // d sqrt(x) = 1/(2 sqrt x)
    /// Square root elementwise (PyTorch: `torch.sqrt`).
    public func sqrt() -> Tensor {
        unary(.sqrt, "sqrt").recordedReadingOutput("sqrt", [self]) { g, y in [g / (2 * y)] }
    }
    // d |x| = sign(x)
    /// Absolute value elementwise; the gradient at 0 is 0 (PyTorch: `torch.abs`).
    public func abs() -> Tensor {
        unary(.abs, "abs").recorded("abs", [self]) { g in
            [g * ((self > 0).type(.float32) - (self < 0).type(.float32))]
        }
    }
    // d tanh(x) = 1 - tanh²
    /// Hyperbolic tangent elementwise (PyTorch: `torch.tanh`).
    public func tanh() -> Tensor {
        unary(.tanh, "tanh").recordedReadingOutput("tanh", [self]) { g, y in [g * (1 - y * y)] }
    }
    // d σ(x) = σ(1-σ)
    /// Logistic sigmoid 1 / (1 + e⁻ˣ) elementwise (PyTorch: `torch.sigmoid`).
    public func sigmoid() -> Tensor {
        unary(.sigmoid, "sigmoid").recordedReadingOutput("sigmoid", [self]) { g, y in [g * y * (1 - y)] }
    }
}

/// eˣ elementwise (PyTorch: `torch.exp`).
public func exp(_ x: Tensor) -> Tensor { x.exp() }
/// Natural logarithm elementwise (PyTorch: `torch.log`).
public func log(_ x: Tensor) -> Tensor { x.log() }
/// Square root elementwise (PyTorch: `torch.sqrt`).
public func sqrt(_ x: Tensor) -> Tensor { x.sqrt() }
/// Absolute value elementwise (PyTorch: `torch.abs`).
public func abs(_ x: Tensor) -> Tensor { x.abs() }
/// Hyperbolic tangent elementwise (PyTorch: `torch.tanh`).
public func tanh(_ x: Tensor) -> Tensor { x.tanh() }
/// `x ** e` for a scalar exponent (PyTorch: `torch.pow`).
public func pow(_ x: Tensor, _ e: Double) -> Tensor { x.pow(e) }
/// `x ** e` elementwise with broadcasting (PyTorch: `torch.pow`).
public func pow(_ x: Tensor, _ e: Tensor) -> Tensor { x.pow(e) }
