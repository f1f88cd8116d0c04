// `ember-bench compare`: Ember's quickstart against the PyTorch quickstart and PyTorch's
// compute-only loop, measured side by side in one run on the same machine, plus the GEMM
// floor: the time the quickstart's sgemm calls alone take for one epoch.
//
// How it measures
// - Each program runs as a child process (posix_spawn), in alternation: ember, torch
//   quickstart, torch compute-only, GEMM floor (in-process), repeated `--rounds` times, so
//   that a slow spell on a shared machine hits every program rather than one.
// - Times come from the children's own `epoch_time train=<s>s test=<s>s` lines, one per epoch.
//   With 2 or more epochs the first epoch of every run is a warm-up and is left out; the
//   table shows the median over the remaining epochs of all rounds. The ratios are given
//   that way and also paired by round: each round's Ember median over the same round's
//   other median (PyTorch's or the floor's), then the median of those over the rounds. On a
//   machine whose speed drifts between rounds the pairs vary less than the pooled medians.
// - Peak RSS is `ru_maxrss` from `wait4` on that child's pid: the child's own high-water mark
//   (or that of its largest reaped descendant, such as a DataLoader worker process — never the
//   sum). No `/usr/bin/time` is needed. One Linux catch: exec copies the spawning process's
//   high-water mark into the child's ru_maxrss, so wait4 reads max(ember-bench, child). When
//   that is no more than ember-bench's own VmHWM (read just before the spawn), the child
//   peaked lower and the figure shown is instead the child's /proc/<pid>/status VmHWM,
//   sampled every 100 ms while it runs (marked "*": may miss its last 100 ms).
//   The table shows the largest over the rounds.
// - The GEMM floor replays the quickstart MLP's GEMMs for one epoch (938 steps: 937 batches
//   of 64 and one of 32) through `ember_sgemm`, the same blocked OpenBLAS call Ember's layers
//   use, at the same thread count: forward for the three layers, dX for layers 2 and 3 (the
//   input needs no gradient), and the three weight updates W += −lr·gᵀx that plain SGD runs
//   in place of forming dW. Operands are cache-warm buffers of the right shapes; no
//   activation, loss, optimizer pass or data work is included.

import ArgumentParser
import CEmber
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: - Options and command

/// Settings of one `ember-bench compare` run.
public struct CompareOptions {
    /// Alternating rounds (each round runs every program once).
    public var rounds = 3
    /// Epochs per run of each program.
    public var epochs = 3
    /// Threads for Ember (`--threads`), PyTorch (`torch.set_num_threads`) and the GEMM floor.
    public var threads = Int(ember_num_cores())
    /// DataLoader workers passed to both quickstarts (the seed uses 0).
    public var workers = 0
    /// Python with torch + torchvision.
    public var python = ProcessInfo.processInfo.environment["EMBER_PYTHON"]
        ?? "/tmp/pytorch-reference/venv/bin/python"
    /// Data root for the PyTorch programs (torchvision layout: ROOT/FashionMNIST/raw).
    public var torchRoot = "/tmp/pytorch-reference/data"
    /// Data root for Ember's quickstart (`--root`); nil: the quickstart's default.
    public var emberRoot: String? = nil
    /// Ember's quickstart executable; nil: the `quickstart` next to this executable.
    public var quickstart: String? = nil
    /// Directory holding pytorch_quickstart.py and pytorch_compute_only.py; nil: the
    /// package's `bench/`, searched upwards from this executable and from the working dir.
    public var benchDir: String? = nil
    /// Run Ember and the GEMM floor only.
    public var skipTorch = false
    /// Echo every line the children print.
    public var verbose = false

    public init() {}
}

