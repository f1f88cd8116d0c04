// Multi-rank checks of EmberDistributed, run under mpirun by scripts/mpi-test.sh:
//
//   mpirun -np N ember-mpi-check <scenario> [options]
//
// Each scenario checks on every rank and exits non-zero (naming the rank and what differed)
// on failure; rank 0 prints one `ok` line. Scenarios:
//   collectives                 allReduce (sum, mean, max; MPI, Ember's ring and fixed tree), broadcast,
//                               allGather, reduceScatter, barrier, against values computed here
//   ddp fast|reproducible       8 steps of a small MLP: weights bit-identical across ranks after
//                               every step; equal to single-process training on the same global
//                               batches (fast: within 1e-6; reproducible: the same bits), and
//                               prints the final weights' checksum (the script compares N)
//   checkpoint                  rank 0 saves after 3 of 6 steps; every rank loads it into fresh
//                               objects and finishes: the same bits as the uninterrupted run
//   unused                      a parameter without gradient: the next forward stops with the
//                               error naming it
//   fault kill|throw|stall      rank 1 dies (SIGKILL), throws, or stops calling collectives at
//                               step 3; the job must end non-zero (the script times it)
import Ember
import EmberDistributed
import Foundation

struct CheckFailure: Error, CustomStringConvertible {
    let description: String
}

func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
    if !condition { throw CheckFailure(description: message()) }
}

/// A two-layer MLP with the parameter order PyTorch would give it.
final class MLP: Module {
    let fc1: Linear
    let fc2: Linear
    init(seed: UInt64) {
        let g = Generator(seed: seed)
        fc1 = Linear(20, 32, generator: g)
        fc2 = Linear(32, 4, generator: g)
    }
    override func forward(_ x: Tensor) -> Tensor { fc2(fc1(x).relu()) }
}

/// A model with a parameter that forward never uses.
final class WithUnused: Module {
    let used = Linear(20, 4)
    let unused = Linear(20, 4)
    override func forward(_ x: Tensor) -> Tensor { used(x) }
}

/// 256 samples of 20 features, 4 classes, fixed.
struct Synthetic {
    let x: [Float]
    let y: [Int]
    init() {
        let g = Generator(seed: 42)
        let xs = Tensor.randn([256, 20], generator: g)
        let values = xs.toArray()
        x = values
        y = (0..<256).map { i in (values[i * 20] > 0 ? 1 : 0) + (values[i * 20 + 1] > 0 ? 2 : 0) }
    }
    func batch(_ indices: [Int]) -> (Tensor, Tensor) {
        (Tensor(indices.flatMap { x[($0 * 20)..<($0 * 20 + 20)] }, shape: [indices.count, 20]),
         Tensor(indices.map { y[$0] }))
    }
}

let globalBatch = 16
let shards = 4   // reproducible mode: the global batch is cut into this many fixed shards

func flatParameters(_ m: Module) -> [Float] { m.parameters().flatMap { $0.toArray() } }

func checksum(_ values: [Float]) -> UInt64 {
    values.reduce(UInt64(1469598103934665603)) { ($0 ^ UInt64($1.bitPattern)) &* 1099511628211 }
}

/// Weights must be bit-identical on every rank.
func requireSameOnAllRanks(_ model: Module, _ group: ProcessGroup, step: Int) throws {
    let mine = Tensor(flatParameters(model))
    let all = try group.allGather(mine)
    for (r, t) in all.enumerated() {
        try require(t.toArray().map(\.bitPattern) == mine.toArray().map(\.bitPattern),
                    "rank \(group.rank): weights differ from rank \(r)'s after step \(step)")
    }
}

/// One training step on this rank's share of global batch `step` (positions
/// step·16 ..< step·16 + 16 of the sampler's order, dealt round-robin to ranks).
func trainStep(_ ddp: DistributedDataParallel, _ optimizer: Optimizer, _ data: Synthetic, _ local: [Int],
               reproducible: Bool) {
    let lossFn = CrossEntropyLoss()
    let n = ddp.processGroup.worldSize
    if reproducible {
        // Local micro-batch m holds local positions ≡ m (mod shards / n): global shard rank + n·m.
        let micro = shards / n
        for m in 0..<micro {
            let idx = stride(from: m, to: local.count, by: micro).map { local[$0] }
            let (X, y) = data.batch(idx)
            let run = { (lossFn(ddp(X), y) * Tensor(1.0 / Double(micro))).backward() }
            if m < micro - 1 { ddp.noSync(run) } else { run() }
        }
    } else {
        let (X, y) = data.batch(local)
        lossFn(ddp(X), y).backward()
    }
    optimizer.step()
    optimizer.zeroGrad()
}

