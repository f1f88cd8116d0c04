/// Holds submodules in a list (PyTorch's `nn.ModuleList`): a model's n blocks. The modules
/// are children named `0`, `1`, … (state-dict keys `layers.0.weight`, as in PyTorch) and the
/// list reads like a Swift array: index, iterate, `append`, `extend`, `insert`, `remove`.
///
/// It has no forward of its own: the owning module runs the blocks, which may take and return
/// several tensors. The element type keeps each block's own call signature, so no casts are
/// needed (`ModuleList<Module>` holds layers of any type):
///
/// ```swift
/// final class Decoder: Module {
///     let blocks = ModuleList((0..<6).map { _ in Block(dim: 64) })   // ModuleList<Block>
///     let norm = LayerNorm(64)
///     func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
///         var x = x
///         for block in blocks { x = block(x, mask: mask) }              // a two-input forward
///         return norm(x)
///     }
/// }
/// // stateDict keys: blocks.0.fc.weight, …, blocks.5.fc.bias, norm.weight, norm.bias
/// ```
open class ModuleList<Element: Module>: Module, RandomAccessCollection, MutableCollection, ExpressibleByArrayLiteral {
    /// The modules in order.
    public private(set) var elements: [Element]

    /// A list of `modules` in order (PyTorch: `nn.ModuleList(modules)`).
    public init(_ modules: [Element] = []) {
        elements = modules
        super.init()
    }

    /// A list of the given modules in order.
    ///
    /// PyTorch: `nn.ModuleList([...])`.
    public convenience init(_ modules: Element...) { self.init(modules) }

    /// `let heads: ModuleList<Linear> = [Linear(64, 10), Linear(64, 4)]`.
    public required convenience init(arrayLiteral modules: Element...) { self.init(modules) }

    /// Adds a module at the end (PyTorch's `append`).
    public func append(_ module: Element) { elements.append(module) }
    /// Adds modules at the end (PyTorch's `extend`).
    public func extend<S: Sequence>(_ modules: S) where S.Element == Element { elements.append(contentsOf: modules) }
    /// Inserts a module before position `index` (PyTorch's `insert`; `index == count` appends).
    public func insert(_ module: Element, at index: Int) {
        precondition(index >= 0 && index <= elements.count,
                     "ModuleList.insert: index \(index) is out of range for a list of \(elements.count) modules")
        elements.insert(module, at: index)
    }
    /// Removes and returns the module at `index` (PyTorch's `pop`); later ones move down.
    @discardableResult
    public func remove(at index: Int) -> Element {
        precondition(elements.indices.contains(index),
                     "ModuleList.remove: index \(index) is out of range for a list of \(elements.count) modules")
        return elements.remove(at: index)
    }

    /// The modules, named `0`, `1`, … by position.
    open override func namedChildren() -> [(name: String, module: Module)] {
        elements.enumerated().map { (String($0.offset), $0.element as Module) }
    }

    /// Prints as `ModuleList`, whatever the element type.
    open override var typeName: String { "ModuleList" }

    /// PyTorch's `ModuleList.__repr__`: runs of consecutive blocks that print the same fold
    /// into one line, `(0-11): 12 x Block(...)`.
    open override var description: String {
        guard !elements.isEmpty else { return typeName + "()" }
        var runs: [(start: Int, end: Int, text: String)] = []
        for (i, m) in elements.enumerated() {
            let text = m.description
            if let last = runs.last, last.text == text { runs[runs.count - 1].end = i } else { runs.append((i, i, text)) }
        }
        let lines = runs.map { r in
            (r.start == r.end ? "(\(r.start)): " : "(\(r.start)-\(r.end)): \(r.end - r.start + 1) x ")
                + r.text.replacingOccurrences(of: "\n", with: "\n  ")
        }
        return typeName + "(\n  " + lines.joined(separator: "\n  ") + "\n)"
    }

