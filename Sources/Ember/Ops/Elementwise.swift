// Elementwise maps beyond the basic ones (Arithmetic.swift): trigonometry, rounding,
// the activations (GELU, SiLU, Mish, … each forward one C kernel in csrc/elementwise.c; the
// rarer ones, as Hardswish or GLU, composed of those), clamps, lerp and logical ops, each
// backward beside its forward.

func checkGLU(_ x: Tensor, dim: Int) throws {
    let d = normalizeDim(dim, x.ndim, op: "glu")
    guard x.shape[d] % 2 == 0 else {
        throw EmberError.invalidArgument(op: "glu", message: "halving dimension must be even, but dimension \(d) is size \(x.shape[d])")
    }
}

func checkPReLU(_ x: Tensor, weight: Tensor) throws {
    let channels = x.ndim >= 2 ? x.shape[1] : 1
    guard weight.count == 1 || weight.count == channels else {
        throw EmberError.shapeMismatch(op: "prelu", message:
            "weight has \(weight.count) values; expected 1 or the input's \(channels) channels (dim 1) for input \(x.shape)")
    }
}

extension Tensor {
    private func map2(_ op: Kernels.Unary2, _ name: String, _ a: Double, _ b: Double = 0) -> Tensor {
        check { try expectDType(self, .float32, op: name) }
        let out = Tensor(empty: shape)
        Kernels.unary2(op, out.f32, contiguous().f32, count, a: Float(a), b: Float(b))
        return out
    }

    /// A gradient that is zero everywhere (rounding, sign).
    private func constantGrad(_ out: Tensor, _ name: String) -> Tensor {
        let s = shape
        return out.recorded(name, [self], saved: []) { _ in [Tensor.zeros(s)] }
    }

    /// Sine (PyTorch's `sin`); d sin = cos.
    public func sin() -> Tensor { unary(.sin, "sin").recorded("sin", [self]) { g in [g * self.cos()] } }
    /// Cosine (PyTorch's `cos`); d cos = -sin.
    public func cos() -> Tensor { unary(.cos, "cos").recorded("cos", [self]) { g in [-(g * self.sin())] } }
    /// 1/√x (PyTorch's `rsqrt`); d = -½·y³.
    public func rsqrt() -> Tensor {
        unary(.rsqrt, "rsqrt").recordedReadingOutput("rsqrt", [self]) { g, y in [g * y * y * y * -0.5] }
    }
    /// 1/x (PyTorch's `reciprocal`); d = -y².
    public func reciprocal() -> Tensor {
        unary(.reciprocal, "reciprocal").recordedReadingOutput("reciprocal", [self]) { g, y in [-(g * y * y)] }
    }
    /// x² (PyTorch's `square`); d = 2x.
    public func square() -> Tensor { unary(.square, "square").recorded("square", [self]) { g in [g * self * 2] } }
    /// -1, 0 or 1 (NaN stays NaN); zero gradient.
    ///
    /// PyTorch: `torch.sign`.
    public func sign() -> Tensor { constantGrad(unary(.sign, "sign"), "sign") }
    /// Rounds down (PyTorch's `floor`); zero gradient.
    public func floor() -> Tensor { constantGrad(unary(.floor, "floor"), "floor") }
    /// Rounds up (PyTorch's `ceil`); zero gradient.
    public func ceil() -> Tensor { constantGrad(unary(.ceil, "ceil"), "ceil") }
    /// Rounds half to even, as `torch.round`.
    public func round() -> Tensor { constantGrad(unary(.round, "round"), "round") }
    /// Rounds toward zero (PyTorch's `trunc`); zero gradient.
    public func trunc() -> Tensor { constantGrad(unary(.trunc, "trunc"), "trunc") }
    /// log(1 + x), accurate near 0 (PyTorch's `log1p`); d = 1/(1+x).
    public func log1p() -> Tensor { unary(.log1p, "log1p").recorded("log1p", [self]) { g in [g / (self + 1)] } }
    /// eˣ - 1, accurate near 0 (PyTorch's `expm1`); d = y + 1.
    public func expm1() -> Tensor {
        unary(.expm1, "expm1").recordedReadingOutput("expm1", [self]) { g, y in [g * (y + 1)] }
    }
    /// Base-2 logarithm (PyTorch's `log2`); d = 1/(x ln 2).
    public func log2() -> Tensor {
        unary(.log2, "log2").recorded("log2", [self]) { g in [g / (self * 0.69314718055994530942)] }
    }
    /// The error function (PyTorch's `erf`); d = 2/√π · e^(-x²).
    public func erf() -> Tensor {
        unary(.erf, "erf").recorded("erf", [self]) { g in [g * (-(self * self)).exp() * 1.12837916709551257390] }
    }

