import Foundation

// torchvision.transforms.v2's image transforms, camelCased, on `[…, C, H, W]` tensors of
// uint8 (as `readImage` gives) or float32 (in [0, 1] after `ToDtype(.float32, scale: true)`).
// Random ones draw from `SampleRandom`: inside a DataLoader each sample has its own seeded
// stream, so the augmented batch does not depend on the number of workers.

/// How `Pad`, `RandomCrop` and `CenterCrop` fill outside the image (torchvision's
/// `padding_mode`).
public enum ImagePaddingMode: String, Sendable {
    /// `fill` everywhere outside.
    case constant
    /// The nearest edge pixel repeated.
    case edge
    /// Mirrored without repeating the edge: `2 1 | 0 1 2 | 1 0`.
    case reflect
    /// Mirrored with the edge repeated: `1 0 | 0 1 2 | 2 1`.
    case symmetric
}

/// The planes of an image tensor: (planes, H, W), checking the dtype.
func imageGeometry(_ x: Tensor, op: String) throws -> (planes: Int, h: Int, w: Int) {
    guard x.ndim >= 2, x.dtype == .float32 || x.dtype == .uint8 else {
        throw EmberError.invalidArgument(op: op, message: "expected a uint8 or float32 image tensor [..., H, W], got \(x.dtype) \(x.shape)")
    }
    let h = x.shape[x.ndim - 2], w = x.shape[x.ndim - 1]
    return (h * w == 0 ? 0 : x.count / (h * w), h, w)
}

/// Index `i` of a padded axis of length `n` mapped into [0, n), or nil for `constant`.
@inline(__always)
func paddedIndex(_ i: Int, _ n: Int, _ mode: ImagePaddingMode) -> Int? {
    if i >= 0 && i < n { return i }
    switch mode {
    case .constant: return nil
    case .edge: return i < 0 ? 0 : n - 1
    case .reflect:
        if n == 1 { return 0 }
        let period = 2 * (n - 1)
        let m = ((i % period) + period) % period
        return m < n ? m : period - m
    case .symmetric:
        let period = 2 * n
        let m = ((i % period) + period) % period
        return m < n ? m : period - 1 - m
    }
}

/// The `height × width` window at (`top`, `left`) of every plane, where the window may reach
/// outside the image (filled per `mode`). The core of crops and pads.
func cropWindow(_ x: Tensor, top: Int, left: Int, height: Int, width: Int, mode: ImagePaddingMode = .constant,
                fill: Double = 0) -> Tensor {
    let (h, w) = (x.shape[x.ndim - 2], x.shape[x.ndim - 1])
    let planes = h * w == 0 ? 0 : x.count / (h * w)
    let x = x.contiguous()
    let out = Tensor(empty: Array(x.shape.dropLast(2)) + [height, width], dtype: x.dtype)
    let size = x.dtype.itemSize
    let fillBytes: [UInt8] = x.dtype == .uint8
        ? [UInt8(clamping: Int(fill.rounded(.towardZero)))]
        : withUnsafeBytes(of: Float(fill)) { Array($0) }
    let cols = (0..<width).map { paddedIndex(left + $0, w, mode) }
    let inside = left >= 0 && left + width <= w
    for p in 0..<planes {
        let src = x.raw + p * h * w * size, dst = out.raw + p * height * width * size
        for i in 0..<height {
            let row = dst + i * width * size
            guard let r = paddedIndex(top + i, h, mode) else {
                for j in 0..<width { (row + j * size).copyMemory(from: fillBytes, byteCount: size) }
                continue
            }
            let srow = src + r * w * size
            if inside {
                row.copyMemory(from: srow + left * size, byteCount: width * size)
                continue
            }
            for j in 0..<width {
                if let c = cols[j] {
                    (row + j * size).copyMemory(from: srow + c * size, byteCount: size)
                } else {
                    (row + j * size).copyMemory(from: fillBytes, byteCount: size)
                }
            }
        }
    }
    return out
}

// MARK: - Resize

/// The output size of torchvision's `Resize`: `[h, w]` as given, or one number for the
/// shorter side with the aspect ratio kept (longer side truncated), bounded by `maxSize`.
func resizedSize(h: Int, w: Int, size: [Int], maxSize: Int?) -> (Int, Int) {
    if size.count == 2 { return (size[0], size[1]) }
    let (short, long) = h <= w ? (h, w) : (w, h)
    var newShort = size[0], newLong = Int(Double(size[0]) * Double(long) / Double(short))
    if let maxSize, newLong > maxSize {
        newShort = Int(Double(maxSize) * Double(newShort) / Double(newLong))
        newLong = maxSize
    }
    return h <= w ? (newShort, newLong) : (newLong, newShort)
}

