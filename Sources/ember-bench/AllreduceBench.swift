import ArgumentParser
import Ember
import EmberDistributed
import Foundation

/// Under `mpirun -np N`: allReduce bus bandwidth (each fast-mode algorithm forced, the fast mode
/// as shipped, and the fixed tree) next to memcpy of the same bytes, 4 KB to 64 MB; then the
/// quickstart's training step with and without DistributedDataParallel (each rank 64/N
/// samples) — the difference is the communication the step exposes — and with reproducible
/// DDP, with one step's bucket timeline; then what 8 and 64 ranks would need.
struct AllreduceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "allReduce bandwidth vs memcpy and DDP's exposed communication (run under mpirun).")

    @Option(help: "Alternating rounds per measurement.") var rounds = 5
    @Option(help: "Training steps per round.") var steps = 40
    @Option(help: "Kernel threads per rank (default: cores / ranks, at least 1).") var threads: Int?
    @Option(help: "Largest message in MB.") var maxMB = 64
    @Flag(help: "Skip the bandwidth table.") var skipBandwidth = false

    func run() throws {
        let group = try ProcessGroup.fromEnvironment()
        let n = group.worldSize
        setNumThreads(threads ?? max(1, numCores() / n))
        let say: (String) -> Void = { if group.rank == 0 { print($0) } }
        say("\(n) rank(s), \(numThreads()) thread(s) each, \(group.mpiLibraryVersion ?? "no MPI (world of one)"); \(machineLine())\n")
        if !skipBandwidth && n > 1 { try bandwidth(group, say) }
        try stepTimes(group, say)
        group.destroy()
    }

    /// Seconds per call, the slowest rank's (a collective ends when its last rank does).
    func timed(_ group: ProcessGroup, iterations: Int, _ body: () throws -> Void) throws -> Double {
        try group.barrier()
        let t0 = now()
        for _ in 0..<iterations { try body() }
        let t = Tensor([Float((now() - t0) / Double(iterations))])
        try group.allReduce(t, op: .max)
        return Double(t.item())
    }

    func bandwidth(_ group: ProcessGroup, _ say: (String) -> Void) throws {
        let n = Double(group.worldSize)
        let shared = group.sharedMemoryAllReduce
        var table = Table("bytes", "memcpy GB/s", "cold memcpy GB/s", "MPI_Allreduce bus GB/s", "x memcpy",
                          "ring bus GB/s", "x memcpy", shared ? "shared memory bus GB/s" : "shared memory", "x memcpy",
                          "window stores",
                          "fast allReduce bus GB/s", "x memcpy", "x cold", "fixed tree bus GB/s", "x memcpy")
        let ringMin = ProcessGroup.ringAllReduceMinBytesPerRank, sharedMin = ProcessGroup.sharedMemoryAllReduceMinBytes
        var size = 4096
        while size <= maxMB << 20 {
            let count = size / 4
            let t = Tensor.zeros([count])
            var src = [Float](repeating: 1, count: count), dst = [Float](repeating: 0, count: count)
            let iterations = max(3, min(200, (64 << 20) / size))
            // Cold memcpy: a different pair of buffers each call, out of a pool of 2 × 64 MB per
            // rank, so that neither side is in cache (as for the allreduce's peer's data).
            let pairs = max(1, (64 << 20) / size)
            let pool = UnsafeMutableRawPointer.allocate(byteCount: 2 * pairs * size, alignment: 64)
            defer { pool.deallocate() }
            memset(pool, 1, 2 * pairs * size)
            var next = 0
            var copy: [Double] = [], cold: [Double] = [], mpi: [Double] = [], ring: [Double] = [], shm: [Double] = []
            var fast: [Double] = [], tree: [Double] = []
            for _ in 0..<rounds {
                copy.append(try timed(group, iterations: iterations) {
                    src.withUnsafeBytes { s in dst.withUnsafeMutableBytes { d in _ = memcpy(d.baseAddress!, s.baseAddress!, size) } }
                })
                cold.append(try timed(group, iterations: iterations) {
                    _ = memcpy(pool + 2 * next * size, pool + (2 * next + 1) * size, size)
                    next = (next + 1) % pairs
                })
                // MPI_Allreduce, Ember's ring and the shared-memory sum, each forced; then the
                // fast mode as shipped, which picks one of them by size.
                func forced(ring: Int, shared: Int) throws -> Double {
                    try ProcessGroup.withAllReduceThresholds(ringMinBytesPerRank: ring, sharedMemoryMinBytes: shared) {
                        try timed(group, iterations: iterations) { try group.allReduce(t) }
                    }
                }
                mpi.append(try forced(ring: .max, shared: .max))
                ring.append(try forced(ring: 0, shared: .max))
                if shared { shm.append(try forced(ring: .max, shared: 0)) }
                fast.append(try timed(group, iterations: iterations) { try group.allReduce(t) })
                tree.append(try timed(group, iterations: max(3, iterations / 2)) { try group.allReduce(t, order: .fixedTree) })
            }
            // Bus bandwidth (nccl-tests): bytes / time · 2(N−1)/N, what each rank's link carries.
            let bus = { (s: Double) in Double(size) / s * 2 * (n - 1) / n / 1e9 }
            let copyBW = Double(size) / median(copy) / 1e9, coldBW = Double(size) / median(cold) / 1e9
            table.add(byteString(size), rangeString(copy.map { Double(size) / $0 / 1e9 }),
                      rangeString(cold.map { Double(size) / $0 / 1e9 }),
                      rangeString(mpi.map(bus)), fmt(bus(median(mpi)) / copyBW, 2),
                      rangeString(ring.map(bus)), fmt(bus(median(ring)) / copyBW, 2),
                      shared ? rangeString(shm.map(bus)) : "off", shared ? fmt(bus(median(shm)) / copyBW, 2) : "-",
                      shared ? storesString(size) : "-",
                      rangeString(fast.map(bus)), fmt(bus(median(fast)) / copyBW, 2), fmt(bus(median(fast)) / coldBW, 2),
                      rangeString(tree.map(bus)), fmt(bus(median(tree)) / copyBW, 2))
            size *= 4
        }
        say("allReduce of float32, median (min-max) of \(rounds) alternating rounds, slowest rank; memcpy: every rank "
            + "copies the same bytes at the same time, buffers reused (in cache up to a few MB); cold memcpy: fresh "
            + "buffers each call; x = bus bandwidth / memcpy's; ring and shared memory forced at every size; "
            + "window stores: rank 0's (\(ProcessGroup.sharedMemoryStores)), what automatic chose by the end; "
            + (shared ? "fast allReduce sums through shared memory from \(byteString(sharedMin)) on:"
                      : "fast allReduce uses Ember's ring from \(byteString(ringMin)) per rank on (shared memory off):"))
        say(table.render() + "\n")
    }

    /// Rank 0's window stores for sums of `bytes`, and what `.automatic` chose by now.
    func storesString(_ bytes: Int) -> String {
        guard ProcessGroup.sharedMemoryStores == .automatic else { return "\(ProcessGroup.sharedMemoryStores)" }
        return ProcessGroup.sharedMemoryStoresChosen(bytes: bytes).map { "auto: \($0)" } ?? "auto: probing"
    }

    func stepTimes(_ group: ProcessGroup, _ say: (String) -> Void) throws {
        let n = group.worldSize
        let local = 64 / n
        let g = Generator(seed: UInt64(group.rank))
        let x = Tensor.rand([local, 1, 28, 28], generator: g), y = Tensor.randint(0, 10, [local], generator: g)
        let lossFn = CrossEntropyLoss()
        let plain = quickstartModel()
        let plainOpt = SGD(plain.parameters(), lr: 1e-3)
        let ddp = try DistributedDataParallel(quickstartModel(), processGroup: group)
        let ddpOpt = SGD(ddp.parameters(), lr: 1e-3)
        // Reproducible mode (the fixed tree), through the shared window when the ranks share a
        // machine, and forced through the all-to-all form for comparison (same bits).
        let exact = try DistributedDataParallel(quickstartModel(), processGroup: group, reproducible: true)
        let exactOpt = SGD(exact.parameters(), lr: 1e-3)
        var backwardStart = 0.0, backwardEnd = 0.0
        func step(_ m: Module, _ opt: Optimizer) {
            let loss = lossFn(m(x), y)
            backwardStart = now()
            loss.backward()
            backwardEnd = now()
            opt.step()
            opt.zeroGrad()
        }
        for _ in 0..<5 { step(plain, plainOpt); step(ddp, ddpOpt); step(exact, exactOpt) }
        var plainMs: [Double] = [], ddpMs: [Double] = [], exactMs: [Double] = [], exactAllToAllMs: [Double] = []
        // Per timed DDP step on this rank: the first bucket's lead over backward's last
        // gradient (start of its MPI call before the last gradient) and its queue-to-start delay.
        var leads: [Double] = [], wakes: [Double] = []
        for _ in 0..<rounds {
            plainMs.append(try timed(group, iterations: steps) { step(plain, plainOpt) } * 1e3)
            ddpMs.append(try timed(group, iterations: steps) {
                step(ddp, ddpOpt)
                if let first = ddp.lastTimeline.first {
                    leads.append((first.backwardComputeEnd - first.mpiStarted) * 1e3)
                    wakes.append((first.mpiStarted - first.launched) * 1e3)
                }
            } * 1e3)
            if n > 1 {
                exactMs.append(try timed(group, iterations: steps) { step(exact, exactOpt) } * 1e3)
                if group.sharedMemoryAllReduce {
                    exactAllToAllMs.append(try ProcessGroup.withAllReduceThresholds(
                        ringMinBytesPerRank: ProcessGroup.ringAllReduceMinBytesPerRank, sharedMemoryMinBytes: .max) {
                        try timed(group, iterations: steps) { step(exact, exactOpt) }
                    } * 1e3)
                }
            }
        }
        let params = ddp.parameters().reduce(0) { $0 + $1.count }
        var table = Table("quickstart step, \(local) samples per rank", "ms/step (slowest rank)")
        table.add("plain (no DDP)", rangeString(plainMs, 3))
        table.add("DDP, \(n) rank(s)", rangeString(ddpMs, 3))
        let exposed = median(ddpMs) - median(plainMs)
        table.add("exposed communication (DDP - plain)", "\(fmt(exposed, 3)) (\(fmt(100 * exposed / median(plainMs), 1))% of plain)")
        if !exactMs.isEmpty {
            table.add("DDP reproducible\(group.sharedMemoryAllReduce ? " (fixed tree in shared memory)" : "")", rangeString(exactMs, 3))
        }
        if !exactAllToAllMs.isEmpty {
            table.add("DDP reproducible, fixed tree by all-to-all", rangeString(exactAllToAllMs, 3))
        }
        say("Training step, median (min-max) of \(rounds) alternating rounds of \(steps) steps; \(params) parameters, "
            + "\(params * 4) bytes of gradients per step in \(max(1, ddp.bucketParameterNames.count)) bucket(s):")
        say(table.render() + "\n")

        if !ddp.lastTimeline.isEmpty {
            // One more DDP step, its timestamps relative to the start of backward.
            step(ddp, ddpOpt)
            let tl = ddp.lastTimeline
            var log = Table("bucket", "bytes", "grads ready (ms)", "MPI start (ms)", "MPI end (ms)")
            for b in tl {
                log.add("\(b.bucket)", byteString(b.bytes), fmt((b.launched - backwardStart) * 1e3, 3),
                        fmt((b.mpiStarted - backwardStart) * 1e3, 3), fmt((b.mpiFinished - backwardStart) * 1e3, 3))
            }
            say("Timeline of one DDP step on rank 0 (ms from the start of backward): last gradient ready at "
                + "\(fmt((tl[0].backwardComputeEnd - backwardStart) * 1e3, 3)), backward returned at \(fmt((backwardEnd - backwardStart) * 1e3, 3)):")
            say(log.render())
            say(tl[0].mpiStarted < tl[0].backwardComputeEnd
                ? "The first bucket's allreduce started \(fmt((tl[0].backwardComputeEnd - tl[0].mpiStarted) * 1e3, 3)) ms before backward's last gradient.\n"
                : "The first bucket's allreduce started after backward's last gradient.\n")
            let early = leads.filter { $0 > 0 }.count
            say("Over the \(leads.count) timed DDP steps on rank 0: the first bucket's allreduce started before backward's "
                + "last gradient in \(early) (\(fmt(100 * Double(early) / Double(max(1, leads.count)), 1))%); its lead "
                + "\(rangeString(leads, 3)) ms; from queued to started on the communication thread \(rangeString(wakes, 3)) ms "
                + "(median (min-max)).\n")
        }

        // Weak scaling (64 samples per rank), ring allreduce of the gradients, no overlap
        // assumed: efficiency T / (T + t_comm) ≥ 0.9 needs t_comm ≤ T / 9, i.e. a bus
        // bandwidth of 9 · 2(N−1)/N · bytes / T per rank.
        if group.rank == 0 {
            let full = quickstartModel()
            let fullOpt = SGD(full.parameters(), lr: 1e-3)
            let x64 = Tensor.rand([64, 1, 28, 28], generator: g), y64 = Tensor.randint(0, 10, [64], generator: g)
            let t = timePerCall(samples: 7) {
                lossFn(full(x64), y64).backward()
                fullOpt.step()
                fullOpt.zeroGrad()
            }
            let bytes = Double(params * 4)
            var need = Table("ranks", "bytes sent+received per rank per step", "bandwidth for 90% efficiency")
            for ranks in [8, 64] {
                let moved = 2 * Double(ranks - 1) / Double(ranks) * bytes
                need.add("\(ranks)", byteString(Int(moved)), "\(fmt(9 * moved / t / 1e9, 2)) GB/s (\(fmt(9 * moved * 8 / t / 1e9, 1)) Gbit/s)")
            }
            print("Needed for 90% scaling efficiency, 64 samples per rank (step measured here: \(fmt(t * 1e3, 3)) ms on "
                  + "\(numThreads()) thread(s)), ring allreduce of \(byteString(Int(bytes))), no overlap:")
            print(need.render())
        }
        try group.barrier()
    }
}

func rangeString(_ xs: [Double], _ digits: Int = 2) -> String {
    "\(fmt(median(xs), digits)) (\(fmt(xs.min()!, digits))-\(fmt(xs.max()!, digits)))"
}

func byteString(_ b: Int) -> String {
    b >= 1 << 20 ? "\(fmt(Double(b) / 1_048_576, b % (1 << 20) == 0 ? 0 : 2)) MB"
        : b >= 1024 ? "\(fmt(Double(b) / 1024, b % 1024 == 0 ? 0 : 1)) KB" : "\(b) B"
}
