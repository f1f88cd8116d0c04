import ArgumentParser
import CEmber
import Ember
import Foundation

// The floor for GEMM is cblas_sgemm itself (through `ember_cblas_sgemm`, a bare pass-through), so this benchmark calls the C module directly
// (ember-bench is the one executable allowed to): Ember's column runs the same blocked
// `ember_sgemm` that autograd calls, and the Tensor column goes through the public op.

struct KernelsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "sgemm GFLOP/s vs cblas_sgemm, and memory-bound kernels' GB/s vs memcpy.")

    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Timing samples per measurement (median is reported).") var samples = 15

    func run() throws {
        let n = threads ?? numCores()
        setNumThreads(n)
        print("Ember kernels — \(n) thread(s), median of \(samples) samples; \(machineLine())\n")
        // Bandwidth first: after the cblas column has woken OpenBLAS's own thread pool, its
        // threads spin for a while and steal the second core from OpenMP.
        print(bandwidthTable(samples: samples).render())
        print()
        print(gemmTable(threads: n, samples: samples).render())
    }
}

struct GemmShape {
    let name: String, m: Int, n: Int, k: Int, ta: Bool, tb: Bool
}

/// The quickstart's products at batch 64 (forward, then backward).
let quickstartGemms = [
    GemmShape(name: "fwd 64x784 · (512x784)ᵀ", m: 64, n: 512, k: 784, ta: false, tb: true),
    GemmShape(name: "fwd 64x512 · (512x512)ᵀ", m: 64, n: 512, k: 512, ta: false, tb: true),
    GemmShape(name: "fwd 64x512 · (10x512)ᵀ", m: 64, n: 10, k: 512, ta: false, tb: true),
    GemmShape(name: "dX  64x512 · 512x512", m: 64, n: 512, k: 512, ta: false, tb: false),
    GemmShape(name: "dX  64x10 · 10x512", m: 64, n: 512, k: 10, ta: false, tb: false),
    GemmShape(name: "dW  (64x512)ᵀ · 64x784", m: 512, n: 784, k: 64, ta: true, tb: false),
    GemmShape(name: "dW  (64x512)ᵀ · 64x512", m: 512, n: 512, k: 64, ta: true, tb: false),
    GemmShape(name: "dW  (64x10)ᵀ · 64x512", m: 10, n: 512, k: 64, ta: true, tb: false),
]

/// GEMM throughput per shape, measured the way training calls them: each "step" runs the
/// eight products in order and times every call; a shape's figure is its median over the
/// steps. (Repeating one shape back to back is not what training does: the caches would hold
/// exactly that product's operands.)
func gemmTable(threads: Int, samples: Int) -> Table {
    let steps = max(50, samples * 10)
    let operands = quickstartGemms.map { s in
        (a: Tensor.rand([s.m * s.k]), b: Tensor.rand([s.k * s.n]), c: Tensor.zeros([s.m * s.n]))
    }
    typealias Call = (GemmShape, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
    func medians(_ call: Call) -> [Double] {
        var times = [[Double]](repeating: [], count: quickstartGemms.count)
        for step in 0..<(steps + 5) {
            for (i, s) in quickstartGemms.enumerated() {
                let o = operands[i]
                o.a.withUnsafeFloats { pa in o.b.withUnsafeFloats { pb in o.c.withUnsafeMutableFloats { pc in
                    let t0 = now()
                    call(s, pa.baseAddress!, pb.baseAddress!, pc.baseAddress!)
                    if step >= 5 { times[i].append(now() - t0) }   // 5 warm-up steps
                } } }
            }
        }
        return times.map { $0.sorted()[$0.count / 2] }
    }
    // OpenBLAS's own threading at the same thread count: the floor Ember must match.
    ember_set_blas_threads(Int32(threads))
    // Ember touches each thread's OpenBLAS packing buffer before its first product (see
    // csrc/gemm.c); give OpenBLAS's own pool the same start with one large product.
    let big = Tensor.zeros([1024 * 1024]), bigOut = Tensor.zeros([1024 * 1024])
    big.withUnsafeFloats { p in bigOut.withUnsafeMutableFloats { c in
        ember_cblas_sgemm(0, 0, 1024, 1024, 1024, 1, p.baseAddress!, 1024, p.baseAddress!, 1024, 0,
                          c.baseAddress!, 1024)
    } }
    let blas = medians { s, a, b, c in
        ember_cblas_sgemm(s.ta ? 1 : 0, s.tb ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), 1, a,
                          Int64(s.ta ? s.m : s.k), b, Int64(s.tb ? s.k : s.n), 0, c, Int64(s.n))
    }
    setNumThreads(threads)   // back to Ember's budget (OpenBLAS pinned to 1 thread)
    let ember = medians { s, a, b, c in
        ember_sgemm(s.ta ? 1 : 0, s.tb ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), 1, a,
                    Int64(s.ta ? s.m : s.k), b, Int64(s.tb ? s.k : s.n), 0, c, Int64(s.n))
    }
    // Through the public Tensor API where it has a spelling: linear() (x·Wᵀ) for the forward
    // shapes and matmul for the untransposed dX products; dW products happen inside autograd.
    let tensors = operands.enumerated().map { i, o -> (Tensor, Tensor)? in
        let s = quickstartGemms[i]
        if s.tb && !s.ta { return (o.a.reshaped([s.m, s.k]), o.b.reshaped([s.n, s.k])) }
        if !s.ta && !s.tb { return (o.a.reshaped([s.m, s.k]), o.b.reshaped([s.k, s.n])) }
        return nil
    }
    let viaTensor = medians { s, _, _, _ in
        let i = quickstartGemms.firstIndex { $0.name == s.name }!
        guard let (x, w) = tensors[i] else { return }
        _ = noGrad { s.tb ? linear(x, w) : x.matmul(w) }
    }
    var table = Table("sgemm shape", "cblas_sgemm GFLOP/s", "Ember GFLOP/s", "Ember/cblas",
                      "Tensor op GFLOP/s", "Tensor/cblas")
    for (i, s) in quickstartGemms.enumerated() {
        let flops = 2.0 * Double(s.m * s.n * s.k)
        let tensorCells = tensors[i] == nil ? ["–", "–"] : [fmt(flops / viaTensor[i] / 1e9), fmt(blas[i] / viaTensor[i], 2)]
        table.add(s.name, fmt(flops / blas[i] / 1e9), fmt(flops / ember[i] / 1e9), fmt(blas[i] / ember[i], 2),
                  tensorCells[0], tensorCells[1])
    }
    let total = { (t: [Double]) in t.reduce(0, +) }
    let stepFlops = quickstartStepFlops(batch: 64)
    table.add("one step's 8 products", fmt(stepFlops / total(blas) / 1e9), fmt(stepFlops / total(ember) / 1e9),
              fmt(total(blas) / total(ember), 2), "", "")
    return table
}

