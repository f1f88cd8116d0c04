import Ember
import EmberDistributed
import Foundation
import XCTest

final class DistributedSamplerTests: XCTestCase {
    private struct Fixture: Decodable {
        struct Case: Decodable {
            let n: Int
            let replicas: Int
            let drop_last: Bool
            let num_samples: Int
            let ranks: [[Int]]
        }
        let cases: [Case]
    }

    /// Unshuffled indices per rank, counts and padding, against PyTorch's DistributedSampler
    /// (scripts/make_sampler_fixtures.py).
    func testIndicesMatchPyTorch() throws {
        let url = try XCTUnwrap(Bundle.module.url(forResource: "distributed_sampler", withExtension: "json",
                                                  subdirectory: "Fixtures"))
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: url))
        XCTAssertEqual(fixture.cases.count, 65)
        for c in fixture.cases {
            for rank in 0..<c.replicas {
                let s = try DistributedSampler(count: c.n, numReplicas: c.replicas, rank: rank, shuffle: false,
                                               dropLast: c.drop_last)
                XCTAssertEqual(s.count, c.num_samples, "n \(c.n) replicas \(c.replicas) dropLast \(c.drop_last)")
                XCTAssertEqual(s.indices(), c.ranks[rank], "n \(c.n) replicas \(c.replicas) rank \(rank) dropLast \(c.drop_last)")
            }
        }
    }

    /// Shuffled: the ranks together cover every index; without dropLast the extra indices are
    /// the first ones of the epoch's permutation; every rank has the same permutation.
    func testShuffledCoverageAndPadding() throws {
        for (n, replicas) in [(10, 4), (17, 3), (64, 4), (5, 8)] {
            let samplers = try (0..<replicas).map {
                try DistributedSampler(count: n, numReplicas: replicas, rank: $0, shuffle: true, seed: 7)
            }
            for s in samplers { s.setEpoch(3) }
            let per = samplers.map { $0.indices() }
            XCTAssertTrue(per.allSatisfy { $0.count == (n + replicas - 1) / replicas })
            // Interleave back into the padded order: position p is rank p % R's entry p / R.
            let total = per[0].count * replicas
            let padded = (0..<total).map { per[$0 % replicas][$0 / replicas] }
            XCTAssertEqual(Set(padded), Set(0..<n), "n \(n) replicas \(replicas)")
            XCTAssertEqual(Array(padded[n...]), (0..<(total - n)).map { padded[$0 % n] })
            XCTAssertNotEqual(Array(padded[..<n]), Array(0..<n), "the order is shuffled")
        }
        let dropped = try (0..<3).map { try DistributedSampler(count: 17, numReplicas: 3, rank: $0, seed: 7, dropLast: true) }
        let all = dropped.flatMap { $0.indices() }
        XCTAssertEqual(all.count, 15)
        XCTAssertEqual(Set(all).count, 15, "dropLast repeats no index")
    }

    func testSetEpochReshuffles() throws {
        let s = try DistributedSampler(count: 100, numReplicas: 2, rank: 1, shuffle: true, seed: 1)
        let e0 = s.indices()
        XCTAssertEqual(s.indices(), e0, "same epoch, same order")
        s.setEpoch(1)
        XCTAssertNotEqual(s.indices(), e0)
        let t = try DistributedSampler(count: 100, numReplicas: 2, rank: 1, shuffle: true, seed: 2)
        XCTAssertNotEqual(t.indices(), e0, "the seed changes the order")
    }

    func testInvalidArguments() {
        XCTAssertThrowsError(try DistributedSampler(count: 10, numReplicas: 4, rank: 4)) {
            XCTAssertEqual("\($0)", "DistributedSampler: invalid rank 4, rank should be in the interval [0, 3]")
        }
        XCTAssertThrowsError(try DistributedSampler(count: 10, numReplicas: 0, rank: 0)) {
            XCTAssertEqual("\($0)", "DistributedSampler: numReplicas should be a positive integer, got 0")
        }
    }

    /// The DataLoader batches the sampler's indices in order, and its count follows the sampler.
    func testDataLoaderTakesSampler() throws {
        let n = 10
        let data = TensorDataset(Tensor((0..<n).map(Float.init), shape: [n, 1]), Tensor(Array(0..<n)))
        let sampler = try DistributedSampler(data, numReplicas: 3, rank: 2, shuffle: true, seed: 5)
        sampler.setEpoch(2)
        let loader = DataLoader(data, batchSize: 2, numWorkers: 0, sampler: sampler)
        XCTAssertEqual(loader.count, 2)
        let seen = loader.flatMap { $0.1.toIntArray() }
        XCTAssertEqual(seen, sampler.indices())
        XCTAssertEqual(loader.batchIndices(epoch: 0).flatMap { $0 }, sampler.indices())
        let dropping = DataLoader(data, batchSize: 3, dropLast: true, numWorkers: 1, sampler: sampler)
        XCTAssertEqual(dropping.count, 1)
        XCTAssertEqual(dropping.flatMap { $0.1.toIntArray() }, Array(sampler.indices().prefix(3)))
    }
}
