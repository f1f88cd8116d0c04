/// Convolution layers (PyTorch's `nn.Conv1d`, `nn.Conv2d`, `nn.ConvTranspose2d`), with
/// PyTorch's parameter names and default initialisation: kaiming-uniform with a = √5 for the
/// weight — U(±1/√fan_in) — and U(±1/√fan_in) for the bias, fan_in = C/groups·kH·kW.

/// `.same` or explicit padding turned into (left, right) amounts per spatial dim.
private func explicitPadding(_ padding: ConvPadding, kernel: Pair, dilation: Pair) -> (h: (Int, Int), w: (Int, Int)) {
    switch padding {
    case .explicit(let p): return ((p.h, p.h), (p.w, p.w))
    case .valid: return ((0, 0), (0, 0))
    case .same:
        let th = dilation.h * (kernel.h - 1), tw = dilation.w * (kernel.w - 1)
        return ((th / 2, th - th / 2), (tw / 2, tw - tw / 2))
    }
}

private func describe(_ p: Pair) -> String { "(\(p.h), \(p.w))" }

/// 2-D convolution over (N, C, H, W) input: `Conv2d(1, 32, kernelSize: 3)`.
///
/// - Parameters: as PyTorch's; sizes are an `Int` literal or a pair (`[3, 5]`), `padding`
///   also `.same`/`.valid`; `paddingMode` pads with reflect/replicate/circular values first.
open class Conv2d: Module {
    /// Channels in and out.
    public let inChannels: Int, outChannels: Int
    /// Kernel size, step, padding (amounts, `.same` or `.valid`) and spacing of kernel elements.
    public let kernelSize: Pair, stride: Pair, padding: ConvPadding, dilation: Pair
    /// Blocked connections: each group of inChannels/groups inputs feeds outChannels/groups outputs.
    public let groups: Int
    /// How the input is padded: zeros, or reflect, replicate or circular values.
    public let paddingMode: PaddingMode
    /// (outChannels, inChannels/groups, kH, kW).
    public var weight: Tensor
    /// (outChannels), or nil with `bias: false`.
    public var bias: Tensor?

