import XCTest
import Ember
import EmberDistributed

/// Sources/Ember/Ember.docc/DistributedTraining.md, in a world of one (scripts/mpi-test.sh
/// runs the same pieces on 1, 2 and 4 ranks).
final class DistributedTrainingArticleTests: ArticleTestCase {
    func testDataParallelLoopAloneMatchesPlainTraining() throws {
        let group = try ProcessGroup.fromEnvironment()
        let data = TensorDataset(Tensor.randn([64, 4]), Tensor.randint(0, 3, [64]))
        let sampler = try DistributedSampler(data, numReplicas: group.worldSize, rank: group.rank, shuffle: true, seed: 0)
        let loader = DataLoader(data, batchSize: 16 / group.worldSize, sampler: sampler)
        manualSeed(0)
        let model = try DistributedDataParallel(Sequential(Linear(4, 8), ReLU(), Linear(8, 3)),
                                                processGroup: group, reproducible: true)
        let optimizer = SGD(model.parameters(), lr: 0.1)
        for epoch in 0..<2 {
            sampler.setEpoch(epoch)
            for (X, y) in loader {
                let loss = crossEntropy(model(X), y)
                loss.backward()
                optimizer.step()
                optimizer.zeroGrad()
            }
        }

        XCTAssertEqual(group.worldSize, 1)
        XCTAssertEqual(model.stateDictKeys().first, "module.0.weight")
        // Alone, DDP trains exactly as the plain model would on the sampler's batches.
        manualSeed(0)
        let plain = Sequential(Linear(4, 8), ReLU(), Linear(8, 3))
        let plainOptimizer = SGD(plain.parameters(), lr: 0.1)
        for epoch in 0..<2 {
            sampler.setEpoch(epoch)
            for (X, y) in loader {
                crossEntropy(plain(X), y).backward()
                plainOptimizer.step()
                plainOptimizer.zeroGrad()
            }
        }
        XCTAssertEqual(model.parameters().map { $0.toArray() }, plain.parameters().map { $0.toArray() })
    }
}
