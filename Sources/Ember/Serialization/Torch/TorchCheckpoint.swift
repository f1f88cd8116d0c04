import Foundation

/// A file that is not a loadable torch.save checkpoint, or is malformed or hostile: the file
/// and what is wrong with it.
public struct TorchCheckpointError: Error, CustomStringConvertible, Equatable {
    /// The file.
    public let path: String
    /// What is wrong with it.
    public let message: String
    /// `path: message`.
    public var description: String { "\(path): \(message)" }
}

/// A file written by PyTorch's `torch.save` (the zip format of PyTorch 1.6 and later), read
/// safely: its pickle is interpreted as data by a restricted unpickler (Unpickler.swift) that
/// builds only what `torch.load(weights_only=True)` allows, and never runs, imports or calls
/// anything.
///
/// ```swift
/// let ckpt = try TorchCheckpoint.read(from: "checkpoint.pth")
/// print(ckpt.root)                              // {'model': {...}, 'optimizer': {...}, 'epoch': 3}
/// try model.loadStateDict(ckpt.stateDict(at: "model"))
/// let epoch = ckpt.root["epoch"]?.int
/// ```
///
/// The archive is read with libarchive (a maintained Debian C library already linked for
/// datasets) rather than a zip parser of Ember's own: zip's central directory, ZIP64 and data
/// descriptors are where hand-written readers go wrong. Tensors keep PyTorch's sharing: views
/// and slices saved from one storage are views of one Ember storage again. Element types
/// Ember lacks are converted (float64, float16, bfloat16 → float32; int32, int16, int8 →
/// int64) and listed in `conversions`.
///
/// Bounds: the pickle may be at most 16 MiB, the storages together at most the file's size
/// (torch.save stores them uncompressed, so more is a zip bomb), each storage record exactly
/// the bytes its pickle declares. Memory is then at most one copy of the tensors, plus a
/// converted storage's source bytes while it converts, plus the pickle's objects.
public struct TorchCheckpoint {
    /// The object tree torch.save wrote.
    public let root: TorchValue
    /// The file it was read from.
    public let path: String
    /// Storage dtypes converted because Ember has no such dtype, e.g.
    /// "float64 → float32 (2 storages)". Empty when every tensor kept its dtype.
    public let conversions: [String]

    /// The prefixes wrappers add to state-dict keys: `module.` (DataParallel,
    /// DistributedDataParallel) and `_orig_mod.` (torch.compile).
    public static let wrapperPrefixes = ["module.", "_orig_mod."]

    /// PyTorch's own reader skips the zip's CRC-32 checks (it builds miniz with
    /// MINIZ_DISABLE_ZIP_READER_CRC32_CHECKS) and so does Ember: computing them cost more than
    /// the rest of the read. Safety does not rest on them: every size is checked.
    static let skipCRC = "zip:ignorecrc32"

    /// Reads a torch.save file. Legacy (pre-1.6) files and TorchScript archives are refused
    /// with an error that says how to re-save them.
    public static func read(from path: String) throws -> TorchCheckpoint {
        let url = URL(fileURLWithPath: path)
        let head: [UInt8]
        let fileSize: Int
        do {
            let h = try FileHandle(forReadingFrom: url)
            defer { try? h.close() }
            head = [UInt8](try h.read(upToCount: 512) ?? Data())
            fileSize = Int(try h.seekToEnd())
        } catch {
            throw TorchCheckpointError(path: path, message: "cannot read the file (\(error.localizedDescription))")
        }
        try checkFormat(head, path: path)
        return try read(open: { try ArchiveReader(contentsOf: url, options: skipCRC) }, size: fileSize, path: path)
    }

    /// Reads torch.save bytes already in memory; `name` is what errors call them.
    public static func read(bytes: [UInt8], name: String) throws -> TorchCheckpoint {
        try checkFormat(Array(bytes.prefix(512)), path: name)
        return try read(open: { try ArchiveReader(bytes: bytes, name: name, options: skipCRC) }, size: bytes.count, path: name)
    }

