import Foundation

/// Parameter initialisation in place (PyTorch's `torch.nn.init`), with PyTorch's fan and
/// gain rules. Each function overwrites the tensor's values without recording for autograd
/// and returns it.
///
/// ```swift
/// model.apply { m in
///     if let conv = m as? Conv2d { Init.kaimingNormal_(conv.weight, mode: .fanOut, nonlinearity: .relu) }
/// }
/// ```
public enum Init {
    /// Which fan `kaiming*_` scales by: fan_in preserves the forward pass's variance,
    /// fan_out the backward pass's.
    public enum FanMode: Sendable { case fanIn, fanOut }

    /// The nonlinearity a gain is computed for (`calculate_gain`).
    public enum Nonlinearity: Sendable {
        /// Layers whose gain is 1.
        case linear, conv1d, conv2d, conv3d, convTranspose1d, convTranspose2d, convTranspose3d
        /// Activations with their own gain (`leakyRelu` takes the slope as `param`).
        case sigmoid, tanh, relu, leakyRelu, selu
    }

    /// PyTorch's `calculate_gain`: 1 for linear/conv/sigmoid, 5/3 for tanh, √2 for relu,
    /// √(2/(1+slope²)) for leaky relu (slope `param`, default 0.01), 3/4 for selu.
    public static func calculateGain(_ nonlinearity: Nonlinearity, param: Double? = nil) -> Double {
        switch nonlinearity {
        case .linear, .conv1d, .conv2d, .conv3d, .convTranspose1d, .convTranspose2d, .convTranspose3d, .sigmoid: return 1
        case .tanh: return 5.0 / 3
        case .relu: return 2.0.squareRoot()
        case .leakyRelu:
            let slope = param ?? 0.01
            return (2.0 / (1 + slope * slope)).squareRoot()
        case .selu: return 3.0 / 4
        }
    }

    /// (fan_in, fan_out) of a weight: dims 1 and 0 times the receptive field (the product of
    /// the dims after 1), as `_calculate_fan_in_and_fan_out`. Needs at least 2 dims.
    public static func fans(_ t: Tensor) -> (fanIn: Int, fanOut: Int) {
        precondition(t.ndim >= 2, "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions")
        let receptive = t.shape.dropFirst(2).reduce(1, *)
        return (t.shape[1] * receptive, t.shape[0] * receptive)
    }

    private static func fill(_ t: Tensor, _ values: Tensor) -> Tensor {
        noGrad { t.copy_(values) }
        return t
    }

    /// Values from U(a, b).
    ///
    /// PyTorch: `nn.init.uniform_`.
    @discardableResult
    public static func uniform_(_ t: Tensor, a: Double = 0, b: Double = 1, generator: Generator = .default) -> Tensor {
        fill(t, Tensor.rand(t.shape, low: Float(a), high: Float(b), generator: generator))
    }

    /// Values from N(mean, std²).
    ///
    /// PyTorch: `nn.init.normal_`.
    @discardableResult
    public static func normal_(_ t: Tensor, mean: Double = 0, std: Double = 1, generator: Generator = .default) -> Tensor {
        fill(t, Tensor.randn(t.shape, mean: Float(mean), std: Float(std), generator: generator))
    }

    /// Every value set to `value` (PyTorch: `nn.init.constant_`).
    @discardableResult
    public static func constant_(_ t: Tensor, _ value: Double) -> Tensor { fill(t, Tensor.full(t.shape, value, dtype: t.dtype)) }
    /// Every value set to 1 (PyTorch: `nn.init.ones_`).
    @discardableResult
    public static func ones_(_ t: Tensor) -> Tensor { constant_(t, 1) }
    /// Every value set to 0 (PyTorch: `nn.init.zeros_`).
    @discardableResult
    public static func zeros_(_ t: Tensor) -> Tensor { constant_(t, 0) }

    /// U(−a, a) with a = gain·√(6/(fan_in + fan_out)) (Glorot & Bengio).
    ///
    /// PyTorch: `nn.init.xavier_uniform_`.
    @discardableResult
    public static func xavierUniform_(_ t: Tensor, gain: Double = 1, generator: Generator = .default) -> Tensor {
        let (fi, fo) = fans(t)
        let a = gain * (6.0 / Double(fi + fo)).squareRoot()
        return uniform_(t, a: -a, b: a, generator: generator)
    }

