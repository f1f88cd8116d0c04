import ArgumentParser
import CEmber
import Ember
import Foundation

// `ember-bench peak` and `ember-bench gemm`: Ember's GEMM engine against the machine's FMA
// peak and against OpenBLAS. OpenBLAS picks its kernels once, when it loads
// (OPENBLAS_CORETYPE), so its columns come from child processes of this binary (`gemm
// --worker`) started with each setting; Ember's come from this process. Rounds alternate
// (Ember, then each OpenBLAS setting) so that load from other processes on a shared
// machine hits every column alike; each figure is the median over rounds, with min–max, and
// each ratio (% of peak, Ember / OpenBLAS) the median of the rounds' own ratios.

/// One measurement of a path's register-only FMA loop on one thread, in GFLOP/s.
func measurePeak(_ path: Int32) -> Double {
    var iters: Int64 = 1 << 16
    while true {
        let t0 = now()
        let flops = ember_fma_peak(path, iters)
        let t = now() - t0
        if flops == 0 { return 0 }
        if t > 0.1 { return flops / t / 1e9 }
        iters *= 2
    }
}

/// Paths this machine can run, best first.
func runnablePaths() -> [Int32] {
    let hw = ember_cpu_hardware_path()
    return [Int32(EMBER_CPU_AVX512), Int32(EMBER_CPU_AVX2), Int32(EMBER_CPU_GENERIC)].filter { $0 <= hw }
}

func pathName(_ path: Int32) -> String { String(cString: ember_cpu_path_name(path)) }


struct PeakCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "peak",
        abstract: "The FMA peak per ISA path: a register-only FMA loop, GFLOP/s on one core.")

    @Option(help: "Rounds (paths alternate within each).") var rounds = 5

    func run() throws {
        print("FMA peak, 1 thread, \(rounds) alternating rounds; \(machineLine())\n")
        let paths = runnablePaths()
        var results = [[Double]](repeating: [], count: paths.count)
        for _ in 0..<rounds {
            for (i, p) in paths.enumerated() { results[i].append(measurePeak(p)) }
        }
        var table = Table("path", "GFLOP/s per core: median (min–max)")
        for (i, p) in paths.enumerated() { table.add(pathName(p), spread(results[i])) }
        print(table.render())
    }
}

/// A benchmarked product: C(m×n) = op(A)·op(B), K = k, on `threads` threads.
struct GemmCase {
    let group: String, name: String, m: Int, n: Int, k: Int, ta: Bool, tb: Bool, threads: Int
    /// Multiplies a pre-packed B (the weight of a forward product, packed once).
    var packed = false
    var flops: Double { 2 * Double(m) * Double(n) * Double(k) }
}

/// The quickstart's eight products at batch 64 (see KernelsBench's `quickstartGemms`).
let gemmCases: [GemmCase] = {
    var cases = [GemmCase(group: "large", name: "2048³ NN", m: 2048, n: 2048, k: 2048, ta: false, tb: false, threads: 1)]
    cases += quickstartGemms.map {
        GemmCase(group: "quickstart", name: $0.name, m: $0.m, n: $0.n, k: $0.k, ta: $0.ta, tb: $0.tb, threads: 2)
    }
    // Convolutions lowered to GEMM (im2col: K = 9·C, rows = output pixels, weight transposed).
    for (pix, cin, cout) in [(4096, 64, 64), (1024, 128, 128), (256, 256, 256), (4096, 3, 64)] {
        cases.append(GemmCase(group: "im2col", name: "\(pix)x\(9 * cin) · (\(cout)x\(9 * cin))ᵀ", m: pix, n: cout,
                              k: 9 * cin, ta: false, tb: true, threads: 1))
    }
    // Attention, one head of width 64: scores Q·Kᵀ (64×64·64×T) and scores·V (64×T·T×64).
    for t in [256, 1024] {
        cases.append(GemmCase(group: "attention", name: "Q·Kᵀ 64x64 · 64x\(t)", m: 64, n: t, k: 64, ta: false, tb: true, threads: 1))
        cases.append(GemmCase(group: "attention", name: "S·V 64x\(t) · \(t)x64", m: 64, n: 64, k: t, ta: false, tb: false, threads: 1))
    }
    // A test pass: the forward products with the weight packed once (Ember only).
    for s in quickstartGemms.prefix(3) {
        cases.append(GemmCase(group: "packed", name: s.name + " packed", m: s.m, n: s.n, k: s.k, ta: s.ta, tb: s.tb,
                              threads: 2, packed: true))
    }
    return cases
}()

