// libFuzzer entry point for Checkpoint loading: the bytes go through SafeTensors.parse and
// Checkpoint.restore (what Checkpoint.load does after reading the file) into a small model,
// Adam and a StepLR built afresh per input that parses; when the load succeeds, one training step must
// run on what was loaded. Errors must be SerializationError; anything else is a finding.
//
// EMBER_FUZZ_SEED=<path> makes the binary write a valid checkpoint of that model there
// first (Fuzz/run.sh seeds the corpus with it).
import Foundation

struct FuzzRun {
    let model: Sequential
    let optimizer: Adam
    let scheduler: StepLR
    let generator: Generator

    init() {
        generator = Generator(seed: 7)
        model = Sequential(Linear(3, 4, generator: generator), ReLU(), Linear(4, 2, generator: generator))
        optimizer = Adam(model.parameters(), lr: 0.01)
        scheduler = StepLR(optimizer, stepSize: 2)
    }

    func step() {
        let x = Tensor([0.5, -1, 2, 1, 0, -0.25], shape: [2, 3])
        crossEntropy(model(x), Tensor([0, 1])).backward()
        optimizer.step()
        optimizer.zeroGrad()
        scheduler.step()
    }
}

@_cdecl("LLVMFuzzerInitialize")
public func fuzzCheckpointInit(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    if let path = ProcessInfo.processInfo.environment["EMBER_FUZZ_SEED"] {
        let run = FuzzRun()
        run.step()
        try! Checkpoint.save(to: path, model: run.model, optimizer: run.optimizer, scheduler: run.scheduler,
                             generators: ["g": run.generator], epoch: 1, batchIndex: 3, extra: ["note": "seed"])
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCheckpoint(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    do {
        let contents = try SafeTensors.parse(bytes, path: "fuzz")
        let run = FuzzRun()   // only for files that parse: most inputs do not, and it is the costly part
        _ = try Checkpoint.restore(contents, path: "fuzz", model: run.model, optimizer: run.optimizer,
                                   scheduler: run.scheduler, generators: ["g": run.generator])
        run.step()
    } catch is SerializationError {
    } catch {
        fatalError("unexpected error type \(error)")
    }
    return 0
}
