// libFuzzer entry point for the PNG/JPEG readers (decodeImage over csrc/image.c: libpng and
// libjpeg-turbo behind setjmp/longjmp), compiled into the Ember module (see Fuzz/run.sh).
// Every input, in every read mode, must either decode into a uint8 [C, H, W] tensor whose
// channels fit the mode and whose size is within the cap, or throw ImageError; a trap, an
// ASan report, an exit() from a library or another error type is a finding. Then a window
// decoded alone (JPEG: jpeg_crop_scanline + jpeg_skip_scanlines), under the same rules.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzImage(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    // A small cap keeps each input cheap; the cap check itself is part of what is fuzzed.
    let maxPixels = 1 << 20
    for mode in ImageReadMode.allCases {
        do {
            let t = try decodeImage(bytes, mode: mode, name: "fuzz", maxPixels: maxPixels)
            precondition(t.dtype == .uint8 && t.ndim == 3 && t.shape[1] * t.shape[2] <= maxPixels)
            let want: ClosedRange<Int> = switch mode {
            case .unchanged: 1...4
            case .gray: 1...1
            case .grayAlpha: 2...2
            case .rgb: 3...3
            case .rgbAlpha: 4...4
            }
            precondition(want.contains(t.shape[0]), "\(mode): \(t.shape)")
            var sum = 0
            for i in 0..<t.count { sum &+= Int(t.u8[i]) }   // every byte written is readable
            _ = sum
        } catch let e as ImageError {
            precondition(e.file == "fuzz" && !e.message.isEmpty)
        } catch {
            fatalError("unexpected error type \(error)")
        }
    }
    // A window decoded alone (RandomResizedCrop in ImageFolder): the middle of the image.
    do {
        let t = try decodeImageWindow(bytes, mode: .rgb, name: "fuzz", maxPixels: maxPixels) { h, w in
            (h / 4, w / 3, Swift.max(1, h / 2), Swift.max(1, w / 2))
        }
        precondition(t.dtype == .uint8 && t.shape[0] == 3)
        var sum = 0
        for i in 0..<t.count { sum &+= Int(t.u8[i]) }
        _ = sum
    } catch let e as ImageError {
        precondition(e.file == "fuzz" && !e.message.isEmpty)
    } catch {
        fatalError("unexpected error type \(error)")
    }
    return 0
}
