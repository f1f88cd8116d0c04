// libFuzzer entry point for torch.save reading, compiled into the Ember module (Fuzz/run.sh).
// The first byte picks the reader, so mutations reach the unpickler directly (inside a zip,
// almost every mutated pickle would fail its CRC before the unpickler saw it):
//   even: the rest is a data.pkl for Unpickler.load + Freezer, over zero-filled storages
//         of the sizes its persistent ids claim (skipped beyond 1 MiB);
//   odd:  the rest is a whole file for TorchCheckpoint.read(bytes:name:) (libarchive's zip
//         reader, the records, the storages).
// Errors must be Unpickler.Failure or TorchCheckpointError; a trap, an ASan report or another
// error is a finding. Every tensor built is read in full (within the first 65536 values), so
// one reaching outside its storage shows under ASan, and the value's description is written.

// At most `budget` values are visited: lists shared inside each other are linear in the
// file and exponential as a tree.
func touch(_ v: TorchValue, depth: Int = 0, budget: inout Int) {
    precondition(depth <= Unpickler.maxDepth)
    budget -= 1
    guard budget >= 0 else { return }
    switch v {
    case .tensor(let t):
        precondition(t.count == t.shape.reduce(1, *))
        let c = t.contiguous()
        var sum = 0
        for i in 0..<(c.count * c.dtype.itemSize) { sum &+= Int((c.raw + i).load(as: UInt8.self)) }
        _ = sum
    case .list(let a), .tuple(let a), .set(let a): for x in a { touch(x, depth: depth + 1, budget: &budget) }
    case .dict(let p):
        for (k, x) in p { touch(k, depth: depth + 1, budget: &budget); touch(x, depth: depth + 1, budget: &budget) }
    default: break
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTorch(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let rest = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    if data[0] % 2 == 0 {
        do {
            var u = Unpickler()
            let top = try u.load(rest)
            // Claimed sizes may overflow: those, like any total over 1 MiB, are not built.
            let bytes = u.storages.map { $0.numel.multipliedReportingOverflow(by: $0.type.emberType.itemSize) }
            guard bytes.allSatisfy({ !$0.overflow && $0.partialValue <= 1 << 20 }),
                  bytes.reduce(0, { $0 + $1.partialValue }) <= 1 << 20 else { return 0 }
            var f = Freezer(unpickler: u, storages: bytes.map { Storage(zeroedByteCount: max($0.partialValue, 1)) })
            let value = try f.freeze(top, depth: 0)
            var budget = 1 << 16
            touch(value, budget: &budget)
            precondition(value.description.count <= TorchValue.descriptionLimit + 1)
        } catch is Unpickler.Failure {
        } catch {
            fatalError("unexpected error type \(error)")
        }
    } else {
        do {
            let ckpt = try TorchCheckpoint.read(bytes: Array(rest), name: "fuzz")
            var budget = 1 << 16
            touch(ckpt.root, budget: &budget)
            precondition(ckpt.root.description.count <= TorchValue.descriptionLimit + 1)
        } catch let e as TorchCheckpointError {
            precondition(e.path == "fuzz")
        } catch {
            fatalError("unexpected error type \(error)")
        }
    }
    return 0
}
