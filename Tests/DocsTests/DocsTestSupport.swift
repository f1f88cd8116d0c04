import Foundation
import XCTest
import Ember

/// Runs each article test in a fresh temporary directory, so that the articles' relative
/// paths ("data", "model.safetensors") stay out of the source tree.
class ArticleTestCase: XCTestCase {
    private var previousDirectory = ""
    private var directory = ""

    override func setUpWithError() throws {
        previousDirectory = FileManager.default.currentDirectoryPath
        directory = NSTemporaryDirectory() + "ember-docs-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        XCTAssert(FileManager.default.changeCurrentDirectoryPath(directory))
    }

    override func tearDownWithError() throws {
        XCTAssert(FileManager.default.changeCurrentDirectoryPath(previousDirectory))
        try FileManager.default.removeItem(atPath: directory)
    }

    /// Copies a file of Tests/EmberTests/Fixtures (made by scripts/, from PyTorch) into the
    /// test's directory under `name`.
    func copyFixture(_ fixture: String, as name: String) throws {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../EmberTests/Fixtures/" + fixture).standardized.path
        try FileManager.default.copyItem(atPath: source, toPath: name)
    }

    func skipUnlessFashionMNIST() throws {
        try XCTSkipUnless(FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist"),
                          "needs Debian's dataset-fashion-mnist (scripts/install-deps.sh)")
    }
}

/// The model of the "Building a Model" article, for the articles that continue from it.
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