    /// How `gelu` computes Φ: exactly (erf), or with PyTorch's tanh approximation.
    public enum GELUApproximation: String, Sendable { case none, tanh }

    /// x·Φ(x) (PyTorch's `F.gelu`), exact or with `approximate: .tanh`.
    public func gelu(approximate: GELUApproximation = .none) -> Tensor {
        let x = self
        switch approximate {
        case .none:
            // d = Φ(x) + x·φ(x), one fused kernel; the forward keeps 2Φ(x) for it when autograd
            // records (the same output bits either way).
            guard isGradEnabled && requiresGrad else { return unary(.gelu, "gelu") }
            check { try expectDType(x, .float32, op: "gelu") }
            let saved = x.contiguous().detach()
            let out = Tensor(empty: shape), twoPhi = Tensor(empty: shape)
            Kernels.geluForwardSaving(out.f32, twoPhi: twoPhi.f32, saved.f32, count)
            return out.recorded("gelu", [self], saved: [saved]) { g in
                let dx = Tensor(empty: saved.shape)
                Kernels.geluBackward(dx.f32, g.contiguous().f32, saved.f32, twoPhi: twoPhi.f32, saved.count)
                return [dx]
            }
        case .tanh:
            // u = √(2/π)(x + 0.044715x³); d = ½(1 + tanh u) + ½x(1 - tanh²u)·√(2/π)(1 + 3·0.044715x²)
            return unary(.geluTanh, "gelu").recorded("gelu_tanh", [self]) { g in
                let k = 0.79788456080286535588
                let t = ((x + x * x * x * 0.044715) * k).tanh()
                let du = (x * x * (3 * 0.044715) + 1) * k
                return [g * ((t + 1) * 0.5 + x * 0.5 * (1 - t * t) * du)]
            }
        }
    }

    /// x·σ(x) (PyTorch's `F.silu`). d = σ(x)(1 + x(1 - σ(x))).
    public func silu() -> Tensor {
        let x = self
        return unary(.silu, "silu").recorded("silu", [self]) { g in
            let s = x.sigmoid()
            return [g * s * (x * (1 - s) + 1)]
        }
    }

    /// x·tanh(softplus(x)) (PyTorch's `F.mish`).
    public func mish() -> Tensor {
        let x = self
        return unary(.mish, "mish").recorded("mish", [self]) { g in
            let t = x.softplus().tanh()
            return [g * (t + x * (1 - t * t) * x.sigmoid())]
        }
    }

    /// log(1 + e^(βx))/β, linear above `threshold` (PyTorch's `F.softplus`). d = σ(βx).
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor {
        let x = self
        return map2(.softplus, "softplus", beta, threshold).recorded("softplus", [self]) { g in
            let z = x * beta
            return [g * Tensor.where(z > threshold, Tensor(scalar: 1), z.sigmoid())]
        }
    }

    /// x for x > 0, slope·x otherwise (PyTorch's `F.leaky_relu`).
    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor {
        let x = self
        return map2(.leakyRelu, "leaky_relu", negativeSlope).recorded("leaky_relu", [self]) { g in
            [g * Tensor.where(x > 0, Tensor(scalar: 1), Tensor(scalar: Float(negativeSlope)))]
        }
    }

    /// x for x > 0, α(eˣ - 1) otherwise (PyTorch's `F.elu`).
    public func elu(alpha: Double = 1) -> Tensor {
        let x = self
        return map2(.elu, "elu", alpha).recordedReadingOutput("elu", [self], saved: [self]) { g, y in
            [g * Tensor.where(x > 0, Tensor(scalar: 1), y + alpha)]
        }
    }

    /// x clamped into [minVal, maxVal] (PyTorch's `F.hardtanh`); gradient 1 strictly inside.
    public func hardtanh(minVal: Double = -1, maxVal: Double = 1) -> Tensor {
        let x = self
        return map2(.hardtanh, "hardtanh", minVal, maxVal).recorded("hardtanh", [self]) { g in
            [g * ((x > minVal).type(.float32) * (x < maxVal).type(.float32))]
        }
    }

    /// min(max(x, 0), 6) (PyTorch's `F.relu6`); gradient 1 strictly inside (0, 6).
    public func relu6() -> Tensor { hardtanh(minVal: 0, maxVal: 6) }

    /// relu6(x + 3) / 6 (PyTorch's `F.hardsigmoid`); gradient 1/6 strictly inside (−3, 3).
    public func hardsigmoid() -> Tensor { (self + 3).hardtanh(minVal: 0, maxVal: 6) / 6 }

    /// x·hardsigmoid(x) (PyTorch's `F.hardswish`, MobileNetV3's activation).
    public func hardswish() -> Tensor { self * hardsigmoid() }

