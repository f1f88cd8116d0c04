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
        print(gemmTable(threads: n, samples: samples).render())
        print()
        print(bandwidthTable(samples: samples).render())
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

func gemmTable(threads: Int, samples: Int) -> Table {
    var table = Table("sgemm shape", "cblas_sgemm GFLOP/s", "Ember GFLOP/s", "Ember/cblas",
                      "Tensor op GFLOP/s", "Tensor/cblas")
    for s in quickstartGemms {
        let a = Tensor.rand([s.m * s.k]), b = Tensor.rand([s.k * s.n])
        let c = Tensor.zeros([s.m * s.n])
        let lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n
        let flops = 2.0 * Double(s.m * s.n * s.k)
        // OpenBLAS's own threading at the same thread count: the floor Ember must match.
        ember_set_blas_threads(Int32(threads))
        let tBlas = a.withUnsafeFloats { pa in b.withUnsafeFloats { pb in c.withUnsafeMutableFloats { pc in
            timePerCall(samples: samples) {
                ember_cblas_sgemm(s.ta ? 1 : 0, s.tb ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), 1, pa.baseAddress,
                                  Int64(lda), pb.baseAddress, Int64(ldb), 0, pc.baseAddress, Int64(s.n))
            }
        } } }
        setNumThreads(threads)   // back to Ember's budget (OpenBLAS pinned to 1 thread)
        let tEmber = a.withUnsafeFloats { pa in b.withUnsafeFloats { pb in c.withUnsafeMutableFloats { pc in
            timePerCall(samples: samples) {
                ember_sgemm(s.ta ? 1 : 0, s.tb ? 1 : 0, Int64(s.m), Int64(s.n), Int64(s.k), 1, pa.baseAddress,
                            Int64(lda), pb.baseAddress, Int64(ldb), 0, pc.baseAddress, Int64(s.n))
            }
        } } }
        // Through the public Tensor API: linear() for forward shapes, matmul otherwise
        // (matmul has no transpose flags, so it is only timed where none is needed).
        var tensorCells = ["–", "–"]
        if s.tb && !s.ta {
            let x = a.reshaped([s.m, s.k]), w = b.reshaped([s.n, s.k])
            let t = timePerCall(samples: samples) { _ = noGrad { linear(x, w) } }
            tensorCells = [fmt(flops / t / 1e9), fmt(tBlas / t, 2)]
        } else if !s.ta && !s.tb {
            let x = a.reshaped([s.m, s.k]), w = b.reshaped([s.k, s.n])
            let t = timePerCall(samples: samples) { _ = noGrad { x.matmul(w) } }
            tensorCells = [fmt(flops / t / 1e9), fmt(tBlas / t, 2)]
        }
        table.add(s.name, fmt(flops / tBlas / 1e9), fmt(flops / tEmber / 1e9), fmt(tBlas / tEmber, 2),
                  tensorCells[0], tensorCells[1])
    }
    return table
}

func bandwidthTable(samples: Int) -> Table {
    var table = Table("kernel", "elements", "bytes moved", "kernel GB/s", "memcpy GB/s", "kernel/memcpy")
    for (label, count) in [("64x512", 64 * 512), ("64x10", 64 * 10), ("4M", 4 << 20)] {
        let x = Tensor.randn([count]), out = Tensor.zeros([count]), g = Tensor.randn([count])
        let p = Tensor.randn([count])
        // relu: read n, write n floats.
        let tRelu = x.withUnsafeFloats { px in out.withUnsafeMutableFloats { po in
            timePerCall(samples: samples) { ember_relu_forward(po.baseAddress, px.baseAddress, Int64(count)) }
        } }
        // softmax-cross-entropy over (rows, 10) logits: read logits, write probs and row losses.
        let rows = count / 10
        let targets = Tensor.randint(0, 10, [rows])
        let losses = Tensor.zeros([rows])
        let tCE = x.withUnsafeFloats { px in out.withUnsafeMutableFloats { po in losses.withUnsafeMutableFloats { pl in
            targets.withUnsafeInt64s { pt in
                timePerCall(samples: samples) {
                    var ws = 0.0
                    _ = ember_cross_entropy_forward(pl.baseAddress, po.baseAddress, px.baseAddress, pt.baseAddress,
                                                    nil, Int64(rows), 10, 0, &ws)
                }
            }
        } } }
        // SGD (no momentum, the quickstart's): read p and g, write p.
        let tSGD = g.withUnsafeFloats { pg in p.withUnsafeMutableFloats { pp in
            timePerCall(samples: samples) {
                ember_sgd_step(pp.baseAddress, pg.baseAddress, nil, Int64(count), 1e-9, 0, 0, 0, 0, 0, 0)
            }
        } }
        let tCopy = x.withUnsafeFloats { px in out.withUnsafeMutableFloats { po in
            timePerCall(samples: samples) { memcpy(po.baseAddress!, px.baseAddress!, count * 4) }
        } }
        let copyGBs = Double(2 * 4 * count) / tCopy / 1e9   // read + write
        func row(_ name: String, _ bytes: Int, _ t: Double) {
            let gbs = Double(bytes) / t / 1e9
            table.add(name, label, "\(bytes)", fmt(gbs), fmt(copyGBs), fmt(gbs / copyGBs, 2))
        }
        row("relu forward", 8 * count, tRelu)
        row("softmax-cross-entropy fwd", 4 * count * 2 + 4 * rows * 2 + 8 * rows, tCE)
        row("SGD update", 12 * count, tSGD)
    }
    return table
}

func machineLine() -> String {
    let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
        .split(separator: "\n").first { $0.hasPrefix("model name") }?
        .split(separator: ":").last?.trimmingCharacters(in: .whitespaces) ?? "unknown CPU"
    return "\(cpu), \(numCores()) cores"
}
