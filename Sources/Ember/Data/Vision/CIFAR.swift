import Foundation

/// A CIFAR dataset could not be found, fetched, extracted or read.
public enum CIFARError: Error, CustomStringConvertible {
    /// `directory` lacks the files and the archive, and downloading was not requested.
    case notFound(dataset: String, directory: String, archive: String)
    /// A batch or names file is malformed: the file and the problem.
    case corrupt(file: String, problem: String)
    /// Downloading failed on every mirror.
    case download(DownloadError)
    /// The archive could not be read.
    case archive(ArchiveError)

    /// The problem in words: the dataset and directory (suggesting `download: true`), or the file
    /// or download that failed and why.
    public var description: String {
        switch self {
        case .notFound(let dataset, let directory, let archive):
            return "\(dataset): dataset not found or corrupted in \(directory) (no extracted batches, no \(archive)). "
                + "You can use download: true to download it."
        case .corrupt(let file, let problem): return "\(file): \(problem)"
        case .download(let e): return e.description
        case .archive(let e): return e.description
        }
    }
}

/// Where a CIFAR dataset comes from and how its binary batches are laid out.
struct CIFARResources {
    let name: String
    /// The published archive and its MD5.
    let archive: String
    let md5: String
    var mirrors: [String]
    /// The folder the archive extracts into, under `root`.
    let folder: String
    let trainFiles: [String]
    let testFiles: [String]
    /// Label bytes before each image: 1 (CIFAR-10) or 2 (CIFAR-100: coarse, fine).
    let labelBytes: Int
    /// Class-name files, one per label byte, in the same order.
    let nameFiles: [String]
    var timeout: TimeInterval = 60

    var recordSize: Int { labelBytes + CIFARBatch.imageBytes }
    var allFiles: [String] { trainFiles + testFiles + nameFiles }
}

/// Parses CIFAR's binary batches: records of label byte(s) then a 32×32 image as three
/// 1024-byte planes (R, G, B).
enum CIFARBatch {
    static let imageBytes = 3 * 32 * 32

    /// Images (N × 3072, planar) and labels (one array per label byte) of a batch file,
    /// checking the size and every label against its class count.
    static func parse(_ bytes: [UInt8], file: String, labelBytes: Int, classCounts: [Int]) throws
        -> (images: [UInt8], labels: [[UInt8]]) {
        let record = labelBytes + imageBytes
        guard !bytes.isEmpty, bytes.count % record == 0 else {
            throw CIFARError.corrupt(file: file, problem: "size \(bytes.count) is not a whole number of \(record)-byte records")
        }
        let n = bytes.count / record
        var images = [UInt8](repeating: 0, count: n * imageBytes)
        var labels = Array(repeating: [UInt8](repeating: 0, count: n), count: labelBytes)
        try bytes.withUnsafeBufferPointer { src in
            try images.withUnsafeMutableBufferPointer { dst in
                for i in 0..<n {
                    for k in 0..<labelBytes {
                        let l = src[i * record + k]
                        guard Int(l) < classCounts[k] else {
                            throw CIFARError.corrupt(file: file, problem: "record \(i) has label \(l), but there are \(classCounts[k]) classes")
                        }
                        labels[k][i] = l
                    }
                    (dst.baseAddress! + i * imageBytes).update(from: src.baseAddress! + i * record + labelBytes, count: imageBytes)
                }
            }
        }
        return (images, labels)
    }

    /// Class names, one per non-empty line.
    static func names(_ bytes: [UInt8], file: String) throws -> [String] {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw CIFARError.corrupt(file: file, problem: "class names are not UTF-8 text")
        }
        let names = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !names.isEmpty, names.count <= 256 else {
            throw CIFARError.corrupt(file: file, problem: "\(names.count) class names (expected 1 to 256)")
        }
        return names
    }
}

/// CIFAR-10 (Krizhevsky's 60 000 32×32 colour images in 10 classes, 50 000 for training),
/// from the official binary archive `cifar-10-binary.tar.gz`, with torchvision's arguments.
///
/// `root/cifar-10-batches-bin/` is used when it holds the batches; otherwise
/// `root/cifar-10-binary.tar.gz` (downloaded first with `download: true`, MD5-checked) is
/// extracted there. A sample is `(transform(image), targetTransform(label))` where the image
/// is uint8 `[3, 32, 32]` (torchvision's PIL image as a tensor):
///
/// ```swift
/// let train = try CIFAR10(root: "data", download: true, transform: Compose<Tensor, Tensor>([
///     RandomCrop(size: 32, padding: 4), RandomHorizontalFlip(), ToDtype(.float32, scale: true),
///     Normalize(mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.243, 0.261])]))
/// ```
public class CIFAR10: Dataset, @unchecked Sendable {
    /// The directory holding the extracted batches folder or the archive.
    public let root: String
    /// The training split (true) or the test split.
    public let train: Bool
    /// Class names, indexed by label (from the archive's names file).
    public let classes: [String]
    /// Labels of every image, in file order.
    public let targets: [Int]
    let images: [UInt8]
    let labelSets: [[UInt8]]
    let names: [[String]]
    let transform: ((Tensor) throws -> Tensor)?
    let targetTransform: ((Int) throws -> Int)?