    /// N(0, std²) with std = gain·√(2/(fan_in + fan_out)).
    ///
    /// PyTorch: `nn.init.xavier_normal_`.
    @discardableResult
    public static func xavierNormal_(_ t: Tensor, gain: Double = 1, generator: Generator = .default) -> Tensor {
        let (fi, fo) = fans(t)
        return normal_(t, mean: 0, std: gain * (2.0 / Double(fi + fo)).squareRoot(), generator: generator)
    }

    private static func kaimingStd(_ t: Tensor, a: Double, mode: FanMode, nonlinearity: Nonlinearity) -> Double {
        let (fi, fo) = fans(t)
        let fan = mode == .fanIn ? fi : fo
        precondition(fan > 0, "Initializing zero-element tensors is a no-op")
        return calculateGain(nonlinearity, param: a) / Double(fan).squareRoot()
    }

    /// U(−b, b) with b = gain·√(3/fan) (He et al.); `a` is the leaky-relu slope. Every
    /// Ember layer's default init is `kaimingUniform_(w, a: √5)`, as PyTorch's.
    @discardableResult
    public static func kaimingUniform_(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                       nonlinearity: Nonlinearity = .leakyRelu, generator: Generator = .default) -> Tensor {
        if t.count == 0 { return t }   // PyTorch: "Initializing zero-element tensors is a no-op"
        let bound = 3.0.squareRoot() * kaimingStd(t, a: a, mode: mode, nonlinearity: nonlinearity)
        return uniform_(t, a: -bound, b: bound, generator: generator)
    }

    /// N(0, std²) with std = gain/√fan.
    ///
    /// PyTorch: `nn.init.kaiming_normal_`.
    @discardableResult
    public static func kaimingNormal_(_ t: Tensor, a: Double = 0, mode: FanMode = .fanIn,
                                      nonlinearity: Nonlinearity = .leakyRelu, generator: Generator = .default) -> Tensor {
        if t.count == 0 { return t }
        return normal_(t, mean: 0, std: kaimingStd(t, a: a, mode: mode, nonlinearity: nonlinearity), generator: generator)
    }

    /// N(mean, std²) truncated to [a, b], by inverting the normal CDF on a uniform draw
    /// between Φ(a) and Φ(b) (PyTorch's `trunc_normal_` method), then clamped to [a, b].
    @discardableResult
    public static func truncNormal_(_ t: Tensor, mean: Double = 0, std: Double = 1, a: Double = -2, b: Double = 2,
                                    generator: Generator = .default) -> Tensor {
        func cdf(_ x: Double) -> Double { (1 + Kernels.erf(x / 2.0.squareRoot())) / 2 }
        let lo = cdf((a - mean) / std), hi = cdf((b - mean) / std)
        let u = Tensor.rand(t.shape, generator: generator).toArray()
        let values = u.map { v -> Float in
            let p = lo + Double(v) * (hi - lo)
            let x = mean + std * inverseNormalCDF(p)
            return Float(Swift.min(Swift.max(x, a), b))
        }
        return fill(t, Tensor(values, shape: t.shape))
    }

    /// Φ⁻¹(p) by Acklam's rational approximation refined by one Halley step (relative error
    /// far below float's).
    static func inverseNormalCDF(_ p: Double) -> Double {
        if p <= 0 { return -.infinity }
        if p >= 1 { return .infinity }
        let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
        let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
        let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
        let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
        var x: Double
        if p < 0.02425 {
            let q = (-2 * Kernels.log(p)).squareRoot()
            x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else if p > 1 - 0.02425 {
            let q = (-2 * Kernels.log(1 - p)).squareRoot()
            x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
        } else {
            let q = p - 0.5, r = q * q
            x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
        }
        let e = 0.5 * Kernels.erfc(-x / 2.0.squareRoot()) - p
        let u = e * (2 * Double.pi).squareRoot() * Kernels.exp(x * x / 2)
        return x - u / (1 + x * u / 2)
    }
}
