import Foundation

/// How `readImage` converts the stored colours (torchvision's `ImageReadMode`).
public enum ImageReadMode: Int, Sendable, CaseIterable {
    /// As stored: 1 (grey), 2 (grey + alpha), 3 (RGB) or 4 (RGBA) channels. PNG palettes
    /// are expanded to RGB (RGBA with transparency).
    case unchanged = 0
    /// One channel: PNG colour through `0.2989 R + 0.587 G + 0.114 B` (libpng, as
    /// torchvision), JPEG through the decoder's luma.
    case gray = 1
    /// Grey plus alpha (opaque when the file has none).
    case grayAlpha = 2
    /// Three channels.
    case rgb = 3
    /// Three channels plus alpha (opaque when the file has none).
    case rgbAlpha = 4
}

/// A PNG or JPEG that could not be read: the file and the problem.
public struct ImageError: Error, CustomStringConvertible, Equatable {
    /// The file's path, or the `name` given to `decodeImage`.
    public let file: String
    /// What is wrong with it.
    public let message: String
    /// `file: message`.
    public var description: String { "\(file): \(message)" }
}

/// Pixels a header may declare before it is refused without allocating: PIL's
/// decompression-bomb limit (2 × 89 478 485), far above any dataset image.
public let defaultMaxImagePixels = 178_956_970

/// Decodes a PNG or JPEG file into a uint8 `[C, H, W]` tensor (torchvision's
/// `torchvision.io.read_image`). The format is recognised by its signature, not its name.
///
/// ```swift
/// let img = try readImage("cat.jpg", mode: .rgb)   // uint8 [3, H, W]
/// ```
///
/// - Throws: `ImageError` naming the file and the problem (truncated or corrupt data, an
///   unknown format, an empty file, a declared size over `maxPixels`).
public func readImage(_ path: String, mode: ImageReadMode = .unchanged,
                      maxPixels: Int = defaultMaxImagePixels) throws -> Tensor {
    try decodeImage(readFileBytes(path), mode: mode, name: path, maxPixels: maxPixels)
}

/// Decodes PNG or JPEG bytes into a uint8 `[C, H, W]` tensor (torchvision's
/// `decode_image`); `name` is what errors call them.
public func decodeImage(_ bytes: [UInt8], mode: ImageReadMode = .unchanged, name: String = "<memory>",
                        maxPixels: Int = defaultMaxImagePixels) throws -> Tensor {
    var out: Tensor?
    let r = bytes.withUnsafeBytes { buf in
        Kernels.decodeImage(buf, mode: mode.rawValue, maxPixels: maxPixels) { c, h, w in
            let t = Tensor(empty: [c, h, w], dtype: .uint8)
            out = t
            return t.u8
        }
    }
    if case .failure(let f) = r { throw ImageError(file: name, message: f.message) }
    return out!
}

/// The whole file, or an `ImageError` with the system's reason. Refuses files over 1 GiB
/// (no PNG or JPEG a dataset holds is near that).
func readFileBytes(_ path: String) throws -> [UInt8] {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw ImageError(file: path, message: String(cString: strerror(errno))) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw ImageError(file: path, message: String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw ImageError(file: path, message: "not a regular file") }
    let size = Int(st.st_size)
    guard size <= 1 << 30 else { throw ImageError(file: path, message: "\(size) bytes is too large for an image file") }
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    while done < size {
        let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, size - done) }
        if n < 0 {
            if errno == EINTR { continue }
            throw ImageError(file: path, message: String(cString: strerror(errno)))
        }
        if n == 0 { break }
        done += n
    }
    if done < size { bytes.removeSubrange(done...) }
    return bytes
}

/// The `(top, left, height, width)` window of an image file, decoded alone: the same pixels as
/// `readImage` cut to the window, where a JPEG decodes only the rows and columns the window
/// needs. `window` picks it from the image's (height, width).
func readImageWindow(_ path: String, mode: ImageReadMode, maxPixels: Int = defaultMaxImagePixels,
                     window: (Int, Int) -> (top: Int, left: Int, height: Int, width: Int)) throws -> Tensor {
    try decodeImageWindow(readFileBytes(path), mode: mode, name: path, maxPixels: maxPixels, window: window)
}

/// `readImageWindow` of bytes in memory; `name` is what errors call them.
func decodeImageWindow(_ bytes: [UInt8], mode: ImageReadMode, name: String, maxPixels: Int = defaultMaxImagePixels,
                       window: (Int, Int) -> (top: Int, left: Int, height: Int, width: Int)) throws -> Tensor {
    var out: Tensor?
    let r = bytes.withUnsafeBytes { buf in
        Kernels.decodeImageWindow(buf, mode: mode.rawValue, maxPixels: maxPixels, window: window) { c, h, w in
            let t = Tensor(empty: [c, h, w], dtype: .uint8)
            out = t
            return t.u8
        }
    }
    if case .failure(let f) = r { throw ImageError(file: name, message: f.message) }
    return out!
}
