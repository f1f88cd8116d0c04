import Foundation
import XCTest
import Ember

/// Sources/Ember/Ember.docc/PyTorchInterop.md
final class PyTorchInteropArticleTests: ArticleTestCase {
    func testTorchCheckpointAndSafeTensors() throws {
        try copyFixture("torch/training.pth", as: "checkpoint.pth")

        final class TinyNetwork: Module {
            let flatten = Flatten()
            let linearReluStack = Sequential(Linear(12, 8), ReLU(), Linear(8, 8), ReLU(), Linear(8, 3))

            override func forward(_ x: Tensor) -> Tensor {
                linearReluStack(flatten(x))
            }
        }

        let checkpoint = try TorchCheckpoint.read(from: "checkpoint.pth")
        let tiny = TinyNetwork()
        try tiny.loadStateDict(checkpoint.stateDict(at: "model", strippingPrefixes: TorchCheckpoint.wrapperPrefixes))
        print(checkpoint.root["epoch"]?.int ?? 0)

        // PyTorch's values (scripts/make_torch_checkpoint_fixtures.py wrote expected.json).
        let expectedURL = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../EmberTests/Fixtures/torch/expected.json")
        let expected = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(contentsOf: expectedURL)) as? [String: Any])
        let training = try XCTUnwrap(expected["training"] as? [String: Any])
        let fc0 = try XCTUnwrap(training["fc0_weight"] as? [Double]).map(Float.init)
        XCTAssertEqual(tiny.linearReluStack[0].stateDict()["weight"]?.toArray(), fc0)
        XCTAssertEqual(checkpoint.root["epoch"]?.int, 3)

        try SafeTensors.write(tiny.stateDict(), metadata: ["epoch": "3"], to: "tiny.safetensors")
        let contents = try SafeTensors.read(from: "tiny.safetensors")
        print(contents.tensors.keys.sorted())

        XCTAssertEqual(contents.tensors.keys.sorted(), ["linear_relu_stack.0.bias", "linear_relu_stack.0.weight",
                                                        "linear_relu_stack.2.bias", "linear_relu_stack.2.weight",
                                                        "linear_relu_stack.4.bias", "linear_relu_stack.4.weight"])
        XCTAssertEqual(contents.metadata["epoch"], "3")
        XCTAssertEqual(contents.tensors["linear_relu_stack.0.weight"]?.toArray(), fc0)

        // A state dict on its own loads by content, as the article says.
        try copyFixture("torch/tiny_mlp.pth", as: "model.pth")
        try tiny.load(from: "model.pth")
    }
}
