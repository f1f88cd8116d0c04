import XCTest
import Ember

/// Sources/Ember/Ember.docc/DatasetsAndDataLoaders.md
final class DatasetsAndDataLoadersArticleTests: ArticleTestCase {
    func testFashionMNISTCustomDatasetAndLoaders() throws {
        try skipUnlessFashionMNIST()
        let trainingData = try FashionMNIST(root: "data", train: true, download: true, transform: ToTensor())
        let testData = try FashionMNIST(root: "data", train: false, download: true, transform: ToTensor())
        let (img, label) = trainingData[0]
        print(img.shape, FashionMNIST.classes[label])

        XCTAssertEqual(img.shape, [1, 28, 28])
        XCTAssertEqual(FashionMNIST.classes[label], "Ankle boot")
        XCTAssertEqual([trainingData.count, testData.count], [60_000, 10_000])

        struct Squares: Dataset {
            var count: Int { 10 }
            subscript(index: Int) -> (Tensor, Tensor) {
                (Tensor([Float(index)]), Tensor([Float(index * index)]))
            }
        }
        let squares = Squares()
        let pairs = TensorDataset(Tensor.randn([100, 3]), Tensor.randint(0, 2, [100]))

        XCTAssertEqual(squares[3].1.toArray(), [9])
        XCTAssertEqual(pairs.count, 100)
        XCTAssertEqual(pairs[0].0.shape, [3])

        let trainDataloader = DataLoader(trainingData, batchSize: 64, shuffle: true, seed: 42)
        let testDataloader = DataLoader(testData, batchSize: 64)
        for (X, y) in testDataloader {
            print("Shape of X [N, C, H, W]: \(X.shape)")
            print("Shape of y: \(y.shape) \(y.dtype)")
            break
        }
        let squareBatches = DataLoader(squares, batchSize: 4, collate: Collate.stack)

        XCTAssertEqual(trainDataloader.count, 938)
        var first = testDataloader.makeIterator()
        let (X, y) = try XCTUnwrap(first.next())
        XCTAssertEqual(X.shape, [64, 1, 28, 28])
        XCTAssertEqual(y.shape, [64])
        XCTAssertEqual(y.dtype, .int64)
        XCTAssertEqual(squareBatches.map { $0.1.toArray() }, [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81]])
        // The same seed, the same shuffled order.
        let again = DataLoader(trainingData, batchSize: 64, shuffle: true, seed: 42)
        var a = trainDataloader.makeIterator(), b = again.makeIterator()
        XCTAssertEqual(try XCTUnwrap(a.next()).1.toIntArray(), try XCTUnwrap(b.next()).1.toIntArray())
    }
}
