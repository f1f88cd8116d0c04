import Ember
import Foundation

/// `ember-bench data --dataset imagefolder`: images/s through `ImageFolder` + `DataLoader`
/// with the ImageNet training pipeline (RandomResizedCrop(224), RandomHorizontalFlip,
/// ToDtype(float32, scale), Normalize) at batch 64, shuffled, for each worker count, next to
/// torchvision's ImageFolder + DataLoader (bench/pytorch_imagefolder.py) in alternating
/// rounds; then JPEG decode alone: Ember's `readImage` and `decodeImage` against
/// libjpeg-turbo's `tjbench` (libjpeg-turbo-progs) on the same files, alternating rounds.
///
/// The images are generated, not committed: bench/make_imagefolder.py.
public func runImageFolderBench(root: String, workers: [Int], batches: Int, rounds: Int, python: String?,
                                decodeFiles: Int, decodeCropOnly: Bool = false) throws {
    let pipeline = Compose<Tensor, Tensor>([
        RandomResizedCrop(224), RandomHorizontalFlip(), ToDtype(.float32, scale: true),
        Normalize(mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225]),
    ])
    let ds = try ImageFolder(root: root, transform: pipeline, decodeCropOnly: decodeCropOnly)
    print("ImageFolder \(root): \(ds.count) images in \(ds.classes.count) classes; RandomResizedCrop(224) + flip + "
          + "ToDtype + Normalize, batch 64, shuffle, \(batches) batches per measurement after 1 warm-up batch, "
          + "\(rounds) alternating rounds" + (decodeCropOnly ? "; only the crops decoded" : "; whole images decoded"))
    print(machineLine() + "\n")

    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../bench/pytorch_imagefolder.py").standardized.path
    var ember = [[Double]](repeating: [], count: workers.count)
    var torch = [[Double]](repeating: [], count: workers.count)
    for round in 0..<max(1, rounds) {
        for (k, w) in workers.enumerated() {
            let loader = DataLoader(ds, batchSize: 64, shuffle: true, numWorkers: w, seed: UInt64(round))
            var it = loader.batches()
            _ = try it.next()
            var n = 0
            let t0 = now()
            for _ in 0..<batches { guard let (X, _) = try it.next() else { break }; n += X.shape[0] }
            ember[k].append(Double(n) / (now() - t0))
        }
        guard let python else { continue }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: python)
        p.arguments = [script, "--root", root, "--workers", workers.map(String.init).joined(separator: ","),
                       "--batches", String(batches), "--threads", String(numThreads()), "--seed", String(round)]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        for line in out.split(separator: "\n") where line.hasPrefix("pytorch_imagefolder ") {
            var f: [String: String] = [:]
            for kv in line.split(separator: " ").dropFirst() {
                let parts = kv.split(separator: "=", maxSplits: 1)
                if parts.count == 2 { f[String(parts[0])] = String(parts[1]) }
            }
            if let w = Int(f["workers"] ?? ""), let k = workers.firstIndex(of: w), let v = Double(f["images_per_s"] ?? "") {
                torch[k].append(v)
            }
        }
    }
    func stats(_ xs: [Double]) -> String {
        guard !xs.isEmpty else { return "-" }
        let s = xs.sorted()
        return String(format: "%.0f (%.0f–%.0f)", s[s.count / 2], s.first!, s.last!)
    }
    func median(_ xs: [Double]) -> Double { xs.sorted()[xs.count / 2] }
    print("workers  Ember images/s (min–max)   torchvision images/s (min–max)   Ember / torchvision")
    for (k, w) in workers.enumerated() {
        let ratio = torch[k].isEmpty ? "-" : String(format: "%.2fx", median(ember[k]) / median(torch[k]))
        print("\(w)        " + padded(stats(ember[k]), 27) + padded(stats(torch[k]), 33) + ratio)
    }

    // Decode alone, one thread, alternating rounds. Like for like: libjpeg-turbo's defaults on
    // both sides (ISLOW integer DCT, fancy upsampling), interleaved RGB/BGR out of libjpeg;
    // tjbench decodes one file held in memory over and over, Ember's readImage also reads each
    // file and spreads the pixels into [3, H, W] planes (decodeImage: the same from memory).
    let files = Array(ds.samples.prefix(decodeFiles).map(\.path))
    guard !files.isEmpty else { return }
    let bytes = try files.map { f in [UInt8](try Data(contentsOf: URL(fileURLWithPath: f))) }
    let tjbench = "/usr/bin/tjbench"
    let haveTJ = FileManager.default.isExecutableFile(atPath: tjbench)
    var fileMP: [Double] = [], memoryMP: [Double] = [], tjMP: [Double] = []
    let perRound = 4
    for round in 0..<max(1, rounds) {
        var pixels = 0
        var t0 = now()
        for f in files { let x = try readImage(f, mode: .rgb); pixels += x.shape[1] * x.shape[2] }
        fileMP.append(Double(pixels) / (now() - t0) / 1e6)
        pixels = 0
        t0 = now()
        for b in bytes { let x = try decodeImage(b, mode: .rgb); pixels += x.shape[1] * x.shape[2] }
        memoryMP.append(Double(pixels) / (now() - t0) / 1e6)
        guard haveTJ else { continue }
        // tjbench on `perRound` of the same files (a different few each round): the mean of
        // their Megapixels/s.
        var sum = 0.0, n = 0
        for k in 0..<perRound {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tjbench)
            p.arguments = [files[(round * perRound + k) % files.count], "-benchtime", "0.3", "-warmup", "0.1"]
            let pipe = Pipe()
            p.standardOutput = pipe
            p.standardError = FileHandle.nullDevice
            try p.run()
            let out = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            p.waitUntilExit()
            if let line = out.split(separator: "\n").last(where: { $0.contains("Megapixels/sec") }),
               let v = Double(line.split(separator: " ").dropLast().last ?? "") {
                sum += v
                n += 1
            }
        }
        if n > 0 { tjMP.append(sum / Double(n)) }
    }
    print("\nJPEG decode, one thread, Megapixels/s, \(max(1, rounds)) alternating rounds (ISLOW DCT, fancy upsampling on both sides):")
    print("  Ember readImage(.rgb), \(files.count) files read and decoded to [3, H, W]:  " + stats(fileMP))
    print("  Ember decodeImage(.rgb), the same from memory:                 " + stats(memoryMP))
    if tjMP.isEmpty {
        print("  tjbench not found (apt-get install libjpeg-turbo-progs, scripts/install-deps.sh)")
    } else {
        print("  tjbench (libjpeg-turbo, in memory, to BGR), \(perRound) of the files a round: " + stats(tjMP))
        print(String(format: "  Ember / libjpeg-turbo: %.2f (readImage), %.2f (decodeImage)", median(fileMP) / median(tjMP),
                     median(memoryMP) / median(tjMP)))
    }
}

private func padded(_ s: String, _ n: Int) -> String { s + String(repeating: " ", count: max(0, n - s.count)) }
