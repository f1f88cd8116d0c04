/// The base class of every layer and model (PyTorch's `nn.Module`).
///
/// Subclass it, declare layers and parameters as stored properties, and override
/// `forward(_:)`. There is nothing to register: children (`Module`-typed properties, optional
/// ones included) and parameters (`Tensor`-typed properties, optional ones included) are found
/// by reflection, in declaration order (superclass properties first). Arrays of layers are
/// not reflected (as a Python list is not registered in PyTorch): use `ModuleList`,
/// `ModuleDict` or `Sequential`, or override `namedChildren()`.
///
/// A forward with several inputs or outputs (attention's query, key, value and mask) is a
/// method of the subclass's own signature, with a `callAsFunction` to match; `forward(_:)`
/// is then overridden only if the module also takes a single tensor (e.g. to sit in a
/// `Sequential`). Containers keep the element type (`ModuleList<Block>`), so such calls need
/// no casts:
///
/// ```swift
/// final class Block: Module {
///     let fc = Linear(64, 64)
///     func callAsFunction(_ x: Tensor, mask: Tensor) -> (out: Tensor, gate: Tensor) {
///         let gate = fc(x).sigmoid() * mask
///         return (x + gate, gate)
///     }
/// }
/// ```
///
/// ```swift
/// final class NeuralNetwork: Module {
///     let flatten = Flatten()
///     let linearReluStack = Sequential(Linear(28 * 28, 512), ReLU(), Linear(512, 10))
///     override func forward(_ x: Tensor) -> Tensor { linearReluStack(flatten(x)) }
/// }
/// let model = NeuralNetwork().to(.best)
/// let logits = model(Tensor.randn([64, 1, 28, 28]))
/// ```
///
/// Reflection runs only for structural queries (`parameters()`, `stateDict()`, `train()`,
/// `print(model)`, …), never on the forward path. It reads the properties afresh each time,
/// so a reassigned `var` layer or parameter is seen at once.
///
/// Names: `namedParameters()` and `print(model)` use the Swift property names
/// (`linearReluStack.0.weight`); `stateDict()` keys follow PyTorch's snake_case
/// (`linear_relu_stack.0.weight`) through `stateDictName(for:)`, which a subclass may override.
open class Module: CustomStringConvertible {
    /// Whether the module is in training mode (PyTorch's `training`). Layers such as
    /// `Dropout` behave differently in training and evaluation. Set by `train()` / `eval()`.
    public private(set) var isTraining = true

    /// An empty module in training mode; subclasses declare their layers as stored properties (PyTorch: `nn.Module.__init__`).
    public init() {}

    /// The computation of this module on one tensor. Every subclass whose computation takes
    /// one tensor overrides it; call the module itself (`model(x)`) rather than `forward`
    /// directly. Modules with several inputs define their own call instead (see above).
    ///
    /// PyTorch: `nn.Module.forward`.
    open func forward(_ x: Tensor) -> Tensor {
        fatalError("Module [\(typeName)] is missing the required \"forward\" function (a single-tensor forward; "
                   + "modules with several inputs are called through their own callAsFunction)")
    }

    /// Runs `forward(_:)`.
    ///
    /// PyTorch: `module(x)` (`__call__`).
    @inlinable
    public func callAsFunction(_ x: Tensor) -> Tensor { forward(x) }

    // MARK: Structure

    /// The direct submodules with their names. The default reflects over stored properties;
    /// containers whose children are not properties (`Sequential`) override it.
    ///
    /// PyTorch: `named_children()`.
    open func namedChildren() -> [(name: String, module: Module)] { reflectMembers().children }

    /// This module's own parameters (not its children's) with their names. The default
    /// reflects over `Tensor`-typed stored properties.
    ///
    /// PyTorch: `named_parameters(recurse=False)`.
    open func namedDirectParameters() -> [(name: String, tensor: Tensor)] { reflectMembers().parameters }

    /// This module's own buffers (PyTorch's `register_buffer`): `@Buffer` properties, with
    /// whether each is persistent (saved in `stateDict()`). Nil buffers are skipped, as
    /// PyTorch skips None. The default reflects over stored properties.
    open func namedDirectBuffers() -> [(name: String, tensor: Tensor, persistent: Bool)] { reflectMembers().buffers }

    /// The type name printed by `description` (`Linear`, `NeuralNetwork`).
    open var typeName: String { String(describing: type(of: self)) }

    /// The text inside this module's parentheses when printed, PyTorch's `extra_repr`
    /// (`in_features=784, out_features=512, bias=True`). Empty by default.
    open var extraDescription: String { "" }

