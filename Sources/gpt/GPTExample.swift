// A character-level GPT (nanoGPT's shape, EmberModels.GPT) trained on a real English corpus
// that is on the machine offline: Debian's `fortunes` (scripts/install-deps.sh installs it).
// AdamW with weight decay on the matrices only, linear warm-up then cosine decay, gradient
// clipping; prints the unigram baseline, the validation loss as it falls and a sample.
import ArgumentParser
import Ember
import EmberModels
import ExampleSupport
import Foundation

@main
struct GPTExample: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpt",
        abstract: "Train a character-level GPT on Debian's fortunes and sample from it.",
        discussion: "Defaults: 4 layers, 4 heads, width 128, block 64, batch 32, 1500 AdamW steps.")

    @Option(help: "Transformer blocks.") var layers = 4
    @Option(help: "Attention heads per block.") var heads = 4
    @Option(help: "Embedding width.") var width = 128
    @Option(help: "Context length in characters.") var blockSize = 64
    @Option(help: "Sequences per batch.") var batchSize = 32
    @Option(help: "Optimizer steps.") var steps = 1500
    @Option(help: "Peak learning rate (default 2e-3; with --record, 1e-3).") var lr: Double?
    @Option(help: "Final learning rate of the cosine decay.") var minLr = 2e-4
    @Option(help: "Linear warm-up steps.") var warmup = 100
    @Option(help: "AdamW weight decay (matrices and embeddings only).") var weightDecay = 0.1
    @Option(help: "Dropout in embeddings, attention and residuals.") var dropout = 0.0
    @Option(help: "Clip the gradient's global 2-norm to this (0: off).") var gradClip = 1.0
    @Option(help: "Evaluate every this many steps (a multiple of 100 draws evenly on --plot).") var evalInterval = 250
    @Option(help: "Batches per validation estimate.") var evalIters = 20
    @Option(help: "Characters to generate after training (0: none).") var sample = 400
    @Option(help: "Sampling temperature.") var temperature = 0.8
    @Option(help: "Sample among the k most likely characters (0: all).") var topK = 20
    @Option(help: "Seed for weights, batches and sampling.") var seed: UInt64 = 1337
    @Option(help: "Kernel threads (default: all cores).") var threads: Int?
    @Option(help: "A text file or a folder of them (fortunes' .dat indexes and links are skipped).")
    var corpus = "/usr/share/games/fortunes"
    @Option(help: "Where to save the trained model (safetensors).") var save = "gpt.safetensors"
    @Option(help: "Write an SVG learning curve to this file.") var plot: String?
    @Flag(help: "An output head of its own instead of the token embedding's transpose.") var untiedHead = false
    @Flag(help: "Show a progress bar over the training steps (on a terminal).") var progress = false
    @Option(help: ArgumentHelp(
        "Instead of training: write the initial weights (DIR/init.safetensors), --record-steps training batches and the loss of each AdamW step at a constant --lr (DIR/steps.json), then stop.",
        discussion: "bench/gpt_from_ember.py DIR replays them in PyTorch from the same weights. The record's lr is 1e-3 unless --lr says otherwise: at the training peak 2e-3 without warm-up the default model's loss spikes at step 6, after which float32 rounding alone (PyTorch against itself from weights moved by 1e-7) moves step 10 by up to 6e-4, past the replay's 1e-4.",
        valueName: "DIR"))
    var record: String?
    @Option(help: "Steps written by --record.") var recordSteps = 10

    func run() throws {
        if let threads { setNumThreads(threads) }
        manualSeed(seed)
        let text = try CharCorpus(path: corpus)
        let data = text.encode(text.text)
        let split = data.count * 9 / 10
        let train = Array(data[..<split]), val = Array(data[split...])
        guard train.count > blockSize + 1, val.count > blockSize + 1 else {
            throw ValidationError("\(corpus): \(data.count) characters is too little text for a block of \(blockSize)")
        }
        print("corpus: \(corpus), \(data.count) characters, vocabulary \(text.vocabulary.count); "
              + "train \(train.count), validation \(val.count)")
        print("unigram baseline (validation cross-entropy of the training set's character frequencies): "
              + String(format: "%.4f", text.unigramCrossEntropy(train: train, validation: val)))

        let model = GPT(.init(vocabSize: text.vocabulary.count, blockSize: blockSize, nLayer: layers, nHead: heads,
                              nEmbd: width, dropout: dropout, tiedHead: !untiedHead))
        print("parameters: \(model.parameterCount(nonEmbedding: false)) "
              + "(\(model.parameterCount()) without the position embedding)")

        // Weight decay on matrices and embeddings, none on biases and LayerNorm (nanoGPT's groups).
        let peakLR = lr ?? 2e-3
        let optimizer = model.nanoGPTAdamW(lr: peakLR, weightDecay: weightDecay)
        let schedule = SequentialLR(optimizer, schedulers: [
            LinearLR(optimizer, startFactor: 1.0 / Double(max(warmup, 1)), endFactor: 1, totalIters: max(warmup, 1)),
            CosineAnnealingLR(optimizer, tMax: max(steps - warmup, 1), etaMin: minLr),
        ], milestones: [max(warmup, 1)])

        let batches = Generator(seed: seed &+ 1)
        func batch(_ source: [Int], _ g: Generator) -> (x: Tensor, y: Tensor) {
            let starts = Tensor.randint(0, source.count - blockSize - 1, [batchSize], generator: g).toIntArray()
            var xs: [Int] = [], ys: [Int] = []
            xs.reserveCapacity(batchSize * blockSize)
            ys.reserveCapacity(batchSize * blockSize)
            for s in starts {
                xs += source[s..<s + blockSize]
                ys += source[s + 1..<s + blockSize + 1]
            }
            return (Tensor(xs, shape: [batchSize, blockSize]), Tensor(ys, shape: [batchSize, blockSize]))
        }
        if let record {
            try writeRecord(model, batches: (0..<recordSteps).map { _ in batch(train, batches) }, to: record)
            return
        }
        func loss(_ x: Tensor, _ y: Tensor) -> Tensor {
            crossEntropy(model(x).flattened(endDim: 1), y.flattened())
        }
        // Validation batches are the same at every evaluation, so the curve compares like with like.
        func validationLoss() -> Double {
            model.eval()
            defer { model.train() }
            let g = Generator(seed: seed &+ 2)
            return noGrad {
                (0..<evalIters).reduce(0.0) { acc, _ in let (x, y) = batch(val, g); return acc + loss(x, y).item() }
            } / Double(evalIters)
        }

        var curve = LearningCurve(title: "Ember gpt: \(layers) layers, width \(width), block \(blockSize), fortunes")
        curve.xAxisLabel = "training steps / 100"
        let v0 = validationLoss()
        print("step     0: validation loss \(String(format: "%.4f", v0))")
        curve.addTest(epoch: 0, accuracy: .nan, loss: v0)
        // A bar per evaluation interval, so the evaluation lines print between bars.
        var bar: ProgressBar?
        let start = Date()
        var recent: [Double] = []
        let parameters = model.parameters()
        for step in 1...steps {
            let (x, y) = batch(train, batches)
            let l = loss(x, y)
            l.backward()
            if gradClip > 0 { clipGradNorm_(parameters, maxNorm: gradClip) }
            optimizer.step()
            optimizer.zeroGrad()
            schedule.step()
            let value = l.item()
            recent.append(value)
            curve.addTrainingLoss(epoch: Double(step) / 100, loss: value)
            if progress && bar == nil {
                bar = ProgressBar(total: min(evalInterval, steps - step + 1), unit: "step", description: "training")
            }
            bar?.update(1)
            if step % evalInterval == 0 || step == steps {
                bar?.finish()
                bar = nil
                let v = validationLoss()
                let trainMean = recent.reduce(0, +) / Double(recent.count)
                recent.removeAll()
                print(String(format: "step %5d: train loss %.4f, validation loss %.4f, lr %.2e, %.1f s",
                             step, trainMean, v, optimizer.paramGroups[0].lr ?? peakLR, Date().timeIntervalSince(start)))
                if step % 100 == 0 { curve.addTest(epoch: step / 100, accuracy: .nan, loss: v) }
            }
        }
        try model.save(to: save)
        print("Saved the model to \(save)")
        if let plot {
            try curve.write(to: plot)
            print("Wrote the learning curve to \(plot)")
        }
        if sample > 0 {
            print("\nsample (temperature \(temperature), top-k \(topK)):\n")
            print(generate(model, text, count: sample))
        }
    }

    /// `--record`: the initial weights, then `recordSteps` steps on `batches` (constant lr, no
    /// schedule, so that PyTorch's replay needs nothing but AdamW) and their losses.
    func writeRecord(_ model: GPT, batches: [(x: Tensor, y: Tensor)], to dir: String) throws {
        guard dropout == 0 else { throw ValidationError("--record needs --dropout 0 (a replay must be deterministic)") }
        guard recordSteps > 0 else { throw ValidationError("--record-steps must be positive, got \(recordSteps)") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let weights = dir + "/init.safetensors", steps = dir + "/steps.json"
        try model.save(to: weights)
        let lr = self.lr ?? 1e-3
        let losses = GPTStepRecord.train(model, on: batches, lr: lr, weightDecay: weightDecay, gradClip: gradClip)
        let record = GPTStepRecord(config: .init(model.config), seed: seed, batch: batchSize, lr: lr,
                                   weightDecay: weightDecay, gradClip: gradClip,
                                   batches: batches.map { .init(x: $0.x.toIntArray(), y: $0.y.toIntArray()) },
                                   losses: losses)
        try record.encoded().write(to: URL(fileURLWithPath: steps))
        print("Ember's losses: " + losses.map { String(format: "%.6f", $0) }.joined(separator: ", "))
        print("Wrote the initial weights to \(weights) and \(batches.count) batches with their losses to \(steps); "
              + "replay them in PyTorch with: python bench/gpt_from_ember.py \(dir)")
    }

    /// Characters drawn one at a time from the model's next-character distribution, starting
    /// from a newline, with the context cut to the last `blockSize` characters.
    func generate(_ model: GPT, _ text: CharCorpus, count: Int) -> String {
        model.eval()
        let g = Generator(seed: seed &+ 3)
        var context = text.index["\n"].map { [$0] } ?? [0]   // a newline starts a fortune
        var out: [Int] = []
        noGrad {
            for _ in 0..<count {
                let window = Array(context.suffix(blockSize))
                let logits = model(Tensor(window, shape: [1, window.count]))[0, -1]
                var scaled = logits / temperature
                if topK > 0 && topK < scaled.count {
                    let kth = scaled.topk(topK).values[-1].item()
                    scaled = scaled.maskedFill(scaled < kth, value: -.infinity)
                }
                let probs = scaled.softmax(dim: -1).toArray()
                var u = Tensor.rand([1], generator: g).item(), next = probs.count - 1
                for (i, p) in probs.enumerated() {
                    u -= Double(p)
                    if u < 0 { next = i; break }
                }
                context.append(next)
                out.append(next)
            }
        }
        return text.decode(out)
    }
}

