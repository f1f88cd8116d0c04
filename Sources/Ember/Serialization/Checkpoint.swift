/// A training checkpoint: everything needed to resume a run so that it continues with
/// bit-identical losses — the model's parameters, the optimizer's state and hyperparameters,
/// the LR scheduler's position, random generators' states, and where the data loader was
/// (epoch and batch index, as plain integers).
///
/// One safetensors file: tensors `model.<state-dict key>` and `optimizer.state.<i>.<name>`;
/// the rest is string metadata (`epoch`, `batch_index`, `optimizer.param_groups.0.lr`,
/// `generator.<name>.seed`, …). Doubles are written in Swift's shortest round-trip form, so
/// they read back exactly.
///
/// ```swift
/// try Checkpoint.save(to: "ckpt.safetensors", model: model, optimizer: optimizer,
///                     generators: ["default": .default], epoch: epoch, batchIndex: batch)
/// let resume = try Checkpoint.load(from: "ckpt.safetensors", model: model, optimizer: optimizer,
///                                  generators: ["default": .default])
/// // continue at resume.epoch, resume.batchIndex
/// ```
public struct Checkpoint: Equatable {
    /// The epoch in progress when saved.
    public var epoch: Int
    /// The next batch to run within `epoch`.
    public var batchIndex: Int
    /// Anything else the caller saved (strings).
    public var extra: [String: String]

    static let format = "ember.checkpoint.v1"

    /// Writes a checkpoint atomically (see `SafeTensors.write`).
    ///
    /// PyTorch: `torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": …}, path)`.
    public static func save(to path: String, model: Module, optimizer: Optimizer? = nil, scheduler: LRScheduler? = nil,
                            generators: [String: Generator] = [:], epoch: Int, batchIndex: Int,
                            extra: [String: String] = [:]) throws {
        var tensors: [String: Tensor] = [:]
        var meta: [String: String] = ["format": format, "epoch": String(epoch), "batch_index": String(batchIndex)]
        for (k, t) in model.stateDict() { tensors["model." + k] = t }
        if let optimizer {
            let (state, hyper) = optimizer.stateDict()
            for (k, t) in state { tensors["optimizer." + k] = t }
            for (k, v) in hyper { meta["optimizer." + k] = String(v) }
            meta["optimizer.type"] = String(describing: type(of: optimizer))
        }
        if let scheduler {
            for (k, v) in scheduler.stateDict() { meta["scheduler." + k] = String(v) }
            meta["scheduler.type"] = String(describing: type(of: scheduler))
        }
        for (name, g) in generators {
            let s = g.state
            meta["generator.\(name).seed"] = String(s.seed)
            meta["generator.\(name).offset"] = String(s.offset)
        }
        for (k, v) in extra { meta["extra." + k] = v }
        try SafeTensors.write(tensors, metadata: meta, to: path)
    }

    /// Restores a checkpoint into the given objects (each must be built as when saving) and
    /// returns the position to resume from. The file must hold state for each object passed.
    ///
    /// PyTorch: `torch.load(path)` then each `load_state_dict`.
    public static func load(from path: String, model: Module, optimizer: Optimizer? = nil, scheduler: LRScheduler? = nil,
                            generators: [String: Generator] = [:]) throws -> Checkpoint {
        try restore(SafeTensors.read(from: path), path: path, model: model, optimizer: optimizer, scheduler: scheduler,
                    generators: generators)
    }

