/// A fully connected layer: `y = x·Wᵀ + b` (PyTorch's `nn.Linear`), one fused GEMM call with
/// the bias added in the same pass.
///
/// Parameters are initialised as PyTorch does (`reset_parameters`): the weight from
/// kaiming-uniform with a = √5, which works out to U(−1/√inFeatures, 1/√inFeatures), and the
/// bias from U(−1/√inFeatures, 1/√inFeatures).
///
/// - Parameters:
///   - inFeatures: the size of each input sample (the last dim of `x`).
///   - outFeatures: the size of each output sample.
///   - bias: whether to learn an additive bias (default true).
///   - generator: where the initial values are drawn from (the default generator unless given).
///
/// ```swift
/// let fc = Linear(784, 512)
/// let y = fc(Tensor.randn([64, 784]))   // [64, 512]
/// ```
open class Linear: Module {
    /// The size of each input sample (PyTorch: `in_features`).
    public let inFeatures: Int
    /// The size of each output sample (PyTorch: `out_features`).
    public let outFeatures: Int
    /// (outFeatures, inFeatures), as PyTorch lays it out (state-dict compatible).
    public var weight: Tensor
    /// (outFeatures), or nil when built with `bias: false`.
    public var bias: Tensor?

    /// PyTorch: `nn.Linear(in_features, out_features, bias)`.
    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: Generator = .default) {
        precondition(inFeatures >= 0 && outFeatures >= 0,
                     "Linear: features must be non-negative, got \(inFeatures) and \(outFeatures)")
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        // kaiming_uniform_(a=√5): gain = √(2/(1+a²)) = √(1/3), bound = √3·gain/√fan_in = 1/√fan_in.
        let bound = inFeatures > 0 ? Float(1 / Double(inFeatures).squareRoot()) : 0
        weight = Tensor.rand([outFeatures, inFeatures], low: -bound, high: bound, generator: generator).requiringGrad()
        self.bias = bias ? Tensor.rand([outFeatures], low: -bound, high: bound, generator: generator).requiringGrad() : nil
        super.init()
    }

    /// The labelled spelling, as in PyTorch's keywords.
    public convenience init(inFeatures: Int, outFeatures: Int, bias: Bool = true, generator: Generator = .default) {
        self.init(inFeatures, outFeatures, bias: bias, generator: generator)
    }

    /// x·Wᵀ + b over the last dim of `x`.
    open override func forward(_ x: Tensor) -> Tensor { linear(x, weight, bias) }

    /// The text inside `Linear(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        "in_features=\(inFeatures), out_features=\(outFeatures), bias=\(bias != nil ? "True" : "False")"
    }
}