/// `ember-bench compare` as a subcommand: add `CompareCommand.self` to the subcommands.
public struct CompareCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "compare",
        abstract: "Ember's quickstart vs PyTorch (quickstart and compute-only) and the GEMM floor.",
        discussion: """
            Runs ember quickstart, the PyTorch quickstart and PyTorch compute-only as child \
            processes in alternation for --rounds rounds, reads their `epoch_time` lines, and \
            prints median training-epoch and test-pass times (epoch 1 skipped as warm-up when \
            --epochs >= 2), peak RSS (wait4 ru_maxrss), the ratios to PyTorch with their \
            targets, and the ratio to the GEMM floor measured in the same run.
            """)

    @Option(help: "Alternating rounds (each runs every program once).") var rounds = 3
    @Option(help: "Epochs per run (>= 2 to skip a warm-up epoch).") var epochs = 3
    @Option(help: "Threads for Ember, PyTorch and the GEMM floor (default: all cores).") var threads: Int?
    @Option(help: "DataLoader workers for both quickstarts.") var workers = 0
    @Option(help: "Python with torch (default: $EMBER_PYTHON or /tmp/pytorch-reference/venv/bin/python).")
    var python: String?
    @Option(help: "FashionMNIST root for PyTorch (torchvision layout).") var torchRoot = "/tmp/pytorch-reference/data"
    @Option(help: "FashionMNIST root for Ember's quickstart (default: its own default).") var emberRoot: String?
    @Option(help: "Ember quickstart executable (default: the one next to ember-bench).") var quickstart: String?
    @Option(help: "Directory with the PyTorch programs (default: the package's bench/).") var benchDir: String?
    @Flag(help: "Run Ember and the GEMM floor only.") var skipTorch = false
    @Flag(help: "Echo the children's output.") var verbose = false

    public init() {}

    public func validate() throws {
        guard rounds >= 1 else { throw ValidationError("--rounds must be at least 1") }
        guard epochs >= 1 else { throw ValidationError("--epochs must be at least 1") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1") }
    }

    public func run() throws {
        var o = CompareOptions()
        o.rounds = rounds
        o.epochs = epochs
        if let t = threads { o.threads = t }
        o.workers = workers
        if let p = python { o.python = p }
        o.torchRoot = torchRoot
        o.emberRoot = emberRoot
        o.quickstart = quickstart
        o.benchDir = benchDir
        o.skipTorch = skipTorch
        o.verbose = verbose
        try runCompare(o)
    }
}

/// Why a comparison could not run.
public enum CompareError: Error, CustomStringConvertible {
    case missing(String)
    case spawn(String, Int32)
    case noTimings(String)

    public var description: String {
        switch self {
        case .missing(let what): return "compare: \(what)"
        case .spawn(let path, let err): return "compare: cannot start \(path): \(String(cString: strerror(err)))"
        case .noTimings(let what): return "compare: \(what)"
        }
    }
}

// MARK: - Running