/// Resamples planes to `(oh, ow)`: bilinear (antialiased by default, as torchvision's v2)
/// or nearest.
func resizeImage(_ x: Tensor, oh: Int, ow: Int, interpolation: InterpolationMode, antialias: Bool, op: String) throws -> Tensor {
    let (planes, h, w) = try imageGeometry(x, op: op)
    guard oh > 0, ow > 0 else {
        throw EmberError.invalidArgument(op: op, message: "output size must be positive, got (\(oh), \(ow))")
    }
    guard h > 0, w > 0 else { throw EmberError.invalidArgument(op: op, message: "cannot resize an empty image \(x.shape)") }
    if oh == h && ow == w { return x }
    let x = x.contiguous()
    let out = Tensor(empty: Array(x.shape.dropLast(2)) + [oh, ow], dtype: x.dtype)
    switch (interpolation, x.dtype) {
    case (.nearest, .uint8):
        Kernels.resizeNearest(out.u8, x.u8, planes: planes, h: h, w: w, oh: oh, ow: ow)
    case (.nearest, _):
        Kernels.interpolate2d(out.f32, x.f32, planes: planes, h: h, w: w, oh: oh, ow: ow, bilinear: false,
                              alignCorners: false, scaleH: Float(h) / Float(oh), scaleW: Float(w) / Float(ow), backward: false)
    case (.bilinear, .uint8):
        guard Kernels.resizeAA(out.u8, x.u8, planes: planes, h: h, w: w, oh: oh, ow: ow, antialias: antialias) else {
            throw EmberError.invalidArgument(op: op, message: "out of memory resizing \(x.shape) to (\(oh), \(ow))")
        }
    case (.bilinear, _):
        if !antialias {   // PyTorch's upsample_bilinear2d, bit for bit
            Kernels.interpolate2d(out.f32, x.f32, planes: planes, h: h, w: w, oh: oh, ow: ow, bilinear: true,
                                  alignCorners: false, scaleH: Float(h) / Float(oh), scaleW: Float(w) / Float(ow), backward: false)
        } else if !Kernels.resizeAA(out.f32, x.f32, planes: planes, h: h, w: w, oh: oh, ow: ow, antialias: true) {
            throw EmberError.invalidArgument(op: op, message: "out of memory resizing \(x.shape) to (\(oh), \(ow))")
        }
    }
    return out
}

/// Resizes to `size` (torchvision's `Resize`): `Resize(256)` scales the shorter side to 256
/// keeping the aspect ratio, `Resize((224, 224))` gives exactly that. Bilinear with
/// antialiasing by default (v2's default), or nearest.
public struct Resize: Transform {
    /// `[shorter side]` or `[height, width]`.
    public let size: [Int]
    /// Bilinear (default) or nearest.
    public let interpolation: InterpolationMode
    /// Upper bound on the longer side when `size` is one number; nil: none.
    public let maxSize: Int?
    /// Whether bilinear downscaling is antialiased (default true, as v2's); nearest ignores it.
    public let antialias: Bool

    /// Scales the shorter side to `size`, keeping the aspect ratio, the longer side at most `maxSize`.
    /// PyTorch: `torchvision.transforms.v2.Resize(size, interpolation, max_size, antialias)`.
    public init(_ size: Int, interpolation: InterpolationMode = .bilinear, maxSize: Int? = nil, antialias: Bool = true) {
        precondition(size > 0, "Resize: size must be positive, got \(size)")
        self.size = [size]
        self.interpolation = interpolation
        self.maxSize = maxSize
        self.antialias = antialias
    }

    /// Resizes to exactly `size` (PyTorch: `Resize((h, w))`).
    public init(_ size: (height: Int, width: Int), interpolation: InterpolationMode = .bilinear, antialias: Bool = true) {
        precondition(size.height > 0 && size.width > 0, "Resize: size must be positive, got \(size)")
        self.size = [size.height, size.width]
        self.interpolation = interpolation
        maxSize = nil
        self.antialias = antialias
    }

    /// `x` (uint8 or float32 `[…, H, W]`) resampled to the output size, or `x` itself when it
    /// already has that size; throws on another dtype, an empty image or an empty output size.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "Resize")
        let (oh, ow) = resizedSize(h: h, w: w, size: size, maxSize: maxSize)
        return try resizeImage(x, oh: oh, ow: ow, interpolation: interpolation, antialias: antialias, op: "Resize")
    }
}

// MARK: - Crops and pads

/// Cuts the central `size` window (torchvision's `CenterCrop`); an image smaller than the
/// window is padded with zeros first.
public struct CenterCrop: Transform {
    /// Rows of the output.
    public let height: Int
    /// Columns of the output.
    public let width: Int

    /// A `size × size` crop (PyTorch: `torchvision.transforms.v2.CenterCrop(size)`).
    public init(_ size: Int) { self.init((size, size)) }
    /// A `height × width` crop (PyTorch: `CenterCrop((h, w))`).
    public init(_ size: (height: Int, width: Int)) {
        precondition(size.height > 0 && size.width > 0, "CenterCrop: size must be positive, got \(size)")
        height = size.height
        width = size.width
    }

