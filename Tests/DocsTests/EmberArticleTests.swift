import XCTest
import Ember

/// Sources/Ember/Ember.docc/Ember.md
final class EmberArticleTests: ArticleTestCase {
    func testOverviewStepLowersTheLoss() {
        manualSeed(0)
        let model = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
        let optimizer = SGD(model.parameters(), lr: 0.1)
        let lossFn = CrossEntropyLoss()
        let x = Tensor.randn([16, 4])
        let y = Tensor.randint(0, 3, [16])
        let loss = lossFn(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zeroGrad()

        XCTAssertNil(model.parameters()[0].grad)
        let after = noGrad { lossFn(model(x), y) }
        XCTAssertLessThan(after.item(), loss.item())
    }
}
