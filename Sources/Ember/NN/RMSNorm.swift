/// Root-mean-square normalisation over the last dims (PyTorch's `nn.RMSNorm`):
/// `y = x / √(mean(x²) + eps) · weight`, the mean over `normalizedShape`. No centring and no
/// bias, unlike LayerNorm.
///
/// - Parameters:
///   - normalizedShape: the trailing shape normalised together.
///   - eps: added to the mean square; nil (the default, as PyTorch) uses the float32 machine
///     epsilon, 1.1920929e-07.
///   - elementwiseAffine: whether to learn `weight` (initialised to ones).
///
/// ```swift
/// let norm = RMSNorm([64])
/// let y = norm(Tensor.randn([8, 10, 64]))
/// ```
open class RMSNorm: Module {
    /// The trailing dims normalised together (PyTorch: `normalized_shape`).
    public let normalizedShape: [Int]
    /// Added to the mean square; nil: the float32 machine epsilon.
    public let eps: Double?
    /// Whether the layer learns `weight`.
    public let elementwiseAffine: Bool
    /// (normalizedShape), or nil without affine.
    public var weight: Tensor?

    /// PyTorch: `nn.RMSNorm(normalized_shape, eps, elementwise_affine)`.
    public init(_ normalizedShape: [Int], eps: Double? = nil, elementwiseAffine: Bool = true) {
        precondition(!normalizedShape.isEmpty && normalizedShape.allSatisfy { $0 > 0 },
                     "RMSNorm: normalized_shape must be non-empty and positive, got \(normalizedShape)")
        (self.normalizedShape, self.eps, self.elementwiseAffine) = (normalizedShape, eps, elementwiseAffine)
        weight = elementwiseAffine ? Tensor.ones(normalizedShape).requiringGrad() : nil
        super.init()
    }

    /// `RMSNorm(64)`: normalises over the last dim.
    public convenience init(_ normalizedShape: Int, eps: Double? = nil, elementwiseAffine: Bool = true) {
        self.init([normalizedShape], eps: eps, elementwiseAffine: elementwiseAffine)
    }

    /// `x / √(mean(x²) + eps) · weight` over the trailing `normalizedShape`.
    open override func forward(_ x: Tensor) -> Tensor { rmsNorm(x, normalizedShape, weight: weight, eps: eps) }

    /// The text inside `RMSNorm(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        return "\(Module.pythonTuple(normalizedShape)), eps=\(eps.map { Module.pythonFloat($0) } ?? "None"), elementwise_affine=\(elementwiseAffine ? "True" : "False")"
    }
}

/// RMS normalisation (PyTorch's `F.rms_norm`): x / √(mean(x²) + eps) over the trailing
/// `normalizedShape`, times `weight` when given; eps nil is float32's machine epsilon.
public func rmsNorm(_ input: Tensor, _ normalizedShape: [Int], weight: Tensor? = nil, eps: Double? = nil) -> Tensor {
    check {
        try expectDType(input, .float32, op: "rms_norm")
        guard !normalizedShape.isEmpty, input.shape.suffix(normalizedShape.count) == normalizedShape[...] else {
            throw EmberError.shapeMismatch(op: "rms_norm", message:
                "Given normalized_shape=\(normalizedShape), expected input with shape [*, \(normalizedShape.map(String.init).joined(separator: ", "))], but got input of size\(input.shape)")
        }
        if let weight, weight.shape != normalizedShape {
            throw EmberError.shapeMismatch(op: "rms_norm", message:
                "Expected weight to be of same shape as normalized_shape, but got weight of shape \(weight.shape) and normalized_shape = \(normalizedShape)")
        }
    }
    let dims = Array((input.ndim - normalizedShape.count)..<input.ndim)
    let y = input * (input.square().mean(dims: dims, keepDim: true) + (eps ?? Double(Float.ulpOfOne))).rsqrt()
    return weight.map { y * $0 } ?? y
}
