// A self-contained reader for the IDX format (the MNIST family's container). It depends on
// nothing else in Ember so that the fuzz harness (Fuzz/) can compile it alone with
// `swiftc -sanitize=fuzzer`.

/// What is wrong with an IDX file.
public enum IDXProblem: Equatable, Sendable {
    /// Fewer bytes than the header needs.
    case truncatedHeader(needed: Int, got: Int)
    /// The first four bytes are not the expected magic number.
    case badMagic(expected: UInt32, got: UInt32)
    /// A dimension is zero where data is expected, or the sizes overflow.
    case badDimensions([Int])
    /// The payload is not exactly the size the header announces.
    case payloadLength(expected: Int, got: Int)
    /// Images and labels files disagree on the number of items.
    case countMismatch(images: Int, labels: Int)
    /// A label is not a valid class index.
    case labelOutOfRange(index: Int, label: Int, classes: Int)
    /// The file could not be read or decompressed (zlib's or the system's message).
    case unreadable(String)
    /// The file is missing.
    case missing
}

/// A malformed, truncated or unreadable IDX file, naming the file and the problem.
public struct IDXError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The file's name, as given to the parser.
    public let file: String
    /// What is wrong.
    public let problem: IDXProblem

    /// An error about `file`.
    public init(file: String, problem: IDXProblem) {
        self.file = file
        self.problem = problem
    }

    /// The file's name and the problem in words.
    public var description: String {
        let what: String
        switch problem {
        case .truncatedHeader(let needed, let got):
            what = "truncated header: needs \(needed) bytes, file has \(got)"
        case .badMagic(let expected, let got):
            what = "bad magic number 0x\(hex(got)) (expected 0x\(hex(expected)))"
        case .badDimensions(let dims):
            // The real sizes, never a wrapped product: say when they are too large to hold.
            var product = 1, fits = true
            for d in dims {
                let (p, overflow) = product.multipliedReportingOverflow(by: d)
                fits = fits && !overflow && p <= IDX.maxPayload
                product = overflow ? product : p
            }
            what = "invalid dimensions \(dims)"
                + (fits ? "" : ": \(dims.map(String.init).joined(separator: " × ")) bytes is more than the \(IDX.maxPayload) an IDX file may hold")
        case .payloadLength(let expected, let got):
            what = "payload is \(got) bytes, header announces \(expected)"
        case .countMismatch(let images, let labels):
            what = "\(images) images but \(labels) labels"
        case .labelOutOfRange(let index, let label, let classes):
            what = "label \(label) of item \(index) is not in 0..<\(classes)"
        case .unreadable(let message):
            what = "cannot read: \(message)"
        case .missing:
            what = "file not found"
        }
        return "\(file): \(what)"
    }
}

private func hex(_ v: UInt32) -> String {
    let s = String(v, radix: 16)
    return String(repeating: "0", count: max(0, 8 - s.count)) + s
}

/// IDX parsing (http://yann.lecun.com/exdb/mnist/ describes the format): a big-endian
/// magic `0x0000TTNN` (TT = element type, NN = number of dimensions), NN big-endian UInt32
/// sizes, then the elements in row-major order.
public enum IDX {
    /// Magic of a uint8 3-D file (images: count × rows × cols).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic of a uint8 1-D file (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// A uint8 images file: `count` images of `rows × cols` bytes, row-major.
    public struct Images: Equatable, Sendable {
        /// The number of images.
        public let count: Int
        /// Rows per image.
        public let rows: Int
        /// Columns per image.
        public let cols: Int
        /// `count · rows · cols` bytes, image after image.
        public let pixels: [UInt8]
    }

    /// Parses a uint8 images file (magic 0x00000803). `file` names it in errors.
    public static func parseImages(_ bytes: [UInt8], file: String) throws -> Images {
        let dims = try header(bytes, magic: imagesMagic, ndim: 3, file: file)
        // Zero rows or cols with images present describes no picture at all.
        if dims[0] > 0 && (dims[1] == 0 || dims[2] == 0) {
            throw IDXError(file: file, problem: .badDimensions(dims))
        }
        let size = try payloadSize(dims, file: file)
        let start = 4 + 4 * 3
        try checkPayload(bytes.count - start, size, file: file)
        return Images(count: dims[0], rows: dims[1], cols: dims[2], pixels: Array(bytes[start...]))
    }

    /// Parses a uint8 labels file (magic 0x00000801).
    public static func parseLabels(_ bytes: [UInt8], file: String) throws -> [UInt8] {
        let dims = try header(bytes, magic: labelsMagic, ndim: 1, file: file)
        let start = 4 + 4
        try checkPayload(bytes.count - start, dims[0], file: file)
        return Array(bytes[start...])
    }

    /// Parses an images and a labels file and checks that they describe the same items
    /// and that every label is below `classes`.
    public static func parsePair(images: [UInt8], imagesFile: String, labels: [UInt8],
                                 labelsFile: String, classes: Int) throws -> (Images, [UInt8]) {
        let im = try parseImages(images, file: imagesFile)
        let lb = try parseLabels(labels, file: labelsFile)
        if im.count != lb.count {
            throw IDXError(file: labelsFile, problem: .countMismatch(images: im.count, labels: lb.count))
        }
        if let bad = lb.firstIndex(where: { Int($0) >= classes }) {
            throw IDXError(file: labelsFile, problem: .labelOutOfRange(index: bad, label: Int(lb[bad]), classes: classes))
        }
        return (im, lb)
    }

    static func header(_ b: [UInt8], magic: UInt32, ndim: Int, file: String) throws -> [Int] {
        let needed = 4 + 4 * ndim
        if b.count < 4 {
            throw IDXError(file: file, problem: .truncatedHeader(needed: needed, got: b.count))
        }
        let m = be32(b, 0)
        if m != magic { throw IDXError(file: file, problem: .badMagic(expected: magic, got: m)) }
        if b.count < needed {
            throw IDXError(file: file, problem: .truncatedHeader(needed: needed, got: b.count))
        }
        return (0..<ndim).map { Int(be32(b, 4 + 4 * $0)) }
    }

    /// Beyond 2^40 bytes no real file exists; the bound also keeps `start + size` from overflowing.
    static let maxPayload = 1 << 40

    static func payloadSize(_ dims: [Int], file: String) throws -> Int {
        var size = 1
        for d in dims {
            let (p, overflow) = size.multipliedReportingOverflow(by: d)
            if overflow || p > maxPayload { throw IDXError(file: file, problem: .badDimensions(dims)) }
            size = p
        }
        return size
    }

    static func checkPayload(_ got: Int, _ expected: Int, file: String) throws {
        if got != expected { throw IDXError(file: file, problem: .payloadLength(expected: expected, got: got)) }
    }

    @inline(__always)
    static func be32(_ b: [UInt8], _ i: Int) -> UInt32 {
        UInt32(b[i]) << 24 | UInt32(b[i + 1]) << 16 | UInt32(b[i + 2]) << 8 | UInt32(b[i + 3])
    }

    /// Encodes an IDX uint8 file (for tests, fixtures and tools).
    public static func encode(magic: UInt32, dims: [Int], payload: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(4 + 4 * dims.count + payload.count)
        for v in [magic] + dims.map({ UInt32($0) }) {
            out += [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)]
        }
        return out + payload
    }
}