    /// Whether these leading bytes are a torch.save zip (what `Module.load(from:)` asks to tell
    /// a .pth from a safetensors file by content).
    static func isZip(_ head: [UInt8]) -> Bool {
        head.count >= 4 && head[0] == 0x50 && head[1] == 0x4B && (head[2], head[3]) == (3, 4)
    }

    /// A torch.save file of either format: a zip, or a legacy pickle (which `read` refuses
    /// with advice). A safetensors file whose header length is 128 + 256·k also starts with
    /// 0x80 and a small byte; its ninth byte, the header's first, is `{`.
    static func isTorchSave(_ head: [UInt8]) -> Bool {
        isZip(head) || (head.count >= 2 && head[0] == 0x80 && head[1] <= 5 && !(head.count >= 9 && head[8] == UInt8(ascii: "{")))
    }

    /// `name` without any of `prefixes` at its start, removed repeatedly.
    static func strip(_ name: String, _ prefixes: [String]) -> String {
        var name = name
        var stripped = true
        while stripped {
            stripped = false
            for p in prefixes where !p.isEmpty && name.hasPrefix(p) {
                name.removeFirst(p.count)
                stripped = true
            }
        }
        return name
    }

    /// The state dict under `key` of the root dict (nil: the root itself), as Ember's
    /// `StateDict`: every value must be a tensor under a string key. Each prefix in
    /// `strippingPrefixes` is removed from the start of every key that has it, repeatedly
    /// (`_orig_mod.module.fc.weight` → `fc.weight` with `wrapperPrefixes`).
    ///
    /// PyTorch: `torch.load(path, weights_only=True)[key]`.
    public func stateDict(at key: String? = nil, strippingPrefixes prefixes: [String] = []) throws -> StateDict {
        var value = root
        if let key {
            guard case .dict = root else { throw TorchCheckpointError(path: path, message: "the file holds a value of type \(root.kind), not a dict with \"\(key)\"") }
            guard let v = root[key] else {
                throw TorchCheckpointError(path: path, message: "no key \"\(key)\"; the dict has \(root.keys.map { "\"\($0)\"" }.joined(separator: ", "))")
            }
            value = v
        }
        let what = key.map { "\"\($0)\"" } ?? "the file"
        guard case .dict(let pairs) = value else {
            throw TorchCheckpointError(path: path, message: "\(what) holds a value of type \(value.kind), not a state dict")
        }
        var out: StateDict = [:]
        for (k, v) in pairs {
            guard case .string(let original) = k else {
                throw TorchCheckpointError(path: path, message: "\(what) is not a state dict: it has the key \(k)")
            }
            guard case .tensor(let t) = v else {
                let hint = key == nil && !root.keys.isEmpty ? "; pick the state dict with stateDict(at:), one of \(root.keys.map { "\"\($0)\"" }.joined(separator: ", "))" : ""
                throw TorchCheckpointError(path: path, message: "\(what) is not a state dict: \"\(original)\" is of type \(v.kind), not a tensor\(hint)")
            }
            let name = Self.strip(original, prefixes)
            guard out[name] == nil else {
                throw TorchCheckpointError(path: path, message: "\(what) has two tensors named \"\(name)\" once prefixes are stripped")
            }
            out[name] = t.detach()
        }
        return out
    }

    // MARK: Reading

    /// Legacy torch.save files begin with a pickle (0x80, then the protocol) or are tar
    /// archives (PyTorch before 0.4); neither is read.
    static func checkFormat(_ head: [UInt8], path: String) throws {
        if isZip(head) { return }
        let resave = "re-save it with PyTorch ≥ 1.6: torch.save(torch.load(path, weights_only=True), path)"
        if head.count >= 2, head[0] == 0x80, head[1] <= 5 {
            throw TorchCheckpointError(path: path, message: "a PyTorch legacy (pre-1.6) checkpoint, which Ember does not read; \(resave)")
        }
        if head.count >= 262, Array(head[257..<262]) == Array("ustar".utf8) {
            throw TorchCheckpointError(path: path, message: "a tar archive (PyTorch's legacy tar format?), which Ember does not read; \(resave)")
        }
        throw TorchCheckpointError(path: path, message: "not a PyTorch checkpoint: a torch.save file is a zip archive (starts with PK\\x03\\x04)")
    }

    static func read(open: () throws -> ArchiveReader, size fileSize: Int, path: String) throws -> TorchCheckpoint {
        func fail(_ m: String) -> TorchCheckpointError { TorchCheckpointError(path: path, message: m) }
        func wrap<T>(_ body: () throws -> T) throws -> T {
            do { return try body() } catch let e as ArchiveError { throw fail(e.message) }
        }

        // Pass 1: the pickle and the small records; storages are only sized here.
        var prefix: String?
        var pickle: [UInt8]?
        var byteorder = "little"
        var records: [String: Int?] = [:]
        var isTorchScript = false
        try wrap {
            let reader = try open()
            while let e = try reader.next() {
                guard let slash = e.name.firstIndex(of: "/") else {
                    throw fail("entry \"\(e.name)\" is not inside the archive's top folder")
                }
                let top = String(e.name[..<slash]), rest = String(e.name[e.name.index(after: slash)...])
                if prefix == nil { prefix = top }
                guard top == prefix else { throw fail("entry \"\(e.name)\" is outside the archive's top folder \"\(prefix!)\"") }
                guard e.isFile else { continue }
                switch rest {
                case "data.pkl":
                    guard pickle == nil else { throw fail("two data.pkl entries") }
                    pickle = try reader.readEntry(e, maxBytes: Unpickler.maxPickleBytes)
                case "byteorder":
                    byteorder = String(decoding: try reader.readEntry(e, maxBytes: 16), as: UTF8.self)
                    guard byteorder == "little" || byteorder == "big" else { throw fail("byteorder is \"\(byteorder)\", not little or big") }
                case "version":
                    let text = String(decoding: try reader.readEntry(e, maxBytes: 16), as: UTF8.self)
                    guard let v = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)), (1...3).contains(v) else {
                        throw fail("archive version \"\(text.trimmingCharacters(in: .whitespacesAndNewlines))\" is not one Ember reads (1–3)")
                    }
                case "constants.pkl": isTorchScript = true
                default:
                    if rest.hasPrefix("code/") { isTorchScript = true }
                    if rest.hasPrefix("data/") {
                        let key = String(rest.dropFirst(5))
                        guard records[key] == nil else { throw fail("two records named \"data/\(key)\"") }
                        records[key] = .some(e.declaredSize)
                    }
                }
            }
        }
        if isTorchScript {
            throw fail("a TorchScript archive (torch.jit.save), which Ember does not read; save its weights instead: torch.save(torch.jit.load(path).state_dict(), \"weights.pth\")")
        }
        guard let prefix, let pickle else { throw fail("no data.pkl in the archive: not a torch.save file") }

        // The pickle, as data.
        var unpickler = Unpickler()
        let top: Unpickler.Obj
        do {
            top = try pickle.withUnsafeBytes { try unpickler.load($0) }
        } catch let e as Unpickler.Failure {
            throw fail("data.pkl: \(e.message)")
        }

        // Every storage's bytes, checked before any is allocated.
        var total = 0
        for s in unpickler.storages {
            let (bytes, o1) = s.numel.multipliedReportingOverflow(by: s.type.itemSize)
            let (sum, o2) = total.addingReportingOverflow(bytes)
            guard !o1, !o2 else { throw fail("storage \"\(s.key)\" of \(s.numel) \(s.type) elements overflows a byte count") }
            total = sum
            guard let declared = records[s.key] else { throw fail("storage \"\(s.key)\" has no record data/\(s.key)") }
            if let declared, declared != bytes {
                throw fail("record data/\(s.key) holds \(declared) bytes, but its storage of \(s.numel) \(s.type) elements needs \(bytes)")
            }
        }
        guard total <= fileSize else {
            throw fail("the storages claim \(total) bytes but the file is \(fileSize) bytes; torch.save stores them uncompressed, so this is a zip bomb or a corrupt file")
        }

        // Pass 2: each storage straight into Ember's memory (converted ones through a buffer).
        var loaded = [Storage?](repeating: nil, count: unpickler.storages.count)
        let index = Dictionary(uniqueKeysWithValues: unpickler.storages.enumerated().map { ($1.key, $0) })
        try wrap {
            let reader = try open()
            while let e = try reader.next() {
                guard e.name.hasPrefix(prefix + "/data/"), let i = index[String(e.name.dropFirst(prefix.count + 6))], loaded[i] == nil else { continue }
                loaded[i] = try readStorage(unpickler.storages[i], reader, bigEndian: byteorder == "big", fail)
            }
        }
        let storages = try loaded.enumerated().map { i, s in
            guard let s else { throw fail("record data/\(unpickler.storages[i].key) could not be read") }
            return s
        }

        var freezer = Freezer(unpickler: unpickler, storages: storages)
        let root: TorchValue
        do {
            root = try freezer.freeze(top, depth: 0)
        } catch let e as Unpickler.Failure {
            throw fail("data.pkl: \(e.message)")
        }
        var counts: [TorchStorageType: Int] = [:]
        for s in unpickler.storages where s.type.emberType.rawValue != s.type.rawValue { counts[s.type, default: 0] += 1 }
        let conversions = TorchStorageType.allCases.compactMap { t in
            counts[t].map { "\(t) → \(t.emberType) (\($0) storage\($0 == 1 ? "" : "s"))" }
        }
        return TorchCheckpoint(root: root, path: path, conversions: conversions)
    }

    /// Reads one record: exactly the storage's bytes, and not one more.
    static func readStorage(_ s: Unpickler.StorageRef, _ reader: ArchiveReader, bigEndian: Bool,
                            _ fail: (String) -> TorchCheckpointError) throws -> Storage {
        let bytes = s.numel * s.type.itemSize
        func fill(_ buffer: UnsafeMutableRawBufferPointer) throws {
            var used = 0
            while used < bytes {
                let n = try reader.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[used..<bytes]))
                if n == 0 { throw fail("record data/\(s.key) holds \(used) bytes, but its storage of \(s.numel) \(s.type) elements needs \(bytes)") }
                used += n
            }
            var probe: UInt8 = 0
            if try withUnsafeMutableBytes(of: &probe, { try reader.read(into: $0) }) > 0 {
                throw fail("record data/\(s.key) holds more than the \(bytes) bytes of its storage of \(s.numel) \(s.type) elements")
            }
            if bigEndian && s.type.itemSize > 1 {
                let w = s.type.itemSize
                for i in stride(from: 0, to: bytes, by: w) {
                    for j in 0..<(w / 2) { buffer.swapAt(i + j, i + w - 1 - j) }
                }
            }
        }
        switch s.type {
        case .float32, .int64, .bool:
            let storage = Storage(byteCount: max(bytes, 1))
            try fill(UnsafeMutableRawBufferPointer(start: storage.data, count: bytes))
            if s.type == .bool {
                let p = storage.data.assumingMemoryBound(to: UInt8.self)
                for i in 0..<bytes where p[i] > 1 { p[i] = 1 }
            }
            return storage
        default:
            var buffer = [UInt8](repeating: 0, count: bytes)
            try buffer.withUnsafeMutableBytes { try fill($0) }
            return buffer.withUnsafeBytes { s.type.source.decode($0.baseAddress ?? UnsafeRawPointer(bitPattern: 64)!, count: s.numel, shape: [s.numel]) }.storage
        }
    }
}

