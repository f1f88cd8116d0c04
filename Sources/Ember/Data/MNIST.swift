import Foundation

/// A dataset's files could not be found, fetched or read.
public enum DatasetError: Error, CustomStringConvertible {
    /// `directory` lacks `missing` and downloading was not requested.
    case notFound(dataset: String, directory: String, missing: [String])
    /// A file is malformed (see `IDXError`).
    case corrupt(IDXError)
    /// Downloading failed on every mirror.
    case download(DownloadError)

    /// The dataset, the directory or file, and what to do about it.
    public var description: String {
        switch self {
        case .notFound(let dataset, let directory, let missing):
            return "\(dataset): dataset not found in \(directory) (missing \(missing.joined(separator: ", "))). "
                + "You can use download: true to download it, install Debian's dataset-fashion-mnist "
                + "(FashionMNIST, found automatically in /usr/share/datasets/fashion-mnist), or copy the "
                + "*-ubyte.gz files there yourself."
        case .corrupt(let e): return e.description
        case .download(let e): return e.description
        }
    }
}

/// Where an MNIST-style dataset comes from.
struct IDXResources {
    struct File {
        let name: String
        /// MD5 of the published .gz (torchvision's checksum, for downloads).
        let md5: String
        /// MD5 of the decompressed bytes: local copies such as Debian's are recompressed, so
        /// their .gz differs while the content is the same.
        let rawMD5: String
    }
    let folder: String
    var mirrors: [String]
    let files: [File]
    var localCopies: [String]
    let classes: [String]
    var timeout: TimeInterval = 60

    func files(train: Bool) -> (images: File, labels: File) {
        train ? (files[0], files[1]) : (files[2], files[3])
    }
}

/// The loaded contents of an MNIST-style split plus its transforms. Shared by `MNIST` and
/// `FashionMNIST`; read-only once built, so workers read it concurrently without locks.
final class IDXClassificationStore: @unchecked Sendable {
    let pixels: [UInt8]
    let labels: [UInt8]
    let rows: Int
    let cols: Int
    let transform: (Image) throws -> Tensor
    let targetTransform: ((Int) throws -> Int)?
    /// Set when the transform is `scale * pixel + shift` and there is no target transform.
    let affine: (scale: Float, shift: Float)?

    init(root: String, train: Bool, download: Bool, resources: IDXResources,
         transform: @escaping (Image) throws -> Tensor, affine: (scale: Float, shift: Float)?,
         targetTransform: ((Int) throws -> Int)?, progress: Bool = true) throws {
        let raw = (root as NSString).appendingPathComponent(resources.folder + "/raw")
        let (imFile, lbFile) = resources.files(train: train)
        try Self.ensure(raw: raw, needed: [imFile, lbFile], download: download, resources: resources, progress: progress)
        let imBytes = try Self.read(raw: raw, name: imFile.name)
        let lbBytes = try Self.read(raw: raw, name: lbFile.name)
        do {
            let (im, lb) = try IDX.parsePair(images: imBytes.bytes, imagesFile: imBytes.path, labels: lbBytes.bytes,
                                             labelsFile: lbBytes.path, classes: resources.classes.count)
            pixels = im.pixels
            rows = im.rows
            cols = im.cols
            labels = lb
        } catch let e as IDXError {
            throw DatasetError.corrupt(e)
        }
        self.transform = transform
        self.targetTransform = targetTransform
        self.affine = targetTransform == nil ? affine : nil
    }

    /// `raw/name.gz` or, as torchvision leaves it after extracting, `raw/name`.
    static func existing(raw: String, name: String) -> String? {
        let fm = FileManager.default
        for p in [raw + "/" + name, raw + "/" + name.dropLast(3)] where fm.fileExists(atPath: p) { return p }
        return nil
    }

    static func read(raw: String, name: String) throws -> (path: String, bytes: [UInt8]) {
        guard let path = existing(raw: raw, name: name) else {
            throw DatasetError.corrupt(IDXError(file: raw + "/" + name, problem: .missing))
        }
        do {
            return (path, try inflateIDX(path))
        } catch let e as Kernels.GunzipError {
            throw DatasetError.corrupt(IDXError(file: path, problem: .unreadable(e.message)))
        }
    }

