import XCTest
@testable import Ember

/// Samples are their own index (as a float row of width 3) so that batches reveal order.
private func indexDataset(_ n: Int) -> TensorDataset {
    TensorDataset(Tensor((0..<(n * 3)).map { Float($0 / 3) }, shape: [n, 3]), Tensor(Array(0..<n)))
}

private func ids(_ y: Tensor) -> [Int] { y.toIntArray() }

/// A dataset whose sample at `failAt` throws, and which counts every access.
private final class CountingDataset: Dataset, @unchecked Sendable {
    struct Boom: Error, Equatable { let index: Int }
    let n: Int
    let failAt: Int?
    private let lock = NSLock()
    private var _accesses = 0
    var accesses: Int { lock.lock(); defer { lock.unlock() }; return _accesses }

    init(_ n: Int, failAt: Int? = nil) { self.n = n; self.failAt = failAt }
    var count: Int { n }
    subscript(index: Int) -> (Tensor, Int) { try! sample(at: index) }
    func sample(at index: Int) throws -> (Tensor, Int) {
        lock.lock(); _accesses += 1; lock.unlock()
        if index == failAt { throw Boom(index: index) }
        return (Tensor([Float(index)]), index)
    }
}

/// Per-sample random augmentation on the slow path.
private struct AugmentedDataset: Dataset {
    let base: TensorDataset
    let crop = RandomCrop(size: 4, padding: 2)
    let flip = RandomHorizontalFlip()
    var count: Int { base.count }
    subscript(index: Int) -> (Tensor, Int) { try! sample(at: index) }
    func sample(at index: Int) throws -> (Tensor, Int) {
        let x = Tensor((0..<16).map { Float(index * 16 + $0) }, shape: [1, 4, 4])
        return (try flip(try crop(x)), index)
    }
}

final class DataLoaderTests: XCTestCase {
    func testEverySampleExactlyOncePerEpochAndCounts() {
        let ds = indexDataset(103)
        for dropLast in [false, true] {
            let loader = DataLoader(ds, batchSize: 10, shuffle: true, dropLast: dropLast, numWorkers: 2, seed: 7)
            XCTAssertEqual(loader.count, dropLast ? 10 : 11)
            for _ in 0..<2 {
                var seen: [Int] = []
                var batches = 0
                for (X, y) in loader {
                    XCTAssertEqual(X.shape[1], 3)
                    XCTAssertEqual(X.toArray().enumerated().filter { $0.offset % 3 == 0 }.map { Int($0.element) }, ids(y))
                    seen += ids(y)
                    batches += 1
                }
                XCTAssertEqual(batches, loader.count)
                if dropLast {
                    XCTAssertEqual(seen.count, 100)
                    XCTAssertEqual(Set(seen).count, 100)
                } else {
                    XCTAssertEqual(seen.sorted(), Array(0..<103))
                }
            }
        }
    }

    func testSameOrderForAnyWorkerCountAndNewOrderEachEpoch() {
        let ds = indexDataset(250)
        var reference: [[Int]] = []
        for workers in [0, 1, 2, 4] {
            let loader = DataLoader(ds, batchSize: 16, shuffle: true, numWorkers: workers, prefetchFactor: 2, seed: 42)
            var epochs: [Int] = []
            var orders: [[Int]] = []
            for _ in 0..<3 {
                epochs.append(loader.epoch)
                orders.append(loader.map { ids($0.1) }.flatMap { $0 })
            }
            XCTAssertEqual(epochs, [0, 1, 2])
            XCTAssertNotEqual(orders[0], orders[1], "shuffling must change per epoch")
            XCTAssertNotEqual(orders[0], Array(0..<250))
            if reference.isEmpty { reference = orders } else { XCTAssertEqual(orders, reference, "\(workers) workers") }
        }
        // A different seed gives a different order.
        let other = DataLoader(ds, batchSize: 16, shuffle: true, numWorkers: 0, seed: 43)
        XCTAssertNotEqual(other.map { ids($0.1) }.flatMap { $0 }, reference[0])
        // No shuffle: file order.
        let plain = DataLoader(ds, batchSize: 16, numWorkers: 2)
        XCTAssertEqual(plain.map { ids($0.1) }.flatMap { $0 }, Array(0..<250))
    }

    func testAugmentationsAreDeterministicAcrossWorkers() {
        let ds = AugmentedDataset(base: indexDataset(40))
        var reference: [[Float]] = []
        for workers in [0, 1, 3] {
            let loader = DataLoader(ds, batchSize: 8, shuffle: true, numWorkers: workers, seed: 5)
            let epoch0 = loader.map { $0.0.toArray() }
            let epoch1 = loader.map { $0.0.toArray() }
            XCTAssertNotEqual(epoch0, epoch1)
            if reference.isEmpty { reference = epoch0 } else { XCTAssertEqual(epoch0, reference, "\(workers) workers") }
        }
        // The crops really vary: some windows include padding zeros, some do not.
        let flat = reference.flatMap { $0 }
        XCTAssert(flat.contains(0) && flat.filter { $0 == 0 }.count < flat.count / 2)
    }