/// Seconds per call of each case, by `call`: the quickstart group the way training runs it
/// (each step the eight products in order, a shape's figure its median over steps), the
/// others as the median of batches of back-to-back calls.
func timeGemmCases(_ cases: [GemmCase], setThreads: (Int) -> Void,
                   _ call: (GemmCase, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) -> [Double] {
    let operands = cases.map { c in
        (a: Tensor.rand([c.m * c.k]), b: Tensor.rand([c.k * c.n]), c: Tensor.zeros([c.m * c.n]))
    }
    func with(_ i: Int, _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let o = operands[i]
        o.a.withUnsafeFloats { pa in o.b.withUnsafeFloats { pb in o.c.withUnsafeMutableFloats { pc in
            body(pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
        } } }
    }
    var seconds = [Double](repeating: .nan, count: cases.count)
    let training = cases.indices.filter { cases[$0].group == "quickstart" }
    if !training.isEmpty {
        setThreads(cases[training[0]].threads)
        var times = [[Double]](repeating: [], count: cases.count)
        for step in 0..<55 {
            for i in training {
                with(i) { a, b, c in
                    let t0 = now()
                    call(cases[i], a, b, c)
                    if step >= 5 { times[i].append(now() - t0) }
                }
            }
        }
        for i in training { seconds[i] = median(times[i]) }
    }
    for i in cases.indices where cases[i].group != "quickstart" {
        setThreads(cases[i].threads)
        with(i) { a, b, c in seconds[i] = timePerCall(samples: cases[i].m >= 2048 ? 3 : 7) { call(cases[i], a, b, c) } }
    }
    return seconds
}

/// OpenBLAS (cblas_sgemm on its own threads) for the cases it runs, in GFLOP/s.
func openBLASGflops(_ cases: [GemmCase]) -> [Double] {
    let secs = timeGemmCases(cases, setThreads: { ember_set_blas_threads(Int32($0)) }) { c, a, b, out in
        ember_cblas_sgemm(c.ta ? 1 : 0, c.tb ? 1 : 0, Int64(c.m), Int64(c.n), Int64(c.k), 1, a, Int64(c.ta ? c.m : c.k),
                          b, Int64(c.tb ? c.k : c.n), 0, out, Int64(c.n))
    }
    ember_set_blas_threads(1)
    return zip(cases, secs).map { $0.flops / $1 / 1e9 }
}

/// Ember on `path` for every case, in GFLOP/s. Packed cases pack their B once, outside the
/// timing (a test pass packs each weight once for all its batches).
func emberGflops(_ cases: [GemmCase], path: Int32) -> [Double] {
    ember_gemm_set_path(path)
    var packs: [Int: OpaquePointer] = [:]
    let secs = timeGemmCases(cases, setThreads: { ember_set_num_threads(Int32($0)) }) { c, a, b, out in
        let ldb = Int64(c.tb ? c.k : c.n)
        if c.packed {
            let key = c.m * 1_000_003 + c.n * 1009 + c.k
            let pb = packs[key] ?? ember_gemm_pack_b(c.tb ? 1 : 0, Int64(c.k), Int64(c.n), b, ldb)!
            packs[key] = pb
            ember_sgemm_packed(c.ta ? 1 : 0, Int64(c.m), Int64(c.n), Int64(c.k), 1, a, Int64(c.ta ? c.m : c.k), pb, 0,
                               out, Int64(c.n))
        } else {
            ember_sgemm(c.ta ? 1 : 0, c.tb ? 1 : 0, Int64(c.m), Int64(c.n), Int64(c.k), 1, a, Int64(c.ta ? c.m : c.k),
                        b, ldb, 0, out, Int64(c.n))
        }
    }
    for pb in packs.values { ember_gemm_packed_free(pb) }
    ember_set_num_threads(Int32(numCores()))
    return zip(cases, secs).map { $0.flops / $1 / 1e9 }
}

struct GemmCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "Ember's GEMM per shape and ISA path vs OpenBLAS (own core selection, Haswell, Cooperlake) and the FMA peak.")

    @Option(help: "Alternating rounds (the median of them is reported, with min–max).") var rounds = 5
    @Option(help: "Only the cases of these groups (comma-separated: large, quickstart, im2col, attention, packed).")
    var groups: String?
    @Flag(help: .hidden) var worker = false

    func run() throws {
        var cases = gemmCases
        if let groups {
            let g = Set(groups.split(separator: ",").map(String.init))
            cases = cases.filter { g.contains($0.group) }
        }
        let blasCases = cases.filter { !$0.packed }
        if worker {   // one OpenBLAS round, for the parent: "<GFLOP/s>\t<corename>" per case
            let core = String(cString: ember_openblas_corename())
            for g in openBLASGflops(blasCases) { print("\(g)\t\(core)") }
            return
        }
        let env = ProcessInfo.processInfo.environment
        print("Ember GEMM — \(rounds) alternating rounds, medians (min–max) in GFLOP/s; \(machineLine())")
        print("OPENBLAS_CORETYPE=\(env["OPENBLAS_CORETYPE"] ?? "(unset)") OPENBLAS_L2_SIZE=\(env["OPENBLAS_L2_SIZE"] ?? "(unset)") in this environment")
        var mc: Int64 = 0, nc: Int64 = 0, kc: Int64 = 0
        ember_gemm_get_blocking(&mc, &nc, &kc)
        print("Ember blocking on \(cpuCapability): MC \(mc), NC \(nc), KC \(kc)\n")

        let paths = runnablePaths().filter { $0 != Int32(EMBER_CPU_GENERIC) }
        // OpenBLAS settings: as this environment has it, its own choice (both variables unset),
        // pinned to Haswell (AVX2), pinned to Cooperlake (AVX-512).
        let settings: [(name: String, set: [String: String], unset: [String])] = [
            ("as set", [:], []),
            ("own", [:], ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]),
            ("Haswell", ["OPENBLAS_CORETYPE": "Haswell"], []),
            ("Cooperlake", ["OPENBLAS_CORETYPE": "Cooperlake"], []),
        ]
        var ember = [[[Double]]](repeating: [[Double]](repeating: [], count: cases.count), count: paths.count)
        var blas = [[[Double]]](repeating: [[Double]](repeating: [], count: blasCases.count), count: settings.count)
        var cores = [String](repeating: "?", count: settings.count)
        var peaks = [[Double]](repeating: [], count: paths.count)
        let saved = ember_gemm_get_path()
        for round in 0..<rounds {
            for (p, path) in paths.enumerated() {
                peaks[p].append(measurePeak(path))
                for (i, g) in emberGflops(cases, path: path).enumerated() { ember[p][i].append(g) }
            }
            for (s, setting) in settings.enumerated() {
                let lines = try runWorker(set: setting.set, unset: setting.unset)
                guard lines.count == blasCases.count else { throw ValidationError("worker gave \(lines.count) lines") }
                for (i, line) in lines.enumerated() {
                    let parts = line.split(separator: "\t")
                    blas[s][i].append(Double(parts[0]) ?? .nan)
                    cores[s] = parts.count > 1 ? String(parts[1]) : "?"
                }
            }
            FileHandle.standardError.write("round \(round + 1)/\(rounds) done\n".data(using: .utf8)!)
        }
        ember_gemm_set_path(saved)

        print("FMA peak per core: " + paths.indices.map { "\(pathName(paths[$0])) \(spread(peaks[$0]))" }.joined(separator: ", "))
        print("OpenBLAS cores: " + settings.indices.map { "\(settings[$0].name) = \(cores[$0])" }.joined(separator: ", ") + "\n")
        var header = ["group", "shape", "thr"]
        for p in paths { header += ["Ember \(pathName(p))", "% peak"] }
        header += settings.map { "OpenBLAS \($0.name)" }
        header += ["avx512/own", "avx512/Haswell", "avx2/Haswell"]
        var table = Table("")
        table.header = header
        for (i, c) in cases.enumerated() {
            var row = [c.group, c.name, "\(c.threads)"]
            for p in paths.indices {
                // Each round's product against the same round's peak: the machine's state changes
                // between rounds, so the pairs are steadier than a ratio of the two medians.
                let pct = zip(ember[p][i], peaks[p]).map { 100 * $0 / ($1 * Double(c.threads)) }
                row += [spread(ember[p][i]), spread(pct, 0) + "%"]
            }
            let b = blasCases.firstIndex { $0.name == c.name && $0.threads == c.threads }
            // A packed case's OpenBLAS columns are the unpacked product (OpenBLAS cannot pack).
            let bi = b ?? blasCases.firstIndex { $0.name + " packed" == c.name }
            for s in settings.indices { row.append(bi.map { spread(blas[s][$0]) } ?? "-") }
            func ratio(_ p: Int32, _ s: Int) -> String {
                guard let pi = paths.firstIndex(of: p), let bi else { return "-" }
                return fmt(median(zip(ember[pi][i], blas[s][bi]).map { $0 / $1 }), 2) + "x"
            }
            row += [ratio(Int32(EMBER_CPU_AVX512), 1), ratio(Int32(EMBER_CPU_AVX512), 2), ratio(Int32(EMBER_CPU_AVX2), 2)]
            table.rows.append(row)
        }
        print(table.render())
        let quick = cases.indices.filter { cases[$0].group == "quickstart" }
        if !quick.isEmpty {
            let bq = quick.map { i in blasCases.firstIndex { $0.name == cases[i].name }! }
            // The eight products as one step: total time of each column (ratios of sums).
            func total(_ g: [[Double]], _ idx: [Int], _ cs: [GemmCase]) -> Double {
                zip(idx, idx.map { cs[$0].flops }).reduce(0) { $0 + $1.1 / (median(g[$1.0]) * 1e9) }
            }
            var parts: [String] = []
            for (p, path) in paths.enumerated() { parts.append("Ember \(pathName(path)) \(fmt(total(ember[p], quick, cases) * 1e6, 0)) µs") }
            for (s, setting) in settings.enumerated() { parts.append("OpenBLAS \(setting.name) \(fmt(total(blas[s], bq, blasCases) * 1e6, 0)) µs") }
            print("\nQuickstart step's eight products, summed medians: " + parts.joined(separator: ", "))
        }
    }

    /// Runs `ember-bench gemm --worker` with an environment changed for that child only.
    func runWorker(set: [String: String], unset: [String]) throws -> [String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        var args = ["gemm", "--worker"]
        if let groups { args += ["--groups", groups] }
        p.arguments = args
        var env = ProcessInfo.processInfo.environment
        for k in unset { env.removeValue(forKey: k) }
        for (k, v) in set { env[k] = v }
        p.environment = env
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init)
    }
}