/// Runs `ember-bench compare` with `options` and prints the table (see the file header).
public func runCompare(_ options: CompareOptions) throws {
    let o = options
    let quickstart = o.quickstart ?? siblingExecutable("quickstart")
    guard FileManager.default.isExecutableFile(atPath: quickstart) else {
        throw CompareError.missing("no Ember quickstart at \(quickstart) (build it: swift build -c release --product quickstart, or pass --quickstart)")
    }
    var emberArgs = ["--epochs", "\(o.epochs)", "--threads", "\(o.threads)", "--workers", "\(o.workers)", "--timings"]
    if let root = o.emberRoot { emberArgs += ["--root", root] }

    var programs: [Program] = [Program(name: "ember quickstart", path: quickstart, arguments: emberArgs)]
    var torchNote: String? = nil
    if o.skipTorch {
        torchNote = "PyTorch skipped (--skip-torch): Ember and the GEMM floor only."
    } else if let why = torchUnavailable(o) {
        torchNote = "PyTorch skipped: \(why). Ember and the GEMM floor only."
    } else {
        let dir = o.benchDir ?? findBenchDir()!
        let common = ["--epochs", "\(o.epochs)", "--threads", "\(o.threads)", "--root", o.torchRoot]
        programs.append(Program(name: "torch quickstart", path: o.python,
                                arguments: ["\(dir)/pytorch_quickstart.py"] + common + ["--workers", "\(o.workers)"]))
        programs.append(Program(name: "torch compute-only", path: o.python,
                                arguments: ["\(dir)/pytorch_compute_only.py"] + common))
    }

    let skipWarmup = o.epochs >= 2
    print("ember-bench compare: \(o.rounds) round(s) × \(o.epochs) epoch(s), \(o.threads) thread(s), \(o.workers) DataLoader worker(s)")
    print("order per round: " + (programs.map(\.name) + ["GEMM floor"]).joined(separator: ", "))
    if let note = torchNote { print(note) }
    for p in programs { print("  \(p.name): \(([p.path] + p.arguments).joined(separator: " "))") }
    print("")

    let floor = GemmFloor(threads: o.threads)
    floor.warmUp()
    var results = programs.map { ProgramResult(name: $0.name) }
    var floorTimes: [Double] = [], testFloorTimes: [Double] = []

    for round in 1...o.rounds {
        for (i, program) in programs.enumerated() {
            let run = try program.run(echo: o.verbose)
            results[i].add(run, skipWarmup: skipWarmup)
            var line = "round \(round)/\(o.rounds)  \(pad(program.name, 20))"
            if run.failed {
                line += " FAILED (\(run.exitDescription)); last lines:\n    " + run.tail.joined(separator: "\n    ")
            } else {
                line += " train " + run.train.map { fmt($0, 2) }.joined(separator: " ") + " s"
                if !run.test.isEmpty { line += "  test " + run.test.map { fmt($0, 2) }.joined(separator: " ") + " s" }
                line += "  peak \(fmt(run.peakRSSMB, 1)) MB\(run.peakSampled ? "*" : "")  (\(fmt(run.wall, 1)) s wall)"
            }
            print(line)
        }
        let t = floor.epoch()
        floorTimes.append(t)
        let tt = floor.testPass()
        testFloorTimes.append(tt)
        print("round \(round)/\(o.rounds)  \(pad("GEMM floor", 20)) \(fmt(t, 3)) s  (\(fmt(GemmFloor.flopsPerEpoch / t / 1e9, 1)) GFLOP/s)  test pass \(fmt(tt, 3)) s")
        fflush(nil)
    }
    let blas = floor.epochOpenBLASDirect()

    // Table
    print("")
    print(skipWarmup
          ? "Medians over epochs 2..\(o.epochs) of every round (epoch 1 of each run is warm-up, left out); peak RSS: largest over rounds."
          : "Medians over all epochs (--epochs 1: no warm-up epoch to skip); peak RSS: largest over rounds.")
    print("\(pad("program", 36)) \(lpad("train/epoch", 12)) \(lpad("(min–max)", 16)) \(lpad("test pass", 10)) \(lpad("peak RSS", 11)) \(lpad("runs ok", 8))")
    for r in results {
        let range = r.train.isEmpty ? "" : "(\(fmt(r.train.min()!, 2))–\(fmt(r.train.max()!, 2)))"
        print("\(pad(r.name, 36)) \(lpad(sec(median(r.train)), 12)) \(lpad(range, 16)) \(lpad(sec(median(r.test)), 10)) \(lpad(r.peakKB > 0 ? fmt(Double(r.peakKB) / 1024, 1) + " MB" + (r.peakSampled ? "*" : "") : "—", 11)) \(lpad("\(r.ok)/\(r.runs)", 8))")
    }
    if results.contains(where: \.peakSampled) {
        print("* peaked below ember-bench's own RSS (\(fmt(Double(highWaterKB(of: "self")) / 1024, 1)) MB), which wait4 would report: VmHWM sampled every 100 ms instead")
    }
    let floorMedian = median(floorTimes)!   // rounds >= 1
    print("\(pad("GEMM floor (ember_sgemm, \(o.threads) thr)", 36)) \(lpad(sec(floorMedian), 12)) \(lpad("(\(fmt(floorTimes.min()!, 2))–\(fmt(floorTimes.max()!, 2)))", 16))   \(fmt(GemmFloor.flopsPerEpoch / floorMedian / 1e9, 1)) GFLOP/s, \(GemmFloor.callsPerEpoch) calls")
    let testFloorMedian = median(testFloorTimes)!
    print("\(pad("GEMM floor, test pass (forward only)", 36)) \(lpad("", 12)) \(lpad("(\(fmt(testFloorTimes.min()!, 3))–\(fmt(testFloorTimes.max()!, 3)))", 16)) \(lpad(sec(testFloorMedian), 10))   \(fmt(GemmFloor.flopsPerTestPass / testFloorMedian / 1e9, 1)) GFLOP/s, \(GemmFloor.testBatches.count * 3) calls")
    print("\(pad("  for reference: cblas_sgemm, 1 thr", 36)) \(lpad(sec(blas), 12)) \(lpad("", 16))   \(fmt(GemmFloor.flopsPerEpoch / blas / 1e9, 1)) GFLOP/s, one unblocked OpenBLAS call per GEMM")

    // Ratios with targets
    let ember = results[0]
    let tq = results.count > 1 ? results[1] : nil
    let tc = results.count > 2 ? results[2] : nil
    print("")
    print("\(pad("ratio", 42)) \(lpad("measured", 10)) \(lpad("target", 10))        \(lpad("paired by round (min–max)", 26))")
    // `pairs`: the other side's per-round medians, for the ratio paired by round.
    func ratioLine(_ label: String, _ num: Double?, _ den: Double?, _ target: Double, pairs: [Double?]? = nil) {
        var paired = ""
        if let pairs {
            let ratios = zip(ember.roundTrain, pairs).compactMap { e, o in e.flatMap { e in o.map { e / $0 } } }
            if let m = median(ratios) {
                paired = "\(fmt(m, 3))× (\(fmt(ratios.min()!, 2))–\(fmt(ratios.max()!, 2)))"
            }
        }
        guard let n = num, let d = den, d > 0 else {
            print("\(pad(label, 42)) \(lpad("—", 10)) \(lpad("≤ \(fmt(target, 2))×", 10))")
            return
        }
        let r = n / d
        print("\(pad(label, 42)) \(lpad(fmt(r, 3) + "×", 10)) \(lpad("≤ \(fmt(target, 2))×", 10))  \(pad(r <= target ? "met" : "NOT met", 7)) \(lpad(paired, 26))")
    }
    ratioLine("train: Ember / torch quickstart", median(ember.train), tq.flatMap { median($0.train) }, 0.2,
              pairs: tq?.roundTrain)
    ratioLine("test:  Ember / torch quickstart", median(ember.test), tq.flatMap { median($0.test) }, 0.1)
    // The GEMM engine's targets: ≤ 0.5× PyTorch's compute-only loop, ≤ 1.1× the floor.
    ratioLine("train: Ember / torch compute-only", median(ember.train), tc.flatMap { median($0.train) }, 0.5,
              pairs: tc?.roundTrain)
    ratioLine("train: Ember / GEMM floor", median(ember.train), floorMedian, 1.1, pairs: floorTimes.map { $0 })
    // What the GEMMs alone would score against PyTorch: the part no overhead work can remove.
    if let tq, let train = median(tq.train), let test = median(tq.test) {
        print("\(pad("train: GEMM floor alone / torch quickstart", 42)) \(lpad(fmt(floorMedian / train, 3) + "×", 10))")
        print("\(pad("test:  GEMM floor alone / torch quickstart", 42)) \(lpad(fmt(testFloorMedian / test, 3) + "×", 10))")
    }
    let rssMB = Double(ember.peakKB) / 1024
    print("\(pad("peak RSS: Ember", 42)) \(lpad(ember.peakKB > 0 ? fmt(rssMB, 1) + " MB" : "—", 10)) \(lpad("≤ 200 MB", 10))  \(ember.peakKB == 0 ? "" : rssMB <= 200 ? "met" : "NOT met")")
    if let note = torchNote { print(note) }
    if ember.ok == 0 { throw CompareError.noTimings("Ember's quickstart produced no epoch_time lines in any round") }
}

