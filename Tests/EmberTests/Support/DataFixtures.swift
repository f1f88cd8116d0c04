import Foundation
@testable import Ember

/// Small generated MNIST-style data: image i has every pixel equal to (i * 7 + j) % 256 at
/// position j, and label i % 10, so a test can tell from a batch which samples it holds.
enum DataFixtures {
    static func images(count: Int, rows: Int = 28, cols: Int = 28) -> [UInt8] {
        var payload = [UInt8](repeating: 0, count: count * rows * cols)
        for i in 0..<count { for j in 0..<(rows * cols) { payload[i * rows * cols + j] = UInt8((i * 7 + j) % 256) } }
        return IDX.encode(magic: IDX.imagesMagic, dims: [count, rows, cols], payload: payload)
    }

    static func labels(count: Int) -> [UInt8] {
        IDX.encode(magic: IDX.labelsMagic, dims: [count], payload: (0..<count).map { UInt8($0 % 10) })
    }

    /// A fresh empty directory under the system temporary directory.
    static func tempDir(_ name: String = #function) -> String {
        let dir = NSTemporaryDirectory() + "ember-\(name.filter { $0.isLetter || $0.isNumber })-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// gzip-compresses bytes with the system's gzip (the format the mirrors serve).
    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        let dir = tempDir("gz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/f"
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/gzip")
        p.arguments = ["-n", path]
        try p.run()
        p.waitUntilExit()
        return Array(try Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
    }

    /// Writes a generated FashionMNIST split (uncompressed, as torchvision leaves it).
    static func writeRoot(_ root: String, folder: String = "FashionMNIST", trainCount: Int, testCount: Int) throws {
        let raw = root + "/" + folder + "/raw"
        try FileManager.default.createDirectory(atPath: raw, withIntermediateDirectories: true)
        for (prefix, n) in [("train", trainCount), ("t10k", testCount)] {
            try Data(images(count: n)).write(to: URL(fileURLWithPath: raw + "/\(prefix)-images-idx3-ubyte"))
            try Data(labels(count: n)).write(to: URL(fileURLWithPath: raw + "/\(prefix)-labels-idx1-ubyte"))
        }
    }

    /// Every file name in `dir`, recursively.
    static func listing(_ dir: String) -> [String] {
        (FileManager.default.enumerator(atPath: dir)?.allObjects as? [String] ?? []).sorted()
    }
}
