import Foundation
import XCTest
@testable import Ember

/// torch.save files read by TorchCheckpoint: PyTorch-written fixtures against PyTorch's own
/// values, and hostile files that must fail cleanly without running anything
/// (Fixtures/torch, scripts/make_torch_checkpoint_fixtures.py).
final class TorchCheckpointTests: XCTestCase {
    func fixture(_ name: String) throws -> String {
        try XCTUnwrap(Bundle.module.resourceURL).appendingPathComponent("Fixtures/torch/\(name)").path
    }

    func expected() throws -> [String: Any] {
        let data = try Data(contentsOf: URL(fileURLWithPath: try fixture("expected.json")))
        return try XCTUnwrap(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    }

    func io() throws -> [String: Tensor] { try SafeTensors.read(from: try fixture("io.safetensors")).tensors }

    func message(_ body: () throws -> Void) -> String {
        do { try body() } catch { return "\(error)" }
        return "no error"
    }

    /// The largest absolute difference, asserting equal shapes.
    func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
        XCTAssertEqual(a.shape, b.shape)
        return zip(a.toArray(), b.toArray()).map { abs($0 - $1) }.max() ?? 0
    }

    // MARK: PyTorch-written files

    func testSeedModelGivesPyTorchsLogits() throws {
        let model = NNModels.TinyNetwork()
        try model.load(from: fixture("tiny_mlp.pth"))
        let io = try io()
        model.eval()
        let logits = noGrad { model(io["mlp_x"]!) }
        XCTAssertLessThanOrEqual(maxDiff(logits, io["mlp_logits"]!), 1e-6)
        // make_torch_checkpoint_fixtures.py prints this value; written here so a broken fixture cannot hide.
        XCTAssertEqual(Double(logits.toArray()[0]), 0.16793836653232574, accuracy: 1e-6)
    }

    func testBatchNormNetworkWithRunningStatistics() throws {
        let model = Sequential(Conv2d(1, 3, kernelSize: 3), BatchNorm2d(3), ReLU(), Flatten(), Linear(48, 5))
        try model.load(from: fixture("bn_net.pth"))
        let e = try expected()
        let state = model.stateDict()
        XCTAssertEqual(state["1.num_batches_tracked"]?.dtype, .int64)
        XCTAssertEqual(state["1.num_batches_tracked"]?.toIntArray(), [try XCTUnwrap(e["bn_num_batches_tracked"] as? Int)])
        XCTAssertEqual(state["1.running_mean"]?.toArray(), (e["bn_running_mean"] as? [Double])?.map { Float($0) })
        model.eval()
        let io = try io()
        let logits = noGrad { model(io["bn_x"]!) }
        XCTAssertLessThanOrEqual(maxDiff(logits, io["bn_logits"]!), 1e-6)
        XCTAssertEqual(Double(logits.toArray()[2]), 0.15993617475032806, accuracy: 1e-6)
    }

    func testViewsKeepPyTorchsLayoutAndShareOneStorage() throws {
        // Saved through a file object, so the zip's top folder is "archive".
        let ckpt = try TorchCheckpoint.read(from: fixture("views.pth"))
        let views = try XCTUnwrap(try expected()["views"] as? [String: [String: Any]])
        XCTAssertEqual(Set(ckpt.root.keys), Set(views.keys))
        for (name, want) in views {
            let t = try XCTUnwrap(ckpt.root[name]?.tensor, name)
            XCTAssertEqual(t.shape, want["shape"] as? [Int], name)
            XCTAssertEqual(t.strides, want["stride"] as? [Int], name)
            XCTAssertEqual(t.storageOffset, want["offset"] as? Int, name)
            let values = try XCTUnwrap(want["values"] as? [Double])
            if t.dtype == .float32 {
                XCTAssertEqual(t.toArray(), values.map { Float($0) }, name)
            } else {
                XCTAssertEqual(t.toIntArray(), values.map { Int($0) }, name)
            }
        }
        let base = try XCTUnwrap(ckpt.root["base"]?.tensor)
        for name in ["t", "row", "slice", "col"] {
            XCTAssertTrue(ckpt.root[name]?.tensor?.storage === base.storage, name)
        }
        XCTAssertTrue(ckpt.root["tail"]?.tensor?.storage === ckpt.root["tail_2d"]?.tensor?.storage)
        XCTAssertFalse(ckpt.root["tail"]?.tensor?.storage === base.storage)
        // One storage, so a write through one tensor is seen through its views (as in PyTorch).
        noGrad { base.fill_(1) }
        XCTAssertEqual(ckpt.root["slice"]?.tensor?.toArray(), [1, 1, 1, 1])
        XCTAssertTrue(ckpt.conversions.isEmpty)
    }

