import Foundation

/// An 8-bit image as a dataset stores it (torchvision's PIL image): `height × width ×
/// channels` bytes, row-major, channels last.
public struct Image: Equatable, Sendable {
    /// Rows.
    public let height: Int
    /// Columns.
    public let width: Int
    /// Bytes per pixel: 1 (grey) or 3 (RGB).
    public let channels: Int
    /// `height · width · channels` bytes, row-major, channels last.
    public let pixels: [UInt8]

    /// An image over `pixels`, whose count must be `height · width · channels`.
    public init(height: Int, width: Int, channels: Int = 1, pixels: [UInt8]) {
        precondition(pixels.count == height * width * channels,
                     "Image: \(pixels.count) bytes cannot fill \(height)x\(width)x\(channels)")
        self.height = height
        self.width = width
        self.channels = channels
        self.pixels = pixels
    }
}

/// One step of a data pipeline (torchvision's transforms): `ToTensor()`, `Normalize`,
/// `Compose`, `Lambda`, augmentations. A transform may throw; inside a `DataLoader` the
/// error reaches the caller.
public protocol Transform {
    associatedtype Input
    associatedtype Output
    func callAsFunction(_ input: Input) throws -> Output
}

extension Transform {
    // Type-erased entry points for `Compose`, which chains transforms of different types.
    var erasedInputType: Any.Type { Input.self }
    var erasedOutputType: Any.Type { Output.self }
    func applyErased(_ x: Any) throws -> Any { try self(x as! Input) }
}

/// Transforms that turn a uint8 image into `scale * pixel + shift` per element: the
/// dataset can then decode a whole batch with one gather kernel instead of sample by sample.
protocol AffineFoldable {
    /// The affine map after this step, given the one before it (nil: still raw uint8), or
    /// nil when the pipeline stops being such a map.
    func fold(_ before: (scale: Float, shift: Float)?) -> (scale: Float, shift: Float)?
}

/// The affine map `transform` computes on uint8 pixels, if it is one.
func fusedAffine<T>(_ transform: T) -> (scale: Float, shift: Float)? {
    (transform as? AffineFoldable)?.fold(nil)
}

/// uint8 `Image` (H×W×C) → float32 tensor `[C, H, W]` in [0, 1], as torchvision's
/// `ToTensor`. Computes `pixel * (1/255)` — the batch gather kernel's arithmetic — which is
/// within 1 ulp of torchvision's `pixel / 255`.
public struct ToTensor: Transform, AffineFoldable {
    /// PyTorch: `torchvision.transforms.ToTensor()`.
    public init() {}

    /// The image as a float32 `[C, H, W]` tensor in [0, 1].
    public func callAsFunction(_ image: Image) -> Tensor {
        let (h, w, c) = (image.height, image.width, image.channels)
        let out = Tensor(empty: [c, h, w])
        image.pixels.withUnsafeBufferPointer { p in
            if c == 1 {
                Kernels.u8ToF32(out.f32, p.baseAddress!, h * w, 1 / 255, 0)
            } else {
                for ch in 0..<c {
                    for i in 0..<(h * w) { out.f32[ch * h * w + i] = Float(p[i * c + ch]) * (1 / 255) }
                }
            }
        }
        return out
    }

    func fold(_ before: (scale: Float, shift: Float)?) -> (scale: Float, shift: Float)? {
        before == nil ? (1 / 255, 0) : nil
    }
}

/// `(x - mean[c]) / std[c]` per channel of a `[C, H, W]` float32 tensor. A single mean or
/// std applies to every channel.
///
/// PyTorch: `torchvision.transforms.Normalize`.
public struct Normalize: Transform, AffineFoldable {
    /// Per-channel means (one value applies to every channel).
    public let mean: [Float]
    /// Per-channel standard deviations (one value applies to every channel); a zero is
    /// refused when the transform runs, as torchvision's.
    public let std: [Float]

    /// PyTorch: `torchvision.transforms.Normalize(mean, std)`.
    public init(mean: [Float], std: [Float]) {
        precondition(!mean.isEmpty && !std.isEmpty, "Normalize: mean and std must not be empty")
        self.mean = mean
        self.std = std
    }

