// The PyTorch quickstart (shared/seed/pytorch-quickstart.md) in Swift, line for line where
// the seed has a line, on the real FashionMNIST. Flags only change the seed's settings.
import ArgumentParser
import Ember
import ExampleSupport
import Foundation

final class NeuralNetwork: Module {
    let flatten = Flatten()
    let linearReluStack = Sequential(
        Linear(28 * 28, 512),
        ReLU(),
        Linear(512, 512),
        ReLU(),
        Linear(512, 10)
    )

    override func forward(_ x: Tensor) -> Tensor {
        linearReluStack(flatten(x))
    }
}

enum OptimizerChoice: String, ExpressibleByArgument, CaseIterable {
    case sgd, adam
}

@main
struct Quickstart: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart",
        abstract: "PyTorch's quickstart in Swift: train an MLP on FashionMNIST and save it.",
        discussion: "Defaults are the seed's: 5 epochs, batch 64, SGD with lr 1e-3.")

    @Option(help: "Training epochs.") var epochs = 5
    @Option(help: "Samples per batch.") var batchSize = 64
    @Option(help: "Learning rate.") var lr = 1e-3
    @Option(help: "sgd or adam.") var optimizer: OptimizerChoice = .sgd
    @Option(help: "SGD momentum.") var momentum = 0.0
    @Option(help: "DataLoader worker threads (default: Ember's measured default).") var workers: Int?
    @Option(help: "Seed for weights (and shuffling with --shuffle).") var seed: UInt64 = 0
    @Option(help: "Kernel threads (default: all cores).") var threads: Int?
    @Option(help: "Dataset root: FashionMNIST goes to ROOT/FashionMNIST/raw.") var root = "data"
    @Option(help: "Write an SVG learning curve to this file.") var plot: String?
    @Option(help: "Where to save the trained model (safetensors).") var save = "model.safetensors"
    @Flag(help: "Shuffle the training set every epoch (the seed does not).") var shuffle = false
    @Flag(help: "Only print the test results.") var quiet = false
    @Flag(help: "Show a progress bar per epoch (on a terminal).") var progress = false
    @Flag(help: "Print `epoch_time train=..s test=..s` after each epoch (for ember-bench compare).")
    var timings = false

    func run() throws {
        if let threads { setNumThreads(threads) }
        manualSeed(seed)

        // Data
        let trainingData = try FashionMNIST(root: root, train: true, download: true, transform: ToTensor())
        let testData = try FashionMNIST(root: root, train: false, download: false, transform: ToTensor())

        let trainDataloader = DataLoader(trainingData, batchSize: batchSize, shuffle: shuffle, numWorkers: workers,
                                         seed: seed)
        let testDataloader = DataLoader(testData, batchSize: batchSize, numWorkers: workers)
        for (X, y) in testDataloader {
            print("Shape of X [N, C, H, W]: \(X.shape)")
            print("Shape of y: \(y.shape) \(y.dtype)")
            break
        }

        // Model
        let device = Device.best
        let model = NeuralNetwork().to(device)
        print(model)

        // Optimization
        let lossFn = CrossEntropyLoss()
        let optimizer: Optimizer = switch self.optimizer {
        case .sgd: SGD(model.parameters(), lr: lr, momentum: momentum)
        case .adam: Adam(model.parameters(), lr: lr)
        }

        var curve = LearningCurve(title: "Ember quickstart: FashionMNIST, \(self.optimizer.rawValue) lr=\(lr)")
        for t in 0..<epochs {
            print("Epoch \(t + 1)\n-------------------------------")
            let start = Date()
            train(trainDataloader, model, lossFn, optimizer, epoch: t, curve: &curve)
            let trained = Date()
            let (accuracy, loss) = test(testDataloader, model, lossFn)
            curve.addTest(epoch: t + 1, accuracy: accuracy, loss: loss)
            if timings {
                print(String(format: "epoch_time train=%.3fs test=%.3fs", trained.timeIntervalSince(start),
                             Date().timeIntervalSince(trained)))
            }
            if let plot { try curve.write(to: plot) }
        }
        print("Done!")

        // Save, load into a fresh model, predict.
        try model.save(to: save)
        let restored = NeuralNetwork()
        try restored.load(from: save)
        restored.eval()
        let (x, label) = testData[0]
        noGrad {
            let predicted = restored(x.unsqueezed(0)).argmax(dim: 1).item()
            print("Predicted: \"\(FashionMNIST.classes[Int(predicted)])\", Actual: \"\(FashionMNIST.classes[label])\"")
        }
    }

    func train(_ dataloader: DataLoader<FashionMNIST>, _ model: Module, _ lossFn: CrossEntropyLoss,
               _ optimizer: Optimizer, epoch: Int, curve: inout LearningCurve) {
        let size = dataloader.dataset.count
        model.train()
        let bar = progress ? ProgressBar(total: dataloader.count, unit: "batch", description: "epoch \(epoch + 1)") : nil
        for (batch, (X, y)) in dataloader.enumerated() {
            let pred = model(X)
            let loss = lossFn(pred, y)

            loss.backward()
            optimizer.step()
            optimizer.zeroGrad()

            bar?.update(1)
            if batch % 100 == 0 {
                let current = (batch + 1) * X.shape[0]
                let value = loss.item()
                curve.addTrainingLoss(epoch: Double(epoch) + Double(current) / Double(size), loss: value)
                if !quiet { print(String(format: "loss: %7f  [%5ld/%5ld]", value, current, size)) }
            }
        }
        bar?.finish()
    }

    /// Returns (accuracy in [0, 1], average loss).
    func test(_ dataloader: DataLoader<FashionMNIST>, _ model: Module, _ lossFn: CrossEntropyLoss) -> (Double, Double) {
        let size = dataloader.dataset.count
        let numBatches = dataloader.count
        model.eval()
        var testLoss = 0.0, correct = 0.0
        noGrad {
            for (X, y) in dataloader {
                let pred = model(X)
                testLoss += lossFn(pred, y).item()
                correct += (pred.argmax(dim: 1) == y).type(.float32).sum().item()
            }
        }
        testLoss /= Double(numBatches)
        correct /= Double(size)
        print(String(format: "Test Error: \n Accuracy: %.1f%%, Avg loss: %8f \n", 100 * correct, testLoss))
        return (correct, testLoss)
    }
}