/// Single-process reference on whole global batches: one backward (fast), or the shards'
/// gradients summed in the fixed tree (reproducible).
func referenceStep(_ model: Module, _ optimizer: Optimizer, _ data: Synthetic, _ global: [Int], reproducible: Bool) throws {
    let lossFn = CrossEntropyLoss()
    if reproducible {
        var grads: [[Tensor]] = []
        for k in 0..<shards {
            let (X, y) = data.batch(stride(from: k, to: global.count, by: shards).map { global[$0] })
            (lossFn(model(X), y) * Tensor(1.0 / Double(shards))).backward()
            grads.append(model.parameters().map { $0.grad!.clone() })
            optimizer.zeroGrad()
        }
        for (i, p) in model.parameters().enumerated() {
            p.grad = try ProcessGroup.fixedTreeSum(grads.map { $0[i] })
        }
    } else {
        let (X, y) = data.batch(global)
        lossFn(model(X), y).backward()
    }
    optimizer.step()
    optimizer.zeroGrad()
}

func checkDDP(_ group: ProcessGroup, reproducible: Bool) throws {
    let data = Synthetic()
    let steps = 8
    // Rank r starts from different weights: construction must broadcast rank 0's.
    let ddp = try DistributedDataParallel(MLP(seed: 1 + UInt64(group.rank)), processGroup: group,
                                          bucketCapMB: 0.002, reproducible: reproducible)
    try require(ddp.bucketParameterNames.count > 1 || group.worldSize == 1 && !reproducible,
                "expected several buckets, got \(ddp.bucketParameterNames)")
    let optimizer = SGD(ddp.parameters(), lr: 0.1, momentum: 0.9)
    let reference = MLP(seed: 1)
    let refOptimizer = SGD(reference.parameters(), lr: 0.1, momentum: 0.9)
    let sampler = try DistributedSampler(count: 256, numReplicas: group.worldSize, rank: group.rank, shuffle: true, seed: 3)
    let whole = try DistributedSampler(count: 256, numReplicas: 1, rank: 0, shuffle: true, seed: 3)
    sampler.setEpoch(1)
    whole.setEpoch(1)
    let order = sampler.indices(), globalOrder = whole.indices()
    let perRank = globalBatch / group.worldSize
    try requireSameOnAllRanks(ddp, group, step: 0)
    for step in 0..<steps {
        trainStep(ddp, optimizer, data, Array(order[(step * perRank)..<((step + 1) * perRank)]), reproducible: reproducible)
        try referenceStep(reference, refOptimizer, data, Array(globalOrder[(step * globalBatch)..<((step + 1) * globalBatch)]),
                          reproducible: reproducible)
        try requireSameOnAllRanks(ddp, group, step: step + 1)
        let (a, b) = (flatParameters(ddp.module), flatParameters(reference))
        let maxDiff = zip(a, b).map { abs($0 - $1) }.max()!
        if reproducible {
            try require(a.map(\.bitPattern) == b.map(\.bitPattern),
                        "rank \(group.rank): step \(step + 1): not the single-process bits (max difference \(maxDiff))")
        } else {
            try require(maxDiff <= 1e-6, "rank \(group.rank): step \(step + 1): max difference \(maxDiff) from single-process training > 1e-6")
        }
    }
    if group.rank == 0 {
        let last = ddp.lastTimeline
        print("ddp \(reproducible ? "reproducible" : "fast") ok: \(group.worldSize) ranks, \(steps) steps, "
              + "\(ddp.bucketParameterNames.count) buckets, weights checksum \(String(checksum(flatParameters(ddp.module)), radix: 16))"
              + (last.isEmpty ? "" : ", first bucket allreduce started \(String(format: "%.1f", (last[0].backwardComputeEnd - last[0].mpiStarted) * 1e6)) us before backward's last gradient"))
    }
}