    /// `(x - mean[c]) / std[c]` per channel; throws when `x` is not float32 `[…, C, H, W]` or the channel counts differ.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        guard x.dtype == .float32, x.ndim >= 3 else {
            throw EmberError.invalidArgument(op: "Normalize", message: "expected a float32 tensor [..., C, H, W], got \(x.dtype) \(x.shape)")
        }
        let c = x.shape[x.ndim - 3]
        guard mean.count == 1 || mean.count == c, std.count == 1 || std.count == c else {
            throw EmberError.invalidArgument(op: "Normalize", message: "\(mean.count) means and \(std.count) standard deviations for \(c) channels")
        }
        guard std.allSatisfy({ $0 != 0 }) else {
            throw EmberError.invalidArgument(op: "Normalize", message: "std evaluated to zero after conversion to float32, leading to division by zero")
        }
        let plane = x.shape[x.ndim - 2] * x.shape[x.ndim - 1]
        let x = x.contiguous()
        let out = Tensor(empty: x.shape)
        for p in 0..<(x.count / plane) {
            let m = mean[mean.count == 1 ? 0 : p % c], s = std[std.count == 1 ? 0 : p % c]
            // Multiply by 1/std rather than divide: the same rounding as the fused batch path.
            Kernels.affine(out.f32 + p * plane, x.f32 + p * plane, a: 1 / s, b: -m / s, plane)
        }
        return out
    }

    func fold(_ before: (scale: Float, shift: Float)?) -> (scale: Float, shift: Float)? {
        guard let b = before, mean.count == 1, std.count == 1, std[0] != 0 else { return nil }
        return (b.scale / std[0], (b.shift - mean[0]) / std[0])
    }
}

/// Applies transforms in order: `Compose([ToTensor(), Normalize(mean: [0.5], std: [0.5])])`.
/// The chain's types are checked when it is built.
///
/// PyTorch: `torchvision.transforms.Compose`.
public struct Compose<Input, Output>: Transform, AffineFoldable {
    let steps: [any Transform]

    /// The steps in order; stops with a message naming the first step whose input type does not follow (PyTorch: `transforms.Compose`).
    public init(_ transforms: [any Transform]) {
        var type: Any.Type = Input.self
        for (i, t) in transforms.enumerated() {
            precondition(t.erasedInputType == type,
                         "Compose: transform \(i) (\(Swift.type(of: t))) takes \(t.erasedInputType), but receives \(type)")
            type = t.erasedOutputType
        }
        precondition(type == Output.self, "Compose: the chain produces \(type), expected \(Output.self)")
        steps = transforms
    }

    /// Each step in turn; rethrows the first error.
    public func callAsFunction(_ input: Input) throws -> Output {
        var x: Any = input
        for s in steps { x = try s.applyErased(x) }
        return x as! Output
    }

    func fold(_ before: (scale: Float, shift: Float)?) -> (scale: Float, shift: Float)? {
        var acc = before
        for s in steps {
            guard let f = s as? AffineFoldable, let next = f.fold(acc) else { return nil }
            acc = next
        }
        return acc
    }
}

/// Any function as a transform: `Lambda { (y: Int) in y % 2 }`.
///
/// PyTorch: `torchvision.transforms.Lambda`.
public struct Lambda<Input, Output>: Transform {
    let body: (Input) throws -> Output
    /// PyTorch: `transforms.Lambda(lambd)`.
    public init(_ body: @escaping (Input) throws -> Output) { self.body = body }
    /// `body(input)`.
    public func callAsFunction(_ input: Input) throws -> Output { try body(input) }
}

// MARK: - Randomness for augmentations

/// Where random augmentations draw from. Inside a `DataLoader` every sample gets its own
/// stream derived from (loader seed, epoch, sample index), so an augmented batch is the same
/// whichever worker built it; outside one, the transform's generator is used.
enum SampleRandom {
    struct State { var seed: UInt64; var counter: UInt64 }
    static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()

    static func with<R>(seed: UInt64, _ body: () throws -> R) rethrows -> R {
        var state = State(seed: seed, counter: 0)
        let previous = pthread_getspecific(key)
        defer { pthread_setspecific(key, previous) }
        return try withUnsafeMutablePointer(to: &state) { p in
            pthread_setspecific(key, p)
            return try body()
        }
    }

    /// A uniform UInt64 from the current sample's stream, or from `fallback`.
    static func next(_ fallback: Generator?) -> UInt64 {
        if let p = pthread_getspecific(key) {
            let s = p.assumingMemoryBound(to: State.self)
            s.pointee.counter &+= 1
            return Kernels.mix64(s.pointee.seed &+ 0x9E37_79B9_7F4A_7C15 &* s.pointee.counter)
        }
        // nextInt gives 63 bits; mixing spreads them over all 64 so `uniform` covers [0, 1).
        let g = fallback ?? .default
        return Kernels.mix64(UInt64(g.nextInt(below: Int.max)))
    }

