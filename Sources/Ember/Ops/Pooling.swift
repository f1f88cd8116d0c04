/// Pooling and interpolation (PyTorch's `F.max_pool2d`, `F.avg_pool2d`, the adaptive pools,
/// `F.interpolate`) on csrc/pool.c. Inputs are (N, C, H, W) or unbatched (C, H, W); the 1-D
/// forms are the H = 1 case.

/// A pooling window, validated (csrc's `ember_pool2d_shape`).
struct PoolGeometry {
    var planes = 0, h = 0, w = 0, oh = 0, ow = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1
    var countIncludePad = true
    var divisor: Int?

    /// PyTorch's pooling output size: ⌊ or ⌈(size + 2p − d(k−1) − 1)/s⌉ + 1, where with
    /// ceil mode the last window must start inside the input or its left padding.
    static func outputSize(_ size: Int, kernel: Int, stride: Int, pad: Int, dilation: Int, ceilMode: Bool) -> Int {
        // Floor division, as PyTorch's div_rtn: a window wider than the padded input gives
        // an output size of 0, which `make` rejects (Swift's / would round -1/2 up to 0).
        func floorDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? a / b : -((-a + b - 1) / b) }
        let span = size + 2 * pad - dilation * (kernel - 1) - 1
        var out = floorDiv(ceilMode ? span + stride - 1 : span, stride) + 1
        if ceilMode && (out - 1) * stride >= size + pad { out -= 1 }
        return out
    }

    static func make(_ shape: [Int], kernel: Pair, stride: Pair?, padding: Pair, dilation: Pair,
                     ceilMode: Bool, op: String) throws -> PoolGeometry {
        let stride = stride ?? kernel
        guard kernel.h > 0 && kernel.w > 0 else {
            throw EmberError.invalidArgument(op: op, message: "kernel size should be greater than zero, but got \(kernel)")
        }
        guard stride.h > 0 && stride.w > 0 else {
            throw EmberError.invalidArgument(op: op, message: "stride should be greater than zero, but got \(stride)")
        }
        guard dilation.h > 0 && dilation.w > 0 else {
            throw EmberError.invalidArgument(op: op, message: "dilation should be greater than zero, but got \(dilation)")
        }
        guard padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2 else {
            throw EmberError.invalidArgument(op: op, message: "pad should be at most half of effective kernel size, but got pad=\(padding), kernel_size=\(kernel) and dilation=\(dilation)")
        }
        var g = PoolGeometry()
        g.planes = shape.dropLast(2).reduce(1, *)
        (g.h, g.w) = (shape[shape.count - 2], shape[shape.count - 1])
        (g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.dh, g.dw) = (kernel.h, kernel.w, stride.h, stride.w, padding.h, padding.w, dilation.h, dilation.w)
        g.oh = outputSize(g.h, kernel: g.kh, stride: g.sh, pad: g.ph, dilation: g.dh, ceilMode: ceilMode)
        g.ow = outputSize(g.w, kernel: g.kw, stride: g.sw, pad: g.pw, dilation: g.dw, ceilMode: ceilMode)
        guard g.oh > 0 && g.ow > 0 else {
            throw EmberError.shapeMismatch(op: op, message: "Given input size: (\(shape.dropFirst(shape.count - 3).map(String.init).joined(separator: "x"))). Calculated output size: (\(shape.count >= 3 ? shape[shape.count - 3] : 1)x\(g.oh)x\(g.ow)). Output size is too small")
        }
        return g
    }
}

/// Checks the input of a 2-D pool: 3D (C, H, W) or 4D (N, C, H, W), float32.
func checkPoolInput(_ x: Tensor, op: String, dims: Int = 2) throws {
    try expectDType(x, .float32, op: op)
    guard x.ndim == dims + 1 || x.ndim == dims + 2 else {
        throw EmberError.shapeMismatch(op: op, message:
            "Expected \(dims + 1)D or \(dims + 2)D (batch mode) tensor with optional 0 dim batch size for input, but got: \(x.shape)")
    }
    guard !x.shape.suffix(dims).contains(0) else {
        throw EmberError.shapeMismatch(op: op, message: "Expected input's non-batch dimensions to have positive length, but got \(x.shape)")
    }
}