    /// Download mirrors, tried in order.
    public class var mirrors: [String] { ["https://www.cs.toronto.edu/~kriz/"] }

    class var resources: CIFARResources {
        CIFARResources(name: "CIFAR10", archive: "cifar-10-binary.tar.gz", md5: "c32a1d4ab5d03f1284b67883e8d87530",
                       mirrors: mirrors, folder: "cifar-10-batches-bin",
                       trainFiles: (1...5).map { "data_batch_\($0).bin" }, testFiles: ["test_batch.bin"],
                       labelBytes: 1, nameFiles: ["batches.meta.txt"])
    }

    /// Which label byte is the target (CIFAR-100: 1 for fine, 0 for coarse).
    class var targetLabelIndex: Int { 0 }

    /// - Parameters:
    ///   - root: directory holding `cifar-10-batches-bin/` or the archive.
    ///   - train: the five training batches if true, else the test batch.
    ///   - download: fetch the archive from `mirrors` when neither is present.
    ///   - transform: uint8 `[3, 32, 32]` → tensor.
    ///   - targetTransform: an `Int → Int` transform of labels.
    /// - Throws: `CIFARError` naming the file and the problem.
    ///
    /// PyTorch: `torchvision.datasets.CIFAR10(root, train, transform, target_transform, download)`.
    public convenience init<T: Transform>(root: String, train: Bool = true, download: Bool = false, transform: T,
                                          targetTransform: (any Transform)? = nil) throws where T.Input == Tensor, T.Output == Tensor {
        try self.init(root: root, train: train, download: download, transformClosure: { try transform($0) },
                      targetTransform: targetTransform, resources: Self.resources, progress: true)
    }

    /// Without a transform, samples are the uint8 `[3, 32, 32]` images.
    public convenience init(root: String, train: Bool = true, download: Bool = false,
                            targetTransform: (any Transform)? = nil) throws {
        try self.init(root: root, train: train, download: download, transformClosure: nil,
                      targetTransform: targetTransform, resources: Self.resources, progress: true)
    }

    init(root: String, train: Bool, download: Bool, transformClosure: ((Tensor) throws -> Tensor)?,
         targetTransform: (any Transform)?, resources: CIFARResources, progress: Bool) throws {
        self.root = root
        self.train = train
        transform = transformClosure
        self.targetTransform = targetClosure(targetTransform)
        let dir = root + "/" + resources.folder
        try Self.ensure(root: root, download: download, resources: resources, progress: progress)
        var names: [[String]] = []
        for f in resources.nameFiles { names.append(try CIFARBatch.names(try Self.read(dir + "/" + f), file: dir + "/" + f)) }
        var images: [UInt8] = []
        var labels = Array(repeating: [UInt8](), count: resources.labelBytes)
        for f in train ? resources.trainFiles : resources.testFiles {
            let path = dir + "/" + f
            let batch = try CIFARBatch.parse(try Self.read(path), file: path, labelBytes: resources.labelBytes,
                                             classCounts: names.map(\.count))
            images += batch.images
            for k in 0..<resources.labelBytes { labels[k] += batch.labels[k] }
        }
        self.images = images
        labelSets = labels
        self.names = names
        let t = Self.targetLabelIndex
        classes = names[t]
        targets = labels[t].map(Int.init)
    }

    static func read(_ path: String) throws -> [UInt8] {
        do { return try readFileBytes(path) } catch let e as ImageError {
            throw CIFARError.corrupt(file: path, problem: e.message)
        }
    }

