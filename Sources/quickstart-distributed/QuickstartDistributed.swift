// The quickstart (Sources/quickstart) trained data-parallel under mpirun:
//
//   mpirun -np 4 .build/release/quickstart-distributed [--reproducible]
//
// Each of the N ranks takes 64/N samples of every batch of 64 (DistributedSampler) and
// DistributedDataParallel averages the gradients; rank 0 prints the seed's lines, evaluates
// and saves. A separate executable so that `quickstart` needs no MPI.
//
// --reproducible: every batch of 64 is cut into 4 fixed shards of 16 (shard k: the batch's
// samples k, k+4, …); a rank runs its shards as micro-batches and the shard gradients (and
// losses) are summed in a fixed tree across micro-batches and ranks, so the output is the same
// for N = 1, 2 and 4. Without it, gradients are summed by MPI's allreduce: the same to
// rounding, not to the bit.
import ArgumentParser
import Ember
import EmberDistributed
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

@main
struct QuickstartDistributed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quickstart-distributed",
        abstract: "The quickstart trained data-parallel over MPI ranks (run it under mpirun).",
        discussion: """
            Defaults are the seed's: 5 epochs, global batch 64, SGD with lr 1e-3. The global batch \
            must divide by the number of ranks (and, with --reproducible, 4 by the number of ranks).
            Faults: a rank that fails ends the whole job (exit code 1; a rank stuck for \
            EMBER_DIST_TIMEOUT seconds, default 300, exits with 3). Resume with --resume CHECKPOINT \
            (written by --checkpoint), with any number of ranks.
            """)

    @Option(help: "Training epochs.") var epochs = 5
    @Option(help: "Samples per global batch (split over the ranks).") var batchSize = 64
    @Option(help: "Learning rate.") var lr = 1e-3
    @Option(help: "Seed for weights (and shuffling with --shuffle).") var seed: UInt64 = 0
    @Option(help: "Kernel threads per rank (default: all cores / local ranks).") var threads: Int?
    @Option(help: "Dataset root: FashionMNIST goes to ROOT/FashionMNIST/raw.") var root = "data"
    @Option(help: "Where rank 0 saves the trained model (safetensors).") var save = "model.safetensors"
    @Option(help: "Stop each epoch after this many batches (for quick runs).") var maxBatches: Int?
    @Option(help: "Rank 0 writes a checkpoint here after every epoch (and every --checkpoint-every batches).")
    var checkpoint: String?
    @Option(help: "Also checkpoint every this many batches.") var checkpointEvery: Int?
    @Option(help: "Resume from this checkpoint (every rank reads it).") var resume: String?
    @Option(help: "DDP bucket size in MB.") var bucketCapMB = 25.0
    @Flag(help: "Fixed-order reductions: the same output for 1, 2 and 4 ranks.") var reproducible = false
    @Flag(help: "Shuffle the training set every epoch (the seed does not).") var shuffle = false
    @Flag(help: "Print `epoch_time train=..s` after each epoch.") var timings = false

    /// Fixed shards per global batch in --reproducible mode.
    static let shards = 4

    func run() throws {
        let group = try ProcessGroup.fromEnvironment()
        do {
            try train(group)
            group.destroy()
        } catch {
            group.abort(error)
        }
    }

    func train(_ group: ProcessGroup) throws {
        let (rank, n) = (group.rank, group.worldSize)
        guard batchSize % n == 0, !reproducible || (Self.shards % n == 0 && batchSize % Self.shards == 0) else {
            throw ValidationError("batch size \(batchSize) does not split over \(n) ranks"
                                  + (reproducible ? " in \(Self.shards) shards" : ""))
        }
        setNumThreads(threads ?? max(1, numCores() / max(1, ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) ?? 1)))
        manualSeed(seed)
        let say: (String) -> Void = { if rank == 0 { print($0) } }

        // Data: each rank its share of every global batch.
        // Rank 0 fetches (or links) the files first; the others read them after the barrier.
        if rank == 0 { _ = try FashionMNIST(root: root, train: true, download: true, transform: ToTensor()) }
        try group.barrier()
        let trainingData = try FashionMNIST(root: root, train: true, download: false, transform: ToTensor())
        let testData = try FashionMNIST(root: root, train: false, download: false, transform: ToTensor())
        let sampler = try DistributedSampler(trainingData, numReplicas: n, rank: rank, shuffle: shuffle, seed: seed)
        let trainDataloader = DataLoader(trainingData, batchSize: batchSize / n, sampler: sampler)
        let testDataloader = DataLoader(testData, batchSize: batchSize)
        for (X, y) in testDataloader {
            say("Shape of X [N, C, H, W]: \(X.shape)")
            say("Shape of y: \(y.shape) \(y.dtype)")
            break
        }

        // Model: every rank builds it from the same seed; DDP broadcasts rank 0's anyway.
        let net = NeuralNetwork()
        let optimizer = SGD(net.parameters(), lr: lr)
        var start = (epoch: 0, batch: 0)
        if let resume {
            let c = try Checkpoint.load(from: resume, model: net, optimizer: optimizer)
            start = (c.epoch, c.batchIndex)
            say("Resumed from \(resume) at epoch \(c.epoch + 1), batch \(c.batchIndex)")
        }
        let model = try DistributedDataParallel(net, processGroup: group, bucketCapMB: bucketCapMB, reproducible: reproducible)
        say("\(net)")
        let lossFn = CrossEntropyLoss()

        for t in start.epoch..<epochs {
            say("Epoch \(t + 1)\n-------------------------------")
            let began = Date()
            sampler.setEpoch(t)
            model.train()
            var iterator = trainDataloader.batches(startingAtBatch: t == start.epoch ? start.batch : 0)
            var batch = t == start.epoch ? start.batch : 0
            while let (X, y) = try iterator.next() {
                if let maxBatches, batch >= maxBatches { break }
                let loss = try step(model, lossFn, X, y, group)
                optimizer.step()
                optimizer.zeroGrad()
                if batch % 100 == 0 {
                    let value = try globalLoss(loss, group)
                    say(String(format: "loss: %7f  [%5ld/%5ld]", value, (batch + 1) * batchSize, trainingData.count))
                }
                batch += 1
                if let checkpoint, let every = checkpointEvery, batch % every == 0, rank == 0 {
                    try Checkpoint.save(to: checkpoint, model: net, optimizer: optimizer, epoch: t, batchIndex: batch)
                }
            }
            let trained = Date()
            if rank == 0 {
                let (accuracy, loss) = test(testDataloader, net, lossFn)
                print(String(format: "Test Error: \n Accuracy: %.1f%%, Avg loss: %8f \n", 100 * accuracy, loss))
                if let checkpoint {
                    try Checkpoint.save(to: checkpoint, model: net, optimizer: optimizer, epoch: t + 1, batchIndex: 0)
                }
            }
            if timings { say(String(format: "epoch_time train=%.3fs", trained.timeIntervalSince(began))) }
        }
        say("Done!")
        if rank == 0 {
            try net.save(to: save)
            let restored = NeuralNetwork()
            try restored.load(from: save)
            restored.eval()
            let (x, label) = testData[0]
            noGrad {
                let predicted = restored(x.unsqueezed(0)).argmax(dim: 1).item()
                print("Predicted: \"\(FashionMNIST.classes[Int(predicted)])\", Actual: \"\(FashionMNIST.classes[label])\"")
            }
        }
        try group.barrier()
    }

    /// Forward and backward of this rank's share; returns this rank's part of the batch loss
    /// (its mean loss, or in reproducible mode the fixed-tree sum of its shards' mean losses).
    func step(_ model: DistributedDataParallel, _ lossFn: CrossEntropyLoss, _ X: Tensor, _ y: Tensor,
              _ group: ProcessGroup) throws -> Tensor {
        guard reproducible else {
            let loss = lossFn(model(X), y)
            loss.backward()
            return loss.detach()
        }
        // Local sample j belongs to global shard rank + N·(j mod micro).
        let micro = Self.shards / group.worldSize
        var losses: [Tensor] = []
        for m in 0..<micro {
            let idx = Tensor(Array(stride(from: m, to: X.shape[0], by: micro)))
            let (xs, ys) = (X.indexSelect(dim: 0, index: idx), y.indexSelect(dim: 0, index: idx))
            let run = {
                let loss = lossFn(model(xs), ys)
                (loss * Tensor(1.0 / Double(micro))).backward()
                losses.append(loss.detach())
            }
            if m < micro - 1 { model.noSync(run) } else { run() }
        }
        return try ProcessGroup.fixedTreeSum(losses)
    }

    /// The mean loss over the global batch, on every rank.
    func globalLoss(_ local: Tensor, _ group: ProcessGroup) throws -> Double {
        let t = local.reshaped([1]).clone()
        if reproducible {
            try group.allReduce(t, op: .sum, order: .fixedTree)
            return Double(t.item()) / Double(Self.shards)
        }
        try group.allReduce(t, op: .mean)
        return Double(t.item())
    }

    /// Returns (accuracy in [0, 1], average loss) over the whole test set.
    func test(_ dataloader: DataLoader<FashionMNIST>, _ model: Module, _ lossFn: CrossEntropyLoss) -> (Double, Double) {
        model.eval()
        var testLoss = 0.0, correct = 0.0
        noGrad {
            for (X, y) in dataloader {
                let pred = model(X)
                testLoss += lossFn(pred, y).item()
                correct += (pred.argmax(dim: 1) == y).type(.float32).sum().item()
            }
        }
        return (correct / Double(dataloader.dataset.count), testLoss / Double(dataloader.count))
    }
}
