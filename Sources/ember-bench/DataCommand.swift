import ArgumentParser

/// `ember-bench data`: DataLoader throughput over the real FashionMNIST next to PyTorch's.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "DataLoader samples/s (ToTensor, ToTensor+Normalize) for 0/1/2 workers vs PyTorch's DataLoader.")

    @Option(parsing: .upToNextOption, help: "Worker counts to measure.") var workers: [Int] = [0, 1, 2]
    @Option(help: "Epochs per measurement.") var epochs = 3
    @Option(help: "Dataset root (FashionMNIST/raw below it); PyTorch reads the same files.")
    var root = "/tmp/pytorch-reference/data"
    @Option(help: "Python with torch + torchvision (omit to skip PyTorch).") var python: String?
    @Option(help: "Training batches in the overhead measurement.") var trainingBatches = 300
    @Option(help: "Interleaved rounds (best of).") var rounds = 3
    @Option(help: "fashionmnist, or imagefolder (--root: a folder made by bench/make_imagefolder.py).")
    var dataset = "fashionmnist"
    @Option(help: "imagefolder: batches per measurement.") var batches = 20
    @Option(help: "imagefolder: files in the decode-only measurement.") var decodeFiles = 500
    @Flag(help: "imagefolder: ImageFolder(decodeCropOnly: true), decoding only RandomResizedCrop's window.")
    var decodeCropOnly = false

    func run() throws {
        if dataset == "imagefolder" {
            try runImageFolderBench(root: root, workers: workers, batches: batches, rounds: rounds, python: python,
                                    decodeFiles: decodeFiles, decodeCropOnly: decodeCropOnly)
            return
        }
        try runDataLoaderBench(workers: workers, epochs: epochs, root: root, python: python,
                               trainingBatches: trainingBatches, rounds: rounds)
    }
}
