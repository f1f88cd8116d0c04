import Ember
import Foundation

/// `ember-bench data`: samples/s through the DataLoader over the real FashionMNIST training
/// set at batch 64 (shuffled), with ToTensor and with ToTensor+Normalize, for each worker
/// count; then the loader's cost inside a training epoch (the quickstart MLP's forward and
/// backward on every batch, against the same steps on pre-decoded batches); then, if
/// `python` is given, PyTorch's DataLoader on the same files in the same run.
///
/// - Parameters:
///   - workers: worker counts to measure.
///   - epochs: epochs per measurement (the best epoch counts, to skip warm-up noise).
///   - root: directory holding `FashionMNIST/raw` (linked from Debian's copy if missing).
///   - python: a Python with torch and torchvision, or nil to skip PyTorch.
///   - trainingBatches: batches per round of the training-overhead measurement (0 skips it).
///   - rounds: interleaved rounds of that measurement (each configuration keeps its best).
public func runDataLoaderBench(workers: [Int], epochs: Int, root: String, python: String?,
                               trainingBatches: Int = 300, rounds: Int = 3) throws {
    let pipelines: [(String, FashionMNIST)] = [
        ("totensor", try FashionMNIST(root: root, train: true, download: false, transform: ToTensor())),
        ("normalize", try FashionMNIST(root: root, train: true, download: false,
                                       transform: Compose<Image, Tensor>([ToTensor(), Normalize(mean: [0.2860], std: [0.3530])]))),
    ]
    print("FashionMNIST train (\(pipelines[0].1.count) samples), batch 64, shuffle, \(numThreads()) kernel threads, \(numCores()) cores")
    print("loader      transform  workers  samples/s    epoch ms")
    for (name, ds) in pipelines {
        for w in workers {
            let loader = DataLoader(ds, batchSize: 64, shuffle: true, numWorkers: w, seed: 0)
            var best = Double.infinity
            var samples = 0
            for _ in 0..<max(1, epochs) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                samples = 0
                for (X, _) in loader { samples += X.shape[0] }
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
            }
            print("ember       " + pad(name, 9) + String(format: "  %7d  %11.0f  %9.1f", w, Double(samples) / best, best * 1000))
        }
    }

    if trainingBatches > 0 {
        // The machine may be shared: configurations alternate round by round and each keeps
        // its best round, so background load hits them alike instead of whichever ran last.
        print("\nloader inside training: quickstart MLP forward+backward (no optimizer step) on "
              + "\(trainingBatches) batches, best of \(rounds) interleaved rounds")
        print("source                  ms/batch   epoch s (938 batches)   overhead vs pre-decoded")
        let ds = pipelines[0].1
        // Pre-decoded batches: the model's cost with no data pipeline at all.
        let predecoded = Array(DataLoader(ds, batchSize: 64, shuffle: false, numWorkers: 0).prefix(trainingBatches))
        var best = [Double](repeating: .infinity, count: workers.count + 1)
        for _ in 0..<max(1, rounds) {
            best[0] = min(best[0], timeTraining { step in for (X, y) in predecoded { step(X, y) } })
            for (k, w) in workers.enumerated() {
                let loader = DataLoader(ds, batchSize: 64, shuffle: true, numWorkers: w, seed: 0)
                best[k + 1] = min(best[k + 1], timeTraining { step in
                    for (X, y) in loader.prefix(trainingBatches) { step(X, y) }
                })
            }
        }
        let perBatch = best.map { $0 / Double(trainingBatches) }
        print(String(format: "pre-decoded tensors     %8.3f   %7.2f", perBatch[0] * 1000, perBatch[0] * 938))
        for (k, w) in workers.enumerated() {
            print(String(format: "DataLoader workers=%d   %8.3f   %7.2f                 %+.1f%%", w,
                         perBatch[k + 1] * 1000, perBatch[k + 1] * 938, 100 * (perBatch[k + 1] - perBatch[0]) / perBatch[0]))
        }
    }

    guard let python else { return }
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../bench/pytorch_dataloader.py").standardized.path
    let p = Process()
    p.executableURL = URL(fileURLWithPath: python)
    p.arguments = [script, "--root", root, "--workers", workers.map(String.init).joined(separator: ","),
                   "--epochs", "1", "--threads", String(numThreads())]
    let pipe = Pipe()
    p.standardOutput = pipe
    try p.run()
    let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    for line in out.split(separator: "\n") where line.hasPrefix("pytorch_dataloader ") {
        var f: [String: String] = [:]
        for kv in line.split(separator: " ").dropFirst() {
            let parts = kv.split(separator: "=", maxSplits: 1)
            if parts.count == 2 { f[String(parts[0])] = String(parts[1]) }
        }
        print("pytorch     " + pad(f["transform"] ?? "?", 9) + String(format: "  %7d  %11.0f  %9.1f", Int(f["workers"] ?? "") ?? -1,
                     Double(f["samples_per_s"] ?? "") ?? 0, 1000 * (Double(f["epoch_s"] ?? "") ?? 0)))
    }
}

/// Seconds for the quickstart model's forward and backward over the batches `feed` supplies.
private func timeTraining(_ feed: (_ step: (Tensor, Tensor) -> Void) -> Void) -> Double {
    let model = quickstartModel()
    let params = model.parameters()
    let t0 = DispatchTime.now().uptimeNanoseconds
    feed { X, y in
        crossEntropy(model(X), y).backward()
        for p in params { p.grad = nil }
    }
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

private func pad(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