    func testResumeAtBatchMatchesUninterruptedEpoch() {
        let ds = indexDataset(100)
        let a = DataLoader(ds, batchSize: 8, shuffle: true, numWorkers: 2, seed: 9)
        _ = a.map { $0 }                               // epoch 0
        let full = a.map { ids($0.1) }                  // epoch 1
        let b = DataLoader(ds, batchSize: 8, shuffle: true, numWorkers: 1, seed: 9)
        b.epoch = 1
        var it = b.makeIterator(startingAtBatch: 5)
        var tail: [[Int]] = []
        while let (_, y) = it.next() { tail.append(ids(y)) }
        XCTAssertEqual(tail, Array(full[5...]))
        XCTAssertEqual(b.epoch, 2)
        XCTAssertEqual(b.batchIndices(epoch: 1).count, 13)
    }

    func testEarlyBreakStopsWorkers() {
        let ds = CountingDataset(10_000)
        let loader = DataLoader(ds, batchSize: 10, numWorkers: 2, prefetchFactor: 2, seed: 1) { try Collate.stack($0) }
        for (i, (_, y)) in loader.enumerated() {
            XCTAssertEqual(ids(y).first, i * 10)
            if i == 3 { break }
        }
        // Iterator released: workers are joined, so nothing is fetched any more; at most
        // (4 taken + 2×2 in flight) batches were ever built.
        let after = ds.accesses
        usleep(50_000)
        XCTAssertEqual(ds.accesses, after)
        XCTAssertLessThanOrEqual(after, 8 * 10)
    }

    func testDestroyingLoaderMidEpochIsSafe() {
        var loader: DataLoader<TensorDataset>? = DataLoader(indexDataset(64), batchSize: 4, numWorkers: 2)
        var it = loader!.makeIterator()
        XCTAssertEqual(it.next().map { ids($0.1) }, [0, 1, 2, 3])
        loader = nil   // the running epoch keeps what it needs
        var rest: [Int] = []
        while let (_, y) = it.next() { rest += ids(y) }
        XCTAssertEqual(rest, Array(4..<64))
        // And an iterator dropped mid-epoch with workers blocked on a full queue.
        let l2 = DataLoader(indexDataset(64), batchSize: 1, numWorkers: 3, prefetchFactor: 1)
        var it2: DataLoader<TensorDataset>.Iterator? = l2.makeIterator()
        _ = it2?.next()
        usleep(10_000)
        it2 = nil
    }

    func testWorkersNeverForkATeam() {
        // Records, for every sample built, whether its thread may fork kernel teams.
        final class ThreadProbe: Dataset, @unchecked Sendable {
            private let lock = NSLock()
            private var seen: [Bool] = []
            var serial: [Bool] { lock.lock(); defer { lock.unlock() }; return seen }
            var count: Int { 40 }
            subscript(index: Int) -> (Tensor, Int) {
                lock.lock(); seen.append(Kernels.threadIsSerial); lock.unlock()
                return (Tensor([Float(index)]), index)
            }
        }
        for workers in [0, 2] {
            let probe = ThreadProbe()
            let loader = DataLoader(probe, batchSize: 4, numWorkers: workers) { try Collate.stack($0) }
            for _ in loader {}
            XCTAssertEqual(probe.serial, Array(repeating: workers > 0, count: 40), "workers=\(workers)")
        }
        XCTAssertFalse(Kernels.threadIsSerial, "the iterating thread keeps its team")
    }

    func testWorkerErrorReachesCaller() {
        for workers in [0, 2] {
            let ds = CountingDataset(50, failAt: 23)
            let loader = DataLoader(ds, batchSize: 5, numWorkers: workers) { try Collate.stack($0) }
            var it = loader.batches()
            var got: [Int] = []
            do {
                while let (_, y) = try it.next() { got += ids(y) }
                XCTFail("expected an error")
            } catch let e as CountingDataset.Boom {
                XCTAssertEqual(e, CountingDataset.Boom(index: 23))
            } catch {
                XCTFail("unexpected \(error)")
            }
            XCTAssertEqual(got, Array(0..<20), "batches before the failing one arrive in order")
            XCTAssertNil(try it.next(), "the epoch ends after an error")
        }
    }

    func testFastPathMatchesPerSamplePath() throws {
        let root = DataFixtures.tempDir()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try DataFixtures.writeRoot(root, trainCount: 70, testCount: 30)
        let norm = Compose<Image, Tensor>([ToTensor(), Normalize(mean: [0.25], std: [0.5])])
        let ds = try FashionMNIST(root: root, train: true, transform: norm)
        XCTAssertNotNil(ds.store.affine, "ToTensor+Normalize fuses into one gather")
        let fast = DataLoader(ds, batchSize: 16, shuffle: true, numWorkers: 2, seed: 3)
        let slow = DataLoader(ds, batchSize: 16, shuffle: true, numWorkers: 2, seed: 3) { try Collate.stack($0) }
        for ((xf, yf), (xs, ys)) in zip(fast, slow) {
            XCTAssertEqual(xf.shape, xs.shape)
            XCTAssertEqual(xf.shape.dropFirst(), [1, 28, 28])
            XCTAssertEqual(yf.dtype, .int64)
            XCTAssertEqual(ids(yf), ids(ys))
            for (a, b) in zip(xf.toArray(), xs.toArray()) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        }
        // Pixel j of image i is (7i + j) % 256: check one value through the whole pipeline.
        let (x, label) = ds[5]
        XCTAssertEqual(label, 5)
        XCTAssertEqual(x.toArray()[3], (Float(38) / 255 - 0.25) / 0.5, accuracy: 1e-6)
        XCTAssertEqual(fast.count, 5)
    }
}