func checkCollectives(_ group: ProcessGroup) throws {
    let (r, n) = (group.rank, group.worldSize)
    let me = "rank \(r)"
    // allReduce: rank r contributes [r+1, 2(r+1), -r, 0.1·(r+1)] (+ a long tail across chunks).
    let values: (Int) -> [Float] = { q in [Float(q + 1), Float(2 * (q + 1)), Float(-q), 0.1 * Float(q + 1)] + (0..<1000).map { Float($0 % 7) * Float(q + 1) } }
    let sum = (0..<4 + 1000).map { i in (0..<n).reduce(Float(0)) { $0 + values($1)[i] } }
    for order in [ReductionOrder.mpi, .fixedTree] {
        let t = Tensor(values(r))
        try group.allReduce(t, op: .sum, order: order)
        let got = t.toArray()
        try require(zip(got, sum).allSatisfy { abs($0 - $1) <= 1e-5 * max(1, abs($1)) }, "\(me): allReduce sum (\(order)) \(Array(got.prefix(4))) != \(Array(sum.prefix(4)))")
        let m = Tensor(values(r))
        try group.allReduce(m, op: .mean, order: order)
        try require(zip(m.toArray(), sum).allSatisfy { abs($0 - $1 / Float(n)) <= 1e-5 * max(1, abs($1)) }, "\(me): allReduce mean (\(order))")
    }
    // Ember's ring (fast mode, large tensors), forced here for a tensor of several 64 Ki-float
    // chunks whose blocks are uneven: integer values, so every order gives the exact sum.
    // One threshold for the job, even when the ranks' environments differ (mpi-test.sh runs
    // ranks with different EMBER_RING_ALLREDUCE_MIN_BYTES): the largest.
    let saved = ProcessGroup.ringAllReduceMinBytesPerRank
    let agreed = Tensor([Float(saved)])
    try group.allReduce(agreed, op: .max)
    try require(agreed.item() == Double(Float(saved)), "\(me): ring threshold \(saved) differs from another rank's (\(agreed.item()))")
    if let own = ProcessInfo.processInfo.environment["EMBER_RING_ALLREDUCE_MIN_BYTES"].flatMap(Int.init) {
        try require(saved >= own, "\(me): ring threshold \(saved) below this rank's own \(own)")
    }
    let sharedMin = ProcessGroup.sharedMemoryAllReduceMinBytes
    ProcessGroup.sharedMemoryAllReduceMinBytes = .max
    ProcessGroup.ringAllReduceMinBytesPerRank = 0
    let long = 3 * 65_536 + 1_237
    let ringValues: (Int) -> [Float] = { q in (0..<long).map { Float(($0 % 13) * (q + 1) - q) } }
    let all = (0..<n).map(ringValues)
    let ringSum = (0..<long).map { i in all.reduce(Float(0)) { $0 + $1[i] } }
    let ringT = Tensor(ringValues(r))
    try group.allReduce(ringT)
    try require(ringT.toArray() == ringSum, "\(me): ring allReduce sum differs from the exact sum")
    let ringM = Tensor(ringValues(r))
    try group.allReduce(ringM, op: .mean)
    try require(ringM.toArray() == ringSum.map { $0 / Float(n) }, "\(me): ring allReduce mean")
    ProcessGroup.ringAllReduceMinBytesPerRank = saved
    // Shared memory: on for a job on one machine unless a rank set EMBER_SHM_ALLREDUCE=0 (then
    // off on every rank). Its sums are in rank order, so the bits are those of the local sum
    // over ranks 0, 1, …; sizes cross segments of 2^18 floats (the two buffers are reused)
    // and include fewer floats than ranks (empty slices).
    let on = Tensor([Float(group.sharedMemoryAllReduce ? 1 : 0), Float(group.sharedMemoryAllReduce ? 0 : 1)])
    try group.allReduce(on, op: .max)
    try require(on.toArray() == (group.sharedMemoryAllReduce ? [1, 0] : [0, 1]), "\(me): shared-memory allReduce on some ranks only")
    let sharedOff = ProcessInfo.processInfo.environment["EMBER_SHM_ALLREDUCE"] == "0"
    if sharedOff || n == 1 { try require(!group.sharedMemoryAllReduce, "\(me): shared-memory allReduce on despite EMBER_SHM_ALLREDUCE=0 or one rank") }
    if group.sharedMemoryAllReduce {
        ProcessGroup.sharedMemoryAllReduceMinBytes = 0
        for count in [3, 4_099, 3 * 262_144 + 1_237] {
            let shared: (Int) -> [Float] = { q in (0..<count).map { Float(($0 * 7 + q * 3) % 101) * 0.37 + Float(q) * 1.0001 } }
            let parts = (0..<n).map(shared)
            let expected = (0..<count).map { i in parts.dropFirst().reduce(parts[0][i]) { $0 + $1[i] } }
            let t = Tensor(shared(r))
            try group.allReduce(t)
            try require(t.toArray().map(\.bitPattern) == expected.map(\.bitPattern), "\(me): shared-memory allReduce of \(count) floats is not the rank-order sum's bits")
            let m = Tensor(shared(r))
            try group.allReduce(m, op: .mean)
            try require(m.toArray().map(\.bitPattern) == expected.map { ($0 / Float(n)).bitPattern }, "\(me): shared-memory allReduce mean of \(count) floats")
            // The fixed tree through the window: the bits of the local tree, and of the
            // all-to-all form (forced by a threshold above the size).
            let treeExpected = try ProcessGroup.fixedTreeSum(parts.map { Tensor($0) }).toArray().map(\.bitPattern)
            let viaWindow = Tensor(shared(r))
            try group.allReduce(viaWindow, order: .fixedTree)
            try require(viaWindow.toArray().map(\.bitPattern) == treeExpected, "\(me): shared-memory fixed-tree allReduce of \(count) floats is not the local tree's bits")
            ProcessGroup.sharedMemoryAllReduceMinBytes = .max
            let viaAllToAll = Tensor(shared(r))
            try group.allReduce(viaAllToAll, order: .fixedTree)
            ProcessGroup.sharedMemoryAllReduceMinBytes = 0
            try require(viaAllToAll.toArray().map(\.bitPattern) == treeExpected, "\(me): all-to-all fixed-tree allReduce of \(count) floats is not the local tree's bits")
        }
        ProcessGroup.sharedMemoryAllReduceMinBytes = sharedMin
    }
    // Calls of different lengths queued at once, so that they run back to back: a rank that
    // starts the next call while a slower one is still in the last must not overwrite what the
    // slower one reads (shared memory: the next call's slices lie elsewhere) nor take its
    // messages. Some lengths are below the rank count; 4 ranks on 2 cores lag often. Integer
    // values, so every order gives the exact sum.
    func backToBack(_ name: String, order: ReductionOrder = .mpi, calls: Int = 40,
                    lengths: [Int] = [5, 70_001, 7, 1_000, 3]) throws {
        let value = { (q: Int, i: Int, count: Int) in Float((i * 3 + q * 7 + count) % 29) }
        let exact = lengths.map { count in (0..<count).map { i in (0..<n).reduce(Float(0)) { $0 + value($1, i, count) } } }
        let queued = (0..<calls).map { k in
            let count = lengths[k % lengths.count]
            return Tensor((0..<count).map { value(r, $0, count) })
        }
        let works = try queued.map { try group.allReduceAsync($0, order: order) }
        for w in works { try w.wait() }
        for (k, t) in queued.enumerated() {
            try require(t.toArray() == exact[k % lengths.count], "\(me): \(name) allReduce \(k) of \(calls) back to back (\(t.count) floats)")
        }
    }
    if group.sharedMemoryAllReduce {
        try ProcessGroup.withAllReduceThresholds(ringMinBytesPerRank: .max, sharedMemoryMinBytes: 0) {
            // One length spans two segments, so both buffers take turns within a call too.
            let lengths = [5, 70_001, 7, 262_144 + 999, 1_000, 3]
            try backToBack("shared-memory", calls: 120, lengths: lengths)
            try backToBack("shared-memory fixed-tree", order: .fixedTree, lengths: lengths)
            // Under .automatic (the default) the 1 MB length's first calls were the probe,
            // alternating cached and streaming stores, and then it chose one.
            let probed = (262_144 + 999) * 4
            if ProcessGroup.sharedMemoryStores == .automatic {
                for order in [ReductionOrder.mpi, .fixedTree] {
                    try require(ProcessGroup.sharedMemoryStoresChosen(bytes: probed, order: order) != nil,
                                "\(me): automatic window stores chose nothing for \(probed) bytes (\(order)) after 7 or more calls")
                }
            }
            try require(ProcessGroup.sharedMemoryStoresChosen(bytes: 5 * 4) == .cached,
                        "\(me): automatic window stores below 256 KB are not cached")
            // Each store kind forced, on every rank, and streaming on rank 0 only.
            let stores = ProcessGroup.sharedMemoryStores
            defer { ProcessGroup.sharedMemoryStores = stores }
            for (name, mine) in [("cached", ProcessGroup.SharedMemoryStores.cached), ("streaming", .streaming),
                                 ("streaming on rank 0", r == 0 ? .streaming : .cached)] {
                ProcessGroup.sharedMemoryStores = mine
                try backToBack("shared-memory, \(name) stores", calls: 120, lengths: lengths)
                try backToBack("shared-memory fixed-tree, \(name) stores", order: .fixedTree, lengths: lengths)
            }
        }
    }
    try ProcessGroup.withAllReduceThresholds(ringMinBytesPerRank: 0, sharedMemoryMinBytes: .max) { try backToBack("ring") }
    try ProcessGroup.withAllReduceThresholds(ringMinBytesPerRank: .max, sharedMemoryMinBytes: .max) {
        try backToBack("MPI_Allreduce")
        try backToBack("all-to-all fixed-tree", order: .fixedTree)
    }
    // An empty tensor, through every path: each returns at once, alike on every rank.
    for (ring, shared) in [(Int.max, Int.max), (0, Int.max), (Int.max, 0)] {
        try ProcessGroup.withAllReduceThresholds(ringMinBytesPerRank: ring, sharedMemoryMinBytes: shared) {
            for order in [ReductionOrder.mpi, .fixedTree] {
                let empty = Tensor([Float](), shape: [0])
                try group.allReduce(empty, order: order)
                try require(empty.shape == [0], "\(me): allReduce of an empty tensor (\(order))")
            }
        }
    }
    // Fixed tree: the bits of the tree over all ranks' tensors, computed locally.
    let tree = Tensor(values(r).map { $0 * 1.0001 + 0.3 })
    try group.allReduce(tree, op: .sum, order: .fixedTree)
    let expected = try ProcessGroup.fixedTreeSum((0..<n).map { Tensor(values($0).map { $0 * 1.0001 + 0.3 }) })
    try require(tree.toArray().map(\.bitPattern) == expected.toArray().map(\.bitPattern), "\(me): fixed-tree allReduce is not the local tree's bits")
    let mx = Tensor([Float(r), -Float(r)])
    try group.allReduce(mx, op: .max)
    try require(mx.toArray() == [Float(n - 1), 0], "\(me): allReduce max \(mx.toArray())")
    // broadcast from the last rank, float and int64.
    let b = Tensor([Float(r), 7])
    try group.broadcast(b, from: n - 1)
    try require(b.toArray() == [Float(n - 1), 7], "\(me): broadcast \(b.toArray())")
    let bi = Tensor([r * 10, 3])
    try group.broadcast(bi, from: n - 1)
    try require(bi.toIntArray() == [(n - 1) * 10, 3], "\(me): broadcast int64 \(bi.toIntArray())")
    // allGather
    let gathered = try group.allGather(Tensor([Float(r), Float(r * r)], shape: [1, 2]))
    try require(gathered.map { $0.toArray() } == (0..<n).map { [Float($0), Float($0 * $0)] } && gathered.allSatisfy { $0.shape == [1, 2] },
                "\(me): allGather")
    // reduceScatter: rows q of every rank are q + r; rank r gets row r summed: n·r + Σq.
    let rows = Tensor((0..<n).flatMap { q in [Float(q + r), 1] }, shape: [n, 2])
    let part = try group.reduceScatter(rows)
    try require(part.shape == [1, 2] && part.toArray() == [Float(n * r + n * (n - 1) / 2), Float(n)], "\(me): reduceScatter \(part.toArray())")
    let avg = try group.reduceScatter(rows, op: .mean)
    try require(avg.toArray()[1] == 1, "\(me): reduceScatter mean")
    try group.barrier()
    // Errors are thrown with the op and the problem.
    if n > 1 { do {
        _ = try group.reduceScatter(Tensor([Float](repeating: 1, count: n + 1)))
        throw CheckFailure(description: "\(me): reduceScatter accepted \(n + 1) rows")
    } catch let e as DistributedError {
        try require("\(e)".hasPrefix("reduceScatter: expected a float32 tensor whose first dimension divides"), "\(me): \(e)")
    } }
    if r == 0 {
        print("collectives ok: \(n) ranks, shared-memory allReduce \(group.sharedMemoryAllReduce ? "on" : "off"), \(group.mpiLibraryVersion ?? "no MPI")")
    }
}