    /// The central window of `x`, zero-padded where the image is smaller; throws when `x` is
    /// not a uint8 or float32 image tensor.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "CenterCrop")
        // torchvision pads (crop - size) // 2 before, then crops at round((padded - crop) / 2).
        let padTop = height > h ? (height - h) / 2 : 0, padLeft = width > w ? (width - w) / 2 : 0
        let ph = max(h, height), pw = max(w, width)
        let top = Int((Double(ph - height) / 2).rounded(.toNearestOrEven)) - padTop
        let left = Int((Double(pw - width) / 2).rounded(.toNearestOrEven)) - padLeft
        return cropWindow(x, top: top, left: left, height: height, width: width)
    }
}

/// Pads every side (torchvision's `Pad`): `padding` is one number for all sides, two for
/// (left/right, top/bottom) or four for (left, top, right, bottom).
public struct Pad: Transform {
    /// Padding per side, in pixels.
    public let left: Int, top: Int, right: Int, bottom: Int
    /// The value of `.constant` padding (truncated and clamped to 0…255 for uint8 images).
    public let fill: Double
    /// How the border is filled: `.constant`, `.edge`, `.reflect` or `.symmetric`.
    public let paddingMode: ImagePaddingMode

    /// `padding`: one amount for every side, two for (left/right, top/bottom) or four for
    /// (left, top, right, bottom), none negative.
    /// PyTorch: `torchvision.transforms.v2.Pad(padding, fill, padding_mode)`.
    public init(_ padding: [Int], fill: Double = 0, paddingMode: ImagePaddingMode = .constant) {
        precondition([1, 2, 4].contains(padding.count), "Pad: padding must have 1, 2 or 4 elements, got \(padding.count)")
        precondition(padding.allSatisfy { $0 >= 0 }, "Pad: padding must be non-negative, got \(padding)")
        let p = padding.count == 1 ? Array(repeating: padding[0], count: 4)
            : padding.count == 2 ? [padding[0], padding[1], padding[0], padding[1]] : padding
        (left, top, right, bottom) = (p[0], p[1], p[2], p[3])
        self.fill = fill
        self.paddingMode = paddingMode
    }

    /// `x` padded on every side; throws when reflect padding is not smaller than the image.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "Pad")
        if paddingMode == .reflect && (max(left, right) >= w || max(top, bottom) >= h) {
            throw EmberError.invalidArgument(op: "Pad", message: "reflect padding (\(left), \(top), \(right), \(bottom)) must be smaller than the image (\(h), \(w))")
        }
        return cropWindow(x, top: -top, left: -left, height: h + top + bottom, width: w + left + right,
                          mode: paddingMode, fill: fill)
    }
}

/// Cuts a random area of the image with a random aspect ratio and resizes it to `size`
/// (torchvision's `RandomResizedCrop`, the ImageNet training crop).
public struct RandomResizedCrop: Transform {
    /// Rows of the output.
    public let height: Int
    /// Columns of the output.
    public let width: Int
    /// The (min, max) fraction of the image's area the crop covers, drawn uniformly.
    public let scale: (Double, Double)
    /// The (min, max) aspect ratio (width / height) of the crop, drawn log-uniformly.
    public let ratio: (Double, Double)
    /// How the crop is resized: bilinear (default) or nearest.
    public let interpolation: InterpolationMode
    /// Whether bilinear downscaling is antialiased (default true).
    public let antialias: Bool
    let generator: Generator?

    /// A `size × size` output; `generator`: randomness outside a `DataLoader` (default: the global one).
    /// PyTorch: `torchvision.transforms.v2.RandomResizedCrop(size, scale, ratio, interpolation, antialias)`.
    public init(_ size: Int, scale: (Double, Double) = (0.08, 1), ratio: (Double, Double) = (3.0 / 4, 4.0 / 3),
                interpolation: InterpolationMode = .bilinear, antialias: Bool = true, generator: Generator? = nil) {
        self.init((size, size), scale: scale, ratio: ratio, interpolation: interpolation, antialias: antialias, generator: generator)
    }

    /// A `height × width` output; `scale` and `ratio` are (min, max) ranges, the ratio's bounds positive.
    public init(_ size: (height: Int, width: Int), scale: (Double, Double) = (0.08, 1),
                ratio: (Double, Double) = (3.0 / 4, 4.0 / 3), interpolation: InterpolationMode = .bilinear,
                antialias: Bool = true, generator: Generator? = nil) {
        precondition(size.height > 0 && size.width > 0, "RandomResizedCrop: size must be positive, got \(size)")
        precondition(scale.0 <= scale.1 && ratio.0 <= ratio.1 && ratio.0 > 0, "RandomResizedCrop: scale and ratio should be of kind (min, max)")
        height = size.height
        width = size.width
        self.scale = scale
        self.ratio = ratio
        self.interpolation = interpolation
        self.antialias = antialias
        self.generator = generator
    }