extension Tensor {
    /// 2-D max pooling (`F.max_pool2d`); the stride defaults to the kernel size.
    public func maxPool2d(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1,
                          ceilMode: Bool = false) -> Tensor {
        maxPool2dWithIndices(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode).values
    }

    /// Max pooling and, for each output, the flat index (h·W + w) of its maximum in its
    /// plane (PyTorch's `return_indices=True`, what `MaxUnpool2d` takes).
    public func maxPool2dWithIndices(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1,
                                     ceilMode: Bool = false) -> (values: Tensor, indices: Tensor) {
        var geo = PoolGeometry()
        check {
            try checkPoolInput(self, op: "max_pool2d")
            geo = try PoolGeometry.make(shape, kernel: kernelSize, stride: stride, padding: padding,
                                        dilation: dilation, ceilMode: ceilMode, op: "max_pool2d")
        }
        let x = contiguous()
        let outShape = Array(shape.dropLast(2)) + [geo.oh, geo.ow]
        let out = Tensor(empty: outShape), indices = Tensor(empty: outShape, dtype: .int64)
        Kernels.maxPool2dForward(out.f32, indices.i64, x.f32, geo)
        let inShape = shape
        out.recorded("max_pool2d", [x], saved: []) { g in
            let dx = Tensor(empty: inShape)
            Kernels.indexPoolBackward(dx.f32, g.f32, indices.i64, planes: geo.planes, inPlane: geo.h * geo.w, outPlane: geo.oh * geo.ow)
            return [dx]
        }
        return (out, indices)
    }

    /// 2-D average pooling (`F.avg_pool2d`).
    public func avgPool2d(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, ceilMode: Bool = false,
                          countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
        var geo = PoolGeometry()
        check {
            try checkPoolInput(self, op: "avg_pool2d")
            geo = try PoolGeometry.make(shape, kernel: kernelSize, stride: stride, padding: padding,
                                        dilation: 1, ceilMode: ceilMode, op: "avg_pool2d")
            if let d = divisorOverride, d == 0 {
                throw EmberError.invalidArgument(op: "avg_pool2d", message: "divisor must be not zero")
            }
        }
        geo.countIncludePad = countIncludePad
        geo.divisor = divisorOverride
        let x = contiguous()
        let out = Tensor(empty: Array(shape.dropLast(2)) + [geo.oh, geo.ow])
        Kernels.avgPool2dForward(out.f32, x.f32, geo)
        let inShape = shape
        return out.recorded("avg_pool2d", [x], saved: []) { g in
            let dx = Tensor(empty: inShape)
            Kernels.avgPool2dBackward(dx.f32, g.f32, geo)
            return [dx]
        }
    }

    /// Adaptive average pooling to `outputSize` (`F.adaptive_avg_pool2d`).
    public func adaptiveAvgPool2d(_ outputSize: Pair) -> Tensor { adaptivePool2d(outputSize, max: false).values }

    /// Adaptive max pooling to `outputSize` (`F.adaptive_max_pool2d`), with the flat indices.
    public func adaptiveMaxPool2dWithIndices(_ outputSize: Pair) -> (values: Tensor, indices: Tensor) {
        adaptivePool2d(outputSize, max: true)
    }

    /// Adaptive max pooling to `outputSize` (PyTorch: `F.adaptive_max_pool2d`).
    public func adaptiveMaxPool2d(_ outputSize: Pair) -> Tensor { adaptivePool2d(outputSize, max: true).values }

