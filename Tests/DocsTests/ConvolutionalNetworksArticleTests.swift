import XCTest
import Ember

/// Sources/Ember/Ember.docc/ConvolutionalNetworks.md
final class ConvolutionalNetworksArticleTests: ArticleTestCase {
    func testNetStepInitAndFreezing() {
        final class Net: Module {
            let conv1 = Conv2d(1, 32, kernelSize: 3)
            let conv2 = Conv2d(32, 64, kernelSize: 3)
            let dropout1 = Dropout(p: 0.25)
            let dropout2 = Dropout(p: 0.5)
            let fc1 = Linear(9216, 128)
            let fc2 = Linear(128, 10)

            override func forward(_ x: Tensor) -> Tensor {
                var x = conv1(x).relu()
                x = conv2(x).relu().maxPool2d(kernelSize: 2)
                x = dropout1(x).flattened(startDim: 1)
                x = dropout2(fc1(x).relu())
                return fc2(x).logSoftmax(dim: 1)
            }
        }

        manualSeed(1)
        let net = Net()
        let optimizer = Adam(net.parameters(), lr: 1e-3)
        let images = Tensor.rand([8, 1, 28, 28])
        let targets = Tensor.randint(0, 10, [8])
        net.train()
        let output = net(images)
        let loss = nllLoss(output, targets)
        loss.backward()
        optimizer.step()
        optimizer.zeroGrad()
        print(output.shape, loss.item())

        XCTAssertEqual(output.shape, [8, 10])
        for total in output.exp().sum(dim: 1).toArray() { XCTAssertEqual(total, 1, accuracy: 1e-5) }
        XCTAssertEqual(net.stateDictKeys(), ["conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias",
                                             "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"])

        net.apply { module in
            if let conv = module as? Conv2d {
                Init.kaimingNormal_(conv.weight, mode: .fanOut, nonlinearity: .relu)
            }
        }
        net.conv1.requiresGrad_(false)

        // kaiming normal, fan out: std = sqrt(2 / (64 · 3 · 3)) for conv2's weight.
        let w = net.conv2.weight.toArray()
        let std = (w.map { Double($0 * $0) }.reduce(0, +) / Double(w.count)).squareRoot()
        XCTAssertEqual(std, (2.0 / (64 * 9)).squareRoot(), accuracy: 0.01)
        let frozen = net.conv1.weight.clone()
        let moving = net.fc1.weight.clone()
        nllLoss(net(images), targets).backward()
        optimizer.step()
        XCTAssertNil(net.conv1.weight.grad)
        XCTAssertEqual(net.conv1.weight.toArray(), frozen.toArray())
        XCTAssertNotEqual(net.fc1.weight.toArray(), moving.toArray())
    }
}
