/// A value read from a torch.save file: the Python object tree `torch.load(weights_only=True)`
/// would give, in Swift. A training checkpoint is typically
/// `.dict(["model": .dict(state_dict), "optimizer": .dict(…), "epoch": .int(3)])`.
public indirect enum TorchValue: CustomStringConvertible {
    /// Python's `None`.
    case none
    /// A Python bool.
    case bool(Bool)
    /// A Python int that fits in 64 bits.
    case int(Int)
    /// An integer wider than 64 bits, as little-endian two's complement bytes.
    case bigInt([UInt8])
    /// A Python float.
    case float(Double)
    /// A Python str.
    case string(String)
    /// Python bytes.
    case bytes([UInt8])
    /// A Python tuple.
    case tuple([TorchValue])
    /// A Python list.
    case list([TorchValue])
    /// A Python set (or frozenset), its elements in file order.
    case set([TorchValue])
    /// A dict or OrderedDict, its pairs in insertion order.
    case dict([(key: TorchValue, value: TorchValue)])
    /// A tensor, with its storage read from the file.
    case tensor(Tensor)
    /// `torch.Size`.
    case size([Int])
    /// A dtype object (`torch.float16` → "float16"), as PyTorch names it.
    case dtype(String)
    /// `torch.device`: "cpu", "cuda:0".
    case device(String)

    /// The value under a string key of a dict, nil for other values or a missing key.
    public subscript(key: String) -> TorchValue? {
        guard case .dict(let pairs) = self else { return nil }
        return pairs.first { if case .string(key) = $0.key { return true } else { return false } }?.value
    }

    /// The value under an integer key of a dict (optimizer state is keyed by parameter index).
    public subscript(key: Int) -> TorchValue? {
        guard case .dict(let pairs) = self else { return nil }
        return pairs.first { if case .int(key) = $0.key { return true } else { return false } }?.value
    }

    /// The tensor of a `.tensor` value, else nil.
    public var tensor: Tensor? { if case .tensor(let t) = self { return t } else { return nil } }
    /// The integer of an `.int` value, else nil.
    public var int: Int? { if case .int(let i) = self { return i } else { return nil } }
    /// The number of a `.float` or `.int` value, else nil.
    public var double: Double? {
        switch self {
        case .float(let d): return d
        case .int(let i): return Double(i)
        default: return nil
        }
    }
    /// The text of a `.string` value, else nil.
    public var string: String? { if case .string(let s) = self { return s } else { return nil } }
    /// The elements of a list or tuple.
    public var array: [TorchValue]? {
        switch self {
        case .list(let a), .tuple(let a): return a
        default: return nil
        }
    }
    /// The string keys of a dict, in order (other keys are left out).
    public var keys: [String] {
        guard case .dict(let pairs) = self else { return [] }
        return pairs.compactMap { $0.key.string }
    }

    /// What kind of Python value this is, for error messages: "dict", "tensor", "int".
    public var kind: String {
        switch self {
        case .none: return "None"
        case .bool: return "bool"
        case .int, .bigInt: return "int"
        case .float: return "float"
        case .string: return "str"
        case .bytes: return "bytes"
        case .tuple: return "tuple"
        case .list: return "list"
        case .set: return "set"
        case .dict: return "dict"
        case .tensor: return "tensor"
        case .size: return "torch.Size"
        case .dtype: return "torch.dtype"
        case .device: return "torch.device"
        }
    }

    /// Python-like text; tensors as `tensor(float32, [3, 4])`. At most
    /// `descriptionLimit` characters, then "…": a pickle that reuses a list inside itself
    /// is a few hundred bytes whose values, written out, never end.
    public var description: String {
        var out = ""
        write(to: &out, limit: Self.descriptionLimit)
        guard out.utf8.count > Self.descriptionLimit else { return out }
        return String(out.prefix(Self.descriptionLimit)) + "…"
    }

    /// The most characters `description` writes before it stops.
    public static let descriptionLimit = 1 << 20

    /// Appends this value's text to `out`, stopping once `out` is past `limit` UTF-8 bytes.
    private func write(to out: inout String, limit: Int) {
        func items(_ a: [TorchValue], _ open: String, _ close: String) {
            out += open
            for (i, x) in a.enumerated() {
                guard out.utf8.count <= limit else { return }
                if i > 0 { out += ", " }
                x.write(to: &out, limit: limit)
            }
            out += close
        }
        switch self {
        case .none: out += "None"
        case .bool(let b): out += b ? "True" : "False"
        case .int(let i): out += String(i)
        case .bigInt(let b): out += "<int of \(b.count) bytes>"
        case .float(let d): out += String(d)
        case .string(let s): out += "'\(s)'"
        case .bytes(let b): out += "<\(b.count) bytes>"
        case .tuple(let a): items(a, "(", a.count == 1 ? ",)" : ")")
        case .list(let a): items(a, "[", "]")
        case .set(let a): items(a, "{", "}")
        case .dict(let p):
            out += "{"
            for (i, (k, v)) in p.enumerated() {
                guard out.utf8.count <= limit else { return }
                if i > 0 { out += ", " }
                k.write(to: &out, limit: limit)
                out += ": "
                v.write(to: &out, limit: limit)
            }
            out += "}"
        case .tensor(let t): out += "tensor(\(t.dtype), \(t.shape))"
        case .size(let s): out += "torch.Size(\(s))"
        case .dtype(let d): out += "torch.\(d)"
        case .device(let d): out += "device(type='\(d)')"
        }
    }
}