    static func uniform(_ fallback: Generator?) -> Double {
        Double(next(fallback) >> 11) * 0x1p-53
    }

    static func int(below bound: Int, _ fallback: Generator?) -> Int {
        Int(next(fallback) % UInt64(bound))
    }
}

/// Mirrors a `[…, H, W]` tensor left–right with probability `p`.
///
/// PyTorch: `torchvision.transforms.RandomHorizontalFlip`.
public struct RandomHorizontalFlip: Transform {
    /// The probability of flipping.
    public let p: Double
    let generator: Generator?

    /// - Parameters:
    ///   - p: probability of flipping.
    ///   - generator: source of randomness outside a `DataLoader` (default: the global
    ///     generator); inside one, each sample has its own seeded stream.
    ///
    /// PyTorch: `RandomHorizontalFlip(p)`.
    public init(p: Double = 0.5, generator: Generator? = nil) {
        self.p = p
        self.generator = generator
    }

    /// `x` mirrored left–right with probability `p`, else `x`; throws when `x` is not an image tensor.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        _ = try imageGeometry(x, op: "RandomHorizontalFlip")
        guard SampleRandom.uniform(generator) < p else { return x }
        return flipRows(x)
    }
}

/// Pads a `[…, H, W]` tensor by `padding` on every side (zeros, or per `paddingMode`), then
/// cuts a `size` window at a random position (torchvision's `RandomCrop`); with
/// `padIfNeeded`, a side smaller than the window is padded up to it first.
public struct RandomCrop: Transform {
    /// Window rows.
    public let height: Int
    /// Window columns.
    public let width: Int
    /// Padding added on every side first.
    public let padding: Int
    /// Pads a side smaller than the window up to it (PyTorch: `pad_if_needed`).
    public let padIfNeeded: Bool
    /// The value of constant padding.
    public let fill: Double
    /// Constant, edge, reflect or symmetric padding.
    public let paddingMode: ImagePaddingMode
    let generator: Generator?

    /// A square `size × size` window (PyTorch: `RandomCrop(size, padding, pad_if_needed, fill, padding_mode)`).
    public init(size: Int, padding: Int = 0, padIfNeeded: Bool = false, fill: Double = 0,
                paddingMode: ImagePaddingMode = .constant, generator: Generator? = nil) {
        self.init(size: (size, size), padding: padding, padIfNeeded: padIfNeeded, fill: fill, paddingMode: paddingMode,
                  generator: generator)
    }

    /// A `size.height × size.width` window (PyTorch: `RandomCrop((h, w), padding, pad_if_needed, fill, padding_mode)`).
    public init(size: (height: Int, width: Int), padding: Int = 0, padIfNeeded: Bool = false, fill: Double = 0,
                paddingMode: ImagePaddingMode = .constant, generator: Generator? = nil) {
        precondition(size.height > 0 && size.width > 0 && padding >= 0, "RandomCrop: invalid size \(size) or padding \(padding)")
        height = size.height
        width = size.width
        self.padding = padding
        self.padIfNeeded = padIfNeeded
        self.fill = fill
        self.paddingMode = paddingMode
        self.generator = generator
    }

    /// A random window of the padded `x`; throws when `x` is not an image tensor or is smaller than the window.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let (_, h, w) = try imageGeometry(x, op: "RandomCrop")
        // One pad of `padding` plus what the window still lacks (torchvision v2: reflecting
        // twice is not reflecting once).
        var (padH, padW) = (padding, padding)
        if padIfNeeded {
            padH += Swift.max(height - (h + 2 * padding), 0)
            padW += Swift.max(width - (w + 2 * padding), 0)
        }
        var x = x
        if padH > 0 || padW > 0 { x = try Pad([padW, padH], fill: fill, paddingMode: paddingMode)(x) }
        let (ph, pw) = (h + 2 * padH, w + 2 * padW)
        guard ph >= height, pw >= width else {
            throw EmberError.invalidArgument(op: "RandomCrop", message: "required crop size (\(height), \(width)) is larger than input image size (\(ph), \(pw))")
        }
        let top = SampleRandom.int(below: ph - height + 1, generator)
        let left = SampleRandom.int(below: pw - width + 1, generator)
        return cropWindow(x, top: top, left: left, height: height, width: width)
    }
}
