import ArgumentParser
import Ember
import Foundation

/// `ember-bench torch-load`: reading a ~100 MB state dict written by torch.save against the
/// same tensors from safetensors, in alternating rounds, and the peak resident memory of
/// each read. The files come from bench/torch_load_files.py (PyTorch), which also times
/// torch.load and safetensors' load_file on them for context.
struct TorchLoadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "torch-load",
        abstract: "TorchCheckpoint.read of a 100 MB torch.save state dict vs SafeTensors.read of the same tensors.")

    @Option(help: "Folder holding state_dict.pth and state_dict.safetensors (bench/torch_load_files.py DIR).")
    var dir = "/tmp/ember-torch-load"
    @Option(help: "Alternating rounds (median and min–max are reported).") var rounds = 7

    /// Peak resident growth of `body` in bytes: clear_refs resets VmHWM to the current RSS.
    func peakGrowth(_ body: () throws -> Void) throws -> Int {
        func field(_ name: String) -> Int {
            let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
            let line = text.split(separator: "\n").first { $0.hasPrefix(name + ":") } ?? ""
            return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
        }
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let before = field("VmRSS")
        try body()
        return field("VmHWM") - before
    }

    func run() throws {
        let pth = dir + "/state_dict.pth", st = dir + "/state_dict.safetensors"
        guard FileManager.default.fileExists(atPath: pth), FileManager.default.fileExists(atPath: st) else {
            throw ValidationError("no \(pth) / \(st): make them with `/tmp/pytorch-reference/venv/bin/python bench/torch_load_files.py \(dir)`")
        }
        // A fixed mmap threshold: every tensor buffer is then a fresh mapping, returned to the
        // system when freed, so each round and each peak-memory figure starts from nothing
        // (glibc's adaptive threshold would otherwise recycle the previous read's pages).
        // (mallopt is in <malloc.h>, which Swift's Glibc module does not import: found by
        // name; M_MMAP_THRESHOLD is -3.)
        if let sym = dlsym(dlopen(nil, RTLD_NOW), "mallopt") {
            _ = unsafeBitCast(sym, to: (@convention(c) (Int32, Int32) -> Int32).self)(-3, 1 << 17)
        }
        let fileBytes = (try FileManager.default.attributesOfItem(atPath: pth)[.size] as? Int) ?? 0
        print("torch.save state dict (\(fmt(Double(fileBytes) / 1e6)) MB) vs the same tensors in safetensors, \(rounds) alternating rounds; \(machineLine())\n")

        // Both readers must give the same tensors.
        let fromTorch = try TorchCheckpoint.read(from: pth).stateDict()
        let fromST = try SafeTensors.read(from: st).tensors
        guard Set(fromTorch.keys) == Set(fromST.keys),
              fromTorch.allSatisfy({ k, t in t.shape == fromST[k]!.shape && t.toArray() == fromST[k]!.toArray() }) else {
            throw ValidationError("the two files do not hold the same tensors")
        }
        let dataBytes = fromTorch.values.reduce(0) { $0 + $1.count * $1.dtype.itemSize }

        // Every read faults in fresh memory, as a program loading weights once does: the
        // buffer cache is emptied after each, so no round reuses the previous round's pages.
        var torchMs: [Double] = [], stMs: [Double] = [], ratio: [Double] = []
        for _ in 0..<rounds {
            BufferCache.shared.empty()
            var t0 = now()
            _ = try TorchCheckpoint.read(from: pth).stateDict()
            let a = now() - t0
            BufferCache.shared.empty()
            t0 = now()
            _ = try SafeTensors.read(from: st).tensors
            let b = now() - t0
            BufferCache.shared.empty()
            torchMs.append(a * 1e3)
            stMs.append(b * 1e3)
            ratio.append(a / b)
        }
        BufferCache.shared.empty()
        let torchPeak = try peakGrowth { _ = try TorchCheckpoint.read(from: pth).stateDict() }
        BufferCache.shared.empty()
        let stPeak = try peakGrowth { _ = try SafeTensors.read(from: st).tensors }
        BufferCache.shared.empty()

        var table = Table("reader", "ms: median (min–max)", "MB/s (median)", "peak RSS growth / tensor bytes")
        table.add("TorchCheckpoint.read (.pth)", spread(torchMs), fmt(Double(dataBytes) / 1e3 / median(torchMs), 0),
                  fmt(Double(torchPeak) / Double(dataBytes), 2))
        table.add("SafeTensors.read", spread(stMs), fmt(Double(dataBytes) / 1e3 / median(stMs), 0),
                  fmt(Double(stPeak) / Double(dataBytes), 2))
        print(table.render())
        print("\n.pth / safetensors time, per round: \(spread(ratio, 2))  (target ≤ 1.5)")
        print("tensor bytes \(dataBytes); peak RSS growth counts the mapped file pages of a safetensors read")
    }
}
