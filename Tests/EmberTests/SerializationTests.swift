import XCTest
@testable import Ember

final class SerializationTests: XCTestCase {
    var dir: URL!

    override func setUpWithError() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-ser-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws {
        try? FileManager.default.removeItem(at: dir)
    }

    func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: "safetensors", subdirectory: "Fixtures")).path
    }

    func path(_ name: String) -> String { dir.appendingPathComponent(name).path }

    // MARK: PyTorch → Ember

    func testLoadsPyTorchSavedModelAndReproducesItsOutputs() throws {
        // tiny_mlp.safetensors: safetensors.torch.save_file(model.state_dict()) of the seed's
        // architecture shrunk to 12→8→8→3; tiny_mlp_io holds x and PyTorch's logits and loss
        // (scripts/make_fixtures.py).
        let model = NNModels.TinyNetwork()
        try model.load(from: fixture("tiny_mlp"))
        let io = try SafeTensors.read(from: fixture("tiny_mlp_io")).tensors
        let x = try XCTUnwrap(io["x"]), y = try XCTUnwrap(io["y"]), expected = try XCTUnwrap(io["logits"])
        XCTAssertEqual(x.shape, [2, 3, 4])
        XCTAssertEqual(y.dtype, .int64)
        model.eval()
        let logits = noGrad { model(x) }
        XCTAssertTrue(logits.allClose(expected, rtol: 1e-5, atol: 1e-6), "\(logits.toArray()) vs \(expected.toArray())")
        // The values printed by make_fixtures.py, written here too so a broken fixture cannot hide.
        XCTAssertEqual(Double(logits.toArray()[0]), 0.16793836653232574, accuracy: 1e-6)
        XCTAssertEqual(CrossEntropyLoss()(logits, y).item(), 1.2638331651687622, accuracy: 1e-6)
        XCTAssertEqual(io["loss"]?.shape, [])
    }

    func testReadsEveryDtypePyTorchWrites() throws {
        // dtypes.safetensors from scripts/make_fixtures.py; wider or narrower types convert.
        let t = try SafeTensors.read(from: fixture("dtypes")).tensors
        XCTAssertEqual(t["f32"]?.toArray(), [1.5, -2.25])
        XCTAssertEqual(t["f64"]?.dtype, .float32)
        XCTAssertEqual(t["f64"]?.shape, [2, 2])
        XCTAssertEqual(t["f64"]?.toArray(), [Float(0.1), -3, 1e10, 2.5])
        // float16 6e-8 is stored as the subnormal 2⁻²⁴ = 5.960464477539063e-08.
        XCTAssertEqual(t["f16"]?.toArray(), [1, -0.5, 65504, 5.960464477539063e-08])
        XCTAssertEqual(t["bf16"]?.toArray(), [1, -2.5, 3.140625])
        XCTAssertEqual(t["i64"]?.dtype, .int64)
        XCTAssertEqual(t["i64"]?.toIntArray(), [-(1 << 40), 7])
        XCTAssertEqual(t["i32"]?.toIntArray(), [-5, Int(Int32.max)])
        XCTAssertEqual(t["u8"]?.toIntArray(), [0, 255, 17])
        XCTAssertEqual(t["bool"]?.dtype, .bool)
        XCTAssertEqual(t["bool"]?.toIntArray(), [1, 0, 1])
        XCTAssertEqual(t["scalar"]?.shape, [])
        XCTAssertEqual(t["scalar"]?.item(), 3)
    }

    // MARK: Ember → file → Ember

    func testModelRoundTrip() throws {
        let a = NNModels.NeuralNetwork(), b = NNModels.NeuralNetwork()
        XCTAssertFalse(a.parameters()[0].equal(b.parameters()[0]))
        try a.save(to: path("model.safetensors"))
        try b.load(from: path("model.safetensors"))
        for (p, q) in zip(a.parameters(), b.parameters()) { XCTAssertTrue(p.equal(q)) }
        let x = Tensor.randn([2, 1, 28, 28])
        XCTAssertTrue(noGrad { a(x).equal(b(x)) })
    }

    func testFileLayout() throws {
        let tensors: [String: Tensor] = ["b.w": Tensor([1.0, 2.0], shape: [1, 2]), "a": Tensor([5, -6]), "m": Tensor([true, false, true])]
        try SafeTensors.write(tensors, metadata: ["note": "x\"y"], to: path("t.safetensors"))
        let bytes = [UInt8](try Data(contentsOf: dir.appendingPathComponent("t.safetensors")))
        let n = Int(bytes[0..<8].enumerated().map { UInt64($1) << (8 * UInt64($0)) }.reduce(0, |))
        XCTAssertEqual(n % 8, 0, "header padded to 8 bytes")
        // a: I64 16 bytes at [0,16), b.w: F32 8 bytes at [16,24), m: BOOL 3 bytes at [24,27).
        XCTAssertEqual(bytes.count, 8 + n + 27)
        let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as! [String: Any]
        let bw = header["b.w"] as! [String: Any]
        XCTAssertEqual(bw["dtype"] as? String, "F32")
        XCTAssertEqual(bw["shape"] as? [Int], [1, 2])
        XCTAssertEqual(bw["data_offsets"] as? [Int], [16, 24])
        XCTAssertEqual((header["m"] as! [String: Any])["dtype"] as? String, "BOOL")
        XCTAssertEqual((header["__metadata__"] as! [String: String])["note"], "x\"y")
        // 1.0f little-endian is 00 00 80 3F.
        XCTAssertEqual(Array(bytes[(8 + n + 16)..<(8 + n + 20)]), [0, 0, 0x80, 0x3F])

        let back = try SafeTensors.read(from: path("t.safetensors"))
        XCTAssertEqual(back.metadata, ["note": "x\"y"])
        XCTAssertEqual(back.tensors.count, 3)
        for (k, t) in tensors { XCTAssertTrue(back.tensors[k]!.equal(t) && back.tensors[k]!.dtype == t.dtype, k) }
    }

    func testRewritingPyTorchFileGivesSameTensors() throws {
        let original = try SafeTensors.read(from: fixture("tiny_mlp")).tensors
        try SafeTensors.write(original, to: path("copy.safetensors"))
        let copy = try SafeTensors.read(from: path("copy.safetensors")).tensors
        XCTAssertEqual(Set(copy.keys), Set(original.keys))
        for (k, t) in original { XCTAssertTrue(copy[k]!.equal(t), k) }
    }

    func testAtomicWriteLeavesNoTemporaryFiles() throws {
        let model = NNModels.TinyNetwork()
        try model.save(to: path("m.safetensors"))
        try model.save(to: path("m.safetensors"))   // over an existing file
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.safetensors"])
        XCTAssertThrowsError(try model.save(to: path("no/such/dir/m.safetensors"))) { error in
            guard case SerializationError.io(let p, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(p.hasSuffix("no/such/dir/m.safetensors"))
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir.path), ["m.safetensors"])
    }

    /// For the check by hand that PyTorch loads an Ember file (scripts/check_ember_file.py):
    /// with EMBER_EXPORT_DIR set, writes the seed model, an input and Ember's logits there.
    func testExportForPyTorchCheck() throws {
        guard let out = ProcessInfo.processInfo.environment["EMBER_EXPORT_DIR"] else {
            throw XCTSkip("set EMBER_EXPORT_DIR to export files for scripts/check_ember_file.py")
        }
        let model = NNModels.NeuralNetwork()
        let x = Tensor.randn([3, 1, 28, 28], generator: Generator(seed: 9))
        try model.save(to: out + "/ember_model.safetensors")
        try SafeTensors.write(["x": x, "logits": noGrad { model(x) }], to: out + "/ember_io.safetensors")
    }

    // MARK: Strict loading

    func testStrictLoadingListsEveryProblemInOneError() throws {
        let model = NNModels.TinyNetwork()
        let before = model.parameters().map { $0.clone() }
        var sd = NNModels.TinyNetwork().stateDict()
        sd["linear_relu_stack.0.bias"] = nil                      // missing
        sd["linear_relu_stack.9.weight"] = Tensor.zeros([1])     // unexpected
        sd["linear_relu_stack.2.weight"] = Tensor.zeros([8, 9])  // wrong shape
        XCTAssertThrowsError(try model.loadStateDict(sd)) { error in
            let text = "\(error)"
            XCTAssertEqual(text, """
            Error(s) in loading state_dict for TinyNetwork:
            \tMissing key(s) in state_dict: "linear_relu_stack.0.bias".
            \tUnexpected key(s) in state_dict: "linear_relu_stack.9.weight".
            \tsize mismatch for linear_relu_stack.2.weight: copying a param with shape [8, 9] from checkpoint, the shape in current model is [8, 8].
            """)
        }
        // Nothing was copied.
        for (p, b) in zip(model.parameters(), before) { XCTAssertTrue(p.equal(b)) }

        // Non-strict: missing/unexpected are returned, but a wrong shape still throws.
        XCTAssertThrowsError(try model.loadStateDict(sd, strict: false))
        sd["linear_relu_stack.2.weight"] = nil
        let result = try model.loadStateDict(sd, strict: false)
        XCTAssertEqual(result.missingKeys, ["linear_relu_stack.0.bias", "linear_relu_stack.2.weight"])
        XCTAssertEqual(result.unexpectedKeys, ["linear_relu_stack.9.weight"])
        XCTAssertTrue(model.parameters()[0].equal(sd["linear_relu_stack.0.weight"]!))
    }

    // MARK: Corrupt files

    func writeBytes(_ bytes: [UInt8], _ name: String) -> String {
        _ = FileManager.default.createFile(atPath: path(name), contents: Data(bytes))
        return path(name)
    }

    func fileWithHeader(_ json: String, dataBytes: Int, _ name: String) -> String {
        let h = Array(json.utf8)
        var bytes: [UInt8] = withUnsafeBytes(of: UInt64(h.count).littleEndian) { Array($0) }
        bytes += h + [UInt8](repeating: 0, count: dataBytes)
        return writeBytes(bytes, name)
    }

    func assertCorrupt(_ path: String, _ reasonContains: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(from: path), file: file, line: line) { error in
            guard case SerializationError.corruptFile(let p, let reason) = error else {
                return XCTFail("expected corruptFile, got \(error)", file: file, line: line)
            }
            XCTAssertEqual(p, path, file: file, line: line)
            XCTAssertTrue(reason.contains(reasonContains), "reason: \(reason)", file: file, line: line)
            XCTAssertTrue("\(error)".hasPrefix(path), file: file, line: line)
        }
    }

    func testCorruptFilesAreClearErrors() throws {
        assertCorrupt(writeBytes([1, 2, 3], "short"), "shorter than the 8-byte header length")
        assertCorrupt(writeBytes([200, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], "longheader"), "runs past the end of the file")
        assertCorrupt(writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "huge"), "too large")
        assertCorrupt(fileWithHeader("{\"a\": {\"dtype\": ", dataBytes: 0, "badjson"), "not valid JSON")
        assertCorrupt(fileWithHeader("[1, 2]", dataBytes: 0, "array"), "not a JSON object")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, dataBytes: 4, "pastend"),
                      "past the end of the data")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"C64","shape":[1],"data_offsets":[0,8]}}"#, dataBytes: 8, "dtype"),
                      "unsupported dtype \"C64\"")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, dataBytes: 8, "size"),
                      "needs 12")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, dataBytes: 4, "shape"),
                      "invalid shape")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}}"#, dataBytes: 8, "offsets"),
                      "invalid data_offsets")
        assertCorrupt(fileWithHeader(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4, "nodtype"), "has no dtype")
        // A truncated copy of a real model file.
        let real = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("tiny_mlp"))))
        assertCorrupt(writeBytes(Array(real.prefix(real.count - 10)), "truncated"), "past the end of the data")

        XCTAssertThrowsError(try SafeTensors.read(from: path("missing.safetensors"))) { error in
            guard case SerializationError.io(let p, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, self.path("missing.safetensors"))
        }
    }

    // MARK: Training checkpoints

    /// A small run with every source of state: Dropout randomness, Adam moments and step
    /// counts, a cosine schedule stepped per epoch, and a shuffled data order per epoch.
    final class Run {
        static let samples = 48, batch = 8
        let g: Generator
        let model: Sequential
        let optimizer: Adam
        let scheduler: CosineAnnealingLR
        let x = Tensor.randn([samples, 6], generator: Generator(seed: 77))
        let y = Tensor.randint(0, 3, [samples], generator: Generator(seed: 78))

        init(initSeed: UInt64) {
            g = Generator(seed: initSeed)
            model = Sequential(Linear(6, 16, generator: g), ReLU(), Dropout(p: 0.25, generator: g), Linear(16, 3, generator: g))
            optimizer = Adam(model.parameters(), lr: 0.01, weightDecay: 1e-3)
            scheduler = CosineAnnealingLR(optimizer, tMax: 3, etaMin: 1e-4)
        }

        /// The data order of an epoch: a seeded permutation (what a shuffling DataLoader does).
        func order(_ epoch: Int) -> [Int] { Generator(seed: 1000 + UInt64(epoch)).permutation(Run.samples) }

        func batch(_ epoch: Int, _ b: Int) -> (Tensor, Tensor) {
            let idx = Array(order(epoch)[(b * Run.batch)..<((b + 1) * Run.batch)])
            let xs = x.toArray(), ys = y.toIntArray()
            return (Tensor(idx.flatMap { xs[($0 * 6)..<($0 * 6 + 6)] }, shape: [Run.batch, 6]), Tensor(idx.map { ys[$0] }))
        }

        /// Trains from (epoch, batch) to the end of epoch 2; calls `pause` before each batch.
        func train(from start: (epoch: Int, batch: Int), pause: (Int, Int) throws -> Void = { _, _ in }) rethrows -> [UInt32] {
            var losses: [UInt32] = []
            model.train()
            for epoch in start.epoch..<3 {
                for b in (epoch == start.epoch ? start.batch : 0)..<(Run.samples / Run.batch) {
                    try pause(epoch, b)
                    let (xb, yb) = batch(epoch, b)
                    let loss = crossEntropy(model(xb), yb)
                    loss.backward()
                    optimizer.step()
                    optimizer.zeroGrad()
                    losses.append(Float(loss.item()).bitPattern)
                }
                scheduler.step()
            }
            return losses
        }
    }

    func testCheckpointResumesToBitIdenticalLosses() throws {
        let ckpt = path("ckpt.safetensors")
        let full = Run(initSeed: 1)
        var lossesBeforePause = 0
        var lrAtPause = 0.0
        let reference = try full.train(from: (0, 0)) { epoch, b in
            if (epoch, b) == (1, 2) {
                try Checkpoint.save(to: ckpt, model: full.model, optimizer: full.optimizer, scheduler: full.scheduler,
                                    generators: ["dropout": full.g], epoch: epoch, batchIndex: b, extra: ["run": "test"])
                lrAtPause = full.optimizer.lr
            }
            if epoch < 1 || (epoch == 1 && b < 2) { lossesBeforePause += 1 }
        }
        XCTAssertEqual(reference.count, 18)

        // A fresh run with other initial weights and a fresh generator resumes from the file.
        let resumed = Run(initSeed: 999)
        let position = try Checkpoint.load(from: ckpt, model: resumed.model, optimizer: resumed.optimizer,
                                           scheduler: resumed.scheduler, generators: ["dropout": resumed.g])
        XCTAssertEqual(position, Checkpoint(epoch: 1, batchIndex: 2, extra: ["run": "test"]))
        XCTAssertEqual(resumed.scheduler.lastEpoch, 1)
        XCTAssertEqual(resumed.optimizer.lr, lrAtPause)
        XCTAssertNotEqual(lrAtPause, 0.01, "the schedule had moved the rate")
        let rest = try resumed.train(from: (position.epoch, position.batchIndex))
        XCTAssertEqual(rest, Array(reference[lossesBeforePause...]), "losses after resuming must be bit-identical")
        XCTAssertEqual(resumed.optimizer.lr, full.optimizer.lr)
        for (p, q) in zip(resumed.model.parameters(), full.model.parameters()) { XCTAssertTrue(p.equal(q)) }

        // Without the checkpoint, the other initial weights give other losses (the check can fail).
        let unrestored = Run(initSeed: 999)
        XCTAssertNotEqual(try unrestored.train(from: (1, 2)), Array(reference[lossesBeforePause...]))
    }

    func testCheckpointRejectsMismatchedOptimizer() throws {
        let run = Run(initSeed: 1)
        _ = try run.train(from: (2, 5))
        try Checkpoint.save(to: path("c.safetensors"), model: run.model, optimizer: run.optimizer, epoch: 0, batchIndex: 0)
        let other = Run(initSeed: 2)
        let sgd = SGD(other.model.parameters())
        XCTAssertThrowsError(try Checkpoint.load(from: path("c.safetensors"), model: other.model, optimizer: sgd)) { error in
            XCTAssertTrue("\(error)".contains("optimizer is SGD but the checkpoint holds Adam"), "\(error)")
        }
        // The optimizer state itself: moments and step counts restore exactly.
        _ = try Checkpoint.load(from: path("c.safetensors"), model: other.model, optimizer: other.optimizer)
        XCTAssertEqual(other.optimizer.state.keys.sorted(), run.optimizer.state.keys.sorted())
        for (i, entries) in run.optimizer.state {
            for (name, t) in entries { XCTAssertTrue(other.optimizer.state[i]![name]!.equal(t), "\(i).\(name)") }
        }
        XCTAssertThrowsError(try Checkpoint.load(from: fixture("tiny_mlp"), model: other.model)) { error in
            XCTAssertTrue("\(error)".contains("not an Ember training checkpoint"), "\(error)")
        }
    }
}
