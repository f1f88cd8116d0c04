import Foundation
import XCTest
@testable import Ember

/// RNN, LSTM and GRU against PyTorch (Fixtures/recurrent.json, by
/// scripts/make_recurrent_fixtures.py): PyTorch's weights loaded through the state dict (so the
/// keys, shapes and gate orders are PyTorch's), then the output, final states, and the
/// gradients of the input and of every parameter; the cells (RNNCell, LSTMCell, GRUCell) the
/// same way, and unrolled against the layers; printing; errors.
final class RecurrentTests: XCTestCase {
    struct Param: Decodable { let name: String; let shape: [Int]; let value, grad: [Double] }
    struct Case: Decodable {
        let name, repr: String
        let x_shape, state_shape, out_shape: [Int]
        let x, out, g, h, dx: [Double]
        let h0, c0, c: [Double]?
        let params: [Param]
    }
    struct CellCase: Decodable {
        let name, repr: String
        let x_shape, state_shape: [Int]
        let x, g, h, dx: [Double]
        let h0, c0, c: [Double]?
        let params: [Param]
    }
    struct File: Decodable { let cases: [Case]; let cells: [CellCase] }

    static func fixture() throws -> File {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "recurrent", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
    }

    static func tensor(_ v: [Double], _ shape: [Int]) -> Tensor { Tensor(v.map(Float.init), shape: shape) }

    /// The module prints as PyTorch's and has its state-dict keys; PyTorch's values loaded.
    static func load(_ module: Module, _ name: String, repr: String, params: [Param]) throws {
        XCTAssertEqual(module.description, repr, name)
        XCTAssertEqual(module.stateDictKeys(), params.map(\.name), "\(name): state-dict keys")
        var state = StateDict()
        for p in params { state[p.name] = tensor(p.value, p.shape) }
        try module.loadStateDict(state)
    }

    /// Every parameter's gradient against PyTorch's, by state-dict name.
    static func checkParameterGradients(_ module: Module, _ name: String, params: [Param]) throws {
        let byName = Dictionary(uniqueKeysWithValues: module.namedParameters().map { (Module.snakeCased($0.name), $0.tensor) })
        for p in params {
            let grad = try XCTUnwrap(byName[p.name]?.grad, "\(name): \(p.name) has a gradient")
            assertClose(grad.toArray().map(Double.init), p.grad, atol: 1e-5, rtol: 1e-4, "\(name): \(p.name) gradient")
        }
    }

    static let layers: [String: @Sendable () -> RecurrentLayer] = [
        "rnn_tanh_2_layers": { RNN(3, 4, numLayers: 2) },
        "rnn_relu_no_bias": { RNN(3, 4, nonlinearity: .relu, bias: false) },
        "lstm": { LSTM(3, 4) },
        "lstm_2_layers_bidirectional_batch_first": { LSTM(3, 4, numLayers: 2, batchFirst: true, bidirectional: true) },
        "gru": { GRU(3, 4) },
        "gru_bidirectional_unbatched": { GRU(3, 4, bidirectional: true) },
    ]

