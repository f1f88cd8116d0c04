/// Convolutions (PyTorch's `F.conv1d`, `F.conv2d`, `F.conv_transpose2d`) on the C kernels in
/// csrc/conv.c: im2col + the GEMM engine, per image, with the weight gradient summed over
/// fixed shards of the batch (the same bits for any thread count).

/// A size given for both spatial dims (PyTorch's `int or tuple`): `3` or `[3, 5]`.
public struct Pair: Equatable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral, CustomStringConvertible {
    /// The size along the height.
    public let h: Int
    /// The size along the width.
    public let w: Int
    /// Height and width.
    public init(_ h: Int, _ w: Int) { self.h = h; self.w = w }
    /// The same size for both dims.
    public init(_ both: Int) { self.init(both, both) }
    /// `3`: the same size for both dims.
    public init(integerLiteral value: Int) { self.init(value) }
    /// `[3, 5]`: height and width.
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "a pair needs 2 values, got \(elements)")
        self.init(elements[0], elements[1])
    }
    /// `(h, w)`, as PyTorch prints a tuple.
    public var description: String { "(\(h), \(w))" }
}

/// A convolution's padding: explicit sizes (`1`, `[1, 2]`), or PyTorch's string modes:
/// `.valid` (none) and `.same` (the output keeps the input's size; stride 1 only).
public enum ConvPadding: Equatable, Sendable, ExpressibleByIntegerLiteral, ExpressibleByArrayLiteral {
    /// Zero padding of these sizes on both sides of each dim.
    case explicit(Pair)
    /// PyTorch's `padding="same"`: the output keeps the input's size (stride 1 only).
    case same
    /// PyTorch's `padding="valid"`: no padding.
    case valid
    /// `1`: the same explicit padding on both dims.
    public init(integerLiteral value: Int) { self = .explicit(Pair(value)) }
    /// `[1, 2]`: explicit padding for height and width.
    public init(arrayLiteral elements: Int...) {
        precondition(elements.count == 2, "a padding pair needs 2 values, got \(elements)")
        self = .explicit(Pair(elements[0], elements[1]))
    }
}

/// How a convolution layer pads (PyTorch's `padding_mode`).
public enum PaddingMode: String, Sendable {
    /// PyTorch's `padding_mode` values: `"zeros"`, `"reflect"`, `"replicate"`, `"circular"`.
    case zeros, reflect, replicate, circular
}

/// The shape of one convolution, validated (csrc's `ember_conv2d_shape`).
struct ConvGeometry {
    var n = 0, c = 0, h = 0, w = 0, oc = 0, kh = 0, kw = 0, oh = 0, ow = 0
    var sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1, groups = 1

    /// Checks a batched input (N, C, H, W) against weight (OC, C/groups, KH, KW) as PyTorch
    /// does, with its messages. `padding` is symmetric per dim here (`.same` resolved by the caller).
    static func make(input: [Int], weight: [Int], stride: Pair, padding: Pair, dilation: Pair,
                     groups: Int, op: String) throws -> ConvGeometry {
        try checkConvArguments(stride: stride, padding: padding, dilation: dilation, groups: groups, op: op)
        guard weight.count == 4, input.count == 4 else {
            throw EmberError.shapeMismatch(op: op, message: "expected 4D input and weight, got input \(input) and weight \(weight)")
        }
        try checkKernelAndChannels(input: input, weight: weight, op: op)
        var g = ConvGeometry()
        (g.n, g.c, g.h, g.w) = (input[0], input[1], input[2], input[3])
        (g.oc, g.kh, g.kw) = (weight[0], weight[2], weight[3])
        (g.sh, g.sw, g.ph, g.pw, g.dh, g.dw, g.groups) = (stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w, groups)
        guard g.oc % groups == 0 else {
            throw EmberError.invalidArgument(op: op, message: "out_channels (\(g.oc)) must be divisible by groups (\(groups))")
        }
        guard weight[1] * groups == g.c else {
            throw EmberError.shapeMismatch(op: op, message:
                "Given groups=\(groups), weight of size \(weight), expected input\(input) to have \(weight[1] * groups) channels, but got \(g.c) channels instead")
        }
        let effH = g.dh * (g.kh - 1) + 1, effW = g.dw * (g.kw - 1) + 1
        let padH = g.h + 2 * g.ph, padW = g.w + 2 * g.pw
        guard padH >= effH && padW >= effW else {
            throw EmberError.shapeMismatch(op: op, message:
                "Calculated padded input size per channel: (\(padH) x \(padW)). Kernel size: (\(effH) x \(effW)). Kernel size can't be greater than actual input size")
        }
        g.oh = (padH - effH) / g.sh + 1
        g.ow = (padW - effW) / g.sw + 1
        return g
    }