    /// torchvision's `get_params`: up to 10 tries at a window of the drawn area and ratio
    /// that fits, else the largest central window within the ratio bounds.
    public func parameters(height h: Int, width w: Int) -> (top: Int, left: Int, height: Int, width: Int) {
        let area = Double(h * w)
        let logRatio = (Kernels.log(ratio.0), Kernels.log(ratio.1))
        for _ in 0..<10 {
            let target = area * (scale.0 + (scale.1 - scale.0) * SampleRandom.uniform(generator))
            let aspect = Kernels.exp(logRatio.0 + (logRatio.1 - logRatio.0) * SampleRandom.uniform(generator))
            let cw = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let ch = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            if cw > 0 && cw <= w && ch > 0 && ch <= h {
                let top = SampleRandom.int(below: h - ch + 1, generator)
                let left = SampleRandom.int(below: w - cw + 1, generator)
                return (top, left, ch, cw)
            }
        }
        let inRatio = Double(w) / Double(h)
        var (cw, ch) = (w, h)
        if inRatio < ratio.0 {
            ch = Int((Double(w) / ratio.0).rounded(.toNearestOrEven))
        } else if inRatio > ratio.1 {
            cw = Int((Double(h) * ratio.1).rounded(.toNearestOrEven))
        }
        return ((h - ch) / 2, (w - cw) / 2, ch, cw)
    }

    /// A window from `parameters(height:width:)` resized to `height × width`; with bilinear
    /// interpolation a uint8 image is resized straight from the window, without copying it first.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "RandomResizedCrop")
        let p = parameters(height: h, width: w)
        if x.dtype == .uint8 && interpolation == .bilinear && (p.height != height || p.width != width) {
            // Resized straight from the window: no copy of the crop.
            let x = x.contiguous()
            let planes = x.count / (h * w)
            let out = Tensor(empty: Array(x.shape.dropLast(2)) + [height, width], dtype: .uint8)
            guard Kernels.resizeAAWindow(out.u8, x.u8 + p.top * w + p.left, planes: planes, planeStride: h * w, rowStride: w,
                                         h: p.height, w: p.width, oh: height, ow: width, antialias: antialias) else {
                throw EmberError.invalidArgument(op: "RandomResizedCrop", message: "out of memory resizing \(x.shape) to (\(height), \(width))")
            }
            return out
        }
        let crop = cropWindow(x, top: p.top, left: p.left, height: p.height, width: p.width)
        return try resizeImage(crop, oh: height, ow: width, interpolation: interpolation, antialias: antialias,
                               op: "RandomResizedCrop")
    }
}

extension RandomResizedCrop {
    /// The transform of the RGB image in `path`, decoding only the crop's window: the same
    /// draws and the same bytes as `self(readImage(path, mode: .rgb))`.
    func loadCropped(_ path: String) throws -> Tensor {
        let crop = try readImageWindow(path, mode: .rgb) { h, w in parameters(height: h, width: w) }
        return try resizeImage(crop, oh: height, ow: width, interpolation: interpolation, antialias: antialias,
                               op: "RandomResizedCrop")
    }
}

/// Mirrors a `[…, H, W]` tensor top–bottom with probability `p`.
public struct RandomVerticalFlip: Transform {
    /// The probability of flipping.
    public let p: Double
    let generator: Generator?

    /// `generator`: randomness outside a `DataLoader` (default: the global one).
    /// PyTorch: `torchvision.transforms.v2.RandomVerticalFlip(p)`.
    public init(p: Double = 0.5, generator: Generator? = nil) {
        self.p = p
        self.generator = generator
    }

    /// `x` mirrored top–bottom with probability `p`, else `x`; throws when `x` is not an image tensor.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (planes, h, w) = try imageGeometry(x, op: "RandomVerticalFlip")
        guard SampleRandom.uniform(generator) < p else { return x }
        let x = x.contiguous()
        let out = Tensor(empty: x.shape, dtype: x.dtype)
        let row = w * x.dtype.itemSize
        for p in 0..<planes {
            for i in 0..<h {
                (out.raw + (p * h + i) * row).copyMemory(from: x.raw + (p * h + h - 1 - i) * row, byteCount: row)
            }
        }
        return out
    }
}

/// Mirrors every row of the planes (the flip itself, for `RandomHorizontalFlip`).
func flipRows(_ x: Tensor) -> Tensor {
    let w = x.shape[x.ndim - 1]
    let x = x.contiguous()
    let out = Tensor(empty: x.shape, dtype: x.dtype)
    if w == 0 { return out }
    if x.dtype.itemSize == 1 || x.dtype.itemSize == 4 {
        Kernels.flipRows(out.raw, x.raw, rows: x.count / w, w: w, itemSize: x.dtype.itemSize)
        return out
    }
    let size = x.dtype.itemSize
    for r in 0..<(x.count / w) {
        for j in 0..<w { (out.raw + (r * w + j) * size).copyMemory(from: x.raw + (r * w + w - 1 - j) * size, byteCount: size) }
    }
    return out
}

// MARK: - Colour

/// Luma `0.2989 R + 0.587 G + 0.114 B` of `[…, 3, H, W]`, repeated to `numOutputChannels`
/// (torchvision's `Grayscale`); uint8 truncates, as torchvision's.
public struct Grayscale: Transform {
    /// 1, or 3 (the luma repeated).
    public let numOutputChannels: Int

    /// `numOutputChannels` must be 1 or 3.
    /// PyTorch: `torchvision.transforms.v2.Grayscale(num_output_channels)`.
    public init(numOutputChannels: Int = 1) {
        precondition(numOutputChannels == 1 || numOutputChannels == 3, "Grayscale: numOutputChannels should be either 1 or 3")
        self.numOutputChannels = numOutputChannels
    }