/// relu, softmax-cross-entropy and the SGD update next to memcpy of the same bytes.
/// Sizes: 64×512 and 64×10 (the quickstart's activations and logits, one thread), 256×1024
/// (1 MB, in cache, both threads) and 4M elements (from memory); the cross-entropy sees them
/// as (N, C) logits: (64, 512), (64, 10), (256, 1024), (4096, 1024).
func bandwidthTable(samples: Int) -> Table {
    var table = Table("kernel", "size", "bytes moved", "kernel GB/s", "memcpy GB/s", "kernel/memcpy")
    for (label, rows, cols) in [("64x512", 64, 512), ("64x10", 64, 10), ("256x1024", 256, 1024), ("4M", 4096, 1024)] {
        let count = rows * cols
        let x = Tensor.randn([count]), out = Tensor.zeros([count]), g = Tensor.randn([count])
        let p = Tensor.randn([count])
        // memcpy of `bytes` bytes moves 2·bytes (read + write): compare like with like.
        func copyGBs(_ bytes: Int) -> Double {
            let src = Tensor.zeros([bytes / 4]), dst = Tensor.zeros([bytes / 4])
            let t = src.withUnsafeFloats { ps in dst.withUnsafeMutableFloats { pd in
                timePerCall(samples: samples) { memcpy(pd.baseAddress!, ps.baseAddress!, bytes) }
            } }
            return Double(2 * bytes) / t / 1e9
        }
        func row(_ name: String, _ moved: Int, _ t: Double) {
            let gbs = Double(moved) / t / 1e9, copy = copyGBs(moved / 2)
            table.add(name, label, "\(moved)", fmt(gbs), fmt(copy), fmt(gbs / copy, 2))
        }
        // relu: read n, write n floats.
        let tRelu = x.withUnsafeFloats { px in out.withUnsafeMutableFloats { po in
            timePerCall(samples: samples) { ember_relu_forward(po.baseAddress, px.baseAddress, Int64(count)) }
        } }
        row("relu forward", 8 * count, tRelu)
        // softmax-cross-entropy forward: read logits and targets, write probabilities and row losses.
        let targets = Tensor.randint(0, cols, [rows])
        let losses = Tensor.zeros([rows])
        let tCE = x.withUnsafeFloats { px in out.withUnsafeMutableFloats { po in losses.withUnsafeMutableFloats { pl in
            targets.withUnsafeInt64s { pt in
                timePerCall(samples: samples) {
                    var ws = 0.0
                    _ = ember_cross_entropy_forward(pl.baseAddress, po.baseAddress, px.baseAddress, pt.baseAddress,
                                                    nil, Int64(rows), Int64(cols), 0, &ws)
                }
            }
        } } }
        row("softmax-cross-entropy fwd", 8 * count + 16 * rows, tCE)
        // Its backward: read the kept probabilities, write dlogits (the mean's gradient).
        let dloss: [Float] = [1]
        let grad = Tensor.zeros([count])
        let tCEBack = out.withUnsafeFloats { pp in grad.withUnsafeMutableFloats { pg in targets.withUnsafeInt64s { pt in
            timePerCall(samples: samples) {
                ember_cross_entropy_backward(pg.baseAddress, pp.baseAddress, pt.baseAddress, nil, dloss, 0,
                                             1 / Float(rows), Int64(rows), Int64(cols), 0)
            }
        } } }
        row("softmax-cross-entropy bwd", 8 * count + 8 * rows, tCEBack)
        // SGD (no momentum, the quickstart's): read p and g, write p.
        let tSGD = g.withUnsafeFloats { pg in p.withUnsafeMutableFloats { pp in
            timePerCall(samples: samples) {
                ember_sgd_step(pp.baseAddress, pg.baseAddress, nil, Int64(count), 1e-9, 0, 0, 0, 0, 0, 0)
            }
        } }
        row("SGD update", 12 * count, tSGD)
    }
    return table
}

func machineLine() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    return "\(cpu), \(numCores()) cores, Ember GEMM path \(cpuCapability), OpenBLAS core "
        + String(cString: ember_openblas_corename())
}
