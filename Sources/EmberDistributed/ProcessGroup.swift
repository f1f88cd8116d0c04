import CEmberMPI
import Ember
import Foundation

/// How a collective combines tensors across ranks (PyTorch's `ReduceOp`).
public enum ReduceOp: Sendable {
    case sum
    /// The sum divided by the world size (PyTorch's `ReduceOp.AVG`).
    case mean
    case max
}

/// How `allReduce` orders its additions.
public enum ReductionOrder: Sendable {
    /// The fast mode. When all ranks run on one machine, sums of at least
    /// `ProcessGroup.sharedMemoryAllReduceMinBytes` go through a shared-memory window (each
    /// rank sums its slice of every rank's tensor, in rank order); across machines, or below
    /// that size, MPI's own allreduce (MPI_Allreduce), or for large messages — at least
    /// `ProcessGroup.ringAllReduceMinBytesPerRank` per rank — Ember's ring over MPI's
    /// point-to-point calls (a chunked reduce-scatter, then an allgather), which beats Open
    /// MPI 4.1's allreduce there. None promises the same bits for different numbers of ranks,
    /// and MPI's and the ring's may change with the message size.
    case mpi
    /// Each rank is sent the same slice of every rank's tensor (an all-to-all), sums the
    /// slices in a fixed tree — the sum of the even ranks' plus the sum of the odd ranks',
    /// each formed the same way — and the sums are gathered back. The result does not depend
    /// on message sizes or timing, and it is the tree `ember_mpi_tree_sum_f32` forms over
    /// parts dealt to ranks round-robin: summing 4 shards on 1, 2 or 4 ranks gives the same
    /// bits when the rank count is a power of two. The bytes of a ring allreduce, in two
    /// collectives that are not pipelined.
    /// On one machine (`ProcessGroup.sharedMemoryAllReduce`), from
    /// `sharedMemoryAllReduceMinBytes` on, the same tree is summed through the shared window
    /// instead, with the same bits.
    case fixedTree
}

/// The ranks of one MPI job (PyTorch's `torch.distributed` default group), created from what
/// `mpirun` puts in the environment:
///
/// ```swift
/// let group = try ProcessGroup.fromEnvironment()   // under `mpirun -np 4`: rank 0…3 of 4
/// try group.allReduce(t, op: .mean)
/// group.destroy()                                  // before the process ends
/// ```
///
/// Without mpirun it is a world of one: collectives return their input, and MPI is not
/// initialised (no MPI runtime needs to be running). Under mpirun, MPI is initialised with
/// MPI_THREAD_FUNNELED on a thread of EmberDistributed's own, which makes every MPI call (see
/// `CommThread`); collectives may be called from any one thread at a time.
///
/// **Faults.** Every wait is bounded by `ProcessGroup.timeout` (default 300 s, or
/// `EMBER_DIST_TIMEOUT` seconds): a rank whose collective does not finish in time prints
/// `EmberDistributed: rank R: <collective> did not complete within T s …` and exits with code
/// 3. A rank that dies or exits without `destroy()` makes mpirun end the job at once, naming
/// that rank; `abort(_:)` ends the whole job from a rank that caught an error.
public final class ProcessGroup: @unchecked Sendable {
    /// This process's rank in the job, 0 ..< worldSize.
    public let rank: Int
    public let worldSize: Int
    /// The rank among the processes on this machine (OMPI_COMM_WORLD_LOCAL_RANK,
    /// MPI_LOCALRANKID), e.g. to pick a core or a GPU.
    public let localRank: Int
    /// Nil for a world of one started without mpirun.
    let comm: CommThread?

    nonisolated(unsafe) private static var shared: ProcessGroup?
    private static let lock = NSLock()

    /// Seconds a rank waits for a collective before it gives up and exits (code 3).
    nonisolated(unsafe) public static var timeout: Double =
        ProcessInfo.processInfo.environment["EMBER_DIST_TIMEOUT"].flatMap(Double.init) ?? 300