/// Turns the unpickler's arena into `TorchValue`s: shared containers are built once (a
/// billion-laughs pickle of lists of the same list stays linear), a cycle or nesting deeper
/// than `Unpickler.maxDepth` is an error, and tensors become views of the loaded storages.
struct Freezer {
    let unpickler: Unpickler
    let storages: [Storage]
    /// Each frozen node with its height (the levels below it): a shared node met again deeper
    /// down must still fit under `Unpickler.maxDepth`, or chains that reuse each other's ends
    /// would nest without bound.
    var done: [Int: (value: TorchValue, height: Int)] = [:]
    var inProgress = Set<Int>()
    var tensors: [Int: Tensor] = [:]

    init(unpickler: Unpickler, storages: [Storage]) {
        self.unpickler = unpickler
        self.storages = storages
    }

    mutating func freeze(_ o: Unpickler.Obj, depth: Int) throws -> TorchValue {
        try freezeMeasured(o, depth: depth).value
    }

    private var tooDeep: Unpickler.Failure {
        Unpickler.Failure(message: "the object tree nests deeper than \(Unpickler.maxDepth) levels")
    }

    private mutating func freezeMeasured(_ o: Unpickler.Obj, depth: Int) throws -> (value: TorchValue, height: Int) {
        guard depth < Unpickler.maxDepth else { throw tooDeep }
        switch o {
        case .none: return (.none, 0)
        case .bool(let b): return (.bool(b), 0)
        case .int(let i): return (.int(i), 0)
        case .bigInt(let b): return (.bigInt(b), 0)
        case .float(let d): return (.float(d), 0)
        case .string(let s): return (.string(s), 0)
        case .bytes(let b): return (.bytes(b), 0)
        case .dtype(let t): return (.dtype(t.rawValue), 0)
        case .global, .storageType, .storage:
            throw Unpickler.Failure(message: "the result holds \(unpickler.describe(o)), which is not a value")
        case .tensor(let i):
            if let t = tensors[i] { return (.tensor(t), 0) }
            let spec = unpickler.tensors[i]
            let type = unpickler.storages[spec.storage].type
            let t = Tensor(storage: storages[spec.storage], shape: spec.shape, strides: spec.strides, dtype: type.emberType,
                           offset: spec.offset, isView: false)
            if spec.requiresGrad && t.dtype == .float32 { t.requiresGrad = true }
            tensors[i] = t
            return (.tensor(t), 0)
        case .node(let i):
            if let d = done[i] {
                guard depth + d.height < Unpickler.maxDepth else { throw tooDeep }
                return d
            }
            guard !inProgress.contains(i) else { throw Unpickler.Failure(message: "the object tree contains itself (a cycle)") }
            inProgress.insert(i)
            defer { inProgress.remove(i) }
            let node = unpickler.nodes[i]
            var height = 0
            let items = try node.items.map {
                let (v, h) = try freezeMeasured($0, depth: depth + 1)
                height = max(height, h + 1)
                return v
            }
            let v: TorchValue
            switch node.kind {
            case .tuple: v = .tuple(items)
            case .list: v = .list(items)
            case .set: v = .set(items)
            case .dict:
                v = .dict(try zip(items, node.values).map {
                    let (x, h) = try freezeMeasured($1, depth: depth + 1)
                    height = max(height, h + 1)
                    return ($0, x)
                })
            case .size: v = .size(items.compactMap(\.int))
            case .device:
                guard let type = items.first?.string else { throw Unpickler.Failure(message: "a torch.device without a type") }
                v = .device(items.count == 2 ? "\(type):\(items[1])" : type)
            }
            done[i] = (v, height)
            return (v, height)
        }
    }
}