    /// An IDX file, inflated no further than its header declares: a gzip bomb behind a
    /// small header fails once past it, not after gigabytes. A header too short or too
    /// large is returned as read, for `IDX.parse` to name the problem.
    static func inflateIDX(_ path: String) throws -> [UInt8] {
        // The longest header: the magic, then up to 255 dims of 4 bytes.
        let head = try Kernels.gunzip(path: path, maxBytes: 4 + 4 * 255).bytes
        guard head.count >= 4 else { return head }
        let ndim = Int(head[3]), headerSize = 4 + 4 * ndim
        guard head.count >= headerSize,
              let size = try? IDX.payloadSize((0..<ndim).map { Int(IDX.be32(head, 4 + 4 * $0)) }, file: path) else {
            return head
        }
        let (bytes, more) = try Kernels.gunzip(path: path, maxBytes: headerSize + size)
        if more {
            throw Kernels.GunzipError(message: "inflates to more than the \(headerSize + size) bytes its IDX header declares")
        }
        return bytes
    }

    /// Makes `needed` present in `raw`: a verified local copy is linked first; then, if
    /// allowed, every missing file is downloaded.
    static func ensure(raw: String, needed: [IDXResources.File], download: Bool, resources: IDXResources,
                       progress: Bool) throws {
        var missing = needed.filter { existing(raw: raw, name: $0.name) == nil }
        if missing.isEmpty { return }
        try FileManager.default.createDirectory(atPath: raw, withIntermediateDirectories: true)
        missing = missing.filter { !linkLocalCopy($0, raw: raw, from: resources.localCopies) }
        if missing.isEmpty { return }
        guard download else {
            throw DatasetError.notFound(dataset: resources.folder, directory: raw, missing: missing.map(\.name))
        }
        // torchvision fetches the whole dataset (both splits) in one go.
        for file in resources.files where existing(raw: raw, name: file.name) == nil {
            do {
                try Downloader.fetch(file: file.name, md5: file.md5, mirrors: resources.mirrors, into: raw,
                                     timeout: resources.timeout, progress: progress)
            } catch let e as DownloadError {
                throw DatasetError.download(e)
            }
        }
    }

    /// Links `dir/file` into `raw` if its decompressed content has the published MD5
    /// (falls back to a copy where symlinks are refused).
    static func linkLocalCopy(_ file: IDXResources.File, raw: String, from dirs: [String]) -> Bool {
        for dir in dirs {
            let src = dir + "/" + file.name
            guard FileManager.default.fileExists(atPath: src),
                  let bytes = try? inflateIDX(src), md5Hex(bytes) == file.rawMD5 else { continue }
            let dst = raw + "/" + file.name
            if symlink(src, dst) == 0 { return true }
            if (try? FileManager.default.copyItem(atPath: src, toPath: dst)) != nil { return true }
        }
        return false
    }

    var count: Int { labels.count }

    func image(at index: Int) -> Image {
        precondition(index >= 0 && index < count, "index \(index) is out of bounds for dataset of size \(count)")
        let n = rows * cols
        return Image(height: rows, width: cols, pixels: Array(pixels[(index * n)..<((index + 1) * n)]))
    }

    func sample(at index: Int) throws -> (Tensor, Int) {
        let x = try transform(image(at: index))
        let y = Int(labels[index])
        return (x, try targetTransform?(y) ?? y)
    }

    func fetchBatch(_ indices: [Int]) -> (Tensor, Tensor)? {
        guard let affine else { return nil }
        for i in indices {
            precondition(i >= 0 && i < count, "index \(i) is out of bounds for dataset of size \(count)")
        }
        let n = indices.count
        let x = Tensor(empty: [n, 1, rows, cols])
        let y = Tensor(empty: [n], dtype: .int64)
        let idx = indices.map(Int64.init)
        idx.withUnsafeBufferPointer { ip in
            pixels.withUnsafeBufferPointer { pp in
                Kernels.gatherU8ToF32(x.f32, pp.baseAddress!, ip.baseAddress!, count: n, sampleSize: rows * cols,
                                      scale: affine.scale, shift: affine.shift)
            }
            labels.withUnsafeBufferPointer { lp in
                Kernels.gatherU8ToI64(y.i64, lp.baseAddress!, ip.baseAddress!, count: n)
            }
        }
        return (x, y)
    }
}

