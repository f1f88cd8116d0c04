// `ember-bench attention`: scaled dot-product attention forward + backward, Ember's fused
// kernel in process against PyTorch's F.scaled_dot_product_attention in a child running
// bench/pytorch_attention.py, alternating round by round, at sequence lengths T = 64…1024.
// Memory: Ember's kernel keeps a constant per-thread workspace (no T×T scores); the table
// shows it beside the T×T buffer one materialised softmax would take, and PyTorch's peak
// resident set.
import ArgumentParser
import Ember
import Foundation

struct AttentionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "attention",
        abstract: "Scaled dot-product attention forward+backward vs PyTorch's (compute only), T = 64…1024.")

    @Option(help: "Alternating rounds.") var rounds = 5
    @Option(help: "Timed calls per round (each side).") var reps = 7
    @Option(help: "Batch.") var batch = 1
    @Option(help: "Heads.") var heads = 4
    @Option(help: "Head dim.") var dim = 64
    @Option(help: "Sequence lengths.") var lengths = "64,128,256,512,1024"
    @Flag(help: "Causal attention (both sides).") var causal = false
    @Option(help: "Threads for both (default: all cores).") var threads: Int?
    @Option(help: "Python with torch.") var python = ProcessInfo.processInfo.environment["EMBER_PYTHON"] ?? "/tmp/pytorch-reference/venv/bin/python"
    @Option(help: "bench/pytorch_attention.py.") var script = "bench/pytorch_attention.py"

    func run() throws {
        let nt = threads ?? numCores()
        setNumThreads(nt)
        print("SDPA forward+backward, (\(batch), \(heads), T, \(dim))\(causal ? " causal" : ""), \(nt) thread(s); \(machineLine())\n")
        let ts = lengths.split(separator: ",").compactMap { Int($0) }
        var table = Table("T", "Ember ms", "PyTorch ms", "Ember / PyTorch", "T×T scores per head (MB)",
                          "Ember workspace/thread (KB)", "PyTorch peak RSS (MB)")
        for t in ts {
            var ember: [Double] = [], torch: [Double] = [], rss: [Double] = []
            for _ in 1...rounds {
                ember.append(measureEmber(t))
                let side = try runPythonSide(python, script, [
                    "--t", "\(t)", "--b", "\(batch)", "--h", "\(heads)", "--d", "\(dim)", "--threads", "\(nt)",
                    "--reps", "\(reps)"] + (causal ? ["--causal"] : []), fields: ["ms", "maxrss_mb"])
                let (ms, mb) = (side["ms"]!, side["maxrss_mb"]!)
                torch.append(ms)
                rss.append(mb)
            }
            table.add("\(t)", spread(ember, 2), spread(torch, 2), spread(zip(ember, torch).map { $0 / $1 }, 2),
                      fmt(Double(t * t * 4) / 1e6, 2), fmt(Double(attentionWorkspaceBytes(backward: true)) / 1024, 0),
                      spread(rss, 0))
            print("T=\(t) done")
        }
        print("\nms: median (min–max) of \(rounds) alternating rounds, each the median of \(reps) calls\n")
        print(table.render())
    }

    /// Median ms of one forward + backward at length t.
    func measureEmber(_ t: Int) -> Double {
        let g = Generator(seed: 0)
        let shape = [batch, heads, t, dim]
        let q = Tensor.randn(shape, generator: g).requiringGrad(), k = Tensor.randn(shape, generator: g).requiringGrad()
        let v = Tensor.randn(shape, generator: g).requiringGrad(), w = Tensor.randn(shape, generator: g)
        func step() {
            scaledDotProductAttention(query: q, key: k, value: v, isCausal: causal).backward(w)
            for x in [q, k, v] { x.grad = nil }
        }
        for _ in 0..<2 { step() }
        return medianMilliseconds(reps, step)
    }
}
