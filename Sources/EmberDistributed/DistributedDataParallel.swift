import CEmberMPI
import Ember
import Foundation

/// Data-parallel training over the ranks of a `ProcessGroup` (PyTorch's
/// `DistributedDataParallel`). Every rank holds the same model and runs forward and backward
/// on its own part of each batch; DDP averages the gradients over the ranks during backward,
/// so after `backward()` every rank holds the same gradients and the optimizer's step keeps
/// the models identical.
///
/// ```swift
/// let group = try ProcessGroup.fromEnvironment()
/// let model = try DistributedDataParallel(NeuralNetwork(), processGroup: group)
/// let optimizer = SGD(model.parameters(), lr: 1e-3)
/// for (X, y) in loader {                        // each rank's share of the batch
///     lossFn(model(X), y).backward()            // gradients averaged over ranks here
///     optimizer.step(); optimizer.zeroGrad()
/// }
/// ```
///
/// - At construction rank 0's parameters and buffers are broadcast to every rank; buffers
///   again before each forward (`broadcastBuffers`).
/// - Gradients are reduced in buckets of about `bucketCapMB` MB (the first one 1 MiB, so
///   that communication starts early), filled in reverse parameter order — roughly the order
///   backward produces them. A gradient-ready hook (`registerPostAccumulateGradHook`) copies
///   each gradient into its bucket; a full bucket's allreduce is started on the communication
///   thread while backward goes on; the last hook waits for all of them and writes the
///   averages into `grad`. Buckets start in the same order on every rank.
/// - `noSync { … }`: forward/backward inside accumulate gradients locally, without
///   communication (gradient accumulation); the next forward/backward outside reduces the sum.
/// - A parameter that gets no gradient in a backward pass leaves its bucket unreduced: the
///   next forward stops with `DistributedError.unfinishedReduction` naming the parameters,
///   as PyTorch does — unless `findUnusedParameters`, which walks the graph after each
///   forward and, once its backward starts, reduces for the parameters the graph cannot reach
///   what this rank has for them (a gradient accumulated under `noSync`, or zeros). As in
///   PyTorch, a parameter no rank used keeps its gradient (nil stays nil, so optimizers skip
///   it), and a forward whose loss is never backpropagated leaves nothing half-reduced.
/// - `reproducible`: gradients are summed in a fixed order (`ReductionOrder.fixedTree`), and
///   the gradients of the micro-batches run under `noSync` are kept apart and summed in the
///   same fixed tree. Splitting a global batch into S equal shards (S a power of two), with
///   rank r running shards r, r + N, r + 2N, … as micro-batches, then gives the same bits for
///   every power-of-two number of ranks N dividing S. Otherwise (the default, "fast") the sum
///   is MPI's own allreduce, equal to single-process training only to rounding.
/// - With a world of one (and not `reproducible`) the average is the gradient itself: DDP
///   registers no hooks and costs nothing.
///
/// The state dict holds the wrapped model's under `module.` (as PyTorch's DDP); save
/// `ddp.module` for a checkpoint that loads into a plain model.
public final class DistributedDataParallel: Module {
    /// The wrapped model.
    public let module: Module
    public let processGroup: ProcessGroup
    public let bucketCapMB: Double
    public let findUnusedParameters: Bool
    public let broadcastBuffers: Bool
    public let reproducible: Bool
    let reducer: Reducer?

    /// - Parameters:
    ///   - model: the model every rank trains; built the same way on every rank (its
    ///     parameters are overwritten with rank 0's).
    ///   - processGroup: the ranks.
    ///   - bucketCapMB: bucket size in MB (2^20 bytes) of float32 gradients.
    ///   - findUnusedParameters: allow parameters a forward does not use (see above).
    ///   - broadcastBuffers: broadcast rank 0's buffers before every forward.
    ///   - reproducible: fixed-order sums (see above) instead of MPI's allreduce.
    public init(_ model: Module, processGroup: ProcessGroup, bucketCapMB: Double = 25,
                findUnusedParameters: Bool = false, broadcastBuffers: Bool = true, reproducible: Bool = false) throws {
        guard bucketCapMB > 0 else {
            throw DistributedError.invalidArgument(op: "DistributedDataParallel", message:
                "bucketCapMB must be positive, got \(bucketCapMB)")
        }
        module = model
        self.processGroup = processGroup
        self.bucketCapMB = bucketCapMB
        self.findUnusedParameters = findUnusedParameters
        self.broadcastBuffers = broadcastBuffers
        self.reproducible = reproducible
        let named = model.namedParameters().filter { $0.tensor.requiresGrad }
        for (name, p) in named where p.dtype != .float32 || !p.isContiguous {
            throw DistributedError.invalidArgument(op: "DistributedDataParallel", message:
                "parameter \(name) must be a contiguous float32 tensor, got \(p.dtype) of shape \(p.shape)")
        }
        let needsReducer = processGroup.worldSize > 1 || reproducible
        reducer = needsReducer && !named.isEmpty
            ? Reducer(named, group: processGroup, bucketCapBytes: Int(bucketCapMB * 1_048_576),
                      order: reproducible ? .fixedTree : .mpi, findUnused: findUnusedParameters)
            : nil
        super.init()
        try verifySameShapes(model.namedParameters())
        // Rank 0's parameters and buffers everywhere (PyTorch's _sync_module_states).
        try noGrad {
            for p in model.parameters() where p.dtype == .float32 || p.dtype == .int64 {
                try broadcastContiguous(p)
            }
            try syncBuffers()
        }
        reducer?.install()
    }