    /// The luma of `x` (a single channel taken as it is), repeated to `numOutputChannels`; throws
    /// unless `x` is a uint8 or float32 `[…, 1 or 3, H, W]` tensor.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "Grayscale")
        guard x.ndim >= 3, x.shape[x.ndim - 3] == 3 || x.shape[x.ndim - 3] == 1 else {
            throw EmberError.invalidArgument(op: "Grayscale", message: "expected 1 or 3 channels [..., C, H, W], got \(x.shape)")
        }
        let c = x.shape[x.ndim - 3]
        let x = x.contiguous()
        let n = h * w, images = x.count / (c * n)
        let out = Tensor(empty: Array(x.shape.dropLast(3)) + [numOutputChannels, h, w], dtype: x.dtype)
        for b in 0..<images {
            for i in 0..<n {
                let v: Float
                if x.dtype == .uint8 {
                    let p = x.u8 + b * c * n + i
                    v = c == 1 ? Float(p[0]) : grey(Float(p[0]), Float(p[n]), Float(p[2 * n]))
                    let g = UInt8(Swift.min(Swift.max(v, 0), 255))   // truncated, as torchvision's .to(uint8)
                    for k in 0..<numOutputChannels { out.u8[(b * numOutputChannels + k) * n + i] = g }
                } else {
                    let p = x.f32 + b * c * n + i
                    v = c == 1 ? p[0] : grey(p[0], p[n], p[2 * n])
                    for k in 0..<numOutputChannels { out.f32[(b * numOutputChannels + k) * n + i] = v }
                }
            }
        }
        return out
    }
}

/// Converts the dtype (torchvision's `ToDtype`): with `scale`, uint8 [0, 255] ↔ float
/// [0, 1] (float → uint8 is `trunc(x · 255.999)`, as torchvision).
public struct ToDtype: Transform {
    /// The dtype converted to.
    public let dtype: DType
    /// Whether uint8 [0, 255] and float32 [0, 1] values are rescaled into each other.
    public let scale: Bool

    /// PyTorch: `torchvision.transforms.v2.ToDtype(dtype, scale)`.
    public init(_ dtype: DType, scale: Bool = false) {
        self.dtype = dtype
        self.scale = scale
    }

    /// `x` in `dtype` (`x` itself when it already is); pairs other than uint8 ↔ float32 are
    /// converted as `x.type(dtype)` even with `scale`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        if x.dtype == dtype { return x }
        guard scale else { return x.type(dtype) }
        switch (x.dtype, dtype) {
        case (.uint8, .float32):
            let x = x.contiguous()
            let out = Tensor(empty: x.shape)
            Kernels.u8ToF32(out.f32, x.u8, x.count, 1 / 255, 0)
            return out
        case (.float32, .uint8):
            let x = x.contiguous()
            let out = Tensor(empty: x.shape, dtype: .uint8)
            for i in 0..<x.count {
                let v = x.f32[i] * (255 + 1 - 1e-3)
                out.u8[i] = v.isNaN ? 0 : UInt8(Swift.min(Swift.max(v, 0), 255))
            }
            return out
        default:
            return x.type(dtype)
        }
    }
}

// MARK: - Erasing

/// Blanks a random rectangle with probability `p` (torchvision's `RandomErasing`, applied
/// after normalisation in the usual recipe): area a `scale` fraction of the image, aspect
/// ratio from `ratio` (log-uniform), filled with `value` (one per channel, or one for all).
public struct RandomErasing: Transform {
    /// The probability of erasing.
    public let p: Double
    /// The (min, max) fraction of the image's area erased, drawn uniformly.
    public let scale: (Double, Double)
    /// The (min, max) aspect ratio (height / width) of the rectangle, drawn log-uniformly.
    public let ratio: (Double, Double)
    /// The fill: one value for all channels, or one per channel.
    public let value: [Double]
    let generator: Generator?

    /// `p` in [0, 1], `value` not empty; `generator`: randomness outside a `DataLoader` (default: the global one).
    /// PyTorch: `torchvision.transforms.v2.RandomErasing(p, scale, ratio, value)`.
    public init(p: Double = 0.5, scale: (Double, Double) = (0.02, 0.33), ratio: (Double, Double) = (0.3, 3.3),
                value: [Double] = [0], generator: Generator? = nil) {
        precondition(p >= 0 && p <= 1, "RandomErasing: p should be between 0 and 1")
        precondition(scale.0 <= scale.1 && ratio.0 <= ratio.1, "RandomErasing: scale and ratio should be of kind (min, max)")
        precondition(!value.isEmpty, "RandomErasing: value must not be empty")
        self.p = p
        self.scale = scale
        self.ratio = ratio
        self.value = value
        self.generator = generator
    }