/// Turns a type-erased target transform into a closure, checking its types.
func targetClosure(_ t: (any Transform)?) -> ((Int) throws -> Int)? {
    guard let t else { return nil }
    precondition(t.erasedInputType == Int.self && t.erasedOutputType == Int.self,
                 "targetTransform: expected a transform from Int to Int, got \(t.erasedInputType) -> \(t.erasedOutputType)")
    return { try t.applyErased($0) as! Int }
}

/// The MNIST-family datasets' shared surface.
public protocol IDXClassificationDataset: Dataset, BatchFetching where Sample == Tensor, Target == Int {
    /// Class names, indexed by label.
    static var classes: [String] { get }
}

// MARK: - The shared implementation

/// An image-classification dataset stored as IDX files (MNIST's format). `FashionMNIST` and
/// `MNIST` are this class with their own files, mirrors, checksums and class names; a
/// subclass overriding `resources` and `classes` adds another such dataset.
public class IDXImageClassification: IDXClassificationDataset {
    let store: IDXClassificationStore
    /// The directory holding `<Dataset>/raw/`.
    public let root: String
    /// Training split or test split.
    public let train: Bool

    /// Folder, file names, checksums, mirrors and local copies of the dataset.
    class var resources: IDXResources { fatalError("\(Self.self) must override resources") }
    /// Class names, indexed by label.
    ///
    /// PyTorch: `dataset.classes`.
    public class var classes: [String] { resources.classes }

    /// - Parameters:
    ///   - root: directory holding `<Dataset>/raw/`.
    ///   - train: the training split if true, else the test split.
    ///   - download: fetch missing files from the mirrors (after looking for a local copy).
    ///   - transform: uint8 image → tensor (`ToTensor()`, `Compose([...])`, …).
    ///   - targetTransform: an `Int → Int` transform of labels (e.g. a `Lambda`).
    /// - Throws: `DatasetError` naming the file and the problem.
    ///
    /// PyTorch: `torchvision.datasets.FashionMNIST(root, train, download, transform, target_transform)`.
    public init<T: Transform>(root: String, train: Bool = true, download: Bool = false, transform: T,
                              targetTransform: (any Transform)? = nil) throws where T.Input == Image, T.Output == Tensor {
        self.root = root
        self.train = train
        store = try IDXClassificationStore(root: root, train: train, download: download, resources: Self.resources,
                                           transform: { try transform($0) }, affine: fusedAffine(transform),
                                           targetTransform: targetClosure(targetTransform))
    }

    /// Without a transform, samples are `ToTensor()` of the image (Ember has no PIL type to
    /// return; the raw bytes are available through `image(at:)`).
    public convenience init(root: String, train: Bool = true, download: Bool = false,
                            targetTransform: (any Transform)? = nil) throws {
        try self.init(root: root, train: train, download: download, transform: ToTensor(), targetTransform: targetTransform)
    }

    /// With explicit resources (tests point the mirrors at a local server).
    init(root: String, train: Bool, download: Bool, resources: IDXResources, progress: Bool) throws {
        self.root = root
        self.train = train
        store = try IDXClassificationStore(root: root, train: train, download: download, resources: resources,
                                           transform: { ToTensor()($0) }, affine: (1 / 255, 0), targetTransform: nil,
                                           progress: progress)
    }

    /// The number of images in the split.
    public var count: Int { store.count }
    /// The image at `index` through the transform, and its label; stops the program if reading fails.
    public subscript(index: Int) -> (Tensor, Int) { sampleOrStop(store, index) }
    /// The image at `index` through the transform, and its label.
    public func sample(at index: Int) throws -> (Tensor, Int) { try store.sample(at: index) }
    /// A whole batch decoded in one C call when the transform is affine (`ToTensor`, `Normalize`), else nil.
    public func fetchBatch(_ indices: [Int]) throws -> (Tensor, Tensor)? { store.fetchBatch(indices) }
    /// The untransformed 28×28 image.
    public func image(at index: Int) -> Image { store.image(at: index) }
    /// All labels in file order (torchvision's `targets`).
    public var targets: [Int] { store.labels.map(Int.init) }
}