    var inputShape: [Int] { [n, c, h, w] }
    var outputShape: [Int] { [n, oc, oh, ow] }
}

/// PyTorch's checks of a convolution's (or transposed convolution's) arguments, with its
/// messages: the C core divides by the strides and groups.
func checkConvArguments(stride: Pair, padding: Pair, dilation: Pair, groups: Int, op: String) throws {
    guard stride.h > 0 && stride.w > 0 else {
        throw EmberError.invalidArgument(op: op, message: "non-positive stride is not supported")
    }
    guard dilation.h > 0 && dilation.w > 0 else {
        throw EmberError.invalidArgument(op: op, message: "dilation should be greater than zero")
    }
    guard padding.h >= 0 && padding.w >= 0 else {
        throw EmberError.invalidArgument(op: op, message: "negative padding is not supported")
    }
    guard groups > 0 else {
        throw EmberError.invalidArgument(op: op, message: "non-positive groups is not supported")
    }
}

/// A kernel of at least 1×1 and an input of at least one channel: the C core divides by both.
func checkKernelAndChannels(input: [Int], weight: [Int], op: String) throws {
    guard weight[2] > 0 && weight[3] > 0 else {
        throw EmberError.invalidArgument(op: op, message:
            "kernel size should be greater than zero, but got kernel_height: \(weight[2]) kernel_width: \(weight[3])")
    }
    guard input[1] > 0 else {
        throw EmberError.shapeMismatch(op: op, message: "expected an input with at least one channel, got \(input)")
    }
}

/// `.same`'s padding for one dim: total = dilation·(k−1), the odd one on the right (PyTorch).
private func samePadding(kernel: Int, dilation: Int) -> (left: Int, right: Int) {
    let total = dilation * (kernel - 1)
    return (total / 2, total - total / 2)
}

/// Resolves `padding` into symmetric sizes and, for `.same` with an even kernel, the extra
/// zero column or row PyTorch pads on the right/bottom first.
func resolvePadding(_ padding: ConvPadding, kernel: Pair, dilation: Pair, stride: Pair, op: String)
    throws -> (symmetric: Pair, extra: Pair) {
    switch padding {
    case .explicit(let p): return (p, Pair(0))
    case .valid: return (Pair(0), Pair(0))
    case .same:
        guard stride == Pair(1) else {
            throw EmberError.invalidArgument(op: op, message: "padding='same' is not supported for strided convolutions")
        }
        let h = samePadding(kernel: kernel.h, dilation: dilation.h)
        let w = samePadding(kernel: kernel.w, dilation: dilation.w)
        return (Pair(h.left, w.left), Pair(h.right - h.left, w.right - w.left))
    }
}

/// 2-D convolution over (N, C, H, W) or unbatched (C, H, W) input with weight
/// (OC, C/groups, KH, KW) and optional bias (OC) — PyTorch's `F.conv2d`.
public func conv2d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Pair = 1,
                   padding: ConvPadding = 0, dilation: Pair = 1, groups: Int = 1) -> Tensor {
    var out: Tensor!
    check { out = try conv2dChecked(input, weight, bias, stride: stride, padding: padding, dilation: dilation, groups: groups) }
    return out
}

