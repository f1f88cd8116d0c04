/// Pooling and resampling layers (PyTorch's `nn.MaxPool2d`, `nn.AvgPool2d`, the adaptive
/// pools, their 1-D forms and `nn.Upsample`), thin wrappers over Ops/Pooling.swift.

private func describe(_ p: Pair) -> String { p.h == p.w ? "\(p.h)" : "(\(p.h), \(p.w))" }

/// `MaxPool2d(kernelSize: 2)`: the maximum of each window; the stride defaults to the kernel.
///
/// PyTorch: `nn.MaxPool2d`.
open class MaxPool2d: Module {
    /// Window size, step (the kernel size when not given), implicit -inf padding and spacing of window elements.
    public let kernelSize: Pair, stride: Pair, padding: Pair, dilation: Pair
    /// Rounds the output size up instead of down (PyTorch: `ceil_mode`).
    public let ceilMode: Bool
    /// PyTorch: `nn.MaxPool2d(kernel_size, stride, padding, dilation, ceil_mode)`.
    public init(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1, ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding, self.dilation, self.ceilMode) = (kernelSize, stride ?? kernelSize, padding, dilation, ceilMode)
        super.init()
    }
    /// Max pooling of (N, C, H, W) or (C, H, W).
    open override func forward(_ x: Tensor) -> Tensor {
        x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    /// The text inside `MaxPool2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        "kernel_size=\(describe(kernelSize)), stride=\(describe(stride)), padding=\(describe(padding)), dilation=\(describe(dilation)), ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// `AvgPool2d(kernelSize: 2)`: the mean of each window.
///
/// PyTorch: `nn.AvgPool2d`.
open class AvgPool2d: Module {
    /// Window size, step (the kernel size when not given) and implicit zero padding.
    public let kernelSize: Pair, stride: Pair, padding: Pair
    /// Round the output size up (`ceil_mode`); count padding zeros in each mean (`count_include_pad`).
    public let ceilMode: Bool, countIncludePad: Bool
    /// Divide each window's sum by this instead of the window size (PyTorch: `divisor_override`).
    public let divisorOverride: Int?
    /// PyTorch: `nn.AvgPool2d(kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)`.
    public init(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, ceilMode: Bool = false,
                countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride ?? kernelSize, padding)
        (self.ceilMode, self.countIncludePad, self.divisorOverride) = (ceilMode, countIncludePad, divisorOverride)
        super.init()
    }
    /// Average pooling of (N, C, H, W) or (C, H, W).
    open override func forward(_ x: Tensor) -> Tensor {
        x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                    countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }
    /// The text inside `AvgPool2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        "kernel_size=\(describe(kernelSize)), stride=\(describe(stride)), padding=\(describe(padding))"
    }
}

/// `AdaptiveAvgPool2d(outputSize: 1)`: average pooling to a fixed output size (ResNet's head).
///
/// PyTorch: `nn.AdaptiveAvgPool2d`.
open class AdaptiveAvgPool2d: Module {
    /// The (H, W) of the output.
    public let outputSize: Pair
    /// PyTorch: `nn.AdaptiveAvgPool2d(output_size)`.
    public init(outputSize: Pair) { self.outputSize = outputSize; super.init() }
    /// Adaptive average pooling of (N, C, H, W) or (C, H, W) to `outputSize`.
    open override func forward(_ x: Tensor) -> Tensor { x.adaptiveAvgPool2d(outputSize) }
    /// The text inside `AdaptiveAvgPool2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "output_size=\(describe(outputSize))" }
}

/// `AdaptiveMaxPool2d(outputSize:)`.
///
/// PyTorch: `nn.AdaptiveMaxPool2d`.
open class AdaptiveMaxPool2d: Module {
    /// The (H, W) of the output.
    public let outputSize: Pair
    /// PyTorch: `nn.AdaptiveMaxPool2d(output_size)`.
    public init(outputSize: Pair) { self.outputSize = outputSize; super.init() }
    /// Adaptive max pooling of (N, C, H, W) or (C, H, W) to `outputSize`.
    open override func forward(_ x: Tensor) -> Tensor { x.adaptiveMaxPool2d(outputSize) }
    /// The text inside `AdaptiveMaxPool2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "output_size=\(describe(outputSize))" }
}

/// `MaxPool1d(kernelSize:)` over (N, C, L).
///
/// PyTorch: `nn.MaxPool1d`.
open class MaxPool1d: Module {
    /// Window length, step (the kernel size when not given), implicit -inf padding and spacing of window elements.
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int
    /// Rounds the output length up instead of down (PyTorch: `ceil_mode`).
    public let ceilMode: Bool
    /// PyTorch: `nn.MaxPool1d(kernel_size, stride, padding, dilation, ceil_mode)`.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding, self.dilation, self.ceilMode) = (kernelSize, stride ?? kernelSize, padding, dilation, ceilMode)
        super.init()
    }
    /// Max pooling of (N, C, L) or (C, L).
    open override func forward(_ x: Tensor) -> Tensor {
        x.maxPool1d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    /// The text inside `MaxPool1d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// `AvgPool1d(kernelSize:)` over (N, C, L).
///
/// PyTorch: `nn.AvgPool1d`.
open class AvgPool1d: Module {
    /// Window length, step (the kernel size when not given) and implicit zero padding.
    public let kernelSize: Int, stride: Int, padding: Int
    /// Round the output length up (`ceil_mode`); count padding zeros in each mean (`count_include_pad`).
    public let ceilMode: Bool, countIncludePad: Bool
    /// PyTorch: `nn.AvgPool1d(kernel_size, stride, padding, ceil_mode, count_include_pad)`.
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        (self.kernelSize, self.stride, self.padding, self.ceilMode, self.countIncludePad) = (kernelSize, stride ?? kernelSize, padding, ceilMode, countIncludePad)
        super.init()
    }
    /// Average pooling of (N, C, L) or (C, L).
    open override func forward(_ x: Tensor) -> Tensor {
        x.avgPool1d(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }
    /// The text inside `AvgPool1d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "kernel_size=(\(kernelSize),), stride=(\(stride),), padding=(\(padding),)" }
}

/// `Upsample(scaleFactor: 2, mode: .bilinear)`: `interpolate` as a layer (PyTorch's `nn.Upsample`).
open class Upsample: Module {
    /// The output size, or nil when `scaleFactor` gives it.
    public let size: Pair?
    /// The factor the spatial size is multiplied by, or nil when `size` is given.
    public let scaleFactor: Double?
    /// How values are interpolated: `.nearest` or `.bilinear`.
    public let mode: InterpolationMode
    /// Align the corner pixels of input and output (the linear modes only; PyTorch: `align_corners`).
    public let alignCorners: Bool?
    /// PyTorch: `nn.Upsample(size, scale_factor, mode, align_corners)`; give `size` or `scaleFactor`.
    public init(size: Pair? = nil, scaleFactor: Double? = nil, mode: InterpolationMode = .nearest, alignCorners: Bool? = nil) {
        precondition((size == nil) != (scaleFactor == nil), "Upsample: either size or scale_factor should be defined, not both")
        (self.size, self.scaleFactor, self.mode, self.alignCorners) = (size, scaleFactor, mode, alignCorners)
        super.init()
    }
    /// `interpolate(x, …)` with this layer's settings.
    open override func forward(_ x: Tensor) -> Tensor {
        x.interpolate(size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners)
    }
    /// The text inside `Upsample(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String {
        let what = size.map { "size=\(describe($0))" } ?? "scale_factor=\(scaleFactor!)"
        return "\(what), mode='\(mode.rawValue)'"
    }
}
