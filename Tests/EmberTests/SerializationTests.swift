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
        XCTAssertEqual(t["u8"]?.dtype, .uint8)
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

    /// For the checks by hand that PyTorch and the reference reader load Ember's files
    /// (scripts/check_ember_file.py, scripts/check_reference_reader.py): with EMBER_EXPORT_DIR
    /// set, writes the seed model, an input and Ember's logits there, a file of every dtype
    /// with metadata, empty and 0-d tensors and escaped names, and a training checkpoint.
    func testExportForPyTorchCheck() throws {
        guard let out = ProcessInfo.processInfo.environment["EMBER_EXPORT_DIR"] else {
            throw XCTSkip("set EMBER_EXPORT_DIR to export files for scripts/check_ember_file.py")
        }
        let model = NNModels.NeuralNetwork()
        let x = Tensor.randn([3, 1, 28, 28], generator: Generator(seed: 9))
        try model.save(to: out + "/ember_model.safetensors")
        try SafeTensors.write(["x": x, "logits": noGrad { model(x) }], to: out + "/ember_io.safetensors")
        try SafeTensors.write(["f": Tensor([1.5, -2, 3.25], shape: [3]), "i": Tensor([7, -9], shape: [2, 1]),
                               "b": Tensor([1.0, 0, 2], shape: [3]) > 0.5, "scalar": Tensor([Float(4)], shape: []),
                               "empty": Tensor.zeros([0, 3]), "é \"quoted\"\n": Tensor([Float(1)], shape: [1])],
                              metadata: ["format": "pt", "note": "ünïcode \\ \"q\""], to: out + "/ember_dtypes.safetensors")
        let run = Run(initSeed: 1)
        _ = try run.train(from: (2, 4))
        try Checkpoint.save(to: out + "/ember_checkpoint.safetensors", model: run.model, optimizer: run.optimizer,
                            scheduler: run.scheduler, generators: ["dropout": run.g], epoch: 2, batchIndex: 4)
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

    /// The read fails with exactly `reason` for `path` (and the message starts with the path).
    func assertCorrupt(_ path: String, _ reason: String, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try SafeTensors.read(from: path), file: file, line: line) { error in
            XCTAssertEqual(error as? SerializationError, .corruptFile(path: path, reason: reason), file: file, line: line)
            XCTAssertEqual("\(error)", "\(path): not a valid safetensors file: \(reason)", file: file, line: line)
        }
    }

    /// A header entry for a tensor.
    func tensorEntry(_ name: String, _ shape: String, _ offsets: String, dtype: String = "F32") -> String {
        "\"\(name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
    }

    func testCorruptFilesAreClearErrors() throws {
        assertCorrupt(writeBytes([1, 2, 3], "short"), "the file is 3 bytes long, shorter than the 8-byte header length")
        assertCorrupt(writeBytes([200, 0, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D], "longheader"),
                      "header length 200 runs past the end of the file (10 bytes)")
        assertCorrupt(writeBytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF], "huge"),
                      "header length 18446744073709551615 is over the limit of 100000000 bytes")
        assertCorrupt(writeBytes([0x01, 0xE1, 0xF5, 0x05, 0, 0, 0, 0], "justover"),
                      "header length 100000001 is over the limit of 100000000 bytes")
        assertCorrupt(fileWithHeader("{\"a\": {\"dtype\": ", dataBytes: 0, "badjson"),
                      "the header is not valid JSON: unexpected end of the JSON at byte 16 of the header")
        assertCorrupt(fileWithHeader("[1, 2]", dataBytes: 0, "array"), "the header does not start with '{'")
        assertCorrupt(fileWithHeader("", dataBytes: 0, "empty"), "the header does not start with '{'")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[2]", "[0,8]") + "}", dataBytes: 4, "pastend"),
                      "tensor \"a\": data_offsets [0, 8] run past the end of the data (4 bytes)")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[0,8]", dtype: "C64") + "}", dataBytes: 8, "dtype"),
                      "tensor \"a\": unsupported dtype \"C64\"")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":3,"shape":[1],"data_offsets":[0,8]}}"#, dataBytes: 8, "dtypenum"),
                      "tensor \"a\": dtype is the number 3, not a string")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[3]", "[0,8]") + "}", dataBytes: 8, "size"),
                      "tensor \"a\": data_offsets [0, 8] hold 8 bytes, but shape [3] of F32 needs 12")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[-1]", "[0,4]") + "}", dataBytes: 4, "shape"),
                      "tensor \"a\": shape has -1, not a non-negative integer")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1.0]", "[0,4]") + "}", dataBytes: 4, "shapefloat"),
                      "tensor \"a\": shape has 1.0, not a non-negative integer")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1e0]", "[0,4]") + "}", dataBytes: 4, "shapeexp"),
                      "tensor \"a\": shape has 1e0, not a non-negative integer")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[\"1\"]", "[0,4]") + "}", dataBytes: 4, "shapestring"),
                      "tensor \"a\": shape has the string \"1\", not a non-negative integer")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "4", "[0,4]") + "}", dataBytes: 4, "shapescalar"),
                      "tensor \"a\": shape is the number 4, not an array")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[8,4]") + "}", dataBytes: 8, "offsets"),
                      "tensor \"a\": data_offsets [8, 4] end before they begin")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[0,4,4]") + "}", dataBytes: 4, "threeoffsets"),
                      "tensor \"a\": data_offsets [0, 4, 4] are not [begin, end]")
        assertCorrupt(fileWithHeader(#"{"a":{"shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4, "nodtype"), "tensor \"a\" has no \"dtype\"")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","data_offsets":[0,4]}}"#, dataBytes: 4, "noshape"), "tensor \"a\" has no \"shape\"")
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","shape":[1]}}"#, dataBytes: 4, "nooffsets"),
                      "tensor \"a\" has no \"data_offsets\"")
        assertCorrupt(fileWithHeader(#"{"a":[1]}"#, dataBytes: 0, "entryarray"), "tensor \"a\" is an array, not an object")
        // A truncated copy of a real model file.
        let real = [UInt8](try Data(contentsOf: URL(fileURLWithPath: fixture("tiny_mlp"))))
        assertCorrupt(writeBytes(Array(real.prefix(real.count - 10)), "truncated"),
                      "tensor \"linear_relu_stack.4.weight\": data_offsets [716, 812] run past the end of the data (802 bytes)")

        XCTAssertThrowsError(try SafeTensors.read(from: path("missing.safetensors"))) { error in
            guard case SerializationError.io(let p, _) = error else { return XCTFail("\(error)") }
            XCTAssertEqual(p, self.path("missing.safetensors"))
        }
    }

    /// Sizes from the file use checked arithmetic: an overflow names the tensor and the
    /// field with the numbers as written, never a wrapped product.
    func testOverflowingSizesAreErrorsWithTheRealNumbers() {
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[4294967296,4294967296,2]", "[0,4]") + "}", dataBytes: 4, "product"),
                      "tensor \"a\": shape [4294967296, 4294967296, 2] multiplies to more than 64 bits hold (4294967296 × 4294967296 × 2)")
        // Wraps to exactly 0 bytes with unchecked arithmetic (2^64): must not load as empty.
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[4294967296,4294967296]", "[0,0]") + "}", dataBytes: 0, "wrapzero"),
                      "tensor \"a\": shape [4294967296, 4294967296] multiplies to more than 64 bits hold (4294967296 × 4294967296)")
        // An empty tensor whose other dimensions overflow is refused too.
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[0,1099511627776,1099511627776]", "[0,0]") + "}", dataBytes: 0, "emptyhuge"),
                      "tensor \"a\": shape [0, 1099511627776, 1099511627776] multiplies to more than 64 bits hold (1099511627776 × 1099511627776)")
        // 2^61 elements fit, their 2^64 bytes do not (and would wrap to 0).
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[2305843009213693952]", "[0,0]", dtype: "F64") + "}", dataBytes: 0, "bytes"),
                      "tensor \"a\": shape [2305843009213693952] of F64 is 2305843009213693952 elements of 8 bytes, more bytes than 64 bits hold")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[0,99999999999999999999]") + "}", dataBytes: 4, "bigoffset"),
                      "tensor \"a\": data_offsets has 99999999999999999999, more than 64 bits hold")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[9223372036854775808]", "[0,4]") + "}", dataBytes: 4, "bigdim"),
                      "tensor \"a\": shape has 9223372036854775808, more than 64 bits hold")
        // Offsets near Int.max: `end - begin` and `begin + 8 + header` must not wrap.
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[0]", "[9223372036854775807,9223372036854775807]") + "}", dataBytes: 4, "maxoffset"),
                      "tensor \"a\": data_offsets [9223372036854775807, 9223372036854775807] run past the end of the data (4 bytes)")
    }

    /// The tensors' byte ranges must tile the data buffer: sorted by offset, each begins where
    /// the previous ended and the last ends at the end of the file (as the reference reader).
    func testDataLayoutMustCoverTheBufferExactly() throws {
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[2]", "[0,8]") + "," + tensorEntry("b", "[2]", "[4,12]") + "}", dataBytes: 12, "overlap"),
                      "tensor \"b\": data_offsets [4, 12] overlap tensor \"a\"'s [0, 8]")
        // The same bytes under two names (aliasing) are an overlap as well.
        assertCorrupt(fileWithHeader("{" + tensorEntry("b", "[1]", "[0,4]") + "," + tensorEntry("a", "[1]", "[0,4]") + "}", dataBytes: 4, "alias"),
                      "tensor \"a\": data_offsets [0, 4] overlap tensor \"b\"'s [0, 4]")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[0,4]") + "," + tensorEntry("b", "[1]", "[8,12]") + "}", dataBytes: 12, "gap"),
                      "data bytes 4..<8 belong to no tensor (between tensors \"a\" and \"b\")")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[4,8]") + "}", dataBytes: 8, "leading"),
                      "data bytes 0..<4 belong to no tensor (before tensor \"a\")")
        assertCorrupt(fileWithHeader("{" + tensorEntry("a", "[1]", "[0,4]") + "}", dataBytes: 8, "trailing"),
                      "the data buffer is 8 bytes but the tensors cover 4: bytes 4..<8 belong to no tensor")
        assertCorrupt(fileWithHeader("{}", dataBytes: 3, "noTensors"),
                      "the data buffer is 3 bytes but the tensors cover 0: bytes 0..<3 belong to no tensor")
        // Valid: entries in any order, empty tensors at a shared offset, an empty file body.
        let ok = fileWithHeader("{" + [tensorEntry("c", "[2,0]", "[4,4]"), tensorEntry("b", "[1]", "[0,4]"), tensorEntry("a", "[0]", "[0,0]"),
                                      tensorEntry("d", "[]", "[4,12]", dtype: "I64")].joined(separator: ",") + "}", dataBytes: 12, "ok")
        let contents = try SafeTensors.read(from: ok)
        XCTAssertEqual(contents.tensors.keys.sorted(), ["a", "b", "c", "d"])
        XCTAssertEqual(contents.tensors["c"]!.shape, [2, 0])
        XCTAssertEqual(contents.tensors["d"]!.shape, [])
        XCTAssertEqual(try SafeTensors.read(from: fileWithHeader("{}", dataBytes: 0, "empty")).tensors.count, 0)
    }

    func testHeaderMustBeStrictJSON() throws {
        let twice = "{" + tensorEntry("a", "[1]", "[0,4]") + "," + tensorEntry("a", "[1]", "[0,4]") + "}"
        let second = twice.utf8.count - tensorEntry("a", "[1]", "[0,4]").utf8.count - 1
        assertCorrupt(fileWithHeader(twice, dataBytes: 4, "dupkey"),
                      "the header is not valid JSON: key \"a\" appears twice at byte \(second) of the header")
        // Within an entry too: two dtypes would let two readers see two different files.
        assertCorrupt(fileWithHeader(#"{"a":{"dtype":"F32","dtype":"I64","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4, "dupfield"),
                      "the header is not valid JSON: key \"dtype\" appears twice at byte 20 of the header")
        assertCorrupt(fileWithHeader(#"{"__metadata__":{"k":"1","k":"2"}}"#, dataBytes: 0, "dupmeta"),
                      "the header is not valid JSON: key \"k\" appears twice at byte 25 of the header")
        // Depth: the header object is level 1, so the 64th '[' opens level 65.
        assertCorrupt(fileWithHeader("{\"m\":" + String(repeating: "[", count: 100_000), dataBytes: 0, "deep"),
                      "the header is not valid JSON: JSON nested deeper than 64 levels at byte 68 of the header")
        let sixtyFour = "{\"__metadata__\":{},\"m\":" + String(repeating: "[", count: 63) + String(repeating: "]", count: 63) + "}"
        assertCorrupt(fileWithHeader(sixtyFour, dataBytes: 0, "depth64"), "tensor \"m\" is an array, not an object")
        assertCorrupt(writeBytes([6, 0, 0, 0, 0, 0, 0, 0] + Array("{\"".utf8) + [0xC3, 0x28] + Array("\"}".utf8), "utf8"),
                      "the header is not valid JSON: a string is not valid UTF-8 at byte 4 of the header")
        assertCorrupt(fileWithHeader(#"{"\ud800":1}"#, dataBytes: 0, "surrogate"),
                      "the header is not valid JSON: unpaired surrogate \\ud800 in a string at byte 8 of the header")
        assertCorrupt(fileWithHeader(#"{"\udc00x":1}"#, dataBytes: 0, "lowsurrogate"),
                      "the header is not valid JSON: unpaired surrogate \\udc00 in a string at byte 8 of the header")
        assertCorrupt(fileWithHeader("{\"a\tb\":1}", dataBytes: 0, "control"),
                      "the header is not valid JSON: unescaped control character byte 0x9 in a string at byte 3 of the header")
        assertCorrupt(fileWithHeader(#"{"a\qb":1}"#, dataBytes: 0, "escape"),
                      "the header is not valid JSON: invalid escape \\'q' at byte 3 of the header")
        assertCorrupt(fileWithHeader("{} x", dataBytes: 0, "trailing"),
                      "the header is not valid JSON: unexpected 'x' after the end of the JSON value at byte 3 of the header")
        assertCorrupt(fileWithHeader(#"{"a":01}"#, dataBytes: 0, "leadingzero"),
                      "the header is not valid JSON: expected ',' or '}' at byte 6 of the header")
        assertCorrupt(fileWithHeader(#"{"a":tru}"#, dataBytes: 0, "literal"),
                      "the header is not valid JSON: invalid literal at byte 5 of the header")
        assertCorrupt(fileWithHeader(#"{"a":1,}"#, dataBytes: 0, "trailingcomma"),
                      "the header is not valid JSON: expected a string key at byte 7 of the header")
        assertCorrupt(fileWithHeader(#"{"__metadata__":{"k":3}}"#, dataBytes: 0, "metanumber"),
                      "metadata value for \"k\" is the number 3, not a string")
        assertCorrupt(fileWithHeader(#"{"__metadata__":["k"]}"#, dataBytes: 0, "metaarray"),
                      "\"__metadata__\" is an array, not an object of strings")

        // Escapes decode (a surrogate pair included) and names round-trip through the writer.
        let names = "{\"\\ud83d\\ude00 \\u00e9\\n\\\"\\/\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]}, \"__metadata__\":{\"k\":\"v\\\\\"}}  "
        let read = try SafeTensors.read(from: fileWithHeader(names, dataBytes: 4, "escapes"))
        XCTAssertEqual(Array(read.tensors.keys), ["😀 é\n\"/"])
        XCTAssertEqual(read.metadata, ["k": "v\\"])
        try SafeTensors.write(read.tensors, metadata: read.metadata, to: path("rewritten"))
        let again = try SafeTensors.read(from: path("rewritten"))
        XCTAssertEqual(Array(again.tensors.keys), ["😀 é\n\"/"])
        XCTAssertEqual(again.metadata, ["k": "v\\"])
    }

    /// The header parser on its own: every kind of value, numbers kept as written.
    func testHeaderJSONParsesEveryKindOfValue() throws {
        let text = #" {"o":{"a":[1,-2.5e+3,0,true,false,null,"s\u0041"],"e":{},"f":[]}} "#
        let value = try Array(text.utf8).withUnsafeBytes { try HeaderJSON.parse($0) }
        XCTAssertEqual(value, .object([("o", .object([
            ("a", .array([.number("1"), .number("-2.5e+3"), .number("0"), .bool(true), .bool(false), .null, .string("sA")])),
            ("e", .object([])), ("f", .array([]))]))]))
        for bad in ["-", "1.", "1e", "--1", "[1 2]", "{\"a\" 1}", "\"abc", "[", "\"\\u12\"", "nul"] {
            XCTAssertThrowsError(try Array(bad.utf8).withUnsafeBytes { try HeaderJSON.parse($0) }, bad)
        }
    }

    /// State the optimizers would read through raw pointers or convert to Int is checked
    /// when a checkpoint loads: a float step count, an int64 moment, a negative or huge step,
    /// a scheduler epoch past 2^53.
    func testCheckpointRejectsStateTheOptimizerCannotUse() throws {
        let run = Run(initSeed: 1)
        _ = try run.train(from: (2, 5))
        try Checkpoint.save(to: path("good.safetensors"), model: run.model, optimizer: run.optimizer,
                            scheduler: run.scheduler, epoch: 0, batchIndex: 0)
        let good = try SafeTensors.read(from: path("good.safetensors"))
        func assertRejected(_ tensors: [String: Tensor], _ meta: [String: String], _ problem: String,
                            line: UInt = #line) throws {
            let file = path("bad-\(line).safetensors")
            try SafeTensors.write(good.tensors.merging(tensors) { $1 }, metadata: good.metadata.merging(meta) { $1 }, to: file)
            let other = Run(initSeed: 2)
            XCTAssertThrowsError(try Checkpoint.load(from: file, model: other.model, optimizer: other.optimizer,
                                                     scheduler: other.scheduler), line: line) { error in
                XCTAssertEqual(error as? SerializationError, .stateDictMismatch(what: "checkpoint \(file)", problems: [problem]), line: line)
            }
        }
        try assertRejected(["optimizer.state.0.step": Tensor([Float(3)], shape: [])], [:],
                           "\"optimizer.state.0.step\" is float32, expected int64")
        try assertRejected(["optimizer.state.1.exp_avg": Tensor.zeros([16], dtype: .int64)], [:],
                           "\"optimizer.state.1.exp_avg\" is int64, expected float32")
        try assertRejected(["optimizer.state.2.step": Tensor([-1], shape: [])], [:],
                           "\"optimizer.state.2.step\" is -1, not a step count in 0...2^53")
        try assertRejected(["optimizer.state.2.step": Tensor([Int(Int64.max)], shape: [])], [:],
                           "\"optimizer.state.2.step\" is 9223372036854775807, not a step count in 0...2^53")
        try assertRejected([:], ["scheduler.last_epoch": "1e300"], "invalid scheduler.last_epoch 1e300")
        // 2^53 itself is a valid step count and epoch.
        try SafeTensors.write(good.tensors.merging(["optimizer.state.2.step": Tensor([1 << 53], shape: [])]) { $1 },
                              metadata: good.metadata, to: path("edge.safetensors"))
        let other = Run(initSeed: 2)
        _ = try Checkpoint.load(from: path("edge.safetensors"), model: other.model, optimizer: other.optimizer,
                                scheduler: other.scheduler)
        XCTAssertEqual(other.optimizer.state[2]?["step"]?.i64[0], 1 << 53)
    }

    /// Checkpoint files are safetensors files: the same checks apply to them.
    func testCheckpointFilesGoThroughTheSameChecks() throws {
        let run = Run(initSeed: 1)
        let ckpt = path("checked.safetensors")
        try Checkpoint.save(to: ckpt, model: run.model, optimizer: run.optimizer, epoch: 0, batchIndex: 0)
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: ckpt)))
        bytes.append(0)   // one byte no tensor owns
        let damaged = writeBytes(bytes, "damaged.safetensors")
        let dataSize = bytes.count - 8 - Int(bytes.withUnsafeBytes { $0.loadUnaligned(as: UInt64.self) })
        XCTAssertThrowsError(try Checkpoint.load(from: damaged, model: run.model, optimizer: run.optimizer)) { error in
            XCTAssertEqual(error as? SerializationError, .corruptFile(
                path: damaged, reason: "the data buffer is \(dataSize) bytes but the tensors cover \(dataSize - 1): bytes \(dataSize - 1)..<\(dataSize) belong to no tensor"))
        }
        // A metadata key given twice (epoch "0", then "7") must not resolve silently either way.
        let header = #"{"__metadata__":{"format":"ember.checkpoint.v1","epoch":"0","epoch":"7","batch_index":"0"}}"#
        let twice = fileWithHeader(header, dataBytes: 0, "twice.safetensors")
        XCTAssertThrowsError(try Checkpoint.load(from: twice, model: Sequential())) { error in
            XCTAssertEqual("\(error)", "\(twice): not a valid safetensors file: the header is not valid JSON: key \"epoch\" appears twice at byte 60 of the header")
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
