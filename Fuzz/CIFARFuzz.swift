// libFuzzer entry point for CIFAR's archive path (ArchiveReader over libarchive, then
// CIFARBatch.parse on every entry), compiled into the Ember module (see Fuzz/run.sh). Every
// input must either give entries and batches consistent with their sizes or throw
// ArchiveError / CIFARError; anything else is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCIFAR(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    func parse(_ entry: [UInt8]) {
        for labelBytes in [1, 2] {
            do {
                let b = try CIFARBatch.parse(entry, file: "fuzz", labelBytes: labelBytes, classCounts: [20, 100].suffix(labelBytes))
                let n = entry.count / (labelBytes + CIFARBatch.imageBytes)
                precondition(b.images.count == n * CIFARBatch.imageBytes && b.labels.allSatisfy { $0.count == n })
            } catch CIFARError.corrupt(let file, _) {
                precondition(file == "fuzz")
            } catch {
                fatalError("unexpected error \(error)")
            }
        }
        do { _ = try CIFARBatch.names(entry, file: "fuzz") } catch CIFARError.corrupt {} catch {
            fatalError("unexpected error \(error)")
        }
    }
    parse(bytes)
    do {
        let reader = try ArchiveReader(bytes: bytes, name: "fuzz")
        var entries = 0
        while let entry = try reader.next(), entries < 16 {
            entries += 1
            guard entry.isFile else { continue }
            let content = try reader.readEntry(entry, maxBytes: 1 << 16)
            precondition(content.count <= 1 << 16)
            parse(content)
        }
    } catch let e as ArchiveError {
        precondition(e.file == "fuzz")
    } catch {
        fatalError("unexpected error type \(error)")
    }
    return 0
}