    /// The rectangle to erase (torchvision's `get_params`), nil when 10 tries found none.
    public func parameters(height h: Int, width w: Int) -> (top: Int, left: Int, height: Int, width: Int)? {
        let area = Double(h * w)
        let logRatio = (Kernels.log(ratio.0), Kernels.log(ratio.1))
        for _ in 0..<10 {
            let target = area * (scale.0 + (scale.1 - scale.0) * SampleRandom.uniform(generator))
            let aspect = Kernels.exp(logRatio.0 + (logRatio.1 - logRatio.0) * SampleRandom.uniform(generator))
            let eh = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
            let ew = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
            guard eh < h && ew < w else { continue }
            return (SampleRandom.int(below: h - eh + 1, generator), SampleRandom.int(below: w - ew + 1, generator), eh, ew)
        }
        return nil
    }

    /// `x` with a rectangle from `parameters(height:width:)` set to `value`, with probability `p`
    /// (else, or when no rectangle fits, `x`); throws when `value` has neither one entry nor one per channel.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "RandomErasing")
        guard SampleRandom.uniform(generator) < p, let r = parameters(height: h, width: w) else { return x }
        return try erase(x, top: r.top, left: r.left, height: r.height, width: r.width, value: value)
    }
}

/// `x` with the rectangle set to `value` per channel (torchvision's `F.erase`).
func erase(_ x: Tensor, top: Int, left: Int, height: Int, width: Int, value: [Double]) throws -> Tensor {
    let (planes, h, w) = try imageGeometry(x, op: "erase")
    let c = x.ndim >= 3 ? x.shape[x.ndim - 3] : 1
    guard value.count == 1 || value.count == c else {
        throw EmberError.invalidArgument(op: "RandomErasing", message: "\(value.count) values for \(c) channels")
    }
    let out = Tensor(empty: x.shape, dtype: x.dtype)
    out.raw.copyMemory(from: x.contiguous().raw, byteCount: x.count * x.dtype.itemSize)
    for p in 0..<planes {
        let v = value.count == 1 ? value[0] : value[p % c]
        for i in top..<(top + height) {
            for j in left..<(left + width) {
                if x.dtype == .uint8 { out.u8[(p * h + i) * w + j] = UInt8(clamping: Int(v)) } else { out.f32[(p * h + i) * w + j] = Float(v) }
            }
        }
    }
    return out
}

// MARK: - Composition

/// Applies all `transforms` in order with probability `p`, else none (torchvision's
/// `RandomApply`).
public struct RandomApply: Transform {
    let steps: [any Transform]
    /// The probability of applying the transforms.
    public let p: Double
    let generator: Generator?

    /// `transforms` must all be Tensor → Tensor; `generator`: randomness outside a `DataLoader` (default: the global one).
    /// PyTorch: `torchvision.transforms.v2.RandomApply(transforms, p)`.
    public init(_ transforms: [any Transform], p: Double = 0.5, generator: Generator? = nil) {
        for (i, t) in transforms.enumerated() {
            precondition(t.erasedInputType == Tensor.self && t.erasedOutputType == Tensor.self,
                         "RandomApply: transform \(i) (\(type(of: t))) is not Tensor -> Tensor")
        }
        steps = transforms
        self.p = p
        self.generator = generator
    }

    /// `x` through every transform in order with probability `p`, else `x`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard SampleRandom.uniform(generator) < p else { return x }
        var y: Any = x
        for s in steps { y = try s.applyErased(y) }
        return y as! Tensor
    }
}

/// Applies one of `transforms`, picked with probabilities proportional to `p` (equal by
/// default; torchvision's `RandomChoice`).
public struct RandomChoice: Transform {
    let steps: [any Transform]
    /// The probability of each transform, normalised to sum to 1.
    public let p: [Double]
    let generator: Generator?

    /// At least one Tensor → Tensor transform; `p`: non-negative weights with a positive sum, one
    /// per transform (default: equal); `generator`: randomness outside a `DataLoader`.
    /// PyTorch: `torchvision.transforms.v2.RandomChoice(transforms, p)`.
    public init(_ transforms: [any Transform], p: [Double]? = nil, generator: Generator? = nil) {
        precondition(!transforms.isEmpty, "RandomChoice: needs at least one transform")
        for (i, t) in transforms.enumerated() {
            precondition(t.erasedInputType == Tensor.self && t.erasedOutputType == Tensor.self,
                         "RandomChoice: transform \(i) (\(type(of: t))) is not Tensor -> Tensor")
        }
        let weights = p ?? Array(repeating: 1, count: transforms.count)
        precondition(weights.count == transforms.count, "RandomChoice: length of p doesn't match the number of transforms: \(weights.count) != \(transforms.count)")
        precondition(weights.allSatisfy { $0 >= 0 } && weights.reduce(0, +) > 0, "RandomChoice: p must be non-negative with a positive sum")
        let total = weights.reduce(0, +)
        steps = transforms
        self.p = weights.map { $0 / total }
        self.generator = generator
    }

    /// `x` through one transform, picked at random with the probabilities `p`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let u = SampleRandom.uniform(generator)
        var acc = 0.0, pick = steps.count - 1
        for (i, q) in p.enumerated() {
            acc += q
            if u < acc { pick = i; break }
        }
        return try steps[pick].applyErased(x) as! Tensor
    }
}