    public override func namedChildren() -> [(name: String, module: Module)] { [("module", module)] }
    public override func namedDirectParameters() -> [(name: String, tensor: Tensor)] { [] }
    public override func namedDirectBuffers() -> [(name: String, tensor: Tensor, persistent: Bool)] { [] }
    public override var typeName: String { "DistributedDataParallel" }

    /// Whether backward passes reduce gradients (false inside `noSync`).
    public private(set) var requireBackwardGradSync = true

    /// Runs `body` with gradient synchronisation off (PyTorch's `no_sync()`): backward passes
    /// of forwards run inside only accumulate local gradients.
    @discardableResult
    public func noSync<R>(_ body: () throws -> R) rethrows -> R {
        let previous = requireBackwardGradSync
        requireBackwardGradSync = false
        defer { requireBackwardGradSync = previous }
        return try body()
    }

    public override func forward(_ x: Tensor) -> Tensor {
        do {
            try prepareForward()
        } catch {
            fatalError("\(error)")
        }
        let out = module(x)
        if let reducer, isGradEnabled, requireBackwardGradSync, findUnusedParameters {
            reducer.markUnused(reachable: out.reachableLeaves())
        }
        return out
    }

    /// What `forward` checks first: that the previous backward reduced every parameter
    /// (`DistributedError.unfinishedReduction` otherwise); then it broadcasts buffers and arms
    /// the reducer for the next backward.
    public func prepareForward() throws {
        if let reducer { try reducer.checkFinished() }
        if broadcastBuffers && processGroup.worldSize > 1 { try noGrad { try syncBuffers() } }
        if let reducer, isGradEnabled { reducer.prepare(sync: requireBackwardGradSync) }
    }

    /// Times (monotonic seconds) of the last reduced backward: when each bucket's gradients
    /// were ready and its allreduce started and finished on the communication thread, and
    /// when the last gradient was ready (backward's compute end). Empty without a reducer.
    public var lastTimeline: [BucketTiming] { reducer?.timeline ?? [] }
    /// The buckets' parameter names, in launch order.
    public var bucketParameterNames: [[String]] { reducer?.bucketNames ?? [] }

    /// Every rank must wrap the same architecture, or the broadcasts and the buckets' sums
    /// would pair unrelated numbers: rank 0's parameter shapes are broadcast and compared, and
    /// a difference on any rank throws on every rank, naming the first parameter that differs
    /// where this rank can tell (PyTorch's _verify_param_shape_across_processes).
    private func verifySameShapes(_ named: [(name: String, tensor: Tensor)]) throws {
        guard processGroup.worldSize > 1 else { return }
        let group = processGroup
        func onAnyRank(_ flag: Bool) throws -> Bool {
            let t = Tensor([Float(flag ? 1 : 0)])
            try group.allReduce(t, op: .max)
            return t.item() > 0
        }
        let layout = named.flatMap { [$0.tensor.ndim] + $0.tensor.shape }   // ndim, sizes, … per parameter
        let sizes = Tensor([named.count, layout.count])
        try group.broadcast(sizes, from: 0)
        let rank0Count = sizes.toIntArray()[0]
        var problem = rank0Count == named.count ? nil : "this rank has \(named.count) parameters, rank 0 has \(rank0Count)"
        if sizes.toIntArray()[1] != layout.count && problem == nil { problem = "parameter shapes differ from rank 0's" }
        if try !onAnyRank(problem != nil) {
            let rank0 = Tensor(layout)
            try group.broadcast(rank0, from: 0)
            let theirs = rank0.toIntArray()
            var at = 0
            for (name, p) in named {
                let mine = [p.ndim] + p.shape
                let other = Array(theirs[at..<(at + 1 + theirs[at])])
                if mine != other {
                    problem = "parameter \(name) has shape \(p.shape) on this rank but \(Array(other.dropFirst())) on rank 0"
                    break
                }
                at += mine.count
            }
        }
        if try onAnyRank(problem != nil) {
            throw DistributedError.invalidArgument(op: "DistributedDataParallel", message: "rank \(group.rank): "
                + (problem ?? "the model differs on another rank (its parameter shapes do not match rank 0's)"))
        }
    }

