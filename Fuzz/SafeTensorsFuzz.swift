// libFuzzer entry point for the safetensors reader (SafeTensors.parse), compiled into the
// Ember module with the rest of its sources (see Fuzz/run.sh). Every input must either parse
// into tensors consistent with their header or throw SerializationError.corruptFile; a trap,
// an ASan report or another error is a finding.

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSafeTensors(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    do {
        let contents = try SafeTensors.parse(bytes, path: "fuzz")
        // What parsed must be what the header says: the data buffer is exactly the tensors'
        // bytes (each at its dtype's size in the file, ≥ 1 byte per element).
        let header = Int(bytes.loadUnaligned(as: UInt64.self).littleEndian)
        let dataSize = size - 8 - header
        var elements = 0
        for (_, t) in contents.tensors {
            precondition(t.count == t.shape.reduce(1, *) && t.shape.allSatisfy { $0 >= 0 })
            elements += t.count
            // Touch every byte: a tensor pointing outside its storage shows under ASan.
            var sum = 0
            for i in 0..<(t.count * t.dtype.itemSize) { sum &+= Int((t.raw + i).load(as: UInt8.self)) }
            _ = sum
        }
        precondition(elements <= dataSize)
    } catch let e as SerializationError {
        guard case .corruptFile(let path, _) = e, path == "fuzz" else { fatalError("unexpected error \(e)") }
    } catch {
        fatalError("unexpected error type \(error)")
    }
    return 0
}
