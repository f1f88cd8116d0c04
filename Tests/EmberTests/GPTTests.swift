import Foundation
import XCTest
import EmberModels
@testable import Ember

/// EmberModels.GPT against bench/pytorch_gpt.py's model: the same keys, and the same loss
/// after each of ten AdamW steps with clipping from PyTorch's initial weights
/// (scripts/make_gpt_fixture.py).
final class GPTTests: XCTestCase {
    struct Steps: Decodable {
        struct Config: Decodable { let vocab, block, layers, nh, c: Int }
        struct Batch: Decodable { let x, y: [Int] }
        let config: Config
        let batch: Int
        let batches: [Batch]
        let losses: [Double]
    }

    func fixture(_ name: String, _ ext: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"))
    }

    func testKeysAreNanoGPTs() {
        let model = GPT(.init(vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 2, nEmbd: 8))
        XCTAssertEqual(model.stateDictKeys(), [
            "wte.weight", "wpe.weight",
            "h.0.ln_1.weight", "h.0.ln_1.bias", "h.0.attn.c_attn.weight", "h.0.attn.c_attn.bias",
            "h.0.attn.c_proj.weight", "h.0.attn.c_proj.bias", "h.0.ln_2.weight", "h.0.ln_2.bias",
            "h.0.mlp.c_fc.weight", "h.0.mlp.c_fc.bias", "h.0.mlp.c_proj.weight", "h.0.mlp.c_proj.bias",
            "ln_f.weight", "ln_f.bias",
        ])
        // The tied head is the embedding's tensor: one parameter, updated once per step.
        XCTAssertEqual(model.parameters().count, 16)
        let untied = GPT(.init(vocabSize: 11, blockSize: 4, nLayer: 1, nHead: 2, nEmbd: 8, tiedHead: false))
        XCTAssertEqual(untied.stateDictKeys().last, "lm_head.weight")
    }

    func testTenAdamWStepsGivePyTorchsLosses() throws {
        let steps = try JSONDecoder().decode(Steps.self, from: Data(contentsOf: fixture("gpt_steps", "json")))
        let c = steps.config
        let model = GPT(.init(vocabSize: c.vocab, blockSize: c.block, nLayer: c.layers, nHead: c.nh, nEmbd: c.c))
        try model.load(from: fixture("gpt_init", "safetensors").path)
        let named = model.namedParameters()
        let optimizer = AdamW([ParamGroup(named.filter { $0.tensor.ndim >= 2 }.map(\.tensor), weightDecay: 0.1),
                               ParamGroup(named.filter { $0.tensor.ndim < 2 }.map(\.tensor), weightDecay: 0)],
                              lr: 1e-3, betas: (0.9, 0.99))
        for (i, batch) in steps.batches.enumerated() {
            let x = Tensor(batch.x, shape: [steps.batch, c.block]), y = Tensor(batch.y, shape: [steps.batch, c.block])
            let loss = crossEntropy(model(x).flattened(endDim: 1), y.flattened())
            optimizer.zeroGrad()
            loss.backward()
            clipGradNorm_(model.parameters(), maxNorm: 1)
            optimizer.step()
            let expected = steps.losses[i]
            XCTAssertLessThanOrEqual(abs(loss.item() - expected) / expected, 1e-4,
                                     "step \(i + 1): Ember \(loss.item()), PyTorch \(expected)")
        }
    }

    /// The other direction (bench/gpt_from_ember.py): `gpt --record` wrote Ember's own initial
    /// weights, ten batches and Ember's losses (Fixtures/gpt_ember, by
    /// scripts/make_gpt_ember_fixture.sh), and PyTorch, loading those weights by their keys,
    /// replayed the steps and stored its losses. Ember's initialisation from the record's seed
    /// must still give those weights, and its steps PyTorch's losses (rel. ≤ 1e-4).
    func testEmberInitialWeightsGiveTheSameLossesInPyTorch() throws {
        let dir = try XCTUnwrap(Bundle.module.url(forResource: "gpt_ember", withExtension: nil, subdirectory: "Fixtures"))
        let record = try GPTStepRecord.decoded(from: Data(contentsOf: dir.appendingPathComponent("steps.json")))
        let pytorch = try XCTUnwrap(record.pytorchLosses, "steps.json has no PyTorch losses (run with --store)")
        XCTAssertEqual(pytorch.count, record.batches.count)
        manualSeed(record.seed)   // as `gpt --record` does before building the model
        let model = GPT(record.config.gptConfig)
        let saved = try SafeTensors.read(from: dir.appendingPathComponent("init.safetensors").path).tensors
        XCTAssertEqual(Set(saved.keys), Set(model.stateDictKeys()))
        for (key, t) in model.stateDict() {
            assertClose(doubles(t), doubles(try XCTUnwrap(saved[key], key)), atol: 0, rtol: 1e-6, "initial \(key)")
        }
        let losses = GPTStepRecord.train(model, on: record.tensors, lr: record.lr, weightDecay: record.weightDecay,
                                             gradClip: record.gradClip)
        for (i, (got, want)) in zip(losses, pytorch).enumerated() {
            XCTAssertLessThanOrEqual(abs(got - want) / want, 1e-4, "step \(i + 1): Ember \(got), PyTorch \(want)")
        }
    }

    /// The record survives JSON with PyTorch's snake_case keys.
    func testStepRecordJSONKeys() throws {
        let record = GPTStepRecord(config: .init(GPT.Config(vocabSize: 5, blockSize: 2, nLayer: 1, nHead: 1, nEmbd: 4)),
                                   seed: 3, batch: 1, lr: 1e-3, weightDecay: 0.1, gradClip: 1,
                                   batches: [.init(x: [1, 2], y: [2, 3])], losses: [1.5])
        let json = String(decoding: try record.encoded(), as: UTF8.self)
        XCTAssertEqual(json, #"{"batch":1,"batches":[{"x":[1,2],"y":[2,3]}],"config":{"bias":true,"block":2,"c":4,"layers":1,"nh":1,"tied":true,"vocab":5},"grad_clip":1,"losses":[1.5],"lr":0.001,"seed":3,"weight_decay":0.1}"#)
        XCTAssertEqual(try GPTStepRecord.decoded(from: Data(json.utf8)), record)
    }

    func testLogitsAreBatchByTimeByVocabulary() {
        let model = GPT(.init(vocabSize: 5, blockSize: 4, nLayer: 1, nHead: 1, nEmbd: 4))
        XCTAssertEqual(noGrad { model(Tensor([0, 1, 2, 3], shape: [1, 4])) }.shape, [1, 4, 5])
    }
}