func checkCheckpoint(_ group: ProcessGroup, path: String) throws {
    let data = Synthetic()
    let sampler = try DistributedSampler(count: 256, numReplicas: group.worldSize, rank: group.rank, shuffle: true, seed: 9)
    let perRank = globalBatch / group.worldSize
    func run(_ ddp: DistributedDataParallel, _ opt: Optimizer, epoch: Int, from: Int, to: Int) {
        sampler.setEpoch(epoch)
        let order = sampler.indices()
        for step in from..<to { trainStep(ddp, opt, data, Array(order[(step * perRank)..<((step + 1) * perRank)]), reproducible: false) }
    }
    // Uninterrupted: epoch 2, steps 0..<6.
    let a = try DistributedDataParallel(MLP(seed: 5), processGroup: group)
    let optA = SGD(a.parameters(), lr: 0.05, momentum: 0.9)
    run(a, optA, epoch: 2, from: 0, to: 6)
    // Interrupted after 3 steps; rank 0 saves the model, optimizer and sampler position.
    let b = try DistributedDataParallel(MLP(seed: 5), processGroup: group)
    let optB = SGD(b.parameters(), lr: 0.05, momentum: 0.9)
    run(b, optB, epoch: 2, from: 0, to: 3)
    if group.rank == 0 {
        try Checkpoint.save(to: path, model: b.module, optimizer: optB, epoch: 2, batchIndex: 3,
                            extra: ["sampler_seed": String(sampler.seed)])
    }
    try group.barrier()
    // Resume: fresh objects with other weights, loaded on every rank.
    let fresh = MLP(seed: 77)
    let optC0 = SGD(fresh.parameters(), lr: 0.05, momentum: 0.9)
    let resume = try Checkpoint.load(from: path, model: fresh, optimizer: optC0)
    let c = try DistributedDataParallel(fresh, processGroup: group)
    run(c, optC0, epoch: resume.epoch, from: resume.batchIndex, to: 6)
    try require(flatParameters(c.module).map(\.bitPattern) == flatParameters(a.module).map(\.bitPattern),
                "rank \(group.rank): resumed weights differ from the uninterrupted run's")
    try requireSameOnAllRanks(c, group, step: 6)
    if group.rank == 0 { print("checkpoint ok: \(group.worldSize) ranks, resumed at epoch \(resume.epoch) batch \(resume.batchIndex)") }
}