// MARK: - Child processes

private struct Program {
    var name: String
    var path: String
    var arguments: [String]

    /// Spawns the program with stdout on a pipe (stderr inherited), reads its output to EOF,
    /// reaps it with wait4 and returns its epoch times, peak RSS and wall time.
    func run(echo: Bool) throws -> RunResult {
        var fds: [Int32] = [0, 0]
        guard pipe(&fds) == 0 else { throw CompareError.spawn(path, errno) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, fds[1], 1)
        posix_spawn_file_actions_addclose(&actions, fds[0])
        posix_spawn_file_actions_addclose(&actions, fds[1])

        var env = ProcessInfo.processInfo.environment
        env["PYTHONUNBUFFERED"] = "1"
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let envp = env.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { for p in argv { free(p) }; for p in envp { free(p) } }

        // exec records the spawning process's high-water mark in the child's ru_maxrss
        // (Linux exec_mmap), so wait4 reads max(ours, the child's): note ours first.
        let parentHWM = highWaterKB(of: "self")
        let start = now()
        var pid: pid_t = 0
        let err = posix_spawnp(&pid, path, &actions, nil, argv, envp)
        close(fds[1])
        guard err == 0 else { close(fds[0]); throw CompareError.spawn(path, err) }

        var result = RunResult()
        var pending = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        func take(_ bytes: ArraySlice<UInt8>) {
            let line = String(decoding: bytes, as: UTF8.self)
            if echo { print("    | \(line)") }
            result.consume(line)
        }
        var sampledHWM = 0, lastSample = 0.0
        while true {
            // Wake at least every 100 ms to sample the child's VmHWM (the fallback below).
            var pfd = pollfd(fd: fds[0], events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, 100)
            if now() - lastSample >= 0.1 {
                sampledHWM = max(sampledHWM, highWaterKB(of: "\(pid)"))
                lastSample = now()
            }
            if ready == 0 || (ready < 0 && errno == EINTR) { continue }
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n < 0 { if errno == EINTR { continue }; break }
            if n == 0 { break }
            pending += buffer[0..<n]
            while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                take(pending[..<nl])
                pending.removeSubrange(...nl)
            }
        }
        if !pending.isEmpty { take(pending[...]) }
        close(fds[0])

        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        result.wall = now() - start
        // ru_maxrss is in kilobytes on Linux. Above our own high-water mark it is the child's
        // exact peak; otherwise the child peaked below us and the last VmHWM sample stands in.
        let maxrss = Int(usage.ru_maxrss)
        result.peakKB = maxrss > parentHWM ? maxrss : max(sampledHWM, 1)
        result.peakSampled = maxrss <= parentHWM
        let signal = status & 0x7f, code = (status >> 8) & 0xff
        result.failed = signal != 0 || code != 0 || result.train.isEmpty
        result.exitDescription = signal == 0 ? "exit \(code)" : "signal \(signal)"
        if result.train.isEmpty { result.exitDescription += ", no epoch_time lines" }
        return result
    }
}

