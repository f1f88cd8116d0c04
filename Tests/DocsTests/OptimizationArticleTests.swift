import XCTest
import Ember

/// Sources/Ember/Ember.docc/Optimization.md
final class OptimizationArticleTests: ArticleTestCase {
    func testTrainingLoopLowersTheLoss() {
        manualSeed(0)
        let model = NeuralNetwork()

        let learningRate = 1e-3
        let batchSize = 64
        let lossFn = CrossEntropyLoss()
        let optimizer = SGD(model.parameters(), lr: learningRate)

        func trainLoop<D: Dataset>(_ dataloader: DataLoader<D>, _ model: Module, _ lossFn: CrossEntropyLoss,
                                   _ optimizer: Optimizer) {
            model.train()
            for (batch, (X, y)) in dataloader.enumerated() {
                let pred = model(X)
                let loss = lossFn(pred, y)
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
                if batch % 100 == 0 {
                    print("loss: \(loss.item())  [\((batch + 1) * X.shape[0])/\(dataloader.dataset.count)]")
                }
            }
        }

        func testLoop<D: Dataset>(_ dataloader: DataLoader<D>, _ model: Module, _ lossFn: CrossEntropyLoss) -> Double {
            model.eval()
            var testLoss = 0.0, correct = 0.0
            noGrad {
                for (X, y) in dataloader {
                    let pred = model(X)
                    testLoss += lossFn(pred, y).item()
                    correct += (pred.argmax(dim: 1) == y).type(.float32).sum().item()
                }
            }
            print("Accuracy: \(100 * correct / Double(dataloader.dataset.count))%, Avg loss: \(testLoss / Double(dataloader.count))")
            return testLoss / Double(dataloader.count)
        }

        manualSeed(0)
        let images = TensorDataset(Tensor.rand([256, 1, 28, 28]), Tensor.randint(0, 10, [256]))
        let trainDataloader = DataLoader(images, batchSize: batchSize, shuffle: true)
        let testDataloader = DataLoader(images, batchSize: batchSize)
        let epochs = 3
        for t in 0..<epochs {
            print("Epoch \(t + 1)")
            trainLoop(trainDataloader, model, lossFn, optimizer)
            _ = testLoop(testDataloader, model, lossFn)
        }

        // SGD at lr 1e-3 moves slowly, but downhill on the data it trains on: the same
        // network before training (the same seed) has a higher loss.
        manualSeed(0)
        let untrained = NeuralNetwork()
        XCTAssertLessThan(testLoop(testDataloader, model, lossFn), testLoop(testDataloader, untrained, lossFn))

        let adam = Adam(model.parameters(), lr: 1e-3)
        let scheduler = StepLR(adam, stepSize: 30, gamma: 0.1)
        adam.step()
        scheduler.step()

        XCTAssertEqual(adam.lr, 1e-3)
        for _ in 1..<30 { scheduler.step() }
        XCTAssertEqual(adam.lr, 1e-4, accuracy: 1e-12)
    }

    func testAdamTrainingLowersTheLossOnFixedData() {
        manualSeed(3)
        let model = NeuralNetwork()
        let lossFn = CrossEntropyLoss()
        let X = Tensor.rand([32, 1, 28, 28]), y = Tensor.randint(0, 10, [32])
        let optimizer = Adam(model.parameters(), lr: 1e-3)
        let first = lossFn(model(X), y).item()
        for _ in 0..<5 {
            let loss = lossFn(model(X), y)
            loss.backward()
            optimizer.step()
            optimizer.zeroGrad()
        }
        XCTAssertLessThan(noGrad { lossFn(model(X), y) }.item(), first)
    }
}