    func testEveryStorageTypeConvertsToEmbersDtypes() throws {
        // Pickle protocol 4 (STACK_GLOBAL, FRAME, MEMOIZE).
        let ckpt = try TorchCheckpoint.read(from: fixture("dtypes.pth"))
        let dtypes = try XCTUnwrap(try expected()["dtypes"] as? [String: [String: Any]])
        let emberType: [String: DType] = ["f32": .float32, "f64": .float32, "f16": .float32, "bf16": .float32, "scalar": .float32,
                                          "empty": .float32, "i64": .int64, "i32": .int64, "i16": .int64, "i8": .int64, "u8": .uint8,
                                          "bool": .bool]
        XCTAssertEqual(Set(ckpt.root.keys), Set(dtypes.keys))
        for (name, want) in dtypes {
            let t = try XCTUnwrap(ckpt.root[name]?.tensor, name)
            XCTAssertEqual(t.dtype, emberType[name], name)
            XCTAssertEqual(t.shape, want["shape"] as? [Int], name)
            let values = try XCTUnwrap(want["values"] as? [Double])
            switch t.dtype {
            case .float32: XCTAssertEqual(t.toArray(), values.map { Float($0) }, name)
            default: XCTAssertEqual(t.toIntArray(), values.map { Int($0) }, name)
            }
        }
        XCTAssertEqual(ckpt.root["f16"]?.tensor?.toArray(), [1, -0.5, 65504, 5.960464477539063e-08])
        XCTAssertEqual(ckpt.root["i8"]?.tensor?.toIntArray(), [-128, 127, 3])
        XCTAssertEqual(ckpt.conversions, ["float64 → float32 (1 storage)", "float16 → float32 (1 storage)",
                                          "bfloat16 → float32 (1 storage)", "int32 → int64 (1 storage)",
                                          "int16 → int64 (1 storage)", "int8 → int64 (1 storage)"])
    }