func checkUnused(_ group: ProcessGroup) throws {
    let ddp = try DistributedDataParallel(WithUnused(), processGroup: group)
    let (X, y) = Synthetic().batch(Array(0..<8))
    CrossEntropyLoss()(ddp(X), y).backward()
    _ = ddp(X)   // stops: `unused` got no gradient
    throw CheckFailure(description: "rank \(group.rank): the second forward did not stop")
}

/// findUnusedParameters as PyTorch's: a parameter one rank uses is averaged with the others'
/// zeros; one no rank uses keeps a nil gradient; one used only under noSync keeps that
/// gradient (averaged); a forward never backpropagated leaves nothing half-reduced.
func checkUnusedKept(_ group: ProcessGroup) throws {
    final class ThreeHeads: Module {
        let a = Linear(2, 1), b = Linear(2, 1), c = Linear(2, 1)
        var useB = true
        override func forward(_ x: Tensor) -> Tensor { useB ? a(x) + b(x) : a(x) }
    }
    let r = group.rank, n = Float(group.worldSize)
    for reproducible in [false, true] {
        let model = ThreeHeads()
        let ddp = try DistributedDataParallel(model, processGroup: group, findUnusedParameters: true, reproducible: reproducible)
        let x = Tensor.ones([1, 2])
        _ = ddp(x).sum()   // never backpropagated
        model.useB = r == 0
        ddp(x).sum().backward()
        try require(model.b.weight.grad?.toArray() == [1 / n, 1 / n], "rank \(r): b used on rank 0 only: \(String(describing: model.b.weight.grad?.toArray()))")
        try require(model.c.weight.grad == nil, "rank \(r): c, used nowhere, got a gradient")
        ddp.zeroGrad()
        model.useB = true
        ddp.noSync { ddp(x).sum().backward() }
        model.useB = false
        ddp(x).sum().backward()
        try require(model.b.weight.grad?.toArray() == [1, 1], "rank \(r): b used under noSync only: \(String(describing: model.b.weight.grad?.toArray()))")
    }
    if r == 0 { print("unused parameters kept: averaged with zeros, nil where unused everywhere, noSync gradients kept") }
}

