// pytorch/examples' MNIST CNN trained on the real FashionMNIST: the step after the
// quickstart (convolutions, max pooling, dropout, optionally batch norm), with Adam and a
// shuffled training set by default.
import ArgumentParser
import Ember
import EmberModels
import ExampleSupport
import Foundation

enum OptimizerChoice: String, ExpressibleByArgument, CaseIterable {
    case sgd, adam, adamw
}

@main
struct CNN: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cnn",
        abstract: "Train pytorch/examples' MNIST CNN on FashionMNIST and save it.",
        discussion: "Conv2d(1,32,3) ReLU Conv2d(32,64,3) ReLU MaxPool2d(2) Dropout(0.25) Flatten Linear(9216,128) ReLU Dropout(0.5) Linear(128,10); --batch-norm adds a BatchNorm2d after each convolution.")

    @Option(help: "Training epochs.") var epochs = 5
    @Option(help: "Samples per training batch.") var batchSize = 64
    @Option(help: "Samples per test batch.") var testBatchSize = 250
    @Option(help: "Learning rate.") var lr = 1e-3
    @Option(help: "sgd, adam or adamw.") var optimizer: OptimizerChoice = .adam
    @Option(help: "Seed for weights, dropout and shuffling.") var seed: UInt64 = 1
    @Option(help: "Kernel threads (default: all cores).") var threads: Int?
    @Option(help: "DataLoader worker threads (default: Ember's measured default).") var workers: Int?
    @Option(help: "Dataset root: FashionMNIST goes to ROOT/FashionMNIST/raw.") var root = "data"
    @Option(help: "Write an SVG learning curve to this file.") var plot: String?
    @Option(help: "Where to save the trained model (safetensors).") var save = "cnn.safetensors"
    @Flag(help: "Add a BatchNorm2d after each convolution.") var batchNorm = false
    @Flag(help: "Keep the training set in order (default: shuffled every epoch).") var noShuffle = false
    @Flag(help: "Show a progress bar per epoch (on a terminal).") var progress = false
    @Flag(help: "Print `epoch_time train=..s test=..s rss=..MB` after each epoch.") var timings = false

    func run() throws {
        if let threads { setNumThreads(threads) }
        manualSeed(seed)
        let trainingData = try FashionMNIST(root: root, train: true, download: true, transform: ToTensor())
        let testData = try FashionMNIST(root: root, train: false, download: false, transform: ToTensor())
        let trainLoader = DataLoader(trainingData, batchSize: batchSize, shuffle: !noShuffle, numWorkers: workers, seed: seed)
        let testLoader = DataLoader(testData, batchSize: testBatchSize, numWorkers: workers)

        let model = MNISTConvNet(batchNorm: batchNorm)
        print(model)
        let lossFn = CrossEntropyLoss()
        let optimizer: Optimizer = switch self.optimizer {
        case .sgd: SGD(model.parameters(), lr: lr, momentum: 0.9)
        case .adam: Adam(model.parameters(), lr: lr)
        case .adamw: AdamW(model.parameters(), lr: lr)
        }

        var curve = LearningCurve(title: "Ember cnn: FashionMNIST, \(self.optimizer.rawValue) lr=\(lr)\(batchNorm ? ", batch norm" : "")")
        let size = trainingData.count
        for epoch in 0..<epochs {
            print("Epoch \(epoch + 1)\n-------------------------------")
            let start = Date()
            model.train()
            let bar = progress ? ProgressBar(total: trainLoader.count, unit: "batch", description: "epoch \(epoch + 1)") : nil
            for (batch, (x, y)) in trainLoader.enumerated() {
                let loss = lossFn(model(x), y)
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
                bar?.update(1)
                if batch % 100 == 0 {
                    let seen = (batch + 1) * x.shape[0], value = loss.item()
                    curve.addTrainingLoss(epoch: Double(epoch) + Double(seen) / Double(size), loss: value)
                    if bar == nil { print(String(format: "loss: %7f  [%5ld/%5ld]", value, seen, size)) }
                }
            }
            bar?.finish()
            let trained = Date()
            let (accuracy, testLoss) = evaluate(model, testLoader, lossFn)
            print(String(format: "Test Error: \n Accuracy: %.1f%%, Avg loss: %8f \n", 100 * accuracy, testLoss))
            curve.addTest(epoch: epoch + 1, accuracy: accuracy, loss: testLoss)
            if timings {
                print(String(format: "epoch_time train=%.3fs test=%.3fs rss=%.1fMB", trained.timeIntervalSince(start),
                             Date().timeIntervalSince(trained), residentMB()))
            }
            if let plot { try curve.write(to: plot) }
        }
        try model.save(to: save)
        print("Saved \(save)")
    }

    /// This process's resident set now (VmRSS), in MB.
    func residentMB() -> Double {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") }
        return (line?.split(separator: " ").dropFirst().first.flatMap { Double($0) } ?? 0) / 1024
    }

    /// (accuracy in [0, 1], mean loss per batch) over the test set, in evaluation mode.
    func evaluate(_ model: Module, _ loader: DataLoader<FashionMNIST>, _ lossFn: CrossEntropyLoss) -> (Double, Double) {
        model.eval()
        var loss = 0.0, correct = 0.0
        noGrad {
            for (x, y) in loader {
                let logits = model(x)
                loss += lossFn(logits, y).item()
                correct += (logits.argmax(dim: 1) == y).type(.float32).sum().item()
            }
        }
        return (correct / Double(loader.dataset.count), loss / Double(loader.count))
    }
}