    /// PyTorch: `nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode)`; weight and bias drawn from U(±1/√fan_in) as PyTorch's default init gives.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair = 1, padding: ConvPadding = 0,
                dilation: Pair = 1, groups: Int = 1, bias: Bool = true, paddingMode: PaddingMode = .zeros,
                generator: Generator = .default) {
        precondition(groups > 0, "Conv2d: groups must be a positive integer")
        precondition(inChannels % groups == 0, "Conv2d: in_channels must be divisible by groups")
        precondition(outChannels % groups == 0, "Conv2d: out_channels must be divisible by groups")
        precondition(padding != .same || stride == Pair(1), "Conv2d: padding='same' is not supported for strided convolutions")
        (self.inChannels, self.outChannels, self.kernelSize, self.stride) = (inChannels, outChannels, kernelSize, stride)
        (self.padding, self.dilation, self.groups, self.paddingMode) = (padding, dilation, groups, paddingMode)
        let fanIn = inChannels / groups * kernelSize.h * kernelSize.w
        let bound = fanIn > 0 ? Float(1 / Double(fanIn).squareRoot()) : 0
        weight = Tensor.rand([outChannels, inChannels / groups, kernelSize.h, kernelSize.w], low: -bound, high: bound,
                             generator: generator).requiringGrad()
        self.bias = bias ? Tensor.rand([outChannels], low: -bound, high: bound, generator: generator).requiringGrad() : nil
        super.init()
    }

    /// The convolution of (N, C, H, W) or (C, H, W), padded per `paddingMode` first.
    open override func forward(_ x: Tensor) -> Tensor {
        guard paddingMode != .zeros else {
            return conv2d(x, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        let (ph, pw) = explicitPadding(padding, kernel: kernelSize, dilation: dilation)
        return conv2d(x.padded([pw.0, pw.1, ph.0, ph.1], mode: paddingMode), weight, bias, stride: stride,
                      padding: 0, dilation: dilation, groups: groups)
    }

    /// The text inside `Conv2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(describe(kernelSize)), stride=\(describe(stride))"
        switch padding {
        case .explicit(let p) where p != Pair(0): s += ", padding=\(describe(p))"
        case .same: s += ", padding=same"
        case .valid: s += ", padding=valid"
        default: break
        }
        if dilation != Pair(1) { s += ", dilation=\(describe(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        if paddingMode != .zeros { s += ", padding_mode=\(paddingMode.rawValue)" }
        return s
    }
}

/// 1-D convolution over (N, C, L) input (PyTorch's `nn.Conv1d`).
open class Conv1d: Module {
    /// Channels in and out.
    public let inChannels: Int, outChannels: Int
    /// Kernel size, step, padding (an amount, `.same` or `.valid`) and spacing of kernel elements.
    public let kernelSize: Int, stride: Int, padding: ConvPadding, dilation: Int
    /// Blocked connections: each group of inChannels/groups inputs feeds outChannels/groups outputs.
    public let groups: Int
    /// How the input is padded: zeros, or reflect, replicate or circular values.
    public let paddingMode: PaddingMode
    /// (outChannels, inChannels/groups, k).
    public var weight: Tensor
    /// (outChannels), or nil with `bias: false`.
    public var bias: Tensor?

    /// PyTorch: `nn.Conv1d(in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias, padding_mode)`; weight and bias drawn from U(±1/√fan_in).
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: ConvPadding = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true, paddingMode: PaddingMode = .zeros,
                generator: Generator = .default) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "Conv1d: in_channels and out_channels must be divisible by groups")
        precondition(padding != .same || stride == 1, "Conv1d: padding='same' is not supported for strided convolutions")
        (self.inChannels, self.outChannels, self.kernelSize, self.stride) = (inChannels, outChannels, kernelSize, stride)
        (self.padding, self.dilation, self.groups, self.paddingMode) = (padding, dilation, groups, paddingMode)
        let fanIn = inChannels / groups * kernelSize
        let bound = fanIn > 0 ? Float(1 / Double(fanIn).squareRoot()) : 0
        weight = Tensor.rand([outChannels, inChannels / groups, kernelSize], low: -bound, high: bound,
                             generator: generator).requiringGrad()
        self.bias = bias ? Tensor.rand([outChannels], low: -bound, high: bound, generator: generator).requiringGrad() : nil
        super.init()
    }

    /// The convolution of (N, C, L) or (C, L), padded per `paddingMode` first.
    open override func forward(_ x: Tensor) -> Tensor {
        guard paddingMode != .zeros else {
            return conv1d(x, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
        }
        let (_, pw) = explicitPadding(padding, kernel: Pair(1, kernelSize), dilation: Pair(1, dilation))
        return conv1d(x.padded([pw.0, pw.1], mode: paddingMode), weight, bias, stride: stride, padding: 0,
                      dilation: dilation, groups: groups)
    }

    /// The text inside `Conv1d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=(\(kernelSize),), stride=(\(stride),)"
        if case .explicit(let p) = padding, p.w != 0 { s += ", padding=(\(p.w),)" }
        if padding == .same { s += ", padding=same" }
        if dilation != 1 { s += ", dilation=(\(dilation),)" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}

/// Transposed 2-D convolution (PyTorch's `nn.ConvTranspose2d`): weight (inChannels,
/// outChannels/groups, kH, kW), initialised as PyTorch does (fan_in from dim 1).
open class ConvTranspose2d: Module {
    /// Channels in and out.
    public let inChannels: Int, outChannels: Int
    /// Kernel size, stride, the padding removed from the output, the extra size added on one side (PyTorch: `output_padding`), and dilation.
    public let kernelSize: Pair, stride: Pair, padding: Pair, outputPadding: Pair, dilation: Pair
    /// Blocked connections, as in `Conv2d`.
    public let groups: Int
    /// (inChannels, outChannels/groups, kH, kW).
    public var weight: Tensor
    /// (outChannels), or nil with `bias: false`.
    public var bias: Tensor?

    /// PyTorch: `nn.ConvTranspose2d(in_channels, out_channels, kernel_size, stride, padding, output_padding, groups, bias, dilation)`.
    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Pair, stride: Pair = 1, padding: Pair = 0,
                outputPadding: Pair = 0, groups: Int = 1, bias: Bool = true, dilation: Pair = 1,
                generator: Generator = .default) {
        precondition(groups > 0 && inChannels % groups == 0 && outChannels % groups == 0,
                     "ConvTranspose2d: in_channels and out_channels must be divisible by groups")
        (self.inChannels, self.outChannels, self.kernelSize, self.stride) = (inChannels, outChannels, kernelSize, stride)
        (self.padding, self.outputPadding, self.dilation, self.groups) = (padding, outputPadding, dilation, groups)
        let fanIn = outChannels / groups * kernelSize.h * kernelSize.w
        let bound = fanIn > 0 ? Float(1 / Double(fanIn).squareRoot()) : 0
        weight = Tensor.rand([inChannels, outChannels / groups, kernelSize.h, kernelSize.w], low: -bound, high: bound,
                             generator: generator).requiringGrad()
        self.bias = bias ? Tensor.rand([outChannels], low: -bound, high: bound, generator: generator).requiringGrad() : nil
        super.init()
    }

    /// The transposed convolution of (N, C, H, W) or (C, H, W).
    open override func forward(_ x: Tensor) -> Tensor {
        convTranspose2d(x, weight, bias, stride: stride, padding: padding, outputPadding: outputPadding,
                        groups: groups, dilation: dilation)
    }

    /// The text inside `ConvTranspose2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        var s = "\(inChannels), \(outChannels), kernel_size=\(describe(kernelSize)), stride=\(describe(stride))"
        if padding != Pair(0) { s += ", padding=\(describe(padding))" }
        if outputPadding != Pair(0) { s += ", output_padding=\(describe(outputPadding))" }
        if dilation != Pair(1) { s += ", dilation=\(describe(dilation))" }
        if groups != 1 { s += ", groups=\(groups)" }
        if bias == nil { s += ", bias=False" }
        return s
    }
}
