import ArgumentParser
import CEmber
import Ember
import Foundation

/// Measures where forking an OpenMP team starts to pay for an elementwise kernel, which
/// sets `parallelThreshold` (csrc/threads.c).
struct ThresholdCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "threshold",
        abstract: "relu time on 1 thread vs all threads by size: where parallelism starts to pay.")

    @Option(help: "Timing samples per measurement.") var samples = 21

    func run() throws {
        let n = numCores()
        let saved = parallelThreshold
        defer { parallelThreshold = saved; setNumThreads(n) }
        print("relu forward, 1 thread vs \(n) threads (threshold forced to 1); \(machineLine())\n")
        var table = Table("elements", "1 thread µs", "\(n) threads µs", "speed-up")
        var crossover: Int?
        for count in [256, 1024, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 1 << 20] {
            let x = Tensor.randn([count]), out = Tensor.zeros([count])
            parallelThreshold = 1
            func time(_ threads: Int) -> Double {
                setNumThreads(threads)
                return x.withUnsafeFloats { px in out.withUnsafeMutableFloats { po in
                    timePerCall(samples: samples) { ember_relu_forward(po.baseAddress, px.baseAddress, Int64(count)) }
                } }
            }
            let t1 = time(1), tn = time(n)
            if crossover == nil && tn < t1 * 0.9 { crossover = count }
            table.add("\(count)", fmt(t1 * 1e6, 2), fmt(tn * 1e6, 2), fmt(t1 / tn, 2))
        }
        print(table.render())
        print("\nfirst size where \(n) threads win by >10%: \(crossover.map(String.init) ?? "none")"
              + " (Ember's default threshold: \(saved))")
    }
}