/// A corpus read as Unicode scalars, with a vocabulary of the distinct ones in sorted order.
struct CharCorpus {
    let text: String
    let vocabulary: [Unicode.Scalar]
    let index: [Unicode.Scalar: Int]

    init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ValidationError("\(path): no such file or folder (Debian's corpus: apt-get install fortunes)")
        }
        var files = [path]
        if isDir.boolValue {
            let names = try FileManager.default.contentsOfDirectory(atPath: path).sorted()
            files = names.filter { !$0.hasSuffix(".dat") && !$0.hasSuffix(".u8") && !$0.hasPrefix(".") }
                .map { path + "/" + $0 }
                .filter { (try? FileManager.default.destinationOfSymbolicLink(atPath: $0)) == nil }
        }
        var text = ""
        for file in files {
            guard let data = FileManager.default.contents(atPath: file) else {
                throw ValidationError("\(file): cannot be read")
            }
            text += String(decoding: data, as: UTF8.self)
        }
        self.text = text
        vocabulary = Set(text.unicodeScalars).sorted { $0.value < $1.value }
        index = Dictionary(uniqueKeysWithValues: vocabulary.enumerated().map { ($1, $0) })
    }

    func encode(_ s: String) -> [Int] { s.unicodeScalars.map { index[$0]! } }

    func decode(_ ids: [Int]) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: ids.map { vocabulary[$0] })
        return String(s)
    }

    /// −Σ p_val(c) log p_train(c): the loss of a model that knows only character frequencies
    /// (add-one smoothed, so a character unseen in training costs a finite amount).
    func unigramCrossEntropy(train: [Int], validation: [Int]) -> Double {
        var counts = [Double](repeating: 1, count: vocabulary.count)
        for t in train { counts[t] += 1 }
        let total = counts.reduce(0, +)
        return -validation.reduce(0.0) { $0 + log(counts[$1] / total) } / Double(validation.count)
    }
}