    func testNestedTrainingCheckpoint() throws {
        // Pickle protocol 5; every non-tensor type torch.load(weights_only=True) builds.
        let ckpt = try TorchCheckpoint.read(from: fixture("training.pth"))
        let want = try XCTUnwrap(try expected()["training"] as? [String: Any])
        let root = ckpt.root
        XCTAssertEqual(root.keys, ["model", "optimizer", "epoch", "loss", "name", "flags", "shape", "dtype", "device", "blob", "ids", "big", "neg"])
        XCTAssertEqual(root["epoch"]?.int, 3)
        XCTAssertEqual(root["loss"]?.double, want["loss"] as? Double)
        XCTAssertEqual(root["name"]?.string, "tiny")
        XCTAssertEqual(root["flags"]?.description, "[True, False, None]")
        XCTAssertEqual(root["shape"]?.description, "torch.Size([2, 3])")
        XCTAssertEqual(root["dtype"]?.description, "torch.float16")
        XCTAssertEqual(root["device"]?.description, "device(type='cpu')")
        guard case .bytes(let blob)? = root["blob"] else { return XCTFail("blob") }
        XCTAssertEqual(blob, [0, 1] + Array("ember".utf8))
        guard case .set(let ids)? = root["ids"] else { return XCTFail("ids") }
        XCTAssertEqual(ids.compactMap(\.int).sorted(), [1, 2])
        guard case .bigInt(let big)? = root["big"] else { return XCTFail("2**70") }
        XCTAssertEqual(big, [0, 0, 0, 0, 0, 0, 0, 0, 0x40])   // 2^70, little-endian two's complement
        XCTAssertEqual(root["neg"]?.int, -(1 << 40))

        let model = NNModels.TinyNetwork()
        try model.loadStateDict(ckpt.stateDict(at: "model"))
        XCTAssertEqual(model.stateDict()["linear_relu_stack.0.weight"]?.toArray(), (want["fc0_weight"] as? [Double])?.map { Float($0) })

        let optimizer = try XCTUnwrap(root["optimizer"])
        let state0 = try XCTUnwrap(optimizer["state"]?[0])
        XCTAssertEqual(state0["exp_avg"]?.tensor?.toArray(), (want["exp_avg_0"] as? [Double])?.map { Float($0) })
        XCTAssertEqual(state0["step"]?.tensor?.item(), want["step"] as? Double)
        let group = try XCTUnwrap(optimizer["param_groups"]?.array?.first)
        XCTAssertEqual(group["lr"]?.double, 0.01)
        XCTAssertEqual(group["betas"]?.description, "(0.9, 0.99)")
        XCTAssertEqual(group["params"]?.description, "[0, 1, 2, 3, 4, 5]")

        // model.load wants a state dict and says where to find one.
        XCTAssertEqual(message { try model.load(from: fixture("training.pth")) },
                       "\(try fixture("training.pth")): the file is not a state dict: \"model\" is of type dict, not a tensor; pick the state dict with stateDict(at:), one of \"model\", \"optimizer\", \"epoch\", \"loss\", \"name\", \"flags\", \"shape\", \"dtype\", \"device\", \"blob\", \"ids\", \"big\", \"neg\"")
        XCTAssertEqual(message { _ = try ckpt.stateDict(at: "weights") },
                       "\(ckpt.path): no key \"weights\"; the dict has \"model\", \"optimizer\", \"epoch\", \"loss\", \"name\", \"flags\", \"shape\", \"dtype\", \"device\", \"blob\", \"ids\", \"big\", \"neg\"")
        XCTAssertEqual(message { _ = try ckpt.stateDict(at: "epoch") }, "\(ckpt.path): \"epoch\" holds a value of type int, not a state dict")
    }

    func testDataParallelAndCompilePrefixesAreStripped() throws {
        let io = try io()
        for (file, key) in [("dataparallel.pth", "module.linear_relu_stack.0.weight"), ("compiled.pth", "_orig_mod.module.linear_relu_stack.0.weight")] {
            XCTAssertTrue(try TorchCheckpoint.read(from: fixture(file)).root.keys.contains(key), file)
            let model = NNModels.TinyNetwork()
            let unprefixed = message { try model.load(from: fixture(file)) }
            XCTAssertTrue(unprefixed.contains("Missing key(s) in state_dict: \"linear_relu_stack.0.weight\""), unprefixed)
            XCTAssertTrue(unprefixed.contains("Unexpected key(s) in state_dict: ") && unprefixed.contains("\"\(key)\""), unprefixed)
            try model.load(from: fixture(file), strippingPrefixes: TorchCheckpoint.wrapperPrefixes)
            model.eval()
            XCTAssertLessThanOrEqual(maxDiff(noGrad { model(io["mlp_x"]!) }, io["mlp_logits"]!), 1e-6, file)
        }
    }

    func testSafeTensorsStillLoadByContent() throws {
        // A safetensors file renamed .pth is still safetensors: the content decides.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("ember-torch-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let source = NNModels.TinyNetwork()
        try source.load(from: fixture("tiny_mlp.pth"))
        let renamed = dir.appendingPathComponent("weights.pth").path
        try source.save(to: renamed)
        let model = NNModels.TinyNetwork()
        try model.load(from: renamed)
        XCTAssertEqual(model.stateDict()["linear_relu_stack.4.bias"]?.toArray(), source.stateDict()["linear_relu_stack.4.bias"]?.toArray())
    }

    func testLegacyAndTorchScriptFilesAreRefusedWithAdvice() throws {
        let legacy = try fixture("legacy.pth"), script = try fixture("torchscript.pt")
        XCTAssertEqual(message { try NNModels.TinyNetwork().load(from: legacy) },
                       "\(legacy): a PyTorch legacy (pre-1.6) checkpoint, which Ember does not read; re-save it with PyTorch ≥ 1.6: torch.save(torch.load(path, weights_only=True), path)")
        XCTAssertEqual(message { _ = try TorchCheckpoint.read(from: script) },
                       "\(script): a TorchScript archive (torch.jit.save), which Ember does not read; save its weights instead: torch.save(torch.jit.load(path).state_dict(), \"weights.pth\")")
        XCTAssertEqual(message { _ = try TorchCheckpoint.read(bytes: Array("hello".utf8), name: "x.pt") },
                       "x.pt: not a PyTorch checkpoint: a torch.save file is a zip archive (starts with PK\\x03\\x04)")
    }

