import Foundation

/// Errors from reading and writing model files and from loading state dicts.
public enum SerializationError: Error, CustomStringConvertible, Equatable {
    /// The file is not a valid safetensors file: `reason` says what is wrong.
    case corruptFile(path: String, reason: String)
    /// The operating system refused a read or write.
    case io(path: String, reason: String)
    /// A state dict does not fit its model or optimizer; every problem is listed
    /// (missing keys, unexpected keys, wrong shapes).
    case stateDictMismatch(what: String, problems: [String])

    /// The file or object and what is wrong, in PyTorch's wording for state dicts.
    public var description: String {
        switch self {
        case .corruptFile(let path, let reason): return "\(path): not a valid safetensors file: \(reason)"
        case .io(let path, let reason): return "\(path): \(reason)"
        case .stateDictMismatch(let what, let problems):
            return "Error(s) in loading state_dict for \(what):\n\t" + problems.joined(separator: "\n\t")
        }
    }
}

/// Reading and writing the safetensors format (huggingface/safetensors), the file format
/// PyTorch's `safetensors.torch.save_file` / `load_file` use:
///
///     8 bytes    N, the header length (little-endian UInt64)
///     N bytes    JSON: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, …,
///                       "__metadata__": {"key": "value"}}   (padded with spaces)
///     the rest   raw little-endian tensor data; offsets are relative to its start
///
/// Ember writes F32, I64, BOOL and U8 (its dtypes). It reads those, and converts on read: F64,
/// F16 and BF16 become float32; I32, I16 and I8 become int64. Any other dtype is an error.
public enum SafeTensors {
    /// Tensors and string metadata read from a file.
    public struct Contents {
        /// The tensors by name.
        public var tensors: [String: Tensor]
        /// The `__metadata__` strings.
        public var metadata: [String: String]
    }

    // The header is attacker-controlled; 100 MB is what the reference implementation allows.
    static let maxHeaderSize = 100_000_000