    /// `allReduce(order: .mpi)` of sums and means uses Ember's ring instead of MPI_Allreduce
    /// for tensors of at least this many bytes per rank (tensor bytes / world size). Default:
    /// `EMBER_RING_ALLREDUCE_MIN_BYTES` if set, else 2 MiB — or 8 MiB when a machine runs
    /// more ranks than it has cores, where the ring's 2(N−1) dependent steps wait for ranks to
    /// be scheduled — agreed by the ranks in `fromEnvironment()` (the largest of their
    /// defaults), so that machines of different sizes pick the same algorithm. `Int.max`
    /// always uses MPI_Allreduce. Measured in `ember-bench allreduce` (docs/DISTRIBUTED.md).
    /// A value set here must be the same on every rank (else the ranks call different
    /// collectives and time out).
    public static var ringAllReduceMinBytesPerRank: Int {
        get { ringOverride ?? ringDefault }
        set { ringOverride = newValue }
    }
    nonisolated(unsafe) private static var ringOverride: Int?
    nonisolated(unsafe) private static var ringDefault =
        defaultRingMinBytesPerRank(ProcessInfo.processInfo.environment, cores: ProcessInfo.processInfo.activeProcessorCount)

    /// `allReduce` of sums and means (either order) goes through shared memory for tensors of
    /// at least this many bytes when every rank runs on this machine (`sharedMemoryAllReduce`).
    /// Default: `EMBER_SHM_ALLREDUCE_MIN_BYTES` if set, else 16 KiB, agreed by the ranks in
    /// `fromEnvironment()` (the largest); `Int.max` never uses it. Like the ring's threshold,
    /// a value set here must be the same on every rank.
    public static var sharedMemoryAllReduceMinBytes: Int {
        get { sharedMemoryOverride ?? sharedMemoryDefault }
        set { sharedMemoryOverride = newValue }
    }
    nonisolated(unsafe) private static var sharedMemoryOverride: Int?
    nonisolated(unsafe) private static var sharedMemoryDefault =
        ProcessInfo.processInfo.environment["EMBER_SHM_ALLREDUCE_MIN_BYTES"].flatMap(Int.init) ?? 16 << 10

    /// `body` with both allReduce thresholds set (`ringAllReduceMinBytesPerRank`,
    /// `sharedMemoryAllReduceMinBytes`), then restored: forces one algorithm of the fast mode
    /// for the calls made inside (each call reads them when it is made), e.g. `(0, .max)` the
    /// ring, `(.max, .max)` MPI_Allreduce, `(.max, 0)` shared memory. Like the thresholds
    /// themselves, the same values on every rank.
    public static func withAllReduceThresholds<T>(ringMinBytesPerRank: Int, sharedMemoryMinBytes: Int,
                                                  _ body: () throws -> T) rethrows -> T {
        let saved = (ringAllReduceMinBytesPerRank, sharedMemoryAllReduceMinBytes)
        defer { (ringAllReduceMinBytesPerRank, sharedMemoryAllReduceMinBytes) = saved }
        (ringAllReduceMinBytesPerRank, sharedMemoryAllReduceMinBytes) = (ringMinBytesPerRank, sharedMemoryMinBytes)
        return try body()
    }

    /// How a rank writes its values into the shared-memory window.
    public enum SharedMemoryStores: String, Sendable, CaseIterable {
        /// Each size from 256 KB on is timed both ways on this rank's first calls of that size,
        /// and the faster runs; both are timed again every 256 calls of the size, and sooner
        /// when its calls slow to twice the time they took. Below 256 KB, `.cached`.
        case automatic
        /// Plain stores: the values sit in this core's cache, from where the peers fetch them.
        case cached
        /// Non-temporal stores, which bypass this core's caches: the peers read the values from
        /// memory. Faster where the cores are slow to each other (a VM's vCPUs on separate
        /// last-level caches), about half the speed where they share one.
        case streaming
    }