    private func adaptivePool2d(_ size: Pair, max: Bool) -> (values: Tensor, indices: Tensor) {
        let op = max ? "adaptive_max_pool2d" : "adaptive_avg_pool2d"
        check {
            try checkPoolInput(self, op: op)
            guard size.h > 0 && size.w > 0 else {
                throw EmberError.invalidArgument(op: op, message: "output size must be positive, got \(size)")
            }
        }
        let x = contiguous()
        let (h, w) = (shape[ndim - 2], shape[ndim - 1])
        let planes = shape.dropLast(2).reduce(1, *)
        let outShape = Array(shape.dropLast(2)) + [size.h, size.w]
        let out = Tensor(empty: outShape)
        let indices = max ? Tensor(empty: outShape, dtype: .int64) : Tensor.zeros([0], dtype: .int64)
        Kernels.adaptivePool2dForward(max: max, out.f32, max ? indices.i64 : nil, x.f32, planes: planes, h: h, w: w, oh: size.h, ow: size.w)
        let inShape = shape
        out.recorded(op, [x], saved: []) { g in
            let dx = Tensor(empty: inShape)
            if max {
                Kernels.indexPoolBackward(dx.f32, g.f32, indices.i64, planes: planes, inPlane: h * w, outPlane: size.h * size.w)
            } else {
                Kernels.adaptiveAvgPool2dBackward(dx.f32, g.f32, planes: planes, h: h, w: w, oh: size.h, ow: size.w)
            }
            return [dx]
        }
        return (out, indices)
    }

    // MARK: 1-D forms: (N, C, L) or (C, L), as H = 1

    /// `F.max_pool1d`.
    public func maxPool1d(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) -> Tensor {
        check { try checkPoolInput(self, op: "max_pool1d", dims: 1) }
        return unsqueezed(-2).maxPool2d(kernelSize: Pair(1, kernelSize), stride: Pair(1, stride ?? kernelSize),
                                        padding: Pair(0, padding), dilation: Pair(1, dilation), ceilMode: ceilMode).squeezed(-2)
    }

    /// `F.avg_pool1d`.
    public func avgPool1d(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false,
                          countIncludePad: Bool = true) -> Tensor {
        check { try checkPoolInput(self, op: "avg_pool1d", dims: 1) }
        return unsqueezed(-2).avgPool2d(kernelSize: Pair(1, kernelSize), stride: Pair(1, stride ?? kernelSize),
                                        padding: Pair(0, padding), ceilMode: ceilMode, countIncludePad: countIncludePad).squeezed(-2)
    }

    /// `F.adaptive_avg_pool1d`.
    public func adaptiveAvgPool1d(_ outputSize: Int) -> Tensor {
        check { try checkPoolInput(self, op: "adaptive_avg_pool1d", dims: 1) }
        return unsqueezed(-2).adaptiveAvgPool2d(Pair(1, outputSize)).squeezed(-2)
    }

    /// `F.adaptive_max_pool1d`.
    public func adaptiveMaxPool1d(_ outputSize: Int) -> Tensor {
        check { try checkPoolInput(self, op: "adaptive_max_pool1d", dims: 1) }
        return unsqueezed(-2).adaptiveMaxPool2d(Pair(1, outputSize)).squeezed(-2)
    }
}

// MARK: Interpolation

/// `F.interpolate`'s modes for 4-D input.
public enum InterpolationMode: String, Sendable {
    /// Nearest neighbour, or bilinear (PyTorch: `mode="nearest"`, `"bilinear"`).
    case nearest, bilinear
}

extension Tensor {
    /// Resamples (N, C, H, W) input to `size`, or by `scaleFactor` (PyTorch's
    /// `F.interpolate`, 4-D, nearest or bilinear; `alignCorners` for bilinear only).
    public func interpolate(size: Pair? = nil, scaleFactor: Double? = nil, mode: InterpolationMode = .nearest,
                            alignCorners: Bool? = nil) -> Tensor {
        var outH = 0, outW = 0
        check { (outH, outW) = try interpolateOutputSize(size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners) }
        let (h, w) = (shape[2], shape[3])
        let align = alignCorners ?? false
        // PyTorch's source scale: (in−1)/(out−1) with align_corners, else 1/scale_factor when
        // one was given, else in/out.
        func scale(_ inSize: Int, _ outSize: Int) -> Float {
            if mode == .bilinear && align { return outSize > 1 ? Float(inSize - 1) / Float(outSize - 1) : 0 }
            if let f = scaleFactor { return Float(1 / f) }
            return Float(inSize) / Float(outSize)
        }
        let (scaleH, scaleW) = (scale(h, outH), scale(w, outW))
        let x = contiguous()
        let planes = shape[0] * shape[1]
        let out = Tensor(empty: [shape[0], shape[1], outH, outW])
        let bilinear = mode == .bilinear
        Kernels.interpolate2d(out.f32, x.f32, planes: planes, h: h, w: w, oh: outH, ow: outW, bilinear: bilinear,
                              alignCorners: align, scaleH: scaleH, scaleW: scaleW, backward: false)
        let inShape = shape
        return out.recorded("upsample_\(mode.rawValue)2d", [x], saved: []) { g in
            let dx = Tensor(empty: inShape)
            Kernels.interpolate2d(dx.f32, g.f32, planes: planes, h: h, w: w, oh: outH, ow: outW, bilinear: bilinear,
                                  alignCorners: align, scaleH: scaleH, scaleW: scaleW, backward: true)
            return [dx]
        }
    }

