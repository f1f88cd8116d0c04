import Foundation
import XCTest
import EmberModels
@testable import Ember

/// EmberModels against torchvision and pytorch/examples: state-dict keys, shapes and order,
/// and PyTorch's logits from PyTorch's weights (scripts/make_resnet_fixture.py).
final class ModelsTests: XCTestCase {
    func fixture(_ name: String, _ ext: String) throws -> URL {
        try XCTUnwrap(Bundle.module.url(forResource: name, withExtension: ext, subdirectory: "Fixtures"))
    }

    func testResNet18StateDictEqualsTorchvisions() throws {
        let keys = try JSONDecoder().decode([String: [[KeyOrShape]]].self, from: Data(contentsOf: fixture("resnet18_keys", "json")))
        for (stem, name) in [(ResNet18.Stem.imagenet, "imagenet"), (.cifar, "cifar")] {
            let expected = try XCTUnwrap(keys[name]).map { ($0[0].key!, $0[1].shape!) }
            let model = ResNet18(numClasses: 10, stem: stem)
            let state = model.stateDict()
            XCTAssertEqual(model.stateDictKeys(), expected.map(\.0), "\(name): keys and order")
            for (key, shape) in expected { XCTAssertEqual(state[key]?.shape, shape, "\(name): \(key)") }
        }
    }

    func testResNet18GivesPyTorchsLogits() throws {
        var tensors = try SafeTensors.read(from: fixture("resnet18_w8", "safetensors").path).tensors
        let input = try XCTUnwrap(tensors.removeValue(forKey: "input"))
        let logits = try XCTUnwrap(tensors.removeValue(forKey: "logits"))
        let model = ResNet18(numClasses: 10, stem: .cifar, width: 8)
        try model.loadStateDict(tensors)
        model.eval()
        let out = noGrad { model(input) }
        XCTAssertEqual(out.shape, [4, 10])
        assertClose(doubles(out), doubles(logits), atol: 1e-4, rtol: 1e-4, "logits")
        // A training-mode step runs and moves the running statistics.
        model.train()
        let before = model.stateDict()["bn1.running_mean"]!.clone()
        crossEntropy(model(input), Tensor([1, 2, 3, 4], shape: [4])).backward()
        XCTAssertNotEqual(model.stateDict()["bn1.running_mean"]!.toArray(), before.toArray())
        XCTAssertNotNil(model.parameters().first?.grad)
    }

    func testMNISTConvNetKeysAndShapes() {
        let net = MNISTConvNet()
        XCTAssertEqual(net.stateDictKeys(), ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                             "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])
        XCTAssertEqual(noGrad { net.eval()(Tensor.randn([2, 1, 28, 28])) }.shape, [2, 10])
        XCTAssertEqual(MNISTConvNet(batchNorm: true).stateDictKeys().filter { $0.hasPrefix("bn2.") },
                       ["bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var", "bn2.num_batches_tracked"])
    }
}

/// One cell of the keys fixture: a key or a shape.
enum KeyOrShape: Decodable {
    case key(String), shape([Int])
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let s = try? c.decode(String.self) { self = .key(s) } else { self = .shape(try c.decode([Int].self)) }
    }
    var key: String? { if case .key(let k) = self { k } else { nil } }
    var shape: [Int]? { if case .shape(let s) = self { s } else { nil } }
}