    /// This rank's window stores (`EMBER_SHM_STORES=automatic|cached|streaming` when the group
    /// is made, default automatic): which is faster depends on where the host put the vCPUs,
    /// and can change between launches and within one (docs/DISTRIBUTED.md). Each rank's own
    /// choice; the bits are the same either way.
    public static var sharedMemoryStores: SharedMemoryStores {
        get { SharedMemoryStores(code: ember_mpi_shm_stores()) ?? .automatic }
        set { ember_mpi_shm_set_stores(newValue.code) }
    }

    /// `EMBER_SHM_STORES` in `environment`: `.automatic` when unset, else `automatic`, `cached`
    /// or `streaming`; any other value is an error naming the variable (`fromEnvironment()`
    /// throws it before it starts MPI).
    public static func sharedMemoryStores(fromEnvironment environment: [String: String]) throws -> SharedMemoryStores {
        guard let value = environment["EMBER_SHM_STORES"] else { return .automatic }
        guard let stores = SharedMemoryStores(rawValue: value) else {
            throw DistributedError.invalidArgument(
                op: "EMBER_SHM_STORES",
                message: "\"\(value)\" is not one of \(SharedMemoryStores.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        return stores
    }

    /// What `.automatic` runs on this rank now for shared-memory sums of `bytes` in `order`:
    /// `.cached` or `.streaming`, or nil while it is still timing both for that size.
    public static func sharedMemoryStoresChosen(bytes: Int, order: ReductionOrder = .mpi) -> SharedMemoryStores? {
        SharedMemoryStores(code: ember_mpi_shm_auto_stores(Int64(bytes / MemoryLayout<Float>.size),
                                                           order == .fixedTree ? 1 : 0))
    }

    /// Whether the fast mode's sums can go through shared memory: all ranks run on one
    /// machine, each got its window (2 MiB), and no rank set `EMBER_SHM_ALLREDUCE=0`. The same
    /// on every rank.
    public private(set) var sharedMemoryAllReduce = false

    /// The default of `ringAllReduceMinBytesPerRank` for this environment and core count.
    public static func defaultRingMinBytesPerRank(_ environment: [String: String], cores: Int) -> Int {
        if let set = environment["EMBER_RING_ALLREDUCE_MIN_BYTES"].flatMap(Int.init) { return set }
        // Ranks on this machine: Open MPI's and MPICH (Hydra)'s variables.
        let local = environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init)
            ?? environment["MPI_LOCALNRANKS"].flatMap(Int.init) ?? 1
        return local > cores ? 8 << 20 : 2 << 20
    }

    init(rank: Int, worldSize: Int, localRank: Int, comm: CommThread?) {
        self.rank = rank
        self.worldSize = worldSize
        self.localRank = localRank
        self.comm = comm
    }

    /// Whether this process was started by an MPI launcher (Open MPI's mpirun, MPICH's
    /// Hydra, or another PMI/PMIx launcher).
    public static func launchedByMPI(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        ["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"].contains { environment[$0] != nil }
    }

    /// The job's group: MPI's world under mpirun, else a world of one. MPI can be initialised
    /// once per process, so later calls return the same group.
    public static func fromEnvironment() throws -> ProcessGroup {
        lock.lock()
        defer { lock.unlock() }
        if let shared { return shared }
        let env = ProcessInfo.processInfo.environment
        let stores = try sharedMemoryStores(fromEnvironment: env)
        let group: ProcessGroup
        if launchedByMPI(env) {
            let (comm, rank, size) = try CommThread.start()
            let local = env["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init)
                ?? env["MPI_LOCALRANKID"].flatMap(Int.init) ?? rank
            group = ProcessGroup(rank: rank, worldSize: size, localRank: local, comm: comm)
            // One value of each threshold for the whole job, whatever each machine's cores,
            // ranks and environment: the ranks' largest.
            func largestOnAnyRank(_ value: Int) throws -> Int {
                nonisolated(unsafe) var v = Int64(clamping: value)
                try comm.submit("allReduce") { ember_mpi_allreduce_max_i64(&v) }.wait()
                return Int(v)
            }
            ringDefault = try largestOnAnyRank(ringDefault)
            sharedMemoryDefault = try largestOnAnyRank(sharedMemoryDefault)
            let wanted: Int32 = env["EMBER_SHM_ALLREDUCE"] == "0" ? 0 : 1
            nonisolated(unsafe) var enabled: Int32 = 0
            try comm.submit("MPI_Win_allocate_shared") { ember_mpi_shm_setup(wanted, &enabled) }.wait()
            group.sharedMemoryAllReduce = enabled != 0
            if stores != .automatic { sharedMemoryStores = stores }
        } else {
            group = ProcessGroup(rank: 0, worldSize: 1, localRank: 0, comm: nil)
        }
        shared = group
        return group
    }

    /// Whether MPI is in use (false for a world of one without mpirun).
    public var usesMPI: Bool { comm != nil }

    /// The MPI library's name and version, or nil without MPI.
    public var mpiLibraryVersion: String? {
        guard let comm else { return nil }
        nonisolated(unsafe) var buf = [CChar](repeating: 0, count: 512)
        try? comm.submit("MPI_Get_library_version") {
            ember_mpi_library_version(&buf, Int32(buf.count))
            return 0
        }.wait()
        return String(decoding: buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Finishes queued collectives and finalises MPI (PyTorch's `destroy_process_group`).
    /// Call it on every rank before a successful exit: Open MPI treats a rank that ends without
    /// it as failed and ends the job.
    public func destroy() {
        comm?.finish()
    }

    /// Prints `EmberDistributed: rank R of N failed: <error>` and ends every rank of the job
    /// with exit code 1 (MPI_Abort), or this process alone without MPI.
    public func abort(_ error: Error) -> Never {
        FileHandle.standardError.write(Data("EmberDistributed: rank \(rank) of \(worldSize) failed: \(error)\n".utf8))
        if let comm, comm.isIdle {
            _ = comm.submit("MPI_Abort") { ember_mpi_abort(1); return 0 }
            sleep(10)   // MPI_Abort ends this process; if it could not, exit anyway
        }
        _exit(1)
    }

    static func exitForTimeout(rank: Int, collective: String, seconds: Double) -> Never {
        FileHandle.standardError.write(Data((
            "EmberDistributed: rank \(rank): \(collective) did not complete within \(seconds) s "
            + "(another rank died, threw, or stopped calling collectives); exiting with code 3\n").utf8))
        _exit(3)
    }

    // MARK: Collectives

    /// Reduces `tensor` over all ranks, in place (PyTorch's `all_reduce`). float32,
    /// contiguous.
    public func allReduce(_ tensor: Tensor, op: ReduceOp = .sum, order: ReductionOrder = .mpi) throws {
        try allReduceAsync(tensor, op: op, order: order).wait()
    }

    /// `allReduce` without waiting: the tensor must not be read or written until `wait()`.
    public func allReduceAsync(_ tensor: Tensor, op: ReduceOp = .sum, order: ReductionOrder = .mpi) throws -> Work {
        try requireFloat(tensor, "allReduce")
        guard let comm else { return Work(name: "allReduce", rank: rank, completed: true) }
        let buffer = mutablePointer(tensor)
        let (n, size) = (Int64(tensor.count), worldSize)
        let shared = sharedMemoryAllReduce && tensor.count * 4 >= ProcessGroup.sharedMemoryAllReduceMinBytes
        let ring = tensor.count * 4 / worldSize >= ProcessGroup.ringAllReduceMinBytesPerRank
        return comm.submit("allReduce") {
            withExtendedLifetime(tensor) {
                let p = buffer.pointer
                if op == .max { return ember_mpi_allreduce_f32(p, n, Int32(EMBER_MPI_MAX)) }
                let rc = order == .fixedTree
                    ? (shared ? ember_mpi_shm_tree_allreduce_f32(p, n) : ember_mpi_tree_allreduce_f32(p, n))
                    : shared ? ember_mpi_shm_allreduce_f32(p, n)
                    : ring ? ember_mpi_ring_allreduce_f32(p, n) : ember_mpi_allreduce_f32(p, n, Int32(EMBER_MPI_SUM))
                if rc == 0 && op == .mean { for i in 0..<Int(n) { p[i] /= Float(size) } }
                return rc
            }
        }
    }

    /// Overwrites `tensor` on every rank with rank `root`'s (PyTorch's `broadcast`).
    /// float32 or int64, contiguous.
    public func broadcast(_ tensor: Tensor, from root: Int = 0) throws {
        try checkRank(root, "broadcast")
        guard let comm else { return }
        if tensor.dtype == .int64 {
            var values = tensor.withUnsafeInt64s { Array($0) }
            let bytes = Int64(values.count * 8)
            try values.withUnsafeMutableBytes { raw in
                let p = UnsafeSendable(pointer: raw.baseAddress!)
                try comm.submit("broadcast") { ember_mpi_bcast(p.pointer, bytes, Int32(root)) }.wait()
            }
            if rank != root { tensor.copy_(Tensor(values.map(Int.init), shape: tensor.shape)) }
            return
        }
        try requireFloat(tensor, "broadcast")
        let buffer = mutablePointer(tensor)
        let bytes = Int64(tensor.count * 4)
        try comm.submit("broadcast") {
            withExtendedLifetime(tensor) { ember_mpi_bcast(buffer.pointer, bytes, Int32(root)) }
        }.wait()
    }

    /// Every rank's `tensor`, in rank order (PyTorch's `all_gather`). float32, any layout.
    public func allGather(_ tensor: Tensor) throws -> [Tensor] {
        guard tensor.dtype == .float32 else {
            throw DistributedError.invalidArgument(op: "allGather", message: "expected float32, got \(tensor.dtype)")
        }
        guard let comm else { return [tensor.detach().clone()] }
        let n = tensor.count
        var input = tensor.withUnsafeFloats { Array($0) }
        var output = [Float](repeating: 0, count: n * worldSize)
        try input.withUnsafeMutableBytes { inRaw in
            try output.withUnsafeMutableBytes { outRaw in
                let (i, o) = (UnsafeSendable(pointer: inRaw.baseAddress!), UnsafeSendable(pointer: outRaw.baseAddress!))
                try comm.submit("allGather") { ember_mpi_allgather(o.pointer, i.pointer, Int64(n * 4)) }.wait()
            }
        }
        return (0..<worldSize).map { r in Tensor(Array(output[(r * n)..<((r + 1) * n)]), shape: tensor.shape) }
    }

    /// Reduces `tensor` over ranks and returns this rank's slice of the result along dim 0
    /// (PyTorch's `reduce_scatter_tensor`): dim 0 must divide by the world size.
    public func reduceScatter(_ tensor: Tensor, op: ReduceOp = .sum) throws -> Tensor {
        guard tensor.dtype == .float32, tensor.ndim >= 1, tensor.shape[0] % worldSize == 0 else {
            throw DistributedError.invalidArgument(op: "reduceScatter", message:
                "expected a float32 tensor whose first dimension divides by the world size \(worldSize), "
                + "got \(tensor.dtype) of shape \(tensor.shape)")
        }
        var outShape = tensor.shape
        outShape[0] /= worldSize
        guard let comm else { return tensor.detach().clone() }
        let count = tensor.count / worldSize
        var input = tensor.withUnsafeFloats { Array($0) }
        var output = [Float](repeating: 0, count: count)
        try input.withUnsafeMutableBufferPointer { inBuf in
            try output.withUnsafeMutableBufferPointer { outBuf in
                let (i, o) = (UnsafeSendable(pointer: inBuf.baseAddress!), UnsafeSendable(pointer: outBuf.baseAddress!))
                let mpiOp = Int32(op == .max ? EMBER_MPI_MAX : EMBER_MPI_SUM)
                try comm.submit("reduceScatter") { ember_mpi_reduce_scatter_f32(o.pointer, i.pointer, Int64(count), mpiOp) }.wait()
            }
        }
        if op == .mean { for i in output.indices { output[i] /= Float(worldSize) } }
        return Tensor(output, shape: outShape)
    }

    /// Waits until every rank has reached this call (PyTorch's `barrier`).
    public func barrier() throws {
        guard let comm else { return }
        try comm.submit("barrier") { ember_mpi_barrier() }.wait()
    }

    // MARK: Helpers

    private func requireFloat(_ t: Tensor, _ op: String) throws {
        guard t.dtype == .float32, t.isContiguous else {
            throw DistributedError.invalidArgument(op: op, message:
                "expected a contiguous float32 tensor, got \(t.dtype) of shape \(t.shape)\(t.isContiguous ? "" : " (not contiguous)")")
        }
    }

    private func checkRank(_ r: Int, _ op: String) throws {
        guard r >= 0 && r < worldSize else {
            throw DistributedError.invalidArgument(op: op, message: "root rank \(r) is not in 0..<\(worldSize)")
        }
    }

    /// The tensor's memory, for the communication thread; writing to it counts as an in-place
    /// write (version bump) now, on the caller's thread.
    private func mutablePointer(_ t: Tensor) -> UnsafeSendable<UnsafeMutablePointer<Float>> {
        t.withUnsafeMutableFloats { UnsafeSendable(pointer: $0.baseAddress!) }
    }
}

/// A pointer handed to the communication thread; the caller keeps the memory alive and
/// untouched until the work is done.
struct UnsafeSendable<P>: @unchecked Sendable {
    let pointer: P
}

extension ProcessGroup {
    /// The fixed-tree sum of same-shaped float32 tensors (the tree `ReductionOrder.fixedTree`
    /// and reproducible DDP use): parts 0, 2, 4, … summed the same way, plus parts 1, 3, 5, ….
    /// A rank summing its shards k = rank, rank + N, … this way and then `allReduce(order:
    /// .fixedTree)` over ranks gives the bits of `fixedTreeSum` over all shards in order.
    public static func fixedTreeSum(_ parts: [Tensor]) throws -> Tensor {
        guard let first = parts.first else {
            throw DistributedError.invalidArgument(op: "fixedTreeSum", message: "no tensors to sum")
        }
        for p in parts where p.dtype != .float32 || p.shape != first.shape {
            throw DistributedError.invalidArgument(op: "fixedTreeSum", message:
                "expected float32 tensors of shape \(first.shape), got \(p.dtype) of shape \(p.shape)")
        }
        let n = first.count
        var flat = [Float](repeating: 0, count: n * parts.count)
        for (k, p) in parts.enumerated() {
            p.withUnsafeFloats { src in for i in 0..<n { flat[k * n + i] = src[i] } }
        }
        var out = [Float](repeating: 0, count: n)
        ember_mpi_tree_sum_f32(&out, &flat, Int64(parts.count), Int64(n))
        return Tensor(out, shape: first.shape)
    }
}

extension ProcessGroup.SharedMemoryStores {
    /// From the C core's `EMBER_SHM_STORES_*` value; nil for any other (-1: still timing).
    init?(code: Int32) {
        switch code {
        case Int32(EMBER_SHM_STORES_AUTO): self = .automatic
        case Int32(EMBER_SHM_STORES_CACHED): self = .cached
        case Int32(EMBER_SHM_STORES_STREAMING): self = .streaming
        default: return nil
        }
    }

    var code: Int32 {
        switch self {
        case .automatic: Int32(EMBER_SHM_STORES_AUTO)
        case .cached: Int32(EMBER_SHM_STORES_CACHED)
        case .streaming: Int32(EMBER_SHM_STORES_STREAMING)
        }
    }
}
