import XCTest
@testable import Ember

/// Replays the inputs the fuzzers kept (Fuzz/run.sh safetensors | checkpoint), crash
/// reproducers included, through the real readers: each must load consistently or throw
/// SerializationError, never trap. scripts/asan.sh runs these under ASan and UBSan too.
final class FuzzCorpusTests: XCTestCase {
    func corpus(_ name: String) throws -> [URL] {
        let dir = try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/\(name)")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertGreaterThan(files.count, 50, "the corpus is checked in")
        return files.map { dir.appendingPathComponent($0) }
    }

    func testSafeTensorsCorpusReplays() throws {
        var parsed = 0, rejected = 0
        for url in try corpus("safetensors-corpus") {
            do {
                let contents = try SafeTensors.read(from: url.path)
                let bytes = [UInt8](try Data(contentsOf: url))
                let header = bytes.withUnsafeBytes { Int($0.loadUnaligned(as: UInt64.self).littleEndian) }
                var elements = 0
                for (_, t) in contents.tensors {
                    XCTAssertEqual(t.count, t.shape.reduce(1, *), url.lastPathComponent)
                    elements += t.count
                }
                XCTAssertLessThanOrEqual(elements, bytes.count - 8 - header, url.lastPathComponent)
                parsed += 1
            } catch let e as SerializationError {
                guard case .corruptFile(let p, _) = e else { return XCTFail("\(url.lastPathComponent): \(e)") }
                XCTAssertEqual(p, url.path)
                rejected += 1
            }
        }
        XCTAssertGreaterThan(parsed, 0, "the corpus holds valid files too")
        XCTAssertGreaterThan(rejected, 0)
    }

    /// The model, optimizer and scheduler of Fuzz/CheckpointFuzz.swift; a successful load
    /// must leave them able to train a step.
    func testCheckpointCorpusReplays() throws {
        var loaded = 0, rejected = 0
        for url in try corpus("checkpoint-corpus") {
            let g = Generator(seed: 7)
            let model = Sequential(Linear(3, 4, generator: g), ReLU(), Linear(4, 2, generator: g))
            let optimizer = Adam(model.parameters(), lr: 0.01)
            let scheduler = StepLR(optimizer, stepSize: 2)
            do {
                _ = try Checkpoint.load(from: url.path, model: model, optimizer: optimizer, scheduler: scheduler,
                                        generators: ["g": g])
                let x = Tensor([0.5, -1, 2, 1, 0, -0.25], shape: [2, 3])
                crossEntropy(model(x), Tensor([0, 1])).backward()
                optimizer.step()
                scheduler.step()
                loaded += 1
            } catch is SerializationError {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(loaded, 0, "the corpus holds valid checkpoints too")
        XCTAssertGreaterThan(rejected, 0)
    }

    /// Fuzz/TorchFuzz.swift's inputs: a first byte even runs the rest through the unpickler
    /// (over zero-filled storages of the claimed sizes, up to 1 MiB), odd through the whole
    /// torch.save reader. Each must give a value or the reader's own error.
    func testTorchCorpusReplays() throws {
        var loaded = 0, rejected = 0
        for url in try corpus("torch-corpus") {
            let bytes = [UInt8](try Data(contentsOf: url))
            guard let mode = bytes.first else { continue }
            let rest = Array(bytes.dropFirst())
            if mode % 2 == 0 {
                do {
                    var u = Unpickler()
                    let top = try rest.withUnsafeBytes { try u.load($0) }
                    let sizes = u.storages.map { $0.numel.multipliedReportingOverflow(by: $0.type.emberType.itemSize) }
                    guard sizes.allSatisfy({ !$0.overflow && $0.partialValue <= 1 << 20 }),
                          sizes.reduce(0, { $0 + $1.partialValue }) <= 1 << 20 else { rejected += 1; continue }
                    var f = Freezer(unpickler: u, storages: sizes.map { Storage(zeroedByteCount: max($0.partialValue, 1)) })
                    _ = try f.freeze(top, depth: 0)
                    loaded += 1
                } catch is Unpickler.Failure {
                    rejected += 1
                }
            } else {
                do {
                    let ckpt = try TorchCheckpoint.read(bytes: rest, name: url.lastPathComponent)
                    XCTAssertEqual(ckpt.path, url.lastPathComponent)
                    loaded += 1
                } catch let e as TorchCheckpointError {
                    XCTAssertEqual(e.path, url.lastPathComponent)
                    rejected += 1
                }
            }
        }
        XCTAssertGreaterThan(loaded, 0, "the corpus holds valid files too")
        XCTAssertGreaterThan(rejected, 0)
    }
}
