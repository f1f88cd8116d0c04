import ArgumentParser
import Ember
import Foundation

/// Strided tensors: what views cost and how strided kernels compare with their contiguous
/// counterparts and with memcpy, measured side by side in alternating rounds.
struct OpsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ops",
        abstract: "View creation, contiguous() of a transpose, strided elementwise and cat vs memcpy.")

    @Option(help: "Threads (default: all cores).") var threads: Int?
    @Option(help: "Alternating rounds; each ratio is reported as median (min–max).") var rounds = 7
    @Option(help: "Timing samples per measurement within a round.") var samples = 5

    func run() throws {
        let n = threads ?? numCores()
        setNumThreads(n)
        let avx2 = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?.contains(" avx2") ?? false
        print("Ember ops — \(n) thread(s), \(rounds) alternating rounds; \(machineLine()); "
              + "elementwise path \(avx2 ? "avx2" : "baseline x86-64")\n")

        let x = Tensor.randn([1024, 1024], generator: Generator(seed: 1))
        let t = x.T
        let a = Tensor.randn([1024, 512], generator: Generator(seed: 2)), b = Tensor.randn([1024, 512], generator: Generator(seed: 3))
        let bytes = x.count * 4
        let src = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        let dst = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
        defer { src.deallocate(); dst.deallocate() }
        memset(src, 1, bytes)
        let memcpyTime = { timePerCall(samples: samples) { memcpy(dst, src, bytes) } }

        var viewNs: [Double] = [], subscriptNs: [Double] = []
        var transposeRatio: [Double] = [], stridedRatio: [Double] = [], stridedUnaryRatio: [Double] = [], catRatio: [Double] = []
        for _ in 0..<rounds {
            viewNs.append(timePerCall(samples: samples) { _ = x.transposed(0, 1) } * 1e9)
            subscriptNs.append(timePerCall(samples: samples) { _ = x[.all, 1..<3] } * 1e9)
            let m1 = memcpyTime()
            let tc = timePerCall(samples: samples) { _ = t.contiguous() }
            transposeRatio.append(m1 / tc)
            let contiguousMul = timePerCall(samples: samples) { _ = x * x }
            let stridedMul = timePerCall(samples: samples) { _ = t * t }
            stridedRatio.append(contiguousMul / stridedMul)
            let contiguousExp = timePerCall(samples: samples) { _ = x.exp() }
            let stridedExp = timePerCall(samples: samples) { _ = t.exp() }
            stridedUnaryRatio.append(contiguousExp / stridedExp)
            let m2 = memcpyTime()
            let cat = timePerCall(samples: samples) { _ = Tensor.cat([a, b], dim: 1) }
            catRatio.append(m2 / cat)
        }
        func stats(_ v: [Double], _ digits: Int = 2) -> String {
            let s = v.sorted()
            return "\(fmt(s[s.count / 2], digits)) (\(fmt(s.first!, digits))–\(fmt(s.last!, digits)))"
        }
        var table = Table("measure", "median (min–max)", "target")
        table.add("view creation: transposed(0, 1)", stats(viewNs, 0) + " ns", "O(1)")
        table.add("view creation: x[.all, 1..<3]", stats(subscriptNs, 0) + " ns", "O(1)")
        table.add("contiguous() of a transposed 1024x1024 / memcpy", stats(transposeRatio) + "x", "≥ 0.3x")
        table.add("t * t strided / contiguous (1024x1024)", stats(stridedRatio) + "x", "≥ 0.5x")
        table.add("t.exp() strided / contiguous (1024x1024)", stats(stridedUnaryRatio) + "x", "≥ 0.5x")
        table.add("cat([1024x512, 1024x512], dim: 1) / memcpy", stats(catRatio) + "x", "≥ 0.7x")
        print(table.render())
    }
}