    /// The state-dict key component for one of this module's properties (a child or a
    /// parameter). The default converts camelCase to snake_case (`Module.snakeCased`), so
    /// Swift's `linearReluStack` meets PyTorch's `linear_relu_stack`. Override it where a
    /// PyTorch model uses another name, e.g. `name == "fc1" ? "classifier.0" : Module.snakeCased(name)`.
    open func stateDictName(for propertyName: String) -> String { Module.snakeCased(propertyName) }

    /// Stored properties from the most basic subclass down to the most derived, skipping
    /// `Module`'s own.
    private func reflectMembers() -> (children: [(name: String, module: Module)],
                                      parameters: [(name: String, tensor: Tensor)],
                                      buffers: [(name: String, tensor: Tensor, persistent: Bool)]) {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror, ObjectIdentifier(m.subjectType) != ObjectIdentifier(Module.self) {
            mirrors.append(m)
            mirror = m.superclassMirror
        }
        var children: [(name: String, module: Module)] = []
        var parameters: [(name: String, tensor: Tensor)] = []
        var buffers: [(name: String, tensor: Tensor, persistent: Bool)] = []
        for m in mirrors.reversed() {
            for child in m.children {
                guard var label = child.label else { continue }
                // `lazy var x` is stored as `$__lazy_storage_$_x`, nil until first read: a
                // layer or tensor there would be missing from parameters(), stateDict() and
                // train(), silently, so it stops here instead.
                let lazyPrefix = "$__lazy_storage_$_"
                if label.hasPrefix(lazyPrefix) {
                    label.removeFirst(lazyPrefix.count)
                    precondition(!isUncreatedLayerOrTensor(child.value),
                                 "\(typeName): `lazy var \(label)` holds a layer or tensor that has not been created yet, so parameters(), stateDict() and train() cannot see it; declare it with `let` or `var` and set it in init")
                }
                // `as?` also unwraps optionals; nil ones are skipped as PyTorch skips None.
                if let module = child.value as? Module {
                    children.append((label, module))
                } else if let tensor = child.value as? Tensor {
                    parameters.append((label, tensor))
                } else if let buffer = child.value as? any ReflectedBuffer {
                    // `@Buffer var x` is stored as `_x`.
                    if label.hasPrefix("_") { label.removeFirst() }
                    if let t = buffer.tensor { buffers.append((label, t, buffer.persistent)) }
                }
            }
        }
        return (children, parameters, buffers)
    }

    /// Every module in the tree, self first (depth-first, declaration order), each once,
    /// with its dotted path of Swift names (`""` for self, `linearReluStack.0`).
    ///
    /// PyTorch: `named_modules()`.
    public func namedModules() -> [(name: String, module: Module)] { namedModules(stateDictNames: false) }

    /// Paths of Swift names, or of state-dict names when `stateDictNames` is set.
    func namedModules(stateDictNames: Bool) -> [(name: String, module: Module)] {
        var out: [(name: String, module: Module)] = []
        var seen = Set<ObjectIdentifier>()
        func visit(_ module: Module, _ path: String) {
            guard seen.insert(ObjectIdentifier(module)).inserted else { return }
            out.append((path, module))
            for (name, child) in module.namedChildren() {
                let part = stateDictNames ? module.stateDictName(for: name) : name
                visit(child, path.isEmpty ? part : path + "." + part)
            }
        }
        visit(self, "")
        return out
    }

    /// Every module in the tree, self first.
    ///
    /// PyTorch: `modules()`.
    public func modules() -> [Module] { namedModules().map(\.module) }

    /// The direct submodules.
    ///
    /// PyTorch: `children()`.
    public func children() -> [Module] {
        var seen = Set<ObjectIdentifier>()
        return namedChildren().map(\.module).filter { seen.insert(ObjectIdentifier($0)).inserted }   // a module held twice, once
    }

    /// All parameters of the tree with dotted Swift names (`linearReluStack.0.weight`), in
    /// PyTorch's order; a tensor shared by two modules appears once.
    public func namedParameters() -> [(name: String, tensor: Tensor)] { collectParameters(stateDictNames: false) }

