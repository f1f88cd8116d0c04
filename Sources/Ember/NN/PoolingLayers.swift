/// Pooling and resampling layers (PyTorch's `nn.MaxPool2d`, `nn.AvgPool2d`, the adaptive
/// pools, their 1-D forms and `nn.Upsample`), thin wrappers over Ops/Pooling.swift.

private func describe(_ p: Pair) -> String { p.h == p.w ? "\(p.h)" : "(\(p.h), \(p.w))" }

/// `MaxPool2d(kernelSize: 2)`: the maximum of each window; the stride defaults to the kernel.
open class MaxPool2d: Module {
    public let kernelSize: Pair, stride: Pair, padding: Pair, dilation: Pair
    public let ceilMode: Bool
    public init(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, dilation: Pair = 1, ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding, self.dilation, self.ceilMode) = (kernelSize, stride ?? kernelSize, padding, dilation, ceilMode)
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor {
        x.maxPool2d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    open override var extraDescription: String {
        "kernel_size=\(describe(kernelSize)), stride=\(describe(stride)), padding=\(describe(padding)), dilation=\(describe(dilation)), ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// `AvgPool2d(kernelSize: 2)`: the mean of each window.
open class AvgPool2d: Module {
    public let kernelSize: Pair, stride: Pair, padding: Pair
    public let ceilMode: Bool, countIncludePad: Bool
    public let divisorOverride: Int?
    public init(kernelSize: Pair, stride: Pair? = nil, padding: Pair = 0, ceilMode: Bool = false,
                countIncludePad: Bool = true, divisorOverride: Int? = nil) {
        (self.kernelSize, self.stride, self.padding) = (kernelSize, stride ?? kernelSize, padding)
        (self.ceilMode, self.countIncludePad, self.divisorOverride) = (ceilMode, countIncludePad, divisorOverride)
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor {
        x.avgPool2d(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode,
                    countIncludePad: countIncludePad, divisorOverride: divisorOverride)
    }
    open override var extraDescription: String {
        "kernel_size=\(describe(kernelSize)), stride=\(describe(stride)), padding=\(describe(padding))"
    }
}

/// `AdaptiveAvgPool2d(outputSize: 1)`: average pooling to a fixed output size (ResNet's head).
open class AdaptiveAvgPool2d: Module {
    public let outputSize: Pair
    public init(outputSize: Pair) { self.outputSize = outputSize; super.init() }
    open override func forward(_ x: Tensor) -> Tensor { x.adaptiveAvgPool2d(outputSize) }
    open override var extraDescription: String { "output_size=\(describe(outputSize))" }
}

/// `AdaptiveMaxPool2d(outputSize:)`.
open class AdaptiveMaxPool2d: Module {
    public let outputSize: Pair
    public init(outputSize: Pair) { self.outputSize = outputSize; super.init() }
    open override func forward(_ x: Tensor) -> Tensor { x.adaptiveMaxPool2d(outputSize) }
    open override var extraDescription: String { "output_size=\(describe(outputSize))" }
}

/// `MaxPool1d(kernelSize:)` over (N, C, L).
open class MaxPool1d: Module {
    public let kernelSize: Int, stride: Int, padding: Int, dilation: Int
    public let ceilMode: Bool
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, dilation: Int = 1, ceilMode: Bool = false) {
        (self.kernelSize, self.stride, self.padding, self.dilation, self.ceilMode) = (kernelSize, stride ?? kernelSize, padding, dilation, ceilMode)
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor {
        x.maxPool1d(kernelSize: kernelSize, stride: stride, padding: padding, dilation: dilation, ceilMode: ceilMode)
    }
    open override var extraDescription: String {
        "kernel_size=\(kernelSize), stride=\(stride), padding=\(padding), dilation=\(dilation), ceil_mode=\(ceilMode ? "True" : "False")"
    }
}

/// `AvgPool1d(kernelSize:)` over (N, C, L).
open class AvgPool1d: Module {
    public let kernelSize: Int, stride: Int, padding: Int
    public let ceilMode: Bool, countIncludePad: Bool
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0, ceilMode: Bool = false, countIncludePad: Bool = true) {
        (self.kernelSize, self.stride, self.padding, self.ceilMode, self.countIncludePad) = (kernelSize, stride ?? kernelSize, padding, ceilMode, countIncludePad)
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor {
        x.avgPool1d(kernelSize: kernelSize, stride: stride, padding: padding, ceilMode: ceilMode, countIncludePad: countIncludePad)
    }
    open override var extraDescription: String { "kernel_size=(\(kernelSize),), stride=(\(stride),), padding=(\(padding),)" }
}

/// `Upsample(scaleFactor: 2, mode: .bilinear)`: `interpolate` as a layer (PyTorch's `nn.Upsample`).
open class Upsample: Module {
    public let size: Pair?
    public let scaleFactor: Double?
    public let mode: InterpolationMode
    public let alignCorners: Bool?
    public init(size: Pair? = nil, scaleFactor: Double? = nil, mode: InterpolationMode = .nearest, alignCorners: Bool? = nil) {
        precondition((size == nil) != (scaleFactor == nil), "Upsample: either size or scale_factor should be defined, not both")
        (self.size, self.scaleFactor, self.mode, self.alignCorners) = (size, scaleFactor, mode, alignCorners)
        super.init()
    }
    open override func forward(_ x: Tensor) -> Tensor {
        x.interpolate(size: size, scaleFactor: scaleFactor, mode: mode, alignCorners: alignCorners)
    }
    open override var extraDescription: String {
        let what = size.map { "size=\(describe($0))" } ?? "scale_factor=\(scaleFactor!)"
        return "\(what), mode='\(mode.rawValue)'"
    }
}
