// libFuzzer entry point for the IDX parser (Sources/Ember/Data/IDX.swift, compiled alongside).
// Every input must either parse into sizes consistent with its header or throw IDXError;
// anything else (a trap, an out-of-bounds read under ASan, another error type) is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzIDX(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let im = try IDX.parseImages(bytes, file: "fuzz")
        precondition(im.pixels.count == im.count * im.rows * im.cols && im.pixels.count == size - 16)
    } catch is IDXError {} catch { fatalError("unexpected error type \(error)") }
    do {
        let lb = try IDX.parseLabels(bytes, file: "fuzz")
        precondition(lb.count == size - 8)
    } catch is IDXError {} catch { fatalError("unexpected error type \(error)") }
    // Pairs: the first half as images, the second as labels.
    let half = size / 2
    do {
        let (im, lb) = try IDX.parsePair(images: Array(bytes[..<half]), imagesFile: "a", labels: Array(bytes[half...]),
                                         labelsFile: "b", classes: 10)
        precondition(im.count == lb.count && lb.allSatisfy { $0 < 10 })
    } catch is IDXError {} catch { fatalError("unexpected error type \(error)") }
    return 0
}