/// The element types of torch storages Ember reads, and how each becomes one of Ember's
/// dtypes (Ember computes in float32 and indexes in int64).
enum TorchStorageType: String, CaseIterable, Equatable {
    case float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool

    /// `torch.FloatStorage` and the other legacy typed-storage classes torch.save names in
    /// persistent ids; `UntypedStorage` is bytes.
    init?(storageName: String) {
        switch storageName {
        case "FloatStorage": self = .float32
        case "DoubleStorage": self = .float64
        case "HalfStorage": self = .float16
        case "BFloat16Storage": self = .bfloat16
        case "LongStorage": self = .int64
        case "IntStorage": self = .int32
        case "ShortStorage": self = .int16
        case "CharStorage": self = .int8
        case "ByteStorage", "UntypedStorage": self = .uint8
        case "BoolStorage": self = .bool
        default: return nil
        }
    }

    /// `torch.float32` and its aliases (`torch.float`, `torch.long`, …).
    init?(dtypeName: String) {
        switch dtypeName {
        case "float32", "float": self = .float32
        case "float64", "double": self = .float64
        case "float16", "half": self = .float16
        case "bfloat16": self = .bfloat16
        case "int64", "long": self = .int64
        case "int32", "int": self = .int32
        case "int16", "short": self = .int16
        case "int8": self = .int8
        case "uint8": self = .uint8
        case "bool": self = .bool
        default: return nil
        }
    }

    var storageName: String {
        switch self {
        case .float32: return "torch.FloatStorage"
        case .float64: return "torch.DoubleStorage"
        case .float16: return "torch.HalfStorage"
        case .bfloat16: return "torch.BFloat16Storage"
        case .int64: return "torch.LongStorage"
        case .int32: return "torch.IntStorage"
        case .int16: return "torch.ShortStorage"
        case .int8: return "torch.CharStorage"
        case .uint8: return "torch.ByteStorage"
        case .bool: return "torch.BoolStorage"
        }
    }

    /// The safetensors decoder shares the conversions (SafeTensors.SourceType.decode).
    var source: SafeTensors.SourceType {
        switch self {
        case .float32: return .f32
        case .float64: return .f64
        case .float16: return .f16
        case .bfloat16: return .bf16
        case .int64: return .i64
        case .int32: return .i32
        case .int16: return .i16
        case .int8: return .i8
        case .uint8: return .u8
        case .bool: return .bool
        }
    }

    var itemSize: Int { source.itemSize }

    /// The Ember dtype the elements become.
    var emberType: DType {
        switch self {
        case .float32, .float64, .float16, .bfloat16: return .float32
        case .int64, .int32, .int16, .int8: return .int64
        case .uint8: return .uint8
        case .bool: return .bool
        }
    }
}
