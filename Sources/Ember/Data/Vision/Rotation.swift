import Foundation

// torchvision.transforms.v2's rotation of image tensors: multiples of 90° without an affine
// centre are exact transposes (torch.rot90), everything else an affine grid sampled by
// nearest or bilinear (resample.c), the matrix and expanded size computed as torchvision does.

/// `x` turned by `k` quarter turns anticlockwise (torch.rot90 over the last two dims).
func rotate90(_ x: Tensor, k: Int) -> Tensor {
    let (h, w) = (x.shape[x.ndim - 2], x.shape[x.ndim - 1])
    let planes = h * w == 0 ? 0 : x.count / (h * w)
    let x = x.contiguous()
    let (oh, ow) = k == 2 ? (h, w) : (w, h)
    let out = Tensor(empty: Array(x.shape.dropLast(2)) + [oh, ow], dtype: x.dtype)
    let size = x.dtype.itemSize
    for p in 0..<planes {
        let src = x.raw + p * h * w * size, dst = out.raw + p * oh * ow * size
        for i in 0..<oh {
            for j in 0..<ow {
                // out[i][j] = in[j][w-1-i] (k = 1), in[h-1-i][w-1-j] (k = 2), in[h-1-j][i] (k = 3)
                let (r, c) = k == 1 ? (j, w - 1 - i) : k == 2 ? (h - 1 - i, w - 1 - j) : (h - 1 - j, i)
                (dst + (i * ow + j) * size).copyMemory(from: src + (r * w + c) * size, byteCount: size)
            }
        }
    }
    return out
}

/// torchvision's `_get_inverse_affine_matrix` for a pure rotation by `angle` degrees
/// (anticlockwise) about `center` (relative to the image centre), in doubles.
func inverseRotationMatrix(angle: Double, center: (Double, Double)) -> [Double] {
    let rot = -angle * (Double.pi / 180)
    let (cosR, sinR) = (Kernels.cos(rot), Kernels.sin(rot))
    var m = [cosR, sinR, 0, -sinR, cosR, 0]
    let (cx, cy) = center
    m[2] += (cx - m[0] * cx) - m[1] * cy
    m[5] += (cy - m[3] * cx) - m[4] * cy
    return m
}

/// torchvision's `_compute_affine_output_size` (its float32 tensor path): the bounding box
/// of the turned corners, truncated to 1e-4 before rounding outwards. Returns (h, w).
func rotatedSize(theta: [Float], h: Int, w: Int) -> (Int, Int) {
    let hw = Float(0.5 * Double(w)), hh = Float(0.5 * Double(h))
    var lo: (Float, Float) = (.infinity, .infinity), hi: (Float, Float) = (-.infinity, -.infinity)
    for (px, py) in [(-hw, -hh), (-hw, hh), (hw, hh), (hw, -hh)] {
        let nx = (px * theta[0] + py * theta[1]) + theta[2]
        let ny = (px * theta[3] + py * theta[4]) + theta[5]
        lo = (Swift.min(lo.0, nx), Swift.min(lo.1, ny))
        hi = (Swift.max(hi.0, nx), Swift.max(hi.1, ny))
    }
    let inv = Float(1.0 / 1e-4), tol = Float(1e-4)
    func up(_ v: Float, _ half: Float) -> Float { (((v + half) * inv).rounded(.towardZero) * tol).rounded(.up) }
    func down(_ v: Float, _ half: Float) -> Float { (((v + half) * inv).rounded(.towardZero) * tol).rounded(.down) }
    let ow = up(hi.0, hw) - down(lo.0, hw), oh = up(hi.1, hh) - down(lo.1, hh)
    return (Int(oh), Int(ow))
}