    private func syncBuffers() throws {
        guard processGroup.worldSize > 1 else { return }
        for b in module.buffers() where b.dtype == .float32 || b.dtype == .int64 { try broadcastContiguous(b) }
    }

    private func broadcastContiguous(_ t: Tensor) throws {
        guard processGroup.worldSize > 1 else { return }
        if t.isContiguous || t.dtype == .int64 {
            try processGroup.broadcast(t, from: 0)
        } else {
            let c = t.contiguous()
            try processGroup.broadcast(c, from: 0)
            t.copy_(c)
        }
    }
}

/// When one bucket's gradients were ready and reduced (monotonic seconds).
public struct BucketTiming: Sendable {
    public let bucket: Int
    public let bytes: Int
    /// Its last gradient was ready and its allreduce was queued.
    public let launched: Double
    public let mpiStarted: Double
    public let mpiFinished: Double
    /// The last gradient of the whole backward was ready.
    public let backwardComputeEnd: Double
}

/// The gradient buckets of one DistributedDataParallel and their state in the current
/// backward pass (PyTorch's `Reducer`).
final class Reducer {
    struct Bucket {
        var params: [Int] = []
        var offsets: [Int] = []
        var count = 0
        var buffer = Tensor.zeros([1])
    }

    let params: [Tensor]
    let names: [String]
    let group: ProcessGroup
    let order: ReductionOrder
    let findUnused: Bool
    var buckets: [Bucket] = []
    var bucketOf: [Int]
    var slotOf: [Int]

    // State of the current iteration.
    var armed = false
    var sync = true
    var ready: [Bool]
    var pending: [Int] = []
    var nextLaunch = 0
    var works: [Work?] = []
    var launchTimes: [Double] = []
    var computeEnd = 0.0
    var finished = true
    /// findUnused: the parameters this iteration's forward did not reach, marked ready when
    /// its backward's first gradient arrives (not during the forward: a loss never
    /// backpropagated must leave nothing reduced), and whether this rank had a gradient for
    /// each parameter (the job's "used" mask).
    var unreached: [Int]?
    var usedHere: [Bool]
    /// `reproducible`: gradients of the micro-batches run under noSync, per parameter.
    var shards: [[Tensor]]
    var timeline: [BucketTiming] = []

    var bucketNames: [[String]] { buckets.map { $0.params.map { names[$0] } } }

    init(_ named: [(name: String, tensor: Tensor)], group: ProcessGroup, bucketCapBytes: Int, order: ReductionOrder,
         findUnused: Bool) {
        params = named.map(\.tensor)
        names = named.map(\.name)
        self.group = group
        self.order = order
        self.findUnused = findUnused
        usedHere = Array(repeating: false, count: named.count)
        bucketOf = Array(repeating: 0, count: params.count)
        slotOf = Array(repeating: 0, count: params.count)
        ready = Array(repeating: false, count: params.count)
        shards = Array(repeating: [], count: params.count)
        // Reverse parameter order, as backward tends to produce gradients; the first bucket
        // is small (1 MiB, PyTorch's first_bucket_bytes) so that the first allreduce starts
        // early.
        var current = Bucket()
        var cap = min(1 << 20, bucketCapBytes)
        for i in params.indices.reversed() {
            if current.count > 0 && (current.count + params[i].count) * 4 > cap {
                buckets.append(current)
                current = Bucket()
                cap = bucketCapBytes
            }
            bucketOf[i] = buckets.count
            slotOf[i] = current.params.count
            current.params.append(i)
            current.offsets.append(current.count)
            current.count += params[i].count
        }
        buckets.append(current)
        for b in buckets.indices { buckets[b].buffer = Tensor.zeros([buckets[b].count]) }
    }

    var hooks: [GradHookHandle] = []

    func install() {
        for (i, p) in params.enumerated() {
            hooks.append(p.registerPostAccumulateGradHook { [weak self] _ in self?.gradReady(i) })
        }
    }

    /// The model may outlive its DDP wrapper: its parameters then train without hooks.
    deinit { for h in hooks { h.remove() } }

    func prepare(sync: Bool) {
        self.sync = sync
        armed = true
        guard sync else { return }
        for i in ready.indices { ready[i] = false; usedHere[i] = false }
        unreached = nil
        pending = buckets.map(\.params.count)
        nextLaunch = 0
        works = Array(repeating: nil, count: buckets.count)
        launchTimes = Array(repeating: 0, count: buckets.count)
        finished = false
    }