/// Ranks that disagree fail together with a message instead of summing unrelated numbers:
/// models of different shapes at DDP's construction, an allReduce of different lengths on
/// the shared-memory path; the group works on afterwards; after destroy(), a collective
/// throws at once instead of waiting out the timeout.
func checkMismatch(_ group: ProcessGroup) throws {
    let r = group.rank
    do {
        _ = try DistributedDataParallel(Sequential(Linear(20, 4 + r), ReLU(), Linear(4 + r, 2)), processGroup: group)
        throw CheckFailure(description: "rank \(r): DistributedDataParallel accepted models that differ across ranks")
    } catch let e as DistributedError {
        let want = r == 0 ? "the model differs on another rank" : "parameter 0.weight has shape [5, 20] on this rank but [4, 20] on rank 0"
        try require("\(e)".contains(want), "rank \(r): \(e)")
    }
    do {
        _ = try DistributedDataParallel(r == 0 ? Linear(3, 2) : Sequential(Linear(3, 2), Linear(2, 2)), processGroup: group)
        throw CheckFailure(description: "rank \(r): DistributedDataParallel accepted different parameter counts")
    } catch let e as DistributedError {
        try require("\(e)".contains(r == 0 ? "differs on another rank" : "this rank has 4 parameters, rank 0 has 2"), "rank \(r): \(e)")
    }
    if group.sharedMemoryAllReduce {
        do {
            try group.allReduce(Tensor.ones([8192 + r]))   // 32 KB: the shared-memory sum
            throw CheckFailure(description: "rank \(r): allReduce of different lengths returned")
        } catch let e as DistributedError {
            try require("\(e)".contains("allReduce failed"), "rank \(r): \(e)")
        }
    }
    let t = Tensor.ones([8192])
    try group.allReduce(t)
    try require(t.toArray().allSatisfy { $0 == Float(group.worldSize) }, "rank \(r): the allReduce after the refused one")
    group.destroy()
    let start = Date()
    do {
        try group.barrier()
        throw CheckFailure(description: "rank \(r): barrier after destroy() returned")
    } catch let e as DistributedError {
        try require("\(e)" == "barrier: the process group was destroyed" && Date().timeIntervalSince(start) < 1, "rank \(r): \(e)")
    }
    if r == 0 { print("mismatch: refused on every rank (DDP shapes, allReduce lengths); destroy() then fails at once") }
}

