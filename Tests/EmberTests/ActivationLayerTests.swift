import Foundation
import XCTest
@testable import Ember

/// The activation modules (GELU, SiLU, Mish, Tanh, Sigmoid, LeakyReLU, ELU, Softplus, Hardtanh,
/// ReLU6, Hardsigmoid, Hardswish, LogSigmoid, SELU, CELU, Softsign, GLU, PReLU) against PyTorch's
/// nn modules (Fixtures/activation_layers.json, by scripts/make_activation_layer_fixtures.py):
/// how each prints, its output and its input's gradient (PReLU's weight's too), with default
/// and non-default arguments.
final class ActivationLayerTests: XCTestCase {
    struct Case: Decodable {
        let name, repr: String
        let shape: [Int]
        let g, y, dx: [Double]
        let dweight: [Double]?
    }
    struct File: Decodable { let shape: [Int]; let x: [Double]; let cases: [Case] }

    /// The module the fixture script builds under each name.
    static let modules: [String: @Sendable () -> Module] = [
        "gelu": { GELU() }, "gelu_tanh": { GELU(approximate: .tanh) }, "silu": { SiLU() }, "mish": { Mish() },
        "tanh": { Tanh() }, "sigmoid": { Sigmoid() }, "leaky_relu": { LeakyReLU() },
        "leaky_relu_0.2": { LeakyReLU(negativeSlope: 0.2) }, "elu": { ELU() }, "elu_0.5": { ELU(alpha: 0.5) },
        "softplus": { Softplus() }, "softplus_2_3": { Softplus(beta: 2, threshold: 3) }, "hardtanh": { Hardtanh() },
        "hardtanh_-2_3": { Hardtanh(minVal: -2, maxVal: 3) }, "relu6": { ReLU6() },
        "hardsigmoid": { Hardsigmoid() }, "hardswish": { Hardswish() }, "logsigmoid": { LogSigmoid() },
        "selu": { SELU() }, "celu": { CELU() }, "celu_0.5": { CELU(alpha: 0.5) }, "softsign": { Softsign() },
        "glu": { GLU() }, "glu_0": { GLU(dim: 0) }, "prelu": { PReLU() },
        "prelu_6": { PReLU(numParameters: 6, initValue: 0.1) },
    ]

    func testOutputsGradientsAndPrintingMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "activation_layers", withExtension: "json", subdirectory: "Fixtures"))
        let file = try JSONDecoder().decode(File.self, from: Data(contentsOf: url))
        XCTAssertEqual(Set(file.cases.map(\.name)), Set(Self.modules.keys), "every module is checked")
        for c in file.cases {
            let module = try XCTUnwrap(Self.modules[c.name]?(), c.name)
            XCTAssertEqual(module.description, c.repr, c.name)
            XCTAssertEqual(module.parameters().count, c.dweight == nil ? 0 : 1, "\(c.name): parameters")
            let x = Tensor(file.x.map(Float.init), shape: file.shape).requiringGrad()
            let y = module(x)
            XCTAssertEqual(y.shape, c.shape, c.name)
            (y * Tensor(c.g.map(Float.init), shape: c.shape)).sum().backward()
            let dx = try XCTUnwrap(x.grad, c.name)
            assertClose(y.toArray().map(Double.init), c.y, atol: 1e-6, rtol: 1e-5, "\(c.name): output")
            assertClose(dx.toArray().map(Double.init), c.dx, atol: 1e-6, rtol: 1e-5, "\(c.name): gradient")
            if let want = c.dweight {
                let dw = try XCTUnwrap(module.parameters().first?.grad, c.name)
                assertClose(dw.toArray().map(Double.init), want, atol: 1e-6, rtol: 1e-5, "\(c.name): weight gradient")
            }
        }
    }

    func testErrors() {
        assertThrowsMessage("glu: halving dimension must be even, but dimension 1 is size 5") {
            try checkGLU(Tensor.zeros([2, 5]), dim: -1)
        }
        assertThrowsMessage("prelu: weight has 3 values; expected 1 or the input's 4 channels (dim 1) for input [2, 4]") {
            try checkPReLU(Tensor.zeros([2, 4]), weight: Tensor.zeros([3]))
        }
        XCTAssertEqual(PReLU(numParameters: 4).stateDictKeys(), ["weight"])
    }

    /// In a model: printed inside Sequential as PyTorch prints it, and no state-dict entries.
    func testInsideSequential() {
        let model = Sequential(Linear(4, 8), GELU(), Linear(8, 8), LeakyReLU(negativeSlope: 0.1), Linear(8, 2), Tanh())
        XCTAssertEqual(model.description, """
            Sequential(
              (0): Linear(in_features=4, out_features=8, bias=True)
              (1): GELU(approximate='none')
              (2): Linear(in_features=8, out_features=8, bias=True)
              (3): LeakyReLU(negative_slope=0.1)
              (4): Linear(in_features=8, out_features=2, bias=True)
              (5): Tanh()
            )
            """)
        XCTAssertEqual(model.stateDictKeys(), ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"])
        let y = model(Tensor.randn([3, 4]))
        XCTAssertEqual(y.shape, [3, 2])
        XCTAssertLessThanOrEqual(y.abs().max().item(), 1, "the last layer is tanh")
    }
}