    /// The checks of `interpolate` (the C kernels clamp into the input, so it must not be
    /// empty), and the output's (H, W).
    func interpolateOutputSize(size: Pair?, scaleFactor: Double?, mode: InterpolationMode, alignCorners: Bool?) throws
        -> (h: Int, w: Int) {
        try expectDType(self, .float32, op: "interpolate")
        guard ndim == 4 else {
            throw EmberError.shapeMismatch(op: "interpolate", message: "expected 4D input (got \(ndim)D input)")
        }
        guard (size == nil) != (scaleFactor == nil) else {
            throw EmberError.invalidArgument(op: "interpolate", message: "either size or scale_factor should be defined, not both")
        }
        if mode == .nearest && alignCorners != nil {
            throw EmberError.invalidArgument(op: "interpolate", message: "align_corners option can only be set with the interpolating modes: linear | bilinear | bicubic | trilinear")
        }
        let (h, w) = (shape[2], shape[3])
        guard h > 0 && w > 0 else {
            throw EmberError.invalidArgument(op: "interpolate", message:
                "Input and output sizes should be greater than 0, but got input (H: \(h), W: \(w))")
        }
        var outH = 0, outW = 0
        if let size {
            (outH, outW) = (size.h, size.w)
        } else if let f = scaleFactor {
            guard f.isFinite && f > 0 && Double(Swift.max(h, w)) * f < 0x1p62 else {
                throw EmberError.invalidArgument(op: "interpolate", message: "scale_factor must be a positive finite number, got \(f)")
            }
            (outH, outW) = (Int((Double(h) * f).rounded(.down)), Int((Double(w) * f).rounded(.down)))
        }
        guard outH > 0 && outW > 0 else {
            throw EmberError.invalidArgument(op: "interpolate", message: "output size must be positive, got (\(outH), \(outW))")
        }
        return (outH, outW)
    }
}

/// `x.maxPool2d(…)` as a free function (PyTorch: `F.max_pool2d`).
public func maxPool2d(_ x: Tensor, kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1,
                      ceilMode: Bool = false) -> Tensor {
    x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
}
/// `x.avgPool2d(…)` as a free function (PyTorch: `F.avg_pool2d`).
public func avgPool2d(_ x: Tensor, kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, ceilMode: Bool = false,
                      countIncludePad: Bool = true, divisorOverride: Int? = nil) -> Tensor {
    x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                countIncludePad: countIncludePad, divisorOverride: divisorOverride)
}
/// `x.adaptiveAvgPool2d(_:)` as a free function (PyTorch: `F.adaptive_avg_pool2d`).
public func adaptiveAvgPool2d(_ x: Tensor, _ outputSize: Pair) -> Tensor { x.adaptiveAvgPool2d(outputSize) }
/// `x.adaptiveMaxPool2d(_:)` as a free function (PyTorch: `F.adaptive_max_pool2d`).
public func adaptiveMaxPool2d(_ x: Tensor, _ outputSize: Pair) -> Tensor { x.adaptiveMaxPool2d(outputSize) }
/// `x.interpolate(…)` as a free function (PyTorch: `F.interpolate`).
public func interpolate(_ x: Tensor, size: Pair? = nil, scaleFactor: Double? = nil, mode: InterpolationMode = .nearest,
                        alignCorners: Bool? = nil) -> Tensor {
    x.interpolate(size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners)
}