    /// All parameters of the tree (hand them to an optimizer).
    ///
    /// PyTorch: `parameters()`.
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }

    func collectParameters(stateDictNames: Bool) -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        var seen = Set<ObjectIdentifier>()
        for (path, module) in namedModules(stateDictNames: stateDictNames) {
            for (name, tensor) in module.namedDirectParameters() where seen.insert(ObjectIdentifier(tensor)).inserted {
                let part = stateDictNames ? module.stateDictName(for: name) : name
                out.append((path.isEmpty ? part : path + "." + part, tensor))
            }
        }
        return out
    }

    /// All buffers of the tree with dotted Swift names (`bn1.runningMean`), persistent or
    /// not, in PyTorch's order (PyTorch's `named_buffers()`).
    public func namedBuffers() -> [(name: String, tensor: Tensor)] {
        collectBuffers(stateDictNames: false, persistentOnly: false).map { ($0.name, $0.tensor) }
    }

    /// All buffers of the tree.
    ///
    /// PyTorch: `buffers()`.
    public func buffers() -> [Tensor] { namedBuffers().map(\.tensor) }

    func collectBuffers(stateDictNames: Bool, persistentOnly: Bool) -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        var seen = Set<ObjectIdentifier>()   // a buffer shared by two modules appears once
        for (path, module) in namedModules(stateDictNames: stateDictNames) {
            for (name, tensor, persistent) in module.namedDirectBuffers()
            where (persistent || !persistentOnly) && (persistentOnly || seen.insert(ObjectIdentifier(tensor)).inserted) {
                let part = stateDictNames ? module.stateDictName(for: name) : name
                out.append((path.isEmpty ? part : path + "." + part, tensor))
            }
        }
        return out
    }

    /// The state-dict entries in PyTorch's order: each module's parameters, then its
    /// persistent buffers, module by module (depth-first).
    func collectState() -> [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        var seen = Set<ObjectIdentifier>()
        for (path, module) in namedModules(stateDictNames: true) {
            let own = module.namedDirectParameters().map { ($0.name, $0.tensor) }
                + module.namedDirectBuffers().filter(\.persistent).map { ($0.name, $0.tensor) }
            for (name, tensor) in own where seen.insert(ObjectIdentifier(tensor)).inserted {
                let part = module.stateDictName(for: name)
                out.append((path.isEmpty ? part : path + "." + part, tensor))
            }
        }
        return out
    }

    /// The other names PyTorch's `state_dict()` gives a tensor that `collectState` lists once:
    /// a tied tensor or a module reached by two paths (a GPT head tied to its embedding is
    /// `lm_head.weight` beside `wte.weight`), each with the name it is listed under.
    /// `state` is `collectState()`'s list.
    func collectStateAliases(_ state: [(name: String, tensor: Tensor)]) -> [(alias: String, name: String)] {
        var primary: [ObjectIdentifier: String] = [:]
        for (name, tensor) in state { primary[ObjectIdentifier(tensor)] = name }
        var out: [(alias: String, name: String)] = []
        var ancestors = Set<ObjectIdentifier>()   // a module inside itself would never end
        func visit(_ module: Module, _ path: String) {
            guard ancestors.insert(ObjectIdentifier(module)).inserted else { return }
            defer { ancestors.remove(ObjectIdentifier(module)) }
            let own = module.namedDirectParameters().map { ($0.name, $0.tensor) }
                + module.namedDirectBuffers().filter(\.persistent).map { ($0.name, $0.tensor) }
            for (name, tensor) in own {
                let part = module.stateDictName(for: name)
                let key = path.isEmpty ? part : path + "." + part
                if let listed = primary[ObjectIdentifier(tensor)], listed != key { out.append((key, listed)) }
            }
            for (name, child) in module.namedChildren() {
                let part = module.stateDictName(for: name)
                visit(child, path.isEmpty ? part : path + "." + part)
            }
        }
        visit(self, "")
        return out
    }

    /// State-dict entries that may be absent when loading; the tensor then keeps its value.
    /// BatchNorm's `num_batches_tracked`, which PyTorch fills in for state dicts from before
    /// it existed (and from files that carry no version, such as safetensors).
    open func optionalStateNames() -> Set<String> { [] }

    // MARK: Modes and devices

    /// Calls `fn` on every submodule (children first, recursively) and then on self
    /// (PyTorch's `apply`), e.g. to initialise weights.
    @discardableResult
    public func apply(_ fn: (Module) -> Void) -> Self {
        for child in children() { child.apply(fn) }
        fn(self)
        return self
    }

    /// Sets `requiresGrad` on every parameter (PyTorch's `requires_grad_`): `false` freezes
    /// the module — backward computes no gradient for it and optimizers skip it.
    @discardableResult
    public func requiresGrad_(_ requiresGrad: Bool = true) -> Self {
        for p in parameters() { p.requiresGrad = requiresGrad }
        return self
    }

    /// Puts this module and all its descendants in training mode (`mode: false` is `eval()`),
    /// through each child's own `train(_:)`: a subclass may override it (a frozen BatchNorm
    /// that stays in evaluation mode calls `super.train(false)`).
    ///
    /// PyTorch: `train(mode)`.
    @discardableResult
    open func train(_ mode: Bool = true) -> Self {
        isTraining = mode
        for child in children() { child.train(mode) }
        return self
    }

    /// Puts this module and all its descendants in evaluation mode (Dropout passes through).
    ///
    /// PyTorch: `eval()`.
    @discardableResult
    public func eval() -> Self { train(false) }

    /// Clears every parameter's gradient (sets it to nil, PyTorch 2's default), so the next
    /// `backward()` writes gradients instead of adding to them.
    public func zeroGrad() {
        for p in parameters() { p.grad = nil }
    }

    /// Returns self: Ember computes on the CPU, so every device (`.cpu`, `.best`) is already
    /// where the parameters live. Kept so that PyTorch's `model.to(device)` reads the same.
    @discardableResult
    public func to(_ device: Device) -> Self { self }

    // MARK: Printing

    /// PyTorch's `repr`: `Linear(in_features=784, out_features=512, bias=True)`, and for
    /// containers one `(name): Child(...)` line per child, indented by two spaces.
    /// (`ModuleList` overrides it to fold repeated blocks, as PyTorch's does.)
    open var description: String {
        let extra = extraDescription
        let extraLines = extra.isEmpty ? [] : extra.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let childLines = namedChildren().map { name, child in
            "(\(name)): " + child.description.replacingOccurrences(of: "\n", with: "\n  ")
        }
        let lines = extraLines + childLines
        var text = typeName + "("
        if extraLines.count == 1 && childLines.isEmpty {
            text += extraLines[0]
        } else if !lines.isEmpty {
            text += "\n  " + lines.joined(separator: "\n  ") + "\n"
        }
        return text + ")"
    }

    // MARK: Names

    /// camelCase → snake_case, the rule between Swift property names and PyTorch state-dict
    /// keys: an underscore goes before an uppercase letter that follows a lowercase letter or
    /// digit, and before the last capital of an acronym followed by a lowercase letter; then
    /// everything is lowercased. `linearReluStack` → `linear_relu_stack`, `fc2Out` →
    /// `fc2_out`, `parseHTTPHeader` → `parse_http_header`; `0`, `weight`, `conv1` are unchanged.
    public static func snakeCased(_ name: String) -> String {
        let chars = Array(name)
        var out = ""
        for (i, c) in chars.enumerated() {
            if c.isUppercase && i > 0 {
                let prev = chars[i - 1]
                let nextIsLower = i + 1 < chars.count && chars[i + 1].isLowercase
                if prev.isLowercase || prev.isNumber || (prev.isUppercase && nextIsLower) { out += "_" }
            }
            out += c.lowercased()
        }
        return out
    }
}

