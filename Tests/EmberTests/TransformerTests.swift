import Foundation
import XCTest
@testable import Ember

/// MultiheadAttention, the Transformer encoder and decoder layers and stacks, and RMSNorm
/// against PyTorch's modules with the same weights (Fixtures/transformer_ops.json, made by
/// scripts/make_transformer_fixtures.py): state-dict keys in PyTorch's order, outputs, and
/// the gradients of the inputs and of every parameter.
final class TransformerTests: XCTestCase {
    struct ModuleCase: Decodable {
        struct Entry: Decodable {
            let key: String
            let shape: [Int]
            let dtype: String
            let values: [Double]
        }
        let name: String
        let state: [Entry]
        let inputs: [TensorOpsFixtureTests.Fixture.Value]
        let outputs: [TensorOpsFixtureTests.Fixture.Value]
        let weights: [Double]
        let input_grads: [[Double]?]
        let param_grads: [String: [Double]]
    }
    struct File: Decodable {
        let modules: [ModuleCase]
        let square_subsequent_mask_4: TensorOpsFixtureTests.Fixture.Value
    }

    static func load() throws -> File {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "transformer_ops", withExtension: "json", subdirectory: "Fixtures"))
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        return try decoder.decode(File.self, from: Data(contentsOf: url))
    }

    /// The Ember module of each case (as the script builds PyTorch's) and its forward.
    static var cases: [String: (module: () -> Module, forward: (Module, [Tensor]) -> [Tensor])] {
        func mha(_ m: Module) -> MultiheadAttention { m as! MultiheadAttention }
        func outputs(_ r: (output: Tensor, weights: Tensor?)) -> [Tensor] { [r.output] + (r.weights.map { [$0] } ?? []) }
        var c: [String: (module: () -> Module, forward: (Module, [Tensor]) -> [Tensor])] = [:]
        c["mha_self"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2) },
                         { m, x in outputs(mha(m)(x[0], x[0], x[0], needWeights: true)) })
        c["mha_cross_kpm"] = ({ MultiheadAttention(embedDim: 8, numHeads: 4, batchFirst: true) },
                              { m, x in outputs(mha(m)(x[0], x[1], x[2], keyPaddingMask: x[3], needWeights: true)) })
        c["mha_causal_nobias"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2, bias: false) },
                                  { m, x in outputs(mha(m)(x[0], x[0], x[0], needWeights: false, attnMask: x[1])) })
        c["mha_bool_mask_weights"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2, batchFirst: true) }, { m, x in
            // The script's mask | (arange(6) == 0): key 0 is never allowed.
            let mask = Tensor.where(Tensor.arange(6) == 0.0, Tensor(true), x[2])
            return outputs(mha(m)(x[0], x[1], x[1], needWeights: true, attnMask: mask))
        })
        // kdim / vdim ≠ E: separate projection weights; float attn_masks that get gradients.
        c["mha_kdim_vdim"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2, kdim: 5, vdim: 3) },
                              { m, x in outputs(mha(m)(x[0], x[1], x[2], needWeights: true)) })
        c["mha_kdim_float_mask"] = ({ MultiheadAttention(embedDim: 8, numHeads: 4, kdim: 6, vdim: 6, batchFirst: true) },
                                    { m, x in outputs(mha(m)(x[0], x[1], x[2], needWeights: false, attnMask: x[3])) })
        c["mha_vdim_nobias_mask_weights"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2, bias: false, vdim: 4) }, { m, x in
            outputs(mha(m)(x[0], x[1], x[2], needWeights: true, attnMask: x[3], averageAttnWeights: false))
        })
        // addBiasKV / addZeroAttn: appended keys and values, the masks padded to allow them.
        c["mha_bias_kv_zero_attn"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2, addBiasKV: true, addZeroAttn: true) },
                                      { m, x in outputs(mha(m)(x[0], x[1], x[2], keyPaddingMask: x[3], needWeights: true)) })
        c["mha_bias_kv_kdim_float_mask"] = ({
            MultiheadAttention(embedDim: 8, numHeads: 4, addBiasKV: true, kdim: 6, vdim: 3, batchFirst: true)
        }, { m, x in outputs(mha(m)(x[0], x[1], x[2], needWeights: false, attnMask: x[3])) })
        c["mha_zero_attn_causal"] = ({ MultiheadAttention(embedDim: 8, numHeads: 2, addZeroAttn: true, batchFirst: true) },
                                     { m, x in outputs(mha(m)(x[0], x[0], x[0], needWeights: false, attnMask: x[1], isCausal: true)) })
        c["encoder_layer_post"] = ({ TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true) },
                                   { m, x in [(m as! TransformerEncoderLayer)(x[0], srcMask: nil, srcKeyPaddingMask: x[1])] })
        c["encoder_layer_pre_gelu"] = ({ TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0,
                                                                 activation: .gelu, normFirst: true) },
                                       { m, x in [(m as! TransformerEncoderLayer)(x[0], srcMask: x[1])] })
        c["encoder"] = ({
            TransformerEncoder(TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true),
                               numLayers: 2, norm: LayerNorm(8))
        }, { m, x in [(m as! TransformerEncoder)(x[0], mask: nil, srcKeyPaddingMask: x[1])] })
        c["decoder_layer_post"] = ({ TransformerDecoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true) },
                                   { m, x in [(m as! TransformerDecoderLayer)(x[0], memory: x[1], tgtMask: x[2], memoryKeyPaddingMask: x[3])] })
        c["decoder_layer_pre_gelu"] = ({ TransformerDecoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0,
                                                                 activation: .gelu, normFirst: true) },
                                       { m, x in [(m as! TransformerDecoderLayer)(x[0], memory: x[1])] })
        c["decoder"] = ({
            TransformerDecoder(TransformerDecoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16, dropout: 0, batchFirst: true),
                               numLayers: 2, norm: LayerNorm(8))
        }, { m, x in [(m as! TransformerDecoder)(x[0], memory: x[1], tgtMask: x[2])] })
        c["transformer"] = ({
            Transformer(dModel: 8, nhead: 2, numEncoderLayers: 2, numDecoderLayers: 1, dimFeedforward: 16, dropout: 0,
                        batchFirst: true)
        }, { m, x in [(m as! Transformer)(x[0], x[1], tgtMask: x[2], srcKeyPaddingMask: x[3], memoryKeyPaddingMask: x[3])] })
        c["rms_norm"] = ({ RMSNorm(8) }, { m, x in [m(x[0])] })
        c["rms_norm_2d_eps"] = ({ RMSNorm([4, 8], eps: 1e-3) }, { m, x in [m(x[0])] })
        c["rms_norm_plain"] = ({ RMSNorm(8, elementwiseAffine: false) }, { m, x in [m(x[0])] })
        return c
    }

    func testEveryModuleMatchesPyTorch() throws {
        let file = try Self.load()
        XCTAssertEqual(Set(file.modules.map(\.name)), Set(Self.cases.keys))
        for c in file.modules {
            let spec = try XCTUnwrap(Self.cases[c.name])
            let module = spec.module()
            XCTAssertEqual(module.stateDictKeys(), c.state.map(\.key), "\(c.name): state-dict keys")
            try module.loadStateDict(Dictionary(uniqueKeysWithValues: c.state.map { ($0.key, Tensor($0.values, shape: $0.shape)) }))
            let inputs = c.inputs.map(TensorOpsFixtureTests.make)
            for (t, g) in zip(inputs, c.input_grads) where g != nil { t.requiresGrad = true }
            let outs = spec.forward(module, inputs)
            XCTAssertEqual(outs.count, c.outputs.count, "\(c.name): outputs")
            for (i, (got, want)) in zip(outs, c.outputs).enumerated() {
                XCTAssertEqual(got.shape, want.shape, "\(c.name): output \(i) shape")
                assertClose(doubles(got), want.values, atol: 1e-5, rtol: 1e-4, "\(c.name): output \(i)")
            }
            (outs[0] * Tensor(c.weights, shape: outs[0].shape)).sum().backward()
            for (i, g) in c.input_grads.enumerated() {
                guard let g else { continue }
                assertClose(doubles(try XCTUnwrap(inputs[i].grad, "\(c.name): input \(i)")), g, atol: 1e-4, rtol: 1e-4,
                            "\(c.name): gradient of input \(i)")
            }
            let params = Dictionary(uniqueKeysWithValues: module.collectParameters(stateDictNames: true).map { ($0.name, $0.tensor) })
            XCTAssertEqual(Set(params.keys), Set(c.param_grads.keys), "\(c.name): parameters")
            for (key, g) in c.param_grads {
                let grad = try XCTUnwrap(params[key]?.grad, "\(c.name): \(key) got no gradient")
                assertClose(doubles(grad), g, atol: 1e-4, rtol: 1e-4, "\(c.name): gradient of \(key)")
            }
        }
    }

    func testSquareSubsequentMask() throws {
        let want = try Self.load().square_subsequent_mask_4
        let mask = Transformer.generateSquareSubsequentMask(4)
        XCTAssertEqual(mask.shape, want.shape)
        XCTAssertEqual(doubles(mask), want.values)
        XCTAssertEqual(Transformer.generateSquareSubsequentMask(0).shape, [0, 0])
    }

    /// PyTorch's initialisation: xavier-uniform in_proj (bound √(6/(E + 3E))), zero biases.
    func testMultiheadAttentionInitAndPrint() {
        manualSeed(2)
        let mha = MultiheadAttention(embedDim: 32, numHeads: 4)
        XCTAssertEqual(mha.stateDictKeys(), ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
        let bound = Float((6.0 / (32 + 96)).squareRoot())
        let w = mha.inProjWeight!.toArray()
        XCTAssert(w.allSatisfy { abs($0) <= bound })
        XCTAssertGreaterThan(w.map(abs).max()!, bound * 0.95)
        XCTAssertEqual(Set(mha.inProjBias!.toArray()), [0])
        XCTAssertEqual(Set(mha.outProj.bias!.toArray()), [0])
        XCTAssertEqual("\(mha)", "MultiheadAttention(\n  (out_proj): NonDynamicallyQuantizableLinear(in_features=32, out_features=32, bias=True)\n)")
        XCTAssertEqual(MultiheadAttention(embedDim: 8, numHeads: 2, bias: false).stateDictKeys(), ["in_proj_weight", "out_proj.weight"])
        // kdim = vdim = E given explicitly: still the packed weight, as PyTorch's.
        XCTAssertEqual(MultiheadAttention(embedDim: 8, numHeads: 2, kdim: 8, vdim: 8).stateDictKeys(),
                       ["in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"])
    }

    /// kdim / vdim ≠ E: PyTorch's three weights, each xavier-uniform with its own fans, the
    /// one in_proj_bias of zeros, PyTorch's keys in its order and shapes.
    func testMultiheadAttentionSeparateProjectionsInit() throws {
        manualSeed(4)
        let mha = MultiheadAttention(embedDim: 32, numHeads: 4, kdim: 12, vdim: 80)
        XCTAssertEqual(mha.stateDictKeys(), ["q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                                             "out_proj.weight", "out_proj.bias"])
        XCTAssertNil(mha.inProjWeight)
        XCTAssertEqual(mha.parameters().count, 6)
        for (w, fanIn) in [(mha.qProjWeight, 32), (mha.kProjWeight, 12), (mha.vProjWeight, 80)] {
            let w = try XCTUnwrap(w)
            XCTAssertEqual(w.shape, [32, fanIn])
            let bound = Float((6.0 / Double(32 + fanIn)).squareRoot()), values = w.toArray()
            XCTAssert(values.allSatisfy { abs($0) <= bound }, "fan_in \(fanIn)")
            XCTAssertGreaterThan(values.map(abs).max()!, bound * 0.9, "fan_in \(fanIn)")
        }
        XCTAssertEqual(mha.inProjBias?.shape, [96])
        XCTAssertEqual(Set(mha.inProjBias!.toArray()), [0])
        XCTAssertEqual(MultiheadAttention(embedDim: 8, numHeads: 2, bias: false, kdim: 3).stateDictKeys(),
                       ["q_proj_weight", "k_proj_weight", "v_proj_weight", "out_proj.weight"])
        let (y, w) = mha(Tensor.randn([7, 2, 32]), Tensor.randn([9, 2, 12]), Tensor.randn([9, 2, 80]))
        XCTAssertEqual(y.shape, [7, 2, 32])
        XCTAssertEqual(w?.shape, [2, 7, 9])
    }

    /// addBiasKV: bias_k and bias_v (1, 1, E) from xavier-normal (std √(2 / (E + E))) after
    /// in_proj_bias in the state dict; with addZeroAttn the weights cover S + 2 keys.
    func testMultiheadAttentionBiasKVInit() throws {
        manualSeed(5)
        let mha = MultiheadAttention(embedDim: 512, numHeads: 8, addBiasKV: true, addZeroAttn: true)
        XCTAssertEqual(mha.stateDictKeys(), ["in_proj_weight", "in_proj_bias", "bias_k", "bias_v", "out_proj.weight",
                                             "out_proj.bias"])
        for t in [mha.biasK, mha.biasV] {
            let values = try XCTUnwrap(t).toArray()
            XCTAssertEqual(try XCTUnwrap(t).shape, [1, 1, 512])
            let mean = values.reduce(0, +) / 512, std = (values.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / 511).squareRoot()
            XCTAssertEqual(Double(std), (1.0 / 512).squareRoot(), accuracy: 0.1 * (1.0 / 512).squareRoot())
        }
        let x = Tensor.randn([3, 2, 512])
        XCTAssertEqual(mha(x, x, x).weights?.shape, [2, 3, 5])
        XCTAssertNil(MultiheadAttention(embedDim: 8, numHeads: 2).biasK)
    }

    /// nn.Transformer's keys and its xavier-uniform re-draw of every matrix (biases keep
    /// their zeros); RMSNorm's print.
    func testTransformerInitAndKeys() {
        manualSeed(3)
        let model = Transformer(dModel: 16, nhead: 2, numEncoderLayers: 1, numDecoderLayers: 1, dimFeedforward: 32)
        let keys = model.stateDictKeys()
        XCTAssertEqual(keys.first, "encoder.layers.0.self_attn.in_proj_weight")
        XCTAssertEqual(keys.last, "decoder.norm.bias")
        XCTAssertEqual(keys.count, 12 + 2 + 18 + 2)
        // Xavier for linear1 (32, 16): √(6/48) ≈ 0.354, beyond Linear's own bound 1/√16 = 0.25.
        let w = model.encoder.layers[0].linear1.weight.toArray().map(abs)
        XCTAssert(w.allSatisfy { $0 <= Float((6.0 / 48).squareRoot()) })
        XCTAssertGreaterThan(w.max()!, 0.3)
        XCTAssertEqual(Set(model.decoder.layers[0].multiheadAttn.inProjBias!.toArray()), [0])
        XCTAssertEqual(Set(model.encoder.norm!.namedDirectParameters()[0].tensor.toArray()), [1])
        XCTAssertEqual("\(RMSNorm(8))", "RMSNorm((8,), eps=None, elementwise_affine=True)")
        XCTAssertEqual("\(RMSNorm([4, 8], eps: 1e-3, elementwiseAffine: false))", "RMSNorm((4, 8), eps=0.001, elementwise_affine=False)")
    }

    /// The encoder's layers are copies: equal values at first, independent storage.
    func testEncoderLayersAreIndependentCopies() {
        let layer = TransformerEncoderLayer(dModel: 8, nhead: 2, dimFeedforward: 16)
        let encoder = TransformerEncoder(layer, numLayers: 3)
        XCTAssertEqual(encoder.layers.count, 3)
        XCTAssertEqual(encoder.layers[1].linear1.weight.toArray(), layer.linear1.weight.toArray())
        XCTAssert(encoder.layers[0].linear1.weight !== encoder.layers[1].linear1.weight)
        noGrad { _ = encoder.layers[0].linear1.weight.mul_(2) }
        XCTAssertEqual(encoder.layers[1].linear1.weight.toArray(), layer.linear1.weight.toArray())
        XCTAssertEqual(encoder.parameters().count, 3 * 12)
        XCTAssertEqual(encoder.stateDictKeys().first, "layers.0.self_attn.in_proj_weight")
        XCTAssertEqual(encoder.stateDictKeys().last, "layers.2.norm2.bias")
        // Dropout is active in training and off in evaluation.
        let x = Tensor.randn([4, 2, 8])
        encoder.eval()
        XCTAssertEqual(encoder(x).toArray(), encoder(x).toArray())
    }

    /// Unbatched (L, E) input gives the batched result of a batch of one.
    func testUnbatchedMultiheadAttention() {
        let mha = MultiheadAttention(embedDim: 8, numHeads: 2)
        let x = Tensor.randn([5, 8])
        let (y, w) = mha(x, x, x)
        let (yb, wb) = mha(x.unsqueezed(1), x.unsqueezed(1), x.unsqueezed(1))
        assertClose(doubles(y), doubles(yb.squeezed(1)), atol: 1e-6, rtol: 0, "unbatched output")
        XCTAssertEqual(w!.shape, [5, 5])
        assertClose(doubles(w!), doubles(wb!.squeezed(0)), atol: 1e-6, rtol: 0, "unbatched weights")
        // The fused path (no weights) and the weights path agree.
        let fused = mha(x, x, x, needWeights: false).output
        assertClose(doubles(fused), doubles(y), atol: 1e-5, rtol: 1e-5, "fused vs weights path")
    }

    func testErrorMessages() {
        let mha = MultiheadAttention(embedDim: 8, numHeads: 2)
        let x = Tensor.zeros([5, 3, 8])
        func run(_ q: Tensor, _ k: Tensor, _ v: Tensor, kpm: Tensor? = nil, mask: Tensor? = nil, causal: Bool = false) throws {
            _ = try mha.forwardChecked(query: q, key: k, value: v, keyPaddingMask: kpm, needWeights: false, attnMask: mask,
                                       averageAttnWeights: true, isCausal: causal)
        }
        assertThrowsMessage("MultiheadAttention: expected query, key and value with last dim embed_dim 8, got query [5, 3, 8], key [5, 3, 4], value [5, 3, 8]") {
            try run(x, Tensor.zeros([5, 3, 4]), x)
        }
        assertThrowsMessage("MultiheadAttention: attn_mask should have shape [5, 5] or [6, 5, 5], got [5, 4]") {
            try run(x, x, x, mask: Tensor.zeros([5, 4]))
        }
        assertThrowsMessage("MultiheadAttention: expected key_padding_mask of shape [3, 5], got [5, 3]") {
            try run(x, x, x, kpm: Tensor.zeros([5, 3], dtype: .bool))
        }
        assertThrowsMessage("MultiheadAttention: Need attn_mask if specifying the is_causal hint. You may use the Transformer module method `generate_square_subsequent_mask` to create this mask.") {
            try run(x, x, x, causal: true)
        }
        assertThrowsMessage("MultiheadAttention: only bool and floating types of attn_mask are supported, got int64") {
            try run(x, x, x, mask: Tensor.zeros([5, 5], dtype: .int64))
        }
        assertThrowsMessage("MultiheadAttention: key [4, 3, 8] and value [5, 3, 8] must match each other and the batch of query [5, 3, 8]") {
            try run(x, Tensor.zeros([4, 3, 8]), x)
        }
        let separate = MultiheadAttention(embedDim: 8, numHeads: 2, kdim: 4, vdim: 6)
        assertThrowsMessage("MultiheadAttention: expected query, key and value with last dims embed_dim 8, kdim 4 and vdim 6, got query [5, 3, 8], key [5, 3, 4], value [5, 3, 4]") {
            _ = try separate.forwardChecked(query: x, key: Tensor.zeros([5, 3, 4]), value: Tensor.zeros([5, 3, 4]),
                                            keyPaddingMask: nil, needWeights: false, attnMask: nil, averageAttnWeights: true,
                                            isCausal: false)
        }
    }
}