private struct RunResult {
    var train: [Double] = []
    var test: [Double] = []
    var peakKB = 0
    var peakSampled = false   // peakKB is a VmHWM sample (child peaked below ember-bench)
    var wall = 0.0
    var failed = false
    var exitDescription = ""
    var tail: [String] = []
    var peakRSSMB: Double { Double(peakKB) / 1024 }

    /// Keeps the last lines (for error reports) and parses
    /// `epoch_time train=<seconds>s [test=<seconds>s] ...`.
    mutating func consume(_ line: String) {
        tail.append(line)
        if tail.count > 15 { tail.removeFirst() }
        guard line.hasPrefix("epoch_time ") else { return }
        var train: Double?, test: Double?
        for field in line.split(separator: " ") {
            let kv = field.split(separator: "=", maxSplits: 1)
            guard kv.count == 2, kv[1].hasSuffix("s"), let v = Double(kv[1].dropLast()) else { continue }
            if kv[0] == "train" { train = v } else if kv[0] == "test" { test = v }
        }
        if let t = train { self.train.append(t); if let u = test { self.test.append(u) } }
    }
}

private struct ProgramResult {
    var name: String
    var train: [Double] = []
    var test: [Double] = []
    var peakKB = 0
    var peakSampled = false
    var runs = 0
    var ok = 0

    /// Each round's median training epoch (nil for a failed run), for ratios paired by round.
    var roundTrain: [Double?] = []

    mutating func add(_ run: RunResult, skipWarmup: Bool) {
        runs += 1
        if run.peakKB > peakKB { peakKB = run.peakKB; peakSampled = run.peakSampled }
        guard !run.failed else { roundTrain.append(nil); return }
        ok += 1
        let drop = skipWarmup && run.train.count >= 2 ? 1 : 0
        train += run.train.dropFirst(drop)
        test += run.test.dropFirst(skipWarmup && run.test.count >= 2 ? 1 : 0)
        roundTrain.append(median(Array(run.train.dropFirst(drop))))
    }
}