// MARK: - Colour jitter

/// The image as float planes (uint8 values stay 0…255), its bound, and the way back:
/// torchvision computes uint8 colour adjustments in float32 and truncates.
private func floatPlanes(_ x: Tensor) -> (values: [Float], bound: Float) {
    let x = x.contiguous()
    if x.dtype == .uint8 { return ((0..<x.count).map { Float(x.u8[$0]) }, 255) }
    return (Array(UnsafeBufferPointer(start: x.f32, count: x.count)), 1)
}

private func backToDtype(_ v: [Float], like x: Tensor) -> Tensor {
    let out = Tensor(empty: x.shape, dtype: x.dtype)
    if x.dtype == .uint8 {
        for i in 0..<v.count { out.u8[i] = v[i].isNaN ? 0 : UInt8(Swift.min(Swift.max(v[i], 0), 255)) }
    } else {
        for i in 0..<v.count { out.f32[i] = v[i] }
    }
    return out
}

/// torchvision's grey, `r.mul(0.2989).add_(g, alpha=0.587).add_(b, alpha=0.114)`, whose
/// `add_` with alpha is a fused multiply-add on the CPU: so are these (exactly rounded,
/// the same on every machine).
func grey(_ r: Float, _ g: Float, _ b: Float) -> Float {
    (r * 0.2989).addingProduct(g, 0.587).addingProduct(b, 0.114)
}

/// Grey of each pixel of `[…, 3, H, W]` values (float, floored for uint8 images), one plane
/// per image.
private func greyPlanes(_ v: [Float], images: Int, n: Int, floor: Bool) -> [Float] {
    var g = [Float](repeating: 0, count: images * n)
    for b in 0..<images {
        for i in 0..<n {
            let p = b * 3 * n + i
            let y = grey(v[p], v[p + n], v[p + 2 * n])
            g[b * n + i] = floor ? y.rounded(.down) : y
        }
    }
    return g
}

/// Brightness, contrast, saturation and hue changes of `[…, C, H, W]` images, as
/// torchvision's `adjust_*` functions (C = 1 or 3).
enum ColorAdjust {
    static func check(_ x: Tensor, op: String) throws -> (images: Int, c: Int, n: Int) {
        let (_, h, w) = try imageGeometry(x, op: op)
        guard x.ndim >= 3, [1, 3].contains(x.shape[x.ndim - 3]) else {
            throw EmberError.invalidArgument(op: op, message: "Input image tensor permitted channel values are 1 or 3, but found shape \(x.shape)")
        }
        let c = x.shape[x.ndim - 3]
        return (h * w == 0 ? 0 : x.count / (c * h * w), c, h * w)
    }

    static func brightness(_ x: Tensor, _ f: Double) throws -> Tensor {
        _ = try check(x, op: "adjustBrightness")
        let (v, bound) = floatPlanes(x)
        return backToDtype(v.map { Swift.min(Swift.max($0 * Float(f), 0), bound) }, like: x)
    }

    /// `x · f + other · (1 − f)` clamped to the bound (torchvision's `_blend`: `mul` then
    /// `add_` with alpha, a fused multiply-add).
    static func blend(_ v: [Float], _ other: (Int) -> Float, _ f: Double, bound: Float) -> [Float] {
        let r = Float(f), a = Float(1 - f)
        return v.indices.map { Swift.min(Swift.max((v[$0] * r).addingProduct(a, other($0)), 0), bound) }
    }

    static func contrast(_ x: Tensor, _ f: Double) throws -> Tensor {
        let (images, c, n) = try check(x, op: "adjustContrast")
        let (v, bound) = floatPlanes(x)
        let g = c == 3 ? greyPlanes(v, images: images, n: n, floor: x.dtype == .uint8) : v
        let means = (0..<images).map { b in Float(g[(b * n)..<((b + 1) * n)].reduce(0.0) { $0 + Double($1) } / Double(n)) }
        return backToDtype(blend(v, { means[$0 / (c * n)] }, f, bound: bound), like: x)
    }

    static func saturation(_ x: Tensor, _ f: Double) throws -> Tensor {
        let (images, c, n) = try check(x, op: "adjustSaturation")
        if c == 1 { return x }
        let (v, bound) = floatPlanes(x)
        let g = greyPlanes(v, images: images, n: n, floor: x.dtype == .uint8)
        return backToDtype(blend(v, { g[($0 / (3 * n)) * n + $0 % n] }, f, bound: bound), like: x)
    }