    // MARK: Hostile files

    /// Peak resident memory growth while `body` runs, in bytes (Linux: clear_refs resets
    /// VmHWM to the current resident set).
    func peakGrowth(_ body: () -> Void) throws -> Int {
        func status(_ field: String) throws -> Int {
            let text = try String(contentsOfFile: "/proc/self/status", encoding: .utf8)
            let line = try XCTUnwrap(text.split(separator: "\n").first { $0.hasPrefix(field + ":") })
            return try XCTUnwrap(Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty } ?? "")) * 1024
        }
        try "5".write(toFile: "/proc/self/clear_refs", atomically: false, encoding: .utf8)
        let before = try status("VmRSS")
        body()
        return try status("VmHWM") - before
    }

    func testPicklesThatWouldRunCodeRunNothing() throws {
        for (file, marker, global) in [("os_system.pth", "/tmp/ember_torch_pwned_os", "os.system"),
                                       ("exec.pth", "/tmp/ember_torch_pwned_exec", "builtins.exec")] {
            unlink(marker)
            let path = try fixture(file)
            XCTAssertEqual(message { _ = try TorchCheckpoint.read(from: path) },
                           "\(path): data.pkl: global \(global) is not allowed: Ember's unpickler builds only what torch.load(weights_only=True) allows, and never imports or calls anything")
            XCTAssertEqual(message { try NNModels.TinyNetwork().load(from: path) }.contains("global \(global) is not allowed"), true)
            XCTAssertFalse(FileManager.default.fileExists(atPath: marker), "\(file) ran code")
        }
        let unknown = try fixture("unknown_global.pth")
        XCTAssertEqual(message { _ = try TorchCheckpoint.read(from: unknown) },
                       "\(unknown): data.pkl: global ember_evil_module.do_harm is not allowed: Ember's unpickler builds only what torch.load(weights_only=True) allows, and never imports or calls anything")
    }

    /// Each hostile file's exact error, and the bound on what reading it may allocate: 64 MiB
    /// of peak resident growth, though the bombs claim 64 MiB to 4 TiB.
    func testMalformedAndOversizedFilesFailCleanlyWithBoundedMemory() throws {
        let cases: [(String, String)] = [
            ("deep.pth", "data.pkl: the object tree nests deeper than 200 levels"),
            ("offset_past_end.pth", "data.pkl: tensor of shape [2, 2] on storage \"0\" with offset 4 and strides [2, 1] reaches element 7, past the storage's 6 elements"),
            ("short_record.pth", "record data/0 holds 8 bytes, but its storage of 100 float32 elements needs 400"),
            ("huge_tensor.pth", "record data/0 holds 64 bytes, but its storage of 1099511627776 float32 elements needs 4398046511104"),
            ("zip_bomb.pth", "the storages claim 67108864 bytes but the file is 65815 bytes; torch.save stores them uncompressed, so this is a zip bomb or a corrupt file"),
            ("zip_bomb_pickle.pth", "entry archive/data.pkl declares 33554436 bytes, more than the 16777216 allowed"),
        ]
        for (file, want) in cases {
            let path = try fixture(file)
            var text = ""
            let growth = try peakGrowth { text = message { _ = try TorchCheckpoint.read(from: path) } }
            XCTAssertEqual(text, "\(path): \(want)", file)
            XCTAssertLessThan(growth, 64 << 20, "\(file): peak resident growth \(growth) bytes")
        }
    }

    // MARK: The unpickler on hand-written pickles

    func unpickle(_ bytes: [UInt8]) throws -> TorchValue {
        var u = Unpickler()
        let top = try bytes.withUnsafeBytes { try u.load($0) }
        var f = Freezer(unpickler: u, storages: [])
        return try f.freeze(top, depth: 0)
    }

    func failure(_ bytes: [UInt8]) -> String {
        do { _ = try unpickle(bytes) } catch let e as Unpickler.Failure { return e.message } catch { return "\(error)" }
        return "no error"
    }

    func testUnpicklerRefusesMalformedPrograms() throws {
        // ] q0 h0 a . : a list appended to itself.
        XCTAssertEqual(failure([0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]), "the object tree contains itself (a cycle)")
        XCTAssertEqual(failure([0x80, 2, 0x68, 5, 0x2E]), "memo entry 5 read at byte 2 was never stored")
        XCTAssertEqual(failure([0x80, 6]), "pickle protocol 6 is not supported (0–5)")
        XCTAssertEqual(failure([0x80, 2, 0x58, 0xFF, 0xFF, 0xFF, 0x7F, 0x61]),
                       "a length of 2147483647 bytes at byte 7 runs past the end of the pickle (1 left)")
        XCTAssertEqual(failure([0x80, 2, 0x4A, 1]), "the pickle ends inside an opcode at byte 3 (needs 4 more bytes, 1 left)")
        XCTAssertEqual(failure([0x80, 2, 0x61]), "APPEND with an empty stack")
        XCTAssertEqual(failure([0x80, 2, 0x4E, 0x4E, 0x61, 0x2E]), "APPEND on None, not a list")
        XCTAssertEqual(failure([0x80, 2, 0x7D, 0x5D, 0x4E, 0x73, 0x2E]), "unhashable dict key a list")
        XCTAssertEqual(failure([0x80, 2, 0x82, 1]), "opcode EXT1 (0x82) at byte 2 is not supported")
        XCTAssertEqual(failure([0x80, 4, 0x8C, 8] + Array("builtins".utf8) + [0x8C, 4] + Array("eval".utf8) + [0x93]),
                       "global builtins.eval is not allowed: Ember's unpickler builds only what torch.load(weights_only=True) allows, and never imports or calls anything")
        // INST names its global before anything else happens.
        XCTAssertEqual(failure([0x28] + Array("ios\nsystem\n".utf8)),
                       "global os.system is not allowed: Ember's unpickler builds only what torch.load(weights_only=True) allows, and never imports or calls anything")
        // A torch.Size reduced with a list of strings is not a size.
        XCTAssertEqual(failure([0x80, 2] + Array("ctorch\nSize\n".utf8) + [0x5D, 0x4E, 0x61, 0x85, 0x52, 0x2E]),
                       "torch.Size is None, not an integer")
    }

    func testSharedListsStayLinear() throws {
        // "Billion laughs": L0 = [None]; L(i+1) = [Li, Li], 64 levels: 2^64 leaves if expanded,
        // 64 lists when shared.
        var p: [UInt8] = [0x80, 2, 0x5D, 0x4E, 0x61]
        for _ in 0..<64 { p += [0x71, 0, 0x5D, 0x68, 0, 0x61, 0x68, 0, 0x61] }
        p.append(0x2E)
        var v = try unpickle(p)
        var depth = 0
        while case .list(let items) = v, items.count == 2 { v = items[0]; depth += 1 }
        XCTAssertEqual(depth, 64)
        XCTAssertEqual(v.description, "[None]")
        // Written out, the whole value never ends: the text stops at the limit.
        let text = try unpickle(p).description
        XCTAssertEqual(text.count, TorchValue.descriptionLimit + 1)
        XCTAssertTrue(text.hasPrefix("[[[[") && text.hasSuffix("…"), String(text.prefix(80)))
    }

    func testSharedTupleKeysAreBounded() throws {
        // { key: None } with key = N, then `levels` times (DUP, DUP, TUPLE3): a tuple of
        // 3^levels Nones. Keys are hashed by value, so it must not be expanded.
        func pickle(_ levels: Int) -> [UInt8] {
            [0x80, 2, 0x7D, 0x4E] + Array(repeating: [0x32, 0x32, 0x87], count: levels).flatMap { $0 } + [0x4E, 0x73, 0x2E]
        }
        // 3^7 Nones and 1093 tuples: 3280 values, allowed; one level more is 9841.
        guard case .dict(let pairs) = try unpickle(pickle(7)), pairs.count == 1 else { return XCTFail("not a dict of one") }
        var key = pairs[0].key, levels = 0
        while case .tuple(let items) = key, items.count == 3 { key = items[2]; levels += 1 }
        XCTAssertEqual(levels, 7)
        let over = failure(pickle(8))
        XCTAssertEqual(over, "a dict key holds more than 4096 values")
        guard over != "no error" else { return }   // unbounded: 40 levels would not finish
        XCTAssertEqual(failure(pickle(40)), "a dict key holds more than 4096 values")

        // The 3280-value key memoized, then set again and again at 4 bytes a time: all keys
        // together may hold one value per pickle byte and 4096 more.
        func again(_ times: Int) -> [UInt8] {
            var p = Array(pickle(7).dropLast(3)) + [0x71, 0, 0x4E, 0x73]
            for _ in 0..<times { p += [0x68, 0, 0x4E, 0x73] }
            return p + [0x2E]
        }
        XCTAssertEqual(failure(again(0)), "no error")
        let many = again(1000)
        XCTAssertEqual(failure(many), "the dict keys hold more than \(many.count + 4096) values in all (one per pickle byte, and 4096)")
    }

    func testSharedSubtreesCountTheirFullDepth() throws {
        // N, w tuples around it (A), DUP, w more tuples (B holds A), TUPLE2: (A, B). A is
        // frozen first; met again at the bottom of B it still adds its own height.
        func pickle(_ w: Int) -> [UInt8] {
            [0x80, 2, 0x4E] + Array(repeating: 0x85, count: w) + [0x32] + Array(repeating: 0x85, count: w) + [0x86, 0x2E]
        }
        XCTAssertEqual(failure(pickle(150)), "the object tree nests deeper than 200 levels")
        var v = try unpickle(pickle(90))
        guard case .tuple(let pair) = v, pair.count == 2 else { return XCTFail("\(v)") }
        v = pair[1]
        var depth = 1
        while case .tuple(let items) = v, items.count == 1 { v = items[0]; depth += 1 }
        XCTAssertEqual(depth, 181)
        XCTAssertEqual(v.description, "None")
    }

    /// `_rebuild_parameter_with_state(_rebuild_tensor_v2(storage '0' of 4 floats, 0, (4,),
    /// (1,), False, {}), True, {}, state)` as a protocol 2 pickle.
    func parameterPickle(state: [UInt8]) -> [UInt8] {
        func str(_ s: String) -> [UInt8] { [0x8C, UInt8(s.utf8.count)] + Array(s.utf8) }
        var p: [UInt8] = [0x80, 2] + Array("ctorch._utils\n_rebuild_parameter_with_state\n".utf8) + [0x28]
        p += Array("ctorch._utils\n_rebuild_tensor_v2\n".utf8) + [0x28]
        p += [0x28] + str("storage") + Array("ctorch\nFloatStorage\n".utf8) + str("0") + str("cpu") + [0x4B, 4, 0x74, 0x51]
        p += [0x4B, 0, 0x4B, 4, 0x85, 0x4B, 1, 0x85, 0x89, 0x7D, 0x74, 0x52]
        p += [0x88, 0x7D] + state + [0x74, 0x52, 0x2E]
        return p
    }

    func testParametersKeepRequiresGradButNotAttributes() throws {
        var u = Unpickler()
        let top = try parameterPickle(state: [0x7D]).withUnsafeBytes { try u.load($0) }
        XCTAssertEqual(u.storages.map(\.numel), [4])
        var f = Freezer(unpickler: u, storages: [Storage(zeroedByteCount: 16)])
        let t = try XCTUnwrap(try f.freeze(top, depth: 0).tensor)
        XCTAssertEqual(t.shape, [4])
        XCTAssertTrue(t.requiresGrad)
        // An attribute {"x": 1} would be lost: refused, at the REDUCE that carries it.
        let withState = parameterPickle(state: [0x7D, 0x8C, 1, UInt8(ascii: "x"), 0x4B, 1, 0x73])
        XCTAssertEqual(failure(withState),
                       "torch._utils._rebuild_parameter_with_state at byte \(withState.count - 2) carries parameter attributes (a dict), which Ember does not keep")
    }
}
