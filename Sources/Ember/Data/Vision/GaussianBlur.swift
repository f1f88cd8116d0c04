/// Blurs `[…, H, W]` images (uint8 or float32) with a Gaussian kernel whose σ is drawn, for
/// each image, uniformly from `sigma`; the edges are reflected.
///
/// PyTorch: `torchvision.transforms.v2.GaussianBlur(kernel_size, sigma)`.
public struct GaussianBlur: Transform {
    /// The kernel's width and height in pixels, odd.
    public let kernelSize: (x: Int, y: Int)
    /// The (min, max) range σ is drawn from, in pixels.
    public let sigma: (Double, Double)
    let generator: Generator?

    /// A square kernel. `generator`: randomness outside a `DataLoader` (default: the global one).
    public init(kernelSize: Int, sigma: (Double, Double) = (0.1, 2.0), generator: Generator? = nil) {
        self.init(kernelSize: (kernelSize, kernelSize), sigma: sigma, generator: generator)
    }

    /// A `kernelSize.x × kernelSize.y` kernel (both odd and positive); 0 < sigma.0 ≤ sigma.1.
    public init(kernelSize: (x: Int, y: Int), sigma: (Double, Double) = (0.1, 2.0), generator: Generator? = nil) {
        precondition(kernelSize.x > 0 && kernelSize.y > 0 && kernelSize.x % 2 == 1 && kernelSize.y % 2 == 1,
                     "GaussianBlur: Kernel size value should be an odd and positive number, got \(kernelSize)")
        precondition(sigma.0 > 0 && sigma.0 <= sigma.1,
                     "GaussianBlur: sigma values should be positive and of the form (min, max), got \(sigma)")
        self.kernelSize = kernelSize
        self.sigma = sigma
        self.generator = generator
    }

    /// The σ for the next image, uniform in `sigma`.
    public func parameters() -> Double {
        sigma.0 + (sigma.1 - sigma.0) * SampleRandom.uniform(generator)
    }

    /// `x` blurred with a σ from `parameters()`; throws on another dtype or when the image is
    /// not larger than half the kernel (the reflection needs it).
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let s = parameters()
        return try gaussianBlur(x, kernelSize: kernelSize, sigma: (s, s))
    }
}

/// `x` (uint8 or float32 `[…, H, W]`) convolved with the Gaussian kernel of `sigma` (σx, σy),
/// the edges reflected (PyTorch: `torchvision.transforms.v2.functional.gaussian_blur`). The
/// kernel is torchvision's, normalised samples of exp(−x²/2σ²) at the integer offsets, applied
/// as a row pass then a column pass (it is the outer product of the two); uint8 results are
/// rounded half to even, as torchvision's.
public func gaussianBlur(_ x: Tensor, kernelSize: (x: Int, y: Int), sigma: (x: Double, y: Double)) throws -> Tensor {
    let op = "gaussian_blur"
    let (planes, h, w) = try imageGeometry(x, op: op)
    guard kernelSize.x > 0, kernelSize.y > 0, kernelSize.x % 2 == 1, kernelSize.y % 2 == 1 else {
        throw EmberError.invalidArgument(op: op, message: "kernel size should have odd and positive integers, got \(kernelSize)")
    }
    guard sigma.x > 0, sigma.y > 0 else {
        throw EmberError.invalidArgument(op: op, message: "sigma should have positive values, got \(sigma)")
    }
    let (px, py) = (kernelSize.x / 2, kernelSize.y / 2)
    guard planes == 0 || (px < w && py < h) else {
        throw EmberError.invalidArgument(op: op, message:
            "Padding size should be less than the corresponding input dimension, but got: padding (\(px), \(py)) for an image of \(h)×\(w)")
    }
    if planes == 0 { return x.storageCopy() }
    let kx = gaussianKernel(kernelSize.x, sigma.x), ky = gaussianKernel(kernelSize.y, sigma.y)
    let src = x.type(.float32).contiguous().toArray()
    var rows = [Float](repeating: 0, count: src.count), out = rows
    let n = h * w
    // The reflected column (row) each tap reads, the same for every row (column) and plane.
    let cols = (0..<(w * kx.count)).map { paddedIndex($0 / kx.count + $0 % kx.count - px, w, .reflect)! }
    let lines = (0..<(h * ky.count)).map { paddedIndex($0 / ky.count + $0 % ky.count - py, h, .reflect)! }
    for p in 0..<planes {
        for r in 0..<h {
            for c in 0..<w {
                var sum: Float = 0
                for (j, k) in kx.enumerated() { sum += k * src[p * n + r * w + cols[c * kx.count + j]] }
                rows[p * n + r * w + c] = sum
            }
        }
        for r in 0..<h {
            for c in 0..<w {
                var sum: Float = 0
                for (i, k) in ky.enumerated() { sum += k * rows[p * n + lines[r * ky.count + i] * w + c] }
                out[p * n + r * w + c] = sum
            }
        }
    }
    guard x.dtype == .uint8 else { return Tensor(out, shape: x.shape) }
    return Tensor(out.map { Swift.min(Swift.max($0.rounded(.toNearestOrEven), 0), 255) }, shape: x.shape).type(.uint8)
}

/// torchvision's 1-D kernel: exp(−x²/2σ²) at x = −(k−1)/2 … (k−1)/2, normalised to sum 1
/// (in double here, then rounded: torchvision's float32 values to within an ulp or two).
private func gaussianKernel(_ size: Int, _ sigma: Double) -> [Float] {
    let half = Double(size - 1) / 2
    let pdf = (0..<size).map { i -> Double in
        let x = (Double(i) - half) / sigma
        return Kernels.exp(-0.5 * x * x)
    }
    let total = pdf.reduce(0, +)
    return pdf.map { Float($0 / total) }
}