    /// Rotates hue by `f` turns (−0.5…0.5) through HSV, in float [0, 1] (uint8 scaled there
    /// and back as `ToDtype(scale: true)`).
    static func hue(_ x: Tensor, _ f: Double) throws -> Tensor {
        let (images, c, n) = try check(x, op: "adjustHue")
        guard f >= -0.5 && f <= 0.5 else {
            throw EmberError.invalidArgument(op: "adjustHue", message: "hue_factor (\(f)) is not in [-0.5, 0.5].")
        }
        if c == 1 || n == 0 { return x }
        var (v, _) = floatPlanes(x)
        if x.dtype == .uint8 { v = v.map { $0 * (1 / 255) } }
        for b in 0..<images {
            for i in 0..<n {
                let p = b * 3 * n + i
                let (r, g, bl) = (v[p], v[p + n], v[p + 2 * n])
                let maxc = Swift.max(r, g, bl), minc = Swift.min(r, g, bl)
                let eq = maxc == minc, range = maxc - minc
                let s = range / (eq ? 1 : maxc)
                let div = eq ? 1 : range
                let rc = (maxc - r) / div, gc = (maxc - g) / div, bc = (maxc - bl) / div
                var h: Float = 0
                if maxc == r { h = bc - gc } else if maxc == g { h = (rc + 2) - bc } else { h = (gc + 4) - rc }
                h = Float(fmod(Double(h * (1 / 6) + 1), 1))
                h = Float(fmod(Double(h + Float(f)), 1))
                if h < 0 { h += 1 }
                let h6 = h * 6, fi = h6.rounded(.down), fr = h6 - fi
                let sxf = s * fr, oneMinusS = 1 - s
                let q = Swift.min(Swift.max((1 - sxf) * maxc, 0), 1)
                let t = Swift.min(Swift.max((sxf + oneMinusS) * maxc, 0), 1)
                let pp = Swift.min(Swift.max(oneMinusS * maxc, 0), 1)
                let vpqt = [maxc, pp, q, t]
                let k = ((Int(fi) % 6) + 6) % 6
                let sel = [[0, 2, 1, 1, 3, 0], [3, 0, 0, 2, 1, 1], [1, 1, 3, 0, 0, 2]]
                v[p] = vpqt[sel[0][k]]
                v[p + n] = vpqt[sel[1][k]]
                v[p + 2 * n] = vpqt[sel[2][k]]
            }
        }
        if x.dtype == .uint8 { v = v.map { $0 * (255 + 1 - 1e-3) } }
        return backToDtype(v, like: x)
    }
}

/// Random brightness, contrast, saturation and hue changes in a random order (torchvision's
/// `ColorJitter`): a factor `b` jitters brightness by a factor drawn from [max(0, 1 − b), 1 + b]
/// (likewise contrast and saturation); `hue` draws a shift from [−hue, hue] (≤ 0.5).
public struct ColorJitter: Transform {
    /// The range the brightness factor is drawn from; nil: left alone.
    public let brightness: (Double, Double)?
    /// The range the contrast factor is drawn from; nil: left alone.
    public let contrast: (Double, Double)?
    /// The range the saturation factor is drawn from; nil: left alone.
    public let saturation: (Double, Double)?
    /// The range the hue shift (in turns) is drawn from; nil: left alone.
    public let hue: (Double, Double)?
    let generator: Generator?

    /// Factors ≥ 0 (0: left alone), `hue` in [0, 0.5]; `generator`: randomness outside a `DataLoader` (default: the global one).
    /// PyTorch: `torchvision.transforms.v2.ColorJitter(brightness, contrast, saturation, hue)`.
    public init(brightness: Double = 0, contrast: Double = 0, saturation: Double = 0, hue: Double = 0,
                generator: Generator? = nil) {
        precondition(brightness >= 0 && contrast >= 0 && saturation >= 0, "ColorJitter: factors must be non-negative")
        precondition(hue >= 0 && hue <= 0.5, "ColorJitter: hue should be in [0, 0.5], got \(hue)")
        func range(_ v: Double) -> (Double, Double)? { v == 0 ? nil : (Swift.max(0, 1 - v), 1 + v) }
        self.brightness = range(brightness)
        self.contrast = range(contrast)
        self.saturation = range(saturation)
        self.hue = hue == 0 ? nil : (-hue, hue)
        self.generator = generator
    }

    /// The order of the four adjustments and their factors (torchvision's `make_params`).
    public func parameters() -> (order: [Int], brightness: Double?, contrast: Double?, saturation: Double?, hue: Double?) {
        var order = [0, 1, 2, 3]
        for i in stride(from: 3, to: 0, by: -1) { order.swapAt(i, SampleRandom.int(below: i + 1, generator)) }
        func draw(_ r: (Double, Double)?) -> Double? { r.map { $0.0 + ($0.1 - $0.0) * SampleRandom.uniform(generator) } }
        return (order, draw(brightness), draw(contrast), draw(saturation), draw(hue))
    }

    /// `x` with the drawn adjustments in the drawn order; throws unless `x` is a uint8 or float32
    /// `[…, 1 or 3, H, W]` tensor.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        _ = try ColorAdjust.check(x, op: "ColorJitter")
        let p = parameters()
        var y = x
        for k in p.order {
            switch k {
            case 0: if let f = p.brightness { y = try ColorAdjust.brightness(y, f) }
            case 1: if let f = p.contrast { y = try ColorAdjust.contrast(y, f) }
            case 2: if let f = p.saturation { y = try ColorAdjust.saturation(y, f) }
            default: if let f = p.hue { y = try ColorAdjust.hue(y, f) }
            }
        }
        return y
    }
}