    /// Writes `tensors` (and optional `metadata`) to `path` atomically: the bytes go to a
    /// temporary file in the same directory, which is flushed to disk (fsync) and then renamed
    /// over `path`, so a crash never leaves a half-written file under the real name.
    ///
    /// PyTorch: `safetensors.torch.save_file(tensors, path, metadata)`.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to path: String) throws {
        for name in tensors.keys where name == "__metadata__" {
            throw SerializationError.io(path: path, reason: "\"__metadata__\" is reserved and cannot name a tensor")
        }
        // Sorted names: the same tensors always give the same bytes.
        let names = tensors.keys.sorted()
        var header = "{"
        var entries: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
            entries.append("\"__metadata__\":{" + pairs.joined(separator: ",") + "}")
        }
        var offset = 0
        for name in names {
            let t = tensors[name]!
            let bytes = t.count * t.dtype.itemSize
            entries.append("\(jsonString(name)):{\"dtype\":\"\(dtypeCode(t.dtype))\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        header += entries.joined(separator: ",") + "}"
        var headerBytes = Array(header.utf8)
        // Pad to 8 bytes so that the data starts aligned (as the reference writer does).
        while headerBytes.count % 8 != 0 { headerBytes.append(0x20) }

        var prefix: [UInt8] = withUnsafeBytes(of: UInt64(headerBytes.count).littleEndian) { Array($0) }
        prefix += headerBytes
        // Tensor bytes go from their storage straight to the file (no copy of the model in
        // memory); only views that are not row-major are copied first.
        let flat = names.map { tensors[$0]!.contiguous() }
        try prefix.withUnsafeBytes { head in
            var chunks = [head]
            for t in flat { chunks.append(UnsafeRawBufferPointer(start: t.raw, count: t.count * t.dtype.itemSize)) }
            try withExtendedLifetime(flat) { try writeAtomically(chunks, to: path) }
        }
    }

    /// Reads a safetensors file. Every structural problem (short file, bad or duplicate-key
    /// JSON, offsets that overlap, leave a hole or run past the end, sizes that do not match
    /// shapes or overflow, unknown dtypes) is a `SerializationError.corruptFile` naming the
    /// file, the tensor and the field.
    ///
    /// PyTorch: `safetensors.torch.load_file(path)` (and `safe_open(path).metadata()`).
    public static func read(from path: String) throws -> Contents {
        let data: Data
        do {
            data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
        } catch {
            throw SerializationError.io(path: path, reason: "cannot read the file (\(error.localizedDescription))")
        }
        return try data.withUnsafeBytes { try parse($0, path: path) }
    }

    /// One tensor's header entry, validated on its own (the buffer layout is checked later).
    struct Entry {
        let name: String
        let source: SourceType
        let shape: [Int]
        let count: Int
        let begin: Int
        let end: Int
    }

    /// Validates as huggingface/safetensors does, and a little more: a header of bounded size
    /// that is strict UTF-8 JSON (unique keys, bounded depth), known dtypes, shapes and offsets
    /// of non-negative integers, every size computed with checked arithmetic, and the tensors'
    /// byte ranges covering the data buffer exactly, in order, with no hole and no overlap.
    /// Nothing is allocated before every entry passed, and a tensor's bytes never exceed the file's.
    static func parse(_ bytes: UnsafeRawBufferPointer, path: String) throws -> Contents {
        func corrupt(_ reason: String) -> SerializationError { .corruptFile(path: path, reason: reason) }
        guard bytes.count >= 8 else {
            throw corrupt("the file is \(bytes.count) bytes long, shorter than the 8-byte header length")
        }
        let n64 = bytes.loadUnaligned(as: UInt64.self).littleEndian
        guard n64 <= UInt64(maxHeaderSize) else {
            throw corrupt("header length \(n64) is over the limit of \(maxHeaderSize) bytes")
        }
        let n = Int(n64)
        guard n <= bytes.count - 8 else {
            throw corrupt("header length \(n) runs past the end of the file (\(bytes.count) bytes)")
        }
        let header = UnsafeRawBufferPointer(rebasing: bytes[8..<(8 + n)])
        guard n > 0, header[0] == UInt8(ascii: "{") else { throw corrupt("the header does not start with '{'") }
        let json: HeaderJSON
        do {
            json = try HeaderJSON.parse(header)
        } catch let e as HeaderJSON.Failure {
            throw corrupt("the header is not valid JSON: \(e.message)")
        }
        guard case .object(let members) = json else { throw corrupt("the header is not a JSON object") }
        let dataSize = bytes.count - 8 - n

        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        for (name, value) in members {
            if name == "__metadata__" {
                guard case .object(let m) = value else {
                    throw corrupt("\"__metadata__\" is \(value.kind), not an object of strings")
                }
                for (k, v) in m {
                    guard case .string(let s) = v else {
                        throw corrupt("metadata value for \(jsonString(k)) is \(v.kind), not a string")
                    }
                    metadata[k] = s
                }
                continue
            }
            let e = try entry(name, value, dataSize: dataSize, corrupt)
            entries.append(e)
        }

        // Sorted by offsets, each tensor must begin where the previous one ended, and the
        // last end at the end of the file: overlaps and holes are both refused.
        entries.sort { ($0.begin, $0.end) < ($1.begin, $1.end) }
        var covered = 0
        var previous: Entry?
        for e in entries {
            if e.begin < covered, let p = previous {
                throw corrupt("tensor \(jsonString(e.name)): data_offsets [\(e.begin), \(e.end)] overlap tensor \(jsonString(p.name))'s [\(p.begin), \(p.end)]")
            }
            if e.begin > covered {
                let after = previous.map { " (between tensors \(jsonString($0.name)) and \(jsonString(e.name)))" } ?? " (before tensor \(jsonString(e.name)))"
                throw corrupt("data bytes \(covered)..<\(e.begin) belong to no tensor\(after)")
            }
            covered = e.end
            previous = e
        }
        guard covered == dataSize else {
            throw corrupt("the data buffer is \(dataSize) bytes but the tensors cover \(covered): bytes \(covered)..<\(dataSize) belong to no tensor")
        }

        var tensors: [String: Tensor] = [:]
        for e in entries {
            let src = bytes.baseAddress! + 8 + n + e.begin
            tensors[e.name] = e.source.decode(src, count: e.count, shape: e.shape)
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    /// Checks one tensor's entry: its fields, and that its shape, dtype and offsets agree
    /// and lie within the `dataSize` bytes of data.
    static func entry(_ name: String, _ value: HeaderJSON, dataSize: Int,
                      _ corrupt: (String) -> SerializationError) throws -> Entry {
        let tensor = "tensor \(jsonString(name))"
        guard case .object(let fields) = value else { throw corrupt("tensor \(jsonString(name)) is \(value.kind), not an object") }
        func field(_ key: String) throws -> HeaderJSON {
            guard let v = fields.first(where: { $0.key == key })?.value else { throw corrupt("\(tensor) has no \"\(key)\"") }
            return v
        }
        // Non-negative integers as written (no sign, fraction or exponent), within Int.
        func integers(_ key: String) throws -> [Int] {
            guard case .array(let items) = try field(key) else { throw corrupt("\(tensor): \(key) is \(try field(key).kind), not an array") }
            return try items.map { item in
                guard case .number(let text) = item else { throw corrupt("\(tensor): \(key) has \(item.kind), not a non-negative integer") }
                guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
                    throw corrupt("\(tensor): \(key) has \(text), not a non-negative integer")
                }
                guard let v = Int(text) else { throw corrupt("\(tensor): \(key) has \(text), more than 64 bits hold") }
                return v
            }
        }
        guard case .string(let code) = try field("dtype") else { throw corrupt("\(tensor): dtype is \(try field("dtype").kind), not a string") }
        guard let source = SourceType(rawValue: code) else { throw corrupt("\(tensor): unsupported dtype \(jsonString(code))") }
        let shape = try integers("shape")
        let offsets = try integers("data_offsets")
        guard offsets.count == 2 else {
            throw corrupt("\(tensor): data_offsets \(offsets) are not [begin, end]")
        }
        let (begin, end) = (offsets[0], offsets[1])
        guard begin <= end else { throw corrupt("\(tensor): data_offsets [\(begin), \(end)] end before they begin") }
        guard end <= dataSize else {
            throw corrupt("\(tensor): data_offsets [\(begin), \(end)] run past the end of the data (\(dataSize) bytes)")
        }
        // The product of the non-zero dimensions must fit too: an empty tensor of shape
        // [0, 2^40, 2^40] has a valid count, but code that multiplies its sizes in another
        // order would overflow.
        var product = 1
        for d in shape where d != 0 {
            let (p, overflow) = product.multipliedReportingOverflow(by: d)
            guard !overflow else {
                throw corrupt("\(tensor): shape \(shape) multiplies to more than 64 bits hold (\(shape.filter { $0 != 0 }.map(String.init).joined(separator: " × ")))")
            }
            product = p
        }
        let count = shape.contains(0) ? 0 : product
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: source.itemSize)
        guard !overflow else {
            throw corrupt("\(tensor): shape \(shape) of \(code) is \(count) elements of \(source.itemSize) bytes, more bytes than 64 bits hold")
        }
        guard byteCount == end - begin else {
            throw corrupt("\(tensor): data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but shape \(shape) of \(code) needs \(byteCount)")
        }
        return Entry(name: name, source: source, shape: shape, count: count, begin: begin, end: end)
    }

    // MARK: dtypes

    static func dtypeCode(_ d: DType) -> String {
        switch d {
        case .float32: return "F32"
        case .int64: return "I64"
        case .bool: return "BOOL"
        case .uint8: return "U8"
        }
    }

    /// The dtypes Ember reads, and how each becomes one of Ember's.
    enum SourceType: String {
        case f32 = "F32", f64 = "F64", f16 = "F16", bf16 = "BF16"
        case i64 = "I64", i32 = "I32", i16 = "I16", i8 = "I8", u8 = "U8", bool = "BOOL"

        var itemSize: Int {
            switch self {
            case .f64, .i64: return 8
            case .f32, .i32: return 4
            case .f16, .bf16, .i16: return 2
            case .i8, .u8, .bool: return 1
            }
        }

        func decode(_ src: UnsafeRawPointer, count: Int, shape: [Int]) -> Tensor {
            switch self {
            case .f32, .i64, .bool, .u8:
                let t = Tensor(empty: shape, dtype: self == .f32 ? .float32 : self == .i64 ? .int64 : self == .u8 ? .uint8 : .bool)
                // memcpy: the data need not be aligned in the file.
                t.raw.copyMemory(from: src, byteCount: count * itemSize)
                if self == .bool { for i in 0..<count where t.u8[i] > 1 { t.u8[i] = 1 } }
                return t
            case .f64, .f16, .bf16:
                let t = Tensor(empty: shape, dtype: .float32)
                for i in 0..<count {
                    let p = src + i * itemSize
                    switch self {
                    case .f64: t.f32[i] = Float(Double(bitPattern: p.loadUnaligned(as: UInt64.self).littleEndian))
                    case .f16: t.f32[i] = halfToFloat(p.loadUnaligned(as: UInt16.self).littleEndian)
                    default: t.f32[i] = Float(bitPattern: UInt32(p.loadUnaligned(as: UInt16.self).littleEndian) << 16)
                    }
                }
                return t
            case .i32, .i16, .i8:
                let t = Tensor(empty: shape, dtype: .int64)
                for i in 0..<count {
                    let p = src + i * itemSize
                    switch self {
                    case .i32: t.i64[i] = Int64(Int32(littleEndian: p.loadUnaligned(as: Int32.self)))
                    case .i16: t.i64[i] = Int64(Int16(littleEndian: p.loadUnaligned(as: Int16.self)))
                    default: t.i64[i] = Int64(p.load(as: Int8.self))
                    }
                }
                return t
            }
        }
    }

    /// IEEE half → float, by hand (Float16 is unavailable on x86-64 Linux builds of Swift).
    static func halfToFloat(_ h: UInt16) -> Float {
        let sign = UInt32(h & 0x8000) << 16
        let exp = Int((h >> 10) & 0x1F), mant = UInt32(h & 0x3FF)
        if exp == 0 {   // zero or subnormal: mant · 2^-24
            let v = Float(mant) * Float(sign: .plus, exponent: -24, significand: 1)
            return sign != 0 ? -v : v
        }
        if exp == 31 { return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13)) }   // inf / NaN
        return Float(bitPattern: sign | UInt32(exp - 15 + 127) << 23 | (mant << 13))
    }

    // MARK: Helpers

    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 { out += String(format: "\\u%04x", scalar.value) } else { out.unicodeScalars.append(scalar) }
            }
        }
        return out + "\""
    }

    /// temporary file in the same directory → write → fsync → rename → fsync the directory.
    static func writeAtomically(_ chunks: [UnsafeRawBufferPointer], to path: String) throws {
        let url = URL(fileURLWithPath: path)
        let dir = url.deletingLastPathComponent().path
        let tmp = dir + "/." + url.lastPathComponent + ".tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        func fail(_ what: String) -> SerializationError {
            .io(path: path, reason: "\(what) failed: \(String(cString: strerror(errno)))")
        }
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw fail("creating \(tmp)") }
        var ok = false
        defer {
            if !ok { close(fd); unlink(tmp) }
        }
        for chunk in chunks where chunk.count > 0 {
            var written = 0
            while written < chunk.count {
                let r = Glibc.write(fd, chunk.baseAddress! + written, chunk.count - written)
                if r < 0 {
                    if errno == EINTR { continue }
                    throw fail("writing")
                }
                written += r
            }
        }
        guard fsync(fd) == 0 else { throw fail("fsync") }
        ok = true
        guard close(fd) == 0 else { unlink(tmp); throw fail("close") }
        guard rename(tmp, path) == 0 else { unlink(tmp); throw fail("renaming \(tmp) to \(path)") }
        // Make the rename itself durable.
        let dfd = open(dir, O_RDONLY)
        if dfd >= 0 { _ = fsync(dfd); close(dfd) }
    }
}