// MARK: - FashionMNIST

/// Zalando's Fashion-MNIST: 28×28 grayscale clothing images in 10 classes, 60 000 for
/// training and 10 000 for testing, with torchvision's semantics.
///
/// Files are read from `root/FashionMNIST/raw/*-ubyte.gz` (or the extracted `*-ubyte`).
/// When they are missing, a verified local copy (Debian's `dataset-fashion-mnist` in
/// `/usr/share/datasets/fashion-mnist`) is linked there; otherwise, with `download: true`,
/// they are downloaded from `FashionMNIST.mirrors`, checked against torchvision's MD5s.
///
/// ```swift
/// let train = try FashionMNIST(root: "data", train: true, download: true, transform: ToTensor())
/// let (x, label) = train[0]   // x: [1, 28, 28] float32 in [0, 1]; FashionMNIST.classes[label]
/// ```
///
/// With `ToTensor()` or `Compose([ToTensor(), Normalize(mean: [m], std: [s])])` and no target
/// transform, the `DataLoader` decodes a whole batch in one kernel call; any other transform
/// runs sample by sample.
public final class FashionMNIST: IDXImageClassification {
    /// The ten Fashion-MNIST class names, indexed by label.
    public override class var classes: [String] {
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
    }
    /// Download mirrors, tried in order.
    public static let mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    /// Directories searched for a local copy before downloading.
    public static let localCopies = ["/usr/share/datasets/fashion-mnist"]

    override class var resources: IDXResources {
        IDXResources(
            folder: "FashionMNIST", mirrors: mirrors,
            files: [
                .init(name: "train-images-idx3-ubyte.gz", md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d", rawMD5: "f4a8712d7a061bf5bd6d2ca38dc4d50a"),
                .init(name: "train-labels-idx1-ubyte.gz", md5: "25c81989df183df01b3e8a0aad5dffbe", rawMD5: "9018921c3c673c538a1fc5bad174d6f9"),
                .init(name: "t10k-images-idx3-ubyte.gz", md5: "bef4ecab320f06d8554ea6380940ec79", rawMD5: "8181f5470baa50b63fa0f6fddb340f0a"),
                .init(name: "t10k-labels-idx1-ubyte.gz", md5: "bb300cfdad3c16e7a12a480ee83cd310", rawMD5: "15d484375f8d13e6eb1aabb0c3f46965"),
            ],
            localCopies: localCopies, classes: classes)
    }
}

// MARK: - MNIST

/// LeCun's handwritten digits, with the same interface as `FashionMNIST` (files in
/// `root/MNIST/raw/`; mirrors as in torchvision).
public final class MNIST: IDXImageClassification {
    /// The ten digit names, indexed by label.
    public override class var classes: [String] {
        ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four", "5 - five", "6 - six", "7 - seven",
         "8 - eight", "9 - nine"]
    }
    /// Download mirrors, tried in order (torchvision's).
    public static let mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"]
    /// Debian packages no MNIST (only Fashion-MNIST), so there is no local copy to look for.
    public static let localCopies: [String] = []

    override class var resources: IDXResources {
        IDXResources(
            folder: "MNIST", mirrors: mirrors,
            files: [
                .init(name: "train-images-idx3-ubyte.gz", md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873", rawMD5: "6bbc9ace898e44ae57da46a324031adb"),
                .init(name: "train-labels-idx1-ubyte.gz", md5: "d53e105ee54ea40749a09fcbcd1e9432", rawMD5: "a25bea736e30d166cdddb491f175f624"),
                .init(name: "t10k-images-idx3-ubyte.gz", md5: "9fb629c4189551a2d022fa330f9573f3", rawMD5: "2646ac647ad5339dbf082846283269ea"),
                .init(name: "t10k-labels-idx1-ubyte.gz", md5: "ec29112dd5afa0611ce80d1b7f02629c", rawMD5: "27ae3e4e09519cfbb04c329615203637"),
            ],
            localCopies: localCopies, classes: classes)
    }
}

func sampleOrStop(_ store: IDXClassificationStore, _ index: Int) -> (Tensor, Int) {
    do { return try store.sample(at: index) } catch {
        fatalError("dataset[\(index)]: the transform failed: \(error) (use sample(at:) to catch it)")
    }
}