/// Marks a module's tensor as a buffer (PyTorch's `register_buffer`): part of the module's
/// state, saved in `stateDict()` (unless `persistent: false`) and loaded by
/// `loadStateDict`, but not a parameter — optimizers never see it. BatchNorm's running
/// statistics are buffers.
///
/// ```swift
/// final class Scaler: Module {
///     @Buffer var scale = Tensor.ones([3])
///     @Buffer(persistent: false) var cache: Tensor? = nil
///     override func forward(_ x: Tensor) -> Tensor { x * scale }
/// }
/// ```
@propertyWrapper
public final class Buffer<Value: BufferValue> {
    /// The buffer's value (a tensor, or nil when unregistered).
    public var wrappedValue: Value
    /// Whether `stateDict()` includes it (PyTorch: `register_buffer(..., persistent=)`).
    public let persistent: Bool
    /// Registers `wrappedValue` as a buffer of the enclosing module (PyTorch: `register_buffer`).
    public init(wrappedValue: Value, persistent: Bool = true) {
        self.wrappedValue = wrappedValue
        self.persistent = persistent
    }
}

/// What a `@Buffer` may hold: a tensor, or an optional one (nil: not registered, as None).
public protocol BufferValue {
    /// The tensor to register, or nil.
    var bufferTensor: Tensor? { get }
}
extension Tensor: BufferValue { public var bufferTensor: Tensor? { self } }
extension Optional: BufferValue where Wrapped == Tensor { public var bufferTensor: Tensor? { self } }

/// Reflection's view of any `Buffer<Value>`.
protocol ReflectedBuffer {
    var tensor: Tensor? { get }
    var persistent: Bool { get }
}
extension Buffer: ReflectedBuffer {
    var tensor: Tensor? { wrappedValue.bufferTensor }
}

/// Whether `value` is a nil optional of a layer or tensor type (an unread `lazy var`).
func isUncreatedLayerOrTensor(_ value: Any) -> Bool {
    guard let optional = value as? any ReflectedOptional, optional.isNone else { return false }
    let wrapped = type(of: optional).wrappedType
    return wrapped is Module.Type || wrapped is Tensor.Type
}

protocol ReflectedOptional {
    static var wrappedType: Any.Type { get }
    var isNone: Bool { get }
}

extension Optional: ReflectedOptional {
    static var wrappedType: Any.Type { Wrapped.self }
    var isNone: Bool { self == nil }
}