/// `x` rotated by `angle` degrees anticlockwise (torchvision's `F.rotate` of a tensor):
/// `center` is (x, y) from the top-left corner (default the image centre), `expand` grows the
/// output to hold the whole turned image, `fill` (one value, or one per channel) paints the
/// uncovered area and blends bilinear edges with it; nil leaves zeros without blending.
func rotateImage(_ x: Tensor, angle: Double, interpolation: InterpolationMode = .nearest, expand: Bool = false,
                 center: (x: Double, y: Double)? = nil, fill: [Double]? = nil, op: String = "rotate") throws -> Tensor {
    let (planes, h, w) = try imageGeometry(x, op: op)
    let c = x.ndim >= 3 ? x.shape[x.ndim - 3] : 1
    if let fill, fill.count != 1 && fill.count != c {
        throw EmberError.invalidArgument(op: op, message: "the number of elements in 'fill' cannot broadcast to match the number of channels of the image (\(fill.count) != \(c))")
    }
    guard angle.isFinite else { throw EmberError.invalidArgument(op: op, message: "angle must be finite, got \(angle)") }
    var a = fmod(angle, 360)   // Python's angle % 360: in [0, 360)
    if a < 0 { a += 360 }
    if center == nil {
        if a == 0 { return x }
        if a == 180 { return rotate90(x, k: 2) }
        if expand || h == w {
            if a == 90 { return rotate90(x, k: 1) }
            if a == 270 { return rotate90(x, k: 3) }
        }
    }
    let centre = center.map { ($0.x - Double(w) * 0.5, $0.y - Double(h) * 0.5) } ?? (0, 0)
    let theta = inverseRotationMatrix(angle: a, center: centre).map { Float($0) }
    let (oh, ow) = expand ? rotatedSize(theta: theta, h: h, w: w) : (h, w)
    let out = Tensor(empty: Array(x.shape.dropLast(2)) + [oh, ow], dtype: x.dtype)
    if out.count == 0 || planes == 0 { return out }
    let x = x.contiguous()
    let fills = fill.map { f in (0..<c).map { Float(f.count == 1 ? f[0] : f[$0]) } }
    guard Kernels.affineSample(out.raw, x.raw, u8: x.dtype == .uint8, images: planes / c, c: c, h: h, w: w, oh: oh, ow: ow,
                               theta: theta, bilinear: interpolation == .bilinear, fill: fills) else {
        throw EmberError.invalidArgument(op: op, message: "out of memory rotating \(x.shape)")
    }
    return out
}

/// Rotates by an angle drawn uniformly from `degrees` (torchvision's `RandomRotation`):
/// `RandomRotation(30)` draws from [−30°, 30°], `RandomRotation((0, 90))` from that range;
/// positive angles turn anticlockwise. Nearest by default, or bilinear; `expand` makes the
/// output hold the whole turned image; `center` is (x, y) from the top-left corner; `fill`
/// (one value, or one per channel) paints the area the image no longer covers.
public struct RandomRotation: Transform {
    /// The (min, max) range the angle is drawn from, in degrees.
    public let degrees: (Double, Double)
    /// Nearest (default) or bilinear sampling.
    public let interpolation: InterpolationMode
    /// Whether the output grows to hold the whole turned image (else it keeps the input's size).
    public let expand: Bool
    /// The point turned about, (x, y) in pixels from the top-left corner; nil: the image centre.
    public let center: (x: Double, y: Double)?
    /// What the area the turned image leaves uncovered is painted with: one value, or one per channel.
    public let fill: [Double]
    let generator: Generator?

    /// Angles drawn from [−degrees, degrees]; `degrees` must not be negative.
    /// `generator`: randomness outside a `DataLoader` (default: the global one).
    /// PyTorch: `torchvision.transforms.v2.RandomRotation(degrees, interpolation, expand, center, fill)`.
    public init(_ degrees: Double, interpolation: InterpolationMode = .nearest, expand: Bool = false,
                center: (x: Double, y: Double)? = nil, fill: [Double] = [0], generator: Generator? = nil) {
        precondition(degrees >= 0, "RandomRotation: if degrees is a single number, it must be positive, got \(degrees)")
        self.init((-degrees, degrees), interpolation: interpolation, expand: expand, center: center, fill: fill,
                  generator: generator)
    }

    /// Angles drawn from the range `degrees` (min ≤ max); `fill` must not be empty.
    public init(_ degrees: (Double, Double), interpolation: InterpolationMode = .nearest, expand: Bool = false,
                center: (x: Double, y: Double)? = nil, fill: [Double] = [0], generator: Generator? = nil) {
        precondition(degrees.0 <= degrees.1, "RandomRotation: degrees should be of kind (min, max), got \(degrees)")
        precondition(!fill.isEmpty, "RandomRotation: fill must not be empty")
        self.degrees = degrees
        self.interpolation = interpolation
        self.expand = expand
        self.center = center
        self.fill = fill
        self.generator = generator
    }

    /// The angle for the next image, uniform in `degrees`.
    public func parameters() -> Double {
        degrees.0 + (degrees.1 - degrees.0) * SampleRandom.uniform(generator)
    }

    /// `x` (uint8 or float32 `[…, H, W]`) turned by an angle from `parameters()`; throws on
    /// another dtype or when `fill` has neither one value nor one per channel.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        _ = try imageGeometry(x, op: "RandomRotation")
        return try rotateImage(x, angle: parameters(), interpolation: interpolation, expand: expand, center: center,
                               fill: fill, op: "RandomRotation")
    }
}