// MARK: - GEMM floor

/// The quickstart MLP's GEMMs (784-512-512-10, batch 64) for one epoch, nothing else.
private final class GemmFloor {
    static let steps: [Int] = Array(repeating: 64, count: 937) + [32]   // 60,000 samples
    static let callsPerEpoch = steps.count * 8
    static let testBatches: [Int] = Array(repeating: 64, count: 156) + [16]   // 10,000 samples
    static let flopsPerTestPass = testBatches.reduce(0.0) { $0 + quickstartForwardFlops(batch: $1) }
    static let flopsPerEpoch = steps.reduce(0.0) { $0 + quickstartStepFlops(batch: $1) }

    let threads: Int
    // Weights (OUT, IN), activations (64, F) and their gradients.
    let w1, w2, w3, x, h1, h2, out, dout, dh2, dh1: UnsafeMutablePointer<Float>
    private var all: [UnsafeMutablePointer<Float>] = []

    init(threads: Int) {
        self.threads = threads
        var all: [UnsafeMutablePointer<Float>] = []
        var state: UInt64 = 0x9E3779B97F4A7C15
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let p = UnsafeMutablePointer<Float>.allocate(capacity: count)
            for i in 0..<count {   // small nonzero values (no denormals, no zeros)
                state = state &* 6364136223846793005 &+ 1442695040888963407
                p[i] = Float(Int(state >> 41) - (1 << 22)) / Float(1 << 26)
            }
            all.append(p)
            return p
        }
        w1 = buffer(512 * 784); w2 = buffer(512 * 512); w3 = buffer(10 * 512)
        x = buffer(64 * 784); h1 = buffer(64 * 512); h2 = buffer(64 * 512); out = buffer(64 * 10)
        dout = buffer(64 * 10); dh2 = buffer(64 * 512); dh1 = buffer(64 * 512)
        self.all = all
    }

    deinit { for p in all { p.deallocate() } }

    typealias Gemm = (Int32, Int32, Int64, Int64, Int64, Float, UnsafePointer<Float>, Int64,
                      UnsafePointer<Float>, Int64, Float, UnsafeMutablePointer<Float>, Int64) -> Void

    /// The forward pass's GEMMs at batch `b`: h1 = x·W1ᵀ, h2 = h1·W2ᵀ, out = h2·W3ᵀ.
    private func forward(_ b: Int64, _ gemm: Gemm) {
        gemm(0, 1, b, 512, 784, 1, x, 784, w1, 784, 0, h1, 512)
        gemm(0, 1, b, 512, 512, 1, h1, 512, w2, 512, 0, h2, 512)
        gemm(0, 1, b, 10, 512, 1, h2, 512, w3, 512, 0, out, 10)
    }

    /// One training step's GEMMs at batch `b` through `gemm` (row-major, op flags 0/1), as
    /// the quickstart makes them: backward computes the input gradients, and plain SGD
    /// applies each weight gradient as one GEMM into the weight, W += −lr·gᵀ·x
    /// (DeferredGrad.swift).
    private func step(_ b: Int64, _ gemm: Gemm) {
        forward(b, gemm)
        // backward: dh2 = dout·W3, dh1 = dh2·W2 (no dX for layer 1: the input needs none)
        gemm(0, 0, b, 512, 10, 1, dout, 10, w3, 512, 0, dh2, 512)
        gemm(0, 0, b, 512, 512, 1, dh2, 512, w2, 512, 0, dh1, 512)
        // step: W1 −= lr·dh1ᵀ·x, W2 −= lr·dh2ᵀ·h1, W3 −= lr·doutᵀ·h2
        gemm(1, 0, 512, 784, b, -lr, dh1, 512, x, 784, 1, w1, 784)
        gemm(1, 0, 512, 512, b, -lr, dh2, 512, h1, 512, 1, w2, 512)
        gemm(1, 0, 10, 512, b, -lr, dout, 10, h2, 512, 1, w3, 512)
    }
    private let lr: Float = 1e-3

    /// Seconds for `pass` (a training step's GEMMs by default) over `batches`.
    private func time(_ batches: [Int], _ gemm: Gemm,
                      pass: (GemmFloor) -> (Int64, Gemm) -> Void = { $0.step }) -> Double {
        let run = pass(self)
        let start = now()
        for b in batches { run(Int64(b), gemm) }
        return now() - start
    }

    private var emberGemm: Gemm {
        { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            ember_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
    }

    func warmUp() {
        ember_set_num_threads(Int32(threads))
        _ = time(Array(GemmFloor.steps.prefix(100)), emberGemm)
    }

    /// Seconds for one epoch of GEMMs through `ember_sgemm` at `threads` threads.
    func epoch() -> Double {
        ember_set_num_threads(Int32(threads))
        return time(GemmFloor.steps, emberGemm)
    }

    /// Seconds for the test pass's forward GEMMs (10,000 samples) through `ember_sgemm`.
    func testPass() -> Double {
        ember_set_num_threads(Int32(threads))
        return time(GemmFloor.testBatches, emberGemm, pass: { $0.forward })
    }

    /// Seconds for one epoch through plain `cblas_sgemm` (OpenBLAS at one thread, as Ember
    /// pins it), one call per GEMM: what the blocking in `ember_sgemm` is measured against.
    func epochOpenBLASDirect() -> Double {
        ember_set_blas_threads(1)
        let gemm: Gemm = { ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc in
            ember_cblas_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
        }
        _ = time(Array(GemmFloor.steps.prefix(100)), gemm)
        return time(GemmFloor.steps, gemm)
    }
}

