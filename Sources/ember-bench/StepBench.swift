import ArgumentParser
import CEmber
import Ember
import Foundation

/// One quickstart training step (784-512-512-10 MLP, batch 64, SGD), with and without the
/// buffer cache: what reusing buffers saves in time and page faults.
struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Quickstart training-step time and page faults, buffer cache on vs off.")

    @Option(help: "Steps per measurement.") var steps = 500
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        setNumThreads(threads ?? numCores())
        print("quickstart MLP training step, batch 64, \(numThreads()) thread(s); \(machineLine())\n")
        var table = Table("buffer cache", "ms/step", "minor page faults/step", "cache hits/step")
        for enabled in [true, false, true] {
            BufferCache.shared.empty()
            BufferCache.shared.isEnabled = enabled
            let (ms, faults, hits) = measureSteps(steps)
            table.add(enabled ? "on" : "off", fmt(ms, 3), fmt(faults, 1), fmt(hits, 1))
        }
        BufferCache.shared.isEnabled = true
        print(table.render())
    }
}

func measureSteps(_ steps: Int) -> (msPerStep: Double, faultsPerStep: Double, hitsPerStep: Double) {
    let g = Generator(seed: 0)
    func layer(_ i: Int, _ o: Int) -> [Tensor] {
        let b = Float(1 / Double(i).squareRoot())
        return [Tensor.rand([o, i], low: -b, high: b, generator: g).requiringGrad(),
                Tensor.rand([o], low: -b, high: b, generator: g).requiringGrad()]
    }
    let params = layer(784, 512) + layer(512, 512) + layer(512, 10)
    let x = Tensor.rand([64, 1, 28, 28], generator: g), y = Tensor.randint(0, 10, [64], generator: g)
    func step() {
        var h = linear(x.flattened(startDim: 1), params[0], params[1]).relu()
        h = linear(h, params[2], params[3]).relu()
        let loss = crossEntropy(linear(h, params[4], params[5]), y)
        loss.backward()
        for p in params {
            let grad = p.grad!
            p.withUnsafeMutableFloats { pp in grad.withUnsafeFloats { pg in
                ember_sgd_step(pp.baseAddress, pg.baseAddress, nil, Int64(pp.count), 1e-3, 0, 0, 0, 0, 0, 0)
            } }
            p.grad = nil
        }
    }
    for _ in 0..<20 { step() }
    BufferCache.shared.resetCounters()
    var before = rusage(), after = rusage()
    getrusage(Int32(RUSAGE_SELF.rawValue), &before)
    let t0 = now()
    for _ in 0..<steps { step() }
    let t = now() - t0
    getrusage(Int32(RUSAGE_SELF.rawValue), &after)
    return (t / Double(steps) * 1e3, Double(after.ru_minflt - before.ru_minflt) / Double(steps),
            Double(BufferCache.shared.hits) / Double(steps))
}
