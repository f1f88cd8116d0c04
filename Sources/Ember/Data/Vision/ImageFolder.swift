import Foundation

/// An `ImageFolder` could not be built from its directory.
public enum ImageFolderError: Error, CustomStringConvertible, Equatable {
    /// `root` has no sub-folder.
    case noClassFolders(root: String)
    /// These class folders hold no file with an accepted extension.
    case noValidFiles(classes: [String], extensions: [String])
    /// The directory could not be listed.
    case unreadable(path: String, message: String)

    /// The problem in words (the first two cases worded as torchvision's errors).
    public var description: String {
        switch self {
        case .noClassFolders(let root): return "Couldn't find any class folder in \(root)."
        case .noValidFiles(let classes, let extensions):
            return "Found no valid file for the classes \(classes.joined(separator: ", ")). "
                + "Supported extensions are: \(extensions.joined(separator: ", "))"
        case .unreadable(let path, let message): return "\(path): \(message)"
        }
    }
}

/// A directory of images with one sub-folder per class, torchvision's `ImageFolder`:
///
/// ```
/// root/dog/xxx.png
/// root/dog/nested/xxy.jpeg
/// root/cat/123.jpg
/// ```
///
/// Classes are the sub-folders' names, sorted (`classes`, `classToIdx`); samples are every
/// file with an accepted extension below each class folder (case-insensitive, nested
/// folders included, symlinks followed), in torchvision's order. A sample is
/// `(transform(loader(path)), targetTransform(classIndex))`; the default loader reads the
/// image as RGB uint8 `[3, H, W]` (`readImage(path, mode: .rgb)`), as torchvision converts
/// to RGB.
///
/// ```swift
/// let ds = try ImageFolder(root: "data/train", transform: Compose<Tensor, Tensor>([
///     RandomResizedCrop(224), RandomHorizontalFlip(), ToDtype(.float32, scale: true),
///     Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])]))
/// let loader = DataLoader(ds, batchSize: 64, shuffle: true, numWorkers: 2)
/// ```
///
/// With `skipBadFiles: true` every file is decoded once while the dataset is built and
/// those that fail are left out and listed in `skippedFiles`; otherwise a bad file is an
/// `ImageError` from `sample(at:)` (the DataLoader passes it on).
public final class ImageFolder: Dataset, @unchecked Sendable {
    /// torchvision's default extensions that Ember decodes.
    public static let defaultExtensions = [".jpg", ".jpeg", ".png"]

    /// The folder holding one sub-folder per class.
    public let root: String
    /// Class names (sub-folder names), sorted.
    public let classes: [String]
    /// Class name → index.
    public let classToIdx: [String: Int]
    /// `(path, classIndex)` of every sample.
    public let samples: [(path: String, target: Int)]
    /// Files left out by `skipBadFiles`, with the reason.
    public let skippedFiles: [ImageError]
    let loader: (String) throws -> Tensor
    let transform: ((Tensor) throws -> Tensor)?
    /// With `decodeCropOnly`, a `RandomResizedCrop` that starts the transform and the
    /// transforms after it: only its window is decoded (the same pixels as the whole image cut).
    private(set) var cropFirst: (crop: RandomResizedCrop, rest: ((Tensor) throws -> Tensor)?)?
    let targetTransform: ((Int) throws -> Int)?

    /// - Parameters:
    ///   - root: the folder holding one sub-folder per class.
    ///   - transform: a uint8 (or the loader's) tensor → tensor transform.
    ///   - targetTransform: an `Int → Int` transform of class indices.
    ///   - extensions: accepted file-name endings, case-insensitive.
    ///   - loader: path → image tensor (default: RGB uint8 `[3, H, W]`).
    ///   - skipBadFiles: decode every file now and leave out those that fail.
    ///   - decodeCropOnly: when `transform` starts with `RandomResizedCrop` and there is no
    ///     custom loader, decode only the crop's window of each JPEG (the same pixels and
    ///     batches; saves decoding work on large images, see docs/VISION.md).
    /// - Throws: `ImageFolderError` when the folder has no class or a class no file.
    ///
    /// PyTorch: `torchvision.datasets.ImageFolder(root, transform, target_transform, loader)`;
    /// `extensions` as `torchvision.datasets.DatasetFolder`'s.
    public convenience init<T: Transform>(root: String, transform: T, targetTransform: (any Transform)? = nil,
                              extensions: [String] = ImageFolder.defaultExtensions,
                              loader: ((String) throws -> Tensor)? = nil,
                              skipBadFiles: Bool = false, decodeCropOnly: Bool = false) throws
        where T.Input == Tensor, T.Output == Tensor {
        try self.init(root: root, transformClosure: { try transform($0) }, targetTransform: targetTransform,
                      extensions: extensions, loader: loader ?? { try readImage($0, mode: .rgb) }, skipBadFiles: skipBadFiles)
        guard decodeCropOnly && loader == nil else { return }
        if let crop = transform as? RandomResizedCrop {
            cropFirst = (crop, nil)
        } else if let chain = transform as? Compose<Tensor, Tensor>, let crop = chain.steps.first as? RandomResizedCrop {
            let rest = Compose<Tensor, Tensor>(Array(chain.steps.dropFirst()))
            cropFirst = (crop, { try rest($0) })
        }
    }