// MARK: - Helpers

/// VmHWM (peak resident set, kB) of /proc/<pid>, 0 when unreadable (e.g. the process exited).
private func highWaterKB(of pid: String) -> Int {
    guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return 0 }
    for line in text.split(separator: "\n") where line.hasPrefix("VmHWM:") {
        return Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "") ?? 0
    }
    return 0
}

/// Median; nil for no values.
private func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let s = values.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

private func sec(_ x: Double?) -> String { x.map { fmt($0, 3) + " s" } ?? "—" }
private func pad(_ s: String, _ w: Int) -> String { s.count >= w ? s : s + String(repeating: " ", count: w - s.count) }
private func lpad(_ s: String, _ w: Int) -> String { s.count >= w ? s : String(repeating: " ", count: w - s.count) + s }

/// This executable's directory (from /proc/self/exe) + `name`.
private func siblingExecutable(_ name: String) -> String {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: exe).deletingLastPathComponent().appendingPathComponent(name).path
}

/// The package's bench/ directory: searched upwards from this executable, then from the
/// working directory.
private func findBenchDir() -> String? {
    let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    for start in [URL(fileURLWithPath: exe).deletingLastPathComponent(),
                  URL(fileURLWithPath: FileManager.default.currentDirectoryPath)] {
        var dir = start
        for _ in 0..<6 {
            let candidate = dir.appendingPathComponent("bench")
            if FileManager.default.fileExists(atPath: candidate.appendingPathComponent("pytorch_quickstart.py").path) {
                return candidate.path
            }
            dir.deleteLastPathComponent()
        }
    }
    return nil
}

/// Why the PyTorch programs cannot run, or nil when they can.
private func torchUnavailable(_ o: CompareOptions) -> String? {
    if !o.python.contains("/") {
        // a bare name: let posix_spawnp search PATH; checked when it runs
    } else if !FileManager.default.isExecutableFile(atPath: o.python) {
        return "no Python at \(o.python) (run shared/reference/setup.sh, or pass --python / set EMBER_PYTHON)"
    }
    let dir = o.benchDir ?? findBenchDir()
    guard let d = dir, FileManager.default.fileExists(atPath: "\(d)/pytorch_quickstart.py"),
          FileManager.default.fileExists(atPath: "\(d)/pytorch_compute_only.py") else {
        return "bench/pytorch_quickstart.py and bench/pytorch_compute_only.py not found (pass --bench-dir)"
    }
    guard FileManager.default.fileExists(atPath: "\(o.torchRoot)/FashionMNIST/raw/train-images-idx3-ubyte") else {
        return "no FashionMNIST under \(o.torchRoot)/FashionMNIST/raw (run shared/reference/setup.sh, or pass --torch-root)"
    }
    return nil
}
