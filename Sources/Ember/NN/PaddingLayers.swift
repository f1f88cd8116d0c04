/// Padding and pixel-shuffle layers (PyTorch's `nn.ZeroPad2d` … `nn.CircularPad2d`,
/// `nn.PixelShuffle`, `nn.PixelUnshuffle`) over `Tensor.padded` and the pixel shuffles.

/// The padding layers' common part: pads W by (left, right) and H by (top, bottom) in `mode`.
open class Padding2d: Module {
    /// (left, right, top, bottom), as PyTorch stores it.
    public let padding: [Int]
    /// How the border is filled.
    public let mode: PaddingMode
    /// The fill of the constant (zeros) mode.
    public let value: Double

    /// `padding`: one size for all four sides, or (left, right, top, bottom).
    public init(_ padding: [Int], mode: PaddingMode, value: Double = 0) {
        precondition(padding.count == 1 || padding.count == 4,
                     "\(Self.self): padding is one size or (left, right, top, bottom), got \(padding)")
        self.padding = padding.count == 1 ? [Int](repeating: padding[0], count: 4) : padding
        (self.mode, self.value) = (mode, value)
        super.init()
    }

    /// `x.padded(padding, mode:value:)`.
    open override func forward(_ x: Tensor) -> Tensor { x.padded(padding, mode: mode, value: value) }

    /// The text inside the layer's parentheses when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { Module.pythonTuple(padding) }
}

/// Pads with zeros (PyTorch's `nn.ZeroPad2d`).
open class ZeroPad2d: Padding2d {
    /// PyTorch: `nn.ZeroPad2d(padding)`: one size, or (left, right, top, bottom).
    public init(_ padding: Int...) { super.init(padding, mode: .zeros) }
}

/// Pads with a constant (PyTorch's `nn.ConstantPad2d`).
open class ConstantPad2d: Padding2d {
    /// PyTorch: `nn.ConstantPad2d(padding, value)`.
    public init(_ padding: [Int], value: Double) { super.init(padding, mode: .zeros, value: value) }
    /// One size for all four sides.
    public convenience init(_ padding: Int, value: Double) { self.init([padding], value: value) }
    /// The text inside `ConstantPad2d(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "padding=\(Module.pythonTuple(padding)), value=\(Module.pythonFloat(value))" }
}

/// Pads with the mirror image of the border, the edge itself not repeated (PyTorch's
/// `nn.ReflectionPad2d`).
open class ReflectionPad2d: Padding2d {
    /// PyTorch: `nn.ReflectionPad2d(padding)`: one size, or (left, right, top, bottom).
    public init(_ padding: Int...) { super.init(padding, mode: .reflect) }
}

/// Pads by repeating the edge (PyTorch's `nn.ReplicationPad2d`).
open class ReplicationPad2d: Padding2d {
    /// PyTorch: `nn.ReplicationPad2d(padding)`: one size, or (left, right, top, bottom).
    public init(_ padding: Int...) { super.init(padding, mode: .replicate) }
}

/// Pads by wrapping around (PyTorch's `nn.CircularPad2d`).
open class CircularPad2d: Padding2d {
    /// PyTorch: `nn.CircularPad2d(padding)`: one size, or (left, right, top, bottom).
    public init(_ padding: Int...) { super.init(padding, mode: .circular) }
}

/// (…, C·r², H, W) → (…, C, H·r, W·r) (PyTorch's `nn.PixelShuffle`), e.g. for sub-pixel
/// upsampling.
open class PixelShuffle: Module {
    /// r.
    public let upscaleFactor: Int
    /// PyTorch: `nn.PixelShuffle(upscale_factor)`.
    public init(_ upscaleFactor: Int) {
        self.upscaleFactor = upscaleFactor
        super.init()
    }
    /// `x.pixelShuffled(upscaleFactor)`.
    open override func forward(_ x: Tensor) -> Tensor { x.pixelShuffled(upscaleFactor) }
    /// The text inside `PixelShuffle(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "upscale_factor=\(upscaleFactor)" }
}

/// (…, C, H·r, W·r) → (…, C·r², H, W) (PyTorch's `nn.PixelUnshuffle`).
open class PixelUnshuffle: Module {
    /// r.
    public let downscaleFactor: Int
    /// PyTorch: `nn.PixelUnshuffle(downscale_factor)`.
    public init(_ downscaleFactor: Int) {
        self.downscaleFactor = downscaleFactor
        super.init()
    }
    /// `x.pixelUnshuffled(downscaleFactor)`.
    open override func forward(_ x: Tensor) -> Tensor { x.pixelUnshuffled(downscaleFactor) }
    /// The text inside `PixelUnshuffle(...)` when printed (PyTorch's `extra_repr`).
    open override var extraDescription: String { "downscale_factor=\(downscaleFactor)" }
}