/// `conv2d` with its errors thrown (tests read the messages).
func conv2dChecked(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Pair, padding: ConvPadding,
                   dilation: Pair, groups: Int, op: String = "conv2d") throws -> Tensor {
    try expectDType(input, .float32, op: op)
    try expectDType(weight, .float32, op: op)
    guard input.ndim == 3 || input.ndim == 4 else {
        throw EmberError.shapeMismatch(op: op, message:
            "Expected 3D (unbatched) or 4D (batched) input to \(op), but got input of size: \(input.shape)")
    }
    guard weight.ndim == 4 else {
        throw EmberError.shapeMismatch(op: op, message: "weight should be 4D (out_channels, in_channels/groups, kH, kW), got \(weight.shape)")
    }
    if input.ndim == 3 {
        return try conv2dChecked(input.unsqueezed(0), weight, bias, stride: stride, padding: padding,
                                 dilation: dilation, groups: groups, op: op).squeezed(0)
    }
    if let bias { try expectDType(bias, .float32, op: "\(op) bias") }
    if let bias, bias.shape != [weight.shape[0]] {
        throw EmberError.shapeMismatch(op: op, message: "bias of shape \(bias.shape) does not match weight of shape \(weight.shape)")
    }
    let (pad, extra) = try resolvePadding(padding, kernel: Pair(weight.shape[2], weight.shape[3]),
                                          dilation: dilation, stride: stride, op: op)
    var x = input
    if extra != Pair(0) { x = x.padded([0, extra.w, 0, extra.h]) }
    let geo = try ConvGeometry.make(input: x.shape, weight: weight.shape, stride: stride, padding: pad,
                                    dilation: dilation, groups: groups, op: op)
    return convolve(x.contiguous(), weight.contiguous(), bias?.contiguous(), geo, op: op)
}

/// The differentiable op over a validated geometry.
private func convolve(_ x: Tensor, _ weight: Tensor, _ bias: Tensor?, _ geo: ConvGeometry, op: String) -> Tensor {
    let out = Tensor(empty: geo.outputShape)
    Kernels.conv2dForward(out.f32, x.f32, weight.f32, bias?.f32, geo)
    let inputs = bias.map { [x, weight, $0] } ?? [x, weight]
    return out.recorded(op, inputs) { g in
        let dx = x.requiresGrad ? Tensor(empty: geo.inputShape) : nil
        let dw = weight.requiresGrad ? Tensor(empty: weight.shape) : nil
        let db = (bias?.requiresGrad ?? false) ? Tensor(empty: [geo.oc]) : nil
        Kernels.conv2dBackward(dInput: dx?.f32, dWeight: dw?.f32, dBias: db?.f32, dOut: g.f32,
                               input: x.f32, weight: weight.f32, geo)
        return bias == nil ? [dx, dw] : [dx, dw, db]
    }
}

/// 1-D convolution over (N, C, L) or (C, L) with weight (OC, C/groups, K) — `F.conv1d`.
public func conv1d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Int = 1,
                   padding: ConvPadding = 0, dilation: Int = 1, groups: Int = 1) -> Tensor {
    check {
        guard input.ndim == 2 || input.ndim == 3 else {
            throw EmberError.shapeMismatch(op: "conv1d", message:
                "Expected 2D (unbatched) or 3D (batched) input to conv1d, but got input of size: \(input.shape)")
        }
        guard weight.ndim == 3 else {
            throw EmberError.shapeMismatch(op: "conv1d", message: "weight should be 3D (out_channels, in_channels/groups, kW), got \(weight.shape)")
        }
    }
    // A row of height 1: padding and sizes apply to the width only.
    let pad: ConvPadding
    switch padding {
    case .explicit(let p): pad = .explicit(Pair(0, p.w))
    default: pad = padding
    }
    var out: Tensor!
    check {
        out = try conv2dChecked(input.unsqueezed(-2), weight.unsqueezed(-2), bias, stride: Pair(1, stride),
                                padding: pad, dilation: Pair(1, dilation), groups: groups, op: "conv1d")
    }
    return out.squeezed(-2)
}

/// Transposed 2-D convolution (`F.conv_transpose2d`): the gradient of `conv2d` with respect to
/// its input, as a layer. weight is (C_in, C_out/groups, KH, KW); the output size is
/// (H−1)·stride − 2·padding + dilation·(KH−1) + outputPadding + 1.
public func convTranspose2d(_ input: Tensor, _ weight: Tensor, _ bias: Tensor? = nil, stride: Pair = 1,
                            padding: Pair = 0, outputPadding: Pair = 0, groups: Int = 1,
                            dilation: Pair = 1) -> Tensor {
    var out: Tensor!
    check {
        out = try convTranspose2dChecked(input, weight, bias, stride: stride, padding: padding,
                                         outputPadding: outputPadding, groups: groups, dilation: dilation)
    }
    return out
}