    func testOutputsStatesAndGradientsMatchPyTorch() throws {
        let file = try Self.fixture(), tensor = Self.tensor
        XCTAssertEqual(Set(file.cases.map(\.name)), Set(Self.layers.keys), "every layer is checked")
        for c in file.cases {
            let layer = try XCTUnwrap(Self.layers[c.name]?())
            try Self.load(layer, c.name, repr: c.repr, params: c.params)
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
            try Self.checkParameterGradients(layer, c.name, params: c.params)
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

    static let cells: [String: @Sendable () -> RecurrentCellLayer] = [
        "rnn_cell": { RNNCell(3, 4) },
        "rnn_cell_relu_no_bias": { RNNCell(3, 4, bias: false, nonlinearity: .relu) },
        "lstm_cell": { LSTMCell(3, 4) },
        "lstm_cell_unbatched": { LSTMCell(3, 4) },
        "gru_cell": { GRUCell(3, 4) },
        "gru_cell_unbatched_no_bias": { GRUCell(3, 4, bias: false) },
    ]

    func testCellsMatchPyTorch() throws {
        let file = try Self.fixture(), tensor = Self.tensor
        XCTAssertEqual(Set(file.cells.map(\.name)), Set(Self.cells.keys), "every cell is checked")
        for c in file.cells {
            let cell = try XCTUnwrap(Self.cells[c.name]?())
            try Self.load(cell, c.name, repr: c.repr, params: c.params)
            let x = tensor(c.x, c.x_shape).requiringGrad()
            let h0 = c.h0.map { tensor($0, c.state_shape) }, c0 = c.c0.map { tensor($0, c.state_shape) }
            let h: Tensor, cn: Tensor?
            switch cell {
            case let lstm as LSTMCell:
                (h, cn) = lstm(x, h0.map { ($0, c0!) })
            case let rnn as RNNCell:
                (h, cn) = (rnn(x, h0), nil)
            case let gru as GRUCell:
                (h, cn) = (gru(x, h0), nil)
            default:
                XCTFail("unknown cell"); return
            }
            XCTAssertEqual(h.shape, c.state_shape, c.name)
            assertClose(h.toArray().map(Double.init), c.h, atol: 1e-5, rtol: 1e-4, "\(c.name): h'")
            if let want = c.c { assertClose(try XCTUnwrap(cn).toArray().map(Double.init), want, atol: 1e-5, rtol: 1e-4, "\(c.name): c'") }
            var loss = (h * tensor(c.g, c.state_shape)).sum()
            if let cn { loss = loss + cn.sum() }
            loss.backward()
            assertClose(try XCTUnwrap(x.grad).toArray().map(Double.init), c.dx, atol: 1e-5, rtol: 1e-4, "\(c.name): input gradient")
            try Self.checkParameterGradients(cell, c.name, params: c.params)
        }
    }

    /// A cell stepped over a sequence with a one-layer RNN/LSTM/GRU's weights gives the layer's
    /// outputs bit for bit (each GEMM output is one chain whatever the rows, and the step is shared).
    func testCellUnrolledIsTheLayer() throws {
        let x = Tensor.randn([6, 3, 5]), h0 = Tensor.randn([1, 3, 4]), c0 = Tensor.randn([1, 3, 4])
        let pairs: [(RecurrentLayer, RecurrentCellLayer)] = [(RNN(5, 4, nonlinearity: .relu), RNNCell(5, 4, nonlinearity: .relu)),
                                                            (LSTM(5, 4), LSTMCell(5, 4)), (GRU(5, 4), GRUCell(5, 4))]
        for (layer, cell) in pairs {
            var state = StateDict()
            for (name, t) in layer.namedParameters() { state[String(name.dropLast(3))] = t }   // weight_ih_l0 → weight_ih
            try cell.loadStateDict(state)
            let out: Tensor
            var h = h0[0], c = c0[0], steps: [Tensor] = []
            switch (layer, cell) {
            case let (lstm as LSTM, lstmCell as LSTMCell):
                out = lstm(x, (h0, c0)).output
                for t in 0..<6 { (h, c) = lstmCell(x[t], (h, c)); steps.append(h) }
            case let (rnn as RNN, rnnCell as RNNCell):
                out = rnn(x, h0).output
                for t in 0..<6 { h = rnnCell(x[t], h); steps.append(h) }
            case let (gru as GRU, gruCell as GRUCell):
                out = gru(x, h0).output
                for t in 0..<6 { h = gruCell(x[t], h); steps.append(h) }
            default:
                XCTFail("unpaired"); return
            }
            XCTAssertEqual(Tensor.stack(steps, dim: 0).toArray(), out.toArray(), "\(cell.typeName) unrolled")
        }
        XCTAssertEqual(LSTMCell(5, 4).forward(Tensor.randn([3, 5])).shape, [3, 4], "the single-tensor call is h'")
        XCTAssertEqual(GRUCell(5, 4).parameters().count, 4)
        XCTAssertEqual(GRUCell(5, 4, bias: false).parameters().map(\.shape), [[12, 5], [12, 4]])
    }

    func testCellErrors() {
        let cell = LSTMCell(3, 4)
        assertThrowsMessage("LSTMCell: expected input to be 1D or 2D, got 3D instead") {
            try cell.validate(Tensor.zeros([1, 2, 3]), nil, nil)
        }
        assertThrowsMessage("LSTMCell: input has inconsistent input_size: got 5, expected 3") {
            try cell.validate(Tensor.zeros([2, 5]), nil, nil)
        }
        assertThrowsMessage("LSTMCell: expected cell state of shape [2, 4] for input of shape [2, 3], got [3, 4]") {
            try cell.validate(Tensor.zeros([2, 3]), Tensor.zeros([2, 4]), Tensor.zeros([3, 4]))
        }
        assertThrowsMessage("LSTMCell: expected hidden state of shape [4] for input of shape [3], got [1, 4]") {
            try cell.validate(Tensor.zeros([3]), Tensor.zeros([1, 4]), nil)
        }
    }

    func testErrors() {
        let gru = GRU(3, 4)
        assertThrowsMessage("GRU: expected input of shape (L, N, 3), or (L, 3) unbatched, got [5, 2, 7]") {
            _ = try checkRecurrentInput(gru, Tensor.zeros([5, 2, 7]))
        }
    }
}