    /// `load` after the file is read: the fuzz target (Fuzz/CheckpointFuzz.swift) calls it
    /// on parsed bytes, with no file system in the loop.
    static func restore(_ contents: SafeTensors.Contents, path: String, model: Module, optimizer: Optimizer?,
                        scheduler: LRScheduler?, generators: [String: Generator]) throws -> Checkpoint {
        let meta = contents.metadata
        func bad(_ problems: [String]) -> SerializationError {
            .stateDictMismatch(what: "checkpoint \(path)", problems: problems)
        }
        guard meta["format"] == format else { throw bad(["not an Ember training checkpoint (format \(meta["format"] ?? "missing"))"]) }
        guard let epoch = meta["epoch"].flatMap({ Int($0) }), let batch = meta["batch_index"].flatMap({ Int($0) }) else {
            throw bad(["missing or invalid epoch / batch_index"])
        }

        // Everything that can be checked without changing state is checked first.
        var genStates: [(Generator, (UInt64, UInt64))] = []
        for (name, g) in generators {
            guard let seed = meta["generator.\(name).seed"].flatMap({ UInt64($0) }),
                  let offset = meta["generator.\(name).offset"].flatMap({ UInt64($0) }) else {
                throw bad(["no state for generator \"\(name)\""])
            }
            genStates.append((g, (seed, offset)))
        }
        func section(_ prefix: String) throws -> [String: Double] {
            var out: [String: Double] = [:]
            for (k, v) in meta where k.hasPrefix(prefix) && !k.hasSuffix(".type") {
                guard let d = Double(v) else { throw bad(["invalid number \"\(v)\" for \(k)"]) }
                out[String(k.dropFirst(prefix.count))] = d
            }
            return out
        }
        var modelState: StateDict = [:], optimizerState: [String: Tensor] = [:]
        for (k, t) in contents.tensors {
            if k.hasPrefix("model.") { modelState[String(k.dropFirst(6))] = t }
            else if k.hasPrefix("optimizer.") { optimizerState[String(k.dropFirst(10))] = t }
            else { throw bad(["unexpected tensor \"\(k)\""]) }
        }
        // The optimizers read their state through raw float / int64 pointers and count steps
        // in an Int: a state tensor of another dtype, or a step count that cannot grow, would
        // be read as garbage or trap on the next step().
        var stateProblems: [String] = []
        for (k, t) in optimizerState.sorted(by: { $0.key < $1.key }) {
            let isStep = k.hasSuffix(".step")
            let want: DType = isStep ? .int64 : .float32
            if t.dtype != want {
                stateProblems.append("\"optimizer.\(k)\" is \(t.dtype), expected \(want)")
            } else if isStep, t.count == 1, !(0...(Int64(1) << 53)).contains(t.i64[0]) {
                stateProblems.append("\"optimizer.\(k)\" is \(t.i64[0]), not a step count in 0...2^53")
            }
        }
        if !stateProblems.isEmpty { throw bad(stateProblems) }
        // LRScheduler.loadStateDict converts last_epoch to an Int.
        if let v = meta["scheduler.last_epoch"], let d = Double(v), !(d.magnitude <= 0x1p53) {
            throw bad(["invalid scheduler.last_epoch \(v)"])
        }
        if let optimizer {
            let saved = meta["optimizer.type"], want = String(describing: type(of: optimizer))
            guard saved == want else { throw bad(["optimizer is \(want) but the checkpoint holds \(saved ?? "none")"]) }
        }
        if let scheduler {
            let saved = meta["scheduler.type"], want = String(describing: type(of: scheduler))
            guard saved == want else { throw bad(["scheduler is \(want) but the checkpoint holds \(saved ?? "none")"]) }
        }

        // The model is checked, the optimizer and scheduler load (each checks before it
        // changes anything; the optimizer is put back if the scheduler refuses), and only then
        // are the model's tensors and the generators written: a refused checkpoint changes nothing.
        let checkedModel = try model.checkStateDict(modelState, strict: true)
        let hyperparameters = try section("optimizer."), schedulerState = try section("scheduler.")
        let previous = optimizer?.stateDict()
        try optimizer?.loadStateDict(tensors: optimizerState, hyperparameters: hyperparameters)
        do {
            try scheduler?.loadStateDict(schedulerState)
        } catch {
            if let optimizer, let previous {
                try? optimizer.loadStateDict(tensors: previous.tensors, hyperparameters: previous.hyperparameters)
            }
            throw error
        }
        checkedModel.apply()
        for (g, s) in genStates { g.state = (seed: s.0, offset: s.1) }

        var extra: [String: String] = [:]
        for (k, v) in meta where k.hasPrefix("extra.") { extra[String(k.dropFirst(6))] = v }
        return Checkpoint(epoch: epoch, batchIndex: batch, extra: extra)
    }
}
