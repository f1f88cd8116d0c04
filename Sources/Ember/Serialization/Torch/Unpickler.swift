/// A restricted unpickler for the `data.pkl` of torch.save files (pickle protocols 2–5, and
/// the protocol 0/1 opcodes PyTorch's writers can emit).
///
/// A pickle is a program for a stack machine whose GLOBAL and REDUCE opcodes import and call
/// arbitrary Python. This one interprets the opcodes as *data*: it builds only the values
/// `torch.load(weights_only=True)` allows — dicts and OrderedDicts, lists, tuples, sets,
/// strings, bytes, numbers, None and bools, `torch.Size`, dtypes, devices, storages (through
/// the persistent ids of torch.save) and tensors through `torch._utils._rebuild_tensor_v2` /
/// `_rebuild_parameter`. A GLOBAL naming anything else (`os.system`, `builtins.eval`, an
/// unknown module) is an error at that opcode: there is nothing to call, nothing is imported.
///
/// Bounded by construction: objects live in one flat arena (no object holds another, so a
/// deeply nested or cyclic pickle cannot overflow the stack when freed), every length is
/// checked against the bytes left before anything is allocated, and each value on the stack
/// or in a container costs at least one input byte, so memory is linear in the pickle's size.
struct Unpickler {
    /// A value on the pickle machine's stack or inside a container. Containers are indices
    /// into `nodes`.
    enum Obj {
        case none
        case bool(Bool)
        case int(Int)
        /// An integer wider than 64 bits: little-endian two's complement bytes (LONG1/LONG4).
        case bigInt([UInt8])
        case float(Double)
        case string(String)
        case bytes([UInt8])
        case node(Int)
        case global(Global)
        /// A torch storage type (`torch.FloatStorage`): only meaningful in a persistent id.
        case storageType(TorchStorageType)
        case dtype(TorchStorageType)
        /// An index into `storages`.
        case storage(Int)
        /// An index into `tensors`.
        case tensor(Int)
    }

    /// The callables Ember knows how to "call" (by building a value, never by running code).
    enum Global: Equatable {
        case orderedDict, rebuildTensorV2, rebuildParameter, rebuildParameterWithState, size, device
        case codecsEncode, set, frozenset, bytearray
    }

    enum Kind { case tuple, list, dict, set, size, device }

    /// A container. Items are flat `Obj`s; a dict keeps its pairs in insertion order.
    final class Node {
        let kind: Kind
        var items: [Obj] = []
        /// Dict keys, parallel to `values`; `index` finds a key's slot.
        var values: [Obj] = []
        var index: [Key: Int] = [:]
        init(_ kind: Kind, _ items: [Obj] = []) { self.kind = kind; self.items = items }
    }

    /// A hashable form of the keys Python allows in a dict (numbers, strings, bytes, None,
    /// tuples of those). `True == 1` and `1.0 == 1` as in Python.
    indirect enum Key: Hashable {
        case none, int(Int), big([UInt8]), float(UInt64), string(String), bytes([UInt8]), tuple([Key])
    }

    /// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel)`.
    struct StorageRef {
        let type: TorchStorageType
        let key: String
        let location: String
        let numel: Int
    }

    /// What `_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)` describes.
    struct TensorSpec {
        let storage: Int
        let offset: Int
        let shape: [Int]
        let strides: [Int]
        var requiresGrad: Bool
    }

    struct Failure: Error { let message: String }

    /// The most pickle bytes read (PyTorch's data.pkl for a 10^5-tensor state dict is a few MB).
    static let maxPickleBytes = 16 << 20
    /// The deepest nesting `freeze` follows; deeper is refused, not recursed into.
    static let maxDepth = 200
    /// The most values (the tuple's own and every nested one's) a dict key may hold, and
    /// the most all of a pickle's dict keys may hold beyond one per byte: the same tuple set
    /// as a key again and again costs 4 bytes a time, so hashing stays linear in the input.
    static let maxKeyValues = 4096