    // MARK: RandomAccessCollection, MutableCollection
    /// 0.
    public var startIndex: Int { 0 }
    /// The number of modules.
    public var endIndex: Int { elements.count }
    /// The module at `index`; setting replaces it (PyTorch: `list[i]`, `list[i] = m`).
    public subscript(index: Int) -> Element {
        get {
            precondition(elements.indices.contains(index),
                         "ModuleList: index \(index) is out of range for a list of \(elements.count) modules")
            return elements[index]
        }
        set {
            precondition(elements.indices.contains(index),
                         "ModuleList: index \(index) is out of range for a list of \(elements.count) modules")
            elements[index] = newValue
        }
    }
}

/// Holds submodules by name, in insertion order (PyTorch's `nn.ModuleDict`). Each module is a
/// child under its key, so state-dict keys are `blocks.attn.weight` with the key as given (no
/// snake-casing: keys are strings, not Swift names). Reads like a Swift dictionary: subscript
/// by key (nil when absent; assigning nil removes), `keys`, `values`, iteration over
/// `(key, value)` pairs in order, `update`, `removeValue(forKey:)`.
///
/// ```swift
/// let heads: ModuleDict<Linear> = ["cls": Linear(64, 10), "box": Linear(64, 4)]
/// for (name, head) in heads { outputs[name] = head(features) }
/// ```
open class ModuleDict<Value: Module>: Module, Sequence, ExpressibleByDictionaryLiteral {
    /// The keys in insertion order.
    public private(set) var keys: [String] = []
    private var table: [String: Value] = [:]

    /// A dictionary of `modules` in the given order (PyTorch: `nn.ModuleDict(modules)`).
    public init(_ modules: [(String, Value)] = []) {
        super.init()
        for (k, m) in modules { self[k] = m }
    }

    /// `let heads: ModuleDict<Linear> = ["cls": Linear(64, 10)]`.
    public required convenience init(dictionaryLiteral elements: (String, Value)...) { self.init(elements) }

    /// The module under `key`, or nil. Setting a new key adds it at the end; setting an
    /// existing key replaces its module in place; setting nil removes the key.
    public subscript(key: String) -> Value? {
        get { table[key] }
        set {
            guard let newValue else {
                removeValue(forKey: key)
                return
            }
            ModuleDict.checkKey(key)
            if table.updateValue(newValue, forKey: key) == nil { keys.append(key) }
        }
    }

    /// The modules in key order.
    public var values: [Value] { keys.map { table[$0]! } }
    /// The number of modules.
    public var count: Int { keys.count }
    /// Whether the dictionary holds no module.
    public var isEmpty: Bool { keys.isEmpty }
    /// Whether a module is stored under `key` (PyTorch: `key in dict`).
    public func contains(_ key: String) -> Bool { table[key] != nil }

    /// Adds or replaces the given modules, in their order (PyTorch's `update`).
    public func update(_ modules: [(String, Value)]) {
        for (k, m) in modules { self[k] = m }
    }

    /// Removes the module under `key` and returns it (PyTorch's `pop`), or nil.
    @discardableResult
    public func removeValue(forKey key: String) -> Value? {
        guard let m = table.removeValue(forKey: key) else { return nil }
        keys.removeAll { $0 == key }
        return m
    }

    /// A key must be a usable state-dict component, as PyTorch's `add_module` requires.
    private static func checkKey(_ key: String) {
        precondition(!key.isEmpty, "ModuleDict: module name can't be empty string \"\"")
        precondition(!key.contains("."), "ModuleDict: module name can't contain \".\", got: \(key)")
    }

    /// The modules, named by their keys in insertion order.
    open override func namedChildren() -> [(name: String, module: Module)] {
        keys.map { ($0, table[$0]! as Module) }
    }

    /// Keys are used as given (not snake-cased) in state-dict names.
    open override func stateDictName(for propertyName: String) -> String { propertyName }

    /// Prints as `ModuleDict`, whatever the value type.
    open override var typeName: String { "ModuleDict" }

    /// `(key, value)` pairs in insertion order (PyTorch: `dict.items()`).
    public func makeIterator() -> IndexingIterator<[(key: String, value: Value)]> {
        keys.map { (key: $0, value: table[$0]!) }.makeIterator()
    }
}
