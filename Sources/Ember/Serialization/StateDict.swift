import Foundation

/// A model's parameters by state-dict key (PyTorch's `state_dict()`).
public typealias StateDict = [String: Tensor]

/// A state dict checked against a model: the copies to make (the model's tensor, its new
/// values) and the missing and unexpected keys.
struct CheckedStateDict {
    let copies: [(Tensor, Tensor)]
    let missing: [String], unexpected: [String]

    /// Copies the new values into the model's tensors, in place.
    func apply() { noGrad { for (p, t) in copies { p.copy_(t.type(p.dtype)) } } }
}

extension Module {
    /// The parameters and persistent buffers by PyTorch-style key: dotted paths whose parts
    /// pass through `stateDictName(for:)` (camelCase → snake_case by default), so the keys
    /// equal PyTorch's for the same architecture: `linear_relu_stack.0.weight`,
    /// `bn1.running_mean`. The tensors share storage with the module's (not copies), as in
    /// PyTorch; `clone()` them to keep a snapshot.
    public func stateDict() -> StateDict {
        Dictionary(uniqueKeysWithValues: collectState().map { ($0.name, $0.tensor.detach()) })
    }

    /// The state-dict keys in PyTorch's order (each module's parameters, then its buffers).
    public func stateDictKeys() -> [String] { collectState().map(\.name) }

    /// Copies `stateDict` into the parameters, in place (so optimizers holding them see the
    /// new values). Every problem is collected first and reported in one error: keys the model
    /// has but the dict lacks (missing), keys the dict has but the model lacks (unexpected) —
    /// both only when `strict` — and tensors of the wrong shape (always, as in PyTorch).
    /// Nothing is copied unless everything fits. A tensor of another dtype is converted.
    ///
    /// As in PyTorch, a tied tensor may come under any of its names (`lm_head.weight` for a
    /// head tied to `wte.weight`), and BatchNorm's `num_batches_tracked` may be absent.
    ///
    /// - Returns: the missing and unexpected keys (empty when strict, since those throw).
    @discardableResult
    public func loadStateDict(_ stateDict: StateDict, strict: Bool = true) throws
        -> (missingKeys: [String], unexpectedKeys: [String]) {
        let checked = try checkStateDict(stateDict, strict: strict)
        checked.apply()
        return (checked.missing, checked.unexpected)
    }

    /// `loadStateDict`'s checks, changing nothing until `apply()`.
    func checkStateDict(_ stateDict: StateDict, strict: Bool) throws -> CheckedStateDict {
        var stateDict = stateDict
        let params = collectState()
        let aliases = collectStateAliases(params)
        // A tied tensor given only under another name is loaded from it.
        for (alias, name) in aliases where stateDict[name] == nil {
            if let t = stateDict[alias] { stateDict[name] = t }
        }
        let optional = optionalStateKeys()
        let expected = Set(params.map(\.name)).union(aliases.map(\.alias))
        let missing = params.map(\.name).filter { stateDict[$0] == nil && !optional.contains($0) }
        let unexpected = stateDict.keys.filter { !expected.contains($0) }.sorted()
        var problems: [String] = []
        if strict {
            if !missing.isEmpty { problems.append("Missing key(s) in state_dict: " + missing.map { "\"\($0)\"" }.joined(separator: ", ") + ".") }
            if !unexpected.isEmpty { problems.append("Unexpected key(s) in state_dict: " + unexpected.map { "\"\($0)\"" }.joined(separator: ", ") + ".") }
        }
        let shapes = Dictionary(uniqueKeysWithValues: params.map { ($0.name, $0.tensor.shape) })
        for (key, shape) in params.map({ ($0.name, $0.tensor.shape) }) + aliases.map({ ($0.alias, shapes[$0.name]!) }) {
            guard let t = stateDict[key], t.shape != shape else { continue }
            problems.append("size mismatch for \(key): copying a param with shape \(t.shape) from checkpoint, the shape in current model is \(shape).")
        }
        if !problems.isEmpty { throw SerializationError.stateDictMismatch(what: typeName, problems: problems) }
        return CheckedStateDict(copies: params.compactMap { p in stateDict[p.name].map { (p.tensor, $0) } },
                                missing: missing, unexpected: unexpected)
    }

    /// The full keys of every module's `optionalStateNames()`.
    func optionalStateKeys() -> Set<String> {
        var keys = Set<String>()
        for (path, module) in namedModules(stateDictNames: true) {
            for name in module.optionalStateNames() { keys.insert(path.isEmpty ? name : path + "." + name) }
        }
        return keys
    }

    /// Saves `stateDict()` to a safetensors file that PyTorch reads with
    /// `safetensors.torch.load_file(path)` and `model.load_state_dict(...)`. Atomic: see
    /// `SafeTensors.write`.
    public func save(to path: String) throws {
        try SafeTensors.write(stateDict(), to: path)
    }

    /// Loads a safetensors file written by `save(to:)` or by PyTorch's
    /// `safetensors.torch.save_file(model.state_dict(), path)`, or a state dict written by
    /// `torch.save(model.state_dict(), path)` (.pt/.pth; see `TorchCheckpoint`). The two are
    /// told apart by content, not by extension. `strippingPrefixes` removes wrapper prefixes
    /// from the file's keys (`TorchCheckpoint.wrapperPrefixes`: DataParallel's `module.`,
    /// torch.compile's `_orig_mod.`).
    public func load(from path: String, strict: Bool = true, strippingPrefixes prefixes: [String] = []) throws {
        let tensors: StateDict
        if TorchCheckpoint.isTorchSave(Self.leadingBytes(of: path)) {
            tensors = try TorchCheckpoint.read(from: path).stateDict(strippingPrefixes: prefixes)
        } else {
            tensors = try SafeTensors.read(from: path).tensors.reduce(into: [:]) {
                $0[TorchCheckpoint.strip($1.key, prefixes)] = $1.value
            }
        }
        do {
            try loadStateDict(tensors, strict: strict)
        } catch SerializationError.stateDictMismatch(let what, let problems) {
            throw SerializationError.stateDictMismatch(what: "\(what) from \(path)", problems: problems)
        }
    }

    /// The first bytes of a file (empty when it cannot be read: the reader then says why).
    static func leadingBytes(of path: String) -> [UInt8] {
        guard let h = FileHandle(forReadingAtPath: path) else { return [] }
        defer { try? h.close() }
        return [UInt8]((try? h.read(upToCount: 9)) ?? Data())
    }
}