func convTranspose2dChecked(_ input: Tensor, _ weight: Tensor, _ bias: Tensor?, stride: Pair, padding: Pair,
                            outputPadding: Pair, groups: Int, dilation: Pair) throws -> Tensor {
    let op = "conv_transpose2d"
    try expectDType(input, .float32, op: op)
    try expectDType(weight, .float32, op: "\(op) weight")
    if let bias { try expectDType(bias, .float32, op: "\(op) bias") }
    try checkConvArguments(stride: stride, padding: padding, dilation: dilation, groups: groups, op: op)
    guard outputPadding.h >= 0 && outputPadding.w >= 0 else {
        throw EmberError.invalidArgument(op: op, message: "negative padding is not supported")
    }
    guard input.ndim == 3 || input.ndim == 4 else {
        throw EmberError.shapeMismatch(op: op, message:
            "Expected 3D (unbatched) or 4D (batched) input to conv_transpose2d, but got input of size: \(input.shape)")
    }
    if input.ndim == 3 {
        return try convTranspose2dChecked(input.unsqueezed(0), weight, bias, stride: stride, padding: padding,
                                          outputPadding: outputPadding, groups: groups, dilation: dilation).squeezed(0)
    }
    guard weight.ndim == 4, weight.shape[0] == input.shape[1], weight.shape[0] % groups == 0 else {
        throw EmberError.shapeMismatch(op: op, message:
            "Given transposed=1, weight of size \(weight.shape), expected input\(input.shape) to have \(weight.ndim == 4 ? weight.shape[0] : 0) channels, but got \(input.shape[1]) channels instead")
    }
    guard outputPadding.h < Swift.max(stride.h, dilation.h) && outputPadding.w < Swift.max(stride.w, dilation.w) else {
        throw EmberError.invalidArgument(op: op, message: "output padding must be smaller than either stride or dilation, got \(outputPadding)")
    }
    try checkKernelAndChannels(input: input.shape, weight: weight.shape, op: op)
    let (n, cin, h, w) = (input.shape[0], input.shape[1], input.shape[2], input.shape[3])
    let cout = weight.shape[1] * groups, kh = weight.shape[2], kw = weight.shape[3]
    let oh = (h - 1) * stride.h - 2 * padding.h + dilation.h * (kh - 1) + outputPadding.h + 1
    let ow = (w - 1) * stride.w - 2 * padding.w + dilation.w * (kw - 1) + outputPadding.w + 1
    guard oh > 0 && ow > 0 else {
        throw EmberError.shapeMismatch(op: op, message: "the output size (\(oh) x \(ow)) is too small for input \(input.shape)")
    }
    if let bias, bias.shape != [cout] {
        throw EmberError.shapeMismatch(op: op, message: "bias of shape \(bias.shape) does not match \(cout) output channels")
    }
    // The conv2d whose input gradient this is: input (n, cout, oh, ow) → output (n, cin, h, w).
    var geo = ConvGeometry()
    (geo.n, geo.c, geo.h, geo.w, geo.oc, geo.kh, geo.kw, geo.oh, geo.ow) = (n, cout, oh, ow, cin, kh, kw, h, w)
    (geo.sh, geo.sw, geo.ph, geo.pw, geo.dh, geo.dw, geo.groups) = (stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w, groups)
    let x = input.contiguous(), wt = weight.contiguous(), b = bias?.contiguous()
    let out = Tensor(empty: [n, cout, oh, ow])
    Kernels.conv2dBackward(dInput: out.f32, dWeight: nil, dBias: nil, dOut: x.f32, input: x.f32, weight: wt.f32, geo)
    if let b { noGrad { out.add_(b.reshaped([1, cout, 1, 1])) } }
    let inputs = b.map { [x, wt, $0] } ?? [x, wt]
    return out.recorded(op, inputs) { g in
        // d input = conv2d(g, W); d weight = conv2d's weight gradient with x as dOut and g as input.
        let dx = x.requiresGrad ? Tensor(empty: x.shape) : nil
        if let dx { Kernels.conv2dForward(dx.f32, g.f32, wt.f32, nil, geo) }
        let dw = wt.requiresGrad ? Tensor(empty: wt.shape) : nil
        if let dw { Kernels.conv2dBackward(dInput: nil, dWeight: dw.f32, dBias: nil, dOut: x.f32, input: g.f32, weight: wt.f32, geo) }
        let db = (b?.requiresGrad ?? false) ? g.sum(dims: [0, 2, 3]) : nil
        return b == nil ? [dx, dw] : [dx, dw, db]
    }
}