    /// Without a transform, samples are what the loader returns.
    public convenience init(root: String, targetTransform: (any Transform)? = nil,
                            extensions: [String] = ImageFolder.defaultExtensions,
                            loader: ((String) throws -> Tensor)? = nil,
                            skipBadFiles: Bool = false) throws {
        try self.init(root: root, transformClosure: nil, targetTransform: targetTransform, extensions: extensions,
                      loader: loader ?? { try readImage($0, mode: .rgb) }, skipBadFiles: skipBadFiles)
    }

    init(root: String, transformClosure: ((Tensor) throws -> Tensor)?, targetTransform: (any Transform)?,
         extensions: [String], loader: @escaping (String) throws -> Tensor, skipBadFiles: Bool) throws {
        self.root = root
        self.loader = loader
        transform = transformClosure
        self.targetTransform = targetClosure(targetTransform)
        let classes = try Self.findClasses(root)
        self.classes = classes
        classToIdx = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let ext = extensions.map { $0.lowercased() }
        var found: [(path: String, target: Int)] = []
        var empty: [String] = []
        for (i, c) in classes.enumerated() {
            let files = try Self.walk(root + "/" + c).filter { f in ext.contains { f.lowercased().hasSuffix($0) } }
            if files.isEmpty { empty.append(c) }
            found += files.map { ($0, i) }
        }
        if !empty.isEmpty { throw ImageFolderError.noValidFiles(classes: empty, extensions: extensions) }
        if skipBadFiles {
            let errors = Self.check(found.map(\.path), loader: loader)
            skippedFiles = errors.compactMap { $0 }
            samples = zip(found, errors).filter { $0.1 == nil }.map { $0.0 }
        } else {
            skippedFiles = []
            samples = found
        }
    }

    /// Sub-folder names of `root`, sorted by code point (Python's `sorted`).
    static func findClasses(_ root: String) throws -> [String] {
        let names: [String]
        do { names = try FileManager.default.contentsOfDirectory(atPath: root) } catch {
            throw ImageFolderError.unreadable(path: root, message: "cannot list the directory")
        }
        let dirs = names.filter { isDirectory(root + "/" + $0) }.sorted(by: codePointLess)
        if dirs.isEmpty { throw ImageFolderError.noClassFolders(root: root) }
        return dirs
    }

    /// Files below `dir` in torchvision's order: `sorted(os.walk(dir, followlinks=True))`
    /// visits directories by path, and each directory's files sorted by name.
    static func walk(_ dir: String) throws -> [String] {
        var dirs: [String] = []
        var visited = Set<String>()
        func collect(_ d: String) {
            let real = (d as NSString).resolvingSymlinksInPath
            guard visited.insert(real).inserted else { return }   // a symlink cycle
            dirs.append(d)
            for name in (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? [] where isDirectory(d + "/" + name) {
                collect(d + "/" + name)
            }
        }
        collect(dir)
        var files: [String] = []
        for d in dirs.sorted(by: codePointLess) {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []
            files += names.filter { !isDirectory(d + "/" + $0) }.sorted(by: codePointLess).map { d + "/" + $0 }
        }
        return files
    }

    static func isDirectory(_ path: String) -> Bool {
        var st = stat()
        return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    static func codePointLess(_ a: String, _ b: String) -> Bool { a.utf8.lexicographicallyPrecedes(b.utf8) }

    /// Loads every file (in parallel, one slot per file): nil where it loads, else its error.
    static func check(_ paths: [String], loader: @escaping (String) throws -> Tensor) -> [ImageError?] {
        let results = UnsafeMutableBufferPointer<ImageError?>.allocate(capacity: paths.count)
        results.initialize(repeating: nil)
        defer { results.deallocate() }
        // Each iteration writes its own slot; loaders must be thread-safe (they run on
        // DataLoader workers too).
        nonisolated(unsafe) let slots = results
        nonisolated(unsafe) let loader = loader
        DispatchQueue.concurrentPerform(iterations: paths.count) { i in
            do { _ = try loader(paths[i]) } catch let e as ImageError { slots[i] = e } catch {
                slots[i] = ImageError(file: paths[i], message: "\(error)")
            }
        }
        return Array(results)
    }

    /// The number of samples (files left out by `skipBadFiles` not counted).
    public var count: Int { samples.count }

    /// Class indices of all samples, in order (torchvision's `targets`).
    public var targets: [Int] { samples.map(\.target) }

    /// The image at `index` through the loader and the transform, and its class index through
    /// the target transform; throws the loader's error (the default loader's: `ImageError`) or the transforms'.
    public func sample(at index: Int) throws -> (Tensor, Int) {
        precondition(index >= 0 && index < count, "index \(index) is out of bounds for dataset of size \(count)")
        let (path, target) = samples[index]
        var x: Tensor
        if let (crop, rest) = cropFirst {
            x = try crop.loadCropped(path)
            if let rest { x = try rest(x) }
        } else {
            x = try loader(path)
            if let transform { x = try transform(x) }
        }
        return (x, try targetTransform?(target) ?? target)
    }

    /// The image at `index` through the loader and the transform, and its class index; stops
    /// the program if loading or a transform fails (use `sample(at:)` to catch the error).
    public subscript(index: Int) -> (Tensor, Int) {
        do { return try sample(at: index) } catch {
            fatalError("ImageFolder[\(index)]: \(error) (use sample(at:) to catch it)")
        }
    }
}
