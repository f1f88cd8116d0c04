import XCTest
import Ember   // not @testable: this file sees only the public API, as a user does

// The seed's loss, optimizer and save/load, written exactly as shared/design/quickstart.swift
// writes them, compiled against the public API only (a missing `open` or `public` fails the
// build here); its model, NNModels.NeuralNetwork, is declared the same way in SeedModel.swift.
private typealias NeuralNetwork = NNModels.NeuralNetwork

/// A user layer with its own parameter and a custom print, from outside the module.
private final class Scale: Module {
    var factor = Tensor([2.0]).requiringGrad()
    override func forward(_ x: Tensor) -> Tensor { x * factor }
    override var extraDescription: String { "learnable=True" }
}

private func train(_ model: Module, _ lossFn: CrossEntropyLoss, _ optimizer: SGD, _ X: Tensor, _ y: Tensor) -> Double {
    model.train()
    let pred = model(X)
    let loss = lossFn(pred, y)
    loss.backward()
    optimizer.step()
    optimizer.zeroGrad()
    return loss.item()
}

final class NNPublicAPITests: XCTestCase {
    func testQuickstartReadsAsDesigned() throws {
        let device = Device.best
        let model = NeuralNetwork().to(device)
        XCTAssertTrue("\(model)".hasPrefix("NeuralNetwork(\n  (flatten): Flatten(start_dim=1, end_dim=-1)\n"))
        let lossFn = CrossEntropyLoss()
        let optimizer = SGD(model.parameters(), lr: 1e-3)
        let X = Tensor.randn([4, 1, 28, 28]), y = Tensor([0, 3, 9, 1])
        let before = lossFn(noGrad { model(X) }, y).item()
        for _ in 0..<5 { _ = train(model, lossFn, optimizer, X, y) }
        model.eval()
        let after = noGrad { lossFn(model(X), y).item() }
        XCTAssertLessThan(after, before)   // five SGD steps on one batch lower its loss

        let file = FileManager.default.temporaryDirectory.appendingPathComponent("ember-api-\(UUID().uuidString).safetensors").path
        defer { try? FileManager.default.removeItem(atPath: file) }
        try model.save(to: file)
        let restored = NeuralNetwork()
        try restored.load(from: file)
        restored.eval()
        noGrad {
            XCTAssertEqual(restored(X.unsqueezed(0)[0]).argmax(dim: 1).toIntArray(), model(X).argmax(dim: 1).toIntArray())
        }
    }

    func testUserLayerFromOutsideTheModule() {
        let m = Sequential(Scale(), Identity())
        XCTAssertEqual(m.namedParameters().map(\.name), ["0.factor"])
        XCTAssertEqual("\(m)", "Sequential(\n  (0): Scale(learnable=True)\n  (1): Identity()\n)")
        XCTAssertEqual(m(Tensor([1.5])).item(), 3)
        let adam = AdamW(m.parameters(), lr: 0.1)
        let scheduler = StepLR(adam, stepSize: 1, gamma: 0.5)
        MSELoss()(m(Tensor([1.0])), Tensor([0.0])).backward()
        adam.step()
        scheduler.step()
        XCTAssertEqual(adam.lr, 0.05)
        XCTAssertLessThan(m.parameters()[0].item(), 2)
    }
}