// MARK: Padding (PyTorch's F.pad)

extension Tensor {
    /// Pads the last dims (PyTorch's `F.pad(x, pad, mode, value)`): `pad` lists
    /// (left, right) pairs starting from the last dim, e.g. `[1, 1, 2, 2]` pads W by 1 and H
    /// by 2. Modes: constant (`value`), reflect, replicate, circular. Differentiable.
    public func padded(_ pad: [Int], mode: PaddingMode = .zeros, value: Double = 0) -> Tensor {
        var out: Tensor!
        check { out = try paddedChecked(pad, mode: mode, value: value) }
        return out
    }

    func paddedChecked(_ pad: [Int], mode: PaddingMode, value: Double) throws -> Tensor {
        guard pad.count % 2 == 0, pad.count / 2 <= ndim else {
            throw EmberError.invalidArgument(op: "pad", message: "Padding length must be divisible by 2 and at most twice the input's dims, got \(pad.count) for \(ndim)D input")
        }
        var x = self
        for i in 0..<(pad.count / 2) {
            let dim = ndim - 1 - i
            x = try x.padDim(dim, left: pad[2 * i], right: pad[2 * i + 1], mode: mode, value: value)
        }
        return x
    }

    /// One dim's padding, composed of narrow (negative pads crop), index-select and cat, so
    /// autograd comes from those ops.
    private func padDim(_ dim: Int, left: Int, right: Int, mode: PaddingMode, value: Double) throws -> Tensor {
        if left == 0 && right == 0 { return self }
        var x = self
        if left < 0 { x = x.narrowed(dim: dim, start: -left, length: x.shape[dim] + left) }
        if right < 0 { x = x.narrowed(dim: dim, start: 0, length: x.shape[dim] + right) }
        let l = Swift.max(left, 0), r = Swift.max(right, 0)
        if l == 0 && r == 0 { return x }
        let size = x.shape[dim]
        func indices(_ range: [Int]) -> Tensor { Tensor(range, shape: [range.count]) }
        switch mode {
        case .zeros:
            var parts: [Tensor] = []
            var side = x.shape
            if l > 0 { side[dim] = l; parts.append(Tensor.full(side, value)) }
            parts.append(x)
            if r > 0 { side[dim] = r; parts.append(Tensor.full(side, value)) }
            return Tensor.cat(parts, dim: dim)
        case .reflect:
            guard l < size && r < size else {
                throw EmberError.invalidArgument(op: "pad", message:
                    "Argument #4: Padding size should be less than the corresponding input dimension, but got: padding (\(l), \(r)) at dimension \(dim) of input \(shape)")
            }
            let before: [Int] = (0..<l).map { l - $0 }, after: [Int] = (0..<r).map { size - 2 - $0 }
            let idx = before + Array(0..<size) + after
            return x.indexSelect(dim: dim, index: indices(idx))
        case .replicate:
            guard size > 0 else { throw EmberError.invalidArgument(op: "pad", message: "cannot replicate-pad an empty dimension \(dim)") }
            let before = [Int](repeating: 0, count: l), after = [Int](repeating: size - 1, count: r)
            let idx = before + Array(0..<size) + after
            return x.indexSelect(dim: dim, index: indices(idx))
        case .circular:
            guard l <= size && r <= size else {
                throw EmberError.invalidArgument(op: "pad", message: "Padding value causes wrapping around more than once (padding (\(l), \(r)) at dimension \(dim) of size \(size))")
            }
            let before: [Int] = (0..<l).map { size - l + $0 }
            let idx = before + Array(0..<size) + Array(0..<r)
            return x.indexSelect(dim: dim, index: indices(idx))
        }
    }
}
