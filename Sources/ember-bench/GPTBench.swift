// `ember-bench gpt`: the gpt example's model (EmberModels.GPT), compute only, against the same
// model in PyTorch (bench/pytorch_gpt.py) side by side: a training step (forward,
// cross-entropy, backward, clipping at 1.0, AdamW) on a fixed batch of token ids, Ember in
// process and PyTorch as a child, alternating round by round.
import ArgumentParser
import Ember
import EmberModels
import Foundation

struct GPTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt",
        abstract: "The gpt example's training step vs PyTorch's (compute only).")

    @Option(help: "Alternating rounds.") var rounds = 5
    @Option(help: "Timed training steps per round (each side).") var steps = 30
    @Option(help: "Threads for both (default: all cores).") var threads: Int?
    @Option(help: "Transformer blocks.") var layers = 4
    @Option(help: "Attention heads.") var heads = 4
    @Option(help: "Embedding width.") var width = 128
    @Option(help: "Context length.") var blockSize = 64
    @Option(help: "Sequences per batch.") var batchSize = 32
    @Option(help: "Vocabulary (the fortunes corpus has 113 characters).") var vocab = 113
    @Option(help: "Python with torch.") var python = ProcessInfo.processInfo.environment["EMBER_PYTHON"] ?? "/tmp/pytorch-reference/venv/bin/python"
    @Option(help: "bench/pytorch_gpt.py.") var script = "bench/pytorch_gpt.py"

    func run() throws {
        let nt = threads ?? numCores()
        setNumThreads(nt)
        print("GPT \(layers) layers, \(heads) heads, width \(width), block \(blockSize), batch \(batchSize), "
              + "vocab \(vocab), AdamW + clipping, \(nt) thread(s); \(machineLine())\n")
        var ember: [Double] = [], torch: [Double] = []
        for round in 1...rounds {
            ember.append(measureEmber())
            let ms = try runPythonSide(python, script, [
                "--threads", "\(nt)", "--steps", "\(steps)", "--layers", "\(layers)", "--heads", "\(heads)",
                "--width", "\(width)", "--block-size", "\(blockSize)", "--batch-size", "\(batchSize)",
                "--vocab", "\(vocab)"], fields: ["step_ms"])["step_ms"]!
            torch.append(ms)
            print("round \(round): Ember step \(fmt(ember.last!, 2)) ms | PyTorch step \(fmt(ms, 2)) ms")
        }
        var table = Table("ms, median (min–max) of \(rounds) rounds", "Ember", "PyTorch", "Ember / PyTorch (pairs)")
        table.add("training step", spread(ember, 2), spread(torch, 2), spread(zip(ember, torch).map { $0 / $1 }, 2))
        print("\n" + table.render())
    }

    /// Median ms of a training step after 5 warm-up steps.
    func measureEmber() -> Double {
        manualSeed(0)
        let model = GPT(.init(vocabSize: vocab, blockSize: blockSize, nLayer: layers, nHead: heads, nEmbd: width))
        let named = model.namedParameters()
        let optimizer = AdamW([ParamGroup(named.filter { $0.tensor.ndim >= 2 }.map(\.tensor), weightDecay: 0.1),
                               ParamGroup(named.filter { $0.tensor.ndim < 2 }.map(\.tensor), weightDecay: 0)],
                              lr: 1e-3, betas: (0.9, 0.99))
        let g = Generator(seed: 1)
        let x = Tensor.randint(0, vocab, [batchSize, blockSize], generator: g)
        let y = Tensor.randint(0, vocab, [batchSize, blockSize], generator: g)
        let parameters = model.parameters()
        func step() {
            let loss = crossEntropy(model(x).flattened(endDim: 1), y.flattened())
            optimizer.zeroGrad()
            loss.backward()
            clipGradNorm_(parameters, maxNorm: 1)
            optimizer.step()
        }
        for _ in 0..<5 { step() }
        return medianMilliseconds(steps, step)
    }
}