    private(set) var nodes: [Node] = []
    private(set) var storages: [StorageRef] = []
    private(set) var tensors: [TensorSpec] = []
    private var storageByKey: [String: Int] = [:]

    private var stack: [Obj] = []
    private var marks: [Int] = []
    private var memo: [Int: Obj] = [:]
    /// The dict key values this pickle may hash (`maxKeyValues` beyond its length), and how
    /// many are left.
    private var keyLimit = 0, keyBudget = 0

    /// Runs the pickle to its STOP and returns the top object.
    mutating func load(_ bytes: UnsafeRawBufferPointer) throws -> Obj {
        guard bytes.count <= Self.maxPickleBytes else {
            throw Failure(message: "the pickle is \(bytes.count) bytes, more than the \(Self.maxPickleBytes) allowed")
        }
        var pos = 0
        keyLimit = bytes.count + Self.maxKeyValues
        keyBudget = keyLimit
        func need(_ n: Int) throws -> Int {
            guard n >= 0, n <= bytes.count - pos else {
                throw Failure(message: "the pickle ends inside an opcode at byte \(pos) (needs \(n) more bytes, \(bytes.count - pos) left)")
            }
            let start = pos
            pos += n
            return start
        }
        func u8() throws -> Int { Int(bytes[try need(1)]) }
        func le(_ n: Int) throws -> UInt64 {
            let s = try need(n)
            var v: UInt64 = 0
            for i in (0..<n).reversed() { v = v << 8 | UInt64(bytes[s + i]) }
            return v
        }
        func raw(_ n: Int) throws -> [UInt8] { let s = try need(n); return Array(bytes[s..<(s + n)]) }
        func length(_ n: UInt64) throws -> Int {
            guard n <= UInt64(bytes.count - pos) else {
                throw Failure(message: "a length of \(n) bytes at byte \(pos) runs past the end of the pickle (\(bytes.count - pos) left)")
            }
            return Int(n)
        }
        func utf8(_ b: [UInt8]) throws -> String {
            guard let s = String(validating: b, as: UTF8.self) else { throw Failure(message: "a string at byte \(pos) is not valid UTF-8") }
            return s
        }
        func line() throws -> String {
            var end = pos
            while end < bytes.count, bytes[end] != 0x0A { end += 1 }
            guard end < bytes.count else { throw Failure(message: "the pickle ends inside a text line at byte \(pos)") }
            let s = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[pos..<end]), as: UTF8.self)
            pos = end + 1
            return s
        }

        while true {
            let at = pos
            let op = try u8()
            switch op {
            case 0x80:   // PROTO
                let p = try u8()
                guard p <= 5 else { throw Failure(message: "pickle protocol \(p) is not supported (0–5)") }
            case 0x95: _ = try le(8)   // FRAME: a hint for buffered readers
            case 0x2E:   // STOP
                guard let top = stack.popLast() else { throw Failure(message: "STOP with an empty stack") }
                return top
            case 0x28: marks.append(stack.count)   // MARK
            case 0x30: _ = try pop("POP")   // POP
            case 0x31: _ = try popMark("POP_MARK")
            case 0x32: let t = try pop("DUP"); push(t); push(t)   // DUP
            case 0x4E: push(.none)   // NONE
            case 0x88: push(.bool(true))
            case 0x89: push(.bool(false))
            case 0x4B: push(.int(try u8()))   // BININT1
            case 0x4D: push(.int(Int(try le(2))))   // BININT2
            case 0x4A: push(.int(Int(Int32(truncatingIfNeeded: try le(4)))))   // BININT
            case 0x8A: push(try long(raw(try u8())))   // LONG1
            case 0x8B: push(try long(raw(length(try le(4)))))   // LONG4
            case 0x47:   // BINFLOAT (big-endian)
                let s = try need(8)
                var v: UInt64 = 0
                for i in 0..<8 { v = v << 8 | UInt64(bytes[s + i]) }
                push(.float(Double(bitPattern: v)))
            case 0x49:   // INT (text); "00"/"01" are protocol 0's False/True
                let s = try line()
                if s == "00" { push(.bool(false)) } else if s == "01" { push(.bool(true)) }
                else { guard let v = Int(s) else { throw Failure(message: "INT \"\(s)\" at byte \(at) is not an integer") }; push(.int(v)) }
            case 0x46:   // FLOAT (text)
                let s = try line()
                guard let v = Double(s) else { throw Failure(message: "FLOAT \"\(s)\" at byte \(at) is not a number") }
                push(.float(v))
            case 0x58: push(.string(try utf8(raw(length(try le(4))))))   // BINUNICODE
            case 0x8C: push(.string(try utf8(raw(try u8()))))   // SHORT_BINUNICODE
            case 0x8D: push(.string(try utf8(raw(length(try le(8))))))   // BINUNICODE8
            // Python 2 str (BINSTRING, SHORT_BINSTRING): latin-1, as torch.load's default encoding.
            case 0x54: push(.string(String(decoding: try raw(length(try le(4))).map { UInt16($0) }, as: UTF16.self)))
            case 0x55: push(.string(String(decoding: try raw(try u8()).map { UInt16($0) }, as: UTF16.self)))
            case 0x42: push(.bytes(try raw(length(try le(4)))))   // BINBYTES
            case 0x43: push(.bytes(try raw(try u8())))   // SHORT_BINBYTES
            case 0x8E: push(.bytes(try raw(length(try le(8)))))   // BINBYTES8
            case 0x96: push(.bytes(try raw(length(try le(8)))))   // BYTEARRAY8
            case 0x29: push(newNode(.tuple))   // EMPTY_TUPLE
            case 0x85: let a = try pop("TUPLE1"); push(newNode(.tuple, [a]))
            case 0x86: let b = try pop("TUPLE2"), a = try pop("TUPLE2"); push(newNode(.tuple, [a, b]))
            case 0x87:
                let c = try pop("TUPLE3"), b = try pop("TUPLE3"), a = try pop("TUPLE3")
                push(newNode(.tuple, [a, b, c]))
            case 0x74: push(newNode(.tuple, try popMark("TUPLE")))   // TUPLE
            case 0x5D: push(newNode(.list))   // EMPTY_LIST
            case 0x6C: push(newNode(.list, try popMark("LIST")))   // LIST
            case 0x7D: push(newNode(.dict))   // EMPTY_DICT
            case 0x64:   // DICT
                let items = try popMark("DICT")
                let d = newNode(.dict)
                try setItems(d, items, op: "DICT")
                push(d)
            case 0x8F: push(newNode(.set))   // EMPTY_SET
            case 0x91: push(newNode(.set, try popMark("FROZENSET")))   // FROZENSET
            case 0x61:   // APPEND
                let v = try pop("APPEND")
                try container(try top("APPEND"), .list, op: "APPEND").items.append(v)
            case 0x65:   // APPENDS
                let items = try popMark("APPENDS")
                try container(try top("APPENDS"), .list, op: "APPENDS").items.append(contentsOf: items)
            case 0x90:   // ADDITEMS
                let items = try popMark("ADDITEMS")
                try container(try top("ADDITEMS"), .set, op: "ADDITEMS").items.append(contentsOf: items)
            case 0x73:   // SETITEM
                let v = try pop("SETITEM"), k = try pop("SETITEM")
                try setItems(try top("SETITEM"), [k, v], op: "SETITEM")
            case 0x75:   // SETITEMS
                let items = try popMark("SETITEMS")
                try setItems(try top("SETITEMS"), items, op: "SETITEMS")
            case 0x71: memo[try u8()] = try top("BINPUT")   // BINPUT
            case 0x72: memo[Int(try le(4))] = try top("LONG_BINPUT")   // LONG_BINPUT
            case 0x94: memo[memo.count] = try top("MEMOIZE")   // MEMOIZE
            case 0x70:   // PUT (text)
                let s = try line()
                guard let i = Int(s) else { throw Failure(message: "PUT \"\(s)\" at byte \(at) is not an index") }
                memo[i] = try top("PUT")
            case 0x68: push(try recall(try u8(), at))   // BINGET
            case 0x6A: push(try recall(Int(try le(4)), at))   // LONG_BINGET
            case 0x67:   // GET (text)
                let s = try line()
                guard let i = Int(s) else { throw Failure(message: "GET \"\(s)\" at byte \(at) is not an index") }
                push(try recall(i, at))
            case 0x63:   // GLOBAL "module\nname\n"
                let module = try line(), name = try line()
                push(try global(module, name))
            case 0x69:   // INST: a GLOBAL and a call in one; named for the error, never built
                let module = try line(), name = try line()
                _ = try global(module, name)
                throw Failure(message: "opcode INST (0x69) at byte \(at) is not supported")
            case 0x93:   // STACK_GLOBAL
                let name = try pop("STACK_GLOBAL"), module = try pop("STACK_GLOBAL")
                guard case .string(let m) = module, case .string(let n) = name else {
                    throw Failure(message: "STACK_GLOBAL at byte \(at) needs two strings")
                }
                push(try global(m, n))
            case 0x51:   // BINPERSID
                push(try persistentLoad(try pop("BINPERSID")))
            case 0x52:   // REDUCE
                let args = try pop("REDUCE"), callable = try pop("REDUCE")
                push(try call(callable, args, at: at))
            case 0x81:   // NEWOBJ: cls.__new__(cls, *args), for the same allowed types
                let args = try pop("NEWOBJ"), cls = try pop("NEWOBJ")
                push(try call(cls, args, at: at))
            case 0x62:   // BUILD
                let state = try pop("BUILD")
                try build(try top("BUILD"), state, at: at)
            default:
                throw Failure(message: "opcode \(opcodeName(op)) at byte \(at) is not supported")
            }
        }
    }

    // MARK: Stack

    private mutating func push(_ o: Obj) { stack.append(o) }

    private mutating func pop(_ op: String) throws -> Obj {
        guard stack.count > (marks.last ?? 0), let v = stack.popLast() else { throw Failure(message: "\(op) with an empty stack") }
        return v
    }

    private func top(_ op: String) throws -> Obj {
        guard stack.count > (marks.last ?? 0), let v = stack.last else { throw Failure(message: "\(op) with an empty stack") }
        return v
    }

    private mutating func popMark(_ op: String) throws -> [Obj] {
        guard let m = marks.popLast() else { throw Failure(message: "\(op) without a MARK") }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func recall(_ i: Int, _ at: Int) throws -> Obj {
        guard let v = memo[i] else { throw Failure(message: "memo entry \(i) read at byte \(at) was never stored") }
        return v
    }

    private mutating func newNode(_ kind: Kind, _ items: [Obj] = []) -> Obj {
        nodes.append(Node(kind, items))
        return .node(nodes.count - 1)
    }

    private func container(_ o: Obj, _ kind: Kind, op: String) throws -> Node {
        guard case .node(let i) = o, nodes[i].kind == kind else { throw Failure(message: "\(op) on \(describe(o)), not a \(kind)") }
        return nodes[i]
    }

    private mutating func setItems(_ target: Obj, _ items: [Obj], op: String) throws {
        let d = try container(target, .dict, op: op)
        guard items.count % 2 == 0 else { throw Failure(message: "\(op) with an odd number of items (\(items.count))") }
        for i in stride(from: 0, to: items.count, by: 2) {
            let allowed = min(Self.maxKeyValues, keyBudget)
            var budget = allowed
            let k = try key(items[i], depth: 0, budget: &budget)
            keyBudget -= allowed - budget
            if let slot = d.index[k] {
                d.values[slot] = items[i + 1]
            } else {
                d.index[k] = d.items.count
                d.items.append(items[i])
                d.values.append(items[i + 1])
            }
        }
    }

    /// A tuple key is hashed by value, so one tuple reused inside itself (DUP, or the memo)
    /// expands exponentially: a few hundred bytes of pickle made a key of 10^8 values.
    private func key(_ o: Obj, depth: Int, budget: inout Int) throws -> Key {
        guard depth < Self.maxDepth else { throw Failure(message: "a dict key nests deeper than \(Self.maxDepth) levels") }
        budget -= 1
        guard budget >= 0 else {
            throw Failure(message: keyBudget < Self.maxKeyValues
                ? "the dict keys hold more than \(keyLimit) values in all (one per pickle byte, and \(Self.maxKeyValues))"
                : "a dict key holds more than \(Self.maxKeyValues) values")
        }
        switch o {
        case .none: return .none
        case .bool(let b): return .int(b ? 1 : 0)
        case .int(let i): return .int(i)
        case .bigInt(let b): return .big(b)
        case .float(let d): return d == d.rounded() && abs(d) < 0x1p63 ? .int(Int(d)) : .float(d.bitPattern)
        case .string(let s): return .string(s)
        case .bytes(let b): return .bytes(b)
        case .node(let i) where nodes[i].kind == .tuple:
            return .tuple(try nodes[i].items.map { try key($0, depth: depth + 1, budget: &budget) })
        default: throw Failure(message: "unhashable dict key \(describe(o))")
        }
    }

    private func long(_ b: [UInt8]) throws -> Obj {
        if b.isEmpty { return .int(0) }
        // Sign-extend the little-endian two's complement bytes; beyond 8 they must be
        // redundant sign bytes for the value to fit an Int.
        let negative = b.last! & 0x80 != 0
        if b.count > 8 {
            let fill: UInt8 = negative ? 0xFF : 0
            let fits = b[8...].allSatisfy { $0 == fill } && (b[7] & 0x80 != 0) == negative
            if !fits { return .bigInt(b) }
        }
        var v: UInt64 = negative ? ~0 : 0
        for (i, byte) in b.prefix(8).enumerated() {
            v &= ~(UInt64(0xFF) << (8 * UInt64(i)))
            v |= UInt64(byte) << (8 * UInt64(i))
        }
        return .int(Int(bitPattern: UInt(v)))
    }

    // MARK: Globals and calls

    /// The allowlist (torch/_weights_only_unpickler.py's, for what Ember can represent).
    private func global(_ module: String, _ name: String) throws -> Obj {
        switch (module, name) {
        case ("collections", "OrderedDict"): return .global(.orderedDict)
        case ("torch._utils", "_rebuild_tensor_v2"): return .global(.rebuildTensorV2)
        case ("torch._utils", "_rebuild_parameter"): return .global(.rebuildParameter)
        case ("torch._utils", "_rebuild_parameter_with_state"): return .global(.rebuildParameterWithState)
        case ("torch", "Size"): return .global(.size)
        case ("torch", "device"): return .global(.device)
        case ("_codecs", "encode"): return .global(.codecsEncode)
        case ("builtins", "set"), ("__builtin__", "set"): return .global(.set)
        case ("builtins", "frozenset"), ("__builtin__", "frozenset"): return .global(.frozenset)
        case ("builtins", "bytearray"), ("__builtin__", "bytearray"): return .global(.bytearray)
        case ("torch", _):
            if let t = TorchStorageType(storageName: name) { return .storageType(t) }
            if let t = TorchStorageType(dtypeName: name) { return .dtype(t) }
        default: break
        }
        throw Failure(message: "global \(module).\(name) is not allowed: Ember's unpickler builds only what torch.load(weights_only=True) allows, and never imports or calls anything")
    }

    private func args(_ o: Obj, _ what: String, at: Int) throws -> [Obj] {
        guard case .node(let i) = o, nodes[i].kind == .tuple else {
            throw Failure(message: "\(what) at byte \(at) has arguments \(describe(o)), not a tuple")
        }
        return nodes[i].items
    }

    private func int(_ o: Obj, _ what: String) throws -> Int {
        guard case .int(let v) = o else { throw Failure(message: "\(what) is \(describe(o)), not an integer") }
        return v
    }

    private func ints(_ o: Obj, _ what: String) throws -> [Int] {
        guard case .node(let i) = o, [.tuple, .list, .size].contains(nodes[i].kind) else {
            throw Failure(message: "\(what) is \(describe(o)), not a tuple of integers")
        }
        return try nodes[i].items.map { try int($0, what) }
    }

    private mutating func call(_ callable: Obj, _ argsObj: Obj, at: Int) throws -> Obj {
        guard case .global(let g) = callable else {
            throw Failure(message: "REDUCE at byte \(at) calls \(describe(callable)), which is not an allowed global")
        }
        let a = try args(argsObj, "\(g)", at: at)
        switch g {
        case .orderedDict:
            guard a.isEmpty else { throw Failure(message: "collections.OrderedDict at byte \(at) with arguments (only the empty form is built)") }
            return newNode(.dict)
        case .set, .frozenset:
            guard a.count <= 1 else { throw Failure(message: "builtins.set at byte \(at) with \(a.count) arguments") }
            guard let first = a.first else { return newNode(.set) }
            guard case .node(let i) = first, [.list, .tuple, .set].contains(nodes[i].kind) else {
                throw Failure(message: "builtins.set at byte \(at) of \(describe(first))")
            }
            return newNode(.set, nodes[i].items)
        case .bytearray:
            guard a.count <= 1 else { throw Failure(message: "builtins.bytearray at byte \(at) with \(a.count) arguments") }
            guard let first = a.first else { return .bytes([]) }
            guard case .bytes(let b) = first else { throw Failure(message: "builtins.bytearray at byte \(at) of \(describe(first))") }
            return .bytes(b)
        case .codecsEncode:
            // Protocol 2 writes bytes as _codecs.encode(text, "latin1").
            guard a.count == 2, case .string(let s) = a[0], case .string(let enc) = a[1], enc == "latin1" || enc == "latin-1" else {
                throw Failure(message: "_codecs.encode at byte \(at) is only allowed as (str, \"latin1\")")
            }
            var out: [UInt8] = []
            for u in s.unicodeScalars {
                guard u.value < 256 else { throw Failure(message: "_codecs.encode at byte \(at): U+\(String(u.value, radix: 16)) is not latin-1") }
                out.append(UInt8(u.value))
            }
            return .bytes(out)
        case .size:
            guard a.count <= 1 else { throw Failure(message: "torch.Size at byte \(at) with \(a.count) arguments") }
            return newNode(.size, try (a.first.map { try ints($0, "torch.Size") } ?? []).map { .int($0) })
        case .device:
            guard (1...2).contains(a.count), case .string(let type) = a[0] else {
                throw Failure(message: "torch.device at byte \(at) needs (type[, index])")
            }
            var items: [Obj] = [.string(type)]
            if a.count == 2 { items.append(a[1]) }
            return newNode(.device, items)
        case .rebuildTensorV2:
            // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
            guard (6...7).contains(a.count) else {
                throw Failure(message: "torch._utils._rebuild_tensor_v2 at byte \(at) with \(a.count) arguments (6 or 7 expected)")
            }
            guard case .storage(let s) = a[0] else {
                throw Failure(message: "torch._utils._rebuild_tensor_v2 at byte \(at): storage is \(describe(a[0]))")
            }
            let spec = try tensorSpec(storage: s, offset: int(a[1], "storage_offset"), shape: ints(a[2], "size"),
                                      strides: ints(a[3], "stride"))
            guard case .bool(let rg) = a[4] else { throw Failure(message: "requires_grad is \(describe(a[4])), not a bool") }
            try noHooks(a[5], at: at)
            tensors.append(TensorSpec(storage: spec.storage, offset: spec.offset, shape: spec.shape, strides: spec.strides, requiresGrad: rg))
            return .tensor(tensors.count - 1)
        case .rebuildParameter, .rebuildParameterWithState:
            // (data, requires_grad, backward_hooks[, state])
            guard a.count == (g == .rebuildParameter ? 3 : 4), case .tensor(let t) = a[0], case .bool(let rg) = a[1] else {
                throw Failure(message: "torch._utils.\(g == .rebuildParameter ? "_rebuild_parameter" : "_rebuild_parameter_with_state") at byte \(at) needs (tensor, requires_grad, hooks)")
            }
            try noHooks(a[2], at: at)
            // A parameter's attributes are not kept: only their empty form is accepted, so
            // nothing (a tensor in them, say) is dropped without a word.
            if a.count == 4, !isEmptyState(a[3]) {
                throw Failure(message: "torch._utils._rebuild_parameter_with_state at byte \(at) carries parameter attributes (\(describe(a[3]))), which Ember does not keep")
            }
            tensors[t].requiresGrad = rg
            return .tensor(t)
        }
    }

    /// Backward hooks are code: only an empty OrderedDict (what torch.save writes) is accepted.
    private func noHooks(_ o: Obj, at: Int) throws {
        if case .none = o { return }
        guard case .node(let i) = o, nodes[i].kind == .dict, nodes[i].items.isEmpty else {
            throw Failure(message: "backward hooks at byte \(at) are \(describe(o)); only an empty OrderedDict is allowed")
        }
    }

    /// None, an empty dict, or a tuple of those: Python object state that carries nothing.
    private func isEmptyState(_ o: Obj) -> Bool {
        switch o {
        case .none: return true
        case .node(let i) where nodes[i].kind == .dict: return nodes[i].items.isEmpty
        case .node(let i) where nodes[i].kind == .tuple:
            return nodes[i].items.allSatisfy {
                if case .none = $0 { return true }
                if case .node(let j) = $0, nodes[j].kind == .dict { return nodes[j].items.isEmpty }
                return false
            }
        default: return false
        }
    }

    /// Checks a view against its storage with checked arithmetic: every element it reaches
    /// (offset + Σ (size−1)·stride) must lie inside the storage.
    private func tensorSpec(storage s: Int, offset: Int, shape: [Int], strides: [Int]) throws -> TensorSpec {
        let ref = storages[s]
        let what = "tensor of shape \(shape) on storage \"\(ref.key)\""
        guard shape.count == strides.count else { throw Failure(message: "\(what): \(shape.count) sizes but \(strides.count) strides") }
        guard shape.count <= maxDims else { throw Failure(message: "\(what): \(shape.count) dimensions, more than Ember's \(maxDims)") }
        guard offset >= 0, shape.allSatisfy({ $0 >= 0 }), strides.allSatisfy({ $0 >= 0 }) else {
            throw Failure(message: "\(what): negative offset, size or stride (offset \(offset), stride \(strides))")
        }
        var count = 1
        for d in shape {
            let (p, o) = count.multipliedReportingOverflow(by: d)
            guard !o else { throw Failure(message: "\(what): the sizes multiply to more than 64 bits hold") }
            count = p
        }
        if count > 0 {
            var last = offset
            for (d, st) in zip(shape, strides) {
                let (span, o1) = (d - 1).multipliedReportingOverflow(by: st)
                let (sum, o2) = last.addingReportingOverflow(span)
                guard !o1, !o2 else { throw Failure(message: "\(what): offset and strides \(strides) overflow") }
                last = sum
            }
            guard last < ref.numel else {
                throw Failure(message: "\(what) with offset \(offset) and strides \(strides) reaches element \(last), past the storage's \(ref.numel) elements")
            }
        }
        return TensorSpec(storage: s, offset: offset, shape: shape, strides: strides, requiresGrad: false)
    }

    /// `('storage', torch.FloatStorage, key, location, numel)`, as torch.save writes it.
    private mutating func persistentLoad(_ pid: Obj) throws -> Obj {
        guard case .node(let i) = pid, nodes[i].kind == .tuple, nodes[i].items.count == 5,
              case .string("storage") = nodes[i].items[0] else {
            throw Failure(message: "persistent id \(describe(pid)) is not ('storage', type, key, location, numel)")
        }
        let p = nodes[i].items
        let type: TorchStorageType
        switch p[1] {
        case .storageType(let t): type = t
        case .dtype(let t): type = t
        default: throw Failure(message: "persistent id has storage type \(describe(p[1]))")
        }
        guard case .string(let key) = p[2], case .string(let location) = p[3] else {
            throw Failure(message: "persistent id has key \(describe(p[2])) and location \(describe(p[3])), not strings")
        }
        let numel = try int(p[4], "a storage's element count")
        guard numel >= 0 else { throw Failure(message: "storage \"\(key)\" has \(numel) elements") }
        guard !key.isEmpty, key.utf8.allSatisfy({ $0 != UInt8(ascii: "/") && $0 != 0 }), key != ".", key != ".." else {
            throw Failure(message: "storage key \"\(key)\" is not a record name")
        }
        if let existing = storageByKey[key] {
            let e = storages[existing]
            guard e.type == type, e.numel == numel else {
                throw Failure(message: "storage \"\(key)\" is claimed as \(e.numel) \(e.type) and as \(numel) \(type)")
            }
            return .storage(existing)
        }
        storages.append(StorageRef(type: type, key: key, location: location, numel: numel))
        storageByKey[key] = storages.count - 1
        return .storage(storages.count - 1)
    }

    private func build(_ target: Obj, _ state: Obj, at: Int) throws {
        // torch.save of a state_dict: the OrderedDict's __dict__ ({'_metadata': …}); a
        // parameter's empty state. Both carry no weights and are dropped.
        switch target {
        case .node(let i) where nodes[i].kind == .dict:
            guard case .node(let s) = state, nodes[s].kind == .dict else {
                throw Failure(message: "BUILD at byte \(at) sets a dict's state to \(describe(state))")
            }
        case .tensor:
            guard isEmptyState(state) else {
                throw Failure(message: "BUILD at byte \(at) sets a tensor's state to \(describe(state)), which Ember does not keep")
            }
        default:
            throw Failure(message: "BUILD at byte \(at) on \(describe(target)) is not allowed")
        }
    }

    // MARK: Naming things in errors

    func describe(_ o: Obj) -> String {
        switch o {
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return "the integer \(i)"
        case .bigInt: return "a big integer"
        case .float(let d): return "the float \(d)"
        case .string(let s): return "the string \"\(s.prefix(40))\""
        case .bytes(let b): return "\(b.count) bytes"
        case .node(let i): return "a \(nodes[i].kind)"
        case .global(let g): return "the global \(g)"
        case .storageType(let t): return "the storage type \(t.storageName)"
        case .dtype(let t): return "the dtype torch.\(t)"
        case .storage(let s): return "storage \"\(storages[s].key)\""
        case .tensor: return "a tensor"
        }
    }

    private func opcodeName(_ op: Int) -> String {
        let names: [Int: String] = [
            0x69: "INST", 0x6F: "OBJ", 0x92: "NEWOBJ_EX", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4",
            0x50: "PERSID", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER", 0x4C: "LONG", 0x53: "STRING", 0x56: "UNICODE",
        ]
        let hex = "0x" + String(op, radix: 16)
        return names[op].map { "\($0) (\(hex))" } ?? hex
    }
}
