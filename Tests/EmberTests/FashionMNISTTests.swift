import XCTest
@testable import Ember

/// The real dataset, through Debian's local copy (dataset-fashion-mnist).
final class FashionMNISTTests: XCTestCase {
    func testLinksVerifiedLocalCopyAndReadsRealData() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
                          "needs Debian's dataset-fashion-mnist")
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let test = try FashionMNIST(root: root, train: false, download: false, transform: ToTensor())
        XCTAssertEqual(test.count, 10_000)
        XCTAssertEqual(DataFixtures.listing(root + "/FashionMNIST/raw"),
                       ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"])
        let (x, label) = test[0]
        XCTAssertEqual(x.shape, [1, 28, 28])
        XCTAssertEqual(FashionMNIST.classes[label], "Ankle boot")   // the first test image
        let px = x.toArray()
        XCTAssert(px.allSatisfy { $0 >= 0 && $0 <= 1 })
        // torchvision on the same file: float(ToTensor()(test[0][0]).sum()) == 131.20001220703125,
        // and row 14, columns 10..<14 == [0, 0, 0.38431373, 0.53333336].
        XCTAssertEqual(px.reduce(0, +), 131.20001, accuracy: 1e-3)
        // Within 1 ulp: Ember multiplies by 1/255 where torchvision divides (98/255 → 0.38431376).
        for (a, b) in zip(px[(14 * 28 + 10)..<(14 * 28 + 14)], [0, 0, 0.38431373, 0.53333336]) {
            XCTAssertEqual(a, Float(b), accuracy: 1e-7)
        }
        XCTAssertEqual(px.reduce(0, +), Float(test.image(at: 0).pixels.map(Int.init).reduce(0, +)) / 255, accuracy: 1e-3)
        XCTAssertEqual(Dictionary(grouping: test.targets, by: { $0 }).mapValues(\.count), Dictionary(uniqueKeysWithValues: (0..<10).map { ($0, 1000) }))
        let loader = DataLoader(test, batchSize: 64)
        XCTAssertEqual(loader.count, 157)
        var it = loader.makeIterator()
        let (X, y) = try XCTUnwrap(it.next())
        XCTAssertEqual(X.shape, [64, 1, 28, 28])
        XCTAssertEqual(y.shape, [64])
        XCTAssertEqual(y.dtype, .int64)
        XCTAssertEqual(X[0].toArray(), px)
    }
}

/// The quickstart's data lines, verbatim in form (types, labels, iteration patterns), over
/// the real test split: if these stop compiling, the public contract changed.
final class QuickstartDataAPITests: XCTestCase {
    func testQuickstartForms() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
                          "needs Debian's dataset-fashion-mnist")
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let testData = try FashionMNIST(root: root, train: false, download: false, transform: ToTensor())
        let batchSize = 64
        let testDataloader = DataLoader(testData, batchSize: batchSize)
        for (X, y) in testDataloader {
            XCTAssertEqual(X.shape, [64, 1, 28, 28])
            XCTAssertEqual("\(y.shape) \(y.dtype)", "[64] int64")
            break
        }
        func visit(_ dataloader: DataLoader<FashionMNIST>) -> (Int, Int, Int) {
            let size = dataloader.dataset.count
            var seen = 0, last = -1
            for (batch, (X, _)) in dataloader.enumerated() {
                seen += X.shape[0]
                last = batch
            }
            return (size, seen, last + 1)
        }
        let (size, seen, batches) = visit(testDataloader)
        XCTAssertEqual(size, 10_000)
        XCTAssertEqual(seen, 10_000)
        XCTAssertEqual(batches, testDataloader.count)
        let (x, label) = testData[0]
        XCTAssertEqual(x.unsqueezed(0).shape, [1, 1, 28, 28])
        XCTAssertEqual("Actual: \"\(FashionMNIST.classes[label])\"", "Actual: \"Ankle boot\"")
    }
}
