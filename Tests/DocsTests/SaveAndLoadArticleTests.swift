import XCTest
import Ember

/// Sources/Ember/Ember.docc/SaveAndLoad.md
final class SaveAndLoadArticleTests: ArticleTestCase {
    func testSaveLoadAndCheckpoint() throws {
        manualSeed(0)
        let model = NeuralNetwork()
        let X = Tensor.rand([4, 1, 28, 28])

        try model.save(to: "model.safetensors")
        let restored = NeuralNetwork()
        try restored.load(from: "model.safetensors")
        restored.eval()

        XCTAssertEqual(noGrad { restored(X) }.toArray(), noGrad { model(X) }.toArray())
        XCTAssertFalse(restored.isTraining)

        let sgd = SGD(model.parameters(), lr: 0.1, momentum: 0.9)
        try Checkpoint.save(to: "run.ckpt", model: model, optimizer: sgd, epoch: 3, batchIndex: 100)
        let resumed = try Checkpoint.load(from: "run.ckpt", model: restored, optimizer: sgd)
        print(resumed.epoch, resumed.batchIndex)

        XCTAssertEqual(resumed.epoch, 3)
        XCTAssertEqual(resumed.batchIndex, 100)
        // A model of another shape does not load: every key and shape is checked.
        XCTAssertThrowsError(try Sequential(Linear(3, 2)).load(from: "model.safetensors"))
    }
}
