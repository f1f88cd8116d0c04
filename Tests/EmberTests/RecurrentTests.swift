import Foundation
import XCTest
@testable import Ember

/// RNN, LSTM and GRU against PyTorch (Fixtures/recurrent.json, by
/// scripts/make_recurrent_fixtures.py): PyTorch's weights loaded through the state dict (so the
/// keys, shapes and gate orders are PyTorch's), then the output, final states, and the
/// gradients of the input and of every parameter; printing; errors.
final class RecurrentTests: XCTestCase {
    struct Param: Decodable { let name: String; let shape: [Int]; let value, grad: [Double] }
    struct Case: Decodable {
        let name, repr: String
        let x_shape, state_shape, out_shape: [Int]
        let x, out, g, h, dx: [Double]
        let h0, c0, c: [Double]?
        let params: [Param]
    }
    struct File: Decodable { let cases: [Case] }

    static let layers: [String: @Sendable () -> RecurrentLayer] = [
        "rnn_tanh_2_layers": { RNN(3, 4, numLayers: 2) },
        "rnn_relu_no_bias": { RNN(3, 4, nonlinearity: .relu, bias: false) },
        "lstm": { LSTM(3, 4) },
        "lstm_2_layers_bidirectional_batch_first": { LSTM(3, 4, numLayers: 2, batchFirst: true, bidirectional: true) },
        "gru": { GRU(3, 4) },
        "gru_bidirectional_unbatched": { GRU(3, 4, bidirectional: true) },
    ]

    func testOutputsStatesAndGradientsMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "recurrent", withExtension: "json", subdirectory: "Fixtures"))
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        XCTAssertEqual(Set(file.cases.map(\.name)), Set(Self.layers.keys), "every layer is checked")
        func tensor(_ v: [Double], _ shape: [Int]) -> Tensor { Tensor(v.map(Float.init), shape: shape) }
        for c in file.cases {
            let layer = try XCTUnwrap(Self.layers[c.name]?())
            XCTAssertEqual(layer.description, c.repr, c.name)
            XCTAssertEqual(layer.stateDictKeys(), c.params.map(\.name), "\(c.name): state-dict keys")
            var state = StateDict()
            for p in c.params { state[p.name] = tensor(p.value, p.shape) }
            try layer.loadStateDict(state)
            let x = tensor(c.x, c.x_shape).requiringGrad()
            let h0 = c.h0.map { tensor($0, c.state_shape) }, c0 = c.c0.map { tensor($0, c.state_shape) }
            let out: Tensor, h: Tensor, cn: Tensor?
            switch layer {
            case let lstm as LSTM:
                let r = lstm(x, h0.map { ($0, c0!) })
                (out, h, cn) = (r.output, r.state.h, r.state.c)
            case let rnn as RNN:
                (out, h) = rnn(x, h0); cn = nil
            case let gru as GRU:
                (out, h) = gru(x, h0); cn = nil
            default:
                XCTFail("unknown layer"); return
            }
            XCTAssertEqual(out.shape, c.out_shape, c.name)
            assertClose(out.toArray().map(Double.init), c.out, atol: 1e-5, rtol: 1e-4, "\(c.name): output")
            assertClose(h.toArray().map(Double.init), c.h, atol: 1e-5, rtol: 1e-4, "\(c.name): h_n")
            if let want = c.c { assertClose(try XCTUnwrap(cn).toArray().map(Double.init), want, atol: 1e-5, rtol: 1e-4, "\(c.name): c_n") }
            var loss = (out * tensor(c.g, c.out_shape)).sum() + h.sum()
            if let cn { loss = loss + cn.sum() }
            loss.backward()
            assertClose(try XCTUnwrap(x.grad).toArray().map(Double.init), c.dx, atol: 1e-5, rtol: 1e-4, "\(c.name): input gradient")
            let params = Dictionary(uniqueKeysWithValues: layer.namedParameters().map { ($0.name, $0.tensor) })
            for p in c.params {
                let grad = try XCTUnwrap(params[p.name]?.grad, "\(c.name): \(p.name) has a gradient")
                assertClose(grad.toArray().map(Double.init), p.grad, atol: 1e-5, rtol: 1e-4, "\(c.name): \(p.name) gradient")
            }
        }
    }

    /// The single-tensor forward (for Sequential) is the output; parameters reach optimizers.
    func testForwardAndParameters() {
        let lstm = LSTM(3, 5, numLayers: 2, batchFirst: true)
        XCTAssertEqual(lstm(Tensor.randn([2, 7, 3])).output.shape, [2, 7, 5])
        XCTAssertEqual(lstm.forward(Tensor.randn([2, 7, 3])).shape, [2, 7, 5])
        XCTAssertEqual(lstm.parameters().count, 8)
        XCTAssertEqual(lstm.parameters()[0].shape, [20, 3])
        XCTAssertEqual(lstm.parameters()[4].shape, [20, 5], "layer 1 reads the hidden size")
    }

    func testErrors() {
        let gru = GRU(3, 4)
        assertThrowsMessage("GRU: expected input of shape (L, N, 3), or (L, 3) unbatched, got [5, 2, 7]") {
            _ = try checkRecurrentInput(gru, Tensor.zeros([5, 2, 7]))
        }
    }
}