func fault(_ group: ProcessGroup, _ kind: String) throws {
    let data = Synthetic()
    let ddp = try DistributedDataParallel(MLP(seed: 1), processGroup: group)
    let optimizer = SGD(ddp.parameters(), lr: 0.1)
    let perRank = globalBatch / group.worldSize
    for step in 0..<1000 {
        if step == 3 && group.rank == 1 {
            switch kind {
            case "kill": kill(getpid(), SIGKILL)
            case "throw": throw CheckFailure(description: "injected failure at step 3")
            case "stall": sleep(600)
            default: throw CheckFailure(description: "unknown fault \(kind)")
            }
        }
        let local = (0..<perRank).map { (step * globalBatch + group.rank + $0 * group.worldSize) % 256 }
        trainStep(ddp, optimizer, data, local, reproducible: false)
    }
    throw CheckFailure(description: "rank \(group.rank): 1000 steps ran despite the fault")
}

let args = CommandLine.arguments.dropFirst()
var group: ProcessGroup?
do {
    let g = try ProcessGroup.fromEnvironment()
    group = g
    switch args.first {
    case "collectives": try checkCollectives(g)
    case "ddp": try checkDDP(g, reproducible: args.dropFirst().first == "reproducible")
    case "checkpoint": try checkCheckpoint(g, path: args.dropFirst().first ?? "mpi-check.ckpt")
    case "unused": try checkUnused(g)
    case "mismatch": try checkMismatch(g)
    case "unused-kept": try checkUnusedKept(g)
    case "fault": try fault(g, args.dropFirst().first ?? "")
    default:
        throw CheckFailure(description: "usage: ember-mpi-check collectives | ddp fast|reproducible | checkpoint [path] | unused | unused-kept | mismatch | fault kill|throw|stall")
    }
    g.destroy()
} catch {
    if let group { group.abort(error) }
    FileHandle.standardError.write(Data("ember-mpi-check: \(error)\n".utf8))
    exit(1)
}