    /// log σ(x) = min(x, 0) − log(1 + e^−|x|), finite for any x (PyTorch's `F.logsigmoid`);
    /// its gradient is σ(−x).
    public func logSigmoid() -> Tensor {
        let x = self
        let y = noGrad { Tensor.minimum(x, Tensor(scalar: 0)) - (-x.abs()).exp().log1p() }
        return y.recorded("log_sigmoid", [self]) { g in [g * (-x).sigmoid()] }
    }

    /// scale·elu(x, α) with PyTorch's constants α ≈ 1.6733, scale ≈ 1.0507 (`F.selu`).
    public func selu() -> Tensor { elu(alpha: 1.6732632423543772848170429916717) * 1.0507009873554804934193349852946 }

    /// max(0, x) + min(0, α(e^(x/α) − 1)) (PyTorch's `F.celu`).
    public func celu(alpha: Double = 1) -> Tensor {
        check {
            guard alpha != 0 else { throw EmberError.invalidArgument(op: "celu", message: "alpha must not be 0") }
        }
        return alpha == 1 ? elu() : (self / alpha).elu() * alpha
    }

    /// x / (1 + |x|) (PyTorch's `F.softsign`).
    public func softsign() -> Tensor { self / (abs() + 1) }

    /// a·σ(b), with a and b the two halves of `dim` (PyTorch's `F.glu`).
    public func glu(dim: Int = -1) -> Tensor {
        check { try checkGLU(self, dim: dim) }
        let halves = chunk(2, dim: normalizeDim(dim, ndim, op: "glu"))
        return halves[0] * halves[1].sigmoid()
    }

    /// x where x > 0, weight·x elsewhere, `weight` holding one value or one per channel (dim 1)
    /// (PyTorch's `F.prelu`).
    public func prelu(_ weight: Tensor) -> Tensor {
        check { try checkPReLU(self, weight: weight) }
        let channels = ndim >= 2 ? shape[1] : 1
        let w = weight.count == 1 || ndim < 2
            ? weight.reshaped([])
            : weight.reshaped([channels] + [Int](repeating: 1, count: ndim - 2))
        return Tensor.where(self > 0, self, w * self)
    }

    /// Clamps into [min, max] given as tensors (broadcast), as PyTorch's `clamp(min=t, max=t)`.
    public func clamp(min lo: Tensor? = nil, max hi: Tensor? = nil) -> Tensor {
        var t = self
        if let lo { t = Tensor.maximum(t, lo) }
        if let hi { t = Tensor.minimum(t, hi) }
        return t
    }

    /// self + weight·(end - self) (PyTorch's `lerp`).
    public func lerp(_ end: Tensor, weight: Tensor) -> Tensor { self + weight * (end - self) }
    /// self + weight·(end - self) with a scalar weight (PyTorch: `lerp`).
    public func lerp(_ end: Tensor, weight: Double) -> Tensor { self + (end - self) * weight }

    /// self + value·t1·t2 (PyTorch's `addcmul`).
    public func addcmul(_ t1: Tensor, _ t2: Tensor, value: Double = 1) -> Tensor {
        self + (value == 1 ? t1 * t2 : t1 * t2 * value)
    }
    /// self + value·t1/t2 (PyTorch's `addcdiv`).
    public func addcdiv(_ t1: Tensor, _ t2: Tensor, value: Double = 1) -> Tensor {
        self + (value == 1 ? t1 / t2 : t1 / t2 * value)
    }

    // MARK: Logical ops (bool results)

    /// Elementwise `a && b` of the truth values (PyTorch's `logical_and`), broadcast.
    public func logicalAnd(_ other: Tensor) -> Tensor { (type(.bool).type(.int64) * other.type(.bool).type(.int64)) != 0 }
    /// `a || b` (PyTorch's `logical_or`).
    public func logicalOr(_ other: Tensor) -> Tensor { (type(.bool).type(.int64) + other.type(.bool).type(.int64)) != 0 }
    /// `a != b` of the truth values (PyTorch's `logical_xor`).
    public func logicalXor(_ other: Tensor) -> Tensor { type(.bool).type(.int64) != other.type(.bool).type(.int64) }
    /// `!a` (PyTorch's `logical_not`).
    public func logicalNot() -> Tensor { type(.bool).type(.int64) == 0 }

    /// `logicalAnd`, as an operator.
    ///
    /// PyTorch: `torch.logical_and`.
    public static func && (a: Tensor, b: Tensor) -> Tensor { a.logicalAnd(b) }
    /// `logicalOr`, as an operator.
    ///
    /// PyTorch: `torch.logical_or`.
    public static func || (a: Tensor, b: Tensor) -> Tensor { a.logicalOr(b) }
    /// `logicalNot`, as an operator.
    ///
    /// PyTorch: `torch.logical_not`.
    public static prefix func ! (a: Tensor) -> Tensor { a.logicalNot() }

