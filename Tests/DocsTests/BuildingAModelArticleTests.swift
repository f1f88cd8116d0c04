import XCTest
import Ember

/// Sources/Ember/Ember.docc/BuildingAModel.md
final class BuildingAModelArticleTests: ArticleTestCase {
    func testModelPrintRunAndParameters() {
        final class NeuralNetwork: Module {
            let flatten = Flatten()
            let linearReluStack = Sequential(
                Linear(28 * 28, 512),
                ReLU(),
                Linear(512, 512),
                ReLU(),
                Linear(512, 10)
            )

            override func forward(_ x: Tensor) -> Tensor {
                linearReluStack(flatten(x))
            }
        }

        let model = NeuralNetwork()
        print(model)

        XCTAssertEqual(model.description, """
            NeuralNetwork(
              (flatten): Flatten(start_dim=1, end_dim=-1)
              (linearReluStack): Sequential(
                (0): Linear(in_features=784, out_features=512, bias=True)
                (1): ReLU()
                (2): Linear(in_features=512, out_features=512, bias=True)
                (3): ReLU()
                (4): Linear(in_features=512, out_features=10, bias=True)
              )
            )
            """)

        let X = Tensor.rand([1, 28, 28])
        let logits = model(X)
        let predProbab = Softmax(dim: 1)(logits)
        let yPred = predProbab.argmax(dim: 1)
        print("Predicted class: \(yPred.item())")

        XCTAssertEqual(logits.shape, [1, 10])
        XCTAssertEqual(predProbab.sum().item(), 1, accuracy: 1e-5)
        XCTAssertEqual(yPred.item(), logits.argmax(dim: 1).item())

        for (name, param) in model.namedParameters() {
            print("Layer: \(name) | Size: \(param.shape)")
        }

        XCTAssertEqual(model.namedParameters().first?.name, "linearReluStack.0.weight")
        XCTAssertEqual(model.namedParameters().first?.tensor.shape, [512, 784])
        XCTAssertEqual(model.stateDictKeys().first, "linear_relu_stack.0.weight")
        XCTAssertEqual(model.namedParameters().count, 6)
    }
}