    func checkFinished() throws {
        guard armed && sync && !finished else { return }
        let started = ready.contains(true)
        guard started else { return }   // no backward since the last forward (e.g. a second forward)
        // Let the buckets already started finish before reporting.
        for case let w? in works { try w.wait() }
        let missing = ready.indices.filter { !ready[$0] }
        finished = true
        throw DistributedError.unfinishedReduction(rank: group.rank, message:
            "expected to have finished reduction in the prior iteration before starting a new one: "
            + "parameters that did not receive a gradient: \(missing.map { names[$0] }.joined(separator: ", ")) "
            + "(indices \(missing.map(String.init).joined(separator: " "))); pass findUnusedParameters: true "
            + "if the model does not use every parameter in every forward")
    }

    /// findUnusedParameters: the parameters a forward's graph does not reach, kept for the
    /// backward's first gradient.
    func markUnused(reachable: [Tensor]) {
        let used = Set(reachable.map(ObjectIdentifier.init))
        unreached = params.indices.filter { !used.contains(ObjectIdentifier(params[$0])) }
    }

    func gradReady(_ i: Int) {
        guard armed, let grad = params[i].grad else { return }
        if !sync {
            if order == .fixedTree {
                shards[i].append(grad)
                params[i].grad = nil
            }
            return
        }
        if let unreached {
            self.unreached = nil
            for j in unreached { markReady(j, gradient: nil) }
        }
        guard !ready[i] else { return }
        markReady(i, gradient: grad)
    }

    /// Copies parameter i's gradient into its bucket: `gradient` (nil for a parameter this
    /// forward did not reach: what this rank accumulated under noSync, or zeros), after the
    /// micro-batches' gradients in reproducible mode.
    private func markReady(_ i: Int, gradient: Tensor?) {
        guard !ready[i] else { return }
        ready[i] = true
        let b = bucketOf[i]
        let offset = buckets[b].offsets[slotOf[i]]
        let n = params[i].count
        let gradient = gradient ?? (order == .fixedTree ? nil : params[i].grad)
        usedHere[i] = gradient != nil || !shards[i].isEmpty
        buckets[b].buffer.withUnsafeMutableFloats { dst in
            let out = dst.baseAddress! + offset
            let parts = shards[i] + (gradient.map { [$0] } ?? [])
            if parts.isEmpty {
                out.initialize(repeating: 0, count: n)
                return
            }
            if parts.count > 1 {
                // This rank's micro-batch gradients, summed in the fixed tree.
                var flat = [Float](repeating: 0, count: parts.count * n)
                for (k, part) in parts.enumerated() {
                    part.withUnsafeFloats { src in
                        flat.withUnsafeMutableBufferPointer { f in (f.baseAddress! + k * n).update(from: src.baseAddress!, count: n) }
                    }
                }
                ember_mpi_tree_sum_f32(out, &flat, Int64(parts.count), Int64(n))
                shards[i] = []
            } else {
                parts[0].withUnsafeFloats { src in out.update(from: src.baseAddress!, count: n) }
                shards[i] = []
            }
        }
        pending[b] -= 1
        // Buckets start strictly in order, so every rank issues the same collectives.
        while nextLaunch < buckets.count && pending[nextLaunch] == 0 {
            launchTimes[nextLaunch] = monotonicSeconds()
            do {
                works[nextLaunch] = try group.allReduceAsync(buckets[nextLaunch].buffer, op: .mean, order: order)
            } catch {
                fatalError("\(error)")
            }
            nextLaunch += 1
        }
        if nextLaunch == buckets.count { finish() }
    }

    /// Every bucket started: wait for them and hand the averages to the parameters.
    private func finish() {
        computeEnd = monotonicSeconds()
        // Which parameters some rank had a gradient for: the others keep theirs (nil).
        var usedSomewhere = [Bool](repeating: true, count: params.count)
        if findUnused {
            let mask = Tensor(usedHere.map { $0 ? Float(1) : 0 })
            do { try group.allReduce(mask, op: .max) } catch { group.abort(error) }
            usedSomewhere = mask.toArray().map { $0 > 0 }
        }
        var timing: [BucketTiming] = []
        for (b, bucket) in buckets.enumerated() {
            let work = works[b]!
            do { try work.wait() } catch { group.abort(error) }
            timing.append(BucketTiming(bucket: b, bytes: bucket.count * 4, launched: launchTimes[b],
                                       mpiStarted: work.startedAt ?? launchTimes[b],
                                       mpiFinished: work.finishedAt ?? launchTimes[b], backwardComputeEnd: computeEnd))
            bucket.buffer.withUnsafeFloats { src in
                for (slot, i) in bucket.params.enumerated() where usedSomewhere[i] {
                    let p = params[i]
                    if p.grad == nil { p.grad = Tensor.zeros(p.shape) }
                    p.grad!.withUnsafeMutableFloats { dst in
                        dst.baseAddress!.update(from: src.baseAddress! + bucket.offsets[slot], count: p.count)
                    }
                }
            }
        }
        timeline = timing
        finished = true
        works = []
    }
}