    /// Where the elements are NaN.
    ///
    /// PyTorch: `torch.isnan`.
    public func isnan() -> Tensor { dtype == .float32 ? self != self : Tensor.zeros(shape, dtype: .bool) }
    /// Where the elements are ±infinity.
    ///
    /// PyTorch: `torch.isinf`.
    public func isinf() -> Tensor { dtype == .float32 ? abs() == Double.infinity : Tensor.zeros(shape, dtype: .bool) }
    /// Where the elements are finite numbers.
    ///
    /// PyTorch: `torch.isfinite`.
    public func isfinite() -> Tensor { dtype == .float32 ? (isnan() || isinf()).logicalNot() : Tensor.ones(shape, dtype: .bool) }
}

/// `x.sin()` as a free function, as `torch.sin`.
public func sin(_ x: Tensor) -> Tensor { x.sin() }
/// `x.cos()` as a free function (PyTorch: `torch.cos`).
public func cos(_ x: Tensor) -> Tensor { x.cos() }
/// `x.gelu(approximate:)` as a free function (PyTorch: `F.gelu`).
public func gelu(_ x: Tensor, approximate: Tensor.GELUApproximation = .none) -> Tensor { x.gelu(approximate: approximate) }
/// `x.silu()` as a free function (PyTorch: `F.silu`).
public func silu(_ x: Tensor) -> Tensor { x.silu() }

// MARK: - Creation like another tensor, and structured tensors

extension Tensor {
    /// Zeros of `t`'s shape and dtype (PyTorch's `zeros_like`).
    public static func zerosLike(_ t: Tensor) -> Tensor { zeros(t.shape, dtype: t.dtype) }
    /// Ones of `t`'s shape and dtype.
    ///
    /// PyTorch: `torch.ones_like`.
    public static func onesLike(_ t: Tensor) -> Tensor { ones(t.shape, dtype: t.dtype) }
    /// `value` in `t`'s shape and dtype.
    ///
    /// PyTorch: `torch.full_like`.
    public static func fullLike(_ t: Tensor, _ value: Double) -> Tensor { full(t.shape, value, dtype: t.dtype) }
    /// Uninitialised memory of `t`'s shape and dtype (PyTorch's `empty_like`): every element
    /// must be written before it is read.
    public static func emptyLike(_ t: Tensor) -> Tensor { Tensor(empty: t.shape, dtype: t.dtype) }
    /// Uniform [0, 1) values of `t`'s shape.
    ///
    /// PyTorch: `torch.rand_like`.
    public static func randLike(_ t: Tensor, generator: Generator = .default) -> Tensor { rand(t.shape, generator: generator) }
    /// Standard normal values of `t`'s shape.
    ///
    /// PyTorch: `torch.randn_like`.
    public static func randnLike(_ t: Tensor, generator: Generator = .default) -> Tensor { randn(t.shape, generator: generator) }

    /// The n×m identity (PyTorch's `eye`).
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32) -> Tensor {
        let cols = m ?? n
        let t = zeros([n, cols], dtype: dtype)
        noGrad { t.diagonal().fill_(1) }
        return t
    }

    /// `steps` evenly spaced values from start to end inclusive (PyTorch's `linspace`).
    public static func linspace(_ start: Double, _ end: Double, steps: Int) -> Tensor {
        precondition(steps >= 0, "linspace: number of steps must be non-negative")
        if steps == 1 { return Tensor([Float(start)]) }
        let step = (end - start) / Double(steps - 1)
        // Both halves count from their own end, as PyTorch does, so the last value is `end`.
        return Tensor((0..<steps).map { i in Float(i < steps / 2 ? start + step * Double(i) : end - step * Double(steps - 1 - i)) })
    }

    /// The lower triangle (j ≤ i + diagonal) of the last two dims, zeros elsewhere
    /// (PyTorch's `tril`; causal masks).
    public func tril(_ diagonal: Int = 0) -> Tensor { triangle(diagonal, lower: true) }
    /// The upper triangle (j ≥ i + diagonal).
    ///
    /// PyTorch: `torch.triu`.
    public func triu(_ diagonal: Int = 0) -> Tensor { triangle(diagonal, lower: false) }

    private func triangle(_ k: Int, lower: Bool) -> Tensor {
        precondition(ndim >= 2, "\(lower ? "tril" : "triu"): input tensor must have at least 2 dimensions")
        let (r, c) = (shape[ndim - 2], shape[ndim - 1])
        var keep = [Bool](repeating: false, count: r * c)
        for i in 0..<r { for j in 0..<c { keep[i * c + j] = lower ? j - i <= k : j - i >= k } }
        return maskedFill(Tensor(keep, shape: [r, c]).logicalNot(), value: 0)
    }
}