    /// Extracts the archive into `root/folder` when files are missing, downloading it first
    /// if allowed.
    static func ensure(root: String, download: Bool, resources: CIFARResources, progress: Bool) throws {
        let dir = root + "/" + resources.folder
        let fm = FileManager.default
        if resources.allFiles.allSatisfy({ fm.fileExists(atPath: dir + "/" + $0) }) { return }
        let archive = root + "/" + resources.archive
        let present = fm.fileExists(atPath: archive)
        if !present || (try? md5Hex(readFileBytes(archive))) != resources.md5 {
            guard download else {
                throw CIFARError.notFound(dataset: resources.name, directory: root, archive: resources.archive)
            }
            try fm.createDirectory(atPath: root, withIntermediateDirectories: true)
            do {
                try Downloader.fetch(file: resources.archive, md5: resources.md5, mirrors: resources.mirrors, into: root,
                                     timeout: resources.timeout, progress: progress)
            } catch let e as DownloadError {
                throw CIFARError.download(e)
            }
        }
        try extract(archive: archive, into: dir, resources: resources)
    }

    /// Writes the archive's batches and names files into `dir` (atomically, one by one),
    /// reading each entry under a cap.
    static func extract(archive: String, into dir: String, resources: CIFARResources) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let wanted = Set(resources.allFiles.map { resources.folder + "/" + $0 })
        var found = Set<String>()
        do {
            let reader = try ArchiveReader(contentsOf: URL(fileURLWithPath: archive))
            while let entry = try reader.next() {
                let name = entry.name.hasPrefix("./") ? String(entry.name.dropFirst(2)) : entry.name
                guard entry.isFile, wanted.contains(name) else { continue }
                // The largest file is CIFAR-100's train.bin: 50 000 × 3074 bytes.
                let bytes = try reader.readEntry(entry, maxBytes: 200_000_000)
                try Downloader.writeAtomically(bytes, to: dir + "/" + (name as NSString).lastPathComponent)
                found.insert(name)
            }
        } catch let e as ArchiveError {
            throw CIFARError.archive(e)
        }
        let missing = wanted.subtracting(found).sorted()
        if !missing.isEmpty {
            throw CIFARError.corrupt(file: archive, problem: "the archive lacks \(missing.joined(separator: ", "))")
        }
    }

    /// The number of images in the split.
    public var count: Int { targets.count }

    /// The untransformed uint8 `[3, 32, 32]` image.
    public func image(at index: Int) -> Tensor {
        precondition(index >= 0 && index < count, "index \(index) is out of bounds for dataset of size \(count)")
        let t = Tensor(empty: [3, 32, 32], dtype: .uint8)
        images.withUnsafeBytes { t.raw.copyMemory(from: $0.baseAddress! + index * CIFARBatch.imageBytes, byteCount: CIFARBatch.imageBytes) }
        return t
    }

    /// The image at `index` through the transform, and its target through the target transform;
    /// throws the transforms' errors.
    public func sample(at index: Int) throws -> (Tensor, Int) {
        var x = image(at: index)
        if let transform { x = try transform(x) }
        let y = targets[index]
        return (x, try targetTransform?(y) ?? y)
    }

    /// The image at `index` through the transform, and its target; stops the program if a
    /// transform fails (use `sample(at:)` to catch the error).
    public subscript(index: Int) -> (Tensor, Int) {
        do { return try sample(at: index) } catch {
            fatalError("\(Self.self)[\(index)]: the transform failed: \(error) (use sample(at:) to catch it)")
        }
    }

    /// Class name → index.
    public var classToIdx: [String: Int] { Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) }) }
}

/// CIFAR-100: the same images in 100 fine classes grouped into 20 coarse ones, from
/// `cifar-100-binary.tar.gz` (extracted to `root/cifar-100-binary/`). Targets are the fine
/// labels, as torchvision's; `coarseTargets` and `coarseClasses` give the groups.
public final class CIFAR100: CIFAR10, @unchecked Sendable {
    /// Download mirrors of `cifar-100-binary.tar.gz`, tried in order.
    public override class var mirrors: [String] { ["https://www.cs.toronto.edu/~kriz/"] }

    override class var resources: CIFARResources {
        CIFARResources(name: "CIFAR100", archive: "cifar-100-binary.tar.gz", md5: "03b5dce01913d631647c71ecec9e9cb8",
                       mirrors: mirrors, folder: "cifar-100-binary", trainFiles: ["train.bin"], testFiles: ["test.bin"],
                       labelBytes: 2, nameFiles: ["coarse_label_names.txt", "fine_label_names.txt"])
    }

    override class var targetLabelIndex: Int { 1 }

    /// The 20 superclass names.
    public var coarseClasses: [String] { names[0] }
    /// The superclass of every image.
    public var coarseTargets: [Int] { labelSets[0].map(Int.init) }
}
