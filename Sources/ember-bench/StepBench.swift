import ArgumentParser
import Ember
import Foundation

/// One quickstart training step (784-512-512-10 MLP, batch 64, SGD), with and without the
/// buffer cache: what reusing buffers saves in time and page faults. Before any of that, the
/// forward pass alone under `noGrad` (a test pass), as the first GEMM work of the process:
/// that is where OpenBLAS's untouched packing buffers used to cost 2.6x (see csrc/gemm.c).
struct StepCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "Quickstart training-step time and page faults, buffer cache on vs off.")

    @Option(help: "Steps per measurement.") var steps = 500
    @Option(help: "Threads (default: all cores).") var threads: Int?

    func run() throws {
        setNumThreads(threads ?? numCores())
        print("quickstart MLP, batch 64, \(numThreads()) thread(s); \(machineLine())\n")
        let forward = measureForward(steps)
        var inference = Table("forward only (noGrad), first work in the process", "ms/batch", "GFLOP/s")
        inference.add("784-512-512-10, batch 64", fmt(forward, 3), fmt(quickstartForwardFlops(batch: 64) / forward / 1e6, 1))
        print(inference.render() + "\n")
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

/// Milliseconds per forward pass under `noGrad`, the model's first use in the process.
func measureForward(_ batches: Int) -> Double {
    let model = quickstartModel()
    let x = Tensor.rand([64, 1, 28, 28], generator: Generator(seed: 1))
    return noGrad {
        for _ in 0..<5 { _ = model(x) }
        let t0 = now()
        for _ in 0..<batches { _ = model(x) }
        return (now() - t0) / Double(batches) * 1e3
    }
}

func measureSteps(_ steps: Int) -> (msPerStep: Double, faultsPerStep: Double, hitsPerStep: Double) {
    let model = quickstartModel()
    let optimizer = SGD(model.parameters(), lr: 1e-3)
    let lossFn = CrossEntropyLoss()
    let g = Generator(seed: 0)
    let x = Tensor.rand([64, 1, 28, 28], generator: g), y = Tensor.randint(0, 10, [64], generator: g)
    func step() {
        lossFn(model(x), y).backward()
        optimizer.step()
        optimizer.zeroGrad()
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
